// The one atomic file write: a temp file in the same directory (O_EXCL, O_NOFOLLOW, the final
// mode from the start), fsync, rename over the target, then fsync the directory where the OS
// allows. A reader sees the old file or the new one, never a part; a crash leaves the old one.
// Throws the raw fs error; callers say what they were writing.
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { closeSync, constants, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';

export function writeAtomic(file: string, content: string, mode: number): void {
  const dir = dirname(file);
  const tmp = join(dir, `.${basename(file)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  let fd: number | undefined;
  try {
    fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | (constants.O_NOFOLLOW ?? 0), mode);
    const buf = Buffer.from(content, 'utf8');
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, file);
  } catch (err) {
    if (fd !== undefined) closeSync(fd);
    rmSync(tmp, { force: true });
    throw err;
  }
  try {
    const dfd = openSync(dir, 'r');
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  } catch {
    /* not supported everywhere (e.g. some network file systems) */
  }
}
