// The token lifecycle, one use case (docs/architecture.md, "The token lifecycle"): a valid
// cached token, else take the session lock, read again (another process may have just logged
// in or refreshed), refresh before logging in, save before the lock is released, and record a
// failed login so that the processes waiting for it fail with it.
//
// It talks to the world only through the ports below — the session store, the lock with its
// outcome record, a clock and an authenticator — so that every rule is tested in-process with
// fakes (test/unit/lifecycle.test.ts); ./index.ts wires the real ones.
import type { BootClock, CachedSession, GrantKind, ReadResult, TokenKind } from '../cache/store.js';
import { localTime } from '../infra/time.js';
import { errnoOf, InterruptedError, LockError, LoginError, NotInteractiveError, ProviderError, RefreshRejectedError, describeError, UNWRITABLE } from '../errors.js';
import type { TokenResult } from '../oauth/client.js';
import { DEFAULT_LIFETIME_S, freshToken, ID_TOKEN_SKEW_S, lifetimeMs, refreshMarginMs, saneLifetime } from './lifetime.js';
import { decodeJwt, type TokenAnswer } from './read.js';

/** The cache file of one session. */
export interface SessionStore {
  /** The cached session, or why there is none. Throws CacheError for a file that must not be trusted. */
  read(): ReadResult;
  /** Atomic. Throws; an error whose errno says the cache cannot be written costs only the caching. */
  write(session: CachedSession): void;
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
  refresh(refreshToken: string): Promise<TokenResult>;
  clientCredentials(): Promise<TokenResult>;
  /** Throws NotInteractiveError when no login may start here. No network. */
  assertCanLogIn(): void;
  /** `onUrl`: the URL (login page or device verification URL) the login shows the user. */
  login(onUrl?: (url: string) => void): Promise<TokenResult>;
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
  /** What a new session record is made of. */
  session: Pick<CachedSession, 'key' | 'profile' | 'issuer' | 'client_id'>;
}

/** How often a waiting process looks at the cache, the outcome and the lock when no change wakes it. */
export const POLL_MS = 250;

/** A holder whose lock was taken over: its work is thrown away and the attempt starts over. */
const LOST = Symbol('lost the lock');

