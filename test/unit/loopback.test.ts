import assert from 'node:assert/strict';
import { request } from 'node:http';
import { describe, it } from 'node:test';
import { connect, createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { bindAll, HEADERS_TIMEOUT_MS, MAX_CONNECTIONS, portHolder, startLoopback } from '../../src/oauth/loopback.ts';
import { splitCommand } from '../../src/infra/browser.ts';

function get(url: string, opts: { method?: string; host?: string } = {}): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = request({ host: u.hostname.replace(/^\[|\]$/g, ''), port: u.port, path: u.pathname + u.search, method: opts.method ?? 'GET', headers: opts.host ? { host: opts.host } : {} }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

const log = { debug: () => undefined };

/** A TCP listener held by this process (the "other process" that owns a port). */
function hold(port: number, host: string): Promise<TcpServer> {
  return new Promise((resolve, reject) => {
    const s = createTcpServer();
    s.once('error', reject);
    s.listen({ port, host, exclusive: true }, () => resolve(s));
  });
}
const portOf = (s: TcpServer): number => (s.address() as { port: number }).port;
const closeTcp = (s: TcpServer): Promise<void> => new Promise((r) => s.close(() => r()));

/** Resolves when the server closes `sock` (or after `ms`, with false). */
function closedWithin(sock: Socket, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    if (sock.destroyed) return resolve(true);
    const t = setTimeout(() => resolve(false), ms);
    sock.once('close', () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}
function openSocket(port: number, host = '127.0.0.1'): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ port, host }, () => resolve(s));
    s.on('error', (e) => (s.connecting ? reject(e) : undefined));
    // Read whatever comes, so that the server's close is seen as soon as it arrives.
    s.resume();
  });
}

