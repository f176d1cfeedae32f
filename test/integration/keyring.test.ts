// Issue 14: refresh tokens in the OS credential store, against a real Secret Service — a
// gnome-keyring daemon with an unlocked login collection inside a D-Bus session this file starts
// (dbus-run-session) — with the real binaries, the real provider and libsecret's own secret-tool
// to look at what is stored. "Without D-Bus" is a child without DBUS_SESSION_BUS_ADDRESS, as in
// an SSH session or a container. Skips, saying why, only when the Debian packages are missing.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startProvider, type TestProvider } from '../../demo/provider.ts';
import { BIN, ROOT, run, runCommand, sandbox, trackLeaks, type RunResult, type Sandbox } from '../support/cli.ts';

const NEEDED = ['dbus-run-session', 'gnome-keyring-daemon', 'secret-tool'];
const missing = NEEDED.filter((c) => spawnSync('sh', ['-c', `command -v ${c}`]).status !== 0);
const skip = missing.length ? `needs ${missing.join(', ')} (Debian: gnome-keyring dbus libsecret-tools; .ci/run installs them)` : false;
if (skip) process.stdout.write(`# skipping the keyring tests: ${skip}\n`);

let bus: ChildProcess | undefined;
let busAddress = '';
let keyringHome: string | undefined;
let p: TestProvider;
const providers: TestProvider[] = [];
const sandboxes: Sandbox[] = [];

/** A D-Bus session with gnome-keyring's Secret Service, its login collection unlocked with a test password. */
async function startBus(): Promise<void> {
  const script = 'echo -n test-password | gnome-keyring-daemon --unlock --components=secrets >/dev/null 2>&1; echo "$DBUS_SESSION_BUS_ADDRESS"; exec cat >/dev/null';
  // A home of its own: the daemon keeps its collection under $XDG_DATA_HOME/keyrings, and one
  // left by an earlier run with another password would stay locked.
  keyringHome = mkdtempSync(join(tmpdir(), 'oidc-cred-keyring-'));
  const env: Record<string, string | undefined> = { ...process.env, HOME: keyringHome, XDG_DATA_HOME: join(keyringHome, 'data'), XDG_RUNTIME_DIR: keyringHome };
  delete env.DBUS_SESSION_BUS_ADDRESS;
  bus = spawn('dbus-run-session', ['--', 'sh', '-c', script], { env, stdio: ['pipe', 'pipe', 'ignore'] });
  busAddress = await new Promise<string>((resolve, reject) => {
    let out = '';
    bus!.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      if (out.includes('\n')) resolve(out.trim());
    });
    bus!.on('exit', (code) => reject(new Error(`dbus-run-session exited (${code}) before it gave an address`)));
  });
  assert.match(busAddress, /^unix:/);
}

before(async () => {
  if (skip) return;
  await startBus();
});
after(async () => {
  for (const sb of sandboxes) sb.cleanup();
  await Promise.all(providers.map((q) => q.close()));
  // Closing its stdin ends the shell, and with it the bus and the keyring daemon.
  bus?.stdin?.end();
  if (bus && bus.exitCode === null) await new Promise((r) => bus!.once('exit', r));
  if (keyringHome) rmSync(keyringHome, { recursive: true, force: true });
});

/**
 * A provider per test: the keyring account is the session key, which depends on the issuer and
 * the client, not on the cache directory — two sandboxes of one provider would share an item.
 */
async function fresh(opts: Parameters<typeof startProvider>[0] = { rotateRefreshToken: true }): Promise<TestProvider> {
  p = await startProvider(opts);
  trackLeaks(p);
  providers.push(p);
  return p;
}

function box(): Sandbox {
  const sb = sandbox(p);
  sandboxes.push(sb);
  return sb;
}
const withBus = (sb: Sandbox): Record<string, string> => ({ ...sb.env, DBUS_SESSION_BUS_ADDRESS: busAddress });

function sessionFile(sb: Sandbox): string {
  const files = existsSync(sb.cacheDir) ? readdirSync(sb.cacheDir).filter((f) => /^[0-9a-f]{64}\.json$/.test(f)) : [];
  assert.equal(files.length, 1, `expected one session file, found ${files.join(', ') || 'none'}`);
  return join(sb.cacheDir, files[0]!);
}
const readFile = (sb: Sandbox): Record<string, unknown> => JSON.parse(readFileSync(sessionFile(sb), 'utf8')) as Record<string, unknown>;
const keyOf = (sb: Sandbox): string => readFile(sb).key as string;

