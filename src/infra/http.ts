// Outbound HTTP for the OAuth calls (docs/configuration.md, "Options"): a fetch for oauth4webapi
// that honours HTTPS_PROXY/HTTP_PROXY/NO_PROXY (through undici), adds CAs from --ca-file and
// NODE_EXTRA_CA_CERTS, bounds connect, header and body time, never follows a redirect, and reads
// at most MAX_BODY_BYTES. Loaded only off the cache-hit path.
import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import { ConfigError, ProviderError } from '../errors.js';
import type { Logger } from './log.js';

export const CONNECT_TIMEOUT_MS = 10_000;
export const RESPONSE_TIMEOUT_MS = 10_000;
/** Largest response body accepted from a provider; discovery documents are a few KiB. */
export const MAX_BODY_BYTES = 1024 * 1024;

export type FetchLike = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

export interface HttpOptions {
  caFile: string | undefined;
  env: Readonly<Record<string, string | undefined>>;
  log: Logger;
  signal: AbortSignal;
}

/** Environment variables that make undici route a request through a proxy. */
const PROXY_VARS = ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy'];

export async function createFetch(opts: HttpOptions): Promise<FetchLike> {
  let ca: string[] | undefined;
  if (opts.caFile) {
    let extra: string;
    try {
      extra = readFileSync(opts.caFile, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') throw new ConfigError(`the CA file ${opts.caFile} (--ca-file) does not exist`);
      throw new ConfigError(`cannot read the CA file ${opts.caFile} (--ca-file)`, { cause: code === 'EACCES' ? new Error('permission denied') : err });
    }
    checkPem(extra, opts.caFile);
    // Passing `ca` replaces Node's defaults, so keep the system roots and NODE_EXTRA_CA_CERTS.
    ca = [...rootCertificates, extra];
    const nodeExtra = opts.env.NODE_EXTRA_CA_CERTS;
    if (nodeExtra) {
      try {
        ca.push(readFileSync(nodeExtra, 'utf8'));
      } catch {
        /* Node itself warns about an unreadable NODE_EXTRA_CA_CERTS */
      }
    }
  }
  // With a proxy configured, undici (its EnvHttpProxyAgent reads HTTPS_PROXY, HTTP_PROXY and
  // NO_PROXY). Without one, Node's own http client does the same job: undici costs ~4× `node -e 0`
  // in instructions to load, which a refresh would pay on every call (docs/architecture.md).
  const send = PROXY_VARS.some((v) => opts.env[v]) ? await undiciSender(ca) : nodeSender(ca);

  return async (input, init) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    const method = init?.method ?? (input instanceof Request ? input.method : 'GET');
    opts.log.debug(() => `${method} ${url.split('?')[0]}`);
    const signals = [opts.signal, AbortSignal.timeout(RESPONSE_TIMEOUT_MS + CONNECT_TIMEOUT_MS)];
    if (init?.signal) signals.push(init.signal);
    let res: Response;
    try {
      res = await send(url, method, init, AbortSignal.any(signals));
    } catch (err) {
      if (opts.signal.aborted) throw opts.signal.reason;
      if (err instanceof ProviderError) throw err;
      const tls = tlsProblem(err, new URL(url).origin, opts.caFile);
      if (tls) throw tls;
      throw new ProviderError(`no answer from ${new URL(url).origin}`, { cause: networkCause(err) });
    }
    opts.log.debug(() => `-> ${res.status} ${res.headers.get('content-type') ?? ''}`);
    return limitBody(res, url);
  };
}

type Sender = (url: string, method: string, init: RequestInit | undefined, signal: AbortSignal) => Promise<Response>;

async function undiciSender(ca: string[] | undefined): Promise<Sender> {
  const undici = await import('undici');
  const tls = { timeout: CONNECT_TIMEOUT_MS, ...(ca ? { ca } : {}) };
  const dispatcher = new undici.EnvHttpProxyAgent({
    connect: tls,
    requestTls: tls,
    headersTimeout: RESPONSE_TIMEOUT_MS,
    bodyTimeout: RESPONSE_TIMEOUT_MS,
    // Never follow a redirect to another host with our credentials: oauth4webapi expects none.
    maxRedirections: 0,
  } as ConstructorParameters<typeof undici.EnvHttpProxyAgent>[0]);
  return async (url, method, init, signal) =>
    (await undici.fetch(url, {
      ...(init as Parameters<typeof undici.fetch>[1]),
      method,
      redirect: 'manual',
      dispatcher,
      signal,
    } as Parameters<typeof undici.fetch>[1])) as unknown as Response;
}

