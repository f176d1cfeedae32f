// Runs the project's real binaries as a user (git, kubectl, a script) would, in an isolated
// HOME/cache, and checks every captured stderr for tokens the test provider issued.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestProvider } from '../../demo/provider.ts';

export const ROOT = resolve(import.meta.dirname, '..', '..');
export const BIN = {
  oidcCred: join(ROOT, 'bin', 'oidc-cred.cjs'),
  git: join(ROOT, 'bin', 'git-credential-oidc-cred.cjs'),
  docker: join(ROOT, 'bin', 'docker-credential-oidc-cred.cjs'),
};
export const BROWSER = join(ROOT, 'demo', 'browser.ts');

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

export interface RunOptions {
  env?: Record<string, string | undefined>;
  input?: string;
  cwd?: string;
  /** Kill after this long (a generous bound against hangs, not a speed assertion). */
  timeoutMs?: number;
  /** Called once the child is spawned (to signal it, for instance). */
  onSpawn?: (child: import('node:child_process').ChildProcess) => void;
}

/** A provider in a process of its own (test/support/provider-process.ts) also has `sync()`. */
type Tracked = TestProvider & { sync?: () => Promise<void> };
const tracked = new Set<Tracked>();
/**
 * Every run's stderr is checked for every token these providers issued. A provider in its own
 * process is synced first, so that its token list (and counts) include what this run received.
 */
export function trackLeaks(p: Tracked): void {
  tracked.add(p);
}

export function assertNoLeak(text: string, where: string): void {
  for (const p of tracked) {
    if (text.includes(p.clientSecret)) throw new Error(`the test provider's client secret appeared in ${where}`);
    for (const t of p.issuedTokens) {
      // User codes are meant to be shown (device grant); tokens never.
      if (t.length >= 16 && text.includes(t)) throw new Error(`a token issued by the test provider appeared in ${where}`);
    }
  }
}

/** Runs a file with node, as the shebang would. */
export function run(file: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return runCommand(process.execPath, [file, ...args], opts);
}

export function runCommand(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const started = Date.now();
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd ?? ROOT,
      env: cleanEnv(opts.env ?? {}),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.on('error', reject);
    opts.onSpawn?.(child);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const ms = Date.now() - started;
      Promise.all([...tracked].map((p) => p.sync?.()))
        .then(() => {
          assertNoLeak(stderr, `stderr of ${args.slice(0, 3).join(' ')}`);
          resolvePromise({ code, signal, stdout, stderr, ms });
        })
        .catch(reject);
    });
  });
}

/** The environment a test child gets: PATH and node's own settings, nothing of the developer's. */
export function cleanEnv(extra: Record<string, string | undefined>): Record<string, string> {
  const base: Record<string, string | undefined> = {
    PATH: process.env.PATH,
    LANG: 'C.UTF-8',
    NODE_OPTIONS: undefined,
  };
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...base, ...extra })) if (v !== undefined) out[k] = v;
  return out;
}

export interface Sandbox {
  dir: string;
  home: string;
  cacheDir: string;
  browserLog: string;
  env: Record<string, string>;
  /** --issuer/--client-id/--cache-dir/--browser-command for the provider's public client. */
  args(extraBrowserFlags?: string): string[];
  browserCommand(extraFlags?: string): string;
  browserRuns(): string[];
  cleanup(): void;
}

export function sandbox(p: TestProvider): Sandbox {
  const dir = mkdtempSync(join(tmpdir(), 'oidc-cred-test-'));
  const home = join(dir, 'home');
  const cacheDir = join(dir, 'cache');
  const browserLog = join(dir, 'browser.log');
  // tsx by absolute path: git runs helpers in the clone's directory, where a bare `--import tsx`
  // would not resolve and the login would wait for a callback that never comes.
  // As a path, not a file: URL: BROWSER (test/support/git.ts) separates alternatives with ":".
  const browserCommand = (extra = ''): string => `${process.execPath} --import ${fileURLToPath(import.meta.resolve('tsx'))} ${BROWSER} --log ${browserLog} ${extra}`.trim();
  return {
    dir,
    home,
    cacheDir,
    browserLog,
    env: { HOME: home, XDG_CONFIG_HOME: join(home, '.config'), XDG_CACHE_HOME: join(home, '.cache') },
    browserCommand,
    args: (extra) => ['--issuer', p.issuer, '--client-id', p.publicClientId, '--cache-dir', cacheDir, '--browser-command', browserCommand(extra)],
    browserRuns: () => (existsSync(browserLog) ? readFileSync(browserLog, 'utf8').split('\n').filter(Boolean) : []),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** Polls `cond` every 50 ms; fails with `what` after `ms`. */
export async function waitFor(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Some process holds (or a dead one left) a session lock in the sandbox's cache. */
export const lockExists = (sb: Sandbox): boolean => existsSync(sb.cacheDir) && readdirSync(sb.cacheDir).some((f) => f.endsWith('.lock'));
