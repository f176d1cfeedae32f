// The session store with its refresh token in the OS credential store (src/cache/keyring.ts,
// docs/keyring.md), over a real cache directory and a fake credential store that counts what it
// is asked and can be made unreachable. The real Secret Service is in
// test/integration/keyring.test.ts.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { FALLBACK_MARKER, refreshTokenStore, type Keyring } from '../../src/cache/keyring.ts';
import { cachePaths, type CachedSession } from '../../src/cache/store.ts';
import type { Storage } from '../../src/config/options.ts';
import { describeError, KeyringError } from '../../src/errors.ts';

const KEY = 'a'.repeat(64);
const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

class FakeKeyring implements Keyring {
  items = new Map<string, string>();
  calls: string[] = [];
  reachable = true;
  private check(op: string): void {
    this.calls.push(op);
    if (!this.reachable) throw new KeyringError('cannot reach the OS credential store', { cause: new Error('no D-Bus session') });
  }
  get(a: string): string | undefined {
    this.check('get');
    return this.items.get(a);
  }
  /** Reads answer, writes fail: the Secret Service with no default collection. */
  refuseWrites = false;
  set(a: string, v: string): void {
    this.check('set');
    if (this.refuseWrites) throw new KeyringError('cannot write to the OS credential store', { cause: new Error('no result found') });
    this.items.set(a, v);
  }
  delete(a: string): boolean {
    this.check('delete');
    return this.items.delete(a);
  }
}

function setup(storage: Storage, kr = new FakeKeyring(), dir?: string) {
  dir ??= mkdtempSync(join(tmpdir(), 'oidc-cred-kr-'));
  dirs.push(dir);
  const paths = cachePaths(join(dir, 'cache'), KEY);
  const lines: string[] = [];
  let made = 0;
  const store = refreshTokenStore(paths, KEY, storage, { info: (l) => void lines.push(l), debug: (l) => void lines.push(`debug: ${typeof l === 'function' ? l() : l}`) }, () => {
    made++;
    return kr;
  });
  const file = (): Record<string, unknown> => JSON.parse(readFileSync(paths.file, 'utf8')) as Record<string, unknown>;
  const stored = (): CachedSession | undefined => {
    const r = store.read();
    return 'session' in r ? r.session : undefined;
  };
  return { store, kr, lines, file, paths, dir, made: () => made, stored };
}

const session = (rt: string | undefined, extra: Partial<CachedSession> = {}): CachedSession => ({
  version: 2,
  key: KEY,
  issuer: 'https://idp.example',
  client_id: 'c',
  grant: 'user',
  refresh_token: rt,
  obtained_at: new Date().toISOString(),
  apis: { api: { resources: [], scopes: [], access_token: 'at', obtained_at: new Date().toISOString() } },
  ...extra,
});

