// status, logout --revoke, --audience, proxies and extra CAs, against the real provider.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startProvider, type TestProvider } from '../../demo/provider.ts';
import { BIN, run, sandbox, trackLeaks } from '../support/cli.ts';
import { onlyApi } from '../support/session-file.ts';

let p: TestProvider;
before(async () => {
  p = await startProvider();
  trackLeaks(p);
});
after(() => p.close());

function sessionFiles(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir).filter((f) => /^[0-9a-f]{64}\.json$/.test(f)) : [];
}

describe('status and logout', () => {
  it('status lists the session without any token; logout --revoke revokes the refresh token and removes the file', async () => {
    p.resetCounts();
    const sb = sandbox(p);
    assert.equal((await run(BIN.oidcCred, ['login', ...sb.args(), '--scope', 'openid offline_access email'], { env: sb.env })).code, 0);
    const file = join(sb.cacheDir, sessionFiles(sb.cacheDir)[0]!);
    const session = JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>;

    const st = await run(BIN.oidcCred, ['status', '--json', '--cache-dir', sb.cacheDir], { env: sb.env });
    assert.equal(st.code, 0, st.stderr);
    const parsed = JSON.parse(st.stdout) as { sessions: Array<Record<string, unknown>> };
    assert.equal(parsed.sessions.length, 1);
    assert.equal(parsed.sessions[0]!.issuer, p.issuer);
    assert.equal(parsed.sessions[0]!.email, 'demo@example.com');
    assert.equal(parsed.sessions[0]!.refresh_token, true);
    for (const t of [onlyApi(session).access_token as string, session.id_token, session.refresh_token]) assert.ok(!st.stdout.includes(t!), 'status never prints a token');
    const table = await run(BIN.oidcCred, ['status', '--cache-dir', sb.cacheDir], { env: sb.env });
    assert.match(table.stdout, /demo@example\.com/);

    const out = await run(BIN.oidcCred, ['logout', '--revoke', '--scope', 'openid offline_access email', ...sb.args()], { env: sb.env });
    assert.equal(out.code, 0, out.stderr);
    assert.equal(out.stdout, '');
    assert.equal(p.counts.revocation, 1);
    assert.deepEqual(sessionFiles(sb.cacheDir), []);
    // The revoked refresh token no longer works at the provider.
    const res = await fetch(`${p.issuer}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: session.refresh_token!, client_id: p.publicClientId }),
    });
    assert.equal(res.status, 400);
    assert.equal(((await res.json()) as { error: string }).error, 'invalid_grant');
    sb.cleanup();
  });

  it('logout --all removes every session', async () => {
    const sb = sandbox(p);
    assert.equal((await run(BIN.oidcCred, ['token', ...sb.args()], { env: sb.env })).code, 0);
    // Another scope set is another API of the same login (docs/multi-api.md); other extra
    // parameters are another login.
    assert.equal((await run(BIN.oidcCred, ['token', ...sb.args(), '--scope', 'openid'], { env: sb.env })).code, 0);
    assert.equal(sessionFiles(sb.cacheDir).length, 1, 'two scope sets, one session');
    assert.equal((await run(BIN.oidcCred, ['token', ...sb.args(), '--param', 'login_hint=demo-user'], { env: sb.env })).code, 0);
    assert.equal(sessionFiles(sb.cacheDir).length, 2, 'other params, two sessions');
    const r = await run(BIN.oidcCred, ['logout', '--all', '--cache-dir', sb.cacheDir], { env: sb.env });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(sessionFiles(sb.cacheDir), []);
    sb.cleanup();
  });
});

describe('audience', () => {
  it('--audience is sent on authorize and token requests and yields a JWT access token for that API', async () => {
    const sb = sandbox(p);
    const r = await run(BIN.oidcCred, ['token', ...sb.args(), '--audience', 'https://api.example.test'], { env: sb.env });
    assert.equal(r.code, 0, r.stderr);
    const [, payload] = r.stdout.trim().split('.');
    assert.ok(payload, 'a JWT');
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as { aud: string | string[] };
    assert.ok([claims.aud].flat().includes('https://api.example.test'));
    sb.cleanup();
  });
});

describe('HTTP plumbing', () => {
  const servers: Server[] = [];
  after(() => Promise.all(servers.map((s) => new Promise((r) => (s.closeAllConnections(), s.close(r))))));

  it('honours HTTP_PROXY, and NO_PROXY bypasses it', async () => {
    let proxied = 0;
    // A forward proxy: undici tunnels every request, http:// targets too, through CONNECT.
    const proxy = createServer((_req, res) => {
      res.writeHead(405);
      res.end();
    });
    proxy.on('connect', (req: import('node:http').IncomingMessage, client: import('node:net').Socket, head: Buffer) => {
      proxied++;
      const [host, port] = (req.url ?? '').split(':');
      const up = connect(Number(port), host!, () => {
        client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        up.write(head);
        up.pipe(client);
        client.pipe(up);
      });
      up.on('error', () => client.destroy());
      client.on('error', () => up.destroy());
    });
    servers.push(proxy);
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    const proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;

    const sb = sandbox(p);
    const via = await run(BIN.oidcCred, ['token', ...sb.args()], { env: { ...sb.env, HTTP_PROXY: proxyUrl } });
    assert.equal(via.code, 0, via.stderr);
    assert.ok(proxied >= 1, `the provider was reached through the proxy (${proxied} tunnels)`);

    const sb2 = sandbox(p);
    proxied = 0;
    const direct = await run(BIN.oidcCred, ['token', ...sb2.args()], { env: { ...sb2.env, HTTP_PROXY: proxyUrl, NO_PROXY: '127.0.0.1' } });
    assert.equal(direct.code, 0, direct.stderr);
    assert.equal(proxied, 0);
    sb.cleanup();
    sb2.cleanup();
  });

  it('--ca-file trusts a private CA for an https provider; without it the TLS error is one clear line', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'oidc-cred-ca-'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
    let base = '';
    const tls = createHttpsServer({ key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) }, (req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      // A provider whose discovery works but that has no authorization endpoint: enough to
      // prove TLS trust without a browser.
      res.end(JSON.stringify({ issuer: base, token_endpoint: `${base}/token`, response_types_supported: ['code'] }));
    });
    servers.push(tls as unknown as Server);
    await new Promise<void>((r) => tls.listen(0, '127.0.0.1', r));
    base = `https://127.0.0.1:${(tls.address() as AddressInfo).port}`;
    const sb = sandbox(p);
    const common = ['token', '--issuer', base, '--client-id', 'x', '--cache-dir', sb.cacheDir, '--browser-command', 'true'];
    const untrusted = await run(BIN.oidcCred, common, { env: sb.env });
    assert.equal(untrusted.code, 1);
    assert.match(untrusted.stderr, /certificate/i);
    assert.equal(untrusted.stderr.trim().split('\n').length, 1);
    const trusted = await run(BIN.oidcCred, [...common, '--ca-file', join(dir, 'cert.pem')], { env: sb.env });
    assert.equal(trusted.code, 1);
    assert.doesNotMatch(trusted.stderr, /certificate/i);
    assert.match(trusted.stderr, /no authorization endpoint/);
    sb.cleanup();
  });

  it('refuses a plain-http issuer that is not on a loopback address', async () => {
    const sb = sandbox(p);
    const r = await run(BIN.oidcCred, ['token', '--issuer', 'http://idp.example.com', '--client-id', 'x', '--cache-dir', sb.cacheDir, '--browser-command', 'true'], { env: sb.env });
    assert.equal(r.code, 2, 'a bad --issuer value is a usage error');
    assert.match(r.stderr, /must use https:\/\//);
    sb.cleanup();
  });
});

describe('usage', () => {
  it('unknown command or flag → exit 2; --help and --version → exit 0', async () => {
    const unknown = await run(BIN.oidcCred, ['frobnicate'], {});
    assert.equal(unknown.code, 2);
    assert.equal(unknown.stdout, '');
    const flag = await run(BIN.oidcCred, ['token', '--frobnicate'], {});
    assert.equal(flag.code, 2);
    assert.match(flag.stderr, /^oidc-cred: .*frobnicate/);
    const bad = await run(BIN.oidcCred, ['token', '--timeout', 'soon'], {});
    assert.equal(bad.code, 2);
    assert.equal((await run(BIN.oidcCred, ['--help'], {})).code, 0);
    const v = await run(BIN.oidcCred, ['--version'], {});
    assert.equal(v.code, 0);
    assert.equal(v.stdout.trim(), (JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'package.json'), 'utf8')) as { version: string }).version);
  });
});
