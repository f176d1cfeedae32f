// The one-shot callback server (SPEC §9, RFC 8252 §7.3, modelled on int128/oauth2cli): binds
// 127.0.0.1 only, before the browser is opened; `/` redirects to the authorization URL so that
// the printed URL stays short; only GET on the callback path is handled; a callback whose
// `state` does not match gets a 400 and the server keeps waiting for the real one.
import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConfigError, LoginError } from '../errors.js';
import { errorPage, successPage } from './pages.js';

export interface Callback {
  params: URLSearchParams;
  /** Sends the final page and closes the server. */
  finish(ok: boolean, message: string): Promise<void>;
}

export interface Loopback {
  redirectUri: string;
  /** The short URL to print and open: `/` on the loopback server. */
  startUrl: string;
  setAuthorizationUrl(url: string): void;
  /** Resolves with the first callback whose state matches (or that carries error=). */
  waitForCallback(signal: AbortSignal, timeoutMs: number): Promise<Callback>;
  close(): Promise<void>;
}

export interface LoopbackOptions {
  ports: readonly number[];
  redirectUri: string | undefined;
  expectedState: string;
  log: { debug(s: string): void };
}

const MAX_URL = 8 * 1024;

export async function startLoopback(opts: LoopbackOptions): Promise<Loopback> {
  const template = new URL(opts.redirectUri ?? 'http://127.0.0.1/callback');
  if (template.protocol !== 'http:') throw new ConfigError(`redirect URI ${template.href} must use http:// (a loopback redirect, RFC 8252 §7.3)`);
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(template.hostname)) {
    throw new ConfigError(`redirect URI ${template.href} must point at 127.0.0.1, [::1] or localhost`);
  }
  const bindHost = template.hostname === '[::1]' ? '::1' : '127.0.0.1';
  const callbackPath = template.pathname || '/callback';
  let authorizationUrl = '';
  let settle: ((cb: Callback) => void) | undefined;
  let done = false;

  const server = createServer({ maxHeaderSize: 16 * 1024, requestTimeout: 30_000, headersTimeout: 10_000 }, (req, res) => {
    handle(req, res);
  });
  const port = await listen(server, bindHost, opts.ports);
  const hostOk = new Set([`${template.hostname}:${port}`, `127.0.0.1:${port}`].map((h) => h.toLowerCase()));
  const redirect = new URL(template.href);
  redirect.port = String(port);
  // Providers compare redirect URIs as strings: `http://localhost` must stay without the "/"
  // that URL serialisation adds (kubelogin's default, registered as such).
  const hasPath = /^[a-z]+:\/\/[^/?#]+[/?#]/i.test(opts.redirectUri ?? 'http://127.0.0.1/callback');
  const redirectUri = hasPath ? redirect.href : redirect.href.replace(/\/$/, '');
  const startUrl = `http://${template.hostname}:${port}/`;

  function handle(req: IncomingMessage, res: ServerResponse): void {
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('Connection', 'close');
    // DNS rebinding: a page that resolves its own name to 127.0.0.1 sends its own Host.
    if (!hostOk.has(String(req.headers.host ?? '').toLowerCase())) return plain(res, 421, 'misdirected request');
    if ((req.url ?? '').length > MAX_URL) return plain(res, 414, 'request too long');
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (req.method !== 'GET' && req.method !== 'HEAD') return plain(res, url.pathname === callbackPath ? 405 : 404, 'not found');
    // `/` redirects to the provider — unless `/` is itself the callback path and this is the
    // provider's answer (a redirect URI without a path, such as kubelogin's http://localhost).
    const isAnswer = ['state', 'code', 'error'].some((k) => url.searchParams.has(k));
    if (url.pathname === '/' && !done && !(callbackPath === '/' && isAnswer)) {
      if (!authorizationUrl) return plain(res, 404, 'not found'); // only a port scanner comes this early
      res.writeHead(302, { Location: authorizationUrl });
      res.end();
      return;
    }
    if (url.pathname !== callbackPath || done || req.method !== 'GET') return plain(res, 404, 'not found');
    const params = url.searchParams;
    const state = params.get('state') ?? '';
    if (!sameString(state, opts.expectedState)) {
      // A forged or stale callback: never ends or corrupts the real login.
      opts.log.debug('callback with a state that does not match: ignored');
      return html(res, 400, errorPage('This login response does not belong to the login in progress. Close this tab and use the one oidc-cred opened.'));
    }
    done = true;
    settle?.({
      params,
      finish: (ok, message) =>
        new Promise<void>((resolve) => {
          // The browser may have gone (closed tab, its own timeout): a destroyed socket never
          // calls end's callback, so settle on 'close' too, and never wait more than 2 s.
          res.once('close', () => resolve());
          setTimeout(resolve, 2000).unref();
          html(res, ok ? 200 : 400, ok ? successPage(message) : errorPage(message), resolve);
        }),
    });
  }

  return {
    redirectUri,
    startUrl,
    setAuthorizationUrl: (u) => {
      authorizationUrl = u;
    },
    waitForCallback: (signal, timeoutMs) =>
      new Promise<Callback>((resolve, reject) => {
        const timer = setTimeout(() => {
          cleanup();
          reject(new LoginError(`the login did not complete within ${Math.round(timeoutMs / 1000)} seconds`, { hint: 'run the command again, or raise --timeout' }));
        }, timeoutMs);
        const onAbort = (): void => {
          cleanup();
          reject(signal.reason);
        };
        const cleanup = (): void => {
          clearTimeout(timer);
          signal.removeEventListener('abort', onAbort);
          settle = undefined;
        };
        if (signal.aborted) return onAbort();
        signal.addEventListener('abort', onAbort, { once: true });
        settle = (cb) => {
          cleanup();
          resolve(cb);
        };
      }),
    close: () => closeServer(server),
  };
}

