// A real OpenID provider (oidc-provider 9) on 127.0.0.1 for the integration tests and the demo.
//
// Facts about oidc-provider this file relies on are commented where they are used; the choices that are ours are
// commented where they are made. Nothing here writes to stdout: stdout belongs to the
// protocol under test (git/kubectl/docker parse it), and oidc-provider prints NOTICE lines
// there (see `quietOidcProviderConsole`).
import * as crypto from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';

import { exportJWK, generateKeyPair, type JWK } from 'jose';

import { autoSubmitForm, CookieJar, httpRequest, isRedirect, type HttpResponse } from './http-client.js';

export interface ProviderOptions {
  /** Rotate refresh tokens on use (a reused one then revokes the whole grant). Default true. */
  rotateRefreshToken?: boolean;
  /** Access token lifetime in seconds. Default 3600. Also used for client_credentials tokens
   * when given explicitly (otherwise those keep oidc-provider's 600). */
  accessTokenTTL?: number;
  /** ID token lifetime in seconds. Default 3600. */
  idTokenTTL?: number;
  /** The one demo user. Default 'demo-user' (demo@example.com, 'Demo User'). */
  accountId?: string;
  /** Port on 127.0.0.1. Default 0 (a free one; tests should keep it so). */
  port?: number;
  /** Added as `interval` to device authorization responses; oidc-provider sends none, and
   * RFC 8628 §3.2 then means 5 s between polls — too slow for tests. Default: not sent. */
  deviceInterval?: number;
  /** The first N device-code polls that would answer `authorization_pending` answer
   * `slow_down` instead (oidc-provider never sends it, RFC 8628 §3.5). Default 0. */
  slowDownPolls?: number;
  /**
   * Auth0's multi-resource refresh tokens (docs/multi-api.md): the audiences a login's refresh
   * token may later be used for. Every login is granted all of them (as RFC 8707 resources),
   * and a refresh with `audience` gets a JWT for that one. Without it, a refresh
   * with another audience silently gets the login's audience again — Auth0's behaviour without
   * a policy for it. Default: none.
   */
  audiencePolicy?: string[];
  /** Refresh requests with these audiences answer invalid_target, before the refresh token is looked at. Default: none. */
  refusedAudiences?: string[];
}

export interface Counts {
  /** GET/POST /auth (authorization requests; not the /auth/<uid> resumes). */
  authorization: number;
  /** POST /token by grant_type. */
  token: Record<string, number>;
  /** Error responses of POST /token by `error` code, as the client saw them. */
  tokenErrors: Record<string, number>;
  /** POST /device/auth */
  deviceAuthorization: number;
  revocation: number;
  discovery: number;
  userinfo: number;
  /** every HTTP request the server received */
  requests: number;
}

