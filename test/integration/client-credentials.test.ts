// Issue 5: the Client Credentials grant against the real test provider, and the CI rule of docs/configuration.md
// (nobody can see a login → fail at once with advice). The client secret is checked for on every
// stderr and argv by hand: trackLeaks only knows the tokens.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startProvider, type TestProvider } from '../../demo/provider.ts';
import { BIN, run, sandbox, trackLeaks, type RunResult, type Sandbox } from '../support/cli.ts';
import { onlyApi } from '../support/session-file.ts';

let p: TestProvider;
const sandboxes: Sandbox[] = [];
before(async () => {
  p = await startProvider();
  trackLeaks(p);
});
after(async () => {
  await p.close();
  for (const sb of sandboxes) sb.cleanup();
});

function fresh(): Sandbox {
  p.resetCounts();
  const sb = sandbox(p);
  sandboxes.push(sb);
  return sb;
}

const CC = 'client_credentials';

/** A CI job: no DISPLAY, no BROWSER, stderr a pipe (cleanEnv passes none of the developer's). */
function cc(sb: Sandbox, extra: string[] = [], env: Record<string, string> = {}): Promise<RunResult> {
  const args = ['token', '--issuer', p.issuer, '--client-id', p.confidentialClientId, '--cache-dir', sb.cacheDir, ...extra];
  return run(BIN.oidcCred, args, { env: { ...sb.env, OIDC_CRED_CLIENT_SECRET: p.clientSecret, ...env } }).then((r) => {
    assert.ok(!args.some((a) => a.includes(p.clientSecret)), 'the secret is not in argv');
    assert.ok(!r.stderr.includes(p.clientSecret), `the client secret appeared on stderr:\n${r.stderr}`);
    assert.ok(!r.stdout.includes(p.clientSecret), 'the client secret appeared on stdout');
    return r;
  });
}

function sessionFile(sb: Sandbox): string {
  const files = existsSync(sb.cacheDir) ? readdirSync(sb.cacheDir).filter((f) => /^[0-9a-f]{64}\.json$/.test(f)) : [];
  assert.equal(files.length, 1, `expected one session file, found ${files.join(', ') || 'none'}`);
  return join(sb.cacheDir, files[0]!);
}

describe('client credentials', () => {
  it('--grant client-credentials: a token is obtained, cached without a refresh token, and reused without a request', async () => {
    const sb = fresh();
    const r = await cc(sb, ['--grant', 'client-credentials']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    const token = r.stdout.trim();
    assert.ok(p.issuedTokens.has(token));
    assert.equal(p.counts.token[CC], 1);
    const cached = JSON.parse(readFileSync(sessionFile(sb), 'utf8')) as Record<string, unknown>;
    assert.equal(cached.grant, 'client-credentials');
    assert.equal(cached.refresh_token, undefined);
    assert.equal(onlyApi(cached).access_token, token);

    p.resetCounts();
    const again = await cc(sb, ['--grant', 'client-credentials']);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.stdout.trim(), token);
    assert.equal(p.counts.requests, 0, 'the cached token is handed over without any request');
  });

  it('--grant auto with a secret and nobody to show a login to uses client credentials; a secret file works too', async () => {
    const sb = fresh();
    const secretFile = join(sb.dir, 'secret');
    writeFileSync(secretFile, `${p.clientSecret}\n`, { mode: 0o600 });
    const r = await cc(sb, ['--client-secret-file', secretFile], { OIDC_CRED_CLIENT_SECRET: '' });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(p.counts.token[CC], 1);
    assert.equal(p.counts.authorization, 0);
    assert.equal(p.counts.deviceAuthorization, 0);
  });

  it('16 concurrent processes with an expiring token: exactly one new grant, all hand over the same new token', async () => {
    const sb = fresh();
    const first = await cc(sb, ['--grant', 'client-credentials']);
    assert.equal(first.code, 0, first.stderr);
    const old = first.stdout.trim();
    // Expiring: inside the default --min-valid of 60 s, but still valid.
    const file = sessionFile(sb);
    const s = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    onlyApi(s).expires_at = new Date(Date.now() + 20_000).toISOString();
    onlyApi(s).obtained_at = new Date(Date.now() - 3600_000).toISOString(); // an hour-long token near its end, not a short one
    writeFileSync(file, JSON.stringify(s), { mode: 0o600 });
    p.resetCounts();

    const results = await Promise.all(Array.from({ length: 16 }, () => cc(sb, ['--grant', 'client-credentials'])));
    for (const r of results) assert.equal(r.code, 0, r.stderr);
    assert.equal(p.counts.token[CC], 1, `client_credentials grants: ${JSON.stringify(p.counts.token)}`);
    const tokens = new Set(results.map((r) => r.stdout.trim()));
    assert.equal(tokens.size, 1, 'all sixteen hand over the same token');
    assert.notEqual([...tokens][0], old, 'the expiring token was replaced');
  });

  for (const method of ['client_secret_basic', 'client_secret_post'] as const) {
    it(`metadata advertising only ${method}: the secret is sent that way, and -v shows neither the secret nor the token`, async () => {
      const proxy = await authMethodProxy(method);
      try {
        const sb = fresh();
        const args = ['token', '--grant', 'client-credentials', '-v', '--issuer', proxy.origin, '--client-id', p.confidentialClientId, '--cache-dir', sb.cacheDir];
        const r = await run(BIN.oidcCred, args, { env: { ...sb.env, OIDC_CRED_CLIENT_SECRET: p.clientSecret } });
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stderr, /oidc-cred\[debug\]/, 'the debug log was on');
        assert.ok(!r.stderr.includes(p.clientSecret), 'no secret in the -v output');
        assert.ok(!r.stderr.includes(r.stdout.trim()), 'no token in the -v output');
        assert.deepEqual(proxy.seen, [method === 'client_secret_basic' ? 'basic' : 'post']);
      } finally {
        await proxy.close();
      }
    });
  }

  it('a wrong secret: exit 1 with one line that names the provider error and not the secret', async () => {
    const sb = fresh();
    const wrong = `${p.clientSecret.slice(0, -4)}XXXX`;
    const r = await cc(sb, ['--grant', 'client-credentials', '-v'], { OIDC_CRED_CLIENT_SECRET: wrong });
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^oidc-cred: could not get a token with the client credentials: the provider answered HTTP 401/m);
    assert.ok(!r.stderr.includes(wrong), 'the wrong secret is not echoed either');
  });
});

