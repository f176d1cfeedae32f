// oidc-cred doctor [--profile P] [--json]: checks, in order, everything a working setup needs and
// prints one line per check — ok, or the problem and its fix (README "When something is wrong").
// It never starts a login and never sends a token or the client secret anywhere: the provider
// sees a discovery request and one authorization request without credentials, as a browser would.
// Exit 1 when something would make a token request fail; missing wiring and "no session yet"
// are reported but exit 0, since a login happens on demand.
import { execFile } from 'node:child_process';
import { randomBytes, createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import type { RawOptions } from '../config/options.js';
import { loadConfigFile, resolveSettings, type Settings } from '../config/resolve.js';
import { entryTools, matchScore } from '../config/match.js';
import { readSession } from '../cache/store.js';
import type { Deps } from '../deps.js';
import { describeError, OidcCredError } from '../errors.js';
import { createFetch, type FetchLike } from '../infra/http.js';
import { apiOf, grantKind, hasSecret, sessionPaths, decodeJwt } from '../session/read.js';
import { environment } from '../session/index.js';
import { dockerConfigPath, registryKey } from './setup/docker.js';
import { gitUrl, shellWord } from './setup/git.js';

export type CheckStatus = 'ok' | 'problem' | 'note';

export interface Check {
  check: string;
  status: CheckStatus;
  message: string;
  /** What to do about it; only on problems and notes. */
  fix?: string;
}

const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
/** More than this between our clock and the provider's fails ID-token `iat`/`exp` checks. */
export const MAX_SKEW_S = 60;
/** The port put into the redirect URI of the test authorization request when none is configured. */
const PROBE_PORT = 49152;

export async function doctor(_p: string[], flags: RawOptions, deps: Deps): Promise<number> {
  const checks: Check[] = [];
  const add = (c: Check): void => {
    checks.push(c);
    if (flags.json !== true) deps.stdout.write(`${formatCheck(c)}\n`);
  };
  const settings = checkConfig(flags, deps, add);
  if (settings) {
    await checkProvider(settings, deps, add);
    checkSession(settings, deps, add);
    await checkWiring(settings, deps, add);
  }
  const ok = !checks.some((c) => c.status === 'problem');
  if (flags.json === true) {
    deps.stdout.write(`${JSON.stringify({ ok, profile: settings?.profile ?? null, config_file: settings?.configFile ?? null, checks }, null, 2)}\n`);
  } else if (!ok) {
    const n = checks.filter((c) => c.status === 'problem').length;
    deps.stdout.write(n === 1 ? '1 problem found: a token request would fail until it is fixed\n' : `${n} problems found: a token request would fail until they are fixed\n`);
  }
  return ok ? 0 : 1;
}

export function formatCheck(c: Check): string {
  return `${c.status.padEnd(8)}${c.check}: ${c.message}${c.fix ? ` (${c.fix})` : ''}`;
}

/** Text from outside (a provider's page, a config value) with control and bidi characters escaped. */
export function clean(s: string, max = 200): string {
  // eslint-disable-next-line no-control-regex
  const t = s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return t.length > max ? `${t.slice(0, max - 3)}...` : t;
}

function why(err: unknown): string {
  return describeError(err).replace(/^oidc-cred: /, '');
}

// ---------------------------------------------------------------------------------------------
// The config file and the profile.

function checkConfig(flags: RawOptions, deps: Deps, add: (c: Check) => void): Settings | undefined {
  let config: ReturnType<typeof loadConfigFile>;
  try {
    config = loadConfigFile({ flags, env: deps.env, home: deps.home, cwd: deps.cwd });
  } catch (err) {
    add({ check: 'config', status: 'problem', message: why(err) });
    return undefined;
  }
  const names = [...config.profiles.keys()];
  if (!config.exists) {
    add({ check: 'config', status: 'note', message: `no config file at ${config.path}; flags and environment make the profile`, fix: 'see examples/git/config.json for one' });
  } else {
    add({
      check: 'config',
      status: 'ok',
      message: `${config.path}: ${names.length} profile${names.length === 1 ? '' : 's'} (${names.join(', ') || 'none'})${config.defaultProfile ? `, default-profile "${config.defaultProfile}"` : ''}`,
    });
    const perm = permissionProblem(config.path, 'write');
    if (perm) add({ check: 'config', status: 'problem', message: perm.message, fix: perm.fix });
  }

  let s: Settings;
  try {
    s = resolveSettings({ flags, env: deps.env, home: deps.home, cwd: deps.cwd, purpose: 'other' });
  } catch (err) {
    const explicit = typeof flags.profile === 'string' || !!deps.env.OIDC_CRED_PROFILE;
    if (!explicit && names.length > 1 && !config.defaultProfile && err instanceof OidcCredError && /no (issuer|client ID) configured|and no "default-profile"/.test(err.message)) {
      add({
        check: 'profile',
        status: 'problem',
        message: `${config.path} has ${names.length} profiles (${names.join(', ')}) and no default-profile, so a command without --profile has no provider`,
        fix: `pass --profile NAME, or add "default-profile": "${names[0]}"`,
      });
    } else {
      add({ check: 'profile', status: 'problem', message: why(err) });
    }
    return undefined;
  }
  add({
    check: 'profile',
    status: 'ok',
    message: `${s.profile ? `"${s.profile}"` : 'the command line and environment'}: issuer ${s.issuer}, client ${s.clientId}, grant ${s.grant}`,
  });
  if (s.clientSecretFile) {
    const perm = permissionProblem(s.clientSecretFile, 'read');
    if (perm) add({ check: 'client secret', status: 'problem', message: perm.message, fix: perm.fix });
    else {
      try {
        if (!readFileSync(s.clientSecretFile, 'utf8').trim()) add({ check: 'client secret', status: 'problem', message: `${s.clientSecretFile} is empty` });
        else add({ check: 'client secret', status: 'ok', message: `read from ${s.clientSecretFile}` });
      } catch (err) {
        add({ check: 'client secret', status: 'problem', message: `cannot read ${s.clientSecretFile}: ${why(err)}` });
      }
    }
  }
  return s;
}

/** A file other users could change (config) or read (secret), or that is not ours (README "Configuration"). */
function permissionProblem(file: string, what: 'write' | 'read'): { message: string; fix: string } | undefined {
  if (process.platform === 'win32') return undefined;
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(file);
  } catch {
    return undefined;
  }
  if (typeof process.getuid === 'function' && st.uid !== process.getuid()) {
    return { message: `${file} belongs to another user (uid ${st.uid})`, fix: `use a file of your own, or: chown "$(id -u)" ${shellWord(file)}` };
  }
  const mode = st.mode & 0o777;
  if (what === 'write' && (mode & 0o022) !== 0) return { message: `${file} can be changed by other users (mode ${mode.toString(8)})`, fix: `run: chmod go-w ${shellWord(file)}` };
  if (what === 'read' && (mode & 0o077) !== 0) return { message: `${file} can be read by other users (mode ${mode.toString(8)})`, fix: `run: chmod 600 ${shellWord(file)}` };
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// The provider: discovery, TLS, clock, grants, and the authorization request.

interface Metadata {
  issuer?: unknown;
  authorization_endpoint?: unknown;
  device_authorization_endpoint?: unknown;
  grant_types_supported?: unknown;
}

/** The two discovery URLs oauth4webapi tries, in order (OIDC Discovery §4, RFC 8414 §3). */
export function discoveryUrls(issuer: URL): string[] {
  const oidc = new URL(issuer.href);
  oidc.pathname = `${oidc.pathname}/.well-known/openid-configuration`.replace('//', '/');
  const oauth = new URL(issuer.href);
  oauth.pathname = oauth.pathname === '/' ? '.well-known/oauth-authorization-server' : `.well-known/oauth-authorization-server/${oauth.pathname}`.replace('//', '/');
  return [oidc.href, oauth.href];
}

const TLS_UNTRUSTED = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_UNTRUSTED',
]);

