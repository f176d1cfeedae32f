// npm run bench — start-up cost of the hot path against `node -e 0`, measured side by side in
// this one run (the machine's speed drifts 2× over minutes: compare ratios only):
//   wall time     medians of interleaved pairs (A B, B A, …), spawned from a light process
//                 (scripts/bench-runner.cjs) so that fork cost does not dilute the ratio;
//   peak RSS      each run wrapped by a python process that reports its child's ru_maxrss;
//   instructions  valgrind callgrind, one run each: the same count whatever the load.
// The same for a refresh (`oidc-cred token` with the cached access token erased, a valid refresh
// token held), against the provider in a process of its own (the runner blocks this one).
// Then the lock hand-over, in ms: from the holder's save to the last of 16 and of 64 waiting
// processes exiting, and from SIGKILL of a holder to a waiting process taking over.
// Everything is observed from outside, as a user sees it — files in the cache directory, exit
// codes, stderr lines — so the bench does not depend on how the lifecycle is built.
// scripts/bench-git.ts (run after this by `npm run bench`) compares `git credential fill`.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { mkdirSync, readdirSync, statSync, watch, writeFileSync } from 'node:fs';
import { BIN, BROWSER, run, sandbox, type Sandbox } from '../test/support/cli.ts';
import { startProviderProcess, type ProcessProvider } from '../test/support/provider-process.ts';

const PAIRS = Number(process.env.BENCH_PAIRS ?? 30);

export interface Case {
  name: string;
  cmd: string[];
  env?: Record<string, string>;
  input?: string;
  /** a pattern stdout must match, so that a broken setup cannot look fast */
  expect?: string;
  /** run untimed before every run (scripts/bench-runner.cjs) */
  prepare?: string[];
}

interface Row {
  name: string;
  ms: number;
  baseMs: number;
  rssKb: number;
  baseRssKb: number;
  instr?: number;
  baseInstr?: number;
}

const BASELINE: Case = { name: 'node -e 0', cmd: [process.execPath, '-e', '0'] };

/** Wall time and peak RSS, measured by scripts/bench-runner.cjs in a light process. */
function measure(cases: Case[], dir: string): Row[] {
  const spec = join(dir, 'bench-spec.json');
  const withEnv = (c: Case): Case => ({ ...c, env: { PATH: process.env.PATH ?? '', ...c.env } });
  writeFileSync(spec, JSON.stringify({ pairs: PAIRS, baseline: withEnv(BASELINE), cases: cases.map(withEnv) }));
  const r = spawnSync(process.execPath, [join(import.meta.dirname, 'bench-runner.cjs'), spec], { env: { PATH: process.env.PATH ?? '' }, maxBuffer: 1 << 20 });
  if (r.status !== 0) throw new Error(`bench runner failed: ${r.stderr.toString()}`);
  return JSON.parse(r.stdout.toString()) as Row[];
}

/** Instructions executed (valgrind's callgrind): the same count whatever else the machine does. */
function instructions(c: Case): number | undefined {
  const r = spawnSync('valgrind', ['--tool=callgrind', '--callgrind-out-file=/dev/null', ...c.cmd], {
    env: { PATH: process.env.PATH ?? '', ...c.env },
    input: c.input ?? '',
    maxBuffer: 1 << 24,
  });
  const m = /Collected : (\d+)/.exec(r.stderr?.toString() ?? '');
  return m ? Number(m[1]) : undefined;
}

export function table(rows: Row[]): string {
  const lines = [
    '| command | wall ms | `node -e 0` ms | **wall ratio** | peak RSS MiB | `node -e 0` MiB | **RSS ratio** | **instructions ratio** |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const r of rows) {
    const instr = r.instr && r.baseInstr ? `**${(r.instr / r.baseInstr).toFixed(3)}×** (${(r.instr / 1e6).toFixed(0)} M)` : 'n/a';
    lines.push(
      `| ${r.name} | ${r.ms.toFixed(1)} | ${r.baseMs.toFixed(1)} | **${(r.ms / r.baseMs).toFixed(2)}×** | ${(r.rssKb / 1024).toFixed(1)} | ${(r.baseRssKb / 1024).toFixed(1)} | **${(r.rssKb / r.baseRssKb).toFixed(2)}×** | ${instr} |`,
    );
  }
  return lines.join('\n');
}

const SESSION_FILE = /^[0-9a-f]{64}\.json$/;
const WAITING = /waiting for/i;
const median = (xs: number[]): number => {
  const v = [...xs].sort((a, b) => a - b);
  const m = v.length >> 1;
  return v.length % 2 ? v[m]! : (v[m - 1]! + v[m]!) / 2;
};

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

