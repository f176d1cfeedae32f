// Outbound HTTP for the OAuth calls (SPEC §3): undici's fetch with a dispatcher that honours
// HTTPS_PROXY/HTTP_PROXY/NO_PROXY, adds CAs from --ca-file and NODE_EXTRA_CA_CERTS, and bounds
// connect, header and body time. undici costs 115–150 ms to import, so this module is loaded
// only on the slow path (PERFORMANCE.md).
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

export async function createFetch(opts: HttpOptions): Promise<FetchLike> {
  const undici = await import('undici');
  let ca: string[] | undefined;
  if (opts.caFile) {
    let extra: string;
    try {
      extra = readFileSync(opts.caFile, 'utf8');
    } catch (err) {
      throw new ConfigError(`cannot read CA file ${opts.caFile}`, { cause: err });
    }
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
  const tls = { timeout: CONNECT_TIMEOUT_MS, ...(ca ? { ca } : {}) };
  const dispatcher = new undici.EnvHttpProxyAgent({
    connect: tls,
    requestTls: tls,
    headersTimeout: RESPONSE_TIMEOUT_MS,
    bodyTimeout: RESPONSE_TIMEOUT_MS,
    // Never follow a redirect to another host with our credentials: oauth4webapi expects none.
    maxRedirections: 0,
  } as ConstructorParameters<typeof undici.EnvHttpProxyAgent>[0]);

  return async (input, init) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    const method = init?.method ?? (input instanceof Request ? input.method : 'GET');
    opts.log.debug(() => `${method} ${url.split('?')[0]}`);
    const signals = [opts.signal, AbortSignal.timeout(RESPONSE_TIMEOUT_MS + CONNECT_TIMEOUT_MS)];
    if (init?.signal) signals.push(init.signal);
    let res: Response;
    try {
      res = (await undici.fetch(url, {
        ...(init as Parameters<typeof undici.fetch>[1]),
        method,
        redirect: 'manual',
        dispatcher,
        signal: AbortSignal.any(signals),
      } as Parameters<typeof undici.fetch>[1])) as unknown as Response;
    } catch (err) {
      if (opts.signal.aborted) throw opts.signal.reason;
      throw new ProviderError(`no answer from ${new URL(url).origin}`, { cause: networkCause(err) });
    }
    opts.log.debug(() => `-> ${res.status} ${res.headers.get('content-type') ?? ''}`);
    return limitBody(res, url);
  };
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
