// The token lifecycle, one use case (docs/architecture.md, "The token lifecycle"): a valid
// cached token, else take the session lock, read again (another process may have just logged
// in or refreshed), refresh before logging in, save before the lock is released, and record a
// failed login so that the processes waiting for it fail with it.
//
// It talks to the world only through the ports below — the session store, the lock with its
// outcome record, a clock and an authenticator — so that every rule is tested in-process with
// fakes (test/unit/lifecycle.test.ts); ./index.ts wires the real ones.
import type { ApiRef, ApiSpec, ApiToken, BootClock, CachedSession, GrantKind, ReadResult, TokenKind } from '../cache/store.js';
import { ApiRefusedError, errnoOf, InterruptedError, LockError, LoginError, NotInteractiveError, ProviderError, RefreshRejectedError, describeError, UNWRITABLE } from '../errors.js';
import type { LoginRequest, TokenResult } from '../oauth/client.js';
import { localTime } from '../infra/time.js';
import { DEFAULT_LIFETIME_S, freshToken, ID_TOKEN_SKEW_S, lifetimeMs, refreshMarginMs, saneLifetime } from './lifetime.js';
import { decodeJwt, type TokenAnswer } from './read.js';

/** The cache file of one session. */
export interface SessionStore {
  /** The cached session, or why there is none. Throws CacheError for a file that must not be trusted. */
  read(): ReadResult;
  /** Atomic. Throws; an error whose errno says the cache cannot be written costs only the caching. */
  write(session: CachedSession): void;
  /**
   * Under the lock, when the cached token will not do and before a refresh or a login: the
   * session with its refresh token from where it lives (the OS credential store, docs/keyring.md)
   * when `needed`, after making sure the next save can go where `--storage` says. Throws
   * (KeyringError) when the store cannot be reached, before anything is sent. Absent: the file
   * holds everything.
   */
  loadRefreshToken?(session: CachedSession | undefined, needed: boolean): CachedSession | undefined;
}

export interface LockHandle {
  /** Still ours: nobody took the lock over since we got it. */
  held(): boolean;
  release(): Promise<void>;
  /** Records the URL a login shows, for the waiting message of the processes that wait for it. */
  note?(url: string): void;
}

export interface LoginOutcome {
  /** ms since the epoch when the attempt ended */
  at: number;
  pid: number;
  ok: boolean;
  reason?: string;
}

/** The session lock, with the outcome record beside it. */
export interface SessionLock {
  /** Once; undefined when another live process holds the lock. */
  tryAcquire(): Promise<LockHandle | undefined>;
  /** Who holds it, for the waiting message. */
  holder(): { pid: number; since: number; url?: string | undefined } | undefined;
  readOutcome(): LoginOutcome | undefined;
  writeOutcome(o: LoginOutcome): void;
  /** Resolves at the next change of the cache directory, or after `ms`. */
  changed(ms: number, signal: AbortSignal): Promise<void>;
  close(): void;
}

export interface Clock {
  now(): number;
  boot(): BootClock | undefined;
}

/** The provider. Connecting (discovery) is the authenticator's business and happens on first use. */
export interface Authenticator {
  /** Connects (discovery) so that the next request goes out at once. */
  prepare(): Promise<void>;
  /** grant_type=refresh_token for that API: its audience, resources, and scopes when not empty. Throws ApiRefusedError, RefreshRejectedError. */
  refresh(refreshToken: string, api: ApiSpec): Promise<TokenResult>;
  clientCredentials(api: ApiSpec): Promise<TokenResult>;
  /** Throws NotInteractiveError when no login may start here. No network. */
  assertCanLogIn(): void;
  /** `onUrl`: the URL (login page or device verification URL) the login shows the user. */
  login(req: LoginRequest, onUrl?: (url: string) => void): Promise<TokenResult>;
}

export interface Log {
  info(line: string): void;
  once(id: string, line: string): void;
  debug(line: string | (() => string)): void;
  /** Registers a value that must never be shown. */
  secret(value: string | undefined): void;
}

