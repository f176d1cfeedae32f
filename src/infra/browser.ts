// Opening the login page (docs/configuration.md; docs/architecture.md, "The login"). The URL is passed as one argv element, never through a
// shell; whatever the browser prints goes to our stderr, never to stdout (it belongs to git,
// kubectl or docker), and the child cannot keep our pipes open after we exit.
import { spawn } from 'node:child_process';
import type { Logger } from './log.js';

/** Splits a command line into words the way a POSIX shell would, without expanding anything. */
export function splitCommand(cmd: string): string[] {
  const words: string[] = [];
  let cur = '';
  let inWord = false;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < cmd.length; i++) {
    const c = cmd[i]!;
    if (quote === "'") {
      if (c === "'") quote = undefined;
      else cur += c;
    } else if (quote === '"') {
      if (c === '"') quote = undefined;
      else if (c === '\\' && i + 1 < cmd.length && '"\\$`\n'.includes(cmd[i + 1]!)) cur += cmd[++i];
      else cur += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      inWord = true;
    } else if (c === '\\' && i + 1 < cmd.length) {
      cur += cmd[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(cur);
      cur = '';
      inWord = false;
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (quote) throw new Error(`unterminated ${quote} quote in the browser command`);
  if (inWord) words.push(cur);
  return words;
}

export interface BrowserOptions {
  command: string | undefined;
  /**
   * The command is the BROWSER variable's: a `:`-separated list of alternatives, tried in order
   * until one starts, where `%s` stands for the URL (and `%%` for `%`) — the convention of
   * Python's webbrowser, xdg-utils and sensible-browser. --browser-command is one command (it may
   * well hold a `:`, as in `file:///…`), with the URL appended.
   */
  fromBrowserEnv?: boolean | undefined;
  log: Logger;
  env: Readonly<Record<string, string | undefined>>;
  /** The variable the profile takes its client secret from ("client-secret-env"), if any. */
  secretEnv?: string | undefined;
}

/** Starts the browser and returns at once; a failure to open is only a warning (the URL is on stderr). */
export async function openBrowser(url: string, opts: BrowserOptions): Promise<void> {
  const warn = (why: string): void => opts.log.info(`oidc-cred: could not open a browser (${why}); open the URL above yourself`);
  if (opts.command) {
    const alternatives = opts.fromBrowserEnv ? opts.command.split(':').filter((c) => c.trim()) : [opts.command];
    let argvs: string[][];
    try {
      argvs = alternatives.map((c) => withUrl(splitCommand(c), url, !!opts.fromBrowserEnv));
    } catch (err) {
      warn((err as Error).message);
      return;
    }
    if (!argvs.length || !argvs[0]!.length) return warn('the browser command is empty');
    const tryOne = (i: number): void => {
      const words = argvs[i]!;
      opts.log.debug(`starting browser command ${words[0]}`);
      const child = spawn(words[0]!, words.slice(1), {
        // Its output goes to our stderr — the descriptor itself, not a pipe through us, so a
        // browser that outlives us (it usually does) cannot die of a broken pipe. Never stdout.
        stdio: ['ignore', 2, 2],
        // Its own process group: a Ctrl-C meant for oidc-cred does not close the user's browser.
        detached: true,
        env: childEnv(opts.env, opts.secretEnv),
      });
      child.on('error', (err) => {
        // BROWSER=firefox:chromium on a machine without firefox: the next one.
        if ((err as NodeJS.ErrnoException).code === 'ENOENT' && i + 1 < argvs.length) return tryOne(i + 1);
        warn((err as NodeJS.ErrnoException).code === 'ENOENT' ? `${words[0]} was not found` : err.message);
      });
      child.on('exit', (code, sig) => {
        if (code) warn(`the browser command ${words[0]} exited with status ${code}`);
        else if (sig) warn(`the browser command ${words[0]} was killed by ${sig}`);
      });
      child.unref();
    };
    tryOne(0);
    return;
  }
  try {
    // `open` spawns xdg-open (which starts the browser) with process.env and takes no env of its
    // own: take the secrets out of process.env itself. Their values are already in the resolved
    // settings, and nothing reads them from the environment again.
    for (const name of secretNames(opts.secretEnv)) delete process.env[name];
    const { default: open } = await import('open');
    const child = await open(url, { wait: false });
    // The bundled xdg-open exits 3 when there is no desktop, while the promise resolves.
    child.on('exit', (code) => {
      if (code) warn(openerFailure(code));
    });
    child.on('error', (err) => warn(err.message));
    child.unref();
  } catch (err) {
    warn((err as Error).message);
  }
}

/** The words of one command with the URL in place of `%s` (BROWSER), or appended as the last argument. */
function withUrl(words: string[], url: string, percent: boolean): string[] {
  if (!percent) return [...words, url];
  let used = false;
  const out = words.map((w) =>
    w.replace(/%[s%]/g, (m) => {
      if (m === '%%') return '%';
      used = true;
      return url;
    }),
  );
  return used ? out : [...out, url];
}

/** xdg-open's exit statuses (xdg-utils' manual page), in words. */
function openerFailure(code: number): string {
  const why: Record<number, string> = {
    1: 'it was called wrongly',
    2: 'a file it needs does not exist',
    3: 'it found no browser or desktop to open the page with',
    4: 'the browser it started failed',
  };
  const name = process.platform === 'linux' ? 'the system opener (xdg-open)' : 'the system opener';
  return `${name} exited with status ${code}: ${why[code] ?? 'an error'}; set BROWSER or --browser-command`;
}

/** Variables that may hold a client secret: ours, and the one a profile names. */
function secretNames(extra: string | undefined): string[] {
  return extra && extra !== 'OIDC_CRED_CLIENT_SECRET' ? ['OIDC_CRED_CLIENT_SECRET', extra] : ['OIDC_CRED_CLIENT_SECRET'];
}

/** Every child (browser, git, kubectl) gets our environment minus anything that could hold a client secret. */
export function childEnv(env: Readonly<Record<string, string | undefined>>, secretEnv?: string): Record<string, string> {
  const drop = new Set(secretNames(secretEnv));
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined || drop.has(k)) continue;
    out[k] = v;
  }
  return out;
}

/** docs/configuration.md: a login starts only where someone can see it. */
export function canShowLogin(s: { browserCommand: string | undefined }, env: Readonly<Record<string, string | undefined>>, platform: NodeJS.Platform, stderrIsTTY: boolean): boolean {
  if (s.browserCommand) return true;
  if (platform === 'darwin' || platform === 'win32') return true;
  if (env.DISPLAY || env.WAYLAND_DISPLAY) return true;
  return stderrIsTTY;
}
