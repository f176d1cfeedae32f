// node --import tsx scripts/bench-keyring.ts — the refresh path's cost with the refresh token in
// the cache file and in the OS credential store (docs/keyring.md), in valgrind instructions
// (callgrind: the same count whatever else the machine does), against `node -e 0`.
// The provider runs in its own process (demo/provider.ts, rotating refresh tokens) so that its
// work is not counted; the Secret Service is gnome-keyring in a D-Bus session this script starts.
// Each measured run is one real refresh: the session is aged before it. Needs valgrind,
// dbus-run-session and gnome-keyring-daemon, and a build (npm run build).
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, ROOT } from '../test/support/cli.ts';

const REPS = Number(process.env.BENCH_REPS ?? 3);
const dir = mkdtempSync(join(tmpdir(), 'oidc-cred-bench-keyring-'));
const clean = { PATH: process.env.PATH ?? '', LANG: 'C.UTF-8', HOME: join(dir, 'home') };

function lines(child: ReturnType<typeof spawn>, stream: 'stdout' | 'stderr', match: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    child[stream]!.setEncoding('utf8').on('data', (d: string) => {
      buf += d;
      const m = buf.match(match);
      if (m) resolve(m[1]!);
    });
    child.on('exit', (c) => reject(new Error(`exited (${c}) before ${match}`)));
  });
}

const provider = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'demo', 'provider.ts')], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
const issuer = await lines(provider, 'stderr', /issuer:\s+(\S+)/);
const kh = join(dir, 'keyring');
const bus = spawn('dbus-run-session', ['--', 'sh', '-c', 'echo -n bench | gnome-keyring-daemon --unlock --components=secrets >/dev/null 2>&1; echo "$DBUS_SESSION_BUS_ADDRESS"; exec cat >/dev/null'], {
  env: { ...clean, HOME: kh, XDG_DATA_HOME: join(kh, 'data'), XDG_RUNTIME_DIR: dir },
  stdio: ['pipe', 'pipe', 'ignore'],
});
const address = await lines(bus, 'stdout', /^(unix:\S+)\n/);

const args = (cache: string, storage: string): string[] => ['token', '--issuer', issuer, '--client-id', 'oidc-cred-demo', '--cache-dir', join(dir, cache), '--storage', storage];
const browser = `${process.execPath} --import ${import.meta.resolve('tsx')} ${join(ROOT, 'demo', 'browser.ts')}`;

function age(cache: string): void {
  const d = join(dir, cache);
  const f = join(d, readdirSync(d).find((n) => /^[0-9a-f]{64}\.json$/.test(n))!);
  const s = JSON.parse(readFileSync(f, 'utf8')) as Record<string, unknown>;
  for (const k of ['expires_at', 'obtained_at', 'id_token_expires_at']) if (typeof s[k] === 'string') s[k] = new Date(Date.parse(s[k] as string) - 3590_000).toISOString();
  for (const k of ['uptime_at']) if (typeof s[k] === 'number') s[k] = (s[k] as number) - 3590;
  writeFileSync(f, JSON.stringify(s), { mode: 0o600 });
}

function instructions(cmd: string[], env: Record<string, string>): number {
  const r = spawnSync('valgrind', ['--tool=callgrind', '--callgrind-out-file=/dev/null', ...cmd], { env, encoding: 'utf8', cwd: ROOT });
  const m = r.stderr.match(/Collected : (\d+)/);
  if (r.status !== 0 || !m) throw new Error(`${cmd.join(' ')} failed (${r.status}): ${r.stderr.split('\n').filter((l) => !l.startsWith('==')).join(' ')}`);
  return Number(m[1]);
}
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

interface Case {
  name: string;
  cache: string;
  storage: string;
  dbus: boolean;
  refresh: boolean;
}
const cases: Case[] = [
  { name: 'cache hit, --storage keyring (reference)', cache: 'k', storage: 'keyring', dbus: true, refresh: false },
  { name: 'refresh, --storage file', cache: 'f', storage: 'file', dbus: false, refresh: true },
  { name: 'refresh, --storage keyring (Secret Service, rotated: one read, one write)', cache: 'k', storage: 'keyring', dbus: true, refresh: true },
  { name: 'refresh, --storage auto without D-Bus (a container: falls back to the file)', cache: 'a', storage: 'auto', dbus: false, refresh: true },
];
try {
  for (const c of cases) {
    if (readdirSync(dir).includes(c.cache)) continue;
    const env = { ...clean, ...(c.dbus ? { DBUS_SESSION_BUS_ADDRESS: address } : {}) };
    const r = spawnSync(process.execPath, [BIN.oidcCred, ...args(c.cache, c.storage), '--browser-command', browser], { env, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`login for ${c.name}: ${r.stderr}`);
  }
  const base: number[] = [];
  const rows = cases.map((c) => ({ c, n: [] as number[] }));
  for (let i = 0; i < REPS; i++) {
    base.push(instructions([process.execPath, '-e', '0'], clean));
    for (const row of rows) {
      if (row.c.refresh) age(row.c.cache);
      const env = { ...clean, ...(row.c.dbus ? { DBUS_SESSION_BUS_ADDRESS: address } : {}) };
      row.n.push(instructions([process.execPath, BIN.oidcCred, ...args(row.c.cache, row.c.storage), '--non-interactive'], env));
    }
  }
  const b = median(base);
  process.stdout.write(`| what (median of ${REPS} runs) | instructions | × \`node -e 0\` |\n| --- | --- | --- |\n| \`node -e 0\` | ${(b / 1e6).toFixed(0)} M | 1.00× |\n`);
  for (const row of rows) {
    const m = median(row.n);
    process.stdout.write(`| ${row.c.name} | ${(m / 1e6).toFixed(0)} M | ${(m / b).toFixed(2)}× |\n`);
  }
} finally {
  provider.kill('SIGTERM');
  bus.stdin!.end();
  await new Promise((r) => setTimeout(r, 200));
  rmSync(dir, { recursive: true, force: true });
}