describe('refresh tokens in the credential store: the session store', () => {
  it('keyring: the file says where, the store holds it; written only when it changed', () => {
    const t = setup('keyring');
    t.store.loadRefreshToken(undefined, true);
    t.store.write(session('rt-1'));
    assert.equal(t.file().refresh_token, undefined);
    assert.equal(t.file().refresh_token_in, 'keyring');
    assert.equal(t.kr.items.get(KEY), 'rt-1');

    const again = setup('keyring', t.kr, t.dir);
    const loaded = again.store.loadRefreshToken(again.stored(), true);
    assert.equal(loaded?.refresh_token, 'rt-1');
    t.kr.calls = [];
    again.store.write({ ...loaded!, apis: { api: { resources: [], scopes: [], access_token: 'at-2', obtained_at: new Date().toISOString() } } }); // a refresh that kept the refresh token
    assert.deepEqual(t.kr.calls, [], 'unchanged: not written');
    again.store.write({ ...loaded!, refresh_token: 'rt-2' });
    assert.deepEqual(t.kr.calls, ['set']);
    assert.equal(t.kr.items.get(KEY), 'rt-2');
  });

  it('keyring, store out of reach: fails before anything is sent, one line with the hint, the file untouched', () => {
    const t = setup('file');
    t.store.loadRefreshToken(undefined, true);
    t.store.write(session('rt-file'));
    const before = readFileSync(t.paths.file, 'utf8');
    const kr = new FakeKeyring();
    kr.reachable = false;
    const k = setup('keyring', kr, t.dir);
    const err = (() => {
      try {
        k.store.loadRefreshToken(k.stored(), true);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    assert.ok(err instanceof KeyringError);
    const line = describeError(err);
    assert.match(line, /^oidc-cred: cannot reach the OS credential store \(service oidc-cred, account a{64}\): no D-Bus session \(.*--storage file\)$/);
    assert.doesNotMatch(line, /rt-file/);
    assert.equal(readFileSync(t.paths.file, 'utf8'), before);
  });

  it('a session in the store, store out of reach: fails whatever --storage says (never a login instead)', () => {
    for (const storage of ['auto', 'keyring', 'file'] as const) {
      const t = setup('keyring');
      t.store.loadRefreshToken(undefined, true);
      t.store.write(session('rt-1'));
      t.kr.reachable = false;
      const k = setup(storage, t.kr, t.dir);
      assert.throws(() => k.store.loadRefreshToken(k.stored(), true), (e: unknown) => e instanceof KeyringError && /--storage file/.test(describeError(e)), storage);
    }
  });

  it('auto, no store: the file, and the fallback said once per cache directory', () => {
    const kr = new FakeKeyring();
    kr.reachable = false;
    const t = setup('auto', kr);
    t.store.loadRefreshToken(undefined, true);
    t.store.write(session('rt-1'));
    assert.equal(t.file().refresh_token, 'rt-1');
    assert.equal(t.lines.filter((l) => /^oidc-cred: no OS credential store answered \(no D-Bus session\)/.test(l)).length, 1);
    assert.ok(existsSync(join(t.paths.dir, FALLBACK_MARKER)));
    const again = setup('auto', kr, t.dir);
    again.store.loadRefreshToken(again.stored(), true);
    again.store.write(session('rt-2'));
    assert.equal(again.lines.filter((l) => l.startsWith('oidc-cred:')).length, 0, 'said once');
    assert.equal(again.file().refresh_token, 'rt-2');
  });

  it('migration: file → keyring on the next save (auto with a store), and back with --storage file', () => {
    const t = setup('file');
    t.store.loadRefreshToken(undefined, true);
    t.store.write(session('rt-1'));
    assert.equal(t.made(), 0, '--storage file with a file session never loads the store');
    const k = setup('auto', t.kr, t.dir);
    const s = k.store.loadRefreshToken(k.stored(), true)!;
    k.store.write({ ...s, refresh_token: 'rt-2' });
    assert.equal(k.file().refresh_token_in, 'keyring');
    assert.equal(t.kr.items.get(KEY), 'rt-2');
    const f = setup('file', t.kr, t.dir);
    const s2 = f.store.loadRefreshToken(f.stored(), true)!;
    assert.equal(s2.refresh_token, 'rt-2');
    f.store.write(s2);
    assert.equal(f.file().refresh_token, 'rt-2');
    assert.equal(t.kr.items.has(KEY), false, 'the item is removed');
  });

  it('a write to the store that fails after a refresh keeps the new token in the file, with a warning: never lost', () => {
    const t = setup('keyring');
    t.store.loadRefreshToken(undefined, true);
    t.kr.reachable = false;
    t.store.write(session('rt-new'));
    assert.equal(t.file().refresh_token, 'rt-new');
    assert.ok(t.lines.some((l) => /^oidc-cred: warning: .*the refresh token is kept in the cache file/.test(l)));
    assert.ok(!t.lines.some((l) => l.includes('rt-new')));
  });

  it('a dropped refresh token (rejected by the provider) is removed from the store too', () => {
    const t = setup('keyring');
    t.store.loadRefreshToken(undefined, true);
    t.store.write(session('rt-1'));
    const k = setup('keyring', t.kr, t.dir);
    const s = k.store.loadRefreshToken(k.stored(), true)!;
    k.store.write({ ...s, refresh_token: undefined });
    assert.equal(t.kr.items.has(KEY), false);
    assert.equal(k.file().refresh_token_in, undefined);
  });

  it('an item gone from the store: the session has no refresh token (a login follows), said on stderr', () => {
    const t = setup('keyring');
    t.store.loadRefreshToken(undefined, true);
    t.store.write(session('rt-1'));
    t.kr.items.clear();
    const k = setup('keyring', t.kr, t.dir);
    const s = k.store.loadRefreshToken(k.stored(), true);
    assert.equal(s?.refresh_token, undefined);
    assert.ok(k.lines.some((l) => /refresh token is missing from the OS credential store/.test(l)));
  });

  it('a store that reads but refuses writes: the file token is moved before the refresh, so keyring fails first and auto falls back', () => {
    const t = setup('file');
    t.store.loadRefreshToken(undefined, true);
    t.store.write(session('rt-file'));
    const kr = new FakeKeyring();
    kr.refuseWrites = true;
    const k = setup('keyring', kr, t.dir);
    assert.throws(() => k.store.loadRefreshToken(k.stored(), true), KeyringError, 'keyring: fails before the refresh');
    assert.equal(k.file().refresh_token, 'rt-file');
    const a = setup('auto', kr, t.dir);
    const s = a.store.loadRefreshToken(a.stored(), true)!;
    assert.deepEqual(a.lines.filter((l) => l.startsWith('oidc-cred:')), [], 'nothing said before the save');
    a.store.write({ ...s, refresh_token: 'rt-new' });
    assert.equal(a.file().refresh_token, 'rt-new');
    assert.equal(a.lines.filter((l) => /^oidc-cred: no OS credential store answered \(no result found\)/.test(l)).length, 1);
  });
});

describe('the refresh tokens of the APIs\' own logins (docs/multi-api.md)', () => {
  const own = (rt: string | undefined): Partial<CachedSession> => ({
    apis: { api: { resources: [], scopes: [], access_token: 'at', obtained_at: new Date().toISOString() }, b: { audience: 'B', resources: [], scopes: [], access_token: 'at-b', obtained_at: new Date().toISOString(), fallback: { reason: 'invalid_target', refresh_token: rt } } },
  });
  it('keyring: each goes to account <key>#<api key>, none stays in the file; read back under the lock; gone with the own login', () => {
    const t = setup('keyring');
    t.store.loadRefreshToken(undefined, true);
    t.store.write(session('rt-shared', own('rt-own')));
    assert.equal(t.kr.items.get(`${KEY}#b`), 'rt-own');
    assert.ok(!readFileSync(t.paths.file, 'utf8').includes('rt-own'), 'not in the file');
    assert.deepEqual((t.file().apis as Record<string, { fallback?: unknown }>).b!.fallback, { reason: 'invalid_target', refresh_token_in: 'keyring' });

    const again = setup('keyring', t.kr, t.dir);
    const loaded = again.store.loadRefreshToken(again.stored(), true);
    assert.equal(loaded?.apis.b?.fallback?.refresh_token, 'rt-own');
    t.kr.calls = [];
    again.store.write(loaded!);
    assert.ok(!t.kr.calls.includes('set'), 'unchanged: not written');
    // A new shared login forgets the API's own login: its item goes too.
    again.store.write(session('rt-shared-2'));
    assert.equal(t.kr.items.has(`${KEY}#b`), false);
  });
  it('file: it stays in the file', () => {
    const t = setup('file');
    t.store.loadRefreshToken(undefined, true);
    t.store.write(session('rt-shared', own('rt-own')));
    assert.equal(t.kr.items.size, 0);
    assert.equal((t.file().apis as Record<string, { fallback?: { refresh_token?: string } }>).b!.fallback!.refresh_token, 'rt-own');
  });
});
