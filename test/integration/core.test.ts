// Issue 2 against the real peers: oidc-provider on 127.0.0.1, the scripted browser, and this
// project's own binaries run as separate processes. Every claim counts what the provider saw.
import assert from 'node:assert/strict';
import { chmodSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startProvider, type TestProvider } from '../../demo/provider.ts';
import { BIN, BROWSER, run, sandbox, trackLeaks, waitFor, lockExists, type RunResult, type Sandbox } from '../support/cli.ts';
import { onlyApi } from '../support/session-file.ts';

let p: TestProvider;
before(async () => {
  p = await startProvider();
  trackLeaks(p);
});
after(() => p.close());

function fresh(): Sandbox {
  p.resetCounts();
  p.mode = 'approve';
  return sandbox(p);
}

function token(sb: Sandbox, extra: string[] = [], opts: { browserFlags?: string; env?: Record<string, string> } = {}): Promise<RunResult> {
  return run(BIN.oidcCred, ['token', ...sb.args(opts.browserFlags), ...extra], { env: { ...sb.env, ...opts.env } });
}

function sessionFile(sb: Sandbox): string {
  const files = existsSync(sb.cacheDir) ? readdirSync(sb.cacheDir).filter((f) => /^[0-9a-f]{64}\.json$/.test(f)) : [];
  assert.equal(files.length, 1, `expected one session file, found ${files.join(', ') || 'none'}`);
  return join(sb.cacheDir, files[0]!);
}

function editSession(sb: Sandbox, edit: (s: Record<string, unknown>) => void): void {
  const file = sessionFile(sb);
  const s = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  edit(s);
  writeFileSync(file, JSON.stringify(s), { mode: 0o600 });
}

const expiringSoon = (s: Record<string, unknown>): void => {
  onlyApi(s).expires_at = new Date(Date.now() + 20_000).toISOString(); // inside the default --min-valid 60
  onlyApi(s).obtained_at = new Date(Date.now() - 3600_000).toISOString(); // an hour-long token near its end, not a short one
};

describe('login and the hot path', () => {
  it('login → token → token: the second token makes no request to the provider', async () => {
    const sb = fresh();
    const login = await run(BIN.oidcCred, ['login', ...sb.args()], { env: sb.env });
    assert.equal(login.code, 0, login.stderr);
    assert.equal(login.stdout, '', 'login prints nothing on stdout');
    assert.match(login.stderr, /logged in as demo-user .*valid until (\d{4}-\d\d-\d\d )?\d\d:\d\d \([+-]\d\d:\d\d\), in \d/);
    assert.equal(p.counts.authorization, 1);
    assert.equal(p.counts.token.authorization_code, 1);

    const first = await token(sb);
    assert.equal(first.code, 0, first.stderr);
    const requests = p.counts.requests;
    const second = await token(sb);
    assert.equal(second.code, 0, second.stderr);
    assert.equal(second.stdout, first.stdout);
    assert.match(second.stdout, /^\S{20,}\n$/);
    assert.equal(p.counts.requests, requests, 'the cached token needs no request');
    assert.ok(await p.userinfo(second.stdout.trim()), 'the provider accepts the token');
    assert.equal(sb.browserRuns().length, 1);

    const json = await token(sb, ['--json']);
    const parsed = JSON.parse(json.stdout) as Record<string, unknown>;
    assert.equal(parsed.access_token, first.stdout.trim());
    assert.match(String(parsed.id_token), /^eyJ/);
    assert.match(String(parsed.expires_at), /^\d{4}-\d\d-\d\dT/);
    const id = await token(sb, ['--id-token']);
    assert.equal(id.stdout.trim(), parsed.id_token);
    sb.cleanup();
  });

  it('the cache directory is 0700 and the session file 0600, and holds what docs/architecture.md lists', async () => {
    const sb = fresh();
    const r = await token(sb);
    assert.equal(r.code, 0, r.stderr);
    const file = sessionFile(sb);
    const { statSync } = await import('node:fs');
    assert.equal(statSync(sb.cacheDir).mode & 0o777, 0o700);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const s = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    for (const k of ['version', 'issuer', 'client_id', 'id_token', 'refresh_token', 'scope', 'obtained_at', 'apis']) {
      assert.ok(s[k] !== undefined, `cache file has ${k}`);
    }
    for (const k of ['access_token', 'token_type', 'expires_at', 'obtained_at']) assert.ok(onlyApi(s)[k] !== undefined, `the API's record has ${k}`);
    assert.equal(s.issuer, p.issuer);
    sb.cleanup();
  });

  it('the browser command receives only the short loopback URL', async () => {
    const sb = fresh();
    const r = await token(sb);
    assert.equal(r.code, 0, r.stderr);
    const [line] = sb.browserRuns();
    assert.match(line!, /^\d+ http:\/\/127\.0\.0\.1:\d+\/\?k=[\w-]{22}$/);
    // …and the same URL is printed on stderr in case no browser opens.
    const url = line!.split(' ')[1]!;
    assert.ok(r.stderr.includes(url), 'login URL printed on stderr');
    sb.cleanup();
  });
});