export interface Ports {
  store: SessionStore;
  lock: SessionLock;
  clock: Clock;
  auth: Authenticator;
  log: Log;
  signal: AbortSignal;
  pid: number;
}

export interface Policy {
  kind: TokenKind;
  /** `oidc-cred login`: log in even when a valid token or a refresh token is cached. */
  force?: boolean | undefined;
  minValid: number;
  /** seconds a waiting process waits for another's login */
  timeout: number;
  nonInteractive: boolean;
  grant: GrantKind;
  /** The API the access token is for: its audience, resources and scopes (docs/multi-api.md). */
  api: ApiRef;
  /** What a shared login asks for: the API's audience, every resource and scope of the profiles sharing the session. */
  login: ApiSpec;
  /** For the advice when a login of the API's own is needed and may not start. */
  profile?: string | undefined;
  /** What a new session record is made of. */
  session: Pick<CachedSession, 'key' | 'profile' | 'issuer' | 'client_id'>;
}

/** How often a waiting process looks at the cache, the outcome and the lock when no change wakes it. */
export const POLL_MS = 250;

/** A holder whose lock was taken over: its work is thrown away and the attempt starts over. */
const LOST = Symbol('lost the lock');

export async function obtainToken(p: Policy, ports: Ports): Promise<TokenAnswer> {
  const { clock, log } = ports;
  // A session carried over from an older format is saved under the lock first, so that the
  // next call is a cache hit again.
  const fresh = (r: ReadResult): TokenAnswer | undefined => {
    if (!('session' in r) || r.migrated) return undefined;
    remember(r.session, log);
    const v = freshToken(r.session, p.kind, p.api.key, clock.now(), p.minValid, clock.boot());
    return v ? { ...v, session: r.session, api: p.api.key } : undefined;
  };
  if (!p.force) {
    const hot = fresh(ports.store.read());
    if (hot) return hot;
  }
  const waitStart = clock.now();
  const deadline = waitStart + p.timeout * 1000;
  let waited = false;
  let lost = 0;
  const failedMeanwhile = (): void => {
    const outcome = ports.lock.readOutcome();
    if (outcome && !outcome.ok && outcome.at >= waitStart) {
      throw new LoginError(`the login in another oidc-cred process failed: ${outcome.reason ?? 'unknown reason'}`);
    }
  };
  try {
    for (;;) {
      ports.signal.throwIfAborted();
      const handle = await ports.lock.tryAcquire();
      if (!handle) {
        // Someone else is logging in or refreshing: their result is ours as soon as it is saved.
        if (!p.force) {
          const ready = fresh(ports.store.read());
          if (ready) return ready;
        }
        failedMeanwhile();
        if (!waited) {
          waited = true;
          // Which process, since when, what it showed the user, and how long we wait: enough to
          // find the browser tab or terminal where that login waits (docs/cache.md).
          const h = ports.lock.holder();
          const now = clock.now();
          const who = h ? ` (pid ${h.pid}, since ${localTime(h.since, now)})` : '';
          const what = h?.url ? `that is logging in at ${h.url}` : 'that is logging in or refreshing this session';
          log.info(`oidc-cred: waiting for another oidc-cred process${who} ${what}; giving up at ${localTime(deadline, now)} (--timeout ${p.timeout} s)…`);
        }
        if (clock.now() > deadline) {
          throw new LockError('gave up waiting for another oidc-cred process (--timeout)', {
            hint: 'if no other oidc-cred is running, its lock is taken over within seconds; try again',
          });
        }
        await ports.lock.changed(POLL_MS, ports.signal);
        continue;
      }
      try {
        // We waited, and the holder has just let go: if its login failed, so do we (the lock can
        // fall to us before we have seen the outcome).
        if (waited) failedMeanwhile();
        log.debug('holding the session lock');
        const r = await underLock(p, ports, handle);
        if (r !== LOST) return r;
        if (++lost > 3) throw new LockError('lost the token cache lock again and again', { hint: 'another program keeps removing the lock; check the cache directory' });
        log.info('oidc-cred: warning: another oidc-cred process took over the session lock while this one was stopped; starting over');
      } finally {
        await handle.release();
        log.debug('released the session lock');
      }
    }
  } finally {
    ports.lock.close();
  }
}

