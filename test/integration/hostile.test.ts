// Issue 6: hostile or broken provider answers, full disks and read-only caches. Every broken
// answer must end in exit 1 with one clear line, and nothing cached or half-written.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startProvider, type TestProvider } from '../../demo/provider.ts';
import { BIN, run, sandbox, trackLeaks } from '../support/cli.ts';
import { startHostileOp, type Fault, type HostileOp } from '../support/hostile-op.ts';
import { onlyApi } from '../support/session-file.ts';

let op: HostileOp;
let p: TestProvider;
before(async () => {
  op = await startHostileOp();
  p = await startProvider();
  trackLeaks(p);
});
after(async () => {
  await op.close();
  await p.close();
});

const sessions = (dir: string): string[] => (existsSync(dir) ? readdirSync(dir).filter((f) => /^[0-9a-f]{64}\.json$/.test(f)) : []);

const faults: Array<[Fault, RegExp]> = [
  ['discovery-issuer-mismatch', /metadata.*issuer/i],
  ['discovery-truncated', /metadata/],
  ['discovery-huge', /more than the 1048576 bytes accepted/],
  ['discovery-redirect', /metadata.*redirect \(HTTP 302\) to https:\/\/evil\.example/],
  ['token-html', /exchange the authorization code.*text\/html instead of JSON/],
  ['token-truncated', /exchange the authorization code/],
  ['token-huge', /more than the 1048576 bytes accepted/],
  ['token-hang-body', /exchange the authorization code.*(timed out|broke off)/],
  ['token-wrong-audience', /exchange the authorization code.*aud/],
  ['token-bad-nonce', /exchange the authorization code.*nonce/],
  ['token-wrong-issuer', /exchange the authorization code.*iss/],
  ['token-expired-id-token', /exchange the authorization code.*(exp|expired|timestamp)/i],
  ['token-no-access-token', /exchange the authorization code.*access_token/],
  ['token-redirect', /exchange the authorization code.*redirect \(HTTP 307\)/],
  ['callback-wrong-iss', /login response.*not valid|iss/],
];

describe('hostile provider answers → exit 1, one line, nothing cached', () => {
  for (const [fault, pattern] of faults) {
    it(fault, async () => {
      op.fault = fault;
      const sb = sandbox(p);
      const r = await run(BIN.oidcCred, ['token', '--issuer', op.issuer, '--client-id', 'hostile-client', '--cache-dir', sb.cacheDir, '--browser-command', sb.browserCommand()], {
        env: sb.env,
        timeoutMs: 60_000,
      });
      assert.equal(r.code, 1, r.stderr);
      assert.equal(r.stdout, '');
      // The browser's own output shares our stderr (it is the browser's to print); every other
      // line is ours, and besides the login URL and a browser warning there is exactly one.
      const all = r.stderr.split('\n').filter(Boolean);
      assert.ok(all.every((l) => l.startsWith('oidc-cred: ') || l.startsWith('demo browser: ')), r.stderr);
      const lines = all.filter((l) => l.startsWith('oidc-cred: ') && !l.startsWith('oidc-cred: log in to') && !l.includes('could not open a browser'));
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0]!, /^oidc-cred: /);
      assert.match(lines[0]!, pattern);
      assert.doesNotMatch(r.stderr, /\bat .*\.(m?js|ts):\d+/, 'no stack trace');
      assert.ok(!r.stderr.includes('hostile-access-token') && !r.stderr.includes('hostile-refresh-token'), 'no token in the error');
      assert.deepEqual(sessions(sb.cacheDir), [], 'nothing cached');
      const leftovers = existsSync(sb.cacheDir) ? readdirSync(sb.cacheDir).filter((f) => f.endsWith('.tmp') || f.endsWith('.lock')) : [];
      assert.deepEqual(leftovers, [], 'nothing half-written, no lock left');
      sb.cleanup();
    });
  }
  it('the same broken provider, answering properly, works (the harness itself is sound)', async () => {
    op.fault = 'ok';
    const sb = sandbox(p);
    const r = await run(BIN.oidcCred, ['token', '--issuer', op.issuer, '--client-id', 'hostile-client', '--cache-dir', sb.cacheDir, '--browser-command', sb.browserCommand()], { env: sb.env });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'hostile-access-token-0123456789\n');
    sb.cleanup();
  });
});

