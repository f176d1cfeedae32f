// A deliberately small HTTP "user agent" for the demo: one request at a time over node:http,
// a cookie jar, and just enough HTML form parsing to press the auto-submit forms that
// oidc-provider renders (form_post, the device-flow pages).
//
// Why node:http and not the global fetch: fetch's first use costs ~50 ms of start-up
// (docs/performance.md), and its keep-alive pool would keep a short-lived script's
// event loop busy; `agent: false` here means every socket closes after its response.
import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import * as http from 'node:http';

export interface HttpResponse {
  readonly url: URL;
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

export interface RequestOptions {
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  /** application/x-www-form-urlencoded body (sets the content type). */
  form?: URLSearchParams;
  jar?: CookieJar;
  timeoutMs?: number;
}

interface StoredCookie {
  name: string;
  value: string;
  host: string;
  path: string;
  /** epoch ms; undefined = session cookie */
  expires: number | undefined;
}

/**
 * RFC 6265 cookie jar, reduced to what loopback tests need: host-only cookies (cookies are
 * not port-specific — RFC 6265 §8.5 — so the provider's and the loopback server's cookies on
 * 127.0.0.1 share one jar, exactly as in a real browser), path matching, Max-Age/Expires.
 * oidc-provider scopes its interaction cookies by path (/interaction/<uid>, /auth/<uid>), so
 * path matching matters: sending a stale `_interaction` cookie to the wrong uid fails.
 */
export class CookieJar {
  readonly #cookies = new Map<string, StoredCookie>();

  store(url: URL, setCookie: readonly string[] | undefined): void {
    for (const line of setCookie ?? []) {
      const [pair = '', ...attrs] = line.split(';');
      const eq = pair.indexOf('=');
      if (eq <= 0) continue;
      const cookie: StoredCookie = {
        name: pair.slice(0, eq).trim(),
        value: pair.slice(eq + 1).trim(),
        host: url.hostname,
        path: defaultPath(url),
        expires: undefined,
      };
      let maxAgeSeen = false;
      for (const attr of attrs) {
        const i = attr.indexOf('=');
        const key = (i === -1 ? attr : attr.slice(0, i)).trim().toLowerCase();
        const val = i === -1 ? '' : attr.slice(i + 1).trim();
        if (key === 'path' && val.startsWith('/')) cookie.path = val;
        else if (key === 'max-age' && /^-?\d+$/.test(val)) {
          // RFC 6265 §5.3 step 3: Max-Age wins over Expires.
          maxAgeSeen = true;
          cookie.expires = Date.now() + Number(val) * 1000;
        } else if (key === 'expires' && !maxAgeSeen) {
          const t = Date.parse(val);
          if (!Number.isNaN(t)) cookie.expires = t;
        }
      }
      const key = `${cookie.host}|${cookie.path}|${cookie.name}`;
      if (cookie.expires !== undefined && cookie.expires <= Date.now()) this.#cookies.delete(key);
      else this.#cookies.set(key, cookie);
    }
  }

  header(url: URL): string | undefined {
    const now = Date.now();
    const matching = [...this.#cookies.values()]
      .filter((c) => c.host === url.hostname && pathMatches(url.pathname, c.path))
      .filter((c) => c.expires === undefined || c.expires > now)
      // RFC 6265 §5.4: longer paths first.
      .sort((a, b) => b.path.length - a.path.length);
    return matching.length ? matching.map((c) => `${c.name}=${c.value}`).join('; ') : undefined;
  }
}

function defaultPath(url: URL): string {
  const p = url.pathname;
  const i = p.lastIndexOf('/');
  return i <= 0 ? '/' : p.slice(0, i);
}

function pathMatches(requestPath: string, cookiePath: string): boolean {
  if (requestPath === cookiePath) return true;
  if (!requestPath.startsWith(cookiePath)) return false;
  return cookiePath.endsWith('/') || requestPath.charAt(cookiePath.length) === '/';
}

/**
 * Name resolution as a browser does it: `localhost` is the loopback whatever /etc/hosts says,
 * IPv6 first (RFC 6761 §6.3; Chromium and Firefox both answer it themselves with ::1 before
 * 127.0.0.1, falling back when ::1 refuses). /etc/hosts on many machines lists only
 * 127.0.0.1, which would hide exactly the case a loopback server must get right.
 */
function browserLookup(
  hostname: string,
  options: LookupOptions,
  callback: (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void,
): void {
  if (hostname.toLowerCase() !== 'localhost') {
    dnsLookup(hostname, options, callback as never);
    return;
  }
  const both: LookupAddress[] = [{ address: '::1', family: 6 }, { address: '127.0.0.1', family: 4 }];
  const wanted = both.filter((a) => !options.family || a.family === options.family);
  if (options.all) callback(null, wanted);
  else callback(null, wanted[0]!.address, wanted[0]!.family);
}

/** One HTTP exchange. Never follows redirects: the callers decide what a redirect means. */
export function httpRequest(url: URL, opts: RequestOptions = {}): Promise<HttpResponse> {
  const method = opts.method ?? (opts.form ? 'POST' : 'GET');
  const headers: Record<string, string> = { 'user-agent': 'oidc-cred-demo-browser', ...opts.headers };
  const cookie = opts.jar?.header(url);
  if (cookie) headers.cookie = cookie;
  let payload: Buffer | undefined;
  if (opts.form) {
    payload = Buffer.from(opts.form.toString());
    headers['content-type'] = 'application/x-www-form-urlencoded';
    headers['content-length'] = String(payload.length);
  }
  return new Promise<HttpResponse>((resolve, reject) => {
    const req = http.request(url, { method, headers, agent: false, lookup: browserLookup }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        opts.jar?.store(url, res.headers['set-cookie']);
        resolve({
          url,
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString('utf8'),
        });
      });
    });
    req.setTimeout(opts.timeoutMs ?? 10_000, () => {
      req.destroy(new Error(`timed out waiting for ${method} ${url.origin}${url.pathname}`));
    });
    req.on('error', reject);
    req.end(payload);
  });
}

