// npm run bench — start-up cost of the hot path against `node -e 0`, measured side by side in
// this one run (the machine's speed drifts 2× over minutes: compare ratios only):
//   wall time     medians of interleaved pairs (A B, B A, …), spawned from a light process
//                 (scripts/bench-runner.cjs) so that fork cost does not dilute the ratio;
//   peak RSS      each run wrapped by a python process that reports its child's ru_maxrss;
//   instructions  valgrind callgrind, one run each: the same count whatever the load.
// Then the time from a login's result to the last of 16 waiting processes finishing.
// scripts/bench-git.ts (run after this by `npm run bench`) compares `git credential fill`.
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { startProvider } from '../demo/provider.ts';
import { BIN, run, sandbox } from '../test/support/cli.ts';

const PAIRS = Number(process.env.BENCH_PAIRS ?? 30);

export interface Case {
  name: string;
  cmd: string[];
  env?: Record<string, string>;
  input?: string;
  /** a pattern stdout must match, so that a broken setup cannot look fast */
  expect?: string;
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
    '| command (cached token) | wall ms | `node -e 0` ms | **wall ratio** | peak RSS MiB | `node -e 0` MiB | **RSS ratio** | **instructions ratio** |',
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

async function main(): Promise<void> {
  const p = await startProvider();
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
    const rows = measure(cases, sb.dir);
    const hasValgrind = spawnSync('valgrind', ['--version']).status === 0;
    if (hasValgrind) {
      const base = instructions(BASELINE);
      rows.forEach((r, i) => {
        r.instr = instructions(cases[i]!);
        r.baseInstr = base;
      });
    }

    // From the callback to the last of 16 waiting processes finishing.
    const sb2 = sandbox(p);
    const t: number[] = [];
    for (let round = 0; round < 3; round++) {
      const { rmSync } = await import('node:fs');
      rmSync(sb2.cacheDir, { recursive: true, force: true });
      let saved = 0;
      const watcher = setInterval(() => {
        if (!saved && existsSync(sb2.cacheDir) && readdirSync(sb2.cacheDir).some((f) => /^[0-9a-f]{64}\.json$/.test(f))) saved = performance.now();
      }, 2);
      const ends = await Promise.all(
        Array.from({ length: 16 }, () =>
          new Promise<number>((resolve, reject) => {
            const c = spawn(process.execPath, [BIN.oidcCred, 'token', ...sb2.args()], { env: { PATH: process.env.PATH ?? '', ...sb2.env }, stdio: ['ignore', 'ignore', 'ignore'] });
            c.on('exit', (code) => (code === 0 ? resolve(performance.now()) : reject(new Error(`exit ${code}`))));
          }),
        ),
      );
      clearInterval(watcher);
      t.push(Math.max(...ends) - saved);
    }
    const out = [
      `oidc-cred bench — ${new Date().toISOString()} — Node ${process.version}, ${PAIRS} interleaved pairs per row`,
      '',
      table(rows),
      '',
      hasValgrind ? 'Instructions: one valgrind callgrind run each (deterministic); wall time: medians of interleaved pairs run from a light process.' : 'valgrind not installed: no instruction counts.',
      '',
      `Login finished (session saved) → last of 16 waiting processes exited: ${t.map((x) => `${x.toFixed(0)} ms`).join(', ')} (3 rounds; poll interval 200 ms)`,
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
