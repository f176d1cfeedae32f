// Issue 5: the Device Authorization grant (RFC 8628) against the real test provider, run as a user
// would: the test reads the user code from the running process's stderr and approves it at the
// provider's /device pages. What the real provider cannot send (expired_token, Auth0's 403/429)
// comes from a thin proxy in front of it.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startProvider, type TestProvider } from '../../demo/provider.ts';
import { BIN, runCommand, sandbox, trackLeaks, waitFor, type RunResult, type Sandbox } from '../support/cli.ts';

const CODE = /enter the code\n {2}(\S+)\n/;

let p: TestProvider; // advertises interval=1
let slow: TestProvider; // interval=1, the first pending poll answers slow_down
let plain: TestProvider; // no interval at all (oidc-provider's default)
const sandboxes: Sandbox[] = [];

before(async () => {
  [p, slow, plain] = await Promise.all([
    startProvider({ deviceInterval: 1 }),
    startProvider({ deviceInterval: 1, slowDownPolls: 1 }),
    startProvider(),
  ]);
  for (const x of [p, slow, plain]) trackLeaks(x);
});
after(async () => {
  await Promise.all([p, slow, plain].map((x) => x?.close()));
  for (const sb of sandboxes) sb.cleanup();
});

function fresh(provider: TestProvider): Sandbox {
  provider.resetCounts();
  provider.mode = 'approve';
  const sb = sandbox(provider);
  sandboxes.push(sb);
  return sb;
}

interface Running {
  done: Promise<RunResult>;
  /** resolves with the first user code the process prints */
  code: Promise<string>;
  child: () => ChildProcess;
  /** the process has said on stderr that it waits for another one's login */
  waiting: () => boolean;
}

/** Starts `oidc-cred <args>` with no browser command and stderr a pipe, and watches stderr for the code. */
function start(issuer: string, sb: Sandbox, args: string[], env: Record<string, string> = {}): Running {
  let child: ChildProcess | undefined;
  let waiting = false;
  let resolveCode!: (c: string) => void;
  const code = new Promise<string>((r) => (resolveCode = r));
  const done = runCommand(process.execPath, [BIN.oidcCred, ...args, '--issuer', issuer, '--client-id', 'oidc-cred-demo', '--cache-dir', sb.cacheDir], {
    env: { ...sb.env, ...env },
    timeoutMs: 90_000,
    onSpawn: (c) => {
      child = c;
      let seen = '';
      c.stderr?.on('data', (d: Buffer | string) => {
        seen += d.toString();
        waiting ||= /waiting for another oidc-cred process/.test(seen);
        const m = CODE.exec(seen);
        if (m) resolveCode(m[1]!);
      });
    },
  });
  // A process that exits without a code must not leave a test waiting forever.
  void done.then((r) => resolveCode(`(exited ${r.code} without a code: ${r.stderr.trim()})`), () => undefined);
  return { done, code, child: () => child!, waiting: () => waiting };
}

const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