export async function obtainToken(p: Policy, ports: Ports): Promise<TokenAnswer> {
  const { clock, log } = ports;
  const fresh = (r: ReadResult): TokenAnswer | undefined => {
    if (!('session' in r)) return undefined;
    remember(r.session, log);
    const v = freshToken(r.session, p.kind, clock.now(), p.minValid, clock.boot());
    return v ? { ...v, session: r.session } : undefined;
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
  if (current && !p.force) {
    const v = freshToken(current, p.kind, clock.now(), p.minValid, clock.boot());
    if (v) return { ...v, session: current };
  }
  const save = (s: CachedSession): CachedSession => saveSession(store, s, log);
  const canRefresh = !!current?.refresh_token && p.grant === 'user' && !p.force;
  // Fail fast, before any network: nothing to refresh and no login allowed here.
  if (!canRefresh && p.grant === 'user') auth.assertCanLogIn();

  if (canRefresh && current?.refresh_token) {
    // A rotated refresh token is good once: never send one read under a lock we no longer hold.
    // Checked after connecting, right before the request goes out.
    await auth.prepare();
    if (!handle.held()) return LOST;
    try {
      const res = await auth.refresh(current.refresh_token);
      // Lost meanwhile: whoever took over may have saved a newer session; do not overwrite it.
      if (!handle.held()) return LOST;
      const next = save(toSession(res, clock.now(), clock.boot(), p, current));
      log.debug('refreshed the token');
      noteLifetime(next, p, log);
      const issued = issuedToken(next, res, p.kind);
      if (issued) return { ...issued, session: next };
      log.once('no-id-token-on-refresh', 'oidc-cred: the provider issued no new ID token on refresh, so the expired one needs a new login (see docs/kubernetes.md: a longer ID-token lifetime, or --token-type access)');
      current = next;
    } catch (err) {
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

  if (p.grant === 'client-credentials') {
    const res = await auth.clientCredentials();
    if (!handle.held()) return LOST;
    const next = save(toSession(res, clock.now(), clock.boot(), p, undefined));
    noteLifetime(next, p, log);
    return handOver(next, res, p);
  }

  auth.assertCanLogIn();
  let res: TokenResult;
  try {
    res = await auth.login((url) => handle.note?.(url));
  } catch (caught) {
    // Ctrl-C during a login is the user cancelling it: say so, to them and to any waiter.
    const err = caught instanceof InterruptedError && caught.signal === 'SIGINT' ? new InterruptedError('SIGINT', 'login cancelled') : caught;
    // Processes that waited for this login fail with it instead of opening their own tab.
    if (err instanceof LoginError || err instanceof InterruptedError || err instanceof ProviderError) {
      ports.lock.writeOutcome({ at: clock.now(), pid: ports.pid, ok: false, reason: describeError(err).replace(/^oidc-cred: /, '') });
    }
    throw err;
  }
  // A fresh login is saved even if the lock was lost meanwhile: it reuses nothing.
  const next = save(toSession(res, clock.now(), clock.boot(), p, undefined));
  ports.lock.writeOutcome({ at: clock.now(), pid: ports.pid, ok: true });
  warnIfSubjectChanged(current, next, log);
  noteLifetime(next, p, log);
  return handOver(next, res, p);
}

/** A token the provider has just issued is handed over however short-lived it is. */
function handOver(session: CachedSession, res: TokenResult, p: Policy): TokenAnswer {
  const v = issuedToken(session, res, p.kind);
  if (v) return { ...v, session };
  if (p.kind === 'id' && p.grant === 'client-credentials') {
    throw new ProviderError('a machine login (client credentials) has no ID token', { hint: 'use the access token (--token-type access)' });
  }
  throw new ProviderError(p.kind === 'id' ? 'the provider issued no ID token' : 'the provider issued no access token', p.kind === 'id' ? { hint: 'request the "openid" scope' } : {});
}

/** The token of that kind if this response carried it (and it has not already expired). */
function issuedToken(session: CachedSession, res: TokenResult, kind: TokenKind): { token: string; expiresAt: number } | undefined {
  const carried = kind === 'id' ? !!res.response.id_token : !!res.response.access_token;
  if (!carried) return undefined;
  const token = kind === 'id' ? session.id_token : session.access_token;
  const exp = Date.parse((kind === 'id' ? session.id_token_expires_at : session.expires_at) ?? '');
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
  log.secret(s.access_token);
  log.secret(s.id_token);
  log.secret(s.refresh_token);
}

function noteLifetime(s: CachedSession, p: Policy, log: Log): void {
  const life = lifetimeMs(s, p.kind);
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

/** A token response as a cache record; expiry from expires_in against the local clock at receipt. */
export function toSession(r: TokenResult, now: number, boot: BootClock | undefined, p: Pick<Policy, 'grant' | 'session'>, previous: CachedSession | undefined): CachedSession {
  const t = r.response;
  const iso = (ms: number): string => new Date(ms).toISOString();
  const stated = saneLifetime(t.expires_in);
  let accessExp: number;
  if (stated !== undefined) accessExp = now + stated * 1000;
  else {
    const jwt = decodeJwt(t.access_token);
    const fromJwt = typeof jwt?.exp === 'number' && typeof jwt.iat === 'number' ? saneLifetime(jwt.exp - jwt.iat) : undefined;
    accessExp = now + (fromJwt ?? DEFAULT_LIFETIME_S) * 1000;
  }
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
    version: 1,
    ...p.session,
    grant: p.grant,
    access_token: t.access_token,
    id_token: newIdToken ?? keptId?.id_token,
    // RFC 6749 §6: a refresh response without a new refresh token keeps the old one valid.
    refresh_token: t.refresh_token ?? previous?.refresh_token,
    token_type: t.token_type,
    scope: t.scope ?? previous?.scope,
    expires_at: iso(accessExp),
    id_token_expires_at: newIdToken ? idExp : keptId?.id_token_expires_at,
    obtained_at: iso(now),
    // A kept ID token keeps its own receipt time, so its lifetime is not mistaken for the new one's.
    id_token_obtained_at: keptId ? (keptId.id_token_obtained_at ?? keptId.obtained_at) : undefined,
    id_token_uptime_at: keptId ? (keptId.id_token_obtained_at ? keptId.id_token_uptime_at : keptId.uptime_at) : undefined,
    boot_id: boot?.id,
    uptime_at: boot?.uptime,
  };
}

const MAX_MS = 366 * 24 * 3600 * 1000;
