// The one-shot callback server (RFC 8252 §7.3, modelled on int128/oauth2cli; README "The login"
// and SECURITY.md "The loopback login" say what it promises). It binds the loopback only, before
// the browser is opened: 127.0.0.1, or [::1] when the redirect URI names it, or both on one port
// for a `localhost` redirect URI — a browser resolving `localhost` may try ::1 first, and
// whoever held [::1]:PORT would receive the login. The browser is always sent to the IP literal.
// `/?k=<key>` redirects to the authorization URL once; a second time aborts the login (someone
// else has seen its `state`); `/` without the key is 404. Only GET on the callback path is
// handled; a callback whose `state` does not match gets a 400 and the server keeps waiting.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { ConfigError, LoginError } from '../errors.js';
import { errorPage, successPage } from './pages.js';

export interface Callback {
  params: URLSearchParams;
  /** Sends the final page and closes the server. */
  finish(ok: boolean, message: string): Promise<void>;
}

export interface Loopback {
  redirectUri: string;
  /** The short URL to print and open: `/?k=<key>` on the loopback server, at its IP literal. */
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
  /** `info` gets the warning when the start page is requested twice. */
  log: { debug(s: string): void; info?(s: string): void };
}

const MAX_URL = 8 * 1024;
/** Connections held open at once, over both addresses. A browser needs a handful. */
export const MAX_CONNECTIONS = 16;
/** A request head must arrive this fast (a browser sends it at once; slowloris does not). */
export const HEADERS_TIMEOUT_MS = 3000;
/** Kernel-chosen ports tried when [::1] already has the port 127.0.0.1 got. */
const ANY_PORT_ATTEMPTS = 10;

type Phase = 'head' | 'busy' | 'done';