describe('the loopback server', () => {
  it('redirects /, 404s the rest, refuses foreign Host headers and forged states, then takes the real callback once', async () => {
    const lb = await startLoopback({ ports: [], redirectUri: undefined, expectedState: 'the-state', log });
    try {
      assert.match(lb.redirectUri, /^http:\/\/127\.0\.0\.1:\d+\/callback$/);
      assert.match(lb.startUrl, /^http:\/\/127\.0\.0\.1:\d+\/\?k=[\w-]{22}$/);
      const base = `http://127.0.0.1:${new URL(lb.startUrl).port}`;
      assert.equal((await get(lb.startUrl)).status, 404, 'no authorization URL yet');
      lb.setAuthorizationUrl('https://idp.example/auth?x=1');
      assert.equal((await get(`${base}/`)).status, 404, 'a port scanner: no key');
      assert.equal((await get(`${base}/?k=wrong`)).status, 404, 'a wrong key');
      assert.equal((await get(lb.startUrl, { method: 'HEAD' })).status, 404, 'HEAD does not spend the start page');
      const root = await get(lb.startUrl);
      assert.equal(root.status, 302);
      assert.equal(root.headers.location, 'https://idp.example/auth?x=1');
      assert.equal((await get(`${base}/favicon.ico`)).status, 404);
      assert.equal((await get(`${base}/callback?state=the-state&code=c`, { method: 'POST' })).status, 405);
      assert.equal((await get(`${base}/callback?state=the-state&code=c`, { host: 'evil.example:80' })).status, 421, 'DNS rebinding');
      const forged = await get(`${base}/callback?state=forged&code=c`);
      assert.equal(forged.status, 400);
      assert.match(forged.headers['content-security-policy'] as string, /default-src 'none'/);

      const waiting = lb.waitForCallback(new AbortController().signal, 10_000);
      const real = get(`${base}/callback?state=the-state&code=good`);
      const cb = await waiting;
      assert.equal(cb.params.get('code'), 'good');
      await cb.finish(true, 'You are <b>in</b>');
      const page = await real;
      assert.equal(page.status, 200);
      assert.ok(page.body.includes('You are &#60;b&#62;in&#60;/b&#62;'), 'escaped');
      assert.ok(!/src=|href=|url\(/.test(page.body), 'self-contained page');
      assert.equal((await get(`${base}/callback?state=the-state&code=again`)).status, 404, 'one callback only');
    } finally {
      await lb.close();
    }
  });

  it('times out and obeys an abort', async () => {
    const lb = await startLoopback({ ports: [], redirectUri: 'http://localhost/cb', expectedState: 's', log });
    try {
      assert.match(lb.redirectUri, /^http:\/\/localhost:\d+\/cb$/);
      await assert.rejects(lb.waitForCallback(new AbortController().signal, 50), /did not complete within/);
      const ac = new AbortController();
      const p = lb.waitForCallback(ac.signal, 10_000);
      ac.abort(new Error('interrupted by SIGINT'));
      await assert.rejects(p, /SIGINT/);
    } finally {
      await lb.close();
    }
  });

  it('a redirect URI without a path (kubelogin\'s http://localhost) keeps its exact form and takes the callback on /', async () => {
    const lb = await startLoopback({ ports: [], redirectUri: 'http://localhost', expectedState: 'st', log });
    try {
      assert.match(lb.redirectUri, /^http:\/\/localhost:\d+$/, 'no trailing slash added');
      lb.setAuthorizationUrl('https://idp.example/auth');
      const port = new URL(lb.redirectUri).port;
      assert.equal((await get(`http://127.0.0.1:${port}/`, { host: `localhost:${port}` })).status, 404, '/ without the key');
      assert.equal((await get(lb.startUrl)).status, 302, '/?k= still starts the login');
      const waiting = lb.waitForCallback(new AbortController().signal, 5000);
      const answer = get(`http://127.0.0.1:${port}/?state=st&code=c1`, { host: `localhost:${port}` });
      const cb = await waiting;
      assert.equal(cb.params.get('code'), 'c1');
      await cb.finish(true, 'ok');
      assert.equal((await answer).status, 200);
    } finally {
      await lb.close();
    }
  });

  it('uses the first free registered port and fails when none is free', async () => {
    const a = await startLoopback({ ports: [], redirectUri: undefined, expectedState: 's', log });
    const taken = Number(new URL(a.redirectUri).port);
    try {
      const b = await startLoopback({ ports: [taken, taken + 1 === 65536 ? taken - 1 : taken + 1], redirectUri: undefined, expectedState: 's', log });
      assert.notEqual(Number(new URL(b.redirectUri).port), taken);
      await b.close();
      await assert.rejects(startLoopback({ ports: [taken], redirectUri: undefined, expectedState: 's', log }), /the callback port is taken: port \d+ is in use on /);
    } finally {
      await a.close();
    }
  });

  it('[::1] in the redirect URI binds the IPv6 loopback only', async (t) => {
    let lb;
    try {
      lb = await startLoopback({ ports: [], redirectUri: 'http://[::1]/callback', expectedState: 's6', log });
    } catch (err) {
      return t.skip(`no IPv6 loopback here: ${(err as Error).message}`);
    }
    try {
      const port = new URL(lb.redirectUri).port;
      assert.match(lb.redirectUri, /^http:\/\/\[::1\]:\d+\/callback$/);
      const v4 = await get(`http://127.0.0.1:${port}/favicon.ico`).then((r) => r.status, () => 'refused');
      assert.equal(v4, 'refused', 'nothing listens on 127.0.0.1 for an [::1] redirect');
      const waiting = lb.waitForCallback(new AbortController().signal, 5000);
      const answer = get(`http://[::1]:${port}/callback?state=s6&code=v6`, { host: `[::1]:${port}` });
      const cb = await waiting;
      assert.equal(cb.params.get('code'), 'v6');
      await cb.finish(true, 'ok');
      assert.equal((await answer).status, 200);
    } finally {
      await lb.close();
    }
  });

  it('a localhost redirect URI binds 127.0.0.1 and ::1 on one port, and the browser is sent to the IP literal', async () => {
    const lb = await startLoopback({ ports: [], redirectUri: 'http://localhost/callback', expectedState: 'dual', log });
    try {
      const port = new URL(lb.redirectUri).port;
      assert.match(lb.redirectUri, /^http:\/\/localhost:\d+\/callback$/, 'the registered form goes to the provider');
      assert.equal(new URL(lb.startUrl).host, `127.0.0.1:${port}`, 'never localhost');
      // Taken on both stacks: nobody else can bind either now.
      await assert.rejects(hold(Number(port), '::1'), /EADDRINUSE/);
      await assert.rejects(hold(Number(port), '127.0.0.1'), /EADDRINUSE/);
      assert.equal((await get(`http://[::1]:${port}/favicon.ico`, { host: `localhost:${port}` })).status, 404, 'ours on ::1 too');
      const waiting = lb.waitForCallback(new AbortController().signal, 5000);
      const answer = get(`http://[::1]:${port}/callback?state=dual&code=six`, { host: `localhost:${port}` });
      const cb = await waiting;
      assert.equal(cb.params.get('code'), 'six');
      await cb.finish(true, 'ok');
      assert.equal((await answer).status, 200);
    } finally {
      await lb.close();
    }
  });

  it('a registered port whose ::1 is taken is skipped for a localhost redirect; none left names the port and its holder', async () => {
    const squat = await hold(0, '::1');
    const p1 = portOf(squat);
    const free = await hold(0, '127.0.0.1');
    const p2 = portOf(free);
    await closeTcp(free);
    try {
      const lb = await startLoopback({ ports: [p1, p2], redirectUri: 'http://localhost/callback', expectedState: 's', log });
      assert.equal(new URL(lb.redirectUri).port, String(p2), 'the port with [::1] held by someone else is skipped');
      await lb.close();
      const t0 = Date.now();
      await assert.rejects(
        startLoopback({ ports: [p1], redirectUri: 'http://localhost/callback', expectedState: 's', log }),
        (err: Error) => {
          assert.match(err.message, new RegExp(`port ${p1} is in use on \\[::1\\] by another process of yours`));
          return true;
        },
      );
      assert.ok(Date.now() - t0 < 2000, 'fails fast');
      // A 127.0.0.1 redirect does not care about ::1.
      const v4 = await startLoopback({ ports: [p1], redirectUri: undefined, expectedState: 's', log });
      assert.equal(new URL(v4.redirectUri).port, String(p1));
      await v4.close();
    } finally {
      await closeTcp(squat);
    }
  });

  it('portHolder reads the uid of a listener from /proc/net/tcp', async (t) => {
    const s = await hold(0, '127.0.0.1');
    try {
      const h = portHolder(portOf(s));
      if (h === undefined && process.platform !== 'linux') return t.skip('no /proc/net/tcp here');
      assert.equal(h, 'another process of yours');
    } finally {
      await closeTcp(s);
    }
  });

  it('a second request for the start page aborts the login: the waiter fails, the warning is printed, a later callback is refused', async () => {
    const warnings: string[] = [];
    const lb = await startLoopback({ ports: [], redirectUri: undefined, expectedState: 'twice', log: { debug: () => undefined, info: (l) => warnings.push(l) } });
    try {
      lb.setAuthorizationUrl('https://idp.example/auth?state=twice');
      const waiting = lb.waitForCallback(new AbortController().signal, 10_000);
      waiting.catch(() => undefined); // asserted below; rejects before we get there
      assert.equal((await get(lb.startUrl)).status, 302);
      const second = await get(lb.startUrl);
      assert.equal(second.status, 409);
      assert.doesNotMatch(second.body, /idp\.example/, 'the second reader does not get the authorization URL');
      await assert.rejects(waiting, /aborted: its start page was requested twice, so another local process may have seen its state/);
      assert.equal(warnings.length, 1);
      assert.match(warnings[0]!, /^oidc-cred: warning: .*another local process may have seen this login's state/);
      const base = `http://127.0.0.1:${new URL(lb.startUrl).port}`;
      assert.equal((await get(`${base}/callback?state=twice&code=c`)).status, 404, 'the state is spent');
      await assert.rejects(lb.waitForCallback(new AbortController().signal, 1000), /requested twice/, 'a late waiter fails the same way');
    } finally {
      await lb.close();
    }
  });

  it('a callback that arrives before waitForCallback is kept', async () => {
    const lb = await startLoopback({ ports: [], redirectUri: undefined, expectedState: 'early', log });
    try {
      const base = `http://127.0.0.1:${new URL(lb.startUrl).port}`;
      const answer = get(`${base}/callback?state=early&code=e`);
      // The server has taken it once a probe with a wrong state gets 404 (spent), not 400.
      while ((await get(`${base}/callback?state=not-it&code=probe`)).status !== 404) await new Promise((r) => setTimeout(r, 20));
      const cb = await lb.waitForCallback(new AbortController().signal, 5000);
      assert.equal(cb.params.get('code'), 'e');
      await cb.finish(true, 'ok');
      assert.equal((await answer).status, 200);
    } finally {
      await lb.close();
    }
  });

  it(`slowloris: at most ${MAX_CONNECTIONS} connections (the oldest slow one dropped at once), slow heads dropped after ${HEADERS_TIMEOUT_MS} ms, the real callback still served`, async () => {
    const lb = await startLoopback({ ports: [], redirectUri: undefined, expectedState: 'slow', log });
    const port = Number(new URL(lb.startUrl).port);
    const socks: Socket[] = [];
    try {
      const t0 = Date.now();
      for (let i = 0; i < MAX_CONNECTIONS + 8; i++) {
        const s = await openSocket(port);
        // Half of them send a partial head, half nothing at all.
        if (i % 2) s.write('GET /callback?state=slow&code=x HTTP/1.1\r\nHost: 127');
        socks.push(s);
      }
      // Over the cap, the oldest slow heads are dropped at once.
      const early = await Promise.all(socks.slice(0, 8).map((s) => closedWithin(s, HEADERS_TIMEOUT_MS / 2)));
      assert.deepEqual(early, early.map(() => true), 'the 8 oldest were evicted');
      const waiting = lb.waitForCallback(new AbortController().signal, 10_000);
      const answer = get(`http://127.0.0.1:${port}/callback?state=slow&code=real`);
      const cb = await waiting;
      assert.equal(cb.params.get('code'), 'real');
      await cb.finish(true, 'ok');
      assert.equal((await answer).status, 200);
      // Generous bounds (a loaded machine delays timers); before, a silent connection stayed
      // open for good and a slow head ~30 s.
      const rest = await Promise.all(socks.slice(8).map((s) => closedWithin(s, 30_000)));
      assert.deepEqual(rest, rest.map(() => true), 'every slow head is closed by the server');
      assert.ok(Date.now() - t0 < 30_000, `closed after ${Date.now() - t0} ms`);
    } finally {
      for (const s of socks) s.destroy();
      await lb.close();
    }
  });

  it('any port: when someone takes [::1] on the port 127.0.0.1 just got, another port is tried, and the first one let go', async () => {
    const squats: TcpServer[] = [];
    // The race an attacker watching /proc/net/tcp runs: bind [::1]:PORT between our two binds.
    const racing = async (server: HttpServer, host: string, port: number): Promise<number> => {
      if (host === '::1' && squats.length < 3) squats.push(await hold(port, '::1'));
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen({ port, host, exclusive: true }, () => resolve((server.address() as { port: number }).port));
      });
    };
    try {
      const { servers, port } = await bindAll(['127.0.0.1', '::1'], [], () => createHttpServer(), log, racing);
      assert.equal(squats.length, 3, 'lost the race three times');
      assert.ok(!squats.map(portOf).includes(port), 'a port nobody else holds');
      assert.deepEqual(servers.map((s) => (s.address() as { address: string }).address), ['127.0.0.1', '::1']);
      for (const s of squats) {
        const back = await hold(portOf(s), '127.0.0.1'); // our 127.0.0.1 side of a lost race was closed
        await closeTcp(back);
      }
      await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    } finally {
      await Promise.all(squats.map(closeTcp));
    }
  });

  it('refuses non-loopback redirect URIs', async () => {
    await assert.rejects(startLoopback({ ports: [], redirectUri: 'http://example.com/cb', expectedState: 's', log }), /127\.0\.0\.1/);
    await assert.rejects(startLoopback({ ports: [], redirectUri: 'https://127.0.0.1/cb', expectedState: 's', log }), /http:\/\//);
  });
});

describe('browser command splitting', () => {
  const table: Array<[string, string[]]> = [
    ['firefox', ['firefox']],
    ['open -a "Google Chrome"', ['open', '-a', 'Google Chrome']],
    ["chromium --user-data-dir='/tmp/a b'", ['chromium', '--user-data-dir=/tmp/a b']],
    ['a\\ b c', ['a b', 'c']],
    ['x ";rm -rf /" $(y)', ['x', ';rm -rf /', '$(y)']],
    ['  ', []],
  ];
  for (const [cmd, words] of table) it(JSON.stringify(cmd), () => assert.deepEqual(splitCommand(cmd), words));
  it('unterminated quotes are an error', () => assert.throws(() => splitCommand('a "b')));
});
