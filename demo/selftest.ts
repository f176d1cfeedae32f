// Proves demo/provider.ts and demo/browser.ts work, by playing the client side by hand:
//
//   node --import tsx demo/selftest.ts        (exit 0 = everything worked; report on stderr)
//
// Deliberately independent of src/: this checks the test peers, not oidc-cred.
import { spawn } from 'node:child_process';
import * as crypto from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { startProvider, type TestProvider } from './provider.js';

const here = dirname(fileURLToPath(import.meta.url));
const projectRoot = dirname(here); // `--import tsx` resolves tsx from the child's cwd
const browserScript = join(here, 'browser.ts');

const failures: string[] = [];
function check(ok: boolean, what: string): void {
  process.stderr.write(`${ok ? 'ok  ' : 'FAIL'} ${what}\n`);
  if (!ok) failures.push(what);
}

const b64url = (b: Buffer): string => b.toString('base64url');
const random = (): string => b64url(crypto.randomBytes(32));

function jwtPayload(jwt: unknown): Record<string, unknown> {
  if (typeof jwt !== 'string') return {};
  const part = jwt.split('.')[1] ?? '';
  return JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as Record<string, unknown>;
}

interface TokenResponse {
  status: number;
  body: Record<string, unknown>;
}

async function tokenRequest(
  p: TestProvider,
  params: Record<string, string>,
  headers: Record<string, string> = {},
): Promise<TokenResponse> {
  const res = await fetch(`${p.issuer}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(params),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** Exchanges the code a loopbackLogin() received, with its PKCE verifier (and any extra parameters). */
function exchangeCode(p: TestProvider, login: { callback: Callback | undefined; verifier: string }, extra: Record<string, string> = {}): Promise<TokenResponse> {
  return tokenRequest(p, {
    grant_type: 'authorization_code',
    code: login.callback?.params.get('code') ?? '',
    redirect_uri: login.callback?.redirectUri ?? '',
    client_id: p.publicClientId,
    code_verifier: login.verifier,
    ...extra,
  });
}

interface BrowserRun {
  code: number | null;
  stdout: string;
}

function runBrowser(url: string, flags: string[]): Promise<BrowserRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', browserScript, ...flags, url], {
      cwd: projectRoot,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout }));
  });
}

interface Callback {
  params: URLSearchParams;
  redirectUri: string;
}

/**
 * A minimal loopback client (docs/architecture.md, "The login"): `/` redirects to the authorization URL, the callback
 * with the wrong state gets a 400 and the server keeps waiting, the right one ends it.
 */
async function loopbackLogin(
  p: TestProvider,
  extra: Record<string, string>,
  browserFlags: string[],
): Promise<{ callback: Callback | undefined; browser: BrowserRun; verifier: string; nonce: string; state: string }> {
  const verifier = random();
  const state = random();
  const nonce = random();
  let resolveCallback: (c: Callback) => void = () => {};
  const gotCallback = new Promise<Callback>((r) => { resolveCallback = r; });

  const server = http.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const redirectUri = `http://127.0.0.1:${(server.address() as AddressInfo).port}/callback`;
  const auth = new URL(`${p.issuer}/auth`);
  auth.search = new URLSearchParams({
    client_id: p.publicClientId,
    response_type: 'code',
    redirect_uri: redirectUri,
    scope: 'openid offline_access profile email',
    state,
    nonce,
    code_challenge: b64url(crypto.createHash('sha256').update(verifier).digest()),
    code_challenge_method: 'S256',
    ...extra,
  }).toString();

  server.on('request', (req, res) => {
    const url = new URL(req.url ?? '/', redirectUri);
    if (req.method === 'GET' && url.pathname === '/') {
      res.writeHead(302, { location: auth.href }).end();
    } else if (req.method === 'GET' && url.pathname === '/callback') {
      if (url.searchParams.get('state') !== state) {
        res.writeHead(400, { 'content-type': 'text/plain' }).end('state mismatch');
        return;
      }
      const failed = url.searchParams.has('error');
      res.writeHead(failed ? 403 : 200, { 'content-type': 'text/plain', connection: 'close' })
        .end(failed ? 'login failed' : 'logged in');
      server.close();
      resolveCallback({ params: url.searchParams, redirectUri });
    } else {
      res.writeHead(404).end();
    }
  });

  const browser = await runBrowser(`${redirectUri.replace('/callback', '/')}`, browserFlags);
  const callback = await Promise.race([
    gotCallback,
    new Promise<undefined>((r) => setTimeout(() => r(undefined), 200).unref()),
  ]);
  server.close();
  server.closeAllConnections();
  return { callback, browser, verifier, nonce, state };
}

async function main(): Promise<void> {
  const started = performance.now();
  const logDir = mkdtempSync(join(tmpdir(), 'oidc-cred-selftest-'));
  const logFile = join(logDir, 'browser.log');
  const p = await startProvider({ slowDownPolls: 1, deviceInterval: 1 });
  try {
    const discovery = (await (await fetch(`${p.issuer}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
    check(discovery.issuer === p.issuer, `discovery issuer is ${p.issuer}`);
    check(discovery.authorization_response_iss_parameter_supported === true, 'discovery advertises the iss parameter');
    check(discovery.dpop_signing_alg_values_supported === undefined, 'DPoP is off');

    // --- authorization code + PKCE, through the scripted browser -----------------------
    const login = await loopbackLogin(p, {}, ['--log', logFile, '--forge-state', '--replay']);
    check(login.browser.code === 0, 'browser exits 0 after a successful login');
    check(login.browser.stdout === '', 'browser prints nothing on stdout');
    const code = login.callback?.params.get('code');
    check(typeof code === 'string', 'callback carries a code');
    check(login.callback?.params.get('iss') === p.issuer, 'callback carries iss = issuer (RFC 9207)');
    const logLine = readFileSync(logFile, 'utf8').trim();
    check(/^\d+ http:\/\/127\.0\.0\.1:\d+\/ forged=400 replay=ERR$/.test(logLine), `browser log line: ${logLine}`);

    const tokens = await exchangeCode(p, login);
    check(tokens.status === 200, `code exchange answers 200 (${tokens.status} ${JSON.stringify(tokens.body.error ?? '')})`);
    const idt = jwtPayload(tokens.body.id_token);
    check(idt.iss === p.issuer && idt.aud === p.publicClientId && idt.nonce === login.nonce, 'ID token iss/aud/nonce');
    check(idt.email === 'demo@example.com' && idt.name === 'Demo User', 'ID token carries email and name');
    check(typeof tokens.body.refresh_token === 'string', 'refresh token issued without prompt=consent');
    check(tokens.body.expires_in === 3600, 'access token expires_in 3600');

    const info = await p.userinfo(String(tokens.body.access_token));
    check(info?.sub === 'demo-user' && info.email === 'demo@example.com', 'userinfo answers for the access token');
    check((await p.userinfo('not-a-token')) === null, 'userinfo rejects a bogus token');

    // --- refresh twice with rotation; reusing the first kills the grant ------------------
    const rt1 = String(tokens.body.refresh_token);
    const r2 = await tokenRequest(p, { grant_type: 'refresh_token', refresh_token: rt1, client_id: p.publicClientId });
    const rt2 = String(r2.body.refresh_token);
    check(r2.status === 200 && rt2 !== rt1, 'first refresh rotates the refresh token');
    const r3 = await tokenRequest(p, { grant_type: 'refresh_token', refresh_token: rt2, client_id: p.publicClientId });
    const rt3 = String(r3.body.refresh_token);
    check(r3.status === 200 && rt3 !== rt2, 'second refresh rotates again');
    const reuse = await tokenRequest(p, { grant_type: 'refresh_token', refresh_token: rt1, client_id: p.publicClientId });
    check(reuse.status === 400 && reuse.body.error === 'invalid_grant', 'reusing the first refresh token: invalid_grant');
    const after = await tokenRequest(p, { grant_type: 'refresh_token', refresh_token: rt3, client_id: p.publicClientId });
    check(after.body.error === 'invalid_grant', 'the reuse revoked the grant: the newest refresh token is dead too');
    check(p.counts.tokenErrors.invalid_grant === 2, 'tokenErrors.invalid_grant counted');
    check(p.counts.token.refresh_token === 4 && p.counts.token.authorization_code === 1, 'token requests counted by grant type');
    check(p.issuedTokens.has(rt1) && p.issuedTokens.has(rt3) && p.issuedTokens.has(String(tokens.body.id_token)),
      'issuedTokens holds the tokens');

    // --- revocation --------------------------------------------------------------------
    const fresh = await loopbackLogin(p, {}, []);
    const t2 = await exchangeCode(p, fresh);
    const rev = await fetch(`${p.issuer}/token/revocation`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: String(t2.body.refresh_token), client_id: p.publicClientId }),
    });
    const revoked = await tokenRequest(p, { grant_type: 'refresh_token', refresh_token: String(t2.body.refresh_token), client_id: p.publicClientId });
    check(rev.status === 200 && revoked.body.error === 'invalid_grant' && p.counts.revocation === 1, 'revocation works and is counted');

    // --- audience → JWT access token ---------------------------------------------------
    const withAud = await loopbackLogin(p, { audience: 'https://api.example' }, []);
    const t3 = await exchangeCode(p, withAud, { audience: 'https://api.example' });
    const at = jwtPayload(t3.body.access_token);
    check(t3.status === 200 && at.aud === 'https://api.example' && at.sub === 'demo-user',
      `audience gives a JWT access token with that aud (${String(at.aud)}, scope ${String(at.scope)})`);
    const t3r = await tokenRequest(p, { grant_type: 'refresh_token', refresh_token: String(t3.body.refresh_token), client_id: p.publicClientId });
    check(jwtPayload(t3r.body.access_token).aud === 'https://api.example', 'a refresh keeps the audience');

    // --- device flow -------------------------------------------------------------------
    const da = await fetch(`${p.issuer}/device/auth`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ client_id: p.publicClientId, scope: 'openid offline_access email' }),
    });
    const dab = (await da.json()) as Record<string, unknown>;
    check(da.status === 200 && dab.interval === 1, 'device authorization (interval injected)');
    const poll = (): Promise<TokenResponse> => tokenRequest(p, {
      grant_type: 'urn:ietf:params:oauth:grant-type:device_code',
      device_code: String(dab.device_code),
      client_id: p.publicClientId,
    });
    check((await poll()).body.error === 'slow_down', 'first pending poll answers slow_down (injected)');
    check((await poll()).body.error === 'authorization_pending', 'second poll answers authorization_pending');
    await p.approveDeviceCode(String(dab.user_code));
    const dt = await poll();
    check(dt.status === 200 && typeof dt.body.refresh_token === 'string' && jwtPayload(dt.body.id_token).email === 'demo@example.com',
      'device flow gives tokens after approveDeviceCode');
    check(p.issuedTokens.has(String(dab.device_code)) && p.issuedTokens.has(String(dab.user_code)), 'issuedTokens holds device and user code');

    // --- client credentials, secret in the header and in the body ----------------------
    const basic = Buffer.from(`${encodeURIComponent(p.confidentialClientId)}:${encodeURIComponent(p.clientSecret)}`).toString('base64');
    const cc1 = await tokenRequest(p, { grant_type: 'client_credentials', scope: 'api:read' }, { authorization: `Basic ${basic}` });
    check(cc1.status === 200 && typeof cc1.body.access_token === 'string' && cc1.body.expires_in === 600, 'client_credentials with client_secret_basic');
    const cc2 = await tokenRequest(p, { grant_type: 'client_credentials', client_id: p.confidentialClientId, client_secret: p.clientSecret });
    check(cc2.status === 200 && typeof cc2.body.access_token === 'string', 'client_credentials with client_secret_post');
    const cc3 = await tokenRequest(p, { grant_type: 'client_credentials', client_id: p.confidentialClientId, client_secret: 'wrong' });
    check(cc3.status === 401 && cc3.body.error === 'invalid_client', 'a wrong secret is invalid_client');

    // --- deny --------------------------------------------------------------------------
    p.mode = 'deny';
    const denied = await loopbackLogin(p, {}, []);
    check(denied.callback?.params.get('error') === 'access_denied'
      && denied.callback.params.get('error_description') === 'the demo user said no', 'deny mode: error=access_denied on the callback');
    check(denied.browser.code === 1, 'browser exits 1 when the callback is not 2xx');
    const da2 = (await (await fetch(`${p.issuer}/device/auth`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ client_id: p.publicClientId, scope: 'openid' }),
    })).json()) as Record<string, unknown>;
    await p.approveDeviceCode(String(da2.user_code));
    const dd = await tokenRequest(p, {
      grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: String(da2.device_code), client_id: p.publicClientId,
    });
    check(dd.body.error === 'access_denied', 'deny mode: the device code answers access_denied');
    p.mode = 'approve';

    process.stderr.write(`counts: ${JSON.stringify(p.counts)}\n`);

    // --- abandoned login and a browser that fails to open -------------------------------
    p.resetCounts();
    const abandoned = await loopbackLogin(p, {}, ['--stop-at-provider', '--log', logFile]);
    check(abandoned.browser.code === 0 && abandoned.callback === undefined && p.counts.authorization === 1,
      '--stop-at-provider reaches /auth once and never calls back');
    const broken = await runBrowser('http://127.0.0.1:9/', ['--exit-code', '3', '--log', logFile]);
    check(broken.code === 3, '--exit-code 3 exits 3');
    check(readFileSync(logFile, 'utf8').trim().split('\n').length === 3, 'one log line per browser run');

    process.stderr.write(`counts (since the reset): ${JSON.stringify(p.counts)}\n`);
  } finally {
    await p.close();
    rmSync(logDir, { recursive: true, force: true });
  }
  process.stderr.write(`${failures.length ? `${failures.length} FAILED` : 'all passed'} in ${Math.round(performance.now() - started)} ms\n`);
  process.exitCode = failures.length ? 1 : 0;
}

await main();
