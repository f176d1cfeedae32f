// Issue 10, items 1, 2 and 13: another local user attacks the loopback login, with real
// processes. The attacker is a second account (`oidccred-atk1`, made here with useradd and
// removed with `userdel -r` at the end) running test/support/loopback-attacker.mjs through
// runuser; the victim is this project's real binary with the scripted browser, against the real
// test provider. Each test asserts that the attack fails and that the user's login still works.
// Needs root (useradd, runuser): skipped with the reason printed otherwise.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startProvider, type TestProvider } from '../../demo/provider.ts';
import { BIN, ROOT, assertNoLeak, cleanEnv, lockExists, run, sandbox, trackLeaks, waitFor, type RunResult, type Sandbox } from '../support/cli.ts';

const ATTACKER = 'oidccred-atk1';

function whyNot(): string | undefined {
  if (process.platform !== 'linux') return 'not Linux';
  if (process.getuid?.() !== 0) return 'not root (useradd and runuser need it)';
  for (const tool of ['useradd', 'userdel', 'runuser']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return `no ${tool} on PATH`;
  }
  return undefined;
}
const skip = whyNot();
if (skip) process.stderr.write(`loopback-attacks.test.ts: skipped: ${skip}\n`);

let p: TestProvider;
let scriptDir: string;
let script: string;
const attackers = new Set<Attacker>();
/** oidc-cred processes started here and not yet exited: killed (by pid) if a test fails early. */
const victims = new Set<ChildProcess>();

before(async () => {
  if (skip) return;
  p = await startProvider();
  trackLeaks(p);
  // A 0755 directory the attacker account can read its script from.
  scriptDir = mkdtempSync(join(tmpdir(), 'oidc-cred-atk-'));
  chmodSync(scriptDir, 0o755);
  script = join(scriptDir, 'attacker.mjs');
  copyFileSync(join(ROOT, 'test', 'support', 'loopback-attacker.mjs'), script);
  chmodSync(script, 0o644);
  if (spawnSync('id', ['-u', ATTACKER]).status === 0) spawnSync('userdel', ['-r', ATTACKER]); // left by a killed run
  const add = spawnSync('useradd', ['-m', '-s', '/bin/sh', ATTACKER], { encoding: 'utf8' });
  assert.equal(add.status, 0, `useradd: ${add.stderr}`);
});

after(async () => {
  if (skip) return;
  for (const c of victims) c.kill('SIGKILL');
  for (const a of attackers) await a.stop();
  await p.close();
  rmSync(scriptDir, { recursive: true, force: true });
  const del = spawnSync('userdel', ['-r', ATTACKER], { encoding: 'utf8' });
  // -r on a home that useradd -m made; a mail spool that never existed is only a warning.
  assert.ok(del.status === 0 || del.status === 12, `userdel: ${del.stderr}`);
});

interface Attacker {
  lines: string[];
  waitLine(re: RegExp, ms?: number): Promise<string>;
  send(line: string): void;
  stop(): Promise<void>;
}

/** The attacker script, run as the second account. It exits when its stdin ends. */
function attacker(args: string[]): Attacker {
  const child: ChildProcess = spawn('runuser', ['-u', ATTACKER, '--', process.execPath, script, ...args], { env: cleanEnv({}), stdio: ['pipe', 'pipe', 'pipe'], cwd: scriptDir });
  const lines: string[] = [];
  let stderr = '';
  let buf = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    buf += d;
    const parts = buf.split('\n');
    buf = parts.pop()!;
    lines.push(...parts);
  });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<void>((r) => child.once('close', () => r()));
  const a: Attacker = {
    lines,
    waitLine: async (re, ms = 20_000) => {
      await waitFor(() => lines.some((l) => re.test(l)) || child.exitCode !== null, ms, `the attacker to report ${re} (stderr: ${stderr.slice(-300)})`);
      const hit = lines.find((l) => re.test(l));
      assert.ok(hit, `the attacker exited without ${re}: ${lines.join(' | ')} ${stderr.slice(-300)}`);
      return hit;
    },
    send: (line) => child.stdin!.write(`${line}\n`),
    stop: async () => {
      attackers.delete(a);
      child.stdin!.end();
      await exited;
    },
  };
  attackers.add(a);
  return a;
}

/** A port free on both 127.0.0.1 and ::1 right now. */
async function freePort(): Promise<number> {
  for (;;) {
    const v4 = createServer();
    await new Promise<void>((r) => v4.listen(0, '127.0.0.1', () => r()));
    const port = (v4.address() as AddressInfo).port;
    const v6 = createServer();
    const ok = await new Promise<boolean>((r) => {
      v6.once('error', () => r(false));
      v6.listen(port, '::1', () => r(true));
    });
    await new Promise<void>((r) => v4.close(() => r()));
    if (ok) await new Promise<void>((r) => v6.close(() => r()));
    if (ok) return port;
  }
}