export async function startLoopback(opts: LoopbackOptions): Promise<Loopback> {
  const template = new URL(opts.redirectUri ?? 'http://127.0.0.1/callback');
  if (template.protocol !== 'http:') throw new ConfigError(`redirect URI ${template.href} must use http:// (a loopback redirect, RFC 8252 §7.3)`);
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(template.hostname)) {
    throw new ConfigError(`redirect URI ${template.href} must point at 127.0.0.1, [::1] or localhost`);
  }
  const hosts = template.hostname === '[::1]' ? ['::1'] : template.hostname === 'localhost' ? ['127.0.0.1', '::1'] : ['127.0.0.1'];
  const callbackPath = template.pathname || '/callback';
  // Only whoever was given the start URL knows this, so a port scanner's `/` learns nothing.
  const key = randomBytes(16).toString('base64url');
  let authorizationUrl = '';
  let served = false;
  let finished = false;
  let failure: Error | undefined;
  let pending: Callback | undefined;
  let waiter: { resolve(cb: Callback): void; reject(err: Error): void } | undefined;

  // One set of connections over both servers: the cap is for the login, not per address.
  const conns = new Map<Socket, Phase>();
  const makeServer = (): Server => {
    const server = createServer(
      {
        maxHeaderSize: 16 * 1024,
        headersTimeout: HEADERS_TIMEOUT_MS,
        requestTimeout: 10_000,
        // Node checks the two timeouts above only this often (default 30 s: slowloris kept
        // connections that long).
        connectionsCheckingInterval: 250,
        keepAliveTimeout: 1000,
      },
      (req, res) => handle(req, res),
    );
    server.on('connection', (sock: Socket) => admit(sock));
    return server;
  };

  function admit(sock: Socket): void {
    conns.set(sock, 'head');
    // Node's headersTimeout only covers a head that has begun: a connection that sends
    // nothing at all would stay open for good. So time every head ourselves.
    const timer = setTimeout(() => {
      if (conns.get(sock) === 'head') sock.destroy();
    }, HEADERS_TIMEOUT_MS).unref();
    sock.once('close', () => {
      clearTimeout(timer);
      conns.delete(sock);
    });
    if (conns.size <= MAX_CONNECTIONS) return;
    // At the cap, drop the oldest connection that is not being answered (still sending its
    // head, or answered and lingering): a browser sends its request at once, so it is the
    // slow clients that go. Map order is arrival order.
    for (const [s, phase] of conns) {
      if (phase !== 'busy' && s !== sock) {
        conns.delete(s);
        s.destroy();
        opts.log.debug(`${MAX_CONNECTIONS} connections open: dropped the oldest one not being answered`);
        return;
      }
    }
    conns.delete(sock);
    sock.destroy();
    opts.log.debug(`${MAX_CONNECTIONS} connections being answered: refused a new one`);
  }

  const { servers, port } = await bindAll(hosts, opts.ports, makeServer, opts.log);
  const bound = servers.map((s) => (s.address() as AddressInfo).address);
  const literal = (h: string): string => (h.includes(':') ? `[${h}]` : h);
  const hostOk = new Set([template.hostname, ...bound.map(literal)].map((h) => `${h}:${port}`.toLowerCase()));
  const redirect = new URL(template.href);
  redirect.port = String(port);
  // Providers compare redirect URIs as strings: `http://localhost` must stay without the "/"
  // that URL serialisation adds (kubelogin's default, registered as such).
  const hasPath = /^[a-z]+:\/\/[^/?#]+[/?#]/i.test(opts.redirectUri ?? 'http://127.0.0.1/callback');
  const redirectUri = hasPath ? redirect.href : redirect.href.replace(/\/$/, '');
  // The IP literal, never `localhost`: the name may resolve to an address we do not hold.
  const startUrl = `http://${literal(bound[0]!)}:${port}/?k=${key}`;

  function fail(err: Error): void {
    finished = true;
    failure = err;
    const w = waiter;
    waiter = undefined;
    w?.reject(err);
  }

  function handle(req: IncomingMessage, res: ServerResponse): void {
    conns.set(req.socket, 'busy');
    res.once('finish', () => {
      if (!conns.has(req.socket)) return;
      conns.set(req.socket, 'done');
      // Answered with `Connection: close`; a client that never reads or closes loses it soon.
      setTimeout(() => req.socket.destroy(), 1000).unref();
    });
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('Connection', 'close');
    // DNS rebinding: a page that resolves its own name to 127.0.0.1 sends its own Host.
    if (!hostOk.has(String(req.headers.host ?? '').toLowerCase())) return plain(res, 421, 'misdirected request');
    if ((req.url ?? '').length > MAX_URL) return plain(res, 414, 'request too long');
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    // `/` starts the login — unless `/` is itself the callback path and this is the provider's
    // answer (a redirect URI without a path, such as kubelogin's http://localhost).
    const isAnswer = ['state', 'code', 'error'].some((k) => url.searchParams.has(k));
    if (url.pathname === '/' && !(callbackPath === '/' && isAnswer)) return start(req, res, url);
    if (url.pathname !== callbackPath) return plain(res, 404, 'not found');
    if (req.method !== 'GET') return plain(res, 405, 'method not allowed');
    if (finished) return plain(res, 404, 'not found');
    const params = url.searchParams;
    if (!sameString(params.get('state') ?? '', opts.expectedState)) {
      // A forged or stale callback: the real one is still awaited.
      opts.log.debug('callback with a state that does not match: ignored');
      return html(res, 400, errorPage('This login response does not belong to the login in progress. Close this tab and use the one oidc-cred opened.'));
    }
    finished = true;
    const cb: Callback = {
      params,
      finish: (ok, message) =>
        new Promise<void>((resolve) => {
          // The browser may have gone (closed tab, its own timeout): a destroyed socket never
          // calls end's callback, so settle on 'close' too, and never wait more than 2 s.
          res.once('close', () => resolve());
          setTimeout(resolve, 2000).unref();
          html(res, ok ? 200 : 400, ok ? successPage(message) : errorPage(message), resolve);
        }),
    };
    if (waiter) {
      const w = waiter;
      waiter = undefined;
      w.resolve(cb);
    } else pending = cb; // the browser beat waitForCallback
  }

  function start(req: IncomingMessage, res: ServerResponse, url: URL): void {
    // Without the key (a port scanner), before the URL exists, after the login: nothing here.
    if (req.method !== 'GET' || finished || !authorizationUrl || !sameString(url.searchParams.get('k') ?? '', key)) return plain(res, 404, 'not found');
    if (served) {
      // The redirect carries `state`: a second reader may finish that authorization request
      // with their own account (ours would then store their session) or forge an error=.
      opts.log.info?.('oidc-cred: warning: the login page was requested a second time, so another local process may have seen this login\'s state; the login is aborted');
      fail(
        new LoginError('the login was aborted: its start page was requested twice, so another local process may have seen its state', {
          hint: 'run the command again; if you opened the URL only once, another user of this machine may be watching for logins',
        }),
      );
      return html(res, 409, errorPage('This login was aborted because its address was opened a second time: another program on this computer may have seen it. Run the command again.'));
    }
    served = true;
    res.writeHead(302, { Location: authorizationUrl });
    res.end();
  }

  return {
    redirectUri,
    startUrl,
    setAuthorizationUrl: (u) => {
      authorizationUrl = u;
    },
    waitForCallback: (signal, timeoutMs) =>
      new Promise<Callback>((resolve, reject) => {
        if (failure) return reject(failure);
        if (pending) return resolve(pending);
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
          waiter = undefined;
        };
        if (signal.aborted) return onAbort();
        signal.addEventListener('abort', onAbort, { once: true });
        waiter = {
          resolve: (cb) => {
            cleanup();
            resolve(cb);
          },
          reject: (err) => {
            cleanup();
            reject(err);
          },
        };
      }),
    close: async () => {
      await Promise.all(servers.map(closeServer));
    },
  };
}