async function underLock(p: Policy, ports: Ports, handle: LockHandle): Promise<TokenAnswer | typeof LOST> {
  const { store, auth, clock, log } = ports;
  const r = store.read();
  let current = 'session' in r ? r.session : undefined;
  if (!current && 'miss' in r && r.miss !== 'no cached session') log.info(`oidc-cred: ignoring the cached session (${r.miss}); it will be replaced`);
  if (current) remember(current, log);
  const save = (s: CachedSession): CachedSession => saveSession(store, s, log);
  if (current && 'migrated' in r && r.migrated) {
    current = save(current);
    log.debug('carried the session over from an older cache format');
  }
  const api = p.api.key;
  if (current && !p.force) {
    const v = freshToken(current, p.kind, api, clock.now(), p.minValid, clock.boot());
    if (v) return { ...v, session: current, api };
  }
  // Only now, under the lock and with the cached token not good enough, is the credential store
  // touched: a cache hit never loads it, and one that cannot be reached fails before a refresh
  // or a login goes out.
  if (p.grant === 'user' && store.loadRefreshToken) {
    current = store.loadRefreshToken(current, !p.force);
    if (current) remember(current, log);
  }

  if (p.grant === 'client-credentials') {
    const res = await auth.clientCredentials(p.api);
    if (!handle.held()) return LOST;
    const next = save(withApi(current ?? emptySession(clock.now(), p), api, apiToken(res, clock.now(), clock.boot(), p.api, undefined)));
    noteLifetime(next, p, log);
    return handOver(next, res, p);
  }

  // An API that has a login of its own (the shared refresh token gave no token for it) keeps
  // using it until the next shared login (docs/multi-api.md).
  const own = !p.force && p.kind === 'access' ? current?.apis[api]?.fallback : undefined;
  if (current && own) return ownLogin(p, ports, handle, current, own.reason, own.refresh_token);

  const rt = p.force ? undefined : current?.refresh_token;
  // A refresh is never tried for a resource the shared login did not request: some providers
  // consume the refresh token before refusing (docs/multi-api.md). That API logs in on its own.
  const unrequested = p.kind === 'access' && current ? p.api.resources.filter((x) => !(current!.login?.resources ?? []).includes(x)) : [];
  if (rt && current && unrequested.length) {
    return ownLogin(p, ports, handle, current, `the shared login did not request the resource ${unrequested.join(', ')}`, undefined);
  }
  // Fail fast, before any network: nothing to refresh and no login allowed here.
  if (!rt) auth.assertCanLogIn();

  if (rt && current) {
    if (!(await readyToSend(auth, handle))) return LOST;
    try {
      const res = await auth.refresh(rt, refreshParams(p.api, current));
      // Lost meanwhile: whoever took over may have saved a newer session; do not overwrite it.
      if (!handle.held()) return LOST;
      const wrong = p.kind === 'access' ? audienceProblem(res, p.api) : undefined;
      // A rotated refresh token that came with a wrong-audience answer is still the session's.
      const shared = sharedFrom(res, clock.now(), clock.boot(), p, current);
      if (wrong) {
        const next = save(shared);
        log.debug(`the refresh gave no token for this API: ${wrong}`);
        return ownLogin(p, ports, handle, next, wrong, undefined);
      }
      const next = save(withApi(shared, api, apiToken(res, clock.now(), clock.boot(), p.api, undefined)));
      log.debug('refreshed the token');
      noteLifetime(next, p, log);
      const issued = issuedToken(next, res, p.kind, api);
      if (issued) return { ...issued, session: next, api };
      log.once('no-id-token-on-refresh', 'oidc-cred: the provider issued no new ID token on refresh, so the expired one needs a new login (see docs/kubernetes.md: a longer ID-token lifetime, or --token-type access)');
      current = next;
    } catch (err) {
      if (err instanceof ApiRefusedError && p.kind === 'access') {
        if (!handle.held()) return LOST;
        log.debug(() => `the refresh for this API was refused: ${describeError(err)}`);
        return ownLogin(p, ports, handle, current, `the provider refused it (${err.message})`, undefined);
      }
      if (!(err instanceof RefreshRejectedError)) throw err;
      if (!handle.held()) return LOST;
      // The grant is gone (revoked, expired, or a rotated token reused elsewhere): drop it.
      current = save({ ...current, refresh_token: undefined });
      if (p.nonInteractive) {
        throw new NotInteractiveError('the session has expired and the provider no longer accepts its refresh token', { hint: "run 'oidc-cred login'" });
      }
      log.info('oidc-cred: the provider no longer accepts the refresh token; logging in again');
    }
  }

  auth.assertCanLogIn();
  const res = await recordedLogin(ports, { ...p.login, tokenResources: p.api.resources, tokenAudience: p.api.audience }, handle);
  // A fresh login is saved even if the lock was lost meanwhile: it reuses nothing. It starts the
  // session afresh: every API's own login is forgotten, and each refreshes from the new one.
  const fresh = sharedFrom(res, clock.now(), clock.boot(), p, undefined);
  const next = save(withApi({ ...fresh, login: p.login }, api, apiToken(res, clock.now(), clock.boot(), p.api, undefined)));
  ports.lock.writeOutcome({ at: clock.now(), pid: ports.pid, ok: true });
  warnIfSubjectChanged(current, next, log);
  noteLifetime(next, p, log);
  return handOver(next, res, p);
}

