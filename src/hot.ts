// The entry point every binary starts in (bundled to dist/hot.cjs: CommonJS loads 10–15 ms faster
// than an ES module on Node 20, PERFORMANCE.md). It answers a token-handing command from the
// cache when it can — no yargs, no undici, no oauth4webapi, no lock — and otherwise hands the
// untouched argv (and any standard input it already read) to the full program in dist/main.mjs.
import { homedir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgvLight } from './config/argv.js';
import { readAll } from './deps.js';
import { planTokenCommand } from './plan.js';
import { translateKubeloginArgs } from './protocols/kubelogin.js';
import { cachedToken } from './session.js';

export function run(argv: string[]): void {
  argv = translateKubeloginArgs(argv);
  let stdinText: string | undefined;
  const readStdin = (): Promise<string> => readAll(process.stdin).then((t) => (stdinText = t));
  tryHot(argv, readStdin)
    .catch(() => false) // anything odd: the full program redoes it and reports it properly
    .then((answered) => {
      if (!answered) return full(argv, stdinText);
    })
    .catch((err: unknown) => {
      process.stderr.write(`oidc-cred: unexpected error: ${(err as Error)?.message ?? String(err)}\n`);
      process.exitCode = 1;
    });
}

async function tryHot(argv: string[], readStdin: () => Promise<string>): Promise<boolean> {
  if (process.env.OIDC_CRED_NO_FAST_PATH === '1') return false;
  const parsed = parseArgvLight(argv);
  if (!parsed || parsed.options.verbose || process.env.OIDC_CRED_DEBUG) return false;
  const env = process.env;
  const plan = await planTokenCommand(parsed.positionals, parsed.options, {
    env,
    home: env.HOME || homedir(),
    cwd: process.cwd(),
    readStdin,
  });
  if (!plan) return false;
  if (plan.type === 'done') {
    process.stdout.write(plan.stdout);
    process.exitCode = plan.exitCode;
    return true;
  }
  const answer = cachedToken(plan.settings, plan.kind, { env, platform: process.platform, stderrIsTTY: !!process.stderr.isTTY }, Date.now());
  if (!answer) return false;
  process.stdout.write(plan.format(answer));
  return true;
}

async function full(argv: string[], stdinText: string | undefined): Promise<void> {
  const mod = (await import(pathToFileURL(join(__dirname, 'main.mjs')).href)) as typeof import('./main.js');
  const code = await mod.runMain(argv, { stdinText });
  // undici keeps sockets alive and signal handlers are installed: exit explicitly. Writes to
  // pipes and files are synchronous on Linux and macOS, so nothing printed is lost.
  process.exit(code);
}