/** node:http(s) with the same limits: CA list, connect and response timeouts, no redirects followed, at most MAX_BODY_BYTES. */
function nodeSender(ca: string[] | undefined): Sender {
  return async (url, method, init, signal) => {
    const target = new URL(url);
    const mod = target.protocol === 'https:' ? await import('node:https') : await import('node:http');
    const headers: Record<string, string> = {};
    new Headers(init?.headers).forEach((v, k) => (headers[k] = v));
    let body: string | undefined;
    if (typeof init?.body === 'string') body = init.body;
    else if (init?.body instanceof URLSearchParams) {
      body = init.body.toString();
      headers['content-type'] ??= 'application/x-www-form-urlencoded;charset=UTF-8';
    } else if (init?.body != null) throw new TypeError('unsupported request body');
    if (body !== undefined) headers['content-length'] = String(Buffer.byteLength(body));
    return new Promise<Response>((resolve, reject) => {
      let started = false;
      const req = mod.request(target, { method, headers, signal, timeout: CONNECT_TIMEOUT_MS, ...(ca ? { ca } : {}) }, (res) => {
        started = true;
        const chunks: Buffer[] = [];
        let size = 0;
        const stall = setTimeout(() => res.destroy(Object.assign(new Error('timed out waiting for the response'), { code: 'UND_ERR_BODY_TIMEOUT' })), RESPONSE_TIMEOUT_MS);
        res.on('close', () => clearTimeout(stall));
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_BODY_BYTES) {
            res.destroy();
            reject(new ProviderError(`${target.origin} sent more than the ${MAX_BODY_BYTES} bytes accepted`));
            return;
          }
          chunks.push(c);
        });
        res.on('error', (err) => reject(new ProviderError(`${target.origin} broke off its response: ${networkCause(err).message}`)));
        res.on('end', () => {
          const h = new Headers();
          for (const [k, v] of Object.entries(res.headers)) {
            if (Array.isArray(v)) for (const one of v) h.append(k, one);
            else if (v !== undefined) h.set(k, v);
          }
          const status = res.statusCode ?? 502;
          resolve(new Response(status === 204 || status === 304 ? null : Buffer.concat(chunks), { status, statusText: res.statusMessage ?? '', headers: h }));
        });
      });
      // No answer within the connect timeout (or a stall before the headers): give up.
      req.on('timeout', () => {
        if (!started) req.destroy(Object.assign(new Error('timed out connecting'), { code: 'UND_ERR_CONNECT_TIMEOUT' }));
      });
      req.on('error', (err) => reject(started ? new ProviderError(`${target.origin} broke off its response: ${networkCause(err).message}`) : err));
      req.end(body);
    });
  };
}

/**
 * A CA bundle that holds no PEM certificate would be accepted by Node without a word and then
 * change nothing: refuse it, so that "not trusted" never follows a --ca-file that was read.
 */
function checkPem(text: string, file: string): void {
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) {
    throw new ConfigError(`the CA file ${file} (--ca-file) holds no PEM certificate ("-----BEGIN CERTIFICATE-----")`, {
      hint: `a DER file converts with: openssl x509 -inform der -in '${file}' -out ca.pem`,
    });
  }
  for (const b of blocks) {
    // Base64 of a DER certificate: anything else in a block is a damaged file.
    const body = b.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, '');
    if (!/^[A-Za-z0-9+/]+=*$/.test(body) || body.length < 100) {
      throw new ConfigError(`the CA file ${file} (--ca-file) holds a damaged PEM certificate`, { hint: 'export the CA certificate again' });
    }
  }
}

/** The error of a socket or TLS handshake, under undici's "fetch failed" wrappers. */
function rootCause(err: unknown): Error & { code?: string } {
  let e = err as Error & { cause?: unknown; code?: string };
  for (let i = 0; e && i < 5 && !e.code && e.cause instanceof Error; i++) e = e.cause as typeof e;
  return e;
}

