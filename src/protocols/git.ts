// git credential helper protocol (SPEC §6, git-credential(1) "INPUT/OUTPUT FORMAT"): `key=value`
// lines until a blank line or EOF; keys ending in `[]` accumulate; `url=` expands into its parts;
// unknown keys are ignored. Output is protocol lines only.
import { UsageError } from '../errors.js';

export const MAX_LINE = 64 * 1024;

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
  for (const raw of text.split('\n')) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line === '') break; // a blank line ends the request
    if (line.length > MAX_LINE) throw new UsageError(`git sent a line longer than ${MAX_LINE} bytes`);
    if (line.includes('\0')) throw new UsageError('git sent a line with a NUL byte');
    const eq = line.indexOf('=');
    if (eq <= 0) continue; // git itself dies on such a line; we ignore it
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

/** `url=https://user@host:port/path` sets protocol, host, path, username and password. */
function expandUrl(value: string, attrs: Map<string, string>): void {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    return;
  }
  attrs.set('protocol', u.protocol.replace(/:$/, ''));
  attrs.set('host', u.host);
  const path = decodeURIComponent(u.pathname.replace(/^\//, ''));
  if (path) attrs.set('path', path);
  else attrs.delete('path');
  if (u.username) attrs.set('username', decodeURIComponent(u.username));
  if (u.password) attrs.set('password', decodeURIComponent(u.password));
}

export interface GitAnswerInput {
  request: GitRequest;
  username: string;
  token: string;
  expiresAt: number;
}

export function formatGitAnswer(a: GitAnswerInput): string {
  const expiry = Math.floor(a.expiresAt / 1000);
  if (/[\n\0]/.test(a.token)) throw new UsageError('the token contains a newline or NUL and cannot be handed to git');
  if (a.request.capabilities.has('authtype')) {
    // git ≥ 2.46: a pre-encoded credential for the Authorization header.
    return `capability[]=authtype\nauthtype=Bearer\ncredential=${a.token}\npassword_expiry_utc=${expiry}\n`;
  }
  const username = a.request.attrs.get('username') || a.username;
  return `username=${username}\npassword=${a.token}\npassword_expiry_utc=${expiry}\n`;
}

/** The secret git wants erased: the password, or the credential of an authtype exchange. */
export function erasedSecret(r: GitRequest): string | undefined {
  return r.attrs.get('credential') || r.attrs.get('password') || undefined;
}