function isFree(port: number): Promise<boolean> {
  return Promise.all(
    ['127.0.0.1', '::1'].map(
      (host) =>
        new Promise<boolean>((r) => {
          const s = createServer();
          s.once('error', () => r(false));
          s.listen({ port, host, exclusive: true }, () => s.close(() => r(true)));
        }),
    ),
  ).then((all) => all.every(Boolean));
}

/** Shell: wait until `gate` exists (or the sandbox is gone). */
const waitGate = (sb: Sandbox, gate: string): string => `while [ ! -e ${gate} ] && [ -d ${sb.dir} ]; do sleep 0.05; done`;

/** A browser command that waits for `gate` to exist before it follows the URL ($0 in sh -c). */
function gatedBrowser(sb: Sandbox, gate: string, flags = ''): string {
  return `sh -c '${waitGate(sb, gate)}; exec ${sb.browserCommand(flags)} "$0"'`;
}

/** --issuer, --client-id and --cache-dir of the sandbox, without its browser command. */
const base = (sb: Sandbox): string[] => sb.args().slice(0, 6);

function sessionCount(sb: Sandbox): number {
  return existsSync(sb.cacheDir) ? readdirSync(sb.cacheDir).filter((f) => /^[0-9a-f]{64}\.json$/.test(f)).length : 0;
}

/** Runs the real binary and hands back its stderr as it arrives (to wait on a line). */
function start(args: string[], env: Record<string, string>): { stderr: () => string; done: Promise<RunResult> } {
  const t0 = Date.now();
  const child = spawn(process.execPath, [BIN.oidcCred, ...args], { cwd: ROOT, env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), 90_000);
  victims.add(child);
  const done = new Promise<RunResult>((resolve) =>
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      victims.delete(child);
      assertNoLeak(err, 'stderr of oidc-cred');
      resolve({ code, signal, stdout: out, stderr: err, ms: Date.now() - t0 });
    }),
  );
  return { stderr: () => err, done };
}

