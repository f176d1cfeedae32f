// The token lifecycle as a table (docs/architecture.md, "The token lifecycle"): one row per rule,
// in-process, with fakes for its ports — the session store, the lock with its outcome record, a
// clock and an authenticator. Each row fails when its rule is broken. The many-process
// invariants and the real peers are in test/integration/.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { apiKey, type ApiRef, type ApiSpec, type CachedSession, type ReadResult } from '../../src/cache/store.ts';
import { ApiRefusedError, InterruptedError, KeyringError, LoginError, NotInteractiveError, ProviderError, RefreshRejectedError } from '../../src/errors.ts';
import { localTime } from '../../src/infra/time.ts';
import type { LoginRequest, TokenResult } from '../../src/oauth/client.ts';
import { obtainToken, toSession, type LockHandle, type LoginOutcome, type Policy, type Ports } from '../../src/session/lifecycle.ts';

const T0 = Date.parse('2026-06-01T12:00:00Z');
const KEY = 'k'.repeat(64);

function jwt(claims: Record<string, unknown>): string {
  const b = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${b({ alg: 'none' })}.${b(claims)}.sig`;
}

let serial = 0;
/** A token response as the provider would send it. */
function issued(o: { life?: number; idLife?: number; refresh?: string | null; sub?: string; expiresIn?: unknown; noAccess?: boolean; aud?: string } = {}): TokenResult {
  serial++;
  const life = o.life ?? 3600;
  const response: Record<string, unknown> = { token_type: 'Bearer', scope: 'openid offline_access' };
  // A JWT access token when an audience is given (RFC 9068), else an opaque one.
  if (!o.noAccess) response.access_token = o.aud ? jwt({ aud: o.aud, jti: `access-${serial}` }) : `access-${serial}`;
  response.expires_in = 'expiresIn' in o ? o.expiresIn : life;
  if (o.refresh !== null) response.refresh_token = o.refresh ?? `refresh-${serial}`;
  if (o.idLife !== undefined) {
    const iat = Math.floor(T0 / 1000);
    response.id_token = jwt({ sub: o.sub ?? 'alice', iat, exp: iat + o.idLife, jti: serial });
  }
  return { response, idTokenExp: undefined } as unknown as TokenResult;
}

interface World {
  now: number;
  session: CachedSession | undefined;
  writes: CachedSession[];
  writeError?: string;
  /** Tries of tryAcquire that find the lock held by another process. */
  heldByOther: number;
  /** Called at each wait: another process's work becomes visible. */
  onWait?: (w: World) => void;
  outcome?: LoginOutcome;
  outcomes: LoginOutcome[];
  /** held() answers; default always true. */
  held: () => boolean;
  calls: string[];
  lines: string[];
  secrets: Set<string>;
  refresh: (rt: string, api: ApiSpec) => TokenResult;
  login: (req: LoginRequest, onUrl?: (url: string) => void) => TokenResult;
  refreshes: Array<{ rt: string; api: ApiSpec }>;
  logins: LoginRequest[];
  clientCredentials: () => TokenResult;
  /** Connecting; throws to fail it. */
  prepare?: () => void;
  /** What the holder recorded its login shows (the lock's note). */
  holderUrl?: string;
  /** What this process's login recorded through its lock handle. */
  notes?: string[];
  canLogIn: boolean;
  acquired: number;
  released: number;
}

function world(over: Partial<World> = {}): World {
  return {
    now: T0,
    session: undefined,
    writes: [],
    heldByOther: 0,
    outcomes: [],
    held: () => true,
    calls: [],
    lines: [],
    secrets: new Set(),
    refresh: () => issued(),
    login: () => issued({ idLife: 3600 }),
    clientCredentials: () => issued({ refresh: null }),
    canLogIn: true,
    refreshes: [],
    logins: [],
    acquired: 0,
    released: 0,
    ...over,
  };
}

function ports(w: World): Ports {
  return {
    store: {
      read: (): ReadResult => (w.session ? { session: structuredClone(w.session) } : { miss: 'no cached session' }),
      write: (s) => {
        if (w.writeError) throw Object.assign(new Error('write failed'), { code: w.writeError });
        w.writes.push(s);
        w.session = structuredClone(s);
      },
    },
    lock: {
      tryAcquire: async (): Promise<LockHandle | undefined> => {
        if (w.heldByOther > 0) {
          w.heldByOther--;
          return undefined;
        }
        w.acquired++;
        return { held: () => w.held(), release: async () => void w.released++, note: (u) => void (w.notes ??= []).push(u) };
      },
      holder: () => ({ pid: 4242, since: T0, url: w.holderUrl }),
      readOutcome: () => w.outcome,
      writeOutcome: (o) => void w.outcomes.push(o),
      changed: async () => w.onWait?.(w),
      close: () => undefined,
    },
    clock: { now: () => w.now, boot: () => undefined },
    auth: {
      prepare: async () => w.prepare?.(),
      refresh: async (rt, api) => {
        w.calls.push(`refresh ${rt}`);
        w.refreshes.push({ rt, api });
        return w.refresh(rt, api);
      },
      clientCredentials: async () => {
        w.calls.push('client-credentials');
        return w.clientCredentials();
      },
      assertCanLogIn: () => {
        if (!w.canLogIn) throw new NotInteractiveError('no valid token is cached and --non-interactive forbids a login');
      },
      login: async (req, onUrl) => {
        w.calls.push('login');
        w.logins.push(req);
        return w.login(req, onUrl);
      },
    },
    log: {
      info: (l) => void w.lines.push(l),
      once: (_id, l) => void (w.lines.includes(l) || w.lines.push(l)),
      debug: (l) => void w.lines.push(`debug: ${typeof l === 'function' ? l() : l}`),
      secret: (v) => void (v && w.secrets.add(v)),
    },
    signal: new AbortController().signal,
    pid: 1234,
  };
}

function apiRef(audience: string | undefined, resources: string[] = [], scopes: string[] = ['offline_access', 'openid']): ApiRef {
  const spec = { audience, resources, scopes };
  return { ...spec, key: apiKey(spec) };
}
const PLAIN = apiRef(undefined);

function policy(over: Partial<Policy> = {}): Policy {
  const api = over.api ?? PLAIN;
  return {
    kind: 'access',
    minValid: 60,
    timeout: 300,
    nonInteractive: false,
    grant: 'user',
    api,
    login: { audience: api.audience, resources: api.resources, scopes: api.scopes },
    session: { key: KEY, issuer: 'https://idp.example', client_id: 'c', profile: 'p' },
    ...over,
  };
}

/** The access token a session holds for an API. */
function at(s: CachedSession | undefined, api: ApiRef = PLAIN): string | undefined {
  return s?.apis[api.key]?.access_token;
}

/** A session as a login at `at` with these lifetimes would have saved it. */
function sessionFrom(res: TokenResult, at: number, p: Policy = policy()): CachedSession {
  return toSession(res, at, undefined, p, undefined);
}

const minutes = (n: number): number => n * 60_000;

describe('the token lifecycle (one row per rule)', () => {
  it('cache hit: the cached token, no lock, no provider', async () => {
    const w = world({ session: sessionFrom(issued(), T0 - minutes(10)) });
    const a = await obtainToken(policy(), ports(w));
    assert.equal(a.token, at(w.session));
    assert.equal(w.acquired, 0, 'no lock');
    assert.deepEqual(w.calls, []);
  });

  it('expiring → exactly one refresh, saved before the lock is released, the new token handed over', async () => {
    const w = world({ session: sessionFrom(issued({ refresh: 'rt-1' }), T0 - minutes(59.5)) });
    const a = await obtainToken(policy(), ports(w));
    assert.deepEqual(w.calls, ['refresh rt-1']);
    assert.equal(w.writes.length, 1);
    assert.equal(a.token, at(w.writes[0]));
    assert.notEqual(w.writes[0]!.refresh_token, 'rt-1', 'the rotated refresh token replaced the old one');
    assert.equal(w.released, 1);
  });

  it('refresh rejected → the refresh token is dropped and a login follows', async () => {
    const w = world({
      session: sessionFrom(issued({ refresh: 'dead' }), T0 - minutes(61)),
      refresh: () => {
        throw new RefreshRejectedError('the provider no longer accepts the refresh token');
      },
    });
    const a = await obtainToken(policy(), ports(w));
    assert.deepEqual(w.calls, ['refresh dead', 'login']);
    assert.equal(w.writes[0]!.refresh_token, undefined, 'dropped first');
    assert.equal(a.token, at(w.session));
    assert.ok(w.outcomes.some((o) => o.ok), 'the login is recorded for waiters');
  });

  it('refresh rejected, non-interactive → fails with advice, the dead refresh token dropped, no login', async () => {
    const w = world({
      session: sessionFrom(issued({ refresh: 'dead' }), T0 - minutes(61)),
      refresh: () => {
        throw new RefreshRejectedError('rejected');
      },
    });
    await assert.rejects(obtainToken(policy({ nonInteractive: true }), ports(w)), (e: Error) => e instanceof NotInteractiveError && /oidc-cred login/.test((e as NotInteractiveError).hint ?? ''));
    assert.deepEqual(w.calls, ['refresh dead']);
    assert.equal(w.session!.refresh_token, undefined);
  });

  it('a provider error other than a rejection keeps the refresh token', async () => {
    const w = world({
      session: sessionFrom(issued({ refresh: 'rt-1' }), T0 - minutes(61)),
      refresh: () => {
        throw new ProviderError('could not refresh the token: HTTP 503');
      },
    });
    await assert.rejects(obtainToken(policy(), ports(w)), ProviderError);
    assert.equal(w.writes.length, 0);
    assert.equal(w.session!.refresh_token, 'rt-1');
    assert.ok(!w.calls.includes('login'));
  });

  it('no refresh token and no login allowed → fails before any network', async () => {
    const w = world({ session: sessionFrom(issued({ refresh: null }), T0 - minutes(61)), canLogIn: false });
    await assert.rejects(obtainToken(policy({ nonInteractive: true }), ports(w)), NotInteractiveError);
    assert.deepEqual(w.calls, []);
  });

  it('waiter receives the holder’s token: no refresh, no login of its own', async () => {
    const w = world({
      session: sessionFrom(issued({ refresh: 'rt-1' }), T0 - minutes(61)),
      heldByOther: 100,
      onWait: (x) => {
        x.session = sessionFrom(issued({ refresh: 'rt-2' }), x.now);
      },
    });
    const a = await obtainToken(policy(), ports(w));
    assert.equal(a.token, at(w.session));
    assert.deepEqual(w.calls, []);
    assert.equal(w.acquired, 0);
    const expected = `oidc-cred: waiting for another oidc-cred process (pid 4242, since ${localTime(T0, T0)}) that is logging in or refreshing this session; giving up at ${localTime(T0 + 300_000, T0)} (--timeout 300 s)…`;
    assert.equal(w.lines.filter((l) => l === expected).length, 1, `said once, with the holder: ${w.lines.join('\n')}`);
  });

  it('the waiting message names the URL the holder’s login shows; a holder records its own', async () => {
    const w = world({
      heldByOther: 100,
      holderUrl: 'http://127.0.0.1:41234/',
      onWait: (x) => {
        x.session = sessionFrom(issued({ refresh: 'rt-2' }), x.now);
      },
    });
    await obtainToken(policy(), ports(w));
    assert.ok(w.lines.includes(`oidc-cred: waiting for another oidc-cred process (pid 4242, since ${localTime(T0, T0)}) that is logging in at http://127.0.0.1:41234/; giving up at ${localTime(T0 + 300_000, T0)} (--timeout 300 s)…`), w.lines.join('\n'));
    const h = world({ login: (_req, onUrl) => (onUrl?.('http://127.0.0.1:5555/'), issued({ idLife: 3600 })) });
    await obtainToken(policy(), ports(h));
    assert.deepEqual(h.notes, ['http://127.0.0.1:5555/']);
  });

  it('Ctrl-C during a login: "login cancelled", for the user and for the waiters', async () => {
    const w = world({
      login: () => {
        throw new InterruptedError('SIGINT');
      },
    });
    await assert.rejects(obtainToken(policy(), ports(w)), (e: Error) => e instanceof InterruptedError && e.message === 'login cancelled' && e.exitCode === 130);
    assert.equal(w.outcomes[0]?.reason, 'login cancelled');
  });

  it('waiter sees the holder’s failed login: fails with the same reason, no login of its own', async () => {
    const w = world({
      heldByOther: 100,
      onWait: (x) => {
        x.outcome = { at: x.now, pid: 4242, ok: false, reason: 'the provider refused the login: access_denied' };
      },
    });
    await assert.rejects(obtainToken(policy(), ports(w)), (e: Error) => e instanceof LoginError && /access_denied/.test(e.message));
    assert.deepEqual(w.calls, []);
  });

  it('waiter that gets the lock just after a failed login fails with it too', async () => {
    const w = world({
      heldByOther: 1,
      onWait: (x) => {
        x.outcome = { at: x.now, pid: 4242, ok: false, reason: 'login cancelled' };
      },
    });
    await assert.rejects(obtainToken(policy(), ports(w)), /login cancelled/);
    assert.deepEqual(w.calls, []);
    assert.equal(w.released, 1, 'the lock is released');
  });

  it('an old failed outcome (before this call started) does not fail a new call', async () => {
    const w = world({ outcome: { at: T0 - 1000, pid: 1, ok: false, reason: 'old' } });
    const a = await obtainToken(policy(), ports(w));
    assert.deepEqual(w.calls, ['login']);
    assert.ok(a.token);
  });

  it('lock lost before the refresh: the refresh token read under it is never used; start over with the newer session', async () => {
    let first = true;
    const w = world({ session: sessionFrom(issued({ refresh: 'rt-old' }), T0 - minutes(61)) });
    w.held = () => {
      if (!first) return true;
      first = false;
      // Meanwhile the process that took over refreshed and saved a newer session.
      w.session = sessionFrom(issued({ refresh: 'rt-new' }), w.now);
      return false;
    };
    const a = await obtainToken(policy(), ports(w));
    assert.ok(!w.calls.includes('refresh rt-old'), 'the old refresh token was not sent');
    assert.deepEqual(w.calls, []);
    assert.equal(a.session.refresh_token, 'rt-new');
    assert.equal(w.writes.length, 0);
    assert.ok(w.lines.some((l) => /took over the session lock/.test(l)));
  });

  it('connecting fails because the process was stopped and its lock taken over: start over, not fail', async () => {
    let stopped = true;
    const w = world({ session: sessionFrom(issued({ refresh: 'rt-old' }), T0 - minutes(61)) });
    w.prepare = () => {
      if (!stopped) return;
      stopped = false;
      w.session = sessionFrom(issued({ refresh: 'rt-new' }), w.now); // the taker saved meanwhile
      throw new ProviderError('no answer from https://idp.example: timed out connecting');
    };
    let checks = 0;
    w.held = () => ++checks > 1; // lost at the first check, ours again after starting over
    const a = await obtainToken(policy(), ports(w));
    assert.equal(a.session.refresh_token, 'rt-new');
    assert.deepEqual(w.calls, []);
  });

  it('lock lost during the refresh: the newer session is not overwritten', async () => {
    let calls = 0;
    const w = world({ session: sessionFrom(issued({ refresh: 'rt-1' }), T0 - minutes(61)) });
    w.held = () => ++calls !== 2; // true before the refresh, false after it
    w.refresh = () => {
      w.session = sessionFrom(issued({ refresh: 'rt-theirs' }), w.now); // the other process saved
      return issued({ refresh: 'rt-mine' });
    };
    const a = await obtainToken(policy(), ports(w));
    assert.equal(w.writes.length, 0, 'nothing saved over the newer session');
    assert.equal(w.session!.refresh_token, 'rt-theirs');
    assert.equal(a.session.refresh_token, 'rt-theirs');
  });

  it('unwritable cache: the token is handed over anyway, with one warning', async () => {
    const w = world({ writeError: 'EROFS' });
    const a = await obtainToken(policy(), ports(w));
    assert.ok(a.token.startsWith('access-'));
    assert.equal(w.lines.filter((l) => /could not save the token cache \(EROFS\)/.test(l)).length, 1);
  });

  it('a write error that is not about the disk is not swallowed', async () => {
    const w = world({ writeError: 'EBADF' });
    await assert.rejects(obtainToken(policy(), ports(w)), /write failed/);
  });

  it('client credentials: the client’s own token, never a refresh or a login', async () => {
    const w = world({ session: { ...sessionFrom(issued({ refresh: 'rt-x' }), T0 - minutes(61)), grant: 'client-credentials' } });
    const a = await obtainToken(policy({ grant: 'client-credentials' }), ports(w));
    assert.deepEqual(w.calls, ['client-credentials']);
    assert.ok(a.token);
  });

  it('client credentials have no ID token: said plainly, not "request openid"', async () => {
    const w = world();
    await assert.rejects(obtainToken(policy({ grant: 'client-credentials', kind: 'id' }), ports(w)), /machine login \(client credentials\) has no ID token/);
  });

  it('ID token vs access token: each is judged by its own expiry', async () => {
    // Access token good for an hour, ID token already inside its margin.
    const s = sessionFrom(issued({ idLife: 600, refresh: 'rt-1' }), T0 - minutes(9));
    const w = world({ session: s, refresh: () => issued({ idLife: 600 }) });
    const access = await obtainToken(policy({ kind: 'access' }), ports(w));
    assert.equal(access.token, at(s));
    assert.deepEqual(w.calls, []);
    const id = await obtainToken(policy({ kind: 'id' }), ports(w));
    assert.deepEqual(w.calls, ['refresh rt-1']);
    assert.notEqual(id.token, s.id_token);
  });

  it('a provider that issues no refresh token: the next expiry logs in again (no refresh attempted)', async () => {
    const w = world({ login: () => issued({ refresh: null, idLife: 3600 }) });
    await obtainToken(policy(), ports(w));
    assert.equal(w.session!.refresh_token, undefined);
    w.now += minutes(59.5);
    await obtainToken(policy(), ports(w));
    assert.deepEqual(w.calls, ['login', 'login']);
  });

  it('a refresh that brings no new ID token keeps the old one; kube then needs a login, said once', async () => {
    const s = sessionFrom(issued({ idLife: 300, refresh: 'rt-1' }), T0 - minutes(4.9));
    const w = world({ session: s, refresh: () => issued({}) });
    const a = await obtainToken(policy({ kind: 'id' }), ports(w));
    assert.deepEqual(w.calls, ['refresh rt-1', 'login']);
    assert.ok(a.token);
    assert.equal(w.lines.filter((l) => /issued no new ID token on refresh/.test(l)).length, 1);
  });

  it('`login` (force) logs in even with a valid token and a refresh token', async () => {
    const w = world({ session: sessionFrom(issued({ refresh: 'rt-1' }), T0) });
    await obtainToken(policy({ force: true }), ports(w));
    assert.deepEqual(w.calls, ['login']);
  });

  it('a re-login for another account says so', async () => {
    const w = world({ session: sessionFrom(issued({ idLife: 3600, sub: 'alice', refresh: null }), T0 - minutes(61)), login: () => issued({ idLife: 3600, sub: 'mallory' }) });
    await obtainToken(policy(), ports(w));
    assert.ok(w.lines.some((l) => /another account \(subject mallory\) than the session it replaces \(subject alice\)/.test(l)));
  });

  it('tokens read from the cache are registered for redaction', async () => {
    const s = sessionFrom(issued({ idLife: 3600, refresh: 'rt-secret-value' }), T0);
    const w = world({ session: s });
    await obtainToken(policy(), ports(w));
    for (const t of [at(s)!, s.id_token!, 'rt-secret-value']) assert.ok(w.secrets.has(t), t);
  });
});

