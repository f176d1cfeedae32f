import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, mkdtempSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { apiKey, bootClock, cachePaths, legacySessionKey, parseSession, readSession, sessionKey, writeSession, type ApiToken, type CachedSession } from '../../src/cache/store.ts';
import { freshToken as validToken } from '../../src/session/lifetime.ts';
import { CacheError } from '../../src/errors.ts';

const base = { issuer: 'https://idp.example', clientId: 'c', grant: 'user' as const };

describe('session key', () => {
  it('is the same whatever the order of params', () => {
    const a = sessionKey({ ...base, params: { a: '1', b: '2' } });
    const b = sessionKey({ ...base, params: { b: '2', a: '1' } });
    assert.equal(a, b);
    assert.match(a, /^[0-9a-f]{64}$/);
  });
  it('differs for every field that makes another login, and only for those', () => {
    const k = (o: Partial<Parameters<typeof sessionKey>[0]>): string => sessionKey({ ...base, params: {}, ...o });
    const keys = [k({}), k({ issuer: 'https://other' }), k({ clientId: 'd' }), k({ params: { organization: 'o' } }), k({ grant: 'client-credentials' })];
    assert.equal(new Set(keys).size, keys.length);
  });
  it('an API is (audience, sorted resources, sorted scopes) inside the session', () => {
    const a = apiKey({ audience: 'A', resources: ['r2', 'r1'], scopes: ['openid', 'email'] });
    assert.equal(a, apiKey({ audience: 'A', resources: ['r1', 'r2', 'r1'], scopes: ['email', 'openid'] }));
    const keys = [a, apiKey({ audience: 'B', resources: ['r1', 'r2'], scopes: ['email', 'openid'] }), apiKey({ audience: 'A', resources: ['r1'], scopes: ['email', 'openid'] }), apiKey({ audience: 'A', resources: ['r1', 'r2'], scopes: ['openid'] })];
    assert.equal(new Set(keys).size, keys.length);
  });
});

const A = apiKey({ audience: undefined, resources: [], scopes: ['openid', 'offline_access'] });
const API_FIELDS = ['access_token', 'token_type', 'expires_at', 'obtained_at', 'boot_id', 'uptime_at'] as const;

/** A session with one API (A); the API's fields may be given at the top level. */
function session(over: Partial<CachedSession> & Partial<ApiToken> = {}): CachedSession {
  const now = Date.now();
  const api: ApiToken = { resources: [], scopes: ['offline_access', 'openid'], access_token: 'at', expires_at: new Date(now + 3600_000).toISOString(), obtained_at: new Date(now).toISOString() };
  const top: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(over)) {
    if ((API_FIELDS as readonly string[]).includes(k)) (api as unknown as Record<string, unknown>)[k] = v;
    if (k !== 'access_token' && k !== 'expires_at' && k !== 'token_type') top[k] = v;
  }
  return { version: 2, key: 'k', issuer: 'https://idp', client_id: 'c', grant: 'user', obtained_at: api.obtained_at, apis: { [A]: api }, ...top } as CachedSession;
}

describe('the cache file', () => {
  it('is written atomically with mode 0600 in a 0700 directory, even under a permissive umask', () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'oidc-cred-store-')), 'cache');
    const old = process.umask(0o000);
    try {
      const paths = cachePaths(dir, 'k');
      writeSession(paths, session());
      assert.equal(statSync(dir).mode & 0o777, 0o700);
      assert.equal(statSync(paths.file).mode & 0o777, 0o600);
      assert.deepEqual(readdirSync(dir), ['k.json'], 'no temp file left behind');
      const r = readSession(paths.file, 'k');
      assert.ok('session' in r && r.session.apis[A]?.access_token === 'at');
    } finally {
      process.umask(old);
    }
  });
  it('a file others can read is refused with advice; a symlink is refused', () => {
    const dir = mkdtempSync(join(tmpdir(), 'oidc-cred-store-'));
    const paths = cachePaths(dir, 'k');
    writeSession(paths, session());
    chmodSync(paths.file, 0o644);
    assert.throws(() => readSession(paths.file), (e: unknown) => e instanceof CacheError && /chmod 600/.test(e.hint ?? ''));
    const target = join(dir, 'elsewhere.json');
    writeFileSync(target, JSON.stringify(session()), { mode: 0o600 });
    const link = join(dir, 'link.json');
    symlinkSync(target, link);
    assert.throws(() => readSession(link), /symbolic link/);
  });
  it('a FIFO planted as the session file is refused at once, not waited on (issue 10 item 8)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'oidc-cred-store-'));
    const paths = cachePaths(dir, 'k');
    execFileSync('mkfifo', ['-m', '600', paths.file]);
    // Without O_NONBLOCK this open(2) waits for a writer forever (the whole test run hangs).
    assert.throws(() => readSession(paths.file, 'k'), /not a regular file/);
  });
  it('the cache directory is checked on every read: open to others is a miss, another user’s is refused', () => {
    const dir = mkdtempSync(join(tmpdir(), 'oidc-cred-store-'));
    const paths = cachePaths(dir, 'k');
    writeSession(paths, session());
    assert.ok('session' in readSession(paths.file, 'k'));
    chmodSync(dir, 0o755);
    assert.deepEqual(readSession(paths.file, 'k'), { miss: 'the cache directory is open to other users' });
    chmodSync(dir, 0o700);
    if (process.getuid?.() === 0) {
      chownSync(dir, 65534, 65534);
      assert.throws(() => readSession(paths.file, 'k'), /cache directory .* belongs to another user \(uid 65534\)/);
      chownSync(dir, 0, 0);
    }
  });
  it('corrupt, unknown-version or foreign files are a miss, never a crash', () => {
    for (const text of ['', '{', 'null', '[]', '{"version":2}', JSON.stringify({ ...session(), version: 99 }), JSON.stringify({ ...session(), apis: { [A]: { ...session().apis[A], access_token: 5 } } }), JSON.stringify({ ...session(), apis: null })]) {
      assert.ok('miss' in parseSession(text), text);
    }
    assert.ok('miss' in parseSession(JSON.stringify(session({ key: 'other' })), 'k'));
  });
});