function tryMount(args: string[]): boolean {
  try {
    execFileSync('mount', args, { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('a cache that cannot be written', () => {
  it('disk full (ENOSPC) during a refresh: the token is handed over with a warning and the old file is intact', async (t) => {
    const sb = sandbox(p);
    mkdirSync(sb.cacheDir, { recursive: true, mode: 0o700 });
    if (process.getuid?.() !== 0 || !tryMount(['-t', 'tmpfs', '-o', 'size=64k,mode=0700', 'tmpfs', sb.cacheDir])) {
      t.skip('needs root and mount(8) to make a small tmpfs');
      return;
    }
    try {
      assert.equal((await run(BIN.oidcCred, ['token', ...sb.args()], { env: sb.env })).code, 0);
      const file = join(sb.cacheDir, sessions(sb.cacheDir)[0]!);
      const s = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
      onlyApi(s).expires_at = new Date(Date.now() + 10_000).toISOString();
      onlyApi(s).obtained_at = new Date(Date.now() - 3600_000).toISOString(); // an hour-long token near its end, not a short one
      writeFileSync(file, JSON.stringify(s), { mode: 0o600 });
      const before = readFileSync(file, 'utf8');
      // Fill the file system to the last byte.
      try {
        execFileSync('dd', ['if=/dev/zero', `of=${join(sb.cacheDir, 'filler')}`, 'bs=1k', 'count=1024'], { stdio: 'ignore' });
      } catch {
        /* dd stops at ENOSPC */
      }
      const r = await run(BIN.oidcCred, ['token', ...sb.args()], { env: sb.env });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^\S{20,}\n$/);
      assert.notEqual(r.stdout.trim(), onlyApi(s).access_token, 'a refreshed token');
      assert.match(r.stderr, /warning: .*(ENOSPC|cannot be written)/);
      assert.equal(readFileSync(file, 'utf8'), before, 'the old file is untouched, not truncated');
      assert.deepEqual(readdirSync(sb.cacheDir).filter((f) => f.endsWith('.tmp')), []);
    } finally {
      execFileSync('umount', [sb.cacheDir]);
      sb.cleanup();
    }
  });

  it('a read-only cache directory: the token is handed over with a warning', async (t) => {
    const sb = sandbox(p);
    mkdirSync(sb.cacheDir, { recursive: true, mode: 0o700 });
    if (process.getuid?.() !== 0 || !tryMount(['--bind', '-o', 'ro', sb.cacheDir, sb.cacheDir])) {
      t.skip('needs root and mount(8) for a read-only bind mount');
      return;
    }
    try {
      const r = await run(BIN.oidcCred, ['token', ...sb.args()], { env: sb.env });
      assert.equal(r.code, 0, r.stderr);
      assert.ok(await p.userinfo(r.stdout.trim()));
      assert.match(r.stderr, /warning: the token cache .* cannot be written \(EROFS\)/);
      assert.equal(r.stderr.match(/warning/g)?.length ?? 0, 1, 'one warning, not one per write');
    } finally {
      execFileSync('umount', [sb.cacheDir]);
      sb.cleanup();
    }
  });
});

describe('hostile neighbours', () => {
  it('a cache directory owned by another user is refused', async (t) => {
    if (process.getuid?.() !== 0) return t.skip('needs root to chown to another user');
    const sb = sandbox(p);
    mkdirSync(sb.cacheDir, { recursive: true, mode: 0o700 });
    execFileSync('chown', ['65534:65534', sb.cacheDir]);
    const r = await run(BIN.oidcCred, ['token', ...sb.args()], { env: sb.env });
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /belongs to another user \(uid 65534\)/);
    assert.equal(sb.browserRuns().length, 0, 'refused before any login');
    sb.cleanup();
  });

  it('a session file replaced by a symlink (to a file the attacker controls) is refused', async () => {
    const sb = sandbox(p);
    assert.equal((await run(BIN.oidcCred, ['token', ...sb.args()], { env: sb.env })).code, 0);
    const name = sessions(sb.cacheDir)[0]!;
    const evil = join(sb.dir, 'planted.json');
    writeFileSync(evil, readFileSync(join(sb.cacheDir, name)), { mode: 0o600 });
    const { rmSync, symlinkSync } = await import('node:fs');
    rmSync(join(sb.cacheDir, name));
    symlinkSync(evil, join(sb.cacheDir, name));
    const r = await run(BIN.oidcCred, ['token', ...sb.args()], { env: sb.env });
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '', 'nothing read through the link is handed out');
    assert.match(r.stderr, /is a symbolic link/);
    sb.cleanup();
  });
});