/** A login; a failed one is recorded so that the processes waiting for it fail with it instead of opening their own tab. */
/**
 * Connects, then checks that the lock is still ours: a rotated refresh token is good once, so
 * one read under a lock we no longer hold is never sent. Checked after connecting, right before
 * the request goes out. False: the lock was lost (a connect that failed meanwhile, because the
 * process was stopped and its timers ran out, counts as lost too); start over.
 */
async function readyToSend(auth: Authenticator, handle: LockHandle): Promise<boolean> {
  try {
    await auth.prepare();
  } catch (err) {
    if (!handle.held()) return false;
    throw err;
  }
  return handle.held();
}

async function recordedLogin(ports: Ports, req: LoginRequest, handle: LockHandle): Promise<TokenResult> {
  try {
    return await ports.auth.login(req, (url) => handle.note?.(url));
  } catch (caught) {
    // Ctrl-C during a login is the user cancelling it: say so, to them and to any waiter.
    const err = caught instanceof InterruptedError && caught.signal === 'SIGINT' ? new InterruptedError('SIGINT', 'login cancelled') : caught;
    // Processes that waited for this login fail with it instead of opening their own tab.
    if (err instanceof LoginError || err instanceof InterruptedError || err instanceof ProviderError) {
      ports.lock.writeOutcome({ at: ports.clock.now(), pid: ports.pid, ok: false, reason: describeError(err).replace(/^oidc-cred: /, '') });
    }
    throw err;
  }
}

/**
 * The API's login of its own (docs/multi-api.md): the shared refresh token gave no token for it.
 * Its own refresh token first, if it has one; else one login for this API alone, announced once
 * and remembered in the session (the shared tokens untouched) until the next shared login.
 */
