// Everything main() touches of the outside world, injected so that the same code runs in a
// terminal, under git, under kubectl, and headless in tests (docs/architecture.md).
import { readSync } from 'node:fs';
import { homedir } from 'node:os';
import { InterruptedError, OidcCredError } from './errors.js';
import { Logger, type Writable } from './infra/log.js';

export interface Deps {
  env: Readonly<Record<string, string | undefined>>;
  stdout: Writable;
  stderr: Writable & { isTTY?: boolean; columns?: number };
  /** Whole standard input (bounded), read at most once. */
  readStdin(): Promise<string>;
  /** A client secret given on the command line (kubelogin's --oidc-client-secret), for the unnamed profile. */
  clientSecretFromArgs?: string | undefined;
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

const tooLarge = (limit: number): OidcCredError => new OidcCredError(`standard input is larger than ${limit} bytes`);

/**
 * All of standard input, read once. Plain reads on fd 0: process.stdin is a net.Socket on a pipe
 * and costs 3–5 ms to create, more than the rest of a cache hit. A non-blocking descriptor
 * (EAGAIN) falls back to the stream.
 */
export async function readStdin(limit = MAX_STDIN): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  const buf = Buffer.allocUnsafe(64 * 1024);
  for (;;) {
    let n: number;
    try {
      n = readSync(0, buf, 0, buf.length, null);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EOF' || code === 'EBADF') break;
      if (code === 'EAGAIN' && size === 0) return readAll(process.stdin, limit);
      throw err;
    }
    if (n === 0) break;
    if (size === 0 && n < buf.length) {
      // The usual request (a few hundred bytes) arrives in one read: decode it in place, since
      // Buffer.concat's first use alone costs ~0.25 ms on this path.
      const rest = readSync(0, buf, n, buf.length - n, null);
      if (rest === 0) return buf.toString('utf8', 0, n);
      n += rest;
    }
    size += n;
    if (size > limit) throw tooLarge(limit);
    chunks.push(Buffer.from(buf.subarray(0, n)));
  }
  return Buffer.concat(chunks).toString('utf8');
}

export function readAll(stream: NodeJS.ReadableStream, limit = MAX_STDIN): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    stream.on('data', (c: Buffer | string) => {
      const b = typeof c === 'string' ? Buffer.from(c) : c;
      size += b.length;
      if (size > limit) {
        stream.removeAllListeners('data');
        reject(tooLarge(limit));
        return;
      }
      chunks.push(b);
    });
    stream.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    stream.on('error', reject);
  });
}

/** The real process. Installs signal handlers that turn a signal into an aborted `signal`. */
export function processDeps(opts: { stdin?: Promise<string> | undefined; clientSecretFromArgs?: string | undefined } = {}): Deps {
  const controller = new AbortController();
  const onSignal = (sig: NodeJS.Signals): void => {
    if (controller.signal.aborted) {
      // A second Ctrl-C while cleaning up: stop at once.
      process.exit(new InterruptedError(sig).exitCode);
    }
    controller.abort(new InterruptedError(sig));
  };
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, onSignal);
  // What the hot path already read (or failed to read) is the program's standard input.
  // Its error comes from the hot bundle's own copy of the error classes: wrap it in ours.
  let stdinPromise: Promise<string> | undefined = opts.stdin?.catch((err: unknown) => {
    const msg = err instanceof Error ? err.message : String(err);
    throw new OidcCredError(msg.startsWith('standard input') ? msg : 'could not read standard input', { cause: err });
  });
  const stderr = process.stderr;
  return {
    env: process.env,
    stdout: process.stdout,
    stderr,
    readStdin: () => (stdinPromise ??= readStdin()),
    clientSecretFromArgs: opts.clientSecretFromArgs,
    now: () => Date.now(),
    home: process.env.HOME || homedir(),
    cwd: process.cwd(),
    platform: process.platform,
    signal: controller.signal,
    log: new Logger(stderr),
  };
}
