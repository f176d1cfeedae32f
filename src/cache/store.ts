// The token cache (docs/architecture.md): one JSON file per session key, 0600 in a 0700 directory, written
// atomically (temp file in the same directory, fsync, rename). Reading is lock-free and cheap:
// it is the whole hot path. A corrupt or unknown-version file is a miss, never a crash.
import { writeAtomic } from '../infra/atomic.js';
import { sha256Hex } from './sha256.js';
import {
  closeSync,
  constants,
  fstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  statSync,
  chmodSync,
  unlinkSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import type { Stats } from 'node:fs';
import { CacheError } from '../errors.js';

/**
 * 2: one file per login (issuer, client, grant, extra parameters), each API's access token in
 * `apis` (docs/multi-api.md). 1: one file per (audience, scopes); read and migrated, never
 * written.
 */
export const CACHE_VERSION = 2;

/** What a request asks the provider for: an API is (audience, sorted resources, sorted scopes). */
export interface ApiSpec {
  audience?: string | undefined;
  resources: string[];
  scopes: string[];
}

/** One API's access token inside a session. */
export interface ApiToken extends ApiSpec {
  access_token?: string | undefined;
  token_type?: string | undefined;
  scope?: string | undefined;
  /** RFC 3339; from expires_in against the local clock at receipt. */
  expires_at?: string | undefined;
  obtained_at: string;
  boot_id?: string | undefined;
  uptime_at?: number | undefined;
  /**
   * This API has a login of its own: the shared refresh token brought no token for it (an error
   * such as invalid_target, or a JWT for another audience). Remembered until the next shared
   * login. Its refresh token is here, or (`refresh_token_in`) in the OS credential store under
   * account `<key>#<api key>` (docs/keyring.md).
   */
  fallback?: { reason: string; refresh_token?: string | undefined; refresh_token_in?: 'keyring' | undefined } | undefined;
}

export interface CachedSession {
  version: typeof CACHE_VERSION;
  /** Session key, also the file name. */
  key: string;
  profile?: string | undefined;
  issuer: string;
  client_id: string;
  grant: GrantKind;
  /** Shared by every API of the session: the ID token (kube) and the refresh token. */
  id_token?: string | undefined;
  refresh_token?: string | undefined;
  /** The refresh token is not in this file but in the OS credential store (docs/keyring.md). */
  refresh_token_in?: 'keyring' | undefined;
  /** The scope the shared login was granted. */
  scope?: string | undefined;
  /** RFC 3339; the ID token's `exp`, counted from receipt on our clock (less a skew margin). */
  id_token_expires_at?: string | undefined;
  /** When the shared tokens last arrived (a login, or a refresh for any API). */
  obtained_at: string;
  /** When the ID token arrived, where that was before `obtained_at` (a refresh that issued no new ID token). */
  id_token_obtained_at?: string | undefined;
  id_token_uptime_at?: number | undefined;
  /** Linux: the kernel's boot id and seconds since boot (CLOCK_BOOTTIME) when the shared tokens arrived. */
  boot_id?: string | undefined;
  uptime_at?: number | undefined;
  /**
   * What the shared login asked for: its audience, every resource of the profiles sharing the
   * session, the union of their scopes. A refresh is never tried for a resource not in it.
   */
  login?: ApiSpec | undefined;
  /** Access tokens by API key (apiKey()). */
  apis: Record<string, ApiToken>;
}

/** The grant family that makes an identity: a person's login, or the client's own. */
export type GrantKind = 'user' | 'client-credentials';

export interface KeyInput {
  issuer: string;
  clientId: string;
  params: Readonly<Record<string, string>>;
  grant: GrantKind;
}

function sortedParams(params: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(Object.entries(params).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/**
 * SHA-256 of the canonical JSON (sorted keys, sorted params) of one login — docs/cache.md.
 * Audience, resources and scopes pick an API inside the session, not the session.
 */
export function sessionKey(k: KeyInput): string {
  return sha256Hex(JSON.stringify({ client_id: k.clientId, grant: k.grant, issuer: k.issuer, params: sortedParams(k.params) }));
}

/** Format 1's key, which also held the audience and the scopes: read once, to migrate such a file. */
export function legacySessionKey(k: KeyInput & { audience: string | undefined; scopes: readonly string[] }): string {
  return sha256Hex(
    JSON.stringify({
      audience: k.audience ?? null,
      client_id: k.clientId,
      grant: k.grant,
      issuer: k.issuer,
      params: sortedParams(k.params),
      scopes: [...new Set(k.scopes)].sort(),
    }),
  );
}

/** An API in canonical form: audience, sorted unique resources and scopes. */
export function canonicalApi(a: ApiSpec): ApiSpec {
  return { audience: a.audience || undefined, resources: [...new Set(a.resources)].sort(), scopes: [...new Set(a.scopes)].sort() };
}

/** An API with its key. */
export type ApiRef = ApiSpec & { key: string };

/** The API's key inside a session: SHA-256 of its canonical JSON (also its keyring account suffix). */
export function apiKey(a: ApiSpec): string {
  const c = canonicalApi(a);
  return sha256Hex(JSON.stringify({ audience: c.audience ?? null, resources: c.resources, scopes: c.scopes }));
}

export interface CachePaths {
  dir: string;
  file: string;
  lock: string;
  outcome: string;
}

export function cachePaths(dir: string, key: string): CachePaths {
  return { dir, file: join(dir, `${key}.json`), lock: join(dir, `${key}.lock`), outcome: join(dir, `${key}.outcome.json`) };
}

/** `migrated`: carried over from a format-1 file, and not yet saved as a session of its own. */
export type ReadResult = { session: CachedSession; migrated?: boolean } | { miss: string };

/**
 * Reads a file of the cache directory safely: O_NOFOLLOW (a planted symlink is refused, not
 * followed), O_NONBLOCK (a planted FIFO cannot hang the open: without it, open(2) waits for a
 * writer forever), and only a regular file is read (fstat). `check` sees the file's stat before
 * its content is read. undefined: the file does not exist. Shared by the session and the
 * outcome files.
 */
export function readCacheFile(file: string, check?: (st: Stats) => void): string | undefined {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0) | (constants.O_NONBLOCK ?? 0));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'ELOOP') throw new CacheError(`cache file ${file} is a symbolic link`, { hint: `remove it: rm '${file}'` });
    throw new CacheError(`cannot read cache file ${file}`, { cause: err });
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new CacheError(`cache file ${file} is not a regular file`, { hint: `remove it: rm -r '${file}'` });
    check?.(st);
    // O_NONBLOCK changes nothing for a regular file: reads of it never return EAGAIN.
    return readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
  }
}