async function ownLogin(p: Policy, ports: Ports, handle: LockHandle, current: CachedSession, reason: string, ownRefresh: string | undefined): Promise<TokenAnswer | typeof LOST> {
  const { auth, clock, log, store } = ports;
  const api = p.api.key;
  const save = (s: CachedSession): CachedSession => saveSession(store, s, log);
  const keep = (res: TokenResult, session: CachedSession, refreshToken: string | undefined): TokenAnswer => {
    const tok = apiToken(res, clock.now(), clock.boot(), p.api, { reason, refresh_token: res.response.refresh_token ?? refreshToken });
    const next = save(withApi(session, api, tok));
    noteLifetime(next, p, log);
    return handOver(next, res, p);
  };
  if (ownRefresh) {
    if (!(await readyToSend(auth, handle))) return LOST;
    try {
      // Nothing but the refresh token: that login was for this API alone, and RFC 6749 §6 keeps
      // its scope and (RFC 8707 §2.2) its resource — asking again could meet the same refusal.
      const res = await auth.refresh(ownRefresh, { resources: [], scopes: [] });
      if (!handle.held()) return LOST;
      return keep(res, current, ownRefresh);
    } catch (err) {
      if (!(err instanceof RefreshRejectedError || err instanceof ApiRefusedError)) throw err;
      if (!handle.held()) return LOST;
      log.debug('the refresh token of this API\'s own login was refused; logging in for it again');
    }
  } else {
    log.info(`oidc-cred: the shared login gives no token for ${describeApi(p.api)} (${reason}); logging in for it separately, once — this is remembered until the next shared login (docs/multi-api.md)`);
  }
  if (p.nonInteractive) {
    throw new NotInteractiveError(`${describeApi(p.api)} needs a login of its own, and --non-interactive forbids it`, { hint: `run 'oidc-cred login${p.profile ? ` --profile ${p.profile}` : ''}'` });
  }
  auth.assertCanLogIn();
  const scopes = [...new Set([...p.api.scopes, 'offline_access'])];
  const res = await recordedLogin(ports, { audience: p.api.audience, resources: p.api.resources, scopes, tokenResources: p.api.resources, tokenAudience: p.api.audience }, handle);
  ports.lock.writeOutcome({ at: clock.now(), pid: ports.pid, ok: true });
  // Read again: a save meanwhile (this process's own, above) must not be undone.
  const again = store.read();
  return keep(res, 'session' in again ? again.session : current, undefined);
}

function describeApi(a: ApiSpec): string {
  const what = [a.audience ? `audience ${a.audience}` : '', a.resources.length ? `resource ${a.resources.join(' ')}` : ''].filter(Boolean).join(', ');
  return what ? `the API (${what})` : 'this API';
}

/** A refresh asks for the API's scopes only when they differ from the login's (RFC 6749 §6: omitted means the scopes granted). */
function refreshParams(api: ApiSpec, s: CachedSession): ApiSpec {
  const login = s.login?.scopes ?? [];
  const same = login.length === api.scopes.length && api.scopes.every((x) => login.includes(x));
  return { audience: api.audience, resources: api.resources, scopes: same || !s.login ? [] : api.scopes };
}

/**
 * Why a token response is not for the API asked for, or undefined when it is (or cannot be
 * told): a JWT access token's `aud` must contain the audience and every resource (RFC 9068
 * §3, RFC 8707 §2.2). Auth0 silently answers with its default audience when no policy allows
 * the one asked for. An opaque access token is taken as it is.
 */
export function audienceProblem(res: TokenResult, api: ApiSpec): string | undefined {
  const wanted = [api.audience, ...api.resources].filter((x): x is string => !!x);
  const token = res.response.access_token;
  if (!wanted.length || typeof token !== 'string' || token.split('.').length !== 3) return undefined;
  const claims = decodeJwt(token);
  if (!claims) return undefined;
  const aud = Array.isArray(claims.aud) ? claims.aud.filter((x): x is string => typeof x === 'string') : typeof claims.aud === 'string' ? [claims.aud] : [];
  const missing = wanted.filter((w) => !aud.includes(w));
  return missing.length ? `its access token is for ${aud.length ? aud.join(', ') : 'no audience'}, not ${missing.join(', ')}` : undefined;
}