/** Makes the session's tokens look `seconds` older (both clocks), so the next call refreshes. */
function age(sb: Sandbox, seconds: number): void {
  const s = readFile(sb);
  for (const k of ['expires_at', 'obtained_at', 'id_token_expires_at', 'id_token_obtained_at']) {
    if (typeof s[k] === 'string') s[k] = new Date(Date.parse(s[k] as string) - seconds * 1000).toISOString();
  }
  for (const k of ['uptime_at', 'id_token_uptime_at']) if (typeof s[k] === 'number') s[k] = (s[k] as number) - seconds;
  // Each API's access token (docs/cache.md) ages too.
  for (const a of Object.values(s.apis as Record<string, Record<string, unknown>>)) {
    for (const k of ['expires_at', 'obtained_at']) if (typeof a[k] === 'string') a[k] = new Date(Date.parse(a[k] as string) - seconds * 1000).toISOString();
    if (typeof a.uptime_at === 'number') a.uptime_at -= seconds;
  }
  writeFileSync(sessionFile(sb), JSON.stringify(s), { mode: 0o600 });
}

/** What the Secret Service holds for a session, read by libsecret's secret-tool; undefined: no item. */
async function lookup(key: string): Promise<string | undefined> {
  const r = await runCommand('secret-tool', ['lookup', 'service', 'oidc-cred', 'username', key], { env: { DBUS_SESSION_BUS_ADDRESS: busAddress } });
  return r.code === 0 && r.stdout ? r.stdout : undefined;
}

const cli = (sb: Sandbox, args: string[], env: Record<string, string>): Promise<RunResult> => run(BIN.oidcCred, [...args, ...sb.args()], { env });

