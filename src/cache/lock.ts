// The session lock (docs/architecture.md, "The cache and the lock"): proper-lockfile's mkdir lock
// on a dedicated path beside the cache file (never the data file itself), with an owner record
// inside it (pid, host, boot id, process start time, a nonce), plus an "outcome" record, so that
// processes that waited for a login learn that it failed and fail with it instead of each
// opening a browser of their own.
//
// Takeover: a lock whose holder is on this host and whose process is gone (or reused its pid, or
// is from an earlier boot) is taken over at once; a holder on this host that is alive is never
// taken over however slow it is, unless it is stopped (SIGSTOP, Ctrl-Z) past the stale time; a
// holder elsewhere (an NFS home) by the stale timer. A holder checks `held()` before it uses or
// saves what it read under the lock: a taken-over holder starts over instead.
import { randomBytes } from 'node:crypto';
import { readFileSync, renameSync, rmdirSync, rmSync, statSync, unlinkSync, utimesSync, watch, type FSWatcher } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import lockfile from 'proper-lockfile';
import { errnoOf, LockError, UNWRITABLE } from '../errors.js';
import { bootClock, ensureCacheDir, readCacheFile, writeFileAtomic, type CachePaths } from './store.js';

/** A holder refreshes the lock every UPDATE_MS; a lock untouched for STALE_MS may be taken over. */
export const STALE_MS = 10_000;
const UPDATE_MS = 2_000;
const OWNER = 'owner.json';

/** Who holds a lock: enough to tell, on this host, whether that process still exists. */
export interface LockOwner {
  pid: number;
  host: string;
  /** The kernel's boot id (Linux): the same host name after a reboot is not the same host. */
  boot?: string | undefined;
  /** The process's start time in clock ticks since boot (Linux), so a reused pid is not mistaken for the holder. */
  start?: string | undefined;
  /** ms since the epoch when the lock was taken */
  since: number;
  nonce: string;
  /**
   * What the holder's login shows the user (its login page, or the device page and code), from
   * the note beside the lock (`<key>.lock.note.json`, same nonce); only for the waiting message.
   */
  url?: string | undefined;
}

export interface Held {
  /** Still ours: nobody took the lock over since we got it (checked before using or saving what was read under it). */
  held(): boolean;
  release(): Promise<void>;
  /** Records what the login shows the user, for the processes that wait for it. */
  note?(url: string): void;
}

/**
 * The note lives beside the lock directory, not inside it: a file created inside changes the
 * directory's mtime, by which proper-lockfile tells that the lock is still its own, and putting
 * the mtime back would race with its update timer.
 */
const notePath = (paths: CachePaths): string => `${paths.lock}.note.json`;

export interface LockHooks {
  /** The lock was taken from us (we were stopped or starved past the stale time). */
  onCompromised(err: Error): void;
  /** The directory cannot take a lock at all (read-only, full): the caller goes on unlocked. */
  onUnwritable(err: Error): void;
  /** We took over a lock whose holder is gone. */
  onTakeover?(why: string): void;
}

const UNLOCKED: Held = { held: () => true, release: async () => undefined };

/**
 * Tries once (taking over an abandoned lock first). Resolves a handle, or undefined when another
 * live process holds the lock. A cache directory that cannot be written (read-only, full) cannot
 * be locked either: then the caller goes on unlocked after `onUnwritable` warned, rather than
 * failing a token it can get.
 */