/** A token just issued is handed over however short-lived it is. */
function handOver(session: CachedSession, res: TokenResult, p: Policy): TokenAnswer {
  const v = issuedToken(session, res, p.kind, p.api.key);
  if (v) return { ...v, session, api: p.api.key };
  if (p.kind === 'id' && p.grant === 'client-credentials') {
    throw new ProviderError('a machine login (client credentials) has no ID token', { hint: 'use the access token (--token-type access)' });
  }
  throw new ProviderError(p.kind === 'id' ? 'the provider issued no ID token' : 'the provider issued no access token', p.kind === 'id' ? { hint: 'request the "openid" scope' } : {});
}

/** The token of that kind if this response carried it (and it has not already expired). */
function issuedToken(session: CachedSession, res: TokenResult, kind: TokenKind, api: string): { token: string; expiresAt: number } | undefined {
  const carried = kind === 'id' ? !!res.response.id_token : !!res.response.access_token;
  if (!carried) return undefined;
  const a = session.apis[api];
  const token = kind === 'id' ? session.id_token : a?.access_token;
  const exp = Date.parse((kind === 'id' ? session.id_token_expires_at : a?.expires_at) ?? '');
  return token && Number.isFinite(exp) ? { token, expiresAt: exp } : undefined;
}

/**
 * Saves a session. A full disk or a read-only cache must not cost the user the token they just
 * got: warn and hand it over uncached (the next call logs in or refreshes again).
 */
function saveSession(store: SessionStore, session: CachedSession, log: Log): CachedSession {
  try {
    store.write(session);
  } catch (err) {
    const code = errnoOf(err);
    // As for the lock, plus EIO: a write can also fail part-way after the directory took the file.
    if (!(UNWRITABLE.has(code) || code === 'EIO')) throw err;
    log.once('unwritable', `oidc-cred: warning: could not save the token cache (${code}); the token is handed over but not cached`);
  }
  return session;
}

/** Tokens read from the cache are as secret as fresh ones: a provider error echoing one must not print it. */
function remember(s: CachedSession, log: Log): void {
  log.secret(s.id_token);
  log.secret(s.refresh_token);
  for (const a of Object.values(s.apis)) {
    log.secret(a.access_token);
    log.secret(a.fallback?.refresh_token);
  }
}

function noteLifetime(s: CachedSession, p: Policy, log: Log): void {
  const life = lifetimeMs(s, p.kind, p.api.key);
  if (life === undefined || life / 2 >= p.minValid * 1000) return;
  const margin = Math.round(refreshMarginMs(p.minValid, life) / 1000);
  log.debug(`the provider's ${p.kind === 'id' ? 'ID' : 'access'} tokens live ${Math.round(life / 1000)} s, less than twice --min-valid ${p.minValid}: they are refreshed at ${margin} s left`);
}

function warnIfSubjectChanged(before: CachedSession | undefined, after: CachedSession, log: Log): void {
  const was = decodeJwt(before?.id_token)?.sub;
  const now = decodeJwt(after.id_token)?.sub;
  if (typeof was === 'string' && typeof now === 'string' && was !== now) {
    log.info(`oidc-cred: warning: this login is for another account (subject ${now}) than the session it replaces (subject ${was}); if you did not mean to switch accounts, run 'oidc-cred logout' and log in again`);
  }
}

/** When a token expires: expires_in against the local clock at receipt, else a JWT's exp − iat, else an hour. */
function accessExpiry(r: TokenResult, now: number): number {
  const t = r.response;
  const stated = saneLifetime(t.expires_in);
  if (stated !== undefined) return now + stated * 1000;
  const jwt = decodeJwt(t.access_token);
  const fromJwt = typeof jwt?.exp === 'number' && typeof jwt.iat === 'number' ? saneLifetime(jwt.exp - jwt.iat) : undefined;
  return now + (fromJwt ?? DEFAULT_LIFETIME_S) * 1000;
}