/** The network failure a user can act on, from what createFetch threw. */
function networkProblem(err: unknown, url: URL, s: Settings): { message: string; fix?: string } {
  // createFetch wraps the socket's error as the cause of a ProviderError; the code is down there.
  let e: unknown = err instanceof OidcCredError && err.cause instanceof Error ? err.cause : err;
  while (e instanceof Error && !(e as { code?: unknown }).code && e.cause instanceof Error) e = e.cause;
  const code = (e as { code?: unknown } | undefined)?.code;
  const text = e instanceof Error ? e.message : String(e);
  if (typeof code === 'string' && TLS_UNTRUSTED.has(code)) {
    return {
      message: `${url.host} answered, but its TLS certificate is not signed by a CA this machine trusts (${code})`,
      fix: s.caFile ? `${s.caFile} does not hold the CA that signed it: pass the right bundle with --ca-file` : 'pass your organisation\'s CA certificate (PEM) with --ca-file, or add "ca-file" to the profile',
    };
  }
  if (code === 'CERT_HAS_EXPIRED') return { message: `${url.host}'s TLS certificate has expired`, fix: "the provider's operator must renew it" };
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') return { message: `${url.host}'s TLS certificate is for another host name`, fix: 'use the host name the certificate names in the issuer URL' };
  if (/wrong version number|packet length too long|ERR_SSL_/i.test(text) || code === 'ERR_SSL_WRONG_VERSION_NUMBER') {
    return { message: `${url.host} does not speak TLS on port ${url.port || 443}`, fix: 'check the port, or whether the issuer is http:// (allowed on loopback only)' };
  }
  if (code === 'ECONNREFUSED') return { message: `nothing listens on ${url.host}`, fix: 'check the host and port of the issuer' };
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return { message: `the host name ${url.hostname} does not resolve`, fix: 'check the issuer URL, or your DNS and VPN' };
  return { message: `no answer from ${url.origin}: ${clean(text)}`, fix: 'check the issuer URL, HTTPS_PROXY and NO_PROXY' };
}

async function checkProvider(s: Settings, deps: Deps, add: (c: Check) => void): Promise<void> {
  let issuer: URL;
  try {
    issuer = new URL(s.issuer);
  } catch {
    add({ check: 'discovery', status: 'problem', message: `issuer "${clean(s.issuer)}" is not a URL`, fix: 'write it as https://host/path' });
    return;
  }
  const loopback = ['127.0.0.1', 'localhost', '[::1]'].includes(issuer.hostname) || /^127\.\d+\.\d+\.\d+$/.test(issuer.hostname);
  if (issuer.protocol !== 'https:' && !(issuer.protocol === 'http:' && loopback)) {
    add({ check: 'discovery', status: 'problem', message: `issuer ${issuer.href} must use https:// (plain http is allowed only on a loopback address)`, fix: 'use the https:// URL' });
    return;
  }
  let fetch: FetchLike;
  try {
    fetch = await createFetch({ caFile: s.caFile, env: deps.env, log: deps.log, signal: deps.signal });
  } catch (err) {
    add({ check: 'tls', status: 'problem', message: why(err), fix: 'point --ca-file at a readable PEM file' });
    return;
  }

  // Discovery, at the exact URLs tried.
  let meta: Metadata | undefined;
  let dateHeader: string | null = null;
  const tried: string[] = [];
  for (const url of discoveryUrls(issuer)) {
    tried.push(url);
    let res: Response;
    try {
      res = await fetch(url, { headers: { accept: 'application/json' } });
    } catch (err) {
      if (deps.signal.aborted) throw err;
      const n = networkProblem(err, new URL(url), s);
      add({ check: issuer.protocol === 'https:' && /TLS|certificate/.test(n.message) ? 'tls' : 'discovery', status: 'problem', message: `GET ${url}: ${n.message}`, ...(n.fix ? { fix: n.fix } : {}) });
      return;
    }
    // Any answer at all means the TLS handshake succeeded.
    if (issuer.protocol === 'https:' && tried.length === 1) add({ check: 'tls', status: 'ok', message: `${issuer.host}'s certificate is trusted${s.caFile ? ` (with ${s.caFile})` : ''}` });
    dateHeader = res.headers.get('date');
    if (res.status === 404) continue;
    if (res.status !== 200) {
      add({ check: 'discovery', status: 'problem', message: `GET ${url} answered HTTP ${res.status}`, fix: 'check the issuer URL' });
      return;
    }
    try {
      meta = (await res.json()) as Metadata;
    } catch {
      add({ check: 'discovery', status: 'problem', message: `GET ${url} answered ${clean(res.headers.get('content-type') ?? 'no content type')}, not JSON`, fix: 'check the issuer URL: it should be the provider\'s, not a web page\'s' });
      return;
    }
    break;
  }
  if (!meta || typeof meta !== 'object') {
    add({ check: 'discovery', status: 'problem', message: `no provider metadata at ${tried.join(' nor ')} (HTTP 404)`, fix: 'check the issuer URL: for Keycloak it is https://HOST/realms/REALM' });
    return;
  }
  const reported = typeof meta.issuer === 'string' ? meta.issuer : undefined;
  if (reported !== s.issuer) {
    add({
      check: 'discovery',
      status: 'problem',
      message: `${tried[tried.length - 1]} describes the issuer ${reported === undefined ? '(none)' : `"${clean(reported)}"`}, not "${clean(s.issuer)}"; tokens would be refused`,
      fix: reported ? `set issuer to exactly ${clean(reported)}` : 'check the issuer URL',
    });
    return;
  }
  add({ check: 'discovery', status: 'ok', message: tried[tried.length - 1]! });

  // Clock skew, from the Date header of the discovery answer (RFC 9110 §6.6.1).
  const date = dateHeader ? Date.parse(dateHeader) : NaN;
  if (Number.isFinite(date)) {
    const skew = Math.round((deps.now() - date) / 1000);
    if (Math.abs(skew) > MAX_SKEW_S) {
      add({
        check: 'clock',
        status: 'problem',
        message: `this machine's clock is ${Math.abs(skew)} s ${skew > 0 ? 'ahead of' : 'behind'} the provider's; ID tokens would look ${skew > 0 ? 'expired' : 'not yet valid'}`,
        fix: 'set the clock right, e.g. timedatectl set-ntp true',
      });
    } else add({ check: 'clock', status: 'ok', message: `within ${Math.max(1, Math.abs(skew))} s of the provider's` });
  } else add({ check: 'clock', status: 'note', message: 'the provider sent no Date header; the clock was not compared' });

  // Grants advertised against the grant configured. RFC 8414 §2: absent means authorization_code and implicit.
  const advertised = Array.isArray(meta.grant_types_supported) ? meta.grant_types_supported.filter((g): g is string => typeof g === 'string') : ['authorization_code', 'implicit'];
  const device = typeof meta.device_authorization_endpoint === 'string';
  const kind = grantKind(s, environment(deps));
  const list = advertised.map((g) => (g === DEVICE_GRANT ? 'device_code' : g)).join(', ');
  const need: string | undefined =
    s.grant === 'client-credentials' || kind === 'client-credentials' ? 'client_credentials' : s.grant === 'device' ? DEVICE_GRANT : s.grant === 'authcode' ? 'authorization_code' : undefined;
  if (need === 'client_credentials' && !hasSecret(s)) {
    add({ check: 'grant', status: 'problem', message: 'client-credentials needs a client secret, and none is configured', fix: 'add "client-secret-file" to the profile, or set OIDC_CRED_CLIENT_SECRET' });
  } else if (need && !advertised.includes(need)) {
    add({ check: 'grant', status: 'problem', message: `${s.grant} is configured, but the provider advertises only ${list}`, fix: 'enable the grant for the client at the provider, or change --grant' });
  } else if (need === DEVICE_GRANT && !device) {
    add({ check: 'grant', status: 'problem', message: 'device is configured, but the provider advertises no device_authorization_endpoint', fix: 'use --grant authcode' });
  } else if (!need && !advertised.includes('authorization_code') && !(device && advertised.includes(DEVICE_GRANT))) {
    add({ check: 'grant', status: 'problem', message: `the provider advertises neither authorization_code nor device_code (only ${list})`, fix: 'enable one of them for the client at the provider' });
  } else {
    const refresh = kind === 'user' && !advertised.includes('refresh_token') ? '; no refresh_token grant: every expiry means a new login' : '';
    add({ check: 'grant', status: 'ok', message: `${s.grant}${s.grant === 'auto' ? ` (here: ${kind === 'user' ? 'a person\'s login' : 'client-credentials'})` : ''}; the provider advertises ${list}${refresh}` });
  }

  if (kind === 'user' && s.grant !== 'device' && typeof meta.authorization_endpoint === 'string') {
    await checkAuthorization(s, meta.authorization_endpoint, fetch, add);
  }
}