/**
 * The cache directory must be ours and closed to others (docs/configuration.md): checked on the
 * hot path too, with one stat. Another user's directory is refused; one that others may enter
 * is a miss here, so that the slow path (which tightens it to 0700) takes over.
 */
function dirIsPrivate(dir: string): boolean {
  if (process.platform === 'win32') return true;
  const st = statSync(dir);
  if (typeof process.getuid === 'function' && st.uid !== process.getuid()) {
    throw new CacheError(`cache directory ${dir} belongs to another user (uid ${st.uid})`, { hint: 'use a cache directory of your own (--cache-dir)' });
  }
  return (st.mode & 0o077) === 0;
}

/**
 * Reads a cached session without a lock. Refuses (throws) a file that others may read or that is
 * not ours, since it holds a refresh token; anything unreadable as a session is a miss.
 */
export function readSession(file: string, expectedKey?: string, legacyApi?: ApiRef): ReadResult {
  const text = readCacheFile(file, (st) => {
    if (process.platform === 'win32') return;
    if ((st.mode & 0o077) !== 0) {
      throw new CacheError(`cache file ${file} is readable by other users (mode ${(st.mode & 0o777).toString(8)})`, {
        hint: `its tokens may have leaked; run: chmod 600 '${file}' && oidc-cred logout`,
      });
    }
    if (typeof process.getuid === 'function' && st.uid !== process.getuid()) {
      throw new CacheError(`cache file ${file} belongs to another user (uid ${st.uid})`, { hint: 'use a cache directory of your own (--cache-dir)' });
    }
  });
  if (text === undefined) return { miss: 'no cached session' };
  // After the file: a miss (no file, the usual first call) costs no second system call.
  if (!dirIsPrivate(dirname(file))) return { miss: 'the cache directory is open to other users' };
  return parseSession(text, expectedKey, legacyApi);
}

