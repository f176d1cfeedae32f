// The test provider (demo/provider.ts) in a node process of its own, for tests and benchmarks
// that start many oidc-cred processes at once. In the test runner's process the provider shares
// one event loop with the code that spawns and reads 64 children; on a loaded 2-core machine it
// was starved past oidc-cred's 10 s HTTP timeout. A real provider runs elsewhere; its own
// process is the closest a single machine gets.
//
//   const p = await startProviderProcess({ accessTokenTTL: 60 });   // same options as startProvider
//   trackLeaks(p);   // test/support/cli.ts: every run() syncs with it before checking stderr
//
// It offers the same TestProvider interface. `counts` and `issuedTokens` are mirrors that the
// child pushes as they change (for waitFor) and that `sync()` brings exactly up to date: IPC
// messages arrive in order, so after `await p.sync()` everything the provider answered before the
// call is counted. test/support/cli.ts's run() syncs every tracked provider before it resolves,
// so a test that awaits run() reads exact counts, as with an in-process provider.
import { fork, type ChildProcess } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import type { Counts, ProviderOptions, TestProvider } from '../../demo/provider.ts';
import { httpRequest } from '../../demo/http-client.ts';

export interface ProcessProvider extends TestProvider {
  /** the provider process, e.g. to renice or signal it */
  readonly pid: number;
  /** Resolves once `counts` and `issuedTokens` include everything the provider did before this call. */
  sync(): Promise<void>;
  /**
   * The in-process provider's `hold` where it has one: parks every request for `path` until
   * `release()`. The hold reaches the child over ordered IPC, so it applies to any request a
   * process started after this call makes; `parked()` is a pushed mirror (exact after sync()).
   */
  hold(path: string): { parked(): number; release(): void };
}

/** demo/provider.ts's TestProvider gains `hold` in newer versions; used when it is there. */
type Holder = { hold?: (path: string) => { parked(): number; release(): void } };

// ------------------------------------------------------------------------------------------
// The messages between the two processes.

interface Hello {
  type: 'ready';
  issuer: string;
  port: number;
  publicClientId: string;
  confidentialClientId: string;
  clientSecret: string;
}
/** Pushed whenever something changed, and as the answer to a request (with its id). */
interface State {
  type: 'state';
  id?: number;
  counts: Counts;
  /** tokens issued since the previous State */
  tokens: string[];
  /** requests parked by each hold() */
  parked: Record<string, number>;
  error?: string;
}
type Request =
  | { id: number; op: 'sync' }
  | { id: number; op: 'mode'; mode: 'approve' | 'deny' }
  | { id: number; op: 'approveDeviceCode'; userCode: string }
  | { id: number; op: 'hold'; path: string }
  | { id: number; op: 'release'; path: string }
  | { id: number; op: 'close' };
type Ask = Request extends infer R ? (R extends Request ? Omit<R, 'id'> : never) : never;

// ------------------------------------------------------------------------------------------
// Parent side.

const clone = (c: Counts): Counts => JSON.parse(JSON.stringify(c)) as Counts;

function minus(now: Counts, base: Counts): Counts {
  const sub = (a: Record<string, number>, b: Record<string, number>): Record<string, number> => {
    const out: Record<string, number> = {};
    for (const [k, v] of Object.entries(a)) if (v - (b[k] ?? 0) > 0) out[k] = v - (b[k] ?? 0);
    return out;
  };
  return {
    authorization: now.authorization - base.authorization,
    token: sub(now.token, base.token),
    tokenErrors: sub(now.tokenErrors, base.tokenErrors),
    deviceAuthorization: now.deviceAuthorization - base.deviceAuthorization,
    revocation: now.revocation - base.revocation,
    discovery: now.discovery - base.discovery,
    userinfo: now.userinfo - base.userinfo,
    requests: now.requests - base.requests,
  };
}

