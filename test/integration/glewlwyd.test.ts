// Issue 15: Glewlwyd 2.7.5 — an OpenID provider written in C, independent of oidc-provider — as a
// second real peer. The real binaries run against it as a user runs them; every count comes from
// the counting proxy in front of it (test/support/glewlwyd.ts), and its login app is driven by the
// REST calls it makes (test/support/glewlwyd-browser.ts). Skipped, with the reason printed, only
// when the Debian package is not installed (.ci/run installs it).
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TestProvider } from '../../demo/provider.ts';
import { BIN, ROOT, run, runCommand, trackLeaks, type RunResult } from '../support/cli.ts';
import { glewlwydMissing, startGlewlwyd, type Glewlwyd } from '../support/glewlwyd.ts';
import { startKubeApi, writeKubeconfig, type KubeApi } from '../support/kube-api.ts';

const missing = glewlwydMissing();
if (missing) process.stdout.write(`# skipping the Glewlwyd interoperability tests: ${missing}\n`);

const GLW_BROWSER = join(ROOT, 'test', 'support', 'glewlwyd-browser.ts');
const TSX = import.meta.resolve('tsx');

let g: Glewlwyd;

interface Sb {
  dir: string;
  cacheDir: string;
  browserLog: string;
  env: Record<string, string>;
  browser: string;
  /** --issuer/--client-id/--cache-dir/--port/--browser-command for the public client. */
  args: string[];
  /** Browser runs, and those that failed. */
  browserRuns(): string[];
  browserErrors(): string[];
  cleanup(): void;
}

