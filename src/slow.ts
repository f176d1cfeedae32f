// The slow half of getToken (SPEC §5, STYLE habit 5): take the lock, read the cache again (another
// process may have just logged in or refreshed), refresh before logging in, save before the lock
// is released, and record a failed login so that the processes waiting for it fail with it.
import { errnoOf, readOutcome, tryLock, UNWRITABLE, writeOutcome, type Release } from './cache/lock.js';
import { bootClock, readSession, validToken, writeSession, type CachePaths, type CachedSession, type TokenKind } from './cache/store.js';
import type { Settings } from './config/resolve.js';
import type { Deps } from './deps.js';
import { InterruptedError, LockError, LoginError, NotInteractiveError, ProviderError, RefreshRejectedError, describeError } from './errors.js';
import { canShowLogin } from './infra/browser.js';
import { cachedToken, decodeJwt, sessionPaths, validFromFile, type Environment, type TokenAnswer } from './session.js';
import type { Provider, TokenResult } from './oauth/client.js';

/** How often a waiting process looks at the cache, the outcome and the lock. */
export const POLL_MS = 200;
/** Lifetime assumed for an access token whose response gave no expires_in and that is not a JWT. */
const DEFAULT_LIFETIME_S = 3600;
/** Margin for the ID token's receipt time against its `iat` (network and provider clock skew). */
const ID_TOKEN_SKEW_S = 30;

export interface TokenRequest {
  settings: Settings;
  kind: TokenKind;
  /** `oidc-cred login`: log in even when a valid token or a refresh token is cached. */
  force?: boolean;
}

export function environment(deps: Deps): Environment {
  return { env: deps.env, platform: deps.platform, stderrIsTTY: () => !!deps.stderr.isTTY };
}

export async function getToken(req: TokenRequest, deps: Deps): Promise<TokenAnswer> {
  const s = req.settings;
  const env = environment(deps);
  if (!req.force) {
    const hot = cachedToken(s, req.kind, env, deps.now());
    if (hot) return hot;
  }
  const { key, paths, grant } = sessionPaths(s, env);
  const waitStart = deps.now();
  let announced = false;
  const failedMeanwhile = (): void => {
    const outcome = readOutcome(paths);
    if (outcome && !outcome.ok && outcome.at >= waitStart) {
      throw new LoginError(`the login in another oidc-cred process failed: ${outcome.reason ?? 'unknown reason'}`);
    }
  };
  const got = await lockOrValue(paths, deps, waitStart + s.timeout * 1000, () => {
    // Someone else is logging in or refreshing: their result is ours as soon as it is saved.
    if (!req.force) {
      const ready = validFromFile(paths, key, req.kind, s.minValid, deps.now());
      if (ready) return ready;
    }
    failedMeanwhile();
    if (!announced) {
      deps.log.info('oidc-cred: waiting for another oidc-cred process that is logging in or refreshing this session…');
      announced = true;
    }
    return undefined;
  });
  if ('value' in got) return got.value;
  const release = got.release;
  if (announced) {
    // We waited, and the holder has just let go: if its login failed, so do we (the lock can
    // fall to us before a poll has seen the outcome).
    try {
      failedMeanwhile();
    } catch (err) {
      await release();
      throw err;
    }
  }
  deps.log.debug('holding the session lock');
  try {
    return await underLock(req, deps, key, paths, grant);
  } finally {
    await release();
    deps.log.debug('released the session lock');
  }
}

/**
 * Takes the session lock, polling every POLL_MS; between tries `meanwhile` may produce the
 * answer (another process saved it) or throw (that process failed). Times out at `deadline`.
 */
async function lockOrValue<T>(paths: CachePaths, deps: Deps, deadline: number, meanwhile: () => T | undefined): Promise<{ release: Release } | { value: T }> {
  for (;;) {
    deps.signal.throwIfAborted();
    const release = await tryLock(
      paths,
      (err) => deps.log.info(`oidc-cred: warning: lost the token cache lock (${err.message}); continuing`),
      (err) => deps.log.once('unwritable', `oidc-cred: warning: the token cache ${paths.dir} cannot be written (${errnoOf(err) || err.message}); going on without a lock or a saved token`),
    );
    if (release) return { release };
    const value = meanwhile();
    if (value !== undefined) return { value };
    if (deps.now() > deadline) {
      throw new LockError('gave up waiting for another oidc-cred process (--timeout)', {
        hint: `if no other oidc-cred is running, remove ${paths.lock}`,
      });
    }
    await sleep(POLL_MS, deps.signal);
  }
}

