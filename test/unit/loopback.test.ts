import assert from 'node:assert/strict';
import { request } from 'node:http';
import { describe, it } from 'node:test';
import { startLoopback } from '../../src/oauth/loopback.ts';
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

describe('the loopback server', () => {
  it('redirects /, 404s the rest, refuses foreign Host headers and forged states, then takes the real callback once', async () => {
    const lb = await startLoopback({ ports: [], redirectUri: undefined, expectedState: 'the-state', log });
    try {
      assert.match(lb.redirectUri, /^http:\/\/127\.0\.0\.1:\d+\/callback$/);
      const base = lb.startUrl.replace(/\/$/, '');
      lb.setAuthorizationUrl('https://idp.example/auth?x=1');
      const root = await get(`${base}/`);
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
      assert.equal((await get(`http://127.0.0.1:${port}/`, { host: `localhost:${port}` })).status, 302, '/ still starts the login');
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
      await assert.rejects(startLoopback({ ports: [taken], redirectUri: undefined, expectedState: 's', log }), /: the callback port \d+ is taken$/);
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
