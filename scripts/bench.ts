// npm run bench — start-up cost of the hot path, as ratios against `node -e 0` measured side by
// side in this one run (the machine's speed drifts 2× over minutes: compare ratios only), plus
// the time from a login's callback to the last of 16 waiting processes handing over its token.
//
// Wall time: median of interleaved pairs (A B A B …). Peak RSS: each run wrapped by a python
// process that reports its child's ru_maxrss, so the wrapper is not counted.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { startProvider } from '../demo/provider.ts';
import { BIN, run, sandbox } from '../test/support/cli.ts';

const PAIRS = Number(process.env.BENCH_PAIRS ?? 30);

export interface Case {
  name: string;
  cmd: string[];
  env?: Record<string, string>;
  input?: string;
}

function once(c: Case): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(c.cmd[0]!, c.cmd.slice(1), { env: { ...process.env, ...c.env }, input: c.input ?? '', stdio: ['pipe', 'ignore', 'ignore'] });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${c.name} exited ${r.status}`);
  return ms;
}

function rss(c: Case): number {
  const py = 'import resource,subprocess,sys; subprocess.run(sys.argv[1:], input=sys.stdin.buffer.read(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)';
  const r = spawnSync('python3', ['-c', py, ...c.cmd], { env: { ...process.env, ...c.env }, input: c.input ?? '' });
  return Number(r.stdout.toString().trim());
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

export const BASELINE: Case = { name: 'node -e 0', cmd: [process.execPath, '-e', '0'] };

/** Median wall time and peak RSS of `c` against `node -e 0`, interleaved. */
export function compare(c: Case, pairs = PAIRS): { name: string; ms: number; baseMs: number; ratio: number; rssKb: number; baseRssKb: number; rssRatio: number } {
  for (let i = 0; i < 3; i++) {
    once(BASELINE);
    once(c);
  }
  const a: number[] = [];
  const b: number[] = [];
  const ra: number[] = [];
  const rb: number[] = [];
  for (let i = 0; i < pairs; i++) {
    if (i % 2) {
      b.push(once(c));
      a.push(once(BASELINE));
    } else {
      a.push(once(BASELINE));
      b.push(once(c));
    }
    if (i < 10) {
      ra.push(rss(BASELINE));
      rb.push(rss(c));
    }
  }
  return { name: c.name, ms: median(b), baseMs: median(a), ratio: median(b) / median(a), rssKb: median(rb), baseRssKb: median(ra), rssRatio: median(rb) / median(ra) };
}

export function table(rows: ReturnType<typeof compare>[]): string {
  const lines = ['| command (cached token) | median ms | node -e 0 ms | time ratio | peak RSS MiB | node -e 0 MiB | RSS ratio |', '| --- | --- | --- | --- | --- | --- | --- |'];
  for (const r of rows) {
    lines.push(`| ${r.name} | ${r.ms.toFixed(1)} | ${r.baseMs.toFixed(1)} | **${r.ratio.toFixed(2)}×** | ${(r.rssKb / 1024).toFixed(1)} | ${(r.baseRssKb / 1024).toFixed(1)} | **${r.rssRatio.toFixed(2)}×** |`);
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
    const { writeFileSync } = await import('node:fs');
    writeFileSync(config, JSON.stringify({ 'default-profile': 'demo', profiles: { demo: { issuer: p.issuer, 'client-id': p.publicClientId, 'cache-dir': sb.cacheDir, match: ['https://git.example.test/', 'https://k8s.example.test:6443'] } } }));
    const kubeLogin = await run(BIN.oidcCred, ['kube', '--config', config], { env: { ...env, KUBERNETES_EXEC_INFO: '' } });
    void kubeLogin;
    const cases: Case[] = [
      { name: '`oidc-cred token`', cmd: [process.execPath, BIN.oidcCred, 'token', '--config', config], env },
      { name: '`git-credential-oidc-cred get`', cmd: [process.execPath, BIN.git, '--config', config, 'get'], env, input: 'protocol=https\nhost=git.example.test\npath=org/repo.git\n\n' },
      {
        name: '`oidc-cred kube`',
        cmd: [process.execPath, BIN.oidcCred, 'kube', '--config', config],
        env: { ...env, KUBERNETES_EXEC_INFO: JSON.stringify({ kind: 'ExecCredential', apiVersion: 'client.authentication.k8s.io/v1', spec: { interactive: false, cluster: { server: 'https://k8s.example.test:6443' } } }) },
      },
      { name: '`node -e 0` against itself (noise floor)', cmd: [process.execPath, '-e', '0'] },
    ];
    const rows = cases.map((c) => compare(c));

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