export function parseSession(text: string, expectedKey?: string, legacyApi?: ApiRef): ReadResult {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { miss: 'cache file is corrupt' };
  }
  if (typeof json !== 'object' || json === null) return { miss: 'cache file is corrupt' };
  const raw = json as Record<string, unknown>;
  if (raw.version === 1) return migrateV1(raw, expectedKey, legacyApi);
  const s = json as Partial<CachedSession>;
  if (s.version !== CACHE_VERSION) return { miss: `cache file has unknown format version ${String(s.version)}` };
  if (typeof s.issuer !== 'string' || typeof s.client_id !== 'string' || typeof s.obtained_at !== 'string') {
    return { miss: 'cache file is incomplete' };
  }
  if (expectedKey !== undefined && s.key !== expectedKey) return { miss: 'cache file belongs to another session' };
  for (const f of ['id_token', 'refresh_token', 'id_token_expires_at'] as const) {
    if (s[f] !== undefined && typeof s[f] !== 'string') return { miss: 'cache file is corrupt' };
  }
  if (s.refresh_token_in !== undefined && s.refresh_token_in !== 'keyring') return { miss: 'cache file is corrupt' };
  if (typeof s.apis !== 'object' || s.apis === null || Array.isArray(s.apis)) return { miss: 'cache file is corrupt' };
  for (const a of Object.values(s.apis)) {
    if (typeof a !== 'object' || a === null || typeof a.obtained_at !== 'string') return { miss: 'cache file is corrupt' };
    for (const f of ['access_token', 'expires_at'] as const) if (a[f] !== undefined && typeof a[f] !== 'string') return { miss: 'cache file is corrupt' };
    if (!Array.isArray(a.resources) || !Array.isArray(a.scopes)) return { miss: 'cache file is corrupt' };
  }
  return { session: s as CachedSession };
}

/**
 * A format-1 file: one API per file. Its refresh and ID tokens become the session's; its access
 * token is kept only when the caller knows which API the file was for (`legacyApi`: it was found
 * under that API's format-1 key), else it is dropped (one refresh brings it back).
 */
function migrateV1(v: Record<string, unknown>, expectedKey: string | undefined, legacyApi: ApiRef | undefined): ReadResult {
  const str = (x: unknown): string | undefined => (typeof x === 'string' ? x : undefined);
  const num = (x: unknown): number | undefined => (typeof x === 'number' ? x : undefined);
  const issuer = str(v.issuer);
  const clientId = str(v.client_id);
  const obtained = str(v.obtained_at);
  if (!issuer || !clientId || !obtained || (v.grant !== 'user' && v.grant !== 'client-credentials')) return { miss: 'cache file is incomplete' };
  if (expectedKey !== undefined && v.key !== expectedKey) return { miss: 'cache file belongs to another session' };
  for (const f of ['access_token', 'id_token', 'refresh_token', 'expires_at', 'id_token_expires_at']) {
    if (v[f] !== undefined && typeof v[f] !== 'string') return { miss: 'cache file is corrupt' };
  }
  const apis: Record<string, ApiToken> = {};
  if (legacyApi && str(v.access_token)) {
    apis[legacyApi.key] = {
      ...canonicalApi(legacyApi),
      access_token: str(v.access_token),
      token_type: str(v.token_type),
      scope: str(v.scope),
      expires_at: str(v.expires_at),
      obtained_at: obtained,
      boot_id: str(v.boot_id),
      uptime_at: num(v.uptime_at),
    };
  }
  const session: CachedSession = {
    version: CACHE_VERSION,
    key: expectedKey ?? str(v.key) ?? '',
    profile: str(v.profile),
    issuer,
    client_id: clientId,
    grant: v.grant,
    id_token: str(v.id_token),
    refresh_token: str(v.refresh_token),
    scope: str(v.scope),
    id_token_expires_at: str(v.id_token_expires_at),
    obtained_at: obtained,
    id_token_obtained_at: str(v.id_token_obtained_at) ?? (str(v.id_token) ? obtained : undefined),
    id_token_uptime_at: str(v.id_token_obtained_at) ? num(v.id_token_uptime_at) : num(v.uptime_at),
    boot_id: str(v.boot_id),
    uptime_at: num(v.uptime_at),
    apis,
  };
  return { session };
}