async function underLock(req: TokenRequest, deps: Deps, key: string, paths: CachePaths, grant: CachedSession['grant']): Promise<TokenAnswer> {
  const s = req.settings;
  const r = readSession(paths.file, key);
  let current = 'session' in r ? r.session : undefined;
  if (!current && 'miss' in r && r.miss !== 'no cached session') deps.log.info(`oidc-cred: ignoring the cached session (${r.miss}); it will be replaced`);
  if (current && !req.force) {
    const v = validToken(current, req.kind, deps.now(), s.minValid);
    if (v) return { ...v, session: current };
  }
  const canRefresh = !!current?.refresh_token && grant === 'user' && !req.force;
  // Fail fast, before any network: nothing to refresh and no login allowed here (SPEC §3).
  if (!canRefresh && grant === 'user') assertCanLogIn(s, deps);
  const { connect, refresh, clientCredentials } = await import('./oauth/client.js');
  const provider = await connect(s, { env: deps.env, log: deps.log, signal: deps.signal });

  if (canRefresh && current?.refresh_token) {
    try {
      const res = await refresh(provider, current.refresh_token);
      current = save(paths, toSession(res, deps.now(), s, key, grant, current), deps.log);
      deps.log.debug('refreshed the token');
      const v = validToken(current, req.kind, deps.now(), s.minValid);
      if (v) return { ...v, session: current };
      deps.log.info(`oidc-cred: the refreshed session has no valid ${req.kind === 'id' ? 'ID' : 'access'} token; logging in again`);
    } catch (err) {
      if (!(err instanceof RefreshRejectedError)) throw err;
      // The grant is gone (revoked, expired, or a rotated token reused elsewhere): drop it.
      current = save(paths, { ...current, refresh_token: undefined }, deps.log);
      if (s.nonInteractive) {
        throw new NotInteractiveError('the session has expired and the provider no longer accepts its refresh token', { hint: "run 'oidc-cred login'" });
      }
      deps.log.info('oidc-cred: the provider no longer accepts the refresh token; logging in again');
    }
  }

  if (grant === 'client-credentials') {
    if (!provider.hasSecret) throw new LoginError('client credentials need a client secret', { hint: 'set --client-secret-file or OIDC_CRED_CLIENT_SECRET' });
    const res = await clientCredentials(provider);
    return answer(save(paths, toSession(res, deps.now(), s, key, grant, undefined), deps.log), req.kind, deps.now(), s);
  }

  assertCanLogIn(s, deps);
  let res: TokenResult;
  try {
    res = await login(provider, s, deps);
  } catch (err) {
    // Processes that waited for this login fail with it instead of opening their own tab.
    if (err instanceof LoginError || err instanceof InterruptedError || err instanceof ProviderError) {
      writeOutcome(paths, { at: deps.now(), pid: process.pid, ok: false, reason: describeError(err).replace(/^oidc-cred: /, '') });
    }
    throw err;
  }
  const saved = save(paths, toSession(res, deps.now(), s, key, grant, undefined), deps.log);
  writeOutcome(paths, { at: deps.now(), pid: process.pid, ok: true });
  return answer(saved, req.kind, deps.now(), s);
}

function answer(session: CachedSession, kind: TokenKind, now: number, s: Settings): TokenAnswer {
  // min-valid 0 here: a token the provider just issued is handed over even if it is short-lived.
  const v = validToken(session, kind, now, 0);
  if (!v) {
    throw new ProviderError(
      kind === 'id' ? 'the provider issued no ID token' : 'the provider issued no access token',
      kind === 'id' ? { hint: `request the "openid" scope (scopes now: ${s.scopes.join(' ')})` } : {},
    );
  }
  return { ...v, session };
}

/**
 * Saves a session. A full disk or a read-only cache must not cost the user the token they just
 * got: warn and hand it over uncached (the next call logs in or refreshes again).
 */
function save(paths: CachePaths, session: CachedSession, log?: Deps['log']): CachedSession {
  try {
    writeSession(paths, session);
  } catch (err) {
    const code = errnoOf(err);
    // As for the lock, plus EIO: a write can also fail part-way after the directory took the file.
    if (!log || !(UNWRITABLE.has(code) || code === 'EIO')) throw err;
    log.once('unwritable', `oidc-cred: warning: could not save the token cache (${code}); the token is handed over but not cached`);
  }
  return session;
}

/**
 * SPEC §3: a login starts only where someone can see it. An explicitly requested `--grant device`
 * is the one exception: its code goes to stderr for whoever reads it (a CI log, a wrapper script),
 * and it polls until --timeout.
 */