export async function tryLock(paths: CachePaths, hooks: LockHooks): Promise<Held | undefined> {
  try {
    ensureCacheDir(paths.dir);
  } catch (err) {
    if (UNWRITABLE.has(errnoOf(err))) {
      hooks.onUnwritable(err as Error);
      return UNLOCKED;
    }
    throw err;
  }
  let compromised = false;
  const attempt = (): Promise<() => Promise<void>> =>
    lockfile.lock(paths.file, {
      lockfilePath: paths.lock,
      realpath: false, // the cache file may not exist yet
      retries: 0, // we poll ourselves, so that we can watch the cache and the outcome meanwhile
      stale: STALE_MS,
      update: UPDATE_MS,
      // The default throws from a timer and crashes the process; a lost lock is worth a warning.
      onCompromised: (err: Error) => {
        compromised = true;
        hooks.onCompromised(err);
      },
    });
  let release: () => Promise<void>;
  try {
    try {
      release = await attempt();
    } catch (err) {
      // ENOTEMPTY: proper-lockfile found the lock stale but cannot rmdir it (our owner record is
      // inside); the takeover below decides.
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ELOCKED' && code !== 'ENOTEMPTY') throw err;
      const why = takeOverIfAbandoned(paths);
      if (!why) return undefined;
      hooks.onTakeover?.(why);
      release = await attempt();
    }
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ELOCKED' || code === 'ENOTEMPTY') return undefined;
    if (UNWRITABLE.has(errnoOf(err))) {
      hooks.onUnwritable(err as Error);
      return UNLOCKED;
    }
    throw new LockError('could not lock the token cache', { cause: err });
  }
  const me: LockOwner = { ...thisProcess(), since: Date.now(), nonce: randomBytes(12).toString('hex') };
  let recorded = false;
  try {
    // proper-lockfile tells a lock that is still ours by its mtime, which a file created inside
    // changes: put the mtime back.
    const { atime, mtime } = statSync(paths.lock);
    writeFileAtomic(paths.lock, join(paths.lock, OWNER), JSON.stringify(me));
    recorded = true;
    utimesSync(paths.lock, atime, mtime);
  } catch {
    /* without a record the lock still works; only the fast dead-holder takeover is lost */
  }
  // Without a record (a full disk) only proper-lockfile's own check tells a lost lock.
  const held = (): boolean => !compromised && (!recorded || readOwner(paths.lock)?.nonce === me.nonce);
  return {
    held,
    note: (url) => {
      try {
        if (recorded && held()) writeFileAtomic(paths.dir, notePath(paths), JSON.stringify({ nonce: me.nonce, url }));
      } catch {
        /* the waiting message is only less precise */
      }
    },
    release: async () => {
      const ours = recorded && held();
      // Ours or a dead holder's: a note is only read with the current owner's nonce.
      if (ours) {
        try {
          rmSync(notePath(paths), { force: true });
        } catch {
          /* a read-only cache: the next holder overwrites it */
        }
      }
      try {
        // Stops the mtime updates; its rmdir fails while the record is inside.
        await release();
      } catch {
        /* already released or taken over */
      }
      if (!ours) return;
      // The record first, then the (now empty) directory: nobody can take the lock in between.
      try {
        unlinkSync(join(paths.lock, OWNER));
        rmdirSync(paths.lock);
      } catch {
        /* gone already */
      }
    },
  };
}

/** The holder of the session lock, if it left a record. */
export function lockHolder(paths: CachePaths): LockOwner | undefined {
  const owner = readOwner(paths.lock);
  if (!owner) return undefined;
  try {
    const n = JSON.parse(readFileSync(notePath(paths), 'utf8')) as { nonce?: unknown; url?: unknown };
    if (n.nonce === owner.nonce && typeof n.url === 'string') return { ...owner, url: n.url };
  } catch {
    /* no note: the holder is refreshing, or has not shown anything yet */
  }
  return owner;
}

function readOwner(lockDir: string): LockOwner | undefined {
  try {
    const o = JSON.parse(readFileSync(join(lockDir, OWNER), 'utf8')) as LockOwner;
    return typeof o.pid === 'number' && typeof o.host === 'string' && typeof o.nonce === 'string' ? o : undefined;
  } catch {
    return undefined;
  }
}

let self: Pick<LockOwner, 'pid' | 'host' | 'boot' | 'start'> | undefined;
function thisProcess(): Pick<LockOwner, 'pid' | 'host' | 'boot' | 'start'> {
  return (self ??= { pid: process.pid, host: hostname(), boot: bootClock()?.id, start: procStat(process.pid)?.start });
}

/** Linux /proc/<pid>/stat: the state letter and the start time; undefined when there is no such process (or no /proc). */
function procStat(pid: number): { state: string; start: string } | undefined | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT' && existsProc() ? undefined : null;
  }
  // "pid (comm) S ppid …": comm may hold spaces and parentheses; fields count from the last ')'.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { state: rest[0] ?? '', start: rest[19] ?? '' };
}
let procAvailable: boolean | undefined;
function existsProc(): boolean {
  if (procAvailable === undefined) {
    try {
      statSync('/proc/self/stat');
      procAvailable = true;
    } catch {
      procAvailable = false;
    }
  }
  return procAvailable;
}