describe('stdout belongs to the protocol', () => {
  it("whatever the browser prints goes to stderr, never stdout", async () => {
    const sb = fresh();
    // A browser launcher that chatters on its stdout, then opens the URL (appended as $1).
    const chatty = `sh -c 'echo BROWSER-SAYS-HI; echo BROWSER-ERR >&2; exec ${process.execPath} --import tsx ${BROWSER} --log ${sb.browserLog} "$1"' sh`;
    const r = await run(BIN.oidcCred, ['token', '--issuer', p.issuer, '--client-id', p.publicClientId, '--cache-dir', sb.cacheDir, '--browser-command', chatty], { env: sb.env });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^\S{20,}\n$/, 'only the token on stdout');
    assert.match(r.stderr, /BROWSER-SAYS-HI/);
    assert.match(r.stderr, /BROWSER-ERR/);
    sb.cleanup();
  });
});

describe('one login, one refresh (docs/architecture.md invariant)', () => {
  it('16 concurrent token processes with no session: one authorization, one code exchange, one browser, one token', async () => {
    const sb = fresh();
    const results = await Promise.all(Array.from({ length: 16 }, () => token(sb)));
    for (const r of results) assert.equal(r.code, 0, r.stderr);
    const tokens = new Set(results.map((r) => r.stdout));
    assert.equal(tokens.size, 1, 'all print the same token');
    assert.equal(p.counts.authorization, 1);
    assert.equal(p.counts.token.authorization_code, 1);
    assert.equal(sb.browserRuns().length, 1);
    const waiting = results.filter((r) => /waiting for another oidc-cred process/.test(r.stderr));
    for (const r of waiting) assert.equal(r.stderr.match(/waiting for another/g)!.length, 1, 'said once');
    sb.cleanup();
  });

  it('16 concurrent processes with an expiring token and rotation on: exactly one refresh, no invalid_grant, and the newest refresh token still works', async () => {
    const sb = fresh();
    assert.equal((await token(sb)).code, 0);
    const before = JSON.parse(readFileSync(sessionFile(sb), 'utf8')) as Record<string, string>;
    editSession(sb, expiringSoon);
    p.resetCounts();
    const results = await Promise.all(Array.from({ length: 16 }, () => token(sb, ['--non-interactive'])));
    for (const r of results) assert.equal(r.code, 0, r.stderr);
    assert.equal(new Set(results.map((r) => r.stdout)).size, 1);
    assert.notEqual(results[0]!.stdout.trim(), before.access_token, 'a new access token');
    assert.equal(p.counts.token.refresh_token, 1, 'exactly one refresh');
    assert.equal(p.counts.tokenErrors.invalid_grant ?? 0, 0);
    assert.equal(p.counts.authorization, 0, 'no login');
    const after1 = JSON.parse(readFileSync(sessionFile(sb), 'utf8')) as Record<string, string>;
    assert.notEqual(after1.refresh_token, before.refresh_token, 'the rotated refresh token was saved');

    // The newest refresh token works: refresh once more, non-interactively.
    editSession(sb, expiringSoon);
    const again = await token(sb, ['--non-interactive']);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(p.counts.token.refresh_token, 2);
    assert.equal(p.counts.tokenErrors.invalid_grant ?? 0, 0);
    sb.cleanup();
  });

  it('a failed login fails the processes that waited for it, without a login of their own', async () => {
    const sb = fresh();
    // The first process opens a browser that never completes; its login times out after 4 s.
    const holder = token(sb, ['--timeout', '4'], { browserFlags: '--stop-at-provider' });
    await waitFor(() => lockExists(sb), 15_000, 'the first process to take the lock');
    const waiters = await Promise.all(Array.from({ length: 3 }, () => token(sb, ['--timeout', '30'])));
    const h = await holder;
    assert.equal(h.code, 1);
    assert.match(h.stderr, /did not complete within 4 seconds/);
    for (const w of waiters) {
      assert.equal(w.code, 1, w.stderr);
      assert.match(w.stderr, /login in another oidc-cred process failed: .*did not complete within 4 seconds/);
      assert.equal(w.stdout, '');
    }
    assert.equal(sb.browserRuns().length, 1, 'no waiter opened a browser');
    assert.equal(p.counts.authorization, 1);
    sb.cleanup();
  });
});

