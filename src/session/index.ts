// The token lifecycle wired to the real world: the session file (cache/store.ts), the lock and
// its outcome record (cache/lock.ts), the system clock, and the provider (oauth/). The rules
// themselves are in ./lifecycle.ts; the cache-hit read in ./read.ts.
import { DirWatch, lockHolder, readOutcome, tryLock, writeOutcome } from '../cache/lock.js';
import { bootClock, cachePaths, legacySessionKey, readSession, removeSession, writeSession, type ApiRef, type CachePaths, type CachedSession, type GrantKind, type ReadResult, type TokenKind } from '../cache/store.js';
import type { Settings } from '../config/resolve.js';
import type { Deps } from '../deps.js';
import { errnoOf, LoginError, NotInteractiveError } from '../errors.js';
import { canShowLogin } from '../infra/browser.js';
import type { LoginRequest, Provider, TokenResult } from '../oauth/client.js';
import { refreshTokenStore, type RefreshTokenStore } from '../cache/keyring.js';
import { obtainToken, type Authenticator, type Ports, type SessionLock, type SessionStore } from './lifecycle.js';
import { apiOf, sessionPaths, type Environment, type TokenAnswer } from './read.js';

export type { TokenAnswer } from './read.js';

export interface TokenRequest {
  settings: Settings;
  kind: TokenKind;
  /** `oidc-cred login`: log in even when a valid token or a refresh token is cached. */
  force?: boolean;
}

export function environment(deps: Pick<Deps, 'env' | 'platform' | 'stderr'>): Environment {
  return { env: deps.env, platform: deps.platform, stderrIsTTY: () => !!deps.stderr.isTTY };
}

export function getToken(req: TokenRequest, deps: Deps): Promise<TokenAnswer> {
  const s = req.settings;
  const { key, paths, grant } = sessionPaths(s, environment(deps));
  const api = apiOf(s);
  return obtainToken(
    {
      kind: req.kind,
      force: req.force,
      minValid: s.minValid,
      timeout: s.timeout,
      nonInteractive: s.nonInteractive,
      grant,
      api,
      // docs/multi-api.md: the triggering API's audience, every resource and scope of the session.
      login: { audience: s.audience, resources: s.sessionResources, scopes: s.sessionScopes },
      profile: s.profile,
      session: { key, profile: s.profile, issuer: s.issuer, client_id: s.clientId },
    },
    realPorts(s, deps, key, paths, grant, api, !!req.force),
  );
}

function realPorts(s: Settings, deps: Deps, key: string, paths: CachePaths, grant: GrantKind, api: ApiRef, explicit = false): Ports {
  const legacy = cachePaths(paths.dir, legacySessionKey({ issuer: s.issuer, clientId: s.clientId, params: s.params, grant, audience: s.audience, scopes: s.scopes }));
  return {
    store: sessionStore(s, deps, key, paths, legacy, api),
    lock: fileLock(paths, deps),
    clock: { now: deps.now, boot: bootClock },
    auth: providerAuthenticator(s, deps, explicit),
    log: deps.log,
    signal: deps.signal,
    pid: process.pid,
  };
}

/**
 * A session of format 1 (one file per audience and scopes, under that older key) is carried
 * over on first use: its refresh and ID tokens become the session's and its access token this
 * API's, so an upgrade costs no login. Read under the new session's lock; saved under the new key.
 */