describe('lifetimes: the refresh margin is min(--min-valid, lifetime / 2)', () => {
  it('60 s access tokens with the default --min-valid 60: refreshed at 30 s left, never a login', async () => {
    const w = world({ login: () => issued({ life: 60 }), refresh: () => issued({ life: 60 }) });
    await obtainToken(policy(), ports(w));
    for (let i = 0; i < 40; i++) {
      w.now += 5_000;
      await obtainToken(policy(), ports(w));
    }
    const logins = w.calls.filter((c) => c === 'login').length;
    const refreshes = w.calls.filter((c) => c.startsWith('refresh')).length;
    assert.equal(logins, 1, 'one login in 200 s of calls');
    // 200 s of calls, a refresh every ~30 s.
    assert.ok(refreshes >= 5 && refreshes <= 8, `refreshes: ${refreshes}`);
  });

  it('a token just issued is handed over however short, and the next call uses it (no refresh per call)', async () => {
    const w = world({ login: () => issued({ life: 4 }), refresh: () => issued({ life: 4 }) });
    const a = await obtainToken(policy(), ports(w));
    assert.ok(a.token);
    w.now += 1_000;
    const b = await obtainToken(policy(), ports(w));
    assert.equal(b.token, a.token, 'still more than half its life left');
    w.now += 2_000;
    await obtainToken(policy(), ports(w));
    assert.deepEqual(w.calls, ['login', `refresh ${a.session.refresh_token}`]);
  });

  it('--min-valid 100000: never a browser after the first login', async () => {
    const w = world({ login: () => issued({ life: 300 }), refresh: () => issued({ life: 300 }) });
    for (let i = 0; i < 20; i++) {
      await obtainToken(policy({ minValid: 100_000 }), ports(w));
      w.now += 60_000;
    }
    assert.equal(w.calls.filter((c) => c === 'login').length, 1);
  });

  it('90 s ID tokens for kube: never a login after the first (the skew is capped too)', async () => {
    const w = world({ login: () => issued({ idLife: 90 }), refresh: () => issued({ idLife: 90 }) });
    for (let i = 0; i < 30; i++) {
      const a = await obtainToken(policy({ kind: 'id' }), ports(w));
      assert.ok(a.expiresAt > w.now, 'a valid ID token');
      w.now += 10_000;
    }
    assert.equal(w.calls.filter((c) => c === 'login').length, 1);
  });

  it('the lifetime shorter than twice --min-valid is said once in -v output', async () => {
    const w = world({ login: () => issued({ life: 60 }) });
    await obtainToken(policy({ minValid: 300 }), ports(w));
    assert.ok(w.lines.some((l) => /^debug: the provider's access tokens live 60 s, less than twice --min-valid 300: they are refreshed at 30 s left/.test(l)));
  });

  it('absurd expires_in values are clamped, not a crash', async () => {
    for (const expiresIn of [1e300, -5, 0, Number.NaN, '3600', Infinity]) {
      const w = world({ login: () => issued({ expiresIn }) });
      const a = await obtainToken(policy(), ports(w));
      assert.ok(Number.isFinite(a.expiresAt) && a.expiresAt > w.now, String(expiresIn));
      assert.ok(a.expiresAt <= w.now + 367 * 24 * 3600_000, String(expiresIn));
    }
  });
});

describe('one login for every API (docs/multi-api.md)', () => {
  const A = apiRef('https://git.example');
  const B = apiRef('https://registry.example');
  const KUBE = apiRef(undefined);
  const both = { audience: 'https://git.example', resources: [], scopes: ['offline_access', 'openid'] };
  /** The provider as Auth0 with a multi-resource refresh-token policy: a JWT for the audience asked for. */
  const asked = (_rt: string, api: ApiSpec): TokenResult => issued({ aud: api.audience ?? api.resources[0] ?? 'default' });

  it('a second API gets its token with the shared refresh token: one refresh for its audience, no login; the first API\'s token stays', async () => {
    const w = world({ login: () => issued({ idLife: 3600, aud: 'https://git.example', refresh: 'rt-1' }), refresh: asked });
    const a = await obtainToken(policy({ api: A, login: both }), ports(w));
    const b = await obtainToken(policy({ api: B, login: both }), ports(w));
    assert.deepEqual(w.calls, ['login', 'refresh rt-1']);
    assert.equal(w.refreshes[0]!.api.audience, 'https://registry.example');
    assert.notEqual(a.token, b.token);
    assert.equal(at(w.session, A), a.token, 'A kept');
    assert.equal(at(w.session, B), b.token);
    assert.notEqual(w.session!.refresh_token, 'rt-1', 'rotated in the shared session');
    const again = await obtainToken(policy({ api: A, login: both }), ports(w));
    assert.equal(again.token, a.token);
    assert.equal(w.calls.length, 2, 'A again: no request');
  });

  it('the ID token (kube, no audience) comes from the shared session: no request', async () => {
    const w = world({ login: () => issued({ idLife: 3600, aud: 'https://git.example' }) });
    const a = await obtainToken(policy({ api: A, login: both }), ports(w));
    const id = await obtainToken(policy({ api: KUBE, kind: 'id', login: both }), ports(w));
    assert.deepEqual(w.calls, ['login']);
    assert.equal(id.token, a.session.id_token);
  });

  it('rotation: alternating refreshes for A and B always send the newest refresh token', async () => {
    const w = world({ login: () => issued({ aud: 'https://git.example', life: 120 }), refresh: (rt, api) => issued({ aud: api.audience!, life: 120 }) });
    await obtainToken(policy({ api: A, login: both }), ports(w));
    const sent: string[] = [];
    let latest = w.session!.refresh_token!;
    for (let i = 0; i < 6; i++) {
      w.now += 61_000;
      await obtainToken(policy({ api: i % 2 ? A : B, login: both }), ports(w));
      sent.push(w.refreshes.at(-1)!.rt);
      assert.equal(w.refreshes.at(-1)!.rt, latest, 'the newest one');
      latest = w.session!.refresh_token!;
    }
    assert.equal(new Set(sent).size, sent.length, 'never one twice');
    assert.equal(w.calls.filter((c) => c === 'login').length, 1);
  });

  it('the shared login asks for the triggering API\'s audience, every resource and scope of the session; the code exchange for its own resources', async () => {
    const R1 = apiRef(undefined, ['https://r1.example']);
    const login = { audience: undefined, resources: ['https://r1.example', 'https://r2.example'], scopes: ['email', 'offline_access', 'openid'] };
    const w = world({ login: () => issued({ aud: 'https://r1.example' }) });
    await obtainToken(policy({ api: R1, login }), ports(w));
    assert.deepEqual(w.logins[0], { ...login, tokenResources: ['https://r1.example'], tokenAudience: undefined });
    assert.deepEqual(w.session!.login, login, 'remembered: what a refresh may ask for');
  });

  it('a JWT for another audience (Auth0 without a policy for it): that API logs in on its own, once, said once; the rotated refresh token is saved; remembered', async () => {
    const w = world({
      login: (req) => issued({ idLife: 3600, aud: req.audience!, refresh: req.audience === 'https://git.example' ? 'rt-shared' : 'rt-own' }),
      // Auth0 answers with its default audience, and rotates.
      refresh: (rt) => issued({ aud: rt === 'rt-own' || rt.startsWith('own') ? 'https://registry.example' : 'https://git.example', refresh: rt.startsWith('rt-own') || rt.startsWith('own') ? `own-${serial}` : `shared-${serial}` }),
    });
    await obtainToken(policy({ api: A, login: both }), ports(w));
    const b = await obtainToken(policy({ api: B, login: both }), ports(w));
    assert.deepEqual(w.calls, ['login', 'refresh rt-shared', 'login']);
    assert.equal(w.logins[1]!.audience, 'https://registry.example');
    assert.ok(w.logins[1]!.scopes.includes('offline_access'));
    assert.match(w.session!.refresh_token!, /^shared-/, 'the rotated shared refresh token that came with the wrong answer is saved');
    assert.equal(w.session!.apis[B.key]!.fallback!.refresh_token, 'rt-own');
    assert.equal(b.token, at(w.session, B));
    assert.equal(w.lines.filter((l) => /logging in for it separately/.test(l)).length, 1);
    assert.ok(w.lines.some((l) => /audience https:\/\/registry\.example.*is for https:\/\/git\.example/.test(l)));
    // Later: B refreshes with its own refresh token, not the shared one; A still with the shared one.
    w.now += minutes(61);
    await obtainToken(policy({ api: B, login: both }), ports(w));
    assert.equal(w.refreshes.at(-1)!.rt, 'rt-own');
    await obtainToken(policy({ api: A, login: both }), ports(w));
    assert.match(w.refreshes.at(-1)!.rt, /^shared-/);
    assert.equal(w.calls.filter((c) => c === 'login').length, 2, 'no third login');
    assert.equal(w.lines.filter((l) => /logging in for it separately/.test(l)).length, 1, 'said once');
  });

  it('invalid_target / invalid_scope on refresh: that API logs in on its own; the shared refresh token is untouched', async () => {
    const w = world({
      login: (req) => issued({ idLife: 3600, aud: req.audience!, refresh: req.audience === 'https://git.example' ? 'rt-shared' : 'rt-own' }),
      refresh: () => {
        throw new ApiRefusedError('invalid_target: resource indicator is missing, or unknown');
      },
    });
    await obtainToken(policy({ api: A, login: both }), ports(w));
    await obtainToken(policy({ api: B, login: both }), ports(w));
    assert.deepEqual(w.calls, ['login', 'refresh rt-shared', 'login']);
    assert.equal(w.session!.refresh_token, 'rt-shared');
    assert.equal(w.session!.apis[B.key]!.fallback!.refresh_token, 'rt-own');
    assert.ok(w.lines.some((l) => /invalid_target/.test(l)));
  });

  it('an opaque access token is accepted as it is', async () => {
    const w = world({ login: () => issued({ aud: 'https://git.example' }), refresh: () => issued({}) });
    await obtainToken(policy({ api: A, login: both }), ports(w));
    const b = await obtainToken(policy({ api: B, login: both }), ports(w));
    assert.deepEqual(w.calls, ['login', `refresh ${w.refreshes[0]!.rt}`]);
    assert.match(b.token, /^access-/);
  });

  it('a resource the shared login did not request is never refreshed for: that API logs in on its own', async () => {
    const R1 = apiRef(undefined, ['https://r1.example']);
    const R3 = apiRef(undefined, ['https://r3.example']);
    const login = { audience: undefined, resources: ['https://r1.example'], scopes: ['offline_access', 'openid'] };
    const w = world({ login: (req) => issued({ aud: req.tokenResources[0]! }) });
    await obtainToken(policy({ api: R1, login }), ports(w));
    await obtainToken(policy({ api: R3, login }), ports(w));
    assert.deepEqual(w.calls, ['login', 'login'], 'no refresh for r3');
    assert.ok(w.lines.some((l) => /did not request the resource https:\/\/r3\.example/.test(l)));
  });

  it('--non-interactive: a needed login of the API\'s own fails with the usual advice', async () => {
    const w = world({ login: () => issued({ aud: 'https://git.example' }), refresh: () => issued({ aud: 'https://git.example' }) });
    await obtainToken(policy({ api: A, login: both }), ports(w));
    await assert.rejects(obtainToken(policy({ api: B, login: both, nonInteractive: true, profile: 'registry' }), ports(w)), (e: Error) => e instanceof NotInteractiveError && /oidc-cred login --profile registry/.test((e as NotInteractiveError).hint ?? ''));
    assert.equal(w.calls.filter((c) => c === 'login').length, 1);
  });

  it('a session carried over from format 1 is saved under the lock before it is used: no request', async () => {
    const s = sessionFrom(issued({ refresh: 'rt-1' }), T0 - minutes(10));
    const w = world({ session: s });
    const p = ports(w);
    const read = p.store.read;
    // Both reads (before the lock and under it) find the carried-over session, not yet saved.
    p.store.read = (() => {
      let n = 0;
      return () => {
        const r = read();
        return n++ < 2 && 'session' in r ? { ...r, migrated: true } : r;
      };
    })();
    const a = await obtainToken(policy(), p);
    assert.equal(a.token, at(s));
    assert.equal(w.acquired, 1, 'under the lock');
    assert.equal(w.writes.length, 1, 'saved as a session of its own');
    assert.deepEqual(w.calls, [], 'no request');
  });

  it('the next shared login forgets the APIs\' own logins', async () => {
    const w = world({
      login: (req) => issued({ aud: req.audience!, refresh: `rt-${req.audience}` }),
      refresh: () => {
        throw new ApiRefusedError('invalid_target');
      },
    });
    await obtainToken(policy({ api: A, login: both }), ports(w));
    await obtainToken(policy({ api: B, login: both }), ports(w));
    assert.ok(w.session!.apis[B.key]!.fallback);
    await obtainToken(policy({ api: A, login: both, force: true }), ports(w));
    assert.deepEqual(Object.keys(w.session!.apis), [A.key]);
// The refresh token in the OS credential store (docs/keyring.md): the store port's
// loadRefreshToken is the one place it is fetched, under the lock, only when a refresh or a login
// is coming.
  });
});

describe('the token lifecycle with the refresh token in a credential store', () => {
  /** The fake store: the file holds the session without its refresh token; the "keyring" holds it. */
  function inStore(w: World, o: { rt?: string; unreachable?: boolean } = {}): Ports & { loads: boolean[] } {
    const base = ports(w);
    const loads: boolean[] = [];
    return {
      ...base,
      loads,
      store: {
        ...base.store,
        loadRefreshToken: (s, needed) => {
          loads.push(needed);
          if (o.unreachable) throw new KeyringError('cannot read from the OS credential store', { hint: '--storage file' });
          return s && needed ? { ...s, refresh_token: o.rt } : s;
        },
      },
    };
  }
  const stored = (at: number): CachedSession => ({ ...sessionFrom(issued({ refresh: null }), at), refresh_token_in: 'keyring' });

  it('cache hit: the store is not asked', async () => {
    const w = world({ session: stored(T0 - minutes(10)) });
    const pp = inStore(w, { rt: 'rt-k' });
    await obtainToken(policy(), pp);
    assert.deepEqual(pp.loads, []);
  });

  it('a valid token found under the lock (another process just refreshed): the store is not asked', async () => {
    const w = world({ session: stored(T0 - minutes(59.5)) });
    const pp = inStore(w, { rt: 'rt-k' });
    // Fresh by the time the lock is ours: the re-read under the lock hands it over.
    const orig = pp.lock.tryAcquire;
    pp.lock.tryAcquire = async () => {
      w.session = stored(T0);
      return orig();
    };
    await obtainToken(policy(), pp);
    assert.deepEqual(pp.loads, []);
    assert.deepEqual(w.calls, []);
  });

  it('expiring: the refresh token comes from the store, under the lock, and is used once; it is kept secret', async () => {
    const w = world({ session: stored(T0 - minutes(59.5)) });
    const pp = inStore(w, { rt: 'rt-k' });
    await obtainToken(policy(), pp);
    assert.deepEqual(pp.loads, [true]);
    assert.deepEqual(w.calls, ['refresh rt-k']);
    assert.ok(w.secrets.has('rt-k'), 'registered for redaction');
  });

  it('store out of reach: fails with its error, no refresh, no login (even though a login could start)', async () => {
    const w = world({ session: stored(T0 - minutes(61)) });
    await assert.rejects(obtainToken(policy(), inStore(w, { unreachable: true })), KeyringError);
    assert.deepEqual(w.calls, []);
    assert.equal(w.writes.length, 0, 'nothing saved: the token stays where it is');
    assert.equal(w.released, 1);
  });

  it('oidc-cred login: the store is checked (not read) before the login, so an unreachable one starts no login', async () => {
    const w = world({ session: stored(T0 - minutes(10)) });
    const pp = inStore(w, { unreachable: true });
    await assert.rejects(obtainToken(policy({ force: true }), pp), KeyringError);
    assert.deepEqual(pp.loads, [false]);
    assert.deepEqual(w.calls, []);
  });

  it('client credentials never touch the store', async () => {
    const w = world();
    const pp = inStore(w, { unreachable: true });
    await obtainToken(policy({ grant: 'client-credentials' }), pp);
    assert.deepEqual(pp.loads, []);
  });
});