/** The redirect URI a login would send, with the first configured port (or any: RFC 8252 §7.3). */
export function probeRedirectUri(s: Pick<Settings, 'redirectUri' | 'ports'>): string {
  const raw = s.redirectUri ?? 'http://127.0.0.1/callback';
  const u = new URL(raw);
  u.port = String(s.ports[0] ?? PROBE_PORT);
  // As the login does (oauth/loopback.ts): `http://localhost` stays without the "/" URL adds.
  return /^[a-z]+:\/\/[^/?#]+[/?#]/i.test(raw) ? u.href : u.href.replace(/\/$/, '');
}

/**
 * The authorization request a login would make (same client, redirect URI, scope, audience and
 * extra parameters; a fresh state, nonce and PKCE challenge), without following redirects. A login
 * page or a redirect to one is fine; an error status is what a browser would show instead of a
 * login page: an unknown client or an unregistered redirect URI.
 */
async function checkAuthorization(s: Settings, endpoint: string, fetch: FetchLike, add: (c: Check) => void): Promise<void> {
  let redirectUri: string;
  try {
    redirectUri = probeRedirectUri(s);
  } catch {
    add({ check: 'authorization', status: 'problem', message: `redirect URI "${clean(s.redirectUri ?? '')}" is not a URL`, fix: 'write it as http://127.0.0.1/callback or http://localhost/callback' });
    return;
  }
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    add({ check: 'authorization', status: 'problem', message: `the provider's authorization_endpoint "${clean(endpoint)}" is not a URL` });
    return;
  }
  const rand = (): string => randomBytes(32).toString('base64url');
  const q = url.searchParams;
  q.set('response_type', 'code');
  q.set('client_id', s.clientId);
  q.set('redirect_uri', redirectUri);
  q.set('scope', s.scopes.join(' '));
  q.set('state', rand());
  if (s.scopes.includes('openid')) q.set('nonce', rand());
  q.set('code_challenge', createHash('sha256').update(rand()).digest('base64url'));
  q.set('code_challenge_method', 'S256');
  if (s.audience) q.set('audience', s.audience);
  for (const [k, v] of Object.entries(s.params)) if (!q.has(k)) q.set(k, v);
  const what = `client ${s.clientId} with redirect URI ${redirectUri}`;
  let res: Response;
  try {
    res = await fetch(url.href, { headers: { accept: 'text/html' } });
  } catch (err) {
    const n = networkProblem(err, url, s);
    add({ check: 'authorization', status: 'problem', message: `GET ${url.origin}${url.pathname}: ${n.message}`, ...(n.fix ? { fix: n.fix } : {}) });
    return;
  }
  const body = await res.text().catch(() => '');
  if (res.status >= 300 && res.status < 400) {
    const location = res.headers.get('location') ?? '';
    let back: URL | undefined;
    try {
      back = new URL(location, url);
    } catch {
      back = undefined;
    }
    const err = back?.searchParams.get('error');
    if (back && err && `${back.origin}${back.pathname}` === `${new URL(redirectUri).origin}${new URL(redirectUri).pathname}`) {
      const desc = back.searchParams.get('error_description');
      add({ check: 'authorization', status: 'problem', message: `the provider refused the authorization request for ${what}: ${clean(err, 60)}${desc ? ` (${clean(desc)})` : ''}`, fix: fixFor(err, s, redirectUri) });
      return;
    }
    // The login page's path without its one-time part (oidc-provider: /interaction/<uid>).
    const page = back ? `${back.origin}${back.pathname.replace(/\/[A-Za-z0-9_-]{16,}$/, '/…')}` : 'its login page';
    add({ check: 'authorization', status: 'ok', message: `the provider accepts ${what} (it redirects to ${clean(page, 100)})` });
    return;
  }
  if (res.status === 200) {
    add({ check: 'authorization', status: 'ok', message: `the provider accepts ${what} (it answers with its login page)` });
    return;
  }
  const reason = errorText(body, res.headers.get('content-type') ?? '');
  add({
    check: 'authorization',
    status: 'problem',
    message: `the provider answered HTTP ${res.status} instead of a login page for ${what}${reason ? `: ${reason}` : ''}`,
    fix: fixFor(reason, s, redirectUri),
  });
}