export interface TestProvider {
  /** 'http://127.0.0.1:<port>', no trailing slash, exactly what discovery advertises */
  readonly issuer: string;
  readonly port: number;
  readonly publicClientId: string;
  readonly confidentialClientId: string;
  readonly clientSecret: string;
  readonly counts: Counts;
  resetCounts(): void;
  /** 'deny' makes every interaction end with error=access_denied */
  mode: 'approve' | 'deny';
  /** access, ID and refresh tokens, device codes and user codes this provider handed out */
  readonly issuedTokens: Set<string>;
  /** Calls the real userinfo endpoint; null when the token is rejected. */
  userinfo(accessToken: string): Promise<Record<string, unknown> | null>;
  /** Goes through the real /device pages with a fresh cookie jar, as a user would. */
  approveDeviceCode(userCode: string): Promise<void>;
  /**
   * Parks every request for `path` (e.g. '/.well-known/openid-configuration') until `release()`:
   * a test can then act while a client is provably waiting on that request.
   */
  hold(path: string): { parked(): number; release(): void };
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------
// The slice of oidc-provider's API used here. The package ships no types, and a local
// `declare module` would leak into whoever compiles this directory, so the module is loaded
// through a non-literal specifier and typed by these interfaces.

interface KoaContext {
  readonly path: string;
  readonly method: string;
  status: number;
  body: unknown;
  /** only defined on routes oidc-provider matched */
  readonly oidc?: {
    readonly params?: Readonly<Record<string, unknown>>;
    readonly body?: Readonly<Record<string, unknown>>;
  };
}

type KoaMiddleware = (ctx: KoaContext, next: () => Promise<void>) => Promise<void>;

interface OidcGrant {
  addOIDCScope(scope: string): void;
  addOIDCClaims(claims: readonly string[]): void;
  addResourceScope(resource: string, scope: string): void;
  save(): Promise<string>;
}

interface InteractionDetails {
  readonly uid: string;
  readonly prompt: { readonly name: string; readonly details: Readonly<Record<string, unknown>> };
  readonly params: Readonly<Record<string, unknown>>;
  readonly grantId?: string;
}

type InteractionResult =
  | { login: { accountId: string } }
  | { consent: { grantId?: string } }
  | { error: string; error_description: string };

interface OidcProvider {
  callback(): (req: http.IncomingMessage, res: http.ServerResponse) => void;
  use(fn: KoaMiddleware): void;
  interactionDetails(req: http.IncomingMessage, res: http.ServerResponse): Promise<InteractionDetails>;
  interactionFinished(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    result: InteractionResult,
    opts: { mergeWithLastSubmission: boolean },
  ): Promise<void>;
  readonly Grant: {
    new (init: { accountId: string; clientId: string }): OidcGrant;
    find(id: string): Promise<OidcGrant | undefined>;
  };
}

type ProviderConstructor = new (issuer: string, configuration: Record<string, unknown>) => OidcProvider;

// ---------------------------------------------------------------------------------------

const ROUTES = {
  authorization: '/auth',
  token: '/token',
  userinfo: '/me',
  revocation: '/token/revocation',
  device_authorization: '/device/auth',
  code_verification: '/device',
  jwks: '/jwks',
} as const;
const DISCOVERY_PATH = '/.well-known/openid-configuration';
const INTERACTION_PREFIX = '/interaction/';
const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

const PUBLIC_CLIENT_ID = 'oidc-cred-demo';
const CONFIDENTIAL_CLIENT_ID = 'oidc-cred-ci';

/**
 * Drops oidc-provider's console lines — `oidc-provider NOTICE: …` goes to stdout through
 * console.info, `oidc-provider WARNING: …` (unsupported runtime, in-memory adapter, dev keys)
 * to stderr through console.warn. Installed once per process and kept: some of them fire at
 * the first request rather than at import. Only lines that start with that prefix (possibly
 * after a TTY colour code) are dropped; everything else passes through untouched.
 */
let consoleQuieted = false;
function quietOidcProviderConsole(): void {
  if (consoleQuieted) return;
  consoleQuieted = true;
  // eslint-disable-next-line no-control-regex
  const ours = /^(?:\x1b\[[0-9;]*m)?oidc-provider (?:NOTICE|WARNING): /;
  for (const method of ['info', 'warn'] as const) {
    const original = console[method].bind(console);
    console[method] = (...args: unknown[]): void => {
      if (typeof args[0] === 'string' && ours.test(args[0])) return;
      original(...args);
    };
  }
}

let providerClass: Promise<ProviderConstructor> | undefined;
function loadProviderClass(): Promise<ProviderConstructor> {
  quietOidcProviderConsole();
  // Non-literal specifier: see the comment above the interfaces.
  const specifier: string = 'oidc-provider';
  providerClass ??= import(specifier).then((m: { default: ProviderConstructor }) => m.default);
  return providerClass;
}

// One RSA key per process: RS256 is what ID tokens are signed with by default, and RSA key
// generation is the slowest part of a start (~50–200 ms), so tests that start many providers
// share it. The issuer differs per start, so tokens still do not cross providers.
let signingKey: Promise<JWK> | undefined;
function loadSigningKey(): Promise<JWK> {
  signingKey ??= generateKeyPair('RS256', { extractable: true }).then(async ({ privateKey }) => ({
    ...(await exportJWK(privateKey)),
    kid: crypto.randomBytes(8).toString('hex'),
    alg: 'RS256',
    use: 'sig',
  }));
  return signingKey;
}

function emptyCounts(): Counts {
  return {
    authorization: 0,
    token: {},
    tokenErrors: {},
    deviceAuthorization: 0,
    revocation: 0,
    discovery: 0,
    userinfo: 0,
    requests: 0,
  };
}

function bump(map: Record<string, number>, key: string): void {
  map[key] = (map[key] ?? 0) + 1;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function stringList(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

function html(title: string, body: string, marker: string): string {
  // Self-contained pages (the defaults @import Google Fonts); `data-demo` lets
  // approveDeviceCode tell the pages apart without scraping prose.
  return `<!DOCTYPE html><html><head><meta charset="utf-8"><title>${title}</title></head>`
    + `<body data-demo="${marker}"><h1>${title}</h1>${body}</body></html>`;
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export async function startProvider(opts: ProviderOptions = {}): Promise<TestProvider> {
  const accountId = opts.accountId ?? 'demo-user';
  const accessTokenTTL = opts.accessTokenTTL ?? 3600;
  const idTokenTTL = opts.idTokenTTL ?? 3600;
  const clientCredentialsTTL = opts.accessTokenTTL ?? 600;
  let slowDownBudget = opts.slowDownPolls ?? 0;

  const [Provider, jwk] = await Promise.all([loadProviderClass(), loadSigningKey()]);

  // Listen first, then build the issuer from the real port: no port race.
  const server = http.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const issuer = `http://127.0.0.1:${port}`;
  const clientSecret = crypto.randomBytes(32).toString('base64url');

  const account = {
    accountId,
    async claims(): Promise<Record<string, unknown>> {
      return { sub: accountId, email: 'demo@example.com', email_verified: true, name: 'Demo User' };
    },
  };

  const configuration: Record<string, unknown> = {
    clients: [
      {
        client_id: PUBLIC_CLIENT_ID,
        client_name: 'oidc-cred demo',
        // RFC 8252 §7.3: a native client's loopback redirect matches on any port.
        application_type: 'native',
        token_endpoint_auth_method: 'none',
        // localhost too: Entra ID-style `--redirect-uri http://localhost/callback` and
        // kubelogin's default `http://localhost` (any port as well, RFC 8252 §7.3).
        redirect_uris: ['http://127.0.0.1/callback', 'http://localhost/callback', 'http://localhost'],
        grant_types: ['authorization_code', 'refresh_token', DEVICE_CODE_GRANT],
        response_types: ['code'],
      },
      {
        client_id: CONFIDENTIAL_CLIENT_ID,
        client_secret: clientSecret,
        // oidc-provider treats client_secret_basic and client_secret_post as one family:
        // a client registered with either may authenticate with both (lib/shared/client_auth.js
        // accepts ['client_secret_basic', 'client_secret_post'] for a secret in either place).
        token_endpoint_auth_method: 'client_secret_basic',
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
        scope: 'api:read api:write',
      },
    ],
    jwks: { keys: [jwk] },
    cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
    routes: ROUTES,
    scopes: ['openid', 'offline_access', 'profile', 'email', 'api:read', 'api:write'],
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name'],
    },
    // README.md, "Commands" `status` shows the email from the ID token: put the scope's claims in the ID
    // token too (as Auth0/Keycloak do), not only at userinfo (OIDC Core §5.4 default).
    conformIdTokenClaims: false,
    // Auth0's `audience` (docs/configuration.md --audience), mapped onto RFC 8707 resource indicators below.
    extraParams: ['audience'],
    async findAccount(_ctx: unknown, sub: string) {
      return sub === accountId ? account : undefined;
    },
    interactions: {
      url: (_ctx: unknown, interaction: { uid: string }) => `${INTERACTION_PREFIX}${interaction.uid}`,
    },
    // Default: only with offline_access *and* prompt=consent (OIDC Core §11). Real providers
    // (Auth0, Keycloak) issue them whenever the client may refresh; so do we.
    async issueRefreshToken(_ctx: unknown, client: { grantTypeAllowed(t: string): boolean }) {
      return client.grantTypeAllowed('refresh_token');
    },
    // A plain boolean: the default function rotates public clients always but confidential
    // ones only after 70 % of the lifetime.
    rotateRefreshToken: opts.rotateRefreshToken ?? true,
    // Tokens outlive the provider's browser session: a CLI has no session to keep alive, and
    // the default ties tokens to it unless offline_access was granted.
    expiresWithSession: async () => false,
    pkce: { required: () => true },
    clientBasedCORS: () => false,
    ttl: {
      AccessToken: (_c: unknown, token: { resourceServer?: { accessTokenTTL?: number } }) =>
        token.resourceServer?.accessTokenTTL ?? accessTokenTTL,
      AuthorizationCode: 60,
      ClientCredentials: (_c: unknown, token: { resourceServer?: { accessTokenTTL?: number } }) =>
        token.resourceServer?.accessTokenTTL ?? clientCredentialsTTL,
      DeviceCode: 600,
      IdToken: idTokenTTL,
      RefreshToken: 14 * 24 * 3600,
      Interaction: 3600,
      Session: 14 * 24 * 3600,
      Grant: 14 * 24 * 3600,
    },
    renderError: async (ctx: KoaContext & { type: string }, out: Record<string, unknown>) => {
      ctx.type = 'html';
      const rows = Object.entries(out).map(([k, v]) => `<p><b>${escapeHtml(k)}</b>: ${escapeHtml(String(v))}</p>`);
      ctx.body = html('Error', rows.join(''), 'error');
    },
    features: {
      devInteractions: { enabled: false },
      // We do not use DPoP; with it on, a DPoP-bound public refresh token is not rotated and
      // discovery advertises it. Off, so nothing depends on whether a client sends a proof.
      dPoP: { enabled: false },
      revocation: { enabled: true, allowedPolicy: async () => true },
      clientCredentials: { enabled: true },
      userinfo: { enabled: true },
      deviceFlow: {
        enabled: true,
        userCodeInputSource: async (ctx: KoaContext, form: string, _out: unknown, err?: Error) => {
          ctx.body = html('Enter code', `${err ? `<p>${escapeHtml(err.message)}</p>` : ''}${form}`,
            `device-input${err ? ` error=${err.name}` : ''}`);
        },
        // The confirm form has only hidden fields (xsrf, user_code, confirm=yes); a scripted
        // user presses it without reading, exactly like the form_post pages.
        userCodeConfirmSource: async (ctx: KoaContext, form: string) => {
          ctx.body = html('Confirm device', form, 'device-confirm');
        },
        successSource: async (ctx: KoaContext) => {
          ctx.body = html('Signed in', '<p>You can close this page.</p>', 'device-success');
        },
      },
      resourceIndicators: {
        enabled: true,
        // `audience` (authorize: a recognised extra param; token: read from the raw body,
        // where oidc-provider ignores unknown params) becomes the RFC 8707 resource.
        async defaultResource(ctx: KoaContext, _client: unknown, oneOf?: string[]) {
          const aud = ctx.oidc?.params?.audience ?? ctx.oidc?.body?.audience;
          // Several resources granted, a token for one: the `audience` asked for, else the first.
          if (oneOf) return typeof aud === 'string' && oneOf.includes(aud) ? aud : oneOf[0];
          return typeof aud === 'string' && aud ? aud : undefined;
        },
        // On code/refresh exchanges without `audience`, keep the audience granted at /auth.
        useGrantedResource: async () => true,
        async getResourceServerInfo(_ctx: unknown, resource: string) {
          return {
            audience: resource,
            // OIDC scopes too, so the JWT's `scope` reads like Auth0's.
            scope: 'openid profile email offline_access api:read api:write',
            accessTokenFormat: 'jwt',
            accessTokenTTL,
            jwt: { sign: { alg: 'RS256' } },
          };
        },
      },
    },
  };

  const provider = new Provider(issuer, configuration);

  const counts = emptyCounts();
  const issuedTokens = new Set<string>();

  // Koa middleware inside the provider: runs after the endpoint, while the response is still
  // an object — the cheapest place to see grant_type and every token handed out.
  provider.use(async (ctx, next) => {
    await next();
    if (ctx.method !== 'POST') return;
    if (ctx.path === ROUTES.token) {
      const gt = ctx.oidc?.params?.grant_type ?? ctx.oidc?.body?.grant_type;
      const grantType = typeof gt === 'string' ? gt : '(none)';
      bump(counts.token, grantType);
      const raw = ctx.body;
      if (!isRecord(raw)) return;
      let body: Record<string, unknown> = raw;
      if (grantType === DEVICE_CODE_GRANT && slowDownBudget > 0 && body.error === 'authorization_pending') {
        slowDownBudget -= 1;
        body = { error: 'slow_down', error_description: 'polling too fast (injected by the demo provider)' };
        ctx.body = body;
      }
      if (typeof body.error === 'string') bump(counts.tokenErrors, body.error);
      for (const k of ['access_token', 'id_token', 'refresh_token']) {
        const v = body[k];
        if (typeof v === 'string') issuedTokens.add(v);
      }
    } else if (ctx.path === ROUTES.device_authorization) {
      const body = ctx.body;
      if (!isRecord(body)) return;
      for (const k of ['device_code', 'user_code']) {
        const v = body[k];
        if (typeof v === 'string') issuedTokens.add(v);
      }
      if (opts.deviceInterval !== undefined && typeof body.device_code === 'string') {
        ctx.body = { ...body, interval: opts.deviceInterval };
      }
    }
  });

  const state: { mode: 'approve' | 'deny' } = { mode: 'approve' };

  async function interaction(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const details = await provider.interactionDetails(req, res);
    if (state.mode === 'deny') {
      await provider.interactionFinished(
        req, res,
        { error: 'access_denied', error_description: 'the demo user said no' },
        { mergeWithLastSubmission: false },
      );
      return;
    }
    const { name, details: missing } = details.prompt;
    if (name === 'login') {
      await provider.interactionFinished(req, res, { login: { accountId } }, { mergeWithLastSubmission: true });
      return;
    }
    if (name === 'consent') {
      const clientId = String(details.params.client_id);
      const existing = details.grantId ? await provider.Grant.find(details.grantId) : undefined;
      const grant = existing ?? new provider.Grant({ accountId, clientId });
      const scopes = stringList(missing.missingOIDCScope);
      if (scopes.length) grant.addOIDCScope(scopes.join(' '));
      const claims = stringList(missing.missingOIDCClaims);
      if (claims.length) grant.addOIDCClaims(claims);
      const resourceScopes = missing.missingResourceScopes;
      if (isRecord(resourceScopes)) {
        for (const [resource, s] of Object.entries(resourceScopes)) {
          grant.addResourceScope(resource, stringList(s).join(' '));
        }
      }
      const grantId = await grant.save();
      await provider.interactionFinished(
        req, res,
        // Only a new grant's id is passed back; an existing one is already linked.
        { consent: existing ? {} : { grantId } },
        { mergeWithLastSubmission: true },
      );
      return;
    }
    res.writeHead(500, { 'content-type': 'text/plain' }).end(`unexpected prompt ${name}`);
  }

  const handle = provider.callback();
  const holds = new Map<string, Array<() => void>>();
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    const parked = holds.get((req.url ?? '/').split('?')[0] ?? '/');
    if (parked) {
      parked.push(() => server.emit('request', req, res));
      return;
    }
    counts.requests += 1;
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const method = req.method ?? 'GET';
    if (path === ROUTES.authorization) counts.authorization += 1;
    else if (path === DISCOVERY_PATH) counts.discovery += 1;
    else if (path === ROUTES.userinfo) counts.userinfo += 1;
    else if (path === ROUTES.revocation && method === 'POST') counts.revocation += 1;
    else if (path === ROUTES.device_authorization && method === 'POST') counts.deviceAuthorization += 1;

    // audiencePolicy: the login is granted every audience of the policy, as resources.
    if (path === ROUTES.authorization && opts.audiencePolicy?.length) {
      const url = new URL(req.url ?? '/', issuer);
      if (!url.searchParams.has('resource')) {
        for (const a of opts.audiencePolicy) url.searchParams.append('resource', a);
        req.url = `${url.pathname}${url.search}`;
      }
    }
    if (path === ROUTES.token && method === 'POST' && opts.refusedAudiences?.length) {
      refuseAudiences(req, res, opts.refusedAudiences);
      return;
    }
    if (path.startsWith(INTERACTION_PREFIX)) {
      interaction(req, res).catch((err: unknown) => {
        if (!res.headersSent) {
          res.writeHead(400, { 'content-type': 'text/plain' });
          res.end(`interaction failed: ${err instanceof Error ? err.message : String(err)}`);
        }
      });
      return;
    }
    handle(req, res);
  });

  /** Reads the token request; a refresh for a refused audience is answered here, anything else goes on to the provider with its body parsed. */
  function refuseAudiences(req: http.IncomingMessage, res: http.ServerResponse, refused: string[]): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const form = new URLSearchParams(text);
      const audience = form.get('audience');
      if (form.get('grant_type') === 'refresh_token' && audience && refused.includes(audience)) {
        bump(counts.token, 'refresh_token');
        bump(counts.tokenErrors, 'invalid_target');
        res.writeHead(400, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: 'invalid_target', error_description: `no policy allows audience ${audience}` }));
        return;
      }
      // oidc-provider takes an already read body from req.body (lib/shared/selective_body.js).
      (req as http.IncomingMessage & { body?: string }).body = text;
      handle(req, res);
    });
  }

  async function userinfo(accessToken: string): Promise<Record<string, unknown> | null> {
    const res = await httpRequest(new URL(ROUTES.userinfo, issuer), {
      headers: { authorization: `Bearer ${accessToken}`, accept: 'application/json' },
    });
    if (res.status !== 200) return null;
    const body: unknown = JSON.parse(res.body);
    return isRecord(body) ? body : null;
  }

  async function approveDeviceCode(userCode: string): Promise<void> {
    // GET /device?user_code=… answers a form_post page; its POST shows the confirm page;
    // confirming redirects into our interaction route and back to /device/<uid>, which ends
    // on the success page (or, when denied, on the input page with AbortedError).
    const jar = new CookieJar();
    const start = new URL(ROUTES.code_verification, issuer);
    start.searchParams.set('user_code', userCode);
    let next: { url: URL; method: 'GET' | 'POST'; form: URLSearchParams | undefined } | undefined = {
      url: start, method: 'GET', form: undefined,
    };
    let last: HttpResponse | undefined;
    for (let hop = 0; next && hop < 20; hop += 1) {
      last = await httpRequest(next.url, { method: next.method, form: next.form, jar });
      const location = last.headers.location;
      if (isRedirect(last.status) && location) {
        next = { url: new URL(location, last.url), method: 'GET', form: undefined };
      } else {
        next = autoSubmitForm(last);
      }
    }
    const marker = /data-demo="([^"]*)"/.exec(last?.body ?? '')?.[1] ?? '';
    if (marker === 'device-success') return;
    if (state.mode === 'deny' && marker === 'device-input error=AbortedError') return;
    throw new Error(`device approval for ${userCode} did not succeed (HTTP ${last?.status}, page ${marker || 'unknown'})`);
  }

  async function close(): Promise<void> {
    // closeAllConnections: keep-alive sockets would otherwise hold close() open for ~5 s.
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  return {
    issuer,
    port,
    publicClientId: PUBLIC_CLIENT_ID,
    confidentialClientId: CONFIDENTIAL_CLIENT_ID,
    clientSecret,
    counts,
    resetCounts(): void {
      Object.assign(counts, emptyCounts());
    },
    get mode() {
      return state.mode;
    },
    set mode(m: 'approve' | 'deny') {
      state.mode = m;
    },
    issuedTokens,
    userinfo,
    approveDeviceCode,
    hold(path: string) {
      const parked: Array<() => void> = [];
      holds.set(path, parked);
      return {
        parked: () => parked.length,
        release: () => {
          holds.delete(path);
          for (const go of parked.splice(0)) go();
        },
      };
    },
    close,
  };
}

// Standalone, for a manual demo: `node --import tsx demo/provider.ts [--port N]`.
// Everything goes to stderr; Ctrl-C stops it.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const i = process.argv.indexOf('--port');
  const p = await startProvider({ port: i > 0 ? Number(process.argv[i + 1]) : 0 });
  process.stderr.write([
    `issuer:               ${p.issuer}`,
    `public client:        ${p.publicClientId} (redirect http://127.0.0.1:<any port>/callback, PKCE)`,
    `confidential client:  ${p.confidentialClientId} secret ${p.clientSecret}`,
    'user:                 demo-user <demo@example.com>, logged in without a form',
    '',
  ].join('\n'));
  const stop = (): void => {
    void p.close().then(() => process.stderr.write(`${JSON.stringify(p.counts)}\n`));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
