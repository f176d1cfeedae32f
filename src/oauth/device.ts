// The Device Authorization grant (RFC 8628) for machines where no browser can be opened: an SSH
// session, a server, a container. The user code and the verification URI are shown on stderr
// (with a QR code of verification_uri_complete on a terminal wide enough); the token endpoint is
// polled at the advertised interval. Loaded only on the slow path, only when this grant is used.
import * as oauth from 'oauth4webapi';
import type { Settings } from '../config/resolve.js';
import type { Deps } from '../deps.js';
import { InterruptedError, LoginError, OidcCredError } from '../errors.js';
import { loginRequestOf, providerError, type LoginRequest, type Provider, type TokenResult } from './client.js';

/** RFC 8628 §3.2: "If no value is provided, clients MUST use 5 as the default." */
export const DEFAULT_INTERVAL_S = 5;
/** RFC 8628 §3.5: on slow_down "the interval MUST be increased by 5 seconds for this and all subsequent requests". */
export const SLOW_DOWN_STEP_S = 5;

/**
 * docs/configuration.md `--grant auto`: can a browser be opened on this machine? Not over SSH (the browser would
 * open on the remote machine, if at all), and not on Linux without a graphical session — unless
 * the user named a browser command, which is their statement that it works here.
 */
export function browserCanOpen(s: Pick<Settings, 'browserCommand'>, env: Readonly<Record<string, string | undefined>>, platform: NodeJS.Platform): boolean {
  if (s.browserCommand) return true;
  if (env.SSH_CONNECTION || env.SSH_TTY || env.SSH_CLIENT) return false;
  if (platform === 'darwin' || platform === 'win32') return true;
  return !!(env.DISPLAY || env.WAYLAND_DISPLAY);
}

/** `--grant auto` picks the device grant when no browser can be opened and the provider offers it. */
export function autoPicksDevice(p: Provider, s: Settings, env: Readonly<Record<string, string | undefined>>, platform: NodeJS.Platform): boolean {
  return !browserCanOpen(s, env, platform) && typeof p.as.device_authorization_endpoint === 'string';
}

/** The code's token request: the audience and resources of the API that started the login (RFC 8707 §2.2). */
function tokenParameters(req: LoginRequest): URLSearchParams | undefined {
  const q = new URLSearchParams();
  if (req.tokenAudience) q.set('audience', req.tokenAudience);
  for (const r of req.tokenResources) q.append('resource', r);
  return [...q.keys()].length ? q : undefined;
}

export async function deviceLogin(p: Provider, s: Settings, deps: Deps, req: LoginRequest = loginRequestOf(s), onUrl?: (url: string) => void): Promise<TokenResult> {
  if (!p.as.device_authorization_endpoint) {
    throw new LoginError(`the provider ${s.issuer} advertises no device authorization endpoint`, { hint: 'use --grant authcode' });
  }
  const started = deps.now();
  const params = new URLSearchParams({ scope: req.scopes.join(' ') });
  if (req.audience) params.set('audience', req.audience);
  // RFC 8707 §2.1 (for the device grant as for the authorization endpoint): every API of the session.
  for (const r of req.resources) params.append('resource', r);

  let da: oauth.DeviceAuthorizationResponse;
  try {
    const res = await oauth.deviceAuthorizationRequest(p.as, p.client, p.auth, params, p.req);
    da = await oauth.processDeviceAuthorizationResponse(p.as, p.client, res);
  } catch (err) {
    rethrowIfAborted(deps);
    throw providerError('could not start a device login', err, 'device-authorization');
  }
  // The device code is a bearer credential until the login completes; the user code is meant to be seen.
  deps.log.secret(da.device_code);

  // The page and code a waiting process can point at: the user code is meant to be seen.
  onUrl?.(`${da.verification_uri} (code ${da.user_code})`);
  await show(da, s, deps);

  let interval = typeof da.interval === 'number' && da.interval > 0 ? da.interval : DEFAULT_INTERVAL_S;
  const codeDeadline = started + da.expires_in * 1000;
  const timeoutDeadline = started + s.timeout * 1000;
  deps.log.debug(`device login: polling every ${interval} s, code valid for ${da.expires_in} s, --timeout ${s.timeout} s`);

  for (;;) {
    // RFC 8628 §3.4/§3.5: wait the interval before every poll, including the first.
    const wakeAt = deps.now() + interval * 1000;
    if (wakeAt > timeoutDeadline) {
      throw new LoginError(`the device login was not completed within ${s.timeout} seconds (--timeout)`, { hint: 'run the command again and enter the new code' });
    }
    if (wakeAt > codeDeadline) throw expired();
    await sleep(interval * 1000, deps.signal);
    try {
      const res = await oauth.deviceCodeGrantRequest(p.as, p.client, p.auth, da.device_code, {
        ...p.req,
        additionalParameters: tokenParameters(req),
      });
      const response = await oauth.processDeviceCodeResponse(p.as, p.client, res);
      deps.log.secret(response.access_token);
      deps.log.secret(response.id_token as string | undefined);
      deps.log.secret(response.refresh_token);
      const claims = oauth.getValidatedIdTokenClaims(response);
      return { response, idTokenExp: typeof claims?.exp === 'number' ? claims.exp : undefined };
    } catch (err) {
      rethrowIfAborted(deps);
      // Branch on the error code, never on the HTTP status: Auth0 answers 403 for
      // authorization_pending and 429 for slow_down, RFC 8628 says 400 for both.
      const code = err instanceof oauth.ResponseBodyError ? err.error : undefined;
      switch (code) {
        case 'authorization_pending':
          deps.log.debug('device login: authorization pending');
          continue;
        case 'slow_down':
          interval += SLOW_DOWN_STEP_S;
          deps.log.debug(`device login: the provider asked to slow down; polling every ${interval} s`);
          continue;
        case 'access_denied':
          throw new LoginError('the device login was denied at the provider', { hint: 'run the command again to retry' });
        case 'expired_token':
          throw expired();
        default:
          throw providerError('the device login failed', err, 'device-token');
      }
    }
  }
}