describe('device grant against the real provider', () => {
  it('--grant device with stderr a pipe and no browser: prints the code, the user approves it, the token works at userinfo', async () => {
    const sb = fresh(p);
    const run = start(p.issuer, sb, ['token', '--grant', 'device']);
    const userCode = await run.code;
    assert.match(userCode, /^[A-Z]{4}-[A-Z]{4}$/, userCode);
    await p.approveDeviceCode(userCode);
    const r = await run.done;
    assert.equal(r.code, 0, r.stderr);
    const token = r.stdout.trim();
    const info = await p.userinfo(token);
    assert.equal(info?.sub, 'demo-user');
    assert.equal(p.counts.deviceAuthorization, 1);
    assert.equal(p.counts.authorization, 0, 'no authorization-code request');
    // The verification URI and the complete one are shown; the device code never is.
    // Each on a line of its own (docs/headless.md): never broken mid-URL or mid-code at 80 columns.
    assert.ok(r.stderr.includes(`oidc-cred: to log in to ${p.issuer}, open\n  ${p.issuer}/device\noidc-cred: and enter the code\n  ${userCode}\n`), r.stderr);
    assert.match(r.stderr, /^oidc-cred: or open this link, which holds the code:\n {2}http:\/\/127\.0\.0\.1:\d+\/device\?user_code=\S+$/m);
    assert.doesNotMatch(r.stderr, /\u2580|\u2584|\u2588/, 'no QR code when stderr is not a terminal');

    // Cached: the next call answers without the provider.
    p.resetCounts();
    const again = start(p.issuer, sb, ['token', '--grant', 'device']);
    const r2 = await again.done;
    assert.equal(r2.code, 0, r2.stderr);
    assert.equal(r2.stdout.trim(), token);
    assert.equal(p.counts.requests, 0);
  });

  it('8 concurrent invocations with no session: one device authorization request, one code shown, one token for all', async () => {
    const sb = fresh(p);
    const runs = Array.from({ length: 8 }, () => start(p.issuer, sb, ['token', '--grant', 'device']));
    const userCode = await Promise.race(runs.map((r) => r.code));
    // The other seven have reached the lock (and, if the rule were broken, asked for codes).
    await waitFor(() => runs.filter((r) => r.waiting()).length === 7, 60_000, 'seven processes to wait for the login');
    await p.approveDeviceCode(userCode);
    const results = await Promise.all(runs.map((r) => r.done));
    for (const r of results) assert.equal(r.code, 0, r.stderr);
    assert.equal(new Set(results.map((r) => r.stdout)).size, 1, 'all eight hand over the same token');
    assert.equal(p.counts.deviceAuthorization, 1);
    assert.equal(p.counts.token.authorization_code, undefined);
    const shown = results.reduce((n, r) => n + (r.stderr.match(/enter the code/g)?.length ?? 0), 0);
    assert.equal(shown, 1, 'exactly one code shown across all processes');
    assert.ok(results.filter((r) => /waiting for another oidc-cred process/.test(r.stderr)).length >= 1, 'the others said they wait');
  });

  it('--grant auto in an SSH session (DISPLAY forwarded, no browser command) picks the device grant', async () => {
    const sb = fresh(p);
    const run = start(p.issuer, sb, ['token'], { DISPLAY: ':99', SSH_CONNECTION: '192.0.2.1 50000 192.0.2.2 22' });
    const userCode = await run.code;
    await p.approveDeviceCode(userCode);
    const r = await run.done;
    assert.equal(r.code, 0, r.stderr);
    assert.equal(p.counts.deviceAuthorization, 1);
    assert.equal(p.counts.authorization, 0);
  });

  it('--grant auto with a display and no SSH session keeps the authorization code grant', async () => {
    const sb = fresh(p);
    // The "browser" is `false`: it fails at once, the login URL is on stderr, and --timeout ends the wait.
    const r = await start(p.issuer, sb, ['token', '--browser-command', 'false', '--timeout', '2'], { DISPLAY: ':99' }).done;
    assert.equal(r.code, 1);
    assert.equal(p.counts.deviceAuthorization, 0);
    assert.match(r.stderr, /in your browser: http:\/\/127\.0\.0\.1/);
  });

  it('slow_down: the interval grows by 5 s, and the login still completes', async () => {
    const sb = fresh(slow);
    const run = start(slow.issuer, sb, ['token', '--grant', 'device', '-v']);
    const userCode = await run.code;
    await waitFor(() => (slow.counts.tokenErrors.slow_down ?? 0) >= 1, 30_000, 'a slow_down answer');
    const at = Date.now();
    await slow.approveDeviceCode(userCode);
    const r = await run.done;
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /polling every 1 s/);
    assert.match(r.stderr, /asked to slow down; polling every 6 s/);
    // Lower bound only (a loaded machine is slower, never faster): the next poll came ≥ 5 s later.
    assert.ok(Date.now() - at >= 4000, `finished ${Date.now() - at} ms after approval`);
    assert.equal(slow.counts.tokenErrors.slow_down, 1);
    assert.equal(slow.counts.token[DEVICE_GRANT], 2, 'one slow_down poll, then one successful poll');
  });

  it('no interval advertised: the first poll waits 5 s (RFC 8628 §3.2)', async () => {
    const sb = fresh(plain);
    const t0 = Date.now();
    const run = start(plain.issuer, sb, ['token', '--grant', 'device', '-v']);
    const userCode = await run.code;
    await plain.approveDeviceCode(userCode);
    const r = await run.done;
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /polling every 5 s/);
    // Approved long before the first poll: one poll only, and it came at least 5 s after the start.
    assert.equal(plain.counts.token[DEVICE_GRANT], 1);
    assert.ok(Date.now() - t0 >= 5000);
  });

  it('access_denied: exit 1 with one clear line, and the processes waiting for that login fail with it', async () => {
    const sb = fresh(p);
    const runs = Array.from({ length: 3 }, () => start(p.issuer, sb, ['token', '--grant', 'device']));
    const userCode = await Promise.race(runs.map((r) => r.code));
    await waitFor(() => runs.filter((r) => r.waiting()).length === 2, 60_000, 'the other two to queue behind the lock');
    p.mode = 'deny';
    try {
      await p.approveDeviceCode(userCode);
    } finally {
      p.mode = 'approve';
    }
    const results = await Promise.all(runs.map((r) => r.done));
    for (const r of results) {
      assert.equal(r.code, 1, r.stderr);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, /the device login was denied at the provider/);
    }
    assert.equal(results.filter((r) => /^oidc-cred: the device login was denied at the provider \(run the command again to retry\)$/m.test(r.stderr)).length, 1);
    assert.equal(p.counts.deviceAuthorization, 1, 'the waiting processes did not start logins of their own');
    assert.equal(p.counts.tokenErrors.access_denied, 1);
  });

  it('--timeout: no approval in time → exit 1 with a timeout message', async () => {
    const sb = fresh(p);
    const r = await start(p.issuer, sb, ['token', '--grant', 'device', '--timeout', '3']).done;
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^oidc-cred: the device login was not completed within 3 seconds \(--timeout\)/m);
    assert.ok((p.counts.token[DEVICE_GRANT] ?? 0) >= 1, 'it polled meanwhile');
  });

  it('Ctrl-C while waiting for approval: exit 130, and a second run starts a fresh login', async () => {
    const sb = fresh(p);
    const run = start(p.issuer, sb, ['token', '--grant', 'device']);
    await run.code;
    run.child().kill('SIGINT');
    const r = await run.done;
    assert.equal(r.code, 130, r.stderr);
    assert.match(r.stderr, /^oidc-cred: login cancelled$/m);
    const again = start(p.issuer, sb, ['token', '--grant', 'device']);
    await p.approveDeviceCode(await again.code);
    assert.equal((await again.done).code, 0);
  });
});

