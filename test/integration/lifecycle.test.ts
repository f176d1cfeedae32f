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

describe('one reading of argv and the environment', () => {
  it('--verbose false and OIDC_CRED_DEBUG=0 print no debug line; a profile\'s "verbose": true does, on a cache hit too, saying which profile and cache answered', async () => {
    const p = await provider({});
    const sb = sandbox(p);
    assert.equal((await token(sb)).code, 0);
    age(sb, 3590); // the next call refreshes: the full program runs
    const quiet = await token(sb, ['--verbose', 'false']);
    assert.equal(quiet.code, 0, quiet.stderr);
    assert.equal(p.counts.token.refresh_token, 1);
    assert.doesNotMatch(quiet.stderr, /oidc-cred\[debug\]/);
    age(sb, 3590);
    const quietEnv = await run(BIN.oidcCred, ['token', ...sb.args()], { env: { ...sb.env, OIDC_CRED_DEBUG: '0' } });
    assert.equal(quietEnv.code, 0, quietEnv.stderr);
    assert.doesNotMatch(quietEnv.stderr, /oidc-cred\[debug\]/);
    const config = join(sb.dir, 'config.json');
    writeFileSync(config, JSON.stringify({ 'default-profile': 'loud', profiles: { loud: { issuer: p.issuer, 'client-id': p.publicClientId, 'cache-dir': sb.cacheDir, verbose: true } } }), { mode: 0o600 });
    const requests = p.counts.requests;
    const loud = await run(BIN.oidcCred, ['token', '--config', config], { env: sb.env });
    assert.equal(loud.code, 0, loud.stderr);
    assert.equal(loud.stdout, quietEnv.stdout, 'the cached token');
    assert.equal(p.counts.requests, requests, 'a cache hit: no request');
    assert.match(loud.stderr, new RegExp(`^oidc-cred\\[debug\\] profile loud, cache ${sb.cacheDir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'));
    sb.cleanup();
  });

  it('the environment is no side channel: OIDC_CRED_KUBELOGIN_ERROR means nothing, a bad kubelogin flag is a usage error', async () => {
    const p = await provider({});
    const sb = sandbox(p);
    const execInfo = JSON.stringify({ apiVersion: 'client.authentication.k8s.io/v1', kind: 'ExecCredential', spec: { interactive: false } });
    const r = await run(BIN.oidcCred, ['kube', ...sb.args()], { env: { ...sb.env, KUBERNETES_EXEC_INFO: execInfo, OIDC_CRED_KUBELOGIN_ERROR: 'boom' } });
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /boom/);
    const bad = await run(BIN.oidcCred, ['get-token', '--oidc-issuer-url', p.issuer, '--oidc-client-id', p.publicClientId, '--grant-type', 'password'], { env: { ...sb.env, KUBERNETES_EXEC_INFO: execInfo } });
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /^oidc-cred: kubelogin --grant-type password is not supported by oidc-cred/m);
    assert.equal(bad.stdout, '');
    sb.cleanup();
  });
});

describe('a refresh costs one round trip', () => {
  it('discovery metadata is reused from the cache; metadata that went out of date is fetched again and the refresh still succeeds', async () => {
    const p = await provider({});
    const sb = sandbox(p);
    assert.equal((await token(sb)).code, 0);
    age(sb, 3590);
    p.resetCounts();
    const r = await token(sb, ['--non-interactive']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(p.counts.discovery, 0, 'no discovery: the metadata came from the cache');
    assert.equal(p.counts.requests, 1, 'one request: the refresh');
    // The provider "moved" its token endpoint: the cached metadata now points at a 404.
    const meta = join(sb.cacheDir, readdirSync(sb.cacheDir).find((f) => f.startsWith('provider-'))!);
    const m = JSON.parse(readFileSync(meta, 'utf8')) as { metadata: Record<string, unknown> };
    m.metadata.token_endpoint = `${p.issuer}/moved-away`;
    writeFileSync(meta, JSON.stringify(m), { mode: 0o600 });
    age(sb, 3590);
    p.resetCounts();
    const again = await token(sb, ['--non-interactive']);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(p.counts.discovery, 1, 'fetched again after the 404');
    assert.equal(p.counts.token.refresh_token, 1, 'then the refresh at the real endpoint');
    assert.equal(p.counts.authorization, 0);
    sb.cleanup();
  });
});