export function isRedirect(status: number): boolean {
  return status === 301 || status === 302 || status === 303 || status === 307 || status === 308;
}

export interface HtmlForm {
  readonly action: string;
  readonly method: 'GET' | 'POST';
  readonly fields: ReadonlyArray<readonly [string, string]>;
  /** true when every <input> is type=hidden: nothing for a human to fill in. */
  readonly onlyHidden: boolean;
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

export function decodeEntities(s: string): string {
  return s.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (m, e: string) => {
    if (e[0] === '#') {
      const cp = e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
      return Number.isFinite(cp) ? String.fromCodePoint(cp) : m;
    }
    return ENTITIES[e.toLowerCase()] ?? m;
  });
}

function attr(tag: string, name: string): string | undefined {
  const m = new RegExp(`\\s${name}\\s*=\\s*(?:"([^"]*)"|'([^']*)'|([^\\s>]+))`, 'i').exec(tag);
  if (!m) return undefined;
  return decodeEntities(m[1] ?? m[2] ?? m[3] ?? '');
}

/**
 * The forms of a page, for oidc-provider's own (machine-generated, well-formed) HTML only.
 * A regex parser is enough here and keeps the browser free of dependencies.
 */
export function parseForms(html: string): HtmlForm[] {
  const forms: HtmlForm[] = [];
  const formRe = /<form\b([^>]*)>([\s\S]*?)<\/form>/gi;
  for (let m = formRe.exec(html); m; m = formRe.exec(html)) {
    const open = `<form ${m[1] ?? ''}>`;
    const inner = m[2] ?? '';
    const fields: Array<[string, string]> = [];
    let onlyHidden = true;
    const inputRe = /<input\b[^>]*>/gi;
    for (let i = inputRe.exec(inner); i; i = inputRe.exec(inner)) {
      const tag = i[0];
      const type = (attr(tag, 'type') ?? 'text').toLowerCase();
      const name = attr(tag, 'name');
      if (type !== 'hidden') onlyHidden = false;
      if (name !== undefined) fields.push([name, attr(tag, 'value') ?? '']);
    }
    forms.push({
      action: attr(open, 'action') ?? '',
      method: (attr(open, 'method') ?? 'get').toUpperCase() === 'POST' ? 'POST' : 'GET',
      fields,
      onlyHidden,
    });
  }
  return forms;
}

/** The form a page would submit by itself (or that a user would submit without typing). */
export interface FormSubmission {
  readonly url: URL;
  readonly method: 'GET' | 'POST';
  /** the body for POST; for GET the fields are already in `url`'s query */
  readonly form: URLSearchParams | undefined;
}

export function autoSubmitForm(res: HttpResponse): FormSubmission | undefined {
  const type = String(res.headers['content-type'] ?? '');
  if (!type.includes('html')) return undefined;
  const forms = parseForms(res.body);
  const form = forms.length === 1 ? forms[0] : undefined;
  if (!form?.onlyHidden) return undefined;
  const params = new URLSearchParams();
  for (const [k, v] of form.fields) params.append(k, v);
  const url = new URL(form.action || res.url.href, res.url);
  if (form.method === 'GET') {
    url.search = params.toString();
    return { url, method: 'GET', form: undefined };
  }
  return { url, method: 'POST', form: params };
}