/**
 * A proxy in front of the provider: discovery and the device authorization request pass through
 * (with the provider's origin rewritten to ours), and device-code polls at /token get the
 * scripted answers, one per poll.
 */
class ScriptedProxy {
  server: Server;
  origin = '';
  polls: number[] = [];
  constructor(
    private readonly upstream: TestProvider,
    private readonly script: Array<{ status: number; body: Record<string, unknown> }>,
  ) {
    this.server = createServer((req, res) => void this.handle(req, res));
  }
  async start(): Promise<this> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.origin = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }
  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    if (req.url === '/token' && new URLSearchParams(body).get('grant_type') === DEVICE_GRANT) {
      this.polls.push(Date.now());
      const next = this.script[Math.min(this.polls.length - 1, this.script.length - 1)]!;
      res.writeHead(next.status, { 'content-type': 'application/json' }).end(JSON.stringify(next.body));
      return;
    }
    const up = await fetch(`${this.upstream.issuer}${req.url}`, {
      method: req.method,
      headers: { 'content-type': req.headers['content-type'] ?? 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: req.method === 'POST' ? body : undefined,
    });
    const text = (await up.text()).split(this.upstream.issuer).join(this.origin);
    res.writeHead(up.status, { 'content-type': up.headers.get('content-type') ?? 'application/json' }).end(text);
  }
  close(): Promise<void> {
    return new Promise((r) => {
      this.server.close(() => r());
      this.server.closeAllConnections();
    });
  }
}

describe('device grant errors injected by a proxy', () => {
  const proxies: ScriptedProxy[] = [];
  after(() => Promise.all(proxies.map((x) => x.close())));

  it('expired_token (HTTP 400): exit 1, "the device code expired", no further polls', async () => {
    const proxy = await new ScriptedProxy(p, [
      { status: 400, body: { error: 'authorization_pending' } },
      { status: 400, body: { error: 'expired_token', error_description: 'device code expired' } },
    ]).start();
    proxies.push(proxy);
    const sb = fresh(p);
    const r = await start(proxy.origin, sb, ['token', '--grant', 'device']).done;
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^oidc-cred: the device code expired before the login was completed \(run the command again and enter the new code\)$/m);
    assert.equal(proxy.polls.length, 2);
  });

  it('Auth0-style 403 authorization_pending and 429 slow_down are branched on by error code: polling goes on, +5 s after slow_down', async () => {
    const fake = `fake-access-token-${Date.now()}-abcdefghijklmnop`;
    const proxy = await new ScriptedProxy(p, [
      { status: 403, body: { error: 'authorization_pending', error_description: 'User has yet to authorize device code.' } },
      { status: 429, body: { error: 'slow_down', error_description: 'You are polling faster than allowed.' } },
      { status: 200, body: { access_token: fake, token_type: 'Bearer', expires_in: 3600, scope: 'openid offline_access' } },
    ]).start();
    proxies.push(proxy);
    const sb = fresh(p);
    const r = await start(proxy.origin, sb, ['token', '--grant', 'device', '-v']).done;
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${fake}\n`);
    assert.ok(!r.stderr.includes(fake), 'the token is not on stderr');
    assert.equal(proxy.polls.length, 3);
    const [a, b, c] = proxy.polls as [number, number, number];
    assert.ok(b - a >= 800, `second poll ${b - a} ms after the first (interval 1 s)`);
    assert.ok(c - b >= 5500, `third poll ${c - b} ms after slow_down (interval 6 s)`);
  });
});