export function assertCanLogIn(s: Settings, deps: Deps): void {
  if (s.nonInteractive) {
    throw new NotInteractiveError('no valid token is cached and --non-interactive forbids a login', { hint: "run 'oidc-cred login' first" });
  }
  const explicitDevice = s.grant === 'device';
  if (!explicitDevice && !canShowLogin(s, deps.env, deps.platform, !!deps.stderr.isTTY)) {
    throw new NotInteractiveError('a login is needed, but there is no browser, display or terminal to show it', {
      hint: "run 'oidc-cred login' where you can see it, set --browser-command, or configure client credentials (--client-secret-file or OIDC_CRED_CLIENT_SECRET)",
    });
  }
}

/** The interactive grant (SPEC §3): device when asked for, or when `auto` finds no browser to open and the provider offers it. */
async function login(p: Provider, s: Settings, deps: Deps): Promise<TokenResult> {
  if (s.grant === 'device' || s.grant === 'auto') {
    const device = await import('./oauth/device.js');
    if (s.grant === 'device' || device.autoPicksDevice(p, s, deps.env, deps.platform)) {
      deps.log.debug(`using the device grant (--grant ${s.grant})`);
      return device.deviceLogin(p, s, deps);
    }
  }
  const { authorizationCodeLogin } = await import('./oauth/authcode.js');
  return authorizationCodeLogin(p, s, deps);
}

/** A token response as a cache entry; expiry from expires_in against the local clock at receipt. */
export function toSession(r: TokenResult, now: number, s: Settings, key: string, grant: CachedSession['grant'], previous: CachedSession | undefined): CachedSession {
  const t = r.response;
  const exp = (v: number): string => new Date(v).toISOString();
  let accessExp: number;
  if (typeof t.expires_in === 'number' && t.expires_in > 0) accessExp = now + t.expires_in * 1000;
  else {
    const jwtExp = decodeJwt(t.access_token)?.exp;
    accessExp = typeof jwtExp === 'number' ? jwtExp * 1000 : now + DEFAULT_LIFETIME_S * 1000;
  }
  const idToken = (t.id_token as string | undefined) ?? previous?.id_token;
  // The ID token's lifetime (exp − iat) counted from receipt on our clock, like expires_in: a
  // local clock that is off does not make a fresh ID token look expired (or an old one valid).
  const idClaims = t.id_token ? decodeJwt(t.id_token as string) : undefined;
  const rawExp = r.idTokenExp ?? (idClaims?.exp as number | undefined);
  const iat = idClaims?.iat;
  const idExp = typeof rawExp === 'number' ? (typeof iat === 'number' && rawExp > iat ? now / 1000 + (rawExp - iat) - ID_TOKEN_SKEW_S : rawExp) : undefined;
  const boot = bootClock();
  return {
    version: 1,
    key,
    profile: s.profile,
    issuer: s.issuer,
    client_id: s.clientId,
    grant,
    access_token: t.access_token,
    id_token: idToken,
    // RFC 6749 §6: a refresh response without a new refresh token keeps the old one valid.
    refresh_token: t.refresh_token ?? previous?.refresh_token,
    token_type: t.token_type,
    scope: t.scope ?? previous?.scope,
    expires_at: exp(accessExp),
    id_token_expires_at: t.id_token ? (typeof idExp === 'number' ? exp(idExp * 1000) : undefined) : previous?.id_token_expires_at,
    obtained_at: exp(now),
    boot_id: boot?.id,
    uptime_at: boot?.uptime,
  };
}

/** Drops the access token of a session only when `secret` is that token (git/docker `erase`). */
export async function invalidateIfOurs(s: Settings, env: Environment, secret: string, deps: Deps): Promise<boolean> {
  const { key, paths } = sessionPaths(s, env);
  const ours = (c: CachedSession): boolean => secret === c.access_token || secret === c.id_token;
  const before = readSession(paths.file, key);
  if (!('session' in before) || !ours(before.session)) return false;
  // Under the lock, so that a refresh running right now is not overwritten with stale data.
  const got = await lockOrValue(paths, deps, deps.now() + 30_000, () => undefined);
  if (!('release' in got)) return false;
  try {
    const r = readSession(paths.file, key);
    if (!('session' in r) || !ours(r.session)) return false;
    const next: CachedSession = { ...r.session };
    if (secret === next.access_token) {
      next.access_token = undefined;
      next.expires_at = undefined;
    }
    if (secret === next.id_token) {
      next.id_token = undefined;
      next.id_token_expires_at = undefined;
    }
    writeSession(paths, next);
    return true;
  } finally {
    await got.release();
  }
}


export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(t);
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