function fixFor(reason: string, s: Settings, redirectUri: string): string {
  if (/redirect/i.test(reason)) return `register ${redirectUri.replace(/:\d+(?=\/|$)/, '')} (any port) as a redirect URI of client ${s.clientId} at the provider, or set --redirect-uri to one it has`;
  if (/client/i.test(reason)) return `check client-id: the provider does not know ${s.clientId}`;
  if (/scope/i.test(reason)) return 'check scope: the provider refuses one of the scopes requested';
  return `check that client ${s.clientId} exists and that ${redirectUri.replace(/:\d+(?=\/|$)/, '')} is one of its redirect URIs`;
}

/** The error a provider put in its error page or JSON, in a few words. */
export function errorText(body: string, contentType: string): string {
  if (/json/i.test(contentType)) {
    try {
      const j = JSON.parse(body) as { error?: unknown; error_description?: unknown };
      if (typeof j.error === 'string') return clean(`${j.error}${typeof j.error_description === 'string' ? ` (${j.error_description})` : ''}`);
    } catch {
      /* fall through to the text */
    }
  }
  const text = body
    .replace(/<(script|style)[\s\S]*?<\/\1>/gi, ' ')
    .replace(/<[^>]*>/g, ' ')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, '&')
    .replace(/\s+/g, ' ')
    .trim();
  const code = /\b(invalid_[a-z_]+|unauthorized_client|unsupported_response_type|access_denied|redirect_uri_mismatch)\b/.exec(text);
  if (code) {
    // The code and its description (oidc-provider: "invalid_client error_description : client is
    // invalid state : … iss : …"), without the echoed request parameters.
    const rest = text.slice(code.index + code[0].length).split(/\s(?:state|iss|error_uri)\s*:/)[0]!;
    const desc = rest.replace(/^\s*error_description\s*:\s*/, '').trim();
    return clean(`${code[0]}${desc ? `: ${desc}` : ''}`, 160);
  }
  return clean(text, 120);
}

