// Issue 6: signals during login, refresh and lock wait; clock jumps. Exit 130/143/129, the lock
// released, the loopback server closed, nothing lost.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startProvider, type TestProvider } from '../../demo/provider.ts';
import { sessionKey, bootClock } from '../../src/cache/store.ts';
import { BIN, run, sandbox, trackLeaks, waitFor, lockExists } from '../support/cli.ts';
import { startHostileOp, type HostileOp } from '../support/hostile-op.ts';
import { onlyApi } from '../support/session-file.ts';

let p: TestProvider;
let op: HostileOp;
before(async () => {
  p = await startProvider();
  trackLeaks(p);
  op = await startHostileOp();
});
after(async () => {
  await p.close();
  await op.close();
});

const portOpen = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.on('connect', () => (s.destroy(), resolve(true)));
    s.on('error', () => resolve(false));
  });

describe('signals', () => {
  for (const [sig, code] of [
    ['SIGTERM', 143],
    ['SIGHUP', 129],
  ] as const) {
    it(`${sig} during a login → exit ${code}, lock released, loopback server closed`, async () => {
      const sb = sandbox(p);
      let child: ChildProcess | undefined;
      const holder = run(BIN.oidcCred, ['token', ...sb.args('--stop-at-provider')], { env: sb.env, onSpawn: (c) => (child = c) });
      await waitFor(() => lockExists(sb) && sb.browserRuns().length === 1, 15_000, 'the login to start');
      const port = Number(/127\.0\.0\.1:(\d+)\/\?k=/.exec(sb.browserRuns()[0]!)?.[1]);
      assert.ok(await portOpen(port), 'the loopback server is listening during the login');
      child!.kill(sig);
      const h = await holder;
      assert.equal(h.code, code, h.stderr);
      assert.match(h.stderr, new RegExp(`interrupted by ${sig}`));
      assert.ok(!lockExists(sb), 'lock released');
      assert.equal(await portOpen(port), false, 'loopback server closed');
      sb.cleanup();
    });
  }

  it('SIGHUP to a process waiting for the lock → 129; the holder is unaffected', async () => {
    const sb = sandbox(p);
    // The holder's browser waits for `go`, so the login stays open for as long as the test needs.
    const go = join(sb.dir, 'go');
    const holder = run(BIN.oidcCred, ['token', ...sb.args(`--wait-for ${go}`)], { env: sb.env });
    await waitFor(() => lockExists(sb), 15_000, 'the holder to take the lock');
    let waiter: ChildProcess | undefined;
    let waiting = false;
    const w = run(BIN.oidcCred, ['token', ...sb.args()], {
      env: sb.env,
      onSpawn: (c) => {
        waiter = c;
        let seen = '';
        c.stderr?.on('data', (d: Buffer | string) => (waiting = /waiting for another oidc-cred process/.test((seen += d.toString()))));
      },
    });
    // The line is printed once the waiter polls the lock, after its signal handlers are installed.
    await waitFor(() => waiting, 30_000, 'the second process to say that it waits');
    waiter!.kill('SIGHUP');
    const wr = await w;
    assert.equal(wr.code, 129, wr.stderr);
    writeFileSync(go, '');
    const hr = await holder;
    assert.equal(hr.code, 0, hr.stderr);
    sb.cleanup();
  });

  it('SIGTERM during a refresh that hangs → 143, lock released, the refresh token kept', async () => {
    op.fault = 'refresh-hang';
    const sb = sandbox(p);
    mkdirSync(sb.cacheDir, { recursive: true, mode: 0o700 });
    const key = sessionKey({ issuer: op.issuer, clientId: 'c', params: {}, grant: 'user' });
    const now = Date.now();
    const file = join(sb.cacheDir, `${key}.json`);
    writeFileSync(file, JSON.stringify({ version: 1, key, issuer: op.issuer, client_id: 'c', grant: 'user', access_token: 'expired-access-token-000', refresh_token: 'the-refresh-token-0000', expires_at: new Date(now - 1000).toISOString(), obtained_at: new Date(now - 3600_000).toISOString() }), { mode: 0o600 });
    let child: ChildProcess | undefined;
    const r = run(BIN.oidcCred, ['token', '--issuer', op.issuer, '--client-id', 'c', '--cache-dir', sb.cacheDir, '--non-interactive'], { env: sb.env, onSpawn: (c) => (child = c) });
    await waitFor(() => op.requests.filter((x) => x === 'POST /token').length > 0, 15_000, 'the refresh request');
    child!.kill('SIGTERM');
    const res = await r;
    assert.equal(res.code, 143, res.stderr);
    assert.ok(!lockExists(sb));
    assert.equal((JSON.parse(readFileSync(file, 'utf8')) as { refresh_token: string }).refresh_token, 'the-refresh-token-0000');
    op.fault = 'ok';
    sb.cleanup();
  });
});

describe('clock jumps', () => {
  it('a wall clock set back does not make an expired token valid: the boot clock says it expired, so it is refreshed', async (t) => {
    const boot = bootClock();
    if (!boot) return t.skip('no boot clock on this platform');
    p.resetCounts();
    const sb = sandbox(p);
    assert.equal((await run(BIN.oidcCred, ['token', ...sb.args()], { env: sb.env })).code, 0);
    const file = join(sb.cacheDir, readdirSync(sb.cacheDir).find((f) => /^[0-9a-f]{64}\.json$/.test(f))!);
    const s = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    assert.equal(s.boot_id, boot.id, 'the boot clock is recorded');
    // As if the token arrived two hours of real (boot) time ago and the wall clock was then
    // set back by two hours: by the wall clock it looks brand new.
    onlyApi(s).uptime_at = (onlyApi(s).uptime_at as number) - 7200;
    writeFileSync(file, JSON.stringify(s), { mode: 0o600 });
    const r = await run(BIN.oidcCred, ['token', ...sb.args(), '--non-interactive'], { env: sb.env });
    assert.equal(r.code, 0, r.stderr);
    assert.notEqual(r.stdout.trim(), onlyApi(s).access_token);
    assert.equal(p.counts.token.refresh_token, 1);
    sb.cleanup();
  });
});