async function listen(server: Server, host: string, ports: readonly number[]): Promise<number> {
  const tryPort = (port: number): Promise<number> =>
    new Promise((resolve, reject) => {
      const onError = (err: Error): void => {
        server.removeListener('listening', onListening);
        reject(err);
      };
      const onListening = (): void => {
        server.removeListener('error', onError);
        resolve((server.address() as AddressInfo).port);
      };
      server.once('error', onError);
      server.once('listening', onListening);
      server.listen(port, host);
    });
  // No --port: let the kernel pick, which has no window between choosing and binding.
  if (!ports.length) return tryPort(0);
  // Registered ports: get-port finds the first free one, but may fall back to a random port and
  // another process may bind in between, so check its answer and retry on EADDRINUSE.
  const { default: getPort } = await import('get-port');
  const remaining = [...ports];
  while (remaining.length) {
    const port = await getPort({ port: remaining, host });
    if (!remaining.includes(port)) break;
    try {
      return await tryPort(port);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' && (err as NodeJS.ErrnoException).code !== 'EACCES') throw err;
      remaining.splice(remaining.indexOf(port), 1);
    }
  }
  // "port 18123 is taken", "neither port 8000 nor 18000 is free", "none of the ports 1, 2 and 3 is free"
  const what = ports.length === 1 ? `the callback port ${ports[0]} is taken` : ports.length === 2 ? `neither callback port ${ports[0]} nor ${ports[1]} is free` : `none of the callback ports ${ports.slice(0, -1).join(', ')} and ${ports[ports.length - 1]} is free`;
  throw new LoginError(what, { hint: 'close what uses them, or register another port with the provider and pass --port' });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
    setTimeout(resolve, 1000).unref();
  });
}

function plain(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8' });
  res.end(`${text}\n`);
}

function html(res: ServerResponse, status: number, body: string, done?: () => void): void {
  res.writeHead(status, {
    'Content-Type': 'text/html; charset=utf-8',
    // Self-contained pages: nothing may be loaded from anywhere.
    'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
  });
  res.end(body, done);
}

function sameString(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
