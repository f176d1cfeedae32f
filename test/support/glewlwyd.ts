// Glewlwyd 2.7.5 (Debian package `glewlwyd`) as a second, independent OpenID provider for the
// interoperability tests (issue 15). It runs as a foreground child process with a private copy of
// the package's config, a fresh sqlite3 database made from the package's own SQL and an RSA key
// from openssl, and is configured only through its admin REST API, as an administrator would.
//
// A small counting proxy of ours sits in front of it on another loopback port and is the issuer
// every client sees (Glewlwyd's `external_url` points at it), so that a test can say "one
// authorization, one code exchange, no request at all on a cache hit" and can collect every token
// the provider issued (to check that none reaches stderr).
//
// Facts this relies on (checked against 2.7.5, see docs/providers/glewlwyd.md):
// - `use_secure_connection=false` must be left out of the config, or 2.7.5 refuses to start;
// - redirect URIs are matched as exact strings: the loopback port is registered;
// - a client authenticates only with the methods listed in its `token_endpoint_auth_method`;
// - form-encoded Basic credentials are not decoded (`-` becomes `%2D` and fails).
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const GLEWLWYD_BIN = '/usr/bin/glewlwyd';
const PACKAGE_CONF = '/etc/glewlwyd/glewlwyd.conf';
const PACKAGE_SQL = '/usr/share/doc/glewlwyd/database/init.sqlite3.sql.gz';
const WEBAPP = '/usr/share/glewlwyd/webapp/';
/** The package's initial administrator (init.sqlite3.sql). */
const ADMIN = { username: 'admin', password: 'password' };

/** Why the Glewlwyd tests cannot run here, or undefined when they can. */
export function glewlwydMissing(): string | undefined {
  for (const f of [GLEWLWYD_BIN, PACKAGE_CONF, PACKAGE_SQL]) {
    if (!existsSync(f)) return `${f} is missing (apt-get install glewlwyd sqlite3)`;
  }
  if (spawnSync('sqlite3', ['-version'], { stdio: 'ignore' }).status !== 0) return 'sqlite3 is missing (apt-get install sqlite3)';
  if (spawnSync('openssl', ['version'], { stdio: 'ignore' }).status !== 0) return 'openssl is missing';
  return undefined;
}

export interface GlewlwydCounts {
  /** Authorization requests a client started (GET …/auth; the login app's `&g_continue` return is not counted again). */
  authorization: number;
  /** …/auth answered with a redirect to a registered redirect URI carrying a code. */
  codesIssued: number;
  token: Record<string, number>;
  /** Token requests whose client authenticated with HTTP Basic, and with client_secret in the body. */
  tokenAuth: { basic: number; post: number };
  deviceAuthorization: number;
  revocation: number;
  discovery: number;
  /** Every request the proxy forwarded, the login page's own REST calls included. */
  total: number;
}

export interface Glewlwyd {
  /** http://127.0.0.1:<proxy>/api/<instance>: one-time refresh tokens (a rotated token is spent). */
  readonly issuer: string;
  /** A second OIDC instance whose refresh tokens roll (the same token is reused, not rotated). */
  readonly rollingIssuer: string;
  readonly publicClientId: string;
  readonly confidentialClientId: string;
  /** Contains `-`: what Glewlwyd's Basic authentication cannot decode when form-encoded. */
  readonly clientSecret: string;
  /** A confidential client whose id and secret have no character that form-encoding changes. */
  readonly basicClientId: string;
  readonly basicClientSecret: string;
  /** The scope the confidential clients may request with client credentials. */
  readonly clientScope: string;
  /** Loopback ports whose http://127.0.0.1:<port>/callback is registered on both clients. */
  readonly redirectPorts: readonly number[];
  readonly username: string;
  readonly password: string;
  readonly counts: GlewlwydCounts;
  /** Every access, ID and refresh token seen in a token response. */
  readonly issuedTokens: Set<string>;
  /** Answer the next N token requests for this grant type with this status and no body, without forwarding them. */
  failNext(grantType: string, status: number, times?: number): void;
  /** Rewrite Glewlwyd's next JSON answer on this route (`device_authorization`, `token`, …), as a hostile proxy would. */
  rewriteNext(route: string, edit: (json: Record<string, unknown>) => Record<string, unknown>): void;
  resetCounts(): void;
  /** An admin REST call (JSON in and out); throws on a non-2xx answer. */
  admin(method: string, path: string, body?: unknown): Promise<unknown>;
  /** Glewlwyd's own console log so far (for a failing test's message). */
  log(): string;
  close(): Promise<void>;
}

