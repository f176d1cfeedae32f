// Start-up cost of `oidc-cred kube` with a cached token (issue 4: at most 1.2× `node -e 0`),
// as a ratio of medians measured side by side in this one run — the machine's speed drifts 2×
// over minutes, so only ratios mean anything (PERFORMANCE.md).
//
//   node --import tsx scripts/bench-kube.ts        (after npm run build)
//   BENCH_PAIRS=40 …                               more pairs
//
// Always: our own interleaved loop (A B B A …, 30 pairs by default). Also hyperfine when it is
// installed (`hyperfine -N`; it runs each command in a batch rather than interleaved, so its
// ratio is a second opinion, not the figure of record).
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { startProvider } from '../demo/provider.ts';
import { BIN, run, sandbox } from '../test/support/cli.ts';

const PAIRS = Math.max(20, Number(process.env.BENCH_PAIRS ?? 30));
const EXEC_INFO = JSON.stringify({ kind: 'ExecCredential', apiVersion: 'client.authentication.k8s.io/v1', spec: { interactive: false } });

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

function timeOnce(cmd: string[], env: NodeJS.ProcessEnv): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd[0]!, cmd.slice(1), { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${cmd.join(' ')} exited ${r.status}: ${r.stderr.toString().slice(0, 300)}`);
  return ms;
}

async function main(): Promise<void> {
  const p = await startProvider();
  const sb = sandbox(p);
  mkdirSync(sb.home, { recursive: true });
  try {
    const login = await run(BIN.oidcCred, ['login', ...sb.args()], { env: sb.env });
    if (login.code !== 0) throw new Error(`login failed: ${login.stderr}`);
    // Settings through the environment, so that hyperfine -N needs no quoting.
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      LANG: 'C.UTF-8',
      ...sb.env,
      OIDC_CRED_ISSUER: p.issuer,
      OIDC_CRED_CLIENT_ID: p.publicClientId,
      OIDC_CRED_CACHE_DIR: sb.cacheDir,
      OIDC_CRED_NON_INTERACTIVE: '1',
      KUBERNETES_EXEC_INFO: EXEC_INFO,
    };
    const kube = [process.execPath, BIN.oidcCred, 'kube'];
    const base = [process.execPath, '-e', '0'];
    const requests = p.counts.requests;
    // Proves the cache answers: a valid ExecCredential and no request to the provider.
    const check = spawnSync(kube[0]!, kube.slice(1), { env });
    const cred = JSON.parse(check.stdout.toString()) as { status?: { token?: string } };
    if (check.status !== 0 || !cred.status?.token) throw new Error(`oidc-cred kube failed: ${check.stderr.toString()}`);
    await p.close(); // the hot path needs no provider at all

    for (let i = 0; i < 3; i++) {
      timeOnce(base, env);
      timeOnce(kube, env);
    }
    // `oidc-cred token` on the same cache, for reference: what kube costs beyond the shared hot path.
    const token = [process.execPath, BIN.oidcCred, 'token'];
    const cmds = { base, kube, token };
    const times: Record<keyof typeof cmds, number[]> = { base: [], kube: [], token: [] };
    const order = Object.keys(cmds) as (keyof typeof cmds)[];
    for (let i = 0; i < PAIRS; i++) {
      // Rotate the order so that no command always runs right after another.
      for (let j = 0; j < order.length; j++) {
        const k = order[(i + j) % order.length]!;
        times[k].push(timeOnce(cmds[k], env));
      }
    }
    const ma = median(times.base);
    const mb = median(times.kube);
    const mt = median(times.token);
    const lines = [
      `oidc-cred kube, cached token (${PAIRS} interleaved rounds):`,
      `  node -e 0          median ${ma.toFixed(1)} ms`,
      `  oidc-cred kube     median ${mb.toFixed(1)} ms   ratio ${(mb / ma).toFixed(3)}× (goal ≤ 1.2×)`,
      `  oidc-cred token    median ${mt.toFixed(1)} ms   ratio ${(mt / ma).toFixed(3)}× (same hot path, for reference)`,
      `  provider requests during the runs: ${p.counts.requests - requests}`,
    ];

    const hf = spawnSync('sh', ['-c', 'command -v hyperfine'], { encoding: 'utf8' });
    if (hf.status === 0 && hf.stdout.trim()) {
      const out = join(sb.dir, 'hyperfine.json');
      const r = spawnSync(hf.stdout.trim(), ['-N', '-w', '5', '-r', String(PAIRS), '--export-json', out, base.join(' '), kube.join(' ')], { env, stdio: ['ignore', 'ignore', 'pipe'] });
      if (r.status === 0) {
        const j = JSON.parse(readFileSync(out, 'utf8')) as { results: { median: number }[] };
        const [h0, h1] = j.results.map((x) => x.median * 1000);
        lines.push(`hyperfine -N (${PAIRS} runs each, batched): node -e 0 ${h0!.toFixed(1)} ms, oidc-cred kube ${h1!.toFixed(1)} ms, ratio ${(h1! / h0!).toFixed(3)}×`);
      } else lines.push(`hyperfine failed: ${r.stderr.toString().slice(0, 200)}`);
    } else lines.push('hyperfine: not installed (own loop only)');
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    await p.close().catch(() => undefined);
    rmSync(sb.dir, { recursive: true, force: true });
  }
}

await main();