export async function startProviderProcess(opts: ProviderOptions = {}): Promise<ProcessProvider> {
  const child: ChildProcess = fork(import.meta.filename, ['--provider-child', JSON.stringify(opts)], {
    // tsx by absolute URL, so that the child resolves it whatever the cwd.
    execArgv: ['--import', import.meta.resolve('tsx')],
    // oidc-provider prints NOTICE lines on stdout; errors still reach the test's stderr.
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    env: { PATH: process.env.PATH, NODE_OPTIONS: undefined } as NodeJS.ProcessEnv,
  });

  let snapshot: Counts | undefined;
  let baseline: Counts | undefined;
  const issuedTokens = new Set<string>();
  let parked: Record<string, number> = {};
  const pending = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();
  let nextId = 1;
  let mode: 'approve' | 'deny' = 'approve';
  let exited: Error | undefined;

  const hello = await new Promise<Hello>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, sig) => reject(new Error(`the provider process exited (${code ?? sig}) before it was ready`)));
    child.on('message', (m: Hello | State) => {
      if (m.type === 'ready') {
        resolve(m);
        return;
      }
      snapshot = m.counts;
      parked = m.parked;
      baseline ??= clone(m.counts);
      for (const t of m.tokens) issuedTokens.add(t);
      if (m.id !== undefined) {
        const w = pending.get(m.id);
        pending.delete(m.id);
        if (m.error) w?.reject(new Error(m.error));
        else w?.resolve();
      }
    });
  });
  child.removeAllListeners('exit');
  child.on('exit', (code, sig) => {
    exited = new Error(`the provider process exited (${code ?? sig})`);
    for (const w of pending.values()) w.reject(exited);
    pending.clear();
  });

  const ask = (req: Ask): Promise<void> => {
    if (exited) return Promise.reject(exited);
    const id = nextId++;
    return new Promise<void>((resolve, reject) => {
      pending.set(id, { resolve, reject });
      child.send({ ...req, id } as Request);
    });
  };
  await ask({ op: 'sync' });

  const sync = (): Promise<void> => (exited ? Promise.resolve() : ask({ op: 'sync' }));

  return {
    ...hello,
    pid: child.pid!,
    get counts(): Counts {
      return minus(snapshot!, baseline!);
    },
    /** Counting starts again from what the provider process last reported (run() syncs, so that is exact after awaited runs). */
    resetCounts(): void {
      baseline = clone(snapshot!);
    },
    get mode() {
      return mode;
    },
    set mode(m: 'approve' | 'deny') {
      // IPC is ordered: any later request (or a login started after this) sees the new mode.
      mode = m;
      void ask({ op: 'mode', mode: m }).catch(() => undefined);
    },
    issuedTokens,
    async userinfo(accessToken: string): Promise<Record<string, unknown> | null> {
      const res = await httpRequest(new URL('/me', hello.issuer), { headers: { authorization: `Bearer ${accessToken}`, accept: 'application/json' } });
      await sync();
      if (res.status !== 200) return null;
      const body: unknown = JSON.parse(res.body);
      return typeof body === 'object' && body !== null && !Array.isArray(body) ? (body as Record<string, unknown>) : null;
    },
    approveDeviceCode: (userCode: string) => ask({ op: 'approveDeviceCode', userCode }),
    hold(path: string) {
      void ask({ op: 'hold', path }).catch(() => undefined);
      return {
        parked: () => parked[path] ?? 0,
        release: () => void ask({ op: 'release', path }).catch(() => undefined),
      };
    },
    sync,
    async close(): Promise<void> {
      if (exited) return;
      const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      await ask({ op: 'close' }).catch(() => undefined);
      await gone;
    },
  };
}

// ------------------------------------------------------------------------------------------
// Child side: `node --import tsx provider-process.ts --provider-child '<options JSON>'`.

async function child(optsJson: string): Promise<void> {
  const { startProvider } = await import('../../demo/provider.ts');
  const p = await startProvider(JSON.parse(optsJson) as ProviderOptions);
  const send = (m: Hello | State): void => {
    process.send?.(m);
  };
  let sentTokens = 0;
  let sentCounts = '';
  const holds = new Map<string, { parked(): number; release(): void }>();
  const parkedNow = (): Record<string, number> => Object.fromEntries([...holds].map(([k, h]) => [k, h.parked()]));
  /** Everything not yet reported, as one State (tokens in the order they were issued). */
  const state = (id?: number, error?: string): State => {
    const all = [...p.issuedTokens];
    const tokens = all.slice(sentTokens);
    sentTokens = all.length;
    const parked = parkedNow();
    sentCounts = JSON.stringify([p.counts, parked]);
    return { type: 'state', counts: p.counts, tokens, parked, ...(id !== undefined ? { id } : {}), ...(error ? { error } : {}) };
  };
  // Pushes for tests that poll counts while processes run (waitFor); sync() is what is exact.
  const pusher = setInterval(() => {
    if (p.issuedTokens.size !== sentTokens || JSON.stringify([p.counts, parkedNow()]) !== sentCounts) send(state());
  }, 20);
  process.on('message', (m: Request) => {
    void (async () => {
      let error: string | undefined;
      try {
        if (m.op === 'mode') p.mode = m.mode;
        else if (m.op === 'approveDeviceCode') await p.approveDeviceCode(m.userCode);
        else if (m.op === 'hold') {
          const hold = (p as typeof p & Holder).hold;
          if (!hold) throw new Error('this demo provider has no hold()');
          holds.set(m.path, hold.call(p, m.path));
        } else if (m.op === 'release') {
          holds.get(m.path)?.release();
          holds.delete(m.path);
        }
        else if (m.op === 'close') {
          clearInterval(pusher);
          await p.close();
        }
      } catch (err) {
        error = err instanceof Error ? err.message : String(err);
      }
      send(state(m.id, error));
      if (m.op === 'close') process.disconnect();
    })();
  });
  // The test process is gone (crashed, killed): do not outlive it.
  process.on('disconnect', () => process.exit(0));
  send({ type: 'ready', issuer: p.issuer, port: p.port, publicClientId: p.publicClientId, confidentialClientId: p.confidentialClientId, clientSecret: p.clientSecret });
}

if (process.argv[2] === '--provider-child' && process.argv[1] && pathToFileURL(process.argv[1]).href === import.meta.url) {
  await child(process.argv[3] ?? '{}');
}
