// The token lifecycle with real processes against the real provider: short lifetimes that real
// providers issue (Keycloak and Okta often give 1–5 minute tokens), a holder stopped past the
// stale time, a holder killed while it holds the lock. Every claim counts what the provider saw.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { startProvider, type TestProvider } from '../../demo/provider.ts';
import { BIN, run, sandbox, trackLeaks, waitFor, type RunResult, type Sandbox } from '../support/cli.ts';

const providers: TestProvider[] = [];
after(() => Promise.all(providers.map((p) => p.close())));
async function provider(opts: Parameters<typeof startProvider>[0]): Promise<TestProvider> {
  const p = await startProvider(opts);
  trackLeaks(p);
  providers.push(p);
  return p;
}

function sessionFile(sb: Sandbox): string {
  const files = existsSync(sb.cacheDir) ? readdirSync(sb.cacheDir).filter((f) => /^[0-9a-f]{64}\.json$/.test(f)) : [];
  assert.equal(files.length, 1, `expected one session file, found ${files.join(', ') || 'none'}`);
  return join(sb.cacheDir, files[0]!);
}
const readSessionFile = (sb: Sandbox): Record<string, unknown> => JSON.parse(readFileSync(sessionFile(sb), 'utf8')) as Record<string, unknown>;

/** Makes the session's tokens look `seconds` older, as if that much time had passed (both clocks). */
function age(sb: Sandbox, seconds: number): void {
  const s = readSessionFile(sb);
  const back = (k: string): void => {
    if (typeof s[k] === 'string') s[k] = new Date(Date.parse(s[k] as string) - seconds * 1000).toISOString();
  };
  for (const k of ['expires_at', 'obtained_at', 'id_token_expires_at', 'id_token_obtained_at']) back(k);
  for (const k of ['uptime_at', 'id_token_uptime_at']) if (typeof s[k] === 'number') s[k] = (s[k] as number) - seconds;
  // Each API's access token (docs/cache.md) ages too.
  for (const a of Object.values(s.apis as Record<string, Record<string, unknown>>)) {
    for (const k of ['expires_at', 'obtained_at']) if (typeof a[k] === 'string') a[k] = new Date(Date.parse(a[k] as string) - seconds * 1000).toISOString();
    if (typeof a.uptime_at === 'number') a.uptime_at -= seconds;
  }
  writeFileSync(sessionFile(sb), JSON.stringify(s), { mode: 0o600 });
}

const token = (sb: Sandbox, extra: string[] = [], onSpawn?: (c: ChildProcess) => void): Promise<RunResult> =>
  run(BIN.oidcCred, ['token', ...sb.args(), ...extra], { env: sb.env, ...(onSpawn ? { onSpawn } : {}) });