describe('refresh failures', () => {
  it('invalid_grant on refresh → a new login; with --non-interactive → exit 1 with advice and no browser', async () => {
    const sb = fresh();
    assert.equal((await token(sb)).code, 0);
    const poison = (s: Record<string, unknown>): void => {
      expiringSoon(s);
      s.refresh_token = 'not-a-refresh-token-the-provider-knows';
    };
    editSession(sb, poison);
    const ni = await token(sb, ['--non-interactive']);
    assert.equal(ni.code, 1);
    assert.equal(ni.stdout, '');
    assert.match(ni.stderr, /oidc-cred login/);
    assert.equal(ni.stderr.trim().split('\n').length, 1, ni.stderr);
    assert.equal(sb.browserRuns().length, 1, 'no browser for --non-interactive');
    assert.equal(p.counts.tokenErrors.invalid_grant, 1);
    const kept = JSON.parse(readFileSync(sessionFile(sb), 'utf8')) as Record<string, unknown>;
    assert.equal(kept.refresh_token, undefined, 'the rejected refresh token was dropped');

    editSession(sb, poison);
    const interactive = await token(sb);
    assert.equal(interactive.code, 0, interactive.stderr);
    assert.equal(p.counts.authorization, 2, 'a new login');
    assert.match(interactive.stderr, /no longer accepts the refresh token/);
    sb.cleanup();
  });
});

describe('the callback', () => {
  it('a callback with a forged state gets a 4xx and the real callback still completes', async () => {
    const sb = fresh();
    const r = await token(sb, [], { browserFlags: '--forge-state' });
    assert.equal(r.code, 0, r.stderr);
    assert.match(sb.browserRuns()[0]!, /forged=400/);
    assert.ok(await p.userinfo(r.stdout.trim()));
    sb.cleanup();
  });

  it('error=access_denied → exit 1 naming the reason, nothing cached', async () => {
    const sb = fresh();
    p.mode = 'deny';
    const r = await token(sb);
    p.mode = 'approve';
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /access_denied/);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    const files = existsSync(sb.cacheDir) ? readdirSync(sb.cacheDir).filter((f) => /^[0-9a-f]{64}\.json$/.test(f)) : [];
    assert.deepEqual(files, [], 'nothing cached');
    sb.cleanup();
  });
});