function fresh(opts: { issuer?: string; clientId?: string; port?: number } = {}): Sb {
  g.resetCounts();
  const dir = mkdtempSync(join(tmpdir(), 'oidc-cred-glw-test-'));
  const home = join(dir, 'home');
  mkdirSync(home, { recursive: true });
  const cacheDir = join(dir, 'cache');
  const browserLog = join(dir, 'browser.log');
  const browser = `${process.execPath} --import ${TSX} ${GLW_BROWSER} --log ${browserLog} --user ${g.username} --password ${g.password}`;
  const lines = (): string[] => (existsSync(browserLog) ? readFileSync(browserLog, 'utf8').split('\n').filter(Boolean) : []);
  return {
    dir,
    cacheDir,
    browserLog,
    env: { HOME: home, XDG_CONFIG_HOME: join(home, '.config'), XDG_CACHE_HOME: join(home, '.cache') },
    browser,
    args: ['--issuer', opts.issuer ?? g.issuer, '--client-id', opts.clientId ?? g.publicClientId, '--cache-dir', cacheDir, '--port', String(opts.port ?? g.redirectPorts[0]), '--browser-command', browser],
    browserRuns: () => lines().filter((l) => !/ error=/.test(l)),
    browserErrors: () => lines().filter((l) => / error=/.test(l)),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

function cli(sb: Sb, args: string[], env: Record<string, string> = {}): Promise<RunResult> {
  return run(BIN.oidcCred, args, { env: { ...sb.env, ...env }, timeoutMs: 60_000 });
}

function sessionFiles(sb: Sb): string[] {
  return readdirSync(sb.cacheDir).filter((f) => /^[0-9a-f]+\.json$/.test(f)).map((f) => join(sb.cacheDir, f));
}

function session(sb: Sb): Record<string, string | undefined> {
  const files = sessionFiles(sb);
  assert.equal(files.length, 1, 'one cached session');
  return JSON.parse(readFileSync(files[0]!, 'utf8')) as Record<string, string | undefined>;
}

/** Makes the cached access token look expired, so that the next call refreshes. */
function expireAccessToken(sb: Sb): void {
  for (const f of sessionFiles(sb)) {
    const s = JSON.parse(readFileSync(f, 'utf8')) as Record<string, unknown>;
    for (const a of Object.values(s.apis as Record<string, Record<string, unknown>>)) a.expires_at = new Date(Date.now() - 1000).toISOString();
    writeFileSync(f, JSON.stringify(s), { mode: 0o600 });
  }
}

function assertOk(r: RunResult): void {
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^eyJ[\w-]+\.[\w-]+\.[\w-]+\n$/, 'a JWT access token on stdout');
}

/** A direct refresh at Glewlwyd's token endpoint (through the proxy), as an attacker replaying a token would. */
async function directRefresh(refreshToken: string, client: Record<string, string>): Promise<number> {
  const r = await fetch(`${g.issuer}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken, ...client }),
  });
  await r.arrayBuffer();
  return r.status;
}

describe('Glewlwyd 2.7.5 as the provider (issue 15)', { skip: missing }, () => {
  before(async () => {
    g = await startGlewlwyd();
    // cli.ts checks every captured stderr for this secret and for every token the proxy saw.
    trackLeaks(g as unknown as TestProvider);
  });
  after(async () => {
    await g?.close();
  });

  it('logs in with PKCE on the registered loopback port, then answers from the cache with no request at all', async () => {
    const sb = fresh();
    const first = await cli(sb, ['token', ...sb.args]);
    assertOk(first);
    assert.equal(g.counts.authorization, 1, 'one authorization request');
    assert.equal(g.counts.codesIssued, 1);
    assert.deepEqual(g.counts.token, { authorization_code: 1 }, 'one code exchange');
    assert.equal(sb.browserRuns().length, 1);
    assert.deepEqual(sb.browserErrors(), []);

    g.resetCounts();
    const second = await cli(sb, ['token', ...sb.args]);
    assert.equal(second.code, 0, second.stderr);
    assert.equal(second.stdout, first.stdout, 'the cached token');
    assert.equal(g.counts.total, 0, 'a cache hit sends no request to the provider');
    sb.cleanup();
  });

  it('8 concurrent cold starts: all get the same token from 1 authorization and 1 code exchange', async () => {
    const sb = fresh();
    const results = await Promise.all(Array.from({ length: 8 }, () => cli(sb, ['token', ...sb.args])));
    for (const r of results) assertOk(r);
    assert.equal(new Set(results.map((r) => r.stdout)).size, 1, 'one token for all');
    assert.equal(g.counts.authorization, 1);
    assert.deepEqual(g.counts.token, { authorization_code: 1 });
    assert.equal(sb.browserRuns().length, 1, 'one browser');
    sb.cleanup();
  });

  it('one-time refresh tokens under concurrency: 8 callers, 1 refresh, and the rotated token is never reused', async () => {
    const sb = fresh();
    assertOk(await cli(sb, ['token', ...sb.args]));
    const before = session(sb);
    expireAccessToken(sb);
    g.resetCounts();
    const results = await Promise.all(Array.from({ length: 8 }, () => cli(sb, ['token', ...sb.args, '--non-interactive'])));
    for (const r of results) assertOk(r);
    assert.equal(new Set(results.map((r) => r.stdout)).size, 1);
    assert.deepEqual(g.counts.token, { refresh_token: 1 }, 'one refresh');
    assert.equal(g.counts.authorization, 0);
    const after = session(sb);
    assert.ok(after.refresh_token && after.refresh_token !== before.refresh_token, 'Glewlwyd rotated the refresh token and the new one was saved');

    // Had any caller reused the spent token, Glewlwyd would have disabled the whole chain
    // (docs/providers/glewlwyd.md): the saved token still works.
    expireAccessToken(sb);
    g.resetCounts();
    assertOk(await cli(sb, ['token', ...sb.args, '--non-interactive']));
    assert.deepEqual(g.counts.token, { refresh_token: 1 });
    assert.equal(sb.browserRuns().length, 1, 'no new login');
    sb.cleanup();
  });

  it('rolling refresh tokens: the answer has no new refresh token, and the one kept keeps working', async () => {
    const sb = fresh({ issuer: g.rollingIssuer });
    assertOk(await cli(sb, ['token', ...sb.args]));
    const rt = session(sb).refresh_token;
    for (let i = 0; i < 2; i++) {
      expireAccessToken(sb);
      assertOk(await cli(sb, ['token', ...sb.args, '--non-interactive']));
      assert.equal(session(sb).refresh_token, rt);
    }
    assert.equal(g.counts.token.refresh_token, 2);
    sb.cleanup();
  });

  it('a 503 on a refresh keeps the refresh token, and the kept token works at the next call', async () => {
    const sb = fresh();
    assertOk(await cli(sb, ['token', ...sb.args]));
    const rt = session(sb).refresh_token;
    expireAccessToken(sb);
    g.resetCounts();
    g.failNext('refresh_token', 503);
    const r = await cli(sb, ['token', ...sb.args, '--non-interactive']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^oidc-cred: could not refresh the token: the provider answered HTTP 503 with an empty body; this usually means a fault or an outage at the provider \(try again later\)\n$/);
    assert.equal(session(sb).refresh_token, rt, 'kept');
    assertOk(await cli(sb, ['token', ...sb.args, '--non-interactive']));
    assert.equal(g.counts.token.refresh_token, 2, 'the injected 503, then the real refresh');
    sb.cleanup();
  });

  it('a refresh token revoked at the provider: its empty HTTP 400 drops it, and the next call logs in (defect 2)', async () => {
    const sb = fresh({ clientId: g.confidentialClientId });
    const env = { OIDC_CRED_CLIENT_SECRET: g.clientSecret };
    const args = [...sb.args, '--client-auth', 'post'];
    assertOk(await cli(sb, ['token', ...args], env));
    const rt = session(sb).refresh_token!;
    // Revoked out of band (an administrator, another device's logout).
    const rv = await fetch(`${g.issuer}/revoke`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: rt, token_type_hint: 'refresh_token', client_id: g.confidentialClientId, client_secret: g.clientSecret }),
    });
    assert.equal(rv.status, 200);
    expireAccessToken(sb);

    const refused = await cli(sb, ['token', ...args, '--non-interactive'], env);
    assert.equal(refused.code, 1);
    assert.equal(refused.stdout, '');
    assert.equal(refused.stderr, "oidc-cred: the session has expired and the provider no longer accepts its refresh token (run 'oidc-cred login')\n");
    assert.equal(session(sb).refresh_token, undefined, 'the dead refresh token was dropped');

    g.resetCounts();
    assertOk(await cli(sb, ['token', ...args], env));
    assert.equal(g.counts.authorization, 1, 'a login where one is allowed');
    assert.equal(g.counts.token.refresh_token, undefined, 'the dead token was not tried again');
    sb.cleanup();
  });

  it('device grant: the "or open" link carries the real user code and approves the login (defect 1)', async () => {
    const sb = fresh();
    let stderr = '';
    let child: ChildProcess | undefined;
    let browser: Promise<RunResult> | undefined;
    let link = '';
    const r = await runCommand(process.execPath, [BIN.oidcCred, 'token', ...sb.args, '--grant', 'device', '--timeout', '30'], {
      env: sb.env,
      timeoutMs: 60_000,
      onSpawn: (c) => {
        child = c;
        c.stderr?.on('data', (d: Buffer | string) => {
          stderr += String(d);
          const m = /^oidc-cred: or open this link, which holds the code:\n {2}(\S+)\n/m.exec(stderr);
          if (m && !browser) {
            link = m[1]!;
            browser = runCommand(process.execPath, ['--import', TSX, GLW_BROWSER, '--log', sb.browserLog, '--user', g.username, '--password', g.password, link], { timeoutMs: 30_000 });
            // A dead link would leave oidc-cred polling until --timeout.
            void browser.then((b) => b.code !== 0 && child?.kill('SIGTERM'));
          }
        });
      },
    });
    assert.ok(browser, `an "or open" line: ${r.stderr}`);
    const b = await browser;
    const userCode = /enter the code\n {2}(\S+)/.exec(r.stderr)?.[1];
    assert.ok(userCode, r.stderr);
    assert.equal(new URL(link).searchParams.get('code'), userCode, `the link holds the user code: ${link}`);
    assert.equal(b.code, 0, `the link works: ${b.stderr}`);
    assertOk(r);
    assert.equal(g.counts.deviceAuthorization, 1);
    assert.ok((g.counts.token['urn:ietf:params:oauth:grant-type:device_code'] ?? 0) >= 1);
    assert.equal(g.counts.authorization, 0, 'no authorization code flow');
    sb.cleanup();
  });

  it('device grant: a verification_uri_complete carrying terminal escapes is printed without them', async () => {
    const sb = fresh();
    g.rewriteNext('device_authorization', (j) => ({ ...j, verification_uri_complete: `${String(j.verification_uri_complete)}\u001b]8;;http://evil.test/\u0007\u001b[2J` }));
    const r = await cli(sb, ['token', ...sb.args, '--grant', 'device', '--timeout', '3']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^ {2}http:\/\/127\.0\.0\.1:\d+\/api\/oidc\/device\?code=\w{4}-\w{4}\\x1b\]8;;http:\/\/evil\.test\/\\x07\\x1b\[2J$/m);
    assert.doesNotMatch(r.stderr, /[\u0000-\u0009\u000b-\u001f\u007f]/, 'no control character but newlines');
    assert.match(r.stderr, /not completed within 3 seconds/);
    sb.cleanup();
  });

  describe('client credentials', () => {
    const cc = (sb: Sb, clientId: string, extra: string[]): string[] => ['token', '--issuer', g.issuer, '--client-id', clientId, '--cache-dir', sb.cacheDir, '--grant', 'client-credentials', '--scope', g.clientScope, ...extra];

    it('client_secret_post (--client-auth post) works with a secret containing "-"', async () => {
      const sb = fresh();
      const r = await cli(sb, cc(sb, g.confidentialClientId, ['--client-auth', 'post']), { OIDC_CRED_CLIENT_SECRET: g.clientSecret });
      assertOk(r);
      assert.deepEqual(g.counts.token, { client_credentials: 1 });
      assert.deepEqual(g.counts.tokenAuth, { basic: 0, post: 1 });
      sb.cleanup();
    });

    it('client_secret_basic, the default from the metadata, works when the id and secret survive form-encoding', async () => {
      const sb = fresh();
      const r = await cli(sb, cc(sb, g.basicClientId, []), { OIDC_CRED_CLIENT_SECRET: g.basicClientSecret });
      assertOk(r);
      assert.deepEqual(g.counts.tokenAuth, { basic: 1, post: 0 });
      sb.cleanup();
    });

    it('Basic with a "-" fails at Glewlwyd with an empty 403: the error says what usually causes it and what to try (defects 3, 4)', async () => {
      const sb = fresh();
      const r = await cli(sb, cc(sb, g.confidentialClientId, []), { OIDC_CRED_CLIENT_SECRET: g.clientSecret });
      assert.equal(r.code, 1);
      assert.equal(r.stdout, '');
      assert.equal(
        r.stderr,
        'oidc-cred: could not get a token with the client credentials: the provider answered HTTP 403 with an empty body; this usually means the client authentication failed, or the client may not request these scopes (check the client ID and secret, and try --client-auth post or basic; check which scopes the provider allows this client)\n',
      );
      assert.deepEqual(g.counts.tokenAuth, { basic: 1, post: 0 });
      sb.cleanup();
    });
  });

  it('kubectl gets Glewlwyd\'s ID token, which an API server verifies with Glewlwyd\'s JWKS', async () => {
    const api: KubeApi = await startKubeApi({ issuer: g.issuer, clientId: g.publicClientId });
    try {
      const sb = fresh();
      const kc = writeKubeconfig(sb.dir, api, { apiVersion: 'client.authentication.k8s.io/v1', command: BIN.oidcCred, args: ['kube', ...sb.args] });
      const r = await runCommand('kubectl', ['--kubeconfig', kc, '--request-timeout=60s', 'get', '--raw', '/version'], { env: sb.env, timeoutMs: 90_000 });
      assert.equal(r.code, 0, r.stderr);
      assert.equal((JSON.parse(r.stdout) as { gitVersion: string }).gitVersion, 'v1.32.0-oidc-cred-test');
      assert.equal(api.counts.rejected, 0);
      assert.ok(api.counts.authorized >= 1);
      assert.equal(api.subjects.length > 0, true);
      assert.equal(g.counts.authorization, 1, 'one login');
      assert.equal(api.tokens[0], session(sb).id_token, 'the ID token from the login');
      sb.cleanup();
    } finally {
      await api.close();
    }
  });

  it('kube when the ID token expires: Glewlwyd issues none on refresh, so one login, said once (defect 5)', async () => {
    const sb = fresh();
    const execInfo = JSON.stringify({ apiVersion: 'client.authentication.k8s.io/v1', kind: 'ExecCredential', spec: { interactive: false } });
    const first = await cli(sb, ['kube', ...sb.args], { KUBERNETES_EXEC_INFO: execInfo });
    assert.equal(first.code, 0, first.stderr);
    const file = sessionFiles(sb)[0]!;
    const s = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    s.id_token_expires_at = new Date(Date.now() - 1000).toISOString();
    s.expires_at = new Date(Date.now() - 1000).toISOString();
    writeFileSync(file, JSON.stringify(s), { mode: 0o600 });
    g.resetCounts();
    const r = await cli(sb, ['kube', ...sb.args], { KUBERNETES_EXEC_INFO: execInfo });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(g.counts.token.refresh_token, 1, 'the refresh is tried first');
    assert.equal(r.stderr.match(/the provider issued no new ID token on refresh/g)?.length, 1, r.stderr);
    assert.equal(g.counts.authorization, 1, 'then one login');
    assert.equal(sb.browserRuns().length, 2);
    sb.cleanup();
  });

  it('doctor finds the error page Glewlwyd shows for an unregistered redirect port, and passes the registered one (defect 6)', async () => {
    const sb = fresh();
    const registered = await cli(sb, ['doctor', ...sb.args]);
    assert.match(registered.stdout, /^ok {6}authorization: /m, registered.stdout);
    const unregistered = await cli(sb, ['doctor', ...sb.args.map((a) => (a === String(g.redirectPorts[0]) ? '49999' : a))]);
    assert.equal(unregistered.code, 1, unregistered.stdout);
    assert.match(unregistered.stdout, /^problem authorization: /m, unregistered.stdout);
    assert.equal(g.counts.token.authorization_code ?? 0, 0, 'doctor never logs in');
    sb.cleanup();
  });

  describe('logout --revoke', () => {
    it('a confidential client revokes its refresh token, which Glewlwyd then refuses', async () => {
      const sb = fresh({ clientId: g.confidentialClientId });
      const env = { OIDC_CRED_CLIENT_SECRET: g.clientSecret };
      const args = [...sb.args, '--client-auth', 'post'];
      assertOk(await cli(sb, ['token', ...args], env));
      const rt = session(sb).refresh_token!;
      const r = await cli(sb, ['logout', '--revoke', ...args], env);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(g.counts.revocation, 1);
      assert.deepEqual(sessionFiles(sb), [], 'the session is gone');
      assert.equal(await directRefresh(rt, { client_id: g.confidentialClientId, client_secret: g.clientSecret }), 400, 'the revoked refresh token is refused');
      sb.cleanup();
    });

    it('a public client may not revoke at Glewlwyd (empty 401): the session is removed and the error says why (defect 4)', async () => {
      const sb = fresh();
      assertOk(await cli(sb, ['token', ...sb.args]));
      const r = await cli(sb, ['logout', '--revoke', ...sb.args]);
      assert.equal(r.code, 1);
      assert.equal(
        r.stderr.split('\n')[0],
        'oidc-cred: could not revoke the refresh token: the provider answered HTTP 401 with an empty body; this usually means the provider may not allow this client to revoke tokens (a public client often may not), or the client authentication failed (the cached session was removed anyway; revoke it at the provider, or use a confidential client)',
      );
      // …and then what logout did remove (docs/configuration.md).
      assert.match(r.stderr.split('\n')[1]!, /^oidc-cred: logged out \(.*\): removed the cached session \S+\.json$/);
      assert.deepEqual(sessionFiles(sb), []);
      sb.cleanup();
    });
  });
});