function freshCounts(): GlewlwydCounts {
  return { authorization: 0, codesIssued: 0, token: {}, tokenAuth: { basic: 0, post: 0 }, deviceAuthorization: 0, revocation: 0, discovery: 0, total: 0 };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The package's config with our port, address, database and log; everything else as shipped. */
function privateConfig(port: number, externalUrl: string, dbPath: string): string {
  const lines = readFileSync(PACKAGE_CONF, 'utf8').split('\n').filter((l) => !/^\s*(use_secure_connection|port|external_url|log_mode|log_file|bind_address|static_files_path)\s*=/.test(l));
  const out = lines.map((l) => (/^\s*@include\s+"\/etc\/glewlwyd\/glewlwyd-db\.conf"/.test(l) ? `database = {\n  type = "sqlite3"\n  path = "${dbPath}"\n};` : l));
  out.push(`port=${port}`, 'bind_address="127.0.0.1"', `external_url="${externalUrl}"`, 'log_mode="console"', `static_files_path="${WEBAPP}"`);
  return `${out.join('\n')}\n`;
}

export async function startGlewlwyd(): Promise<Glewlwyd> {
  const missing = glewlwydMissing();
  if (missing) throw new Error(`cannot start Glewlwyd: ${missing}`);
  const dir = mkdtempSync(join(tmpdir(), 'oidc-cred-glewlwyd-'));
  const db = join(dir, 'glewlwyd.sqlite3');
  execFileSync('sh', ['-c', `gzip -dc ${PACKAGE_SQL} | sqlite3 ${db}`], { stdio: ['ignore', 'ignore', 'pipe'] });
  execFileSync('openssl', ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', join(dir, 'key.pem')], { stdio: ['ignore', 'ignore', 'pipe'] });
  execFileSync('openssl', ['pkey', '-in', join(dir, 'key.pem'), '-pubout', '-out', join(dir, 'pub.pem')], { stdio: ['ignore', 'ignore', 'pipe'] });
  const keyPem = readFileSync(join(dir, 'key.pem'), 'utf8');
  const certPem = readFileSync(join(dir, 'pub.pem'), 'utf8');

  // The proxy first: its address is the external URL Glewlwyd builds every endpoint from.
  const counts = freshCounts();
  const issuedTokens = new Set<string>();
  const failures = new Map<string, { status: number; times: number }>();
  const rewrites = new Map<string, (json: Record<string, unknown>) => Record<string, unknown>>();
  let upstreamPort = 0;
  const proxy = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const route = url.pathname.replace(/^\/api\/[^/]+\//, '').replace(/\/$/, '');
      const isOidc = /^\/api\/oidc(-rolling)?\//.test(url.pathname);
      counts.total++;
      let grant: string | undefined;
      if (isOidc) {
        if (route === 'auth' && !url.searchParams.has('g_continue')) counts.authorization++;
        else if (route === '.well-known/openid-configuration') counts.discovery++;
        else if (route === 'device_authorization') counts.deviceAuthorization++;
        else if (route === 'revoke') counts.revocation++;
        else if (route === 'token') {
          const form = new URLSearchParams(body.toString('utf8'));
          grant = form.get('grant_type') ?? 'none';
          counts.token[grant] = (counts.token[grant] ?? 0) + 1;
          if (/^basic /i.test(req.headers.authorization ?? '')) counts.tokenAuth.basic++;
          if (form.has('client_secret')) counts.tokenAuth.post++;
          const fail = failures.get(grant);
          if (fail && fail.times > 0) {
            fail.times--;
            res.writeHead(fail.status, { 'content-length': '0' });
            res.end();
            return;
          }
        }
      }
      const headers = { ...req.headers, host: `127.0.0.1:${upstreamPort}`, 'content-length': String(body.length) };
      const up = http.request({ host: '127.0.0.1', port: upstreamPort, method: req.method, path: req.url, headers, agent: false }, (ur) => {
        const out: Buffer[] = [];
        ur.on('data', (c: Buffer) => out.push(c));
        ur.on('end', () => {
          let answer = Buffer.concat(out);
          const rewrite = isOidc ? rewrites.get(route) : undefined;
          if (rewrite) {
            rewrites.delete(route);
            answer = Buffer.from(JSON.stringify(rewrite(JSON.parse(answer.toString('utf8')) as Record<string, unknown>)));
            ur.headers['content-length'] = String(answer.length);
          }
          if (isOidc && route === 'auth' && /[?&]code=/.test(String(ur.headers.location ?? '')) && !String(ur.headers.location).startsWith(externalUrl)) counts.codesIssued++;
          if (grant && (ur.headers['content-type'] ?? '').includes('json')) {
            try {
              const j = JSON.parse(answer.toString('utf8')) as Record<string, unknown>;
              for (const k of ['access_token', 'id_token', 'refresh_token']) if (typeof j[k] === 'string') issuedTokens.add(j[k]);
            } catch {
              // not JSON after all: nothing issued
            }
          }
          res.writeHead(ur.statusCode ?? 502, ur.headers);
          res.end(answer);
        });
      });
      up.on('error', (err) => {
        res.writeHead(502, { 'content-type': 'text/plain' });
        res.end(`proxy: ${err.message}`);
      });
      up.end(body);
    });
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const proxyPort = (proxy.address() as AddressInfo).port;
  const externalUrl = `http://127.0.0.1:${proxyPort}`;

  let child: ChildProcess | undefined;
  let output = '';
  const stopChild = async (): Promise<void> => {
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const c = child;
    const exited = new Promise<void>((r) => c.once('exit', () => r()));
    c.kill('SIGTERM');
    const t = setTimeout(() => c.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(t);
  };

  try {
    // Between freePort() and Glewlwyd's bind another process may take the port: retry.
    for (let attempt = 0; ; attempt++) {
      upstreamPort = await freePort();
      writeFileSync(join(dir, 'glewlwyd.conf'), privateConfig(upstreamPort, externalUrl, db));
      output = '';
      child = spawn(GLEWLWYD_BIN, ['-c', join(dir, 'glewlwyd.conf')], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
      child.stdout?.setEncoding('utf8').on('data', (d: string) => (output += d));
      child.stderr?.setEncoding('utf8').on('data', (d: string) => (output += d));
      const started = await waitStarted(child, () => output, upstreamPort);
      if (started) break;
      await stopChild();
      if (attempt >= 2) throw new Error(`Glewlwyd did not start:\n${output}`);
    }

    const session = await adminSession(upstreamPort);
    const admin = (method: string, path: string, body?: unknown): Promise<unknown> => adminCall(upstreamPort, session, method, path, body);

    const username = 'alice';
    const password = `pw-${randomBytes(9).toString('base64url')}`;
    const clientSecret = `s3cret-${randomBytes(12).toString('hex')}-with-dashes`;
    const clientScope = 'api.read';
    const redirectPorts = [await freePort(), await freePort(), await freePort()];
    const redirects = redirectPorts.map((p) => `http://127.0.0.1:${p}/callback`);

    for (const name of ['offline_access', 'profile', 'email', clientScope]) {
      await admin('POST', '/scope/', { name, display_name: name, description: `${name} (oidc-cred tests)`, password_required: false, scheme: {} });
    }
    await admin('POST', '/user/', { username, name: 'Alice Example', email: 'alice@example.test', password, scope: ['openid', 'offline_access', 'profile', 'email'], enabled: true });

    const plugin = (name: string, oneUse: 'always' | 'never'): Record<string, unknown> => ({
      module: 'oidc',
      name,
      display_name: `oidc-cred tests (${name})`,
      enabled: true,
      parameters: {
        iss: `${externalUrl}/api/${name}`,
        'jwt-type': 'rsa',
        'jwt-key-size': '256',
        key: keyPem,
        cert: certPem,
        'access-token-duration': 3600,
        'refresh-token-duration': 1209600,
        'code-duration': 600,
        'refresh-token-rolling': true,
        'refresh-token-one-use': oneUse,
        'allow-non-oidc': true,
        'auth-type-code-enabled': true,
        'auth-type-token-enabled': false,
        'auth-type-id-token-enabled': true,
        'auth-type-none-enabled': false,
        'auth-type-password-enabled': false,
        'auth-type-client-enabled': true,
        'auth-type-device-enabled': true,
        'auth-type-refresh-enabled': true,
        'allowed-scope': ['openid', 'offline_access', 'profile', 'email'],
        'pkce-allowed': true,
        'pkce-method-plain-allowed': false,
        'pkce-required-public-client': true,
        'introspection-revocation-allowed': true,
        'introspection-revocation-allow-target-client': true,
        'oauth-as-iss-id': true, // RFC 9207: `iss` on the authorization response
        'device-authorization-expiration': 600,
        'device-authorization-interval': 1,
        'jwks-show': true,
        'name-claim': 'on-demand',
        'email-claim': 'no',
        'scope-claim': 'no',
        'secret-type': 'pairwise',
        'request-parameter-allow': false,
        'session-management-allowed': false,
      },
    });
    await admin('POST', '/mod/plugin/', plugin('oidc', 'always'));
    await admin('POST', '/mod/plugin/', plugin('oidc-rolling', 'never'));

    const publicClientId = 'oidc-cred-public';
    const confidentialClientId = 'oidc-cred-confidential';
    await admin('POST', '/client/', {
      client_id: publicClientId,
      name: 'oidc-cred (public)',
      confidential: false,
      redirect_uri: redirects,
      authorization_type: ['code', 'refresh_token', 'device_authorization'],
      token_endpoint_auth_method: ['none'],
      scope: [],
      enabled: true,
    });
    await admin('POST', '/client/', {
      client_id: confidentialClientId,
      name: 'oidc-cred (confidential)',
      confidential: true,
      client_secret: clientSecret,
      redirect_uri: redirects,
      authorization_type: ['code', 'refresh_token', 'device_authorization', 'client_credentials', 'delete_token'],
      token_endpoint_auth_method: ['client_secret_basic', 'client_secret_post'],
      scope: [clientScope],
      enabled: true,
    });
    const basicClientId = 'oidccredbasic';
    const basicClientSecret = randomBytes(16).toString('hex');
    await admin('POST', '/client/', {
      client_id: basicClientId,
      name: 'oidc-cred (confidential, Basic-safe credentials)',
      confidential: true,
      client_secret: basicClientSecret,
      redirect_uri: redirects,
      authorization_type: ['client_credentials'],
      token_endpoint_auth_method: ['client_secret_basic', 'client_secret_post'],
      scope: [clientScope],
      enabled: true,
    });

    return {
      issuer: `${externalUrl}/api/oidc`,
      rollingIssuer: `${externalUrl}/api/oidc-rolling`,
      publicClientId,
      confidentialClientId,
      clientSecret,
      basicClientId,
      basicClientSecret,
      clientScope,
      redirectPorts,
      username,
      password,
      counts,
      issuedTokens,
      failNext(grantType, status, times = 1) {
        failures.set(grantType, { status, times });
      },
      rewriteNext(route, edit) {
        rewrites.set(route, edit);
      },
      resetCounts() {
        Object.assign(counts, freshCounts());
        failures.clear();
        rewrites.clear();
      },
      admin,
      log: () => output,
      async close() {
        await stopChild();
        await new Promise<void>((r) => proxy.close(() => r()));
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await stopChild();
    proxy.close();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

/** Resolves true once Glewlwyd answers on its port, false if it exits first (e.g. the port was taken). */
async function waitStarted(child: ChildProcess, output: () => string, port: number): Promise<boolean> {
  const end = Date.now() + 20_000;
  while (Date.now() < end) {
    if (child.exitCode !== null || child.signalCode !== null) return false;
    if (/Glewlwyd started on port/.test(output())) {
      try {
        const r = await fetch(`http://127.0.0.1:${port}/config`);
        await r.arrayBuffer();
        if (r.ok) return true;
      } catch {
        // not listening yet
      }
    }
    await sleep(50);
  }
  return false;
}

async function adminSession(port: number): Promise<string> {
  const r = await fetch(`http://127.0.0.1:${port}/api/auth/`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(ADMIN),
  });
  await r.arrayBuffer();
  const cookie = r.headers.get('set-cookie')?.split(';')[0];
  if (!r.ok || !cookie) throw new Error(`Glewlwyd admin login failed: HTTP ${r.status}`);
  return cookie;
}

async function adminCall(port: number, cookie: string, method: string, path: string, body: unknown): Promise<unknown> {
  const r = await fetch(`http://127.0.0.1:${port}/api${path}`, {
    method,
    headers: { cookie, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  if (!r.ok) throw new Error(`Glewlwyd admin ${method} ${path}: HTTP ${r.status} ${text.slice(0, 300)}`);
  return text ? (JSON.parse(text) as unknown) : undefined;
}
