// Refresh tokens in the OS credential store (docs/keyring.md): the Secret Service on Linux
// (GNOME Keyring, KWallet), the macOS Keychain, the Windows Credential Manager, through
// @napi-rs/keyring. Only the refresh token goes there — small and rarely written — under
// service "oidc-cred" and account = the session key; the short-lived access and ID tokens stay in
// the cache file, so a cache hit never loads this module or touches the store.
//
// The session file says where its refresh token is (`"refresh_token_in": "keyring"`). Every read
// and write of the store happens in the token lifecycle's locked section (docs/architecture.md),
// so the one-refresh rule holds as it does for the file.
import { closeSync, constants, openSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { Storage } from '../config/options.js';
import { describeError, KeyringError, oneLine } from '../errors.js';
import { ensureCacheDir, readSession, writeSession, type CachePaths, type CachedSession, type ReadResult } from './store.js';

export const KEYRING_SERVICE = 'oidc-cred';
/** Left in the cache directory once `--storage auto` has fallen back to the file, so that it says so once. */
export const FALLBACK_MARKER = 'keyring-fallback';

/** One item per account. Every method throws KeyringError when the store cannot be reached. */
export interface Keyring {
  get(account: string): string | undefined;
  set(account: string, secret: string): void;
  delete(account: string): boolean;
}

interface NativeEntry {
  getPassword(): string | null;
  setPassword(password: string): void;
  deletePassword(): boolean;
}
type NativeEntryClass = new (service: string, account: string, options?: { linux?: { store?: 'secret-service' | 'keyutils' } }) => NativeEntry;

let entryClass: NativeEntryClass | undefined;
/** Loaded on first use: a native module that only the refresh path and logout need. */
function nativeEntry(): NativeEntryClass {
  entryClass ??= (createRequire(import.meta.url)('@napi-rs/keyring') as { Entry: NativeEntryClass }).Entry;
  return entryClass;
}

/** The library's innermost reason (its errors nest the D-Bus one as `cause`), on one line. */
function reason(err: unknown): string {
  let e = err as { message?: unknown; cause?: unknown } | undefined;
  for (let i = 0; i < 5 && e && e.cause instanceof Error; i++) e = e.cause as typeof e;
  const m = e && typeof e.message === 'string' && e.message ? e.message : String(err);
  return oneLine(m.replace(/^Platform failure: /, ''));
}

/**
 * The OS credential store. On Linux it is pinned to the Secret Service: unpinned, the library
 * falls back to the kernel keyring when there is no D-Bus session, which forgets everything at
 * reboot (docs/keyring.md) — a refresh token "saved" there would be lost.
 */
export function osKeyring(): Keyring {
  const entry = (account: string, doing: string): NativeEntry => {
    try {
      return new (nativeEntry())(KEYRING_SERVICE, account, { linux: { store: 'secret-service' } });
    } catch (err) {
      throw new KeyringError(`cannot ${doing} the OS credential store`, { cause: new Error(reason(err)) });
    }
  };
  const call = <T,>(account: string, doing: string, op: (e: NativeEntry) => T): T => {
    const e = entry(account, doing);
    try {
      return op(e);
    } catch (err) {
      throw new KeyringError(`cannot ${doing} the OS credential store`, { cause: new Error(reason(err)) });
    }
  };
  return {
    get: (account) => call(account, 'read from', (e) => e.getPassword() ?? undefined),
    set: (account, secret) => call(account, 'write to', (e) => e.setPassword(secret)),
    delete: (account) => call(account, 'remove an item from', (e) => e.deletePassword()),
  };
}

/** How the lifecycle's session store port (src/session/lifecycle.ts) sees the file and the store together. */
export interface RefreshTokenStore {
  read(): ReadResult;
  loadRefreshToken(session: CachedSession | undefined, needed: boolean): CachedSession | undefined;
  write(session: CachedSession): void;
}

export interface StoreLog {
  info(line: string): void;
  debug(line: string | (() => string)): void;
}

const itemName = (key: string): string => `service ${KEYRING_SERVICE}, account ${key}`;

/** The store account of the login an API has of its own (docs/multi-api.md): `<key>#<api key>`. */
export const ownLoginAccount = (key: string, api: string): string => `${key}#${api}`;

/** The accounts of a session's APIs whose own login's refresh token is in the store. */
export function ownLoginAccounts(s: CachedSession): string[] {
  return Object.entries(s.apis)
    .filter(([, a]) => a.fallback?.refresh_token_in === 'keyring')
    .map(([api]) => ownLoginAccount(s.key, api));
}

/**
 * The session file with its refresh token wherever `--storage` puts it:
 * - `file`: in the file (a session found in the store moves back to the file on its next save);
 * - `keyring`: in the store; a store that cannot be reached fails the call before any refresh or
 *   login, with the token left where it was;
 * - `auto`: in the store when one answers, else in the file, saying so once per cache directory.
 *   A session whose refresh token is already in the store behaves as `keyring`.
 * The store is written only when the refresh token changed.
 */
export function refreshTokenStore(paths: CachePaths, key: string, storage: Storage, log: StoreLog, keyring: () => Keyring = osKeyring): RefreshTokenStore {
  let store: Keyring | undefined;
  const kr = (): Keyring => (store ??= keyring());
  /** What the store's item holds, as far as this process knows (read or written by it). */
  let inStore: string | undefined;
  let fileSaysStore = false;
  /** The own-login items this process read or wrote (account → refresh token). */
  const ownInStore = new Map<string, string | undefined>();
  /** Where this save goes, decided under the lock before a refresh or a login. */
  let target: 'keyring' | 'file' | undefined;

  const unreachable = (err: unknown, hint: string): KeyringError =>
    err instanceof KeyringError ? new KeyringError(`${err.message} (${itemName(key)})`, { cause: err.cause, hint }) : (err as KeyringError);

  /** Chosen by `auto` for a session that was not in the store: a failed write falls back quietly. */
  let byAuto = false;
  /** Why `auto` fell back to the file, to be said (once per cache directory) when it saves there. */
  let fallback: unknown;
  /**
   * Where a session whose refresh token is in the file (or that has none yet) is saved. A token
   * already in hand is moved to the store now, before the refresh that would replace it: a store
   * that answers reads but refuses writes (Secret Service without a default collection) then
   * fails here, with the token still in the file, instead of after the provider has spent it.
   */
  const decide = (rt: string | undefined): 'keyring' | 'file' => {
    if (storage === 'file') return 'file';
    try {
      inStore = kr().get(key);
      if (rt !== undefined && inStore !== rt) {
        kr().set(key, rt);
        inStore = rt;
      }
      byAuto = storage === 'auto';
      return 'keyring';
    } catch (err) {
      if (storage === 'keyring') throw unreachable(err, 'check that the credential store is running and unlocked, or use --storage file');
      // Said when a refresh token is actually saved in the file, not before a login that may fail.
      fallback = err;
      log.debug(`no OS credential store answered (${reason(err)}): the refresh token goes to the cache file`);
      return 'file';
    }
  };

  return {
    read() {
      const r = readSession(paths.file, key);
      fileSaysStore = 'session' in r && r.session.refresh_token_in === 'keyring';
      return r;
    },

    loadRefreshToken(session, needed) {
      const loaded = loadShared(session, needed);
      return loaded && needed ? loadOwn(loaded) : loaded;
    },

    write(session) {
      writeShared(moveOwn(session));
    },
  };

  /**
   * The refresh tokens of the APIs' own logins (docs/multi-api.md) go where the shared one goes,
   * each under its own account; a store that cannot take one leaves it in the file.
   */
  function loadOwn(session: CachedSession): CachedSession {
    const accounts = ownLoginAccounts(session);
    if (!accounts.length) return session;
    const apis = { ...session.apis };
    for (const [api, a] of Object.entries(apis)) {
      if (a.fallback?.refresh_token_in !== 'keyring') continue;
      const account = ownLoginAccount(session.key, api);
      let rt: string | undefined;
      try {
        rt = kr().get(account);
      } catch (err) {
        throw unreachable(err, 'run it where the credential store is reachable, or use --storage file');
      }
      ownInStore.set(account, rt);
      apis[api] = { ...a, fallback: { reason: a.fallback.reason, refresh_token: rt } };
    }
    return { ...session, apis };
  }

  function moveOwn(session: CachedSession): CachedSession {
    const keep = new Set<string>();
    const apis = { ...session.apis };
    for (const [api, a] of Object.entries(apis)) {
      const rt = a.fallback?.refresh_token;
      const account = ownLoginAccount(session.key, api);
      if (a.fallback?.refresh_token_in === 'keyring' && rt === undefined) keep.add(account);
      if (!a.fallback || rt === undefined || storage === 'file' || target === 'file') continue;
      try {
        if (ownInStore.get(account) !== rt) kr().set(account, rt);
        ownInStore.set(account, rt);
        keep.add(account);
        apis[api] = { ...a, fallback: { reason: a.fallback.reason, refresh_token_in: 'keyring' } };
      } catch (err) {
        log.debug(`the refresh token of an API's own login stays in the cache file: ${reason(err)}`);
      }
    }
    // Own logins that are gone (a new shared login forgets them) leave nothing in the store.
    for (const account of [...ownInStore.keys()]) {
      if (keep.has(account)) continue;
      ownInStore.delete(account);
      removeQuietly(kr, account, log);
    }
    return { ...session, apis };
  }

  function loadShared(session: CachedSession | undefined, needed: boolean): CachedSession | undefined {
    fileSaysStore = session?.refresh_token_in === 'keyring';
    if (session?.refresh_token_in !== 'keyring') {
      target = decide(session?.refresh_token);
      return session;
    }
    let rt: string | undefined;
    try {
      rt = kr().get(key);
    } catch (err) {
      // The token is in the store and nowhere else: never log in instead (the store may only be
      // out of reach from here, e.g. an SSH session without D-Bus).
      throw unreachable(err, "run it where the credential store is reachable (a desktop session, or a D-Bus session with the store unlocked), or start over with 'oidc-cred login --storage file'");
    }
    inStore = rt;
    target = storage === 'file' ? 'file' : 'keyring';
    if (!needed) return session;
    if (rt === undefined) {
      log.info(`oidc-cred: the refresh token is missing from the OS credential store (${itemName(key)}); a login is needed`);
      return { ...session, refresh_token: undefined, refresh_token_in: undefined };
    }
    return { ...session, refresh_token: rt };
  }

  function writeShared(session: CachedSession): void {
    const { refresh_token: rt, refresh_token_in: _where, ...rest } = session;
    if (rt === undefined) {
      writeSession(paths, rest);
      // A dropped refresh token (the provider rejected it) must not linger in the store.
      if (fileSaysStore || inStore !== undefined) removeQuietly(kr, key, log);
      fileSaysStore = false;
      inStore = undefined;
      return;
    }
    target ??= decide(undefined);
    if (target === 'keyring') {
      if (inStore !== rt) {
        try {
          kr().set(key, rt);
          inStore = rt;
        } catch (err) {
          // The provider has just issued it and the old one may be spent: losing it would mean a
          // login. Keep it in the file, and say so (`auto`: once per cache directory).
          writeSession(paths, { ...rest, refresh_token: rt });
          fileSaysStore = false;
          if (byAuto) {
            fellBack(paths, err, log);
            return;
          }
          log.info(`oidc-cred: warning: ${describeError(unreachable(err, '')).replace(/^oidc-cred: /, '')}; the refresh token is kept in the cache file ${paths.file} until the next save`);
          return;
        }
      } else log.debug('the refresh token is unchanged: the credential store is not written');
      writeSession(paths, { ...rest, refresh_token_in: 'keyring' });
      fileSaysStore = true;
      return;
    }
    writeSession(paths, { ...rest, refresh_token: rt });
    if (fileSaysStore) removeQuietly(kr, key, log);
    fileSaysStore = false;
    if (fallback !== undefined) fellBack(paths, fallback, log);
    fallback = undefined;
  }
}

function removeQuietly(kr: () => Keyring, key: string, log: StoreLog): void {
  try {
    kr().delete(key);
  } catch (err) {
    log.info(`oidc-cred: warning: could not remove the old refresh token from the OS credential store (${itemName(key)}): ${reason((err as { cause?: unknown }).cause ?? err)}`);
  }
}

/** Says once per cache directory (a marker file in it) that `--storage auto` found no credential store. */
function fellBack(paths: CachePaths, err: unknown, log: StoreLog): void {
  const why = err instanceof KeyringError && err.cause ? reason(err.cause) : reason(err);
  let fd: number;
  try {
    ensureCacheDir(paths.dir);
    fd = openSync(join(paths.dir, FALLBACK_MARKER), constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | (constants.O_NOFOLLOW ?? 0), 0o600);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return;
    fd = -1;
  }
  if (fd >= 0) {
    try {
      writeSync(fd, `${new Date().toISOString()} no OS credential store answered (${why}); refresh tokens are kept in the cache files here (docs/keyring.md)\n`);
    } finally {
      closeSync(fd);
    }
  }
  log.info(`oidc-cred: no OS credential store answered (${why}), so refresh tokens are kept in the cache file in ${paths.dir} (--storage auto; said once; see docs/keyring.md)`);
}

/** Where a session's refresh token is, for status and doctor: "keyring", "file", or undefined (none). */
export function refreshTokenLocation(s: CachedSession): 'keyring' | 'file' | undefined {
  if (s.refresh_token_in === 'keyring') return 'keyring';
  return s.refresh_token ? 'file' : undefined;
}

/**
 * logout: removes the store's item of a session whose file says it is there. False when the store
 * could not be reached (the caller removes the file anyway and exits 1 naming the item).
 */
export function removeFromKeyring(key: string, keyring: () => Keyring = osKeyring): { ok: true } | { ok: false; item: string; why: string } {
  try {
    keyring().delete(key);
    return { ok: true };
  } catch (err) {
    return { ok: false, item: itemName(key), why: reason((err as { cause?: unknown }).cause ?? err) };
  }
}

/** logout --revoke: the refresh token from the store, or undefined when it cannot be had. */
export function refreshTokenFromKeyring(key: string, keyring: () => Keyring = osKeyring): string | undefined {
  try {
    return keyring().get(key);
  } catch {
    return undefined;
  }
}