function expired(): LoginError {
  return new LoginError('the device code expired before the login was completed', { hint: 'run the command again and enter the new code' });
}

function rethrowIfAborted(deps: Deps): void {
  if (deps.signal.aborted) {
    const r: unknown = deps.signal.reason;
    throw r instanceof OidcCredError ? r : new InterruptedError();
  }
}

/**
 * What the user sees on stderr. Nothing here is secret: the user code is useless without the
 * device code, which is registered as a secret and never shown.
 */
async function show(da: oauth.DeviceAuthorizationResponse, s: Settings, deps: Deps): Promise<void> {
  const who = `${s.issuer}${s.profile ? ` (profile ${s.profile})` : ''}`;
  // The URL and the code each on a line of their own, indented: a terminal of 80 columns never
  // breaks them in the middle of a sentence, and a double-click selects exactly one of them.
  deps.log.info(`oidc-cred: to log in to ${who}, open`);
  deps.log.info(`  ${da.verification_uri}`);
  deps.log.info('oidc-cred: and enter the code');
  deps.log.info(`  ${da.user_code}`);
  const complete = da.verification_uri_complete;
  if (complete) {
    deps.log.info('oidc-cred: or open this link, which holds the code:');
    // forUser, not info: this URL must work when copied (a `?code=` in it is the user code).
    deps.log.forUser(`  ${complete}`);
    const qr = await qrCode(complete, deps);
    if (qr) deps.stderr.write(`${qr}\n`);
  }
  const minutes = Math.max(1, Math.round(da.expires_in / 60));
  // "Ctrl-C" means something only to someone at a terminal, not to a CI log.
  const cancel = deps.stderr.isTTY ? '; Ctrl-C to cancel' : '';
  deps.log.info(`oidc-cred: waiting for the login to be approved (the code expires in ${minutes} minute${minutes === 1 ? '' : 's'}${cancel})…`);
}

/** ISO/IEC 18004 asks for a quiet zone of four modules around the symbol. */
const QUIET_ZONE = 4;
/** Black on bright white, whatever the terminal's own colours: a dark theme must not invert the code. */
const QR_ON = '\u001b[30;107m';
const QR_OFF = '\u001b[0m';

/**
 * A QR code of the URL, only on a terminal wide enough to show it whole; undefined otherwise.
 * Two modules per character cell (upper and lower half blocks), drawn in the foreground colour
 * (black) on a white background with the quiet zone, so that it scans on light and dark themes
 * alike. The escapes are ours; the URL only decides which modules are dark.
 */
export async function qrCode(url: string, deps: Pick<Deps, 'stderr' | 'env' | 'log'>): Promise<string | undefined> {
  if (!deps.stderr.isTTY || deps.env.TERM === 'dumb') return undefined;
  try {
    // Lazily: uqr is only needed for this one picture.
    const { encode } = await import('uqr');
    const { data, size } = encode(url, { border: QUIET_ZONE });
    const dark = (x: number, y: number): boolean => y < size && data[y]![x] === true;
    const lines: string[] = [];
    for (let y = 0; y < size; y += 2) {
      let line = '';
      for (let x = 0; x < size; x++) {
        const top = dark(x, y);
        const bottom = dark(x, y + 1);
        line += top && bottom ? '\u2588' : top ? '\u2580' : bottom ? '\u2584' : ' ';
      }
      lines.push(`${QR_ON}${line}${QR_OFF}`);
    }
    const columns = deps.stderr.columns ?? 80;
    return size <= columns ? lines.join('\n') : undefined;
  } catch (err) {
    deps.log.debug(`no QR code: ${(err as Error).message}`);
    return undefined;
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = (): void => {
      clearTimeout(t);
      reject(signal.reason);
    };
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