describe('signals and dead lock holders', () => {
  it('SIGKILL of the process holding the lock mid-login → the next invocation succeeds within 30 s', async (t) => {
    const sb = fresh();
    const holder = token(sb, [], { browserFlags: '--stop-at-provider' });
    await waitFor(() => lockExists(sb), 15_000, 'the lock');
    // Find and kill the holder: it is the only oidc-cred child running for this sandbox.
    const { execFileSync } = await import('node:child_process');
    const pids = execFileSync('pgrep', ['-f', `${sb.cacheDir} `]).toString().trim().split('\n').map(Number);
    for (const pid of pids) process.kill(pid, 'SIGKILL');
    const killed = await holder;
    assert.equal(killed.signal, 'SIGKILL');
    assert.ok(lockExists(sb), 'the dead holder left its lock behind');
    const next = await run(BIN.oidcCred, ['token', ...sb.args()], { env: sb.env, timeoutMs: 45_000 });
    assert.equal(next.code, 0, next.stderr);
    assert.ok(next.ms < 30_000, `took over the stale lock in ${next.ms} ms`);
    t.diagnostic(`lock of a killed holder taken over, login done and token printed ${next.ms} ms after the next invocation started`);
    sb.cleanup();
  });

  it('SIGINT → exit 130, and the next invocation is not kept waiting', async () => {
    const sb = fresh();
    let child: import('node:child_process').ChildProcess | undefined;
    const holder = run(BIN.oidcCred, ['token', ...sb.args('--stop-at-provider')], { env: sb.env, onSpawn: (c) => (child = c) });
    await waitFor(() => lockExists(sb) && sb.browserRuns().length === 1, 15_000, 'the login to start');
    child!.kill('SIGINT');
    const h = await holder;
    assert.equal(h.code, 130, h.stderr);
    assert.match(h.stderr, /^oidc-cred: login cancelled$/m, "Ctrl-C is the user cancelling the login");
    assert.ok(!lockExists(sb), 'the lock was released');
    const next = await token(sb);
    assert.equal(next.code, 0, next.stderr);
    assert.doesNotMatch(next.stderr, /waiting for another/);
    sb.cleanup();
  });
});

describe('a broken cache', () => {
  it('a corrupt cache file → a new login, no crash', async () => {
    const sb = fresh();
    assert.equal((await token(sb)).code, 0);
    writeFileSync(sessionFile(sb), '{"version":1,"issuer":', { mode: 0o600 });
    const r = await token(sb);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(p.counts.authorization, 2);
    assert.doesNotThrow(() => JSON.parse(readFileSync(sessionFile(sb), 'utf8')), 'replaced by a whole file');
    sb.cleanup();
  });

  it('a group-readable cache file is refused with advice', async () => {
    const sb = fresh();
    assert.equal((await token(sb)).code, 0);
    chmodSync(sessionFile(sb), 0o640);
    const r = await token(sb);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /readable by other users.*chmod 600/);
    assert.equal(r.stderr.trim().split('\n').length, 1);
    assert.equal(p.counts.authorization, 1, 'no new login over a refused file');
    sb.cleanup();
  });
});