describe('CI without a secret (docs/configuration.md: a login starts only where someone can see it)', () => {
  for (const grant of ['auto', 'authcode']) {
    it(`--grant ${grant}: no display, no browser command, stderr a pipe, no secret → exit 1 at once with advice, no authorization request`, async () => {
      const sb = fresh();
      const r = await run(BIN.oidcCred, ['token', '--grant', grant, '--issuer', p.issuer, '--client-id', p.publicClientId, '--cache-dir', sb.cacheDir], {
        env: sb.env,
        timeoutMs: 30_000,
      });
      assert.equal(r.code, 1, r.stderr);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, /^oidc-cred: a login is needed, but there is no browser, display or terminal to show it \(run 'oidc-cred login'.*client credentials/m);
      assert.equal(r.stderr.trim().split('\n').length, 1, 'one line');
      assert.equal(p.counts.authorization, 0);
      assert.equal(p.counts.deviceAuthorization, 0);
      assert.equal(p.counts.requests, 0, 'fails before any network');
    });
  }
});

/**
 * A pass-through proxy whose discovery document advertises one token endpoint auth method, and
 * that records how each token request authenticated ("basic": Authorization header, "post": body).
 */
async function authMethodProxy(method: string): Promise<{ origin: string; seen: string[]; close(): Promise<void> }> {
  const seen: string[] = [];
  let origin = '';
  const server: Server = createServer((req, res) => {
    void (async () => {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const body = Buffer.concat(chunks).toString('utf8');
      if (req.url === '/token') {
        const form = new URLSearchParams(body);
        seen.push(req.headers.authorization?.startsWith('Basic ') ? 'basic' : form.get('client_secret') === p.clientSecret ? 'post' : 'none');
      }
      const headers: Record<string, string> = { accept: 'application/json' };
      if (req.headers['content-type']) headers['content-type'] = req.headers['content-type'];
      if (req.headers.authorization) headers.authorization = req.headers.authorization;
      const up = await fetch(`${p.issuer}${req.url}`, { method: req.method, headers, body: req.method === 'POST' ? body : undefined });
      let text = (await up.text()).split(p.issuer).join(origin);
      if (req.url === '/.well-known/openid-configuration') {
        const meta = JSON.parse(text) as Record<string, unknown>;
        meta.token_endpoint_auth_methods_supported = [method];
        text = JSON.stringify(meta);
      }
      res.writeHead(up.status, { 'content-type': up.headers.get('content-type') ?? 'application/json' }).end(text);
    })();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    origin,
    seen,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}
