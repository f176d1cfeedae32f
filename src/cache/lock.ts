// The session lock (SPEC §5): proper-lockfile's mkdir lock on a dedicated path beside the cache
// file (never the data file itself), plus an "outcome" record, so that processes that waited for
// a login learn that it failed and fail with it instead of each opening a browser of their own.
import lockfile from 'proper-lockfile';
import { LockError } from '../errors.js';
import { ensureCacheDir, readCacheFile, writeFileAtomic, type CachePaths } from './store.js';

/** A holder refreshes the lock every UPDATE_MS; a lock untouched for STALE_MS is taken over. */
export const STALE_MS = 10_000;
const UPDATE_MS = 2_000;

export type Release = () => Promise<void>;

/** Errors that mean "this directory cannot take a lock at all" rather than "someone holds it". */
export const UNWRITABLE: ReadonlySet<string> = new Set(['EROFS', 'EACCES', 'EPERM', 'ENOSPC', 'EDQUOT']);

/**
 * Tries once. Resolves a release function, or undefined when another process holds the lock.
 * A cache directory that cannot be written (read-only, full) cannot be locked either: then the
 * caller goes on unlocked after `onUnwritable` warned, rather than failing a token it can get.
 */
export async function tryLock(paths: CachePaths, onCompromised: (err: Error) => void, onUnwritable: (err: Error) => void): Promise<Release | undefined> {
  try {
    ensureCacheDir(paths.dir);
  } catch (err) {
    if (UNWRITABLE.has(errnoOf(err))) {
      onUnwritable(err as Error);
      return async () => undefined;
    }
    throw err;
  }
  try {
    const release = await lockfile.lock(paths.file, {
      lockfilePath: paths.lock,
      realpath: false, // the cache file may not exist yet
      retries: 0, // we poll ourselves, so that we can watch the cache and the outcome meanwhile
      stale: STALE_MS,
      update: UPDATE_MS,
      // The default throws from a timer and crashes the process; a lost lock is worth a warning.
      onCompromised,
    });
    return async () => {
      try {
        await release();
      } catch {
        /* already released or taken over: nothing left to undo */
      }
    };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ELOCKED') return undefined;
    if (UNWRITABLE.has(errnoOf(err))) {
      onUnwritable(err as Error);
      return async () => undefined;
    }
    throw new LockError('could not lock the token cache', { cause: err });
  }
}

export interface Outcome {
  /** ms since the epoch when the attempt ended */
  at: number;
  pid: number;
  ok: boolean;
  /** The one-line reason, already free of secrets. */
  reason?: string;
}

export function writeOutcome(paths: CachePaths, outcome: Outcome): void {
  try {
    writeFileAtomic(paths.dir, paths.outcome, JSON.stringify(outcome));
  } catch {
    /* best effort: waiters then time out instead of failing early */
  }
}

export function readOutcome(paths: CachePaths): Outcome | undefined {
  try {
    // The session file's safe read (no FIFO hang, no symlink); one of another user's is not ours.
    const text = readCacheFile(paths.outcome, (st) => {
      if (typeof process.getuid === 'function' && st.uid !== process.getuid()) throw new Error('not ours');
    });
    if (text === undefined) return undefined;
    const o = JSON.parse(text) as Outcome;
    return typeof o.at === 'number' && typeof o.ok === 'boolean' ? o : undefined;
  } catch {
    return undefined;
  }
}

/** The errno code of an error or of the error it wraps. */
export function errnoOf(err: unknown): string {
  let e = err as { code?: unknown; cause?: unknown } | undefined;
  for (let i = 0; e && i < 4; i++) {
    if (typeof e.code === 'string' && /^E[A-Z]+$/.test(e.code)) return e.code;
    e = e.cause as typeof e;
  }
  return '';
}
