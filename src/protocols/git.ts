// git credential helper protocol (docs/git.md, git-credential(1) "INPUT/OUTPUT FORMAT"): `key=value`
// lines until a blank line or EOF; keys ending in `[]` accumulate; `url=` expands into its parts;
// unknown keys are ignored. Output is protocol lines only.
import { OidcCredError } from '../errors.js';

/** Longest line we accept, in bytes (issue 3): git's own attributes are a few hundred bytes. */
export const MAX_LINE = 64 * 1024;

/**
 * git sent something no git would send (a NUL, a line over MAX_LINE, a newline smuggled into a
 * URL component). Exit 1 with one line on stderr (docs/configuration.md, "Exit codes and errors"), not a usage error: the command line
 * was fine, the input was not.
 */
export class GitProtocolError extends OidcCredError {
  override readonly code: string = 'GIT_PROTOCOL';
}

/**
 * A `host=` (or the host of a `url=`) that is not a plain host name[:port] or IP literal: `@`,
 * `\\`, whitespace, percent-encoding, non-ASCII look-alikes. Such a value could be re-parsed into
 * another host than the one git will talk to, so it gets nothing — like a request no profile
 * matches, but with a one-line note (docs/configuration.md).
 */
export class GitHostRejected extends GitProtocolError {
  override readonly code = 'GIT_HOST_REJECTED';
}

// RFC 1123 labels (letters, digits, hyphens; `_` too, as internal names use it), or an IP
// literal in brackets (RFC 3986 §3.2.2); an optional port.
const LABEL = '[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?';
const HOST_PORT = new RegExp(`^(?:${LABEL}(?:\\.${LABEL})*\\.?|\\[[0-9A-Fa-f:.]{2,45}\\])(?::(\\d{1,5}))?$`);

export function isValidGitHost(host: string): boolean {
  const m = host.length <= 260 ? HOST_PORT.exec(host) : null;
  return !!m && (m[1] === undefined || Number(m[1]) <= 65535);
}

function refuseHost(host: string): never {
  const shown = JSON.stringify(host.length > 80 ? `${host.slice(0, 77)}...` : host);
  throw new GitHostRejected(`ignoring git's request for host ${shown}: not a host name or IP address`);
}

export interface GitRequest {
  attrs: Map<string, string>;
  lists: Map<string, string[]>;
  /** protocol://host/path, or undefined when protocol or host is missing. */
  url: string | undefined;
  capabilities: Set<string>;
}

export function parseGitInput(text: string): GitRequest {
  const attrs = new Map<string, string>();
  const lists = new Map<string, string[]>();
  let start = 0;
  while (start <= text.length) {
    let end = text.indexOf('\n', start);
    if (end === -1) end = text.length;
    const raw = text.slice(start, end);
    start = end + 1;
    // git reads with strbuf_getline, which also drops a CR before the LF.
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line === '') break; // a blank line (or EOF) ends the request
    if (line.length > MAX_LINE || Buffer.byteLength(line, 'utf8') > MAX_LINE) {
      throw new GitProtocolError(`git sent a line longer than ${MAX_LINE} bytes; refusing the request`);
    }
    if (line.includes('\0')) throw new GitProtocolError('git sent a line with a NUL byte; refusing the request');
    const eq = line.indexOf('=');
    if (eq <= 0) continue; // git itself dies on such a line; we ignore it (docs/git.md: unknown is ignored)
    const key = line.slice(0, eq);
    const value = line.slice(eq + 1);
    if (key.endsWith('[]')) {
      const name = key.slice(0, -2);
      // An empty value resets the list (git-credential(1)).
      if (value === '') lists.set(name, []);
      else lists.set(name, [...(lists.get(name) ?? []), value]);
    } else if (key === 'url') {
      expandUrl(value, attrs);
    } else {
      attrs.set(key, value);
    }
  }
  const protocol = attrs.get('protocol');
  const host = attrs.get('host');
  // Before any matching: a host that is not plainly one host is nobody's (issue 10 item 12).
  if (host !== undefined && !isValidGitHost(host)) refuseHost(host);
  const path = attrs.get('path');
  const url = protocol && host ? `${protocol}://${host}/${path ?? ''}` : undefined;
  return { attrs, lists, url, capabilities: new Set(lists.get('capability') ?? []) };
}

