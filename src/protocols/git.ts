// git credential helper protocol (SPEC §6, git-credential(1) "INPUT/OUTPUT FORMAT"): `key=value`
// lines until a blank line or EOF; keys ending in `[]` accumulate; `url=` expands into its parts;
// unknown keys are ignored. Output is protocol lines only.
import { OidcCredError } from '../errors.js';

/** Longest line we accept, in bytes (issue 3): git's own attributes are a few hundred bytes. */
export const MAX_LINE = 64 * 1024;

/**
 * git sent something no git would send (a NUL, a line over MAX_LINE, a newline smuggled into a
 * URL component). Exit 1 with one line on stderr (SPEC §10), not a usage error: the command line
 * was fine, the input was not.
 */
export class GitProtocolError extends OidcCredError {
  override readonly code = 'GIT_PROTOCOL';
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
    if (eq <= 0) continue; // git itself dies on such a line; we ignore it (SPEC §6: unknown is ignored)
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
  // Never a word about the token itself in the message (SPEC §10).
  if (UNSAFE_VALUE.test(a.token)) throw new GitProtocolError('the token contains a newline or NUL and cannot be handed to git');
  if (a.request.capabilities.has('authtype')) {
    // git ≥ 2.46: a pre-encoded credential for the Authorization header; we must announce the
    // capability ourselves, and only because git advertised it (git-credential(1)).
    return `capability[]=authtype\nauthtype=Bearer\ncredential=${a.token}\npassword_expiry_utc=${expiry}\n`;
  }
  // The request's own username wins (SPEC §6): git then sends the one the remote URL names.
  const username = a.request.attrs.get('username') || a.username;
  if (UNSAFE_VALUE.test(username)) throw new GitProtocolError('the git username contains a newline or NUL');
  return `username=${username}\npassword=${a.token}\npassword_expiry_utc=${expiry}\n`;
}

/** The secret git wants erased: the credential of an authtype exchange, or the password. */
export function erasedSecret(r: GitRequest): string | undefined {
  return r.attrs.get('credential') || r.attrs.get('password') || undefined;
}
