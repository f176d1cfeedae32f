// The entry point every binary starts in (bundled to dist/entry.cjs: CommonJS loads 10–15 ms
// faster than an ES module on Node 20; docs/architecture.md, "Why the cache-hit path is shaped as
// it is"). It answers a token-handing command from the cache when it can — no yargs, no undici,
// no oauth4webapi, no lock — and otherwise hands the argv (and any standard input it already
// read) to the full program in dist/main.mjs.
import { writeSync } from 'node:fs';
import { parseArgvLight } from './config/argv.js';
import { readStdin as readWholeStdin } from './deps.js';
import { planTokenCommand } from './protocols/request.js';
import { translateKubeloginArgs, type KubeloginTranslation } from './protocols/kubelogin.js';
import { cachedToken } from './session/read.js';
import { apiKey, sessionKey } from './cache/store.js';

/** What bin/boot.cjs provides: the bundle runs inside vm.Script, where import() is not available. */
export interface BootIo {
  loadMain(): Promise<typeof import('./main.js')>;
  homedir(): string;
}

export function run(argv: string[], io: BootIo): Promise<void> {
  // Only get-token speaks kubelogin: V8 compiles a function on its first call, and compiling the
  // translator costs ~0.3 ms even when it would return at once.
  const kubelogin = argv[0] === 'get-token' ? translateKubeloginArgs(argv) : undefined;
  if (kubelogin) argv = kubelogin.argv;
  // Read once; the text, or the reason it could not be read, goes on to the full program.
  let stdin: Promise<string> | undefined;
  const readStdin = (): Promise<string> => (stdin ??= readWholeStdin());
  return tryCache(argv, readStdin, io, kubelogin)
    .catch(() => undefined) // anything odd: the full program redoes it and reports it properly
    .then((answer) => {
      if (!answer) return full(argv, stdin, io, kubelogin);
      // Outside the fallback: a failed write must not make the full program answer again.
      writeStdout(answer.stdout);
      // The write was synchronous and nothing else is pending: skip the event loop's teardown.
      process.exit(answer.exitCode);
    })
    .catch((err: unknown) => {
      process.stderr.write(`oidc-cred: unexpected error: ${(err as Error)?.message ?? String(err)}\n`);
      process.exitCode = 1;
    });
}

/** The answer from the cache, or undefined when the full program must answer. */
async function tryCache(
  argv: string[],
  readStdin: () => Promise<string>,
  io: BootIo,
  kubelogin: KubeloginTranslation | undefined,
): Promise<{ stdout: string; exitCode: number } | undefined> {
  // A kubelogin flag that cannot be honoured is a usage error, never answered around.
  if (kubelogin?.error) return undefined;
  const parsed = parseArgvLight(argv);
  if (!parsed) return undefined;
  const env = process.env;
  const plan = await planTokenCommand(parsed.positionals, parsed.options, {
    env,
    // node:os is loaded only where needed: every module counts on this path.
    home: env.HOME || io.homedir(),
    cwd: process.cwd(),
    readStdin,
    clientSecretFromArgs: kubelogin?.clientSecret,
  });
  if (!plan) return undefined;
  if (plan.type === 'done') return { stdout: plan.stdout, exitCode: plan.exitCode };
  // -v (from a flag, the environment or the profile): the full program says which profile,
  // config file and cache file answered.
  if (plan.settings.verbose) return undefined;
  const answer = cachedToken(plan.settings, plan.kind, { env, platform: process.platform, stderrIsTTY: () => !!process.stderr.isTTY }, Date.now());
  return answer ? { stdout: plan.format(answer), exitCode: 0 } : undefined;
}

// process.stdout is created on first use, and on a pipe that costs 3–4 ms (a net.Socket): more
// than the rest of a cache hit. A plain write on fd 1 does the same job; a non-blocking
// descriptor (EAGAIN) falls back to the stream.
function writeStdout(text: string): void {
  const buf = Buffer.from(text, 'utf8');
  let off = 0;
  try {
    while (off < buf.length) off += writeSync(1, buf, off, buf.length - off);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
    process.stdout.write(buf.subarray(off));
  }
}

async function full(argv: string[], stdin: Promise<string> | undefined, io: BootIo, kubelogin: KubeloginTranslation | undefined): Promise<void> {
  stdin?.catch(() => undefined); // handled where the full program reads it
  const mod = await io.loadMain();
  const code = await mod.runMain(argv, { stdin, kubelogin });
  // undici keeps sockets alive and signal handlers are installed: exit explicitly. Writes to
  // pipes and files are synchronous on Linux and macOS, so nothing printed is lost.
  process.exit(code);
}

/** For the build's warm-up (scripts/warm-cache.cjs): the session key of a plain profile. */
export function sessionKeyFor(issuer: string, clientId: string): string {
  return sessionKey({ issuer, clientId, params: {}, grant: 'user' });
}

/** For the build's warm-up: the key of a plain profile's API inside its session. */
export function apiKeyFor(): string {
  return apiKey({ audience: undefined, resources: [], scopes: ['openid', 'offline_access'] });
}