// ---------------------------------------------------------------------------------------------
// The cached session.

function checkSession(s: Settings, deps: Deps, add: (c: Check) => void): void {
  try {
    const st = statSync(s.cacheDir);
    if (typeof process.getuid === 'function' && st.uid !== process.getuid()) {
      add({ check: 'cache', status: 'problem', message: `${s.cacheDir} belongs to another user (uid ${st.uid})`, fix: 'use a cache directory of your own (--cache-dir)' });
      return;
    }
    if ((st.mode & 0o077) !== 0) {
      add({ check: 'cache', status: 'note', message: `${s.cacheDir} is open to other users (mode ${(st.mode & 0o777).toString(8)}); the next save closes it`, fix: `or run: chmod 700 ${shellWord(s.cacheDir)}` });
    }
  } catch {
    // Not there yet: created 0700 on the first save.
  }
  const { paths, grant } = sessionPaths(s, environment(deps));
  let r: ReturnType<typeof readSession>;
  try {
    r = readSession(paths.file);
  } catch (err) {
    add({ check: 'session', status: 'problem', message: why(err) });
    return;
  }
  if (!('session' in r)) {
    const login = grant === 'client-credentials' ? 'one is requested on demand' : "a login happens on demand, or run 'oidc-cred login'";
    add({ check: 'session', status: 'note', message: `${r.miss === 'no cached session' ? 'no session yet' : r.miss} (${paths.file})`, fix: login });
    return;
  }
  const se = r.session;
  const claims = decodeJwt(se.id_token);
  const user = typeof claims?.email === 'string' ? claims.email : typeof claims?.sub === 'string' ? claims.sub : undefined;
  const mine = se.apis[apiOf(s).key]?.expires_at;
  const exp = mine ? Date.parse(mine) : NaN;
  const now = deps.now();
  const valid = Number.isFinite(exp) && exp > now;
  const until = Number.isFinite(exp) ? new Date(exp).toISOString().replace(/\.\d+Z$/, 'Z') : 'unknown';
  const who = user ? `${clean(user, 80)}, ` : grant === 'client-credentials' ? 'a machine login, ' : '';
  const inKeyring = se.refresh_token_in === 'keyring';
  const held = !!se.refresh_token || inKeyring;
  const refresh = inKeyring ? `refresh token held in the OS credential store (service oidc-cred, account ${se.key})` : se.refresh_token ? 'refresh token held' : 'no refresh token';
  const where = inKeyring ? `the other tokens stored in file ${paths.file}` : `stored in file ${paths.file}`;
  if (valid) add({ check: 'session', status: 'ok', message: `${who}access token valid until ${until} (in ${Math.round((exp - now) / 60_000)} min), ${refresh}, ${where}` });
  else
    add({
      check: 'session',
      status: held ? 'ok' : 'note',
      message: `${who}access token expired at ${until}, ${refresh}, ${where}`,
      ...(held ? {} : { fix: "the next call logs in again, or run 'oidc-cred login'" }),
    });
}