interface Proc {
  child: ChildProcess;
  /** Date.now() at exit, with the exit code */
  exit: Promise<{ at: number; code: number | null; stderr: string }>;
  waiting: () => boolean;
}

/** `oidc-cred token` with the given browser command, watching stderr for the waiting line. */
function token(sb: Sandbox, p: ProcessProvider, browserCommand: string): Proc {
  const args = ['token', '--issuer', p.issuer, '--client-id', p.publicClientId, '--cache-dir', sb.cacheDir, '--browser-command', browserCommand];
  const child = spawn(process.execPath, [BIN.oidcCred, ...args], { env: { PATH: process.env.PATH ?? '', ...sb.env }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exit = new Promise<{ at: number; code: number | null; stderr: string }>((resolve) => child.on('exit', (code) => resolve({ at: Date.now(), code, stderr })));
  return { child, exit, waiting: () => WAITING.test(stderr) };
}

/**
 * When the session file was first renamed into place: rename sets the inode's ctime (Linux), and
 * the directory is watched so that a later rewrite of the file cannot move that moment.
 */
function watchSave(sb: Sandbox): { savedAt: () => number; close: () => void } {
  mkdirSync(sb.cacheDir, { recursive: true, mode: 0o700 });
  let at: number | undefined;
  const look = (): void => {
    if (at !== undefined) return;
    const f = readdirSync(sb.cacheDir).find((x) => SESSION_FILE.test(x));
    if (f) at = statSync(join(sb.cacheDir, f)).ctimeMs;
  };
  const w = watch(sb.cacheDir, look);
  return {
    savedAt: () => {
      look();
      if (at === undefined) throw new Error('no session file was saved');
      return at;
    },
    close: () => w.close(),
  };
}

/**
 * N processes with no session: the holder's browser waits for a file until the other N − 1 say
 * they wait, then logs in. Returns ms from the save to the last exit.
 */
async function handOver(p: ProcessProvider, n: number): Promise<number> {
  const sb = sandbox(p);
  try {
    const go = join(sb.dir, 'go');
    const save = watchSave(sb);
    const procs = Array.from({ length: n }, () => token(sb, p, sb.browserCommand(`--wait-for ${go}`)));
    await until(() => procs.filter((x) => x.waiting()).length === n - 1, 180_000, `${n - 1} processes to say that they wait`);
    writeFileSync(go, '');
    const ends = await Promise.all(procs.map((x) => x.exit));
    save.close();
    for (const e of ends) if (e.code !== 0) throw new Error(`a waiting process exited ${e.code}: ${e.stderr.slice(0, 300)}`);
    if (sb.browserRuns().length !== 1) throw new Error(`${sb.browserRuns().length} browsers opened, not 1`);
    const saved = save.savedAt();
    // Every one of them waited for this save; an exit before it means the measurement is wrong.
    if (Math.min(...ends.map((e) => e.at)) < saved - 20) throw new Error('a process exited before the session was saved');
    return Math.max(...ends.map((e) => e.at)) - saved;
  } finally {
    sb.cleanup();
  }
}

/**
 * A holder logging in (its browser never finishes) is SIGKILLed while another process waits.
 * Returns ms from the kill to the waiter's browser opening (it holds the lock: it logs in itself)
 * and to the waiter's exit.
 */
async function takeover(p: ProcessProvider): Promise<{ locked: number; done: number }> {
  const sb = sandbox(p);
  try {
    const never = join(sb.dir, 'never');
    const holder = token(sb, p, sb.browserCommand(`--wait-for ${never}`));
    await until(() => sb.browserRuns().length === 1, 60_000, "the holder's login to start");
    const waiterLog = join(sb.dir, 'waiter-browser.log');
    const waiter = token(sb, p, `${process.execPath} --import ${import.meta.resolve('tsx')} ${BROWSER} --log ${waiterLog}`);
    await until(waiter.waiting, 60_000, 'the second process to say that it waits');
    const killed = Date.now();
    holder.child.kill('SIGKILL');
    const end = await waiter.exit;
    if (end.code !== 0) throw new Error(`the waiting process exited ${end.code}: ${end.stderr.slice(0, 300)}`);
    await holder.exit;
    return { locked: statSync(waiterLog).mtimeMs - killed, done: end.at - killed };
  } finally {
    sb.cleanup();
  }
}

async function main(): Promise<void> {
  const started = Date.now();
  const p = await startProviderProcess();
  const sb = sandbox(p);
  try {
    const args = sb.args();
    const login = await run(BIN.oidcCred, ['login', ...args, '--scope', 'openid offline_access'], { env: sb.env });
    if (login.code !== 0) throw new Error(`login failed: ${login.stderr}`);
    const env = sb.env;
    const config = `${sb.dir}/config.json`;
    writeFileSync(config, JSON.stringify({ 'default-profile': 'demo', profiles: { demo: { issuer: p.issuer, 'client-id': p.publicClientId, 'cache-dir': sb.cacheDir, match: ['https://git.example.test/', 'https://k8s.example.test:6443'] } } }));
    const cases: Case[] = [
      { name: '`oidc-cred token`', cmd: [process.execPath, BIN.oidcCred, 'token', '--config', config], env, expect: '^\\S{20,}$' },
      { name: '`git-credential-oidc-cred get`', cmd: [process.execPath, BIN.git, '--config', config, 'get'], env, input: 'protocol=https\nhost=git.example.test\npath=org/repo.git\n\n', expect: '^password=' },
      {
        name: '`oidc-cred kube`',
        cmd: [process.execPath, BIN.oidcCred, 'kube', '--config', config],
        env: { ...env, KUBERNETES_EXEC_INFO: JSON.stringify({ kind: 'ExecCredential', apiVersion: 'client.authentication.k8s.io/v1', spec: { interactive: false, cluster: { server: 'https://k8s.example.test:6443' } } }) },
        expect: '"kind":"ExecCredential"',
      },
      { name: '`node -e 0` against itself (noise floor)', cmd: [process.execPath, '-e', '0'] },
    ];
    const refresh: Case = {
      name: '`oidc-cred token`, refresh (access token erased, refresh token valid)',
      cmd: [process.execPath, BIN.oidcCred, 'token', '--config', config, '--non-interactive'],
      env,
      expect: '^\\S{20,}$',
      prepare: [process.execPath, join(import.meta.dirname, 'bench-erase.cjs'), config],
    };
    await p.sync();
    p.resetCounts();
    const rows = measure([...cases, refresh], sb.dir);
    await p.sync();
    // 3 warm-up runs, PAIRS timed runs, 7 RSS runs: each must have been one refresh.
    const refreshes = p.counts.token.refresh_token ?? 0;
    if (refreshes !== PAIRS + 10 || p.counts.authorization !== 0) {
      throw new Error(`expected ${PAIRS + 10} refreshes and no login at the provider, saw ${refreshes} and ${p.counts.authorization}: the refresh row did not measure refreshes`);
    }
    const hasValgrind = spawnSync('valgrind', ['--version']).status === 0;
    if (hasValgrind) {
      const base = instructions(BASELINE);
      cases.forEach((c, i) => {
        rows[i]!.instr = instructions(c);
        rows[i]!.baseInstr = base;
      });
    }

    const hand: Record<number, number[]> = { 16: [], 64: [] };
    for (let round = 0; round < 3; round++) hand[16]!.push(await handOver(p, 16));
    for (let round = 0; round < 2; round++) hand[64]!.push(await handOver(p, 64));
    const take: Array<{ locked: number; done: number }> = [];
    for (let round = 0; round < 2; round++) take.push(await takeover(p));

    const ms = (xs: number[]): string => xs.map((x) => `${x.toFixed(0)} ms`).join(', ');
    const out = [
      `oidc-cred bench — ${new Date().toISOString()} — Node ${process.version}, ${PAIRS} interleaved pairs per row`,
      '',
      table(rows),
      '',
      hasValgrind ? 'Instructions: one valgrind callgrind run each (deterministic; not for the refresh, which talks to the provider); wall time: medians of interleaved pairs run from a light process.' : 'valgrind not installed: no instruction counts.',
      `Refresh row: ${refreshes} refreshes counted at the provider, each after an untimed \`git erase\` of the cached access token.`,
      '',
      'Hand-over (ms; the save is the session file\'s rename, from its ctime):',
      `  save → last of 16 waiting processes exited: ${ms(hand[16]!)} (median ${median(hand[16]!).toFixed(0)} ms)`,
      `  save → last of 64 waiting processes exited: ${ms(hand[64]!)} (median ${median(hand[64]!).toFixed(0)} ms)`,
      `  holder SIGKILLed → a waiting process takes the lock (its browser opens): ${ms(take.map((x) => x.locked))}; → it exits after its own login: ${ms(take.map((x) => x.done))}`,
      '',
      `(bench.ts took ${((Date.now() - started) / 1000).toFixed(0)} s)`,
    ].join('\n');
    process.stdout.write(`${out}\n`);
  } finally {
    sb.cleanup();
    await p.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`bench failed: ${(err as Error).message}\n`);
      process.exit(1);
    },
  );
}