describe('refresh tokens in the Secret Service', { skip, timeout: 300_000 }, () => {
  it('login --storage keyring: the cache file holds no refresh token, the Secret Service does; status and doctor say where', async () => {
    await fresh();
    const sb = box();
    const login = await cli(sb, ['login', '--storage', 'keyring'], withBus(sb));
    assert.equal(login.code, 0, login.stderr);
    const file = readFileSync(sessionFile(sb), 'utf8');
    const s = JSON.parse(file) as Record<string, unknown>;
    assert.equal(s.refresh_token, undefined);
    assert.equal(s.refresh_token_in, 'keyring');
    const rt = await lookup(s.key as string);
    assert.ok(rt && p.issuedTokens.has(rt), 'the item holds the refresh token the provider issued');
    assert.ok(!file.includes(rt), 'and the cache file does not');

    const status = await run(BIN.oidcCred, ['status', '--json', '--cache-dir', sb.cacheDir], { env: sb.env });
    assert.equal(status.code, 0, status.stderr);
    const row = (JSON.parse(status.stdout) as { sessions: Array<Record<string, unknown>> }).sessions[0]!;
    assert.equal(row.refresh_token_in, 'keyring');
    assert.equal(row.refresh_token, true);
    const table = await run(BIN.oidcCred, ['status', '--cache-dir', sb.cacheDir], { env: sb.env });
    assert.match(table.stdout.split('\n')[1]!, /\skeyring$/);
    const doctor = await cli(sb, ['doctor'], sb.env);
    assert.match(doctor.stdout, /session: .*refresh token held in the OS credential store \(service oidc-cred, account [0-9a-f]{64}\)/);
    assert.doesNotMatch(doctor.stdout + doctor.stderr, new RegExp(rt));
  });

  it('a forced refresh with rotation updates the item; an unchanged refresh token is not written again', async () => {
    await fresh();
    const sb = box();
    assert.equal((await cli(sb, ['login', '--storage', 'keyring'], withBus(sb))).code, 0);
    const key = keyOf(sb);
    const before = await lookup(key);
    age(sb, 3590);
    p.resetCounts();
    const r = await cli(sb, ['token', '--storage', 'keyring', '--non-interactive'], withBus(sb));
    assert.equal(r.code, 0, r.stderr);
    assert.equal(p.counts.token.refresh_token, 1);
    const after = await lookup(key);
    assert.ok(after && p.issuedTokens.has(after));
    assert.notEqual(after, before, 'the rotated refresh token replaced the old one in the store');
    assert.equal(readFile(sb).refresh_token, undefined);

    // A provider that does not rotate: the refresh response has no new refresh token, so the store is left alone.
    const q = await fresh({ rotateRefreshToken: false });
    {
      const sq = sandbox(q);
      sandboxes.push(sq);
      const args = (extra: string[]): string[] => ['token', ...sq.args(), '--storage', 'keyring', ...extra];
      assert.equal((await run(BIN.oidcCred, args([]), { env: withBus(sq) })).code, 0);
      age(sq, 3590);
      const v = await run(BIN.oidcCred, args(['-v', '--non-interactive']), { env: withBus(sq) });
      assert.equal(v.code, 0, v.stderr);
      assert.equal(q.counts.token.refresh_token, 1);
      assert.match(v.stderr, /the refresh token is unchanged: the credential store is not written/);
    }
  });

  it('8 concurrent forced refreshes: exactly one refresh request, one token for all, the item rotated once', async () => {
    await fresh();
    const sb = box();
    assert.equal((await cli(sb, ['login', '--storage', 'keyring'], withBus(sb))).code, 0);
    const key = keyOf(sb);
    const before = await lookup(key);
    age(sb, 3590);
    p.resetCounts();
    const rs = await Promise.all(Array.from({ length: 8 }, () => cli(sb, ['token', '--storage', 'keyring', '--non-interactive'], withBus(sb))));
    for (const r of rs) assert.equal(r.code, 0, r.stderr);
    assert.equal(new Set(rs.map((r) => r.stdout)).size, 1);
    assert.equal(p.counts.token.refresh_token, 1, 'exactly one refresh');
    assert.equal(p.counts.tokenErrors.invalid_grant ?? 0, 0, 'a rotated refresh token was never reused');
    assert.equal(p.counts.authorization, 0);
    const after = await lookup(key);
    assert.ok(after && after !== before);
    // The saved refresh token is the live one: the next refresh works.
    age(sb, 3590);
    const next = await cli(sb, ['token', '--storage', 'keyring', '--non-interactive'], withBus(sb));
    assert.equal(next.code, 0, next.stderr);
    assert.equal(p.counts.token.refresh_token, 2);
  });

  it('without D-Bus: --storage keyring and auto fail in one line with the hint, the item intact, no login; a cached valid token is still handed over', async () => {
    await fresh();
    const sb = box();
    assert.equal((await cli(sb, ['login', '--storage', 'keyring'], withBus(sb))).code, 0);
    const key = keyOf(sb);
    const item = await lookup(key);
    const hit = await cli(sb, ['token', '--storage', 'keyring'], sb.env);
    assert.equal(hit.code, 0, hit.stderr);
    assert.match(hit.stdout, /^\S+\n$/, 'a cache hit needs no credential store');

    age(sb, 3590);
    const fileBefore = readFileSync(sessionFile(sb), 'utf8');
    const browsers = sb.browserRuns().length;
    p.resetCounts();
    for (const storage of ['keyring', 'auto']) {
      const r = await cli(sb, ['token', '--storage', storage], sb.env);
      assert.equal(r.code, 1, `${storage}: ${r.stderr}`);
      assert.equal(r.stdout, '');
      const lines = r.stderr.split('\n').filter((l) => l && !/^\(node|oidc-provider WARNING/.test(l));
      assert.equal(lines.length, 1, `${storage}: one line: ${r.stderr}`);
      assert.match(lines[0]!, /^oidc-cred: cannot read from the OS credential store \(service oidc-cred, account [0-9a-f]{64}\): .*DBUS_SESSION_BUS_ADDRESS.*--storage file/);
    }
    assert.equal(p.counts.requests, 0, 'no refresh, no login');
    assert.equal(sb.browserRuns().length, browsers, 'no browser');
    assert.equal(readFileSync(sessionFile(sb), 'utf8'), fileBefore, 'the cache file is untouched');
    assert.equal(await lookup(key), item, 'the item is intact');
    // Back where the store answers, the same session refreshes as if nothing happened.
    const ok = await cli(sb, ['token', '--non-interactive'], withBus(sb));
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(p.counts.token.refresh_token, 1);
  });

  it('without D-Bus, --storage auto (the default) falls back to the cache file, saying so once per cache directory', async () => {
    await fresh();
    const sb = box();
    const first = await cli(sb, ['token'], sb.env);
    assert.equal(first.code, 0, first.stderr);
    const notice = /no OS credential store answered .*refresh tokens are kept in the cache file/;
    assert.match(first.stderr, notice);
    assert.equal(first.stderr.match(new RegExp(notice, 'g'))?.length, 1);
    const s = readFile(sb);
    assert.ok(typeof s.refresh_token === 'string' && p.issuedTokens.has(s.refresh_token));
    assert.equal(s.refresh_token_in, undefined);
    assert.ok(existsSync(join(sb.cacheDir, 'keyring-fallback')));
    age(sb, 3590);
    p.resetCounts();
    const again = await cli(sb, ['token', '--non-interactive'], sb.env);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(p.counts.token.refresh_token, 1);
    assert.doesNotMatch(again.stderr, notice, 'said once');
    assert.notEqual(readFile(sb).refresh_token, s.refresh_token, 'the rotated token is in the file');
  });

  it('migration: a session kept in the file moves to the keyring on its next save', async () => {
    await fresh();
    const sb = box();
    assert.equal((await cli(sb, ['login', '--storage', 'file'], withBus(sb))).code, 0);
    const key = keyOf(sb);
    assert.equal(typeof readFile(sb).refresh_token, 'string');
    assert.equal(await lookup(key), undefined, '--storage file does not touch the store');
    age(sb, 3590);
    p.resetCounts();
    const r = await cli(sb, ['token', '--non-interactive'], withBus(sb)); // auto
    assert.equal(r.code, 0, r.stderr);
    assert.equal(p.counts.token.refresh_token, 1);
    const s = readFile(sb);
    assert.equal(s.refresh_token, undefined);
    assert.equal(s.refresh_token_in, 'keyring');
    const rt = await lookup(key);
    assert.ok(rt && p.issuedTokens.has(rt));
    // And back: --storage file moves it into the file and removes the item.
    age(sb, 3590);
    const back = await cli(sb, ['token', '--storage', 'file', '--non-interactive'], withBus(sb));
    assert.equal(back.code, 0, back.stderr);
    assert.equal(typeof readFile(sb).refresh_token, 'string');
    assert.equal(await lookup(key), undefined);
  });

  it('logout removes the item; with the store out of reach it removes the file and exits 1 naming the item', async () => {
    await fresh();
    const sb = box();
    assert.equal((await cli(sb, ['login', '--storage', 'keyring'], withBus(sb))).code, 0);
    const key = keyOf(sb);
    assert.ok(await lookup(key));
    const out = await cli(sb, ['logout'], withBus(sb));
    assert.equal(out.code, 0, out.stderr);
    assert.equal(await lookup(key), undefined, 'the item is gone');
    assert.equal(readdirSync(sb.cacheDir).filter((f) => /^[0-9a-f]{64}\.json$/.test(f)).length, 0);

    assert.equal((await cli(sb, ['login', '--storage', 'keyring'], withBus(sb))).code, 0);
    const off = await cli(sb, ['logout'], sb.env);
    assert.equal(off.code, 1, off.stderr);
    assert.match(off.stderr, new RegExp(`could not remove the refresh token from the OS credential store \\(service oidc-cred, account ${key}\\)`));
    assert.equal(off.stderr.trim().split('\n').length, 1, off.stderr);
    assert.equal(readdirSync(sb.cacheDir).filter((f) => /^[0-9a-f]{64}\.json$/.test(f)).length, 0, 'the file is removed');
    assert.ok(await lookup(key), 'the item is still there, as the line says');
    const clear = await runCommand('secret-tool', ['clear', 'service', 'oidc-cred', 'username', key], { env: { DBUS_SESSION_BUS_ADDRESS: busAddress } });
    assert.equal(clear.code, 0);
  });

  it('the cache-hit path does not load the keyring module; the refresh path does', async () => {
    assert.doesNotMatch(readFileSync(join(ROOT, 'dist', 'entry.cjs'), 'utf8'), /napi-rs|keyring\.node/, 'dist/entry.cjs does not reference it');
    const dir = mkdtempSync(join(tmpdir(), 'oidc-cred-modules-'));
    try {
      // Records every CommonJS module and native addon the process loaded (the keyring is both).
      const recorder = join(dir, 'record.cjs');
      writeFileSync(recorder, `process.on('exit', () => require('node:fs').writeFileSync(process.env.RECORD_TO, Object.keys(require.cache).join('\\n')));\n`);
      await fresh();
    const sb = box();
      assert.equal((await cli(sb, ['login', '--storage', 'keyring'], withBus(sb))).code, 0);
      const loaded = async (name: string, extra: string[] = []): Promise<string> => {
        const to = join(dir, name);
        const r = await cli(sb, ['token', '--storage', 'keyring', ...extra], { ...withBus(sb), NODE_OPTIONS: `--require ${recorder}`, RECORD_TO: to });
        assert.equal(r.code, 0, r.stderr);
        return readFileSync(to, 'utf8');
      };
      const hit = await loaded('hit');
      assert.match(hit, /boot\.cjs/, 'the recorder sees the binary');
      assert.doesNotMatch(hit, /@napi-rs[/\\]keyring/, 'a cache hit does not load it');
      age(sb, 3590);
      const refresh = await loaded('refresh', ['--non-interactive']);
      assert.match(refresh, /@napi-rs[/\\]keyring/, 'the refresh loads it (so the check above can fail)');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
