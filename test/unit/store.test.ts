import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, mkdtempSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { bootClock, cachePaths, parseSession, readSession, sessionKey, writeSession, type CachedSession } from '../../src/cache/store.ts';
import { freshToken as validToken } from '../../src/session/lifetime.ts';
import { CacheError } from '../../src/errors.ts';

const base = { issuer: 'https://idp.example', clientId: 'c', audience: undefined, grant: 'user' as const };

describe('session key', () => {
  it('is the same whatever the order of scopes and params', () => {
    const a = sessionKey({ ...base, scopes: ['openid', 'email'], params: { a: '1', b: '2' } });
    const b = sessionKey({ ...base, scopes: ['email', 'openid', 'email'], params: { b: '2', a: '1' } });
    assert.equal(a, b);
    assert.match(a, /^[0-9a-f]{64}$/);
  });
  it('differs for every field that makes another session', () => {
    const k = (o: Partial<Parameters<typeof sessionKey>[0]>): string => sessionKey({ ...base, scopes: ['openid'], params: {}, ...o });
    const keys = [k({}), k({ issuer: 'https://other' }), k({ clientId: 'd' }), k({ audience: 'api' }), k({ scopes: ['openid', 'x'] }), k({ params: { organization: 'o' } }), k({ grant: 'client-credentials' })];
    assert.equal(new Set(keys).size, keys.length);
  });
});

function session(over: Partial<CachedSession> = {}): CachedSession {
  const now = Date.now();
  return { version: 1, key: 'k', issuer: 'https://idp', client_id: 'c', grant: 'user', access_token: 'at', expires_at: new Date(now + 3600_000).toISOString(), obtained_at: new Date(now).toISOString(), ...over };
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
      assert.ok('session' in r && r.session.access_token === 'at');
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
    for (const text of ['', '{', 'null', '[]', '{"version":2}', JSON.stringify({ ...session(), version: 99 }), JSON.stringify({ ...session(), access_token: 5 })]) {
      assert.ok('miss' in parseSession(text), text);
    }
    assert.ok('miss' in parseSession(JSON.stringify(session({ key: 'other' })), 'k'));
  });
});

describe('validity', () => {
  const now = Date.parse('2026-01-01T00:00:00Z');
  const s = session({ expires_at: '2026-01-01T00:05:00Z', obtained_at: '2025-12-31T23:00:00Z' });
  it('honours --min-valid', () => {
    assert.ok(validToken(s, 'access', now, 60));
    assert.equal(validToken(s, 'access', now, 301), undefined);
    assert.equal(validToken(s, 'id', now, 0), undefined, 'no ID token');
  });
  it('a token "obtained" far in the future means the clock jumped back: not trusted', () => {
    assert.equal(validToken(session({ expires_at: '2026-01-01T02:00:00Z', obtained_at: '2026-01-01T01:00:00Z' }), 'access', now, 60), undefined);
  });
});

describe('clock jumps (boot clock)', () => {
  const boot = { id: 'boot-1', uptime: 10_000 };
  const now = Date.parse('2026-01-01T12:00:00Z');
  // Obtained at `now` by the wall clock, uptime 10 000 s; lifetime one hour.
  const s = session({ obtained_at: new Date(now).toISOString(), expires_at: new Date(now + 3600_000).toISOString(), boot_id: 'boot-1', uptime_at: 10_000 });
  it('a wall clock set back two hours does not make an expired token valid', () => {
    // Two hours have really passed (uptime), but the wall clock says it is still `now`.
    assert.equal(validToken(s, 'access', now, 60, { id: 'boot-1', uptime: 10_000 + 7200 }), undefined);
  });
  it('a wall clock set forward only costs a refresh: the monotonic view is the stricter one, not looser', () => {
    assert.ok(validToken(s, 'access', now + 600_000, 60, { id: 'boot-1', uptime: 10_000 + 600 }));
    assert.equal(validToken(s, 'access', now + 7200_000, 60, { id: 'boot-1', uptime: 10_000 + 600 }), undefined);
  });
  it('after a reboot only the wall clock counts', () => {
    assert.ok(validToken(s, 'access', now + 600_000, 60, { id: 'boot-2', uptime: 5 }));
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