describe('another local user against the loopback login', { skip }, () => {
  it('item 1: a user squatting [::1] on the registered port gets nothing; the next port, held on both stacks, completes the login', async () => {
    const sb = sandbox(p);
    const squatted = await freePort();
    const next = await freePort();
    const atk = attacker(['squat', String(squatted), p.issuer, p.publicClientId]);
    try {
      await atk.waitLine(/^listening /);
      p.resetCounts();
      // Only the squatted port: a fast failure that names the port and who holds it.
      const alone = await run(BIN.oidcCred, ['token', ...sb.args(), '--redirect-uri', 'http://localhost/callback', '--port', String(squatted)], { env: sb.env, timeoutMs: 30_000 });
      assert.equal(alone.code, 1, alone.stderr);
      assert.match(alone.stderr, new RegExp(`port ${squatted} is in use on \\[::1\\] by uid \\d+ \\(${ATTACKER}\\)`));
      assert.ok(alone.ms < 10_000, `failed fast (${alone.ms} ms)`);
      assert.equal(sb.browserRuns().length, 0, 'no browser was sent anywhere');

      const r = await run(BIN.oidcCred, ['token', ...sb.args(), '--redirect-uri', 'http://localhost/callback', '--port', String(squatted), '--port', String(next)], { env: sb.env, timeoutMs: 60_000 });
      assert.equal(r.code, 0, r.stderr);
      assert.ok(await p.userinfo(r.stdout.trim()), 'the token works');
      const [line] = sb.browserRuns();
      assert.match(line!, new RegExp(`^\\d+ http://127\\.0\\.0\\.1:${next}/\\?k=[\\w-]{22}$`), 'the browser is sent to the IP literal on the free port');
      // The demo browser resolves localhost as browsers do, ::1 first: the provider's redirect
      // to http://localhost:NEXT/callback reached oidc-cred's own [::1] socket.
      assert.deepEqual(atk.lines.filter((l) => !/^listening /.test(l)), [], 'the attacker saw no request at all');
      assert.equal(p.counts.token.authorization_code, 1, 'one code exchanged, by oidc-cred');
    } finally {
      await atk.stop();
      sb.cleanup();
    }
  });

  it('item 1, with a real Chromium (which tries ::1 first for localhost): the squatter gets nothing, the login completes', async (t) => {
    const chromium = ['chromium', 'chromium-browser'].map((n) => spawnSync('sh', ['-c', `command -v ${n}`], { encoding: 'utf8' }).stdout.trim()).find(Boolean);
    if (!chromium) {
      process.stderr.write('loopback-attacks.test.ts: Chromium case skipped: no chromium on PATH (apt-get install chromium)\n');
      return t.skip('no chromium on PATH');
    }
    const sb = sandbox(p);
    const squatted = await freePort();
    const next = await freePort();
    const atk = attacker(['squat', String(squatted), p.issuer, p.publicClientId]);
    try {
      await atk.waitLine(/^listening /);
      const chrome = `${chromium} --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking --disable-component-update --disable-sync --disable-dev-shm-usage --user-data-dir=${sb.dir}/chrome --dump-dom`;
      const r = await run(BIN.oidcCred, ['token', ...base(sb), '--browser-command', chrome, '--redirect-uri', 'http://localhost/callback', '--port', String(squatted), '--port', String(next), '--timeout', '60'], { env: sb.env, timeoutMs: 90_000 });
      assert.equal(r.code, 0, r.stderr.slice(-2000));
      assert.ok(await p.userinfo(r.stdout.trim()), 'the token works');
      // --dump-dom prints the page Chromium ended on (to our stderr): oidc-cred's own.
      assert.match(r.stderr, /You are logged in\. You can close this tab/);
      assert.deepEqual(atk.lines.filter((l) => !/^listening /.test(l)), [], 'the attacker saw no request at all');
    } finally {
      await atk.stop();
      sb.cleanup();
    }
  });

  it('item 1: kubelogin-style get-token (ports 8000/18000, http://localhost) skips 8000 when [::1]:8000 is squatted', async (t) => {
    if (!(await isFree(8000)) || !(await isFree(18000))) return t.skip('port 8000 or 18000 is in use on this machine');
    const sb = sandbox(p);
    const atk = attacker(['squat', '8000', p.issuer, p.publicClientId]);
    try {
      await atk.waitLine(/^listening /);
      const execInfo = JSON.stringify({ kind: 'ExecCredential', apiVersion: 'client.authentication.k8s.io/v1', spec: { interactive: true } });
      const r = await run(BIN.oidcCred, ['get-token', '--oidc-issuer-url', p.issuer, '--oidc-client-id', p.publicClientId, '--token-cache-dir', sb.cacheDir, '--browser-command', sb.browserCommand()], {
        env: { ...sb.env, KUBERNETES_EXEC_INFO: execInfo },
        timeoutMs: 60_000,
      });
      assert.equal(r.code, 0, r.stderr);
      const token = (JSON.parse(r.stdout) as { status: { token: string } }).status.token;
      assert.ok(p.issuedTokens.has(token), 'a token the provider issued (kubelogin hands out the ID token)');
      assert.match(sb.browserRuns()[0]!, /^\d+ http:\/\/127\.0\.0\.1:18000\/\?k=/);
      assert.deepEqual(atk.lines.filter((l) => !/^listening /.test(l)), [], 'the attacker saw no request at all');
    } finally {
      await atk.stop();
      sb.cleanup();
    }
  });

  it('item 2: a process that reads the start URL from the browser\'s command line and gets / first: the browser\'s / aborts the login, for the waiter too', async () => {
    const sb = sandbox(p);
    const port = await freePort();
    const gate = join(sb.dir, 'go');
    const atk = attacker(['reader', String(port)]);
    try {
      const args = ['token', ...base(sb), '--browser-command', gatedBrowser(sb, gate), '--port', String(port)];
      const holder = start(args, sb.env);
      // The attacker read `/?k=…` from /proc/<browser>/cmdline and was faster than the browser.
      assert.match(await atk.waitLine(/^read |^no-start-url/), /^read status=302 state=seen$/);
      const waiter = start(['token', ...sb.args(), '--port', String(port)], sb.env);
      await waitFor(() => /waiting for another oidc-cred process/.test(waiter.stderr()), 20_000, 'the second process to wait for the login');
      writeFileSync(gate, '');
      const h = await holder.done;
      assert.equal(h.code, 1, h.stderr);
      assert.match(h.stderr, /oidc-cred: warning: the login page was requested a second time, so another local process may have seen this login's state/);
      assert.match(h.stderr, /oidc-cred: the login was aborted: its start page was requested twice/);
      assert.match(h.stderr, /demo browser: stopped before reaching \/callback: HTTP 409 from http:\/\/127\.0\.0\.1:\d+\/: Login failed/, `the browser was shown the abort, not the provider: ${h.stderr}`);
      const w = await waiter.done;
      assert.equal(w.code, 1, w.stderr);
      assert.match(w.stderr, /the login in another oidc-cred process failed: the login was aborted: its start page was requested twice/);
      assert.equal(sessionCount(sb), 0, 'nothing cached');
      // The state the attacker saw is worth nothing now: a forged error= finds no login.
      atk.send('forge');
      assert.match(await atk.waitLine(/^forged /), /^forged status=(404|ERR:ECONNREFUSED)$/);
      assert.ok(!lockExists(sb), 'lock released');

      // The user runs the command again, with nobody reading: it works.
      const again = await run(BIN.oidcCred, ['token', ...sb.args(), '--port', String(port)], { env: sb.env, timeoutMs: 60_000 });
      assert.equal(again.code, 0, again.stderr);
      assert.ok(await p.userinfo(again.stdout.trim()));
    } finally {
      writeFileSync(gate, '');
      await atk.stop();
      sb.cleanup();
    }
  });

  it('item 2: a process that reads / after the browser gets no authorization URL, and the login is aborted', async () => {
    const sb = sandbox(p);
    const port = await freePort();
    const gate = join(sb.dir, 'go');
    try {
      // The browser takes / and stops at the provider's page (the user is reading it); its
      // wrapper stays alive until the gate opens, so its command line still shows the URL.
      p.resetCounts();
      // (It lets go of oidc-cred's stderr first, or oidc-cred's pipes would stay open.)
      const browser = `sh -c '${sb.browserCommand('--stop-at-provider')} "$0"; exec >/dev/null 2>&1; ${waitGate(sb, gate)}'`;
      const holder = start(['token', ...base(sb), '--browser-command', browser, '--port', String(port)], sb.env);
      await waitFor(() => p.counts.authorization >= 1, 20_000, 'the browser to reach the provider');
      const atk = attacker(['reader', String(port)]);
      try {
        assert.match(await atk.waitLine(/^read |^no-start-url/), /^read status=409 state=none$/);
      } finally {
        await atk.stop();
      }
      const h = await holder.done;
      assert.equal(h.code, 1, h.stderr);
      assert.match(h.stderr, /the login was aborted: its start page was requested twice/);
      assert.equal(sessionCount(sb), 0, 'nothing cached');
    } finally {
      writeFileSync(gate, '');
      sb.cleanup();
    }
  });

  it('item 2: a port scanner learns nothing from a login in progress, and the login then completes', async () => {
    const sb = sandbox(p);
    const port = await freePort();
    const gate = join(sb.dir, 'go');
    try {
      const holder = start(['token', ...base(sb), '--browser-command', gatedBrowser(sb, gate), '--port', String(port), '--redirect-uri', 'http://localhost/callback'], sb.env);
      await waitFor(() => /in your browser: http:\/\/127\.0\.0\.1:/.test(holder.stderr()), 20_000, 'the login to start');
      const atk = attacker(['scan', String(port)]);
      try {
        await atk.waitLine(/^scan-done$/);
        const scans = atk.lines.filter((l) => l.startsWith('scan '));
        assert.equal(scans.length, 14);
        for (const l of scans) {
          assert.match(l, /leak=no$/, l);
          assert.match(l, /status=(400|404|405)\b/, l);
        }
      } finally {
        await atk.stop();
      }
      writeFileSync(gate, '');
      const h = await holder.done;
      assert.equal(h.code, 0, h.stderr);
      assert.ok(await p.userinfo(h.stdout.trim()), 'the login was not disturbed');
      assert.doesNotMatch(h.stderr, /warning/);
    } finally {
      writeFileSync(gate, '');
      sb.cleanup();
    }
  });

  it('item 13: slowloris connections are dropped within seconds while the login waits, and the login then completes', async () => {
    const sb = sandbox(p);
    const port = await freePort();
    const gate = join(sb.dir, 'go');
    const N = 40;
    try {
      const holder = start(['token', ...base(sb), '--browser-command', gatedBrowser(sb, gate), '--port', String(port), '-v'], sb.env);
      const atk = attacker(['slowloris', String(port), String(N)]);
      try {
        await atk.waitLine(/^open \d+$/);
        // Before the browser arrives: the server itself must let go of every slow connection.
        await atk.waitLine(/^all-closed$/, 15_000);
        const lifetimes = atk.lines.filter((l) => l.startsWith('closed ')).map((l) => Number(/after_ms=(\d+)/.exec(l)![1]));
        assert.equal(lifetimes.length, N);
        const longest = Math.max(...lifetimes);
        const held = lifetimes.filter((ms) => ms > 1000).length;
        // The server's own account of its cap (16): each drop is one debug line.
        const dropped = (holder.stderr().match(/connections open: dropped the oldest one not being answered/g) ?? []).length;
        process.stderr.write(`loopback-attacks: slowloris ${N} connections: longest held ${longest} ms, ${held} held over 1 s, ${dropped} dropped at the cap\n`);
        assert.ok(longest < 8000, `a slow connection was held ${longest} ms`);
        assert.ok(dropped >= 1, 'the connection cap was reached and enforced');
        assert.equal(holder.stderr().includes('logged in'), false, 'still waiting for the browser');
      } finally {
        await atk.stop();
      }
      writeFileSync(gate, '');
      const h = await holder.done;
      assert.equal(h.code, 0, h.stderr);
      assert.ok(await p.userinfo(h.stdout.trim()));
    } finally {
      writeFileSync(gate, '');
      sb.cleanup();
    }
  });
});