describe('broken providers', () => {
  const servers: Server[] = [];
  after(() => {
    for (const s of servers) s.closeAllConnections();
    return Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  });
  async function mock(handler: (path: string, res: import('node:http').ServerResponse, base: string) => void): Promise<string> {
    let base = '';
    const server = createServer((req, res) => handler(req.url ?? '/', res, base));
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return base;
  }
  async function expectOneLineFailure(issuer: string, pattern: RegExp, sbExtra: string[] = []): Promise<void> {
    const sb = sandbox(p);
    const r = await run(BIN.oidcCred, ['token', '--issuer', issuer, '--client-id', 'x', '--cache-dir', sb.cacheDir, '--browser-command', sb.browserCommand(), ...sbExtra], {
      env: sb.env,
      timeoutMs: 40_000,
    });
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
    assert.match(r.stderr, /^oidc-cred: /);
    assert.match(r.stderr, pattern);
    assert.doesNotMatch(r.stderr, /\bat .*\.(m?js|ts):\d+/, 'no stack trace');
    assert.ok(r.ms < 20_000, `failed within 20 s (took ${r.ms} ms)`);
    assert.equal(sb.browserRuns().length, 0, 'no browser for a broken provider');
    sb.cleanup();
  }

  it('unreachable', async () => {
    const base = await mock(() => undefined);
    const closed = servers.pop()!;
    await new Promise((r) => closed.close(r));
    await expectOneLineFailure(base, /no answer from http:\/\/127\.0\.0\.1:\d+.*ECONNREFUSED/);
  });

  it('answers 500', async () => {
    const base = await mock((_path, res) => {
      res.writeHead(500, { 'Content-Type': 'text/plain' });
      res.end('internal error');
    });
    await expectOneLineFailure(base, /metadata.*HTTP 500/);
  });

  it('answers an HTML page', async () => {
    const base = await mock((_path, res) => {
      res.writeHead(200, { 'Content-Type': 'text/html' });
      res.end('<html><body>Sign in to the corporate proxy</body></html>');
    });
    await expectOneLineFailure(base, /metadata.*text\/html instead of JSON/);
  });

  it('answers nothing (a hang)', async () => {
    const base = await mock(() => undefined /* never respond */);
    await expectOneLineFailure(base, /timed out/);
  });

  it('token endpoint answers an HTML 502 during refresh', async () => {
    const base = await mock((path, res, b) => {
      if (path.startsWith('/.well-known/openid-configuration')) {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ issuer: b, authorization_endpoint: `${b}/auth`, token_endpoint: `${b}/token`, jwks_uri: `${b}/jwks`, response_types_supported: ['code'] }));
        return;
      }
      res.writeHead(502, { 'Content-Type': 'text/html' });
      res.end('<html>Bad gateway</html>');
    });
    // Seed a session whose access token is expired but whose refresh token would be used.
    const sb = sandbox(p);
    const first = await run(BIN.oidcCred, ['token', '--issuer', base, '--client-id', 'x', '--cache-dir', sb.cacheDir, '--non-interactive'], { env: sb.env });
    assert.equal(first.code, 1);
    const { sessionKey } = await import('../../src/cache/store.ts');
    const key = sessionKey({ issuer: base, clientId: 'x', params: {}, grant: 'user' });
    const now = Date.now();
    writeFileSync(
      join(sb.cacheDir, `${key}.json`),
      JSON.stringify({ version: 1, key, issuer: base, client_id: 'x', grant: 'user', access_token: 'old-access-token-0000', refresh_token: 'some-refresh-token-0000', expires_at: new Date(now - 1000).toISOString(), obtained_at: new Date(now - 3600_000).toISOString() }),
      { mode: 0o600 },
    );
    const r = await run(BIN.oidcCred, ['token', '--issuer', base, '--client-id', 'x', '--cache-dir', sb.cacheDir, '--non-interactive'], { env: sb.env, timeoutMs: 40_000 });
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^oidc-cred: could not refresh the token: the provider answered HTTP 502 \(text\/html\)/);
    assert.equal(r.stderr.trim().split('\n').length, 1);
    const kept = JSON.parse(readFileSync(join(sb.cacheDir, `${key}.json`), 'utf8')) as Record<string, unknown>;
    assert.equal(kept.refresh_token, 'some-refresh-token-0000', 'a provider outage does not lose the refresh token');
    sb.cleanup();
  });
});

describe('secrets', () => {
  it('-v output has debug lines and never a token; the tokens are checked against every stderr', async () => {
    const sb = fresh();
    const r = await token(sb, ['-v']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /oidc-cred\[debug\] POST http:\/\/127\.0\.0\.1:\d+\/token/);
    const tok = r.stdout.trim();
    assert.ok(!r.stderr.includes(tok));
    const s = JSON.parse(readFileSync(sessionFile(sb), 'utf8')) as Record<string, string>;
    for (const t of [onlyApi(s).access_token as string, s.id_token, s.refresh_token]) assert.ok(t && !r.stderr.includes(t));
    sb.cleanup();
  });
});
