// Everything main() touches of the outside world, injected so that the same code runs in a
// terminal, under git, under kubectl, and headless in tests (STYLE habit 4).
import { homedir } from 'node:os';
import { InterruptedError } from './errors.js';
import { Logger, type Writable } from './infra/log.js';

export interface Deps {
  env: Readonly<Record<string, string | undefined>>;
  stdout: Writable;
  stderr: Writable & { isTTY?: boolean; columns?: number };
  /** Whole standard input (bounded), read at most once. */
  readStdin(): Promise<string>;
  stdinIsTTY: boolean;
  now(): number;
  home: string;
  cwd: string;
  platform: NodeJS.Platform;
  /** Aborted with an InterruptedError on SIGINT, SIGTERM or SIGHUP. */
  signal: AbortSignal;
  log: Logger;
}

/** Largest standard input we accept: git and docker send a few hundred bytes. */
export const MAX_STDIN = 1024 * 1024;

export function readAll(stream: NodeJS.ReadableStream, limit = MAX_STDIN): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    stream.on('data', (c: Buffer | string) => {
      const b = typeof c === 'string' ? Buffer.from(c) : c;
      size += b.length;
      if (size > limit) {
        stream.removeAllListeners('data');
        reject(new Error(`standard input is larger than ${limit} bytes`));
        return;
      }
      chunks.push(b);
    });
    stream.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    stream.on('error', reject);
  });
}

/** The real process. Installs signal handlers that turn a signal into an aborted `signal`. */
export function processDeps(opts: { stdinText?: string | undefined } = {}): Deps {
  const controller = new AbortController();
  const onSignal = (sig: NodeJS.Signals): void => {
    if (controller.signal.aborted) {
      // A second Ctrl-C while cleaning up: stop at once.
      process.exit(new InterruptedError(sig).exitCode);
    }
    controller.abort(new InterruptedError(sig));
  };
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, onSignal);
  let stdinPromise: Promise<string> | undefined = opts.stdinText === undefined ? undefined : Promise.resolve(opts.stdinText);
  const stderr = process.stderr;
  return {
    env: process.env,
    stdout: process.stdout,
    stderr,
    readStdin: () => (stdinPromise ??= readAll(process.stdin)),
    stdinIsTTY: !!process.stdin.isTTY,
    now: () => Date.now(),
    home: process.env.HOME || homedir(),
    cwd: process.cwd(),
    platform: process.platform,
    signal: controller.signal,
    log: new Logger(stderr),
  };
}