describe('lifetimes that real providers issue', () => {
  it('60 s access tokens with the default --min-valid 60: one login, then a refresh at 30 s left, never a browser again', async () => {
    const p = await provider({ accessTokenTTL: 60 });
    const sb = sandbox(p);
    assert.equal((await token(sb)).code, 0);
    assert.equal(sb.browserRuns().length, 1);
    p.resetCounts();
    const again = await token(sb);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(p.counts.requests, 0, 'a 60 s token just issued is good: no request');
    for (let i = 1; i <= 6; i++) {
      age(sb, 35); // 25 s left: inside the margin of 30 s
      const r = await token(sb);
      assert.equal(r.code, 0, r.stderr);
      assert.doesNotMatch(r.stderr, /logging in again/);
      assert.equal(p.counts.token.refresh_token, i, `refresh ${i}`);
      assert.equal(p.counts.authorization, 0, 'never a login');
      const hit = await token(sb);
      assert.equal(hit.stdout, r.stdout, 'the refreshed token is used by the next call');
      assert.equal(p.counts.token.refresh_token, i, 'and the next call makes no request');
    }
    assert.equal(sb.browserRuns().length, 1, 'one browser in all');
    sb.cleanup();
  });

  it('4 s access tokens in real time: many calls, one browser, refreshes as they age', async () => {
    const p = await provider({ accessTokenTTL: 4 });
    const sb = sandbox(p);
    const started = Date.now();
    let calls = 0;
    while (Date.now() - started < 9_000) {
      const r = await token(sb);
      assert.equal(r.code, 0, r.stderr);
      calls++;
    }
    assert.ok(calls >= 5, `calls: ${calls}`);
    assert.equal(sb.browserRuns().length, 1);
    assert.equal(p.counts.authorization, 1);
    assert.ok((p.counts.token.refresh_token ?? 0) >= 2, `refreshes: ${JSON.stringify(p.counts.token)}`);
    sb.cleanup();
  });

  it('--min-valid 100000 never opens a browser after the first login', async () => {
    const p = await provider({});
    const sb = sandbox(p);
    assert.equal((await token(sb, ['--min-valid', '100000'])).code, 0);
    p.resetCounts();
    assert.equal((await token(sb, ['--min-valid', '100000'])).code, 0);
    assert.equal(p.counts.requests, 0, 'the new token is good for half its hour');
    for (let i = 1; i <= 3; i++) {
      age(sb, 2000);
      const r = await token(sb, ['--min-valid', '100000']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(p.counts.token.refresh_token, i);
    }
    assert.equal(p.counts.authorization, 0);
    assert.equal(sb.browserRuns().length, 1);
    sb.cleanup();
  });

  it('kube with 90 s ID tokens never opens a browser after the first login', async () => {
    const p = await provider({ idTokenTTL: 90 });
    const sb = sandbox(p);
    const kube = (): Promise<RunResult> =>
      run(BIN.oidcCred, ['kube', ...sb.args()], { env: { ...sb.env, KUBERNETES_EXEC_INFO: JSON.stringify({ apiVersion: 'client.authentication.k8s.io/v1', kind: 'ExecCredential', spec: { interactive: false } }) } });
    const first = await kube();
    assert.equal(first.code, 0, first.stderr);
    p.resetCounts();
    assert.equal((await kube()).code, 0);
    assert.equal(p.counts.requests, 0);
    for (let i = 1; i <= 4; i++) {
      age(sb, 40); // the ID token counts 60 s from receipt (90 s less the 30 s skew): 20 s left, margin 30 s
      const r = await kube();
      assert.equal(r.code, 0, r.stderr);
      const cred = JSON.parse(r.stdout) as { status: { token: string } };
      assert.ok(cred.status.token.startsWith('eyJ'));
      assert.equal(p.counts.token.refresh_token, i);
    }
    assert.equal(p.counts.authorization, 0);
    assert.equal(sb.browserRuns().length, 1);
    sb.cleanup();
  });
});

describe('a lock that is lost is not trusted', () => {
  it('a holder stopped past the stale time does not use its refresh token: no reuse at the rotating provider, the newer session is kept', async () => {
    const p = await provider({ rotateRefreshToken: true });
    const sb = sandbox(p);
    assert.equal((await token(sb)).code, 0);
    age(sb, 3590);
    // Without cached metadata the holder's first request is discovery: park it there, with the
    // lock held and the refresh token read, and stop the holder.
    for (const f of readdirSync(sb.cacheDir)) if (f.startsWith('provider-')) rmSync(join(sb.cacheDir, f));
    p.resetCounts();
    const parked = p.hold('/.well-known/openid-configuration');
    let holder: ChildProcess | undefined;
    const a = token(sb, ['--non-interactive'], (c) => (holder = c));
    await waitFor(() => parked.parked() === 1, 30_000, 'the holder to ask for discovery');
    holder!.kill('SIGSTOP');
    parked.release();
    const lockDir = sessionFile(sb).replace(/\.json$/, '.lock');
    assert.ok(existsSync(lockDir), 'the stopped process holds the lock');
    // Its lock goes stale (nobody touches it while the holder is stopped).
    await waitFor(() => statSync(lockDir).mtimeMs < Date.now() - 10_500, 30_000, 'the lock to go stale');
    const b = await token(sb, ['--non-interactive', '-v']);
    assert.equal(b.code, 0, b.stderr);
    assert.match(b.stderr, /took over the session lock: its holder \(pid \d+\) is stopped/);
    assert.equal(p.counts.token.refresh_token, 1, 'the taker refreshed once');
    const rtAfterB = readSessionFile(sb).refresh_token;
    holder!.kill('SIGCONT');
    const ra = await a;
    assert.equal(ra.code, 0, ra.stderr);
    assert.match(ra.stderr, /took over the session lock while this one was stopped; starting over/);
    assert.equal(ra.stdout, b.stdout, 'the resumed holder hands over the newer session’s token');
    assert.equal(p.counts.token.refresh_token, 1, 'the resumed holder sent no refresh: the old refresh token was not reused');
    assert.equal(p.counts.tokenErrors.invalid_grant ?? 0, 0);
    assert.equal(readSessionFile(sb).refresh_token, rtAfterB, 'the newer session was not overwritten');
    // The grant is alive: the newest refresh token still works.
    age(sb, 3590);
    const c = await token(sb, ['--non-interactive']);
    assert.equal(c.code, 0, c.stderr);
    assert.equal(p.counts.tokenErrors.invalid_grant ?? 0, 0);
    assert.equal(p.counts.authorization, 0);
    sb.cleanup();
  });

  it('a holder killed while it holds the lock is taken over at once by a waiter on this host, not after the stale time', async () => {
    const p = await provider({});
    const sb = sandbox(p);
    // The holder's "browser" never completes the login: it holds the lock, waiting for a callback.
    let holder: ChildProcess | undefined;
    const a = run(BIN.oidcCred, ['token', '--issuer', p.issuer, '--client-id', p.publicClientId, '--cache-dir', sb.cacheDir, '--browser-command', 'true'], {
      env: sb.env,
      onSpawn: (c) => (holder = c),
    });
    await waitFor(() => p.counts.authorization === 0 && existsSync(sb.cacheDir) && readdirSync(sb.cacheDir).some((f) => f.endsWith('.lock') && existsSync(join(sb.cacheDir, f, 'owner.json'))), 30_000, 'the holder to take the lock');
    let said = '';
    const waiting = token(sb, ['-v'], (c) => c.stderr?.on('data', (d: Buffer | string) => (said += String(d))));
    await waitFor(() => /waiting for another oidc-cred process \(pid \d+/.test(said), 30_000, 'the waiter to wait');
    holder!.kill('SIGKILL');
    const killedAt = Date.now();
    await a;
    const r = await waiting;
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /took over the session lock: its holder \(pid \d+\) has exited/);
    // Not the 10 s stale timer (a generous bound: the login itself happens in this time too).
    assert.ok(Date.now() - killedAt < 9_000, `took ${Date.now() - killedAt} ms`);
    assert.equal(sb.browserRuns().length, 1, 'the waiter logged in once');
    sb.cleanup();
  });
});