/** One API's access token from a token response. */
export function apiToken(r: TokenResult, now: number, boot: BootClock | undefined, api: ApiSpec, fallback: ApiToken['fallback']): ApiToken {
  const t = r.response;
  return {
    audience: api.audience,
    resources: api.resources,
    scopes: api.scopes,
    access_token: t.access_token,
    token_type: t.token_type,
    scope: t.scope,
    expires_at: new Date(accessExpiry(r, now)).toISOString(),
    obtained_at: new Date(now).toISOString(),
    boot_id: boot?.id,
    uptime_at: boot?.uptime,
    ...(fallback ? { fallback } : {}),
  };
}

function withApi(s: CachedSession, api: string, token: ApiToken): CachedSession {
  return { ...s, apis: { ...s.apis, [api]: token } };
}

function emptySession(now: number, p: Pick<Policy, 'grant' | 'session'>): CachedSession {
  return { version: 2, ...p.session, grant: p.grant, obtained_at: new Date(now).toISOString(), apis: {} };
}

/**
 * The shared part of a session after a token response — the ID token and the refresh token —,
 * keeping the other APIs' tokens of `previous`.
 */
export function sharedFrom(r: TokenResult, now: number, boot: BootClock | undefined, p: Pick<Policy, 'grant' | 'session'>, previous: CachedSession | undefined): CachedSession {
  const t = r.response;
  const iso = (ms: number): string => new Date(ms).toISOString();
  const newIdToken = typeof t.id_token === 'string' && t.id_token ? t.id_token : undefined;
  // The ID token's lifetime (exp − iat) counted from receipt on our clock, like expires_in: a
  // local clock that is off does not make a fresh ID token look expired (or an old one valid).
  let idExp: string | undefined;
  if (newIdToken) {
    const claims = decodeJwt(newIdToken);
    const exp = r.idTokenExp ?? (claims?.exp as number | undefined);
    const iat = claims?.iat;
    const life = typeof exp === 'number' && typeof iat === 'number' ? saneLifetime(exp - iat) : undefined;
    if (life !== undefined) idExp = iso(now + (life - Math.min(ID_TOKEN_SKEW_S, life / 2)) * 1000);
    else if (typeof exp === 'number' && Number.isFinite(exp)) idExp = iso(Math.min(exp * 1000, now + MAX_MS));
  }
  const keptId = !newIdToken && previous?.id_token ? previous : undefined;
  return {
    version: 2,
    ...p.session,
    grant: p.grant,
    id_token: newIdToken ?? keptId?.id_token,
    // RFC 6749 §6: a refresh response without a new refresh token keeps the old one valid.
    refresh_token: t.refresh_token ?? previous?.refresh_token,
    scope: previous?.scope ?? t.scope,
    id_token_expires_at: newIdToken ? idExp : keptId?.id_token_expires_at,
    obtained_at: iso(now),
    // A kept ID token keeps its own receipt time, so its lifetime is not mistaken for the new one's.
    id_token_obtained_at: keptId ? (keptId.id_token_obtained_at ?? keptId.obtained_at) : undefined,
    id_token_uptime_at: keptId ? (keptId.id_token_obtained_at ? keptId.id_token_uptime_at : keptId.uptime_at) : undefined,
    boot_id: boot?.id,
    uptime_at: boot?.uptime,
    login: previous?.login,
    apis: previous?.apis ?? {},
  };
}

/** A token response as a whole session record (one API): what a login saves. */
export function toSession(r: TokenResult, now: number, boot: BootClock | undefined, p: Pick<Policy, 'grant' | 'session' | 'api' | 'login'>, previous: CachedSession | undefined): CachedSession {
  const shared = sharedFrom(r, now, boot, p, previous);
  return withApi({ ...shared, login: previous?.login ?? p.login }, p.api.key, apiToken(r, now, boot, p.api, undefined));
}

const MAX_MS = 366 * 24 * 3600 * 1000;