/** Certificate errors Node reports by code (node's tls, OpenSSL's X509_V_ERR_* names). */
const UNTRUSTED = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_GET_ISSUER_CERT',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
]);

/**
 * The server did answer: a TLS failure is not "no answer". Say what is wrong with the
 * certificate and what fixes it (--ca-file, docs/configuration.md), and translate OpenSSL's
 * "wrong version number" — an https:// URL on a plain http port.
 */
function tlsProblem(err: unknown, origin: string, caFile: string | undefined): ProviderError | undefined {
  const e = rootCause(err);
  const code = e?.code ?? '';
  // The cause keeps the code for whoever looks deeper (doctor), worded as a part of the message
  // so that the one-line error does not repeat it.
  const fail = (what: string, part: string, hint: string, as = code): ProviderError =>
    new ProviderError(`${origin} ${what}`, { cause: Object.assign(new Error(part), { code: as }), hint });
  if (UNTRUSTED.has(code)) {
    return fail(
      `answered, but its TLS certificate is not signed by a CA this machine trusts (${code})`,
      code,
      caFile ? `${caFile} does not hold the CA that signed it: pass the right bundle with --ca-file` : 'pass your organisation\'s CA certificate (PEM) with --ca-file, or add "ca-file" to the profile',
    );
  }
  if (code === 'CERT_HAS_EXPIRED') return fail('answered, but its TLS certificate has expired', 'has expired', "check the machine's clock; otherwise the provider must renew it");
  if (code === 'CERT_NOT_YET_VALID') return fail('answered, but its TLS certificate is not valid yet', 'is not valid yet', "check the machine's clock");
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') return fail('answered, but its TLS certificate is for another host name', 'for another host name', 'use the host name the certificate names in the issuer URL');
  if (code === 'ERR_SSL_WRONG_VERSION_NUMBER' || /wrong version number/i.test(e?.message ?? '')) {
    return fail('does not speak TLS: the port answers plain http, not https', 'does not speak TLS', 'check the port and the scheme of the URL; plain http:// is allowed only on a loopback address', 'ERR_SSL_WRONG_VERSION_NUMBER');
  }
  return undefined;
}

/** The reason worth a user's eye: undici wraps the socket error in "fetch failed". */
function networkCause(err: unknown): Error {
  let e = err as Error & { cause?: unknown; code?: string };
  while (e && e.message === 'fetch failed' && e.cause instanceof Error) e = e.cause as typeof e;
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return new Error('timed out');
  if (e?.code === 'UND_ERR_HEADERS_TIMEOUT' || e?.code === 'UND_ERR_BODY_TIMEOUT') return new Error('timed out waiting for the response');
  if (e?.code === 'UND_ERR_CONNECT_TIMEOUT') return new Error('timed out connecting');
  return e instanceof Error ? e : new Error(String(err));
}

/** Reads at most MAX_BODY_BYTES, so that a hostile or broken endpoint cannot exhaust memory. */
async function limitBody(res: Response, url: string): Promise<Response> {
  const declared = Number(res.headers.get('content-length') ?? '0');
  if (declared > MAX_BODY_BYTES) {
    await res.body?.cancel().catch(() => undefined);
    throw new ProviderError(`${new URL(url).origin} sent a response of ${declared} bytes, more than the ${MAX_BODY_BYTES} accepted`);
  }
  if (!res.body) return res;
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    let r: ReadableStreamReadResult<Uint8Array>;
    try {
      r = await reader.read();
    } catch (err) {
      throw new ProviderError(`${new URL(url).origin} broke off its response`, { cause: networkCause(err) });
    }
    if (r.done) break;
    size += r.value.byteLength;
    if (size > MAX_BODY_BYTES) {
      await reader.cancel().catch(() => undefined);
      throw new ProviderError(`${new URL(url).origin} sent more than the ${MAX_BODY_BYTES} bytes accepted`);
    }
    chunks.push(r.value);
  }
  const body = Buffer.concat(chunks);
  // A fresh Response with the same status and headers, so that oauth4webapi can read it as usual.
  return new Response(res.status === 204 || res.status === 304 ? null : body, {
    status: res.status,
    statusText: res.statusText,
    headers: res.headers,
  });
}
