// The token lifecycle as a table (docs/architecture.md, "The token lifecycle"): one row per rule,
// in-process, with fakes for its ports — the session store, the lock with its outcome record, a
// clock and an authenticator. Each row fails when its rule is broken. The many-process
// invariants and the real peers are in test/integration/.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CachedSession, ReadResult } from '../../src/cache/store.ts';
import { InterruptedError, LoginError, NotInteractiveError, ProviderError, RefreshRejectedError } from '../../src/errors.ts';
import { localTime } from '../../src/infra/time.ts';
import type { TokenResult } from '../../src/oauth/client.ts';
import { obtainToken, toSession, type LockHandle, type LoginOutcome, type Policy, type Ports } from '../../src/session/lifecycle.ts';

const T0 = Date.parse('2026-06-01T12:00:00Z');
const KEY = 'k'.repeat(64);

function jwt(claims: Record<string, unknown>): string {
  const b = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${b({ alg: 'none' })}.${b(claims)}.sig`;
}

let serial = 0;
/** A token response as the provider would send it. */
function issued(o: { life?: number; idLife?: number; refresh?: string | null; sub?: string; expiresIn?: unknown; noAccess?: boolean } = {}): TokenResult {
  serial++;
  const life = o.life ?? 3600;
  const response: Record<string, unknown> = { token_type: 'Bearer', scope: 'openid offline_access' };
  if (!o.noAccess) response.access_token = `access-${serial}`;
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
  refresh: (rt: string) => TokenResult;
  login: (onUrl?: (url: string) => void) => TokenResult;
  clientCredentials: () => TokenResult;
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
      prepare: async () => undefined,
      refresh: async (rt) => {
        w.calls.push(`refresh ${rt}`);
        return w.refresh(rt);
      },
      clientCredentials: async () => {
        w.calls.push('client-credentials');
        return w.clientCredentials();
      },
      assertCanLogIn: () => {
        if (!w.canLogIn) throw new NotInteractiveError('no valid token is cached and --non-interactive forbids a login');
      },
      login: async (onUrl) => {
        w.calls.push('login');
        return w.login(onUrl);
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

function policy(over: Partial<Policy> = {}): Policy {
  return { kind: 'access', minValid: 60, timeout: 300, nonInteractive: false, grant: 'user', session: { key: KEY, issuer: 'https://idp.example', client_id: 'c', profile: 'p' }, ...over };
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
    assert.equal(a.token, w.session!.access_token);
    assert.equal(w.acquired, 0, 'no lock');
    assert.deepEqual(w.calls, []);
  });

  it('expiring → exactly one refresh, saved before the lock is released, the new token handed over', async () => {
    const w = world({ session: sessionFrom(issued({ refresh: 'rt-1' }), T0 - minutes(59.5)) });
    const a = await obtainToken(policy(), ports(w));
    assert.deepEqual(w.calls, ['refresh rt-1']);
    assert.equal(w.writes.length, 1);
    assert.equal(a.token, w.writes[0]!.access_token);
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
    assert.equal(a.token, w.session!.access_token);
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
    assert.equal(a.token, w.session!.access_token);
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
    const h = world({ login: (onUrl) => (onUrl?.('http://127.0.0.1:5555/'), issued({ idLife: 3600 })) });
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
    assert.equal(access.token, s.access_token);
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
    for (const t of [s.access_token!, s.id_token!, 'rt-secret-value']) assert.ok(w.secrets.has(t), t);
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