/** Creates the directory 0700 whatever the umask, and refuses one that other users can get into. */
export function ensureCacheDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new CacheError(`cannot create cache directory ${dir}`, { cause: err });
  }
  if (process.platform === 'win32') return;
  const st = statSync(dir);
  if (typeof process.getuid === 'function' && st.uid !== process.getuid()) {
    throw new CacheError(`cache directory ${dir} belongs to another user (uid ${st.uid})`, { hint: 'use a cache directory of your own (--cache-dir)' });
  }
  if ((st.mode & 0o077) !== 0) {
    try {
      chmodSync(dir, 0o700);
    } catch (err) {
      throw new CacheError(`cache directory ${dir} is open to other users and cannot be fixed`, { cause: err, hint: `run: chmod 700 '${dir}'` });
    }
  }
}

/** Atomic write: a reader sees the old file or the new one, never a part (docs/architecture.md). */
export function writeSession(paths: CachePaths, session: CachedSession): void {
  writeFileAtomic(paths.dir, paths.file, `${JSON.stringify(session, null, 2)}\n`);
}

export function writeFileAtomic(dir: string, file: string, content: string): void {
  ensureCacheDir(dir);
  try {
    writeAtomic(file, content, 0o600);
  } catch (err) {
    throw new CacheError(`cannot write cache file ${file}`, { cause: err });
  }
}

export function removeSession(paths: CachePaths): boolean {
  try {
    unlinkSync(paths.file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw new CacheError(`cannot remove cache file ${paths.file}`, { cause: err });
  }
}

/** Every session file in the directory, with what could be read of it. */
export function listSessions(dir: string): Array<{ file: string; result: ReadResult | { error: Error } }> {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new CacheError(`cannot list cache directory ${dir}`, { cause: err });
  }
  return names
    .filter((n) => /^[0-9a-f]{64}\.json$/.test(n))
    .sort()
    .map((n) => {
      const file = join(dir, n);
      try {
        return { file, result: readSession(file, n.slice(0, -5)) };
      } catch (err) {
        return { file, result: { error: err as Error } };
      }
    });
}

export type TokenKind = 'access' | 'id';

/** The token of that kind (the API's access token, or the shared ID token) and when it expires (ms since the epoch). */
export function tokenOf(s: CachedSession, kind: TokenKind, api: string): { token: string; expiresAt: number } | undefined {
  const a = kind === 'access' ? s.apis[api] : undefined;
  const token = kind === 'id' ? s.id_token : a?.access_token;
  const exp = kind === 'id' ? s.id_token_expires_at : a?.expires_at;
  if (!token || !exp) return undefined;
  const expiresAt = Date.parse(exp);
  return Number.isFinite(expiresAt) ? { token, expiresAt } : undefined;
}

export interface BootClock {
  id: string;
  /** seconds since boot, including suspend (CLOCK_BOOTTIME) */
  uptime: number;
}

let bootId: string | null | undefined;
/**
 * A clock the user cannot set: seconds since this boot, which keeps counting through suspend
 * and never jumps. Linux only (two small /proc reads; the uptime is read afresh every call,
 * since a process may wait minutes for a login); elsewhere undefined.
 */
export function bootClock(): BootClock | undefined {
  if (bootId === null) return undefined;
  try {
    bootId ??= readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || null;
    const uptime = Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
    return bootId && Number.isFinite(uptime) ? { id: bootId, uptime } : undefined;
  } catch {
    bootId = null;
    return undefined;
  }
}
