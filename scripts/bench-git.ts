// git credential helper speed (issue 3), after `npm run build`:
//
//   node --import tsx scripts/bench-git.ts        BENCH_PAIRS=40 … for more pairs
//
// `git credential fill` three ways, each interleaved round-robin (the helper's own start-up
// against `node -e 0` is in scripts/bench.ts):
//     - through oidc-cred alone (credential.helper=oidc-cred, cached token);
//     - through git's `cache` helper in front of oidc-cred;
//     - through git's `cache` helper in front of git-credential-oauth — the setup its README
//       recommends; the cache is primed with `git credential approve`, so oauth itself never
//       runs (it would need a real provider), exactly as on a warm developer machine.
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { startProvider } from '../demo/provider.ts';
import { BIN, run, sandbox } from '../test/support/cli.ts';

const PAIRS = Math.max(20, Number(process.env.BENCH_PAIRS ?? 30));
const REQUEST = 'protocol=https\nhost=git.example.com\n\n';

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

interface Case {
  name: string;
  cmd: string[];
  input: string;
  /** what stdout must contain, so that a broken setup cannot look fast */
  expect?: RegExp;
}

function timeOnce(c: Case, env: NodeJS.ProcessEnv): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(c.cmd[0]!, c.cmd.slice(1), { env, input: c.input, stdio: ['pipe', 'pipe', 'pipe'] });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${c.name} exited ${r.status}: ${r.stderr.toString().slice(0, 300)}`);
  if (c.expect && !c.expect.test(r.stdout.toString())) throw new Error(`${c.name} gave no credential: ${r.stderr.toString().slice(0, 300)}`);
  return ms;
}

/** Round-robin over the cases, rotating the start each round; medians per case. */
function interleaved(cases: Case[], env: NodeJS.ProcessEnv, rounds: number): number[] {
  const times: number[][] = cases.map(() => []);
  for (let w = 0; w < 3; w++) cases.forEach((c) => timeOnce(c, env));
  for (let i = 0; i < rounds; i++) {
    for (let j = 0; j < cases.length; j++) {
      const k = (i + j) % cases.length;
      times[k]!.push(timeOnce(cases[k]!, env));
    }
  }
  return times.map(median);
}

function which(cmd: string): string | undefined {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.trim() ? r.stdout.trim() : undefined;
}

async function main(): Promise<void> {
  const p = await startProvider();
  const sb = sandbox(p);
  const binDir = join(sb.dir, 'bin');
  mkdirSync(sb.home, { recursive: true });
  mkdirSync(binDir, { recursive: true });
  symlinkSync(BIN.git, join(binDir, 'git-credential-oidc-cred'));
  const lines: string[] = [];
  let env: NodeJS.ProcessEnv = {};
  try {
    const login = await run(BIN.oidcCred, ['login', ...sb.args()], { env: sb.env });
    if (login.code !== 0) throw new Error(`login failed: ${login.stderr}`);
    env = {
      PATH: `${binDir}:${process.env.PATH}`,
      LANG: 'C.UTF-8',
      ...sb.env,
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_TERMINAL_PROMPT: '0',
      OIDC_CRED_CACHE_DIR: sb.cacheDir,
      OIDC_CRED_NON_INTERACTIVE: '1',
    };
    // The helper's own command line names the provider: git's helper ignores OIDC_CRED_ISSUER.
    const provider = ['--issuer', p.issuer, '--client-id', p.publicClientId];
    const requests = p.counts.requests;
    const helper: Case = { name: 'git-credential-oidc-cred get', cmd: [process.execPath, BIN.git, ...provider, 'get'], input: REQUEST, expect: /^password=/m };
    timeOnce(helper, env); // proves the cache answers (throws otherwise)

    // (b)
    const fill = (helpers: string[]): Case => ({
      name: `git credential fill via ${helpers.map((h) => h.replace(/ --issuer .*$/, '')).join(' → ')}`,
      cmd: ['git', '-c', 'credential.helper=', ...helpers.flatMap((h) => ['-c', `credential.helper=${h}`]), 'credential', 'fill'],
      input: REQUEST,
      expect: /^password=/m,
    });
    const ours = `oidc-cred ${provider.join(' ')}`;
    const cases: Case[] = [fill([ours]), fill(['cache --timeout 3600', ours])];
    const oauth = which('git-credential-oauth');
    if (oauth) {
      const viaOauth = fill(['cache --timeout 3600', 'oauth']);
      // Prime git's cache daemon as a first successful fetch would (git calls `store` on every helper).
      const approve = spawnSync('git', [...viaOauth.cmd.slice(1, -2), 'credential', 'approve'], {
        env,
        input: 'protocol=https\nhost=git.example.com\nusername=oauth2\npassword=gho_primed_for_the_benchmark\n\n',
      });
      if (approve.status !== 0) throw new Error(`priming the cache failed: ${approve.stderr.toString()}`);
      cases.push(viaOauth);
    }
    // Prime the cache in front of oidc-cred as git would: the first fill falls through to
    // oidc-cred, and after a successful fetch git hands that credential to `cache` (approve).
    const first = spawnSync('git', cases[1]!.cmd.slice(1), { env, input: REQUEST });
    spawnSync('git', [...cases[1]!.cmd.slice(1, -2), 'credential', 'approve'], { env, input: `${first.stdout.toString()}\n` });
    const medians = interleaved(cases, env, PAIRS);
    lines.push(`git credential fill (git ${spawnSync('git', ['--version'], { encoding: 'utf8' }).stdout.trim().replace(/^git version /, '')}) — ${PAIRS} interleaved rounds`);
    cases.forEach((c, i) => lines.push(`    ${c.name.replace('git credential fill via ', '').padEnd(34)}${medians[i]!.toFixed(1).padStart(7)} ms`));
    if (!oauth) lines.push('    git-credential-oauth: not installed');
    lines.push(`    provider requests during all runs: ${p.counts.requests - requests}`);
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    spawnSync('git', ['credential-cache', 'exit'], { env: { ...process.env, ...env } });
    await p.close().catch(() => undefined);
    rmSync(sb.dir, { recursive: true, force: true });
  }
}

await main();