// ---------------------------------------------------------------------------------------------
// The wiring of git, kubectl and docker for the profile's match entries.

function run(cmd: string, args: string[], deps: Deps): Promise<{ code: number | null; stdout: string; missing: boolean }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { env: { ...deps.env } as NodeJS.ProcessEnv, cwd: deps.cwd, timeout: 15_000, maxBuffer: 4 * 1024 * 1024 }, (err, stdout) => {
      const e = err as (NodeJS.ErrnoException & { code?: unknown }) | null;
      resolve({ code: e ? (typeof e.code === 'number' ? e.code : 1) : 0, stdout: String(stdout), missing: e?.code === 'ENOENT' });
    });
  });
}

const isOurs = (helper: string): boolean => /(^|[\s/])(git-credential-)?oidc-cred(\.c?js)?(\s|$)/.test(helper.trim());

async function checkWiring(s: Settings, deps: Deps, add: (c: Check) => void): Promise<void> {
  const p = s.profile ? ` --profile ${shellWord(s.profile)}` : '';
  if (!s.match.length) {
    add({ check: 'wiring', status: 'note', message: `${s.profile ? `profile "${s.profile}"` : 'this profile'} has no match entries, so git and docker requests never reach it`, fix: 'add "match": ["https://git.example.com/", …] to the profile' });
  }

  // git: gitcredentials(7) — credential.<url>.helper for each entry, or a global credential.helper.
  const gitEntries = s.match.filter((m) => entryTools(m).includes('git')).map((m) => gitUrl(m.url)).filter((g): g is NonNullable<typeof g> => !!g);
  if (gitEntries.length) {
    const wired: string[] = [];
    const missing: string[] = [];
    let noGit = false;
    for (const g of gitEntries) {
      const r = await run('git', ['config', '--get-all', `credential.${g.url}.helper`], deps);
      if (r.missing) {
        noGit = true;
        break;
      }
      const helpers = r.stdout.split('\n').filter((l) => l.trim() !== '');
      (helpers.some(isOurs) ? wired : missing).push(g.url);
    }
    if (noGit) add({ check: 'git', status: 'note', message: 'git is not installed here' });
    else if (!missing.length) add({ check: 'git', status: 'ok', message: `credential.<url>.helper runs oidc-cred for ${wired.join(', ')}` });
    else
      add({
        check: 'git',
        status: 'note',
        message: `no oidc-cred credential helper for ${missing.join(', ')}${wired.length ? ` (wired: ${wired.join(', ')})` : ''}`,
        fix: `if git should use it: oidc-cred setup git${p} --write`,
      });
  }

  // kubectl: kubeconfig users whose exec command is oidc-cred (docs/kubernetes.md).
  const kc = await run('kubectl', ['config', 'view', '-o', 'json'], deps);
  if (kc.missing) add({ check: 'kubectl', status: 'note', message: 'kubectl is not installed here' });
  else {
    let users: string[] = [];
    try {
      users = kubeUsers(JSON.parse(kc.stdout) as KubeConfigView, s);
    } catch {
      users = [];
    }
    if (users.length) add({ check: 'kubectl', status: 'ok', message: `kubeconfig user${users.length === 1 ? '' : 's'} ${users.join(', ')} run${users.length === 1 ? 's' : ''} oidc-cred kube` });
    else add({ check: 'kubectl', status: 'note', message: `no kubeconfig user runs oidc-cred kube for ${s.profile ? `profile "${s.profile}"` : 'this profile'}`, fix: `if kubectl should use it: oidc-cred setup kube${p} --cluster NAME --write` });
  }

  // docker: credHelpers in $DOCKER_CONFIG/config.json (docs/docker.md).
  const file = dockerConfigPath(deps.env, deps.home, deps.cwd);
  let helpers: Record<string, unknown> = {};
  try {
    const j = JSON.parse(readFileSync(file, 'utf8')) as { credHelpers?: unknown };
    if (j.credHelpers && typeof j.credHelpers === 'object') helpers = j.credHelpers as Record<string, unknown>;
  } catch {
    helpers = {};
  }
  const registries = [...new Set(s.match.filter((m) => entryTools(m).includes('docker')).map((m) => registryKey(m)).filter((k): k is string => !!k))];
  const ours = Object.entries(helpers)
    .filter(([host, h]) => h === 'oidc-cred' && s.match.some((m) => matchScore(m, host) >= 0))
    .map(([host]) => host);
  if (ours.length) add({ check: 'docker', status: 'ok', message: `credHelpers in ${file} send ${ours.join(', ')} to oidc-cred` });
  else if (registries.length)
    add({ check: 'docker', status: 'note', message: `no credHelpers entry in ${file} sends ${registries.join(', ')} to oidc-cred`, fix: `if docker should use it: oidc-cred setup docker${p} --write` });
}