interface Bound {
  servers: Server[];
  port: number;
}

/** Why one host:port could not be bound, for the error message. */
class BindFailure extends Error {
  constructor(
    readonly port: number,
    readonly host: string,
    readonly error: NodeJS.ErrnoException,
  ) {
    super(`${error.code ?? error.message} on ${host.includes(':') ? `[${host}]` : host}:${port}`);
  }
}

/**
 * Binds every host on one port: the kernel's choice when no port is given (retrying when [::1]
 * already has the port 127.0.0.1 got), else the first registered port where all of them are
 * free. A host that does not exist here (no IPv6) is left out: nobody else can bind it either.
 */
export async function bindAll(
  hosts: readonly string[],
  ports: readonly number[],
  makeServer: () => Server,
  log: { debug(s: string): void },
  // A test passes a listen that lets a squatter win the race for the second address.
  listenOn: (server: Server, host: string, port: number) => Promise<number> = listen,
): Promise<Bound> {
  const failures: BindFailure[] = [];
  const candidates = ports.length ? ports : Array.from({ length: ANY_PORT_ATTEMPTS }, () => 0);
  for (const wanted of candidates) {
    const servers: Server[] = [];
    let port = wanted;
    try {
      for (const host of hosts) {
        const server = makeServer();
        try {
          port = await listenOn(server, host, port);
          servers.push(server);
        } catch (err) {
          const e = err as NodeJS.ErrnoException;
          if (servers.length && (e.code === 'EADDRNOTAVAIL' || e.code === 'EAFNOSUPPORT')) {
            log.debug(`no ${host} on this machine (${e.code}): listening on ${hosts[0]} only`);
            continue;
          }
          throw new BindFailure(port, host, e);
        }
      }
      return { servers, port };
    } catch (err) {
      await Promise.all(servers.map(closeServer));
      if (!(err instanceof BindFailure) || (err.error.code !== 'EADDRINUSE' && err.error.code !== 'EACCES')) throw err instanceof BindFailure ? err.error : err;
      log.debug(`callback port: ${err.message}`);
      failures.push(err);
    }
  }
  if (!ports.length) {
    throw new LoginError(`could not get one free port on both ${hosts.join(' and ')} in ${ANY_PORT_ATTEMPTS} tries (last: ${describeFailure(failures.at(-1)!)})`, {
      hint: 'another process keeps taking the ports; pass --port with a port you keep free',
    });
  }
  const why = ports.map((p) => describeFailure(failures.find((f) => f.port === p)!)).join('; ');
  // "the callback port is taken: …", "neither callback port is free: …", "none of the callback ports is free: …"
  const what = ports.length === 1 ? 'the callback port is taken' : ports.length === 2 ? 'neither callback port is free' : 'none of the callback ports is free';
  throw new LoginError(`${what}: ${why}`, {
    hint: 'close what uses them, or register another port with the provider and pass --port',
  });
}

function describeFailure(f: BindFailure): string {
  const where = f.host.includes(':') ? `[${f.host}]` : f.host;
  if (f.error.code === 'EACCES') return `port ${f.port} may not be bound on ${where} (EACCES)`;
  const holder = portHolder(f.port);
  return `port ${f.port} is in use on ${where}${holder ? ` by ${holder}` : ''}`;
}

/**
 * Who listens on a TCP port, from the uid column of /proc/net/tcp and tcp6 (Linux; absent or
 * hidden elsewhere, and then the message simply names the port).
 */
export function portHolder(port: number): string | undefined {
  const uids = new Set<number>();
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      // sl local_address rem_address st tx:rx tr:when retrnsmt uid …; 0A is LISTEN.
      if (f.length > 7 && f[1]!.endsWith(`:${hexPort}`) && f[3] === '0A' && /^\d+$/.test(f[7]!)) uids.add(Number(f[7]));
    }
  }
  if (!uids.size) return undefined;
  const me = process.getuid?.();
  return [...uids].map((uid) => (uid === me ? 'another process of yours' : `uid ${uid}${userName(uid) ? ` (${userName(uid)})` : ''}`)).join(' and ');
}

function userName(uid: number): string | undefined {
  try {
    const line = readFileSync('/etc/passwd', 'utf8')
      .split('\n')
      .find((l) => l.split(':')[2] === String(uid));
    return line?.split(':')[0] || undefined;
  } catch {
    return undefined;
  }
}

function listen(server: Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
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
    // exclusive: never share a port with a cluster primary (there is none; be explicit).
    server.listen({ port, host, exclusive: true });
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
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