function readLegacy(legacy: CachePaths, key: string, api: ApiRef, found: () => void): ReadResult {
  let r: ReadResult;
  try {
    r = readSession(legacy.file, legacy.file.replace(/^.*\//, '').replace(/\.json$/, ''), api);
  } catch {
    return { miss: 'no cached session' };
  }
  if (!('session' in r)) return { miss: 'no cached session' };
  found();
  return { session: { ...r.session, key }, migrated: true };
}

/** The session file, and the OS credential store for its refresh token (cache/keyring.ts) unless `--storage file` and the file holds it. */
function sessionStore(s: Settings, deps: Deps, key: string, paths: CachePaths, legacy: CachePaths, api: ApiRef): SessionStore {
  const file: SessionStore = { read: () => readSession(paths.file, key), write: (session) => writeSession(paths, session) };
  let withKeyring: RefreshTokenStore | undefined;
  let migrated = false;
  return {
    read: () => {
      const r = withKeyring ? withKeyring.read() : file.read();
      return 'miss' in r && r.miss === 'no cached session' ? readLegacy(legacy, key, api, () => (migrated = true)) : r;
    },
    write: (session) => {
      if (withKeyring) withKeyring.write(session);
      else file.write(session);
      // The format-1 file it came from has been carried over: it goes (docs/cache.md).
      if (migrated) {
        migrated = false;
        try {
          removeSession(legacy);
        } catch {
          /* left behind: harmless, and status shows it */
        }
      }
    },
    // The keyring module is loaded here, under the lock, only when a refresh or a login is
    // coming — and not at all for `--storage file` with a session that is in the file.
    loadRefreshToken: (session, needed) => {
      if (!withKeyring && s.storage === 'file' && session?.refresh_token_in !== 'keyring' && !Object.values(session?.apis ?? {}).some((a) => a.fallback?.refresh_token_in === 'keyring')) return session;
      withKeyring ??= refreshTokenStore(paths, key, s.storage, deps.log);
      return withKeyring.loadRefreshToken(session, needed);
    },
  };
}

function fileLock(paths: CachePaths, deps: Deps): SessionLock {
  let watch: DirWatch | undefined;
  return {
    tryAcquire: () =>
      tryLock(paths, {
        onCompromised: (err) => deps.log.info(`oidc-cred: warning: lost the token cache lock (${err.message})`),
        onUnwritable: (err) =>
          deps.log.once('unwritable', `oidc-cred: warning: the token cache ${paths.dir} cannot be written (${errnoOf(err) || err.message}); going on without a lock or a saved token`),
        onTakeover: (why) => deps.log.debug(`took over the session lock: ${why}`),
      }),
    holder: () => lockHolder(paths),
    readOutcome: () => readOutcome(paths),
    writeOutcome: (o) => writeOutcome(paths, o),
    changed: (ms, signal) => (watch ??= new DirWatch(paths.dir)).next(ms, signal),
    close: () => watch?.close(),
  };
}

/**
 * The provider, connected on first use (discovery metadata comes from the cache when it is
 * recent). When a request fails in a way that could mean the cached metadata is out of date (an
 * endpoint that is gone or answers HTML), the metadata is fetched again and a refresh or client
 * credentials request is tried once more; a login is not repeated (it would open a second tab).
 */
function providerAuthenticator(s: Settings, deps: Deps, explicit = false): Authenticator {
  let provider: Promise<Provider> | undefined;
  const client = (): Promise<typeof import('../oauth/client.js')> => import('../oauth/client.js');
  const connect = async (fresh: boolean): Promise<Provider> =>
    (await client()).connect(s, { env: deps.env, log: deps.log, signal: deps.signal }, { cacheDir: s.cacheDir, fresh });
  const withProvider = async <T,>(op: (p: Provider) => Promise<T>, retry: boolean): Promise<T> => {
    const p = await (provider ??= connect(false));
    try {
      return await op(p);
    } catch (err) {
      if (!p.metadata.fromCache || !p.metadata.suspect()) throw err;
      deps.log.debug('the cached provider metadata may be out of date; fetching it again');
      p.metadata.drop();
      provider = connect(true);
      if (!retry) throw err;
      return op(await provider);
    }
  };
  return {
    prepare: async () => {
      try {
        await (provider ??= connect(false));
      } catch (err) {
        provider = undefined; // the next attempt connects afresh
        throw err;
      }
    },
    refresh: async (rt, api) => {
      const c = await client();
      return withProvider((p) => c.refresh(p, rt, api), true);
    },
    clientCredentials: async (api) => {
      const c = await client();
      return withProvider((p) => {
        if (!p.hasSecret) throw new LoginError('client credentials need a client secret', { hint: 'set --client-secret-file or OIDC_CRED_CLIENT_SECRET' });
        return c.clientCredentials(p, api);
      }, true);
    },
    assertCanLogIn: () => assertCanLogIn(s, deps, explicit),
    login: (req, onUrl) => withProvider((p) => login(p, s, deps, req, onUrl), false),
  };
}

/**
 * A login starts only where someone can see it (docs/configuration.md, "When a login
 * starts"). An explicitly requested `--grant device`, and `oidc-cred login` itself, are the
 * exceptions: someone asked for this login, so the URL or device code goes to stderr for whoever
 * reads it (a CI log, a wrapper script, `--no-browser`), and it waits until --timeout.
 */
export function assertCanLogIn(s: Settings, deps: Pick<Deps, 'env' | 'platform' | 'stderr'>, explicit = false): void {
  if (s.nonInteractive) {
    throw new NotInteractiveError('no valid token is cached and --non-interactive forbids a login', { hint: "run 'oidc-cred login' first" });
  }
  const explicitDevice = s.grant === 'device';
  if (!explicitDevice && !explicit && !canShowLogin(s, deps.env, deps.platform, !!deps.stderr.isTTY)) {
    throw new NotInteractiveError('a login is needed, but there is no browser, display or terminal to show it', {
      hint: "run 'oidc-cred login' where you can see it, set --browser-command, or configure client credentials (--client-secret-file or OIDC_CRED_CLIENT_SECRET)",
    });
  }
}

/** The interactive grant: device when asked for, or when `auto` finds no browser to open and the provider offers it. */
async function login(p: Provider, s: Settings, deps: Deps, req: LoginRequest, onUrl?: (url: string) => void): Promise<TokenResult> {
  if (s.grant === 'device' || s.grant === 'auto') {
    const device = await import('../oauth/device.js');
    if (s.grant === 'device' || device.autoPicksDevice(p, s, deps.env, deps.platform)) {
      deps.log.debug(`using the device grant (--grant ${s.grant})`);
      return device.deviceLogin(p, s, deps, req, onUrl);
    }
  }
  const { authorizationCodeLogin } = await import('../oauth/authcode.js');
  return authorizationCodeLogin(p, s, deps, req, onUrl);
}

/** Drops the access token of a session only when `secret` is that token (git/docker `erase`). */
export async function invalidateIfOurs(s: Settings, env: Environment, secret: string, deps: Deps): Promise<boolean> {
  const { key, paths } = sessionPaths(s, env);
  const api = apiOf(s).key;
  const ours = (c: CachedSession): boolean => secret === c.apis[api]?.access_token || secret === c.id_token;
  const before = readSession(paths.file, key);
  if (!('session' in before) || !ours(before.session)) return false;
  // Under the lock, so that a refresh running right now is not overwritten with stale data.
  const lock = fileLock(paths, deps);
  const deadline = deps.now() + 30_000;
  try {
    for (;;) {
      const handle = await lock.tryAcquire();
      if (!handle) {
        if (deps.now() > deadline) return false;
        await lock.changed(250, deps.signal);
        continue;
      }
      try {
        const r = readSession(paths.file, key);
        if (!('session' in r) || !ours(r.session) || !handle.held()) return false;
        const next: CachedSession = { ...r.session, apis: { ...r.session.apis } };
        const a = next.apis[api];
        if (a && secret === a.access_token) next.apis[api] = { ...a, access_token: undefined, expires_at: undefined };
        if (secret === next.id_token) {
          next.id_token = undefined;
          next.id_token_expires_at = undefined;
        }
        writeSession(paths, next);
        return true;
      } finally {
        await handle.release();
      }
    }
  } finally {
    lock.close();
  }
}