describe('format 1 (one file per audience and scopes)', () => {
  const now = Date.now();
  const v1 = (over: Record<string, unknown> = {}): string =>
    JSON.stringify({ version: 1, key: 'old', issuer: 'https://idp', client_id: 'c', grant: 'user', access_token: 'old-at', id_token: 'old-id', refresh_token: 'old-rt', expires_at: new Date(now + 3600_000).toISOString(), id_token_expires_at: new Date(now + 3600_000).toISOString(), obtained_at: new Date(now).toISOString(), ...over });
  it('found under its own key: the refresh and ID tokens become the session\'s, the access token that API\'s', () => {
    const spec = { audience: 'https://git', resources: [], scopes: ['offline_access', 'openid'] };
    const r = parseSession(v1(), 'old', { ...spec, key: apiKey(spec) });
    assert.ok('session' in r);
    assert.equal(r.session.version, 2);
    assert.equal(r.session.refresh_token, 'old-rt');
    assert.equal(r.session.id_token, 'old-id');
    assert.equal(r.session.apis[apiKey(spec)]?.access_token, 'old-at');
    assert.equal(r.session.apis[apiKey(spec)]?.audience, 'https://git');
    assert.ok(validToken(r.session, 'access', apiKey(spec), now, 60));
    assert.ok(validToken(r.session, 'id', apiKey(spec), now, 60), 'the ID token keeps its receipt time');
  });
  it('of unknown API: the refresh token is kept, the access token dropped (one refresh brings it back); broken ones are a miss', () => {
    const r = parseSession(v1(), 'old');
    assert.ok('session' in r);
    assert.deepEqual(r.session.apis, {});
    assert.equal(r.session.refresh_token, 'old-rt');
    assert.ok('miss' in parseSession(v1({ refresh_token: 7 }), 'old'));
    assert.ok('miss' in parseSession(v1({ issuer: undefined }), 'old'));
    assert.ok('miss' in parseSession(v1(), 'another-key'));
  });
  it('the format-1 key differs from the session key: the new file never shadows an old one', () => {
    assert.notEqual(legacySessionKey({ ...base, params: {}, audience: undefined, scopes: ['openid', 'offline_access'] }), sessionKey({ ...base, params: {} }));
  });
});

describe('validity', () => {
  const now = Date.parse('2026-01-01T00:00:00Z');
  const s = session({ expires_at: '2026-01-01T00:05:00Z', obtained_at: '2025-12-31T23:00:00Z' });
  it('honours --min-valid', () => {
    assert.ok(validToken(s, 'access', A, now, 60));
    assert.equal(validToken(s, 'access', A, now, 301), undefined);
    assert.equal(validToken(s, 'id', A, now, 0), undefined, 'no ID token');
  });
  it('a token "obtained" far in the future means the clock jumped back: not trusted', () => {
    assert.equal(validToken(session({ expires_at: '2026-01-01T02:00:00Z', obtained_at: '2026-01-01T01:00:00Z' }), 'access', A, now, 60), undefined);
  });
});

describe('clock jumps (boot clock)', () => {
  const boot = { id: 'boot-1', uptime: 10_000 };
  const now = Date.parse('2026-01-01T12:00:00Z');
  // Obtained at `now` by the wall clock, uptime 10 000 s; lifetime one hour.
  const s = session({ obtained_at: new Date(now).toISOString(), expires_at: new Date(now + 3600_000).toISOString(), boot_id: 'boot-1', uptime_at: 10_000 });
  it('a wall clock set back two hours does not make an expired token valid', () => {
    // Two hours have really passed (uptime), but the wall clock says it is still `now`.
    assert.equal(validToken(s, 'access', A, now, 60, { id: 'boot-1', uptime: 10_000 + 7200 }), undefined);
  });
  it('a wall clock set forward only costs a refresh: the monotonic view is the stricter one, not looser', () => {
    assert.ok(validToken(s, 'access', A, now + 600_000, 60, { id: 'boot-1', uptime: 10_000 + 600 }));
    assert.equal(validToken(s, 'access', A, now + 7200_000, 60, { id: 'boot-1', uptime: 10_000 + 600 }), undefined);
  });
  it('after a reboot only the wall clock counts', () => {
    assert.ok(validToken(s, 'access', A, now + 600_000, 60, { id: 'boot-2', uptime: 5 }));
  });
  it('the real boot clock reads on Linux and never goes back', (t) => {
    if (process.platform !== 'linux') return t.skip('Linux only');
    const a = bootClock();
    const b = bootClock();
    assert.match(a!.id, /^[0-9a-f-]{36}$/);
    assert.ok(a!.uptime > 0 && b!.uptime >= a!.uptime);
    void boot;
  });
});