const URL_PARTS = ['protocol', 'host', 'path', 'username', 'password'] as const;

/**
 * `url=https://user@host:port/path` sets protocol, host, path, username and password. Like git's
 * credential_from_url(), it first clears those parts (a `url=` replaces what came before), and
 * refuses a component that decodes to a newline or NUL (git's check_url_component): such a value
 * would otherwise turn into extra lines of our answer.
 */
function expandUrl(value: string, attrs: Map<string, string>): void {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    return; // git would die here; an unparsable URL is simply not ours
  }
  // The URL parser "fixes" an authority such as `h.example\\@evil.test` or fullwidth letters into
  // a clean host: check what was sent, not what it was parsed into.
  const authority = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/([^/?#]*)/.exec(value)?.[1];
  if (authority !== undefined) {
    const hostPort = authority.slice(authority.lastIndexOf('@') + 1);
    // Two `@`: git splits at the first, curl and the URL parser at the last — two different hosts.
    if (authority.includes('\\') || authority.indexOf('@') !== authority.lastIndexOf('@') || !isValidGitHost(hostPort)) refuseHost(hostPort); // never the user info: it may hold a password
  }
  for (const k of URL_PARTS) attrs.delete(k);
  const set = (key: (typeof URL_PARTS)[number], v: string): void => {
    if (/[\n\r\0]/.test(v)) throw new GitProtocolError(`git sent a url whose ${key} contains a newline or NUL; refusing the request`);
    if (v) attrs.set(key, v);
  };
  set('protocol', u.protocol.replace(/:$/, ''));
  set('host', u.host);
  set('path', percentDecode(u.pathname.replace(/^\//, '')));
  set('username', percentDecode(u.username));
  set('password', percentDecode(u.password));
}

/** decodeURIComponent that leaves a malformed escape as it is instead of throwing URIError. */
function percentDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s.replace(/%([0-9a-f]{2})/gi, (m, h: string) => {
      const c = Number.parseInt(h, 16);
      return c < 0x80 ? String.fromCharCode(c) : m;
    });
  }
}

export interface GitAnswerInput {
  request: GitRequest;
  username: string;
  token: string;
  expiresAt: number;
}

const UNSAFE_VALUE = /[\n\r\0]/;

export function formatGitAnswer(a: GitAnswerInput): string {
  const expiry = Math.floor(a.expiresAt / 1000);
  // Never a word about the token itself in the message (docs/configuration.md, "Exit codes and errors").
  if (UNSAFE_VALUE.test(a.token)) throw new GitProtocolError('the token contains a newline or NUL and cannot be handed to git');
  if (a.request.capabilities.has('authtype')) {
    // git ≥ 2.46: a pre-encoded credential for the Authorization header; we must announce the
    // capability ourselves, and only because git advertised it (git-credential(1)).
    return `capability[]=authtype\nauthtype=Bearer\ncredential=${a.token}\npassword_expiry_utc=${expiry}\n`;
  }
  // The request's own username wins (docs/git.md): git then sends the one the remote URL names.
  const username = a.request.attrs.get('username') || a.username;
  if (UNSAFE_VALUE.test(username)) throw new GitProtocolError('the git username contains a newline or NUL');
  return `username=${username}\npassword=${a.token}\npassword_expiry_utc=${expiry}\n`;
}

/** The secret git wants erased: the credential of an authtype exchange, or the password. */
export function erasedSecret(r: GitRequest): string | undefined {
  return r.attrs.get('credential') || r.attrs.get('password') || undefined;
}