interface KubeConfigView {
  users?: Array<{ name?: string; user?: { exec?: { command?: string; args?: string[] } } }>;
  contexts?: Array<{ name?: string; context?: { cluster?: string; user?: string } }>;
  clusters?: Array<{ name?: string; cluster?: { server?: string } }>;
}

/** The kubeconfig users that run oidc-cred for this profile: by --profile in args, or by a cluster its match covers. */
export function kubeUsers(view: KubeConfigView, s: Pick<Settings, 'profile' | 'match'>): string[] {
  const servers = new Map((view.clusters ?? []).map((c) => [c.name, c.cluster?.server ?? '']));
  const out: string[] = [];
  for (const u of view.users ?? []) {
    const exec = u.user?.exec;
    if (!exec?.command || !/^(oidc-cred|kubectl-oidc_cred)(\.c?js)?$/.test(basename(exec.command))) continue;
    const args = exec.args ?? [];
    const i = args.indexOf('--profile');
    const named = i >= 0 ? args[i + 1] : args.find((a) => a.startsWith('--profile='))?.slice('--profile='.length);
    let mine = named !== undefined && named === s.profile;
    if (named === undefined) {
      // No --profile: the cluster's server picks the profile (provideClusterInfo).
      mine = (view.contexts ?? []).some((c) => c.context?.user === u.name && s.match.some((m) => matchScore(m, servers.get(c.context?.cluster) ?? '') >= 0));
    }
    if (mine && u.name) out.push(u.name);
  }
  return out;
}
