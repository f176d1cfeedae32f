// A scripted "browser" for Glewlwyd (test/support/glewlwyd.ts). Glewlwyd's login page is a
// JavaScript app (login.html); this makes the same REST calls that app makes when a user types
// their password and accepts the requested scopes:
//
//   POST /api/auth/                      {"username", "password"}   → session cookie
//   PUT  /api/auth/grant/<client_id>     {"scope": "<scopes>"}      → consent
//   GET  <callback_url>&g_continue                                  → back to the protocol endpoint
//
// and follows every redirect, up to the loopback callback (authorization code) or up to the
// page that says the device was approved (`login.html?prompt=deviceComplete`).
//
//   node --import tsx test/support/glewlwyd-browser.ts --log FILE --user U --password P URL
//
// --log FILE appends `<pid> <url>` at start and, on failure, a second line `<pid> error=<why>`.
// Never writes to stdout (it may belong to git or kubectl).
import { appendFileSync } from 'node:fs';
import * as http from 'node:http';
import { CookieJar, httpRequest, isRedirect } from '../../demo/http-client.ts';

interface Flags {
  log: string | undefined;
  user: string;
  password: string;
  url: string;
}

function parse(argv: readonly string[]): Flags {
  const f: Flags = { log: undefined, user: '', password: '', url: '' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? '';
    if (a === '--log') f.log = argv[++i];
    else if (a === '--user') f.user = argv[++i] ?? '';
    else if (a === '--password') f.password = argv[++i] ?? '';
    else if (a.startsWith('--')) throw new Error(`unknown flag ${a}`);
    else f.url = a;
  }
  if (!f.url || !f.user) throw new Error('usage: glewlwyd-browser --user U --password P [--log FILE] URL');
  return f;
}

function json(url: URL, method: 'POST' | 'PUT', body: unknown, jar: CookieJar): Promise<number> {
  const payload = Buffer.from(JSON.stringify(body));
  const headers: Record<string, string> = { 'content-type': 'application/json', 'content-length': String(payload.length) };
  const cookie = jar.header(url);
  if (cookie) headers.cookie = cookie;
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers, agent: false }, (res) => {
      res.resume();
      res.on('end', () => {
        jar.store(url, res.headers['set-cookie']);
        resolve(res.statusCode ?? 0);
      });
    });
    req.setTimeout(10_000, () => req.destroy(new Error(`timed out: ${method} ${url.pathname}`)));
    req.on('error', reject);
    req.end(payload);
  });
}

async function run(f: Flags): Promise<string | undefined> {
  const jar = new CookieJar();
  let url = new URL(f.url);
  let loggedIn = false;
  for (let hop = 0; hop < 20; hop++) {
    const res = await httpRequest(url, { jar });
    const location = res.headers.location;
    if (isRedirect(res.status) && location) {
      url = new URL(location, url);
      continue;
    }
    if (url.pathname.endsWith('/login.html')) {
      const q = url.searchParams;
      const prompt = q.get('prompt');
      if (prompt === 'deviceComplete') return undefined;
      if (prompt && prompt.startsWith('device') && prompt !== 'device') return `device-${prompt}`;
      const callback = q.get('callback_url');
      if (!callback) return 'login-page-without-callback_url';
      const api = new URL('/api/', url);
      if (!loggedIn) {
        const s = await json(new URL('auth/', api), 'POST', { username: f.user, password: f.password }, jar);
        if (s !== 200) return `login-${s}`;
        loggedIn = true;
      }
      const clientId = q.get('client_id');
      if (clientId) {
        const s = await json(new URL(`auth/grant/${encodeURIComponent(clientId)}`, api), 'PUT', { scope: q.get('scope') ?? '' }, jar);
        if (s !== 200) return `grant-${s}`;
      }
      url = new URL(callback + (callback.includes('?') ? '&g_continue' : '?g_continue'));
      continue;
    }
    // The loopback callback page (or anything else that is not Glewlwyd's): the end of the road.
    if (res.status >= 200 && res.status < 300) return undefined;
    return `stuck-${res.status}-${url.pathname}`;
  }
  return 'too-many-hops';
}

let flags: Flags | undefined;
try {
  flags = parse(process.argv.slice(2));
  if (flags.log) appendFileSync(flags.log, `${process.pid} ${flags.url}\n`);
  const error = await run(flags);
  if (error) {
    if (flags.log) appendFileSync(flags.log, `${process.pid} error=${error}\n`);
    process.stderr.write(`glewlwyd browser: ${error}\n`);
    process.exitCode = 1;
  }
} catch (err) {
  if (flags?.log) appendFileSync(flags.log, `${process.pid} error=exception\n`);
  process.stderr.write(`glewlwyd browser: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
}