/** 'gone' (no such process, or the pid now belongs to another), 'stopped' (SIGSTOP/Ctrl-Z), or 'alive'. */
export function holderState(o: Pick<LockOwner, 'pid' | 'start'>): 'gone' | 'stopped' | 'alive' {
  const st = procStat(o.pid);
  if (st === undefined) return 'gone';
  if (st === null) {
    // No /proc (macOS, Windows): signal 0 tells whether the pid exists.
    try {
      process.kill(o.pid, 0);
      return 'alive';
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === 'ESRCH' ? 'gone' : 'alive';
    }
  }
  if (o.start && st.start !== o.start) return 'gone';
  if (st.state === 'Z' || st.state === 'X') return 'gone';
  return st.state === 'T' || st.state === 't' ? 'stopped' : 'alive';
}

/**
 * Removes the lock when its holder is gone, and says why; undefined when it must be left alone.
 * The lock directory is renamed away first (atomic: of two waiters only one succeeds), and the
 * record inside it is checked again, so that a lock someone has taken in the meantime is put back
 * rather than broken.
 */
function takeOverIfAbandoned(paths: CachePaths): string | undefined {
  const owner = readOwner(paths.lock);
  let mtime: number;
  try {
    mtime = statSync(paths.lock).mtimeMs;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'it was just released' : undefined;
  }
  const stale = mtime < Date.now() - STALE_MS;
  const me = thisProcess();
  let why: string | undefined;
  if (owner && owner.host === me.host && (!owner.boot || !me.boot || owner.boot === me.boot)) {
    const state = holderState(owner);
    if (state === 'gone') why = `its holder (pid ${owner.pid}) has exited`;
    else if (state === 'stopped' && stale) why = `its holder (pid ${owner.pid}) is stopped`;
  } else if (owner && owner.host === me.host) {
    why = `its holder (pid ${owner.pid}) ran before this host rebooted`;
  } else if (stale) {
    why = owner ? `its holder (pid ${owner.pid} on ${owner.host}) has not touched it for ${STALE_MS / 1000} s` : 'it has not been touched for a while';
  }
  if (!why) return undefined;
  const grave = `${paths.lock}.${process.pid}.${randomBytes(6).toString('hex')}.stale`;
  try {
    renameSync(paths.lock, grave);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'it was just released' : undefined;
  }
  const moved = readOwner(grave);
  if (moved?.nonce !== owner?.nonce) {
    // Someone took the lock between our look and the rename: give it back.
    try {
      renameSync(grave, paths.lock);
    } catch {
      rmSync(grave, { recursive: true, force: true }); // its holder will find held() false and start over
    }
    return undefined;
  }
  rmSync(grave, { recursive: true, force: true });
  return why;
}

/**
 * Resolves at the next change in the cache directory (a save, a release, an outcome) or after
 * `ms`, whichever comes first. Falls back to the timer alone where the directory cannot be
 * watched (inotify limits, some network file systems).
 */
export class DirWatch {
  #watcher: FSWatcher | undefined;
  #waiting: Array<() => void> = [];
  constructor(dir: string) {
    try {
      this.#watcher = watch(dir, { persistent: false }, () => this.#wake());
      this.#watcher.on('error', () => this.close());
    } catch {
      this.#watcher = undefined;
    }
  }
  #wake(): void {
    const w = this.#waiting;
    this.#waiting = [];
    for (const f of w) f();
  }
  next(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal.aborted) return reject(signal.reason);
      const done = (): void => {
        clearTimeout(t);
        signal.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = (): void => {
        clearTimeout(t);
        this.#waiting = this.#waiting.filter((f) => f !== done);
        reject(signal.reason);
      };
      const t = setTimeout(() => {
        this.#waiting = this.#waiting.filter((f) => f !== done);
        done();
      }, ms);
      this.#waiting.push(done);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }
  close(): void {
    this.#watcher?.close();
    this.#watcher = undefined;
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
