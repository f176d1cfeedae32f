// Migration from int128/kubelogin (issue 4): `oidc-cred get-token` accepts kubelogin's own flag
// names, so that replacing `command: kubectl` + `args: [oidc-login, get-token, …]` with
// `command: oidc-cred` + `args: [get-token, …]` is the whole migration. This runs first thing in
// both entry points (hot.ts, main.ts), before any parser sees argv; it must stay cheap, import
// nothing heavy, and never throw (hot.ts calls it outside any try).
//
// Choices (documented in docs/kubernetes.md):
// - Flags with an equivalent are rewritten to ours, in place.
// - Flags that only tune kubelogin itself (keyring, --force-refresh, TLS of its own local server…)
//   are dropped with a one-line warning on stderr: ignoring them cannot hand out a wrong token.
// - Flags that would pick a grant we do not implement (password, authcode-keyboard,
//   token-exchange) are a usage error (exit 2): silently logging in some other way would surprise.
// - Anything else is left as it is, so that the CLI reports a truly unknown flag (exit 2).
// - --oidc-client-secret is accepted and used as the client secret, with a warning that the
//   process list shows it (secrets are never flag values of ours: docs/configuration.md).

export interface KubeloginTranslation {
  argv: string[];
  /** A kubelogin flag that cannot be honoured: a usage error, reported before anything else runs. */
  error?: string | undefined;
  /** The value of --oidc-client-secret: the unnamed profile's client secret. */
  clientSecret?: string | undefined;
}

const warnOnStderr = (line: string): void => void process.stderr.write(`oidc-cred: warning: ${line}\n`);

/** kubelogin flag → our flag, value passed on unchanged. */
const RENAMED: Readonly<Record<string, string>> = {
  'oidc-issuer-url': '--issuer',
  'oidc-client-id': '--client-id',
  'token-cache-dir': '--cache-dir',
  'authentication-timeout-sec': '--timeout',
  'certificate-authority': '--ca-file',
};

/** kubelogin's own knobs with no meaning here: warn and drop. true: takes a value. */
const IGNORED: Readonly<Record<string, boolean>> = {
  'token-cache-storage': true,
  'certificate-authority-data': true,
  'local-server-cert': true,
  'local-server-key': true,
  'open-url-after-authentication': true,
  'tls-renegotiation': true,
  'force-refresh': false,
  'force-keyring': false,
  'no-keyring': false,
  'insecure-skip-tls-verify': false,
};

/** PKCE is always S256 here (docs/architecture.md, "The login"): these change nothing, so they are dropped without a word. */
const SILENT: Readonly<Record<string, boolean>> = { 'oidc-use-pkce': false, 'oidc-pkce-method': true };

/** Grants that would log in some other way: refused. */
const REJECTED: Readonly<Record<string, boolean>> = {
  username: true,
  password: true,
  'token-exchange-resource': true,
  'token-exchange-audience': true,
  'token-exchange-requested-token-type': true,
  'token-exchange-subject-token': true,
  'token-exchange-subject-token-type': true,
  'token-exchange-actor-token': true,
  'token-exchange-actor-token-type': true,
};

const GRANTS: Readonly<Record<string, string>> = {
  auto: 'auto',
  authcode: 'authcode',
  'device-code': 'device',
  'client-credentials': 'client-credentials',
};

const BOOLEAN_KUBELOGIN = new Set(['oidc-use-access-token', 'skip-open-browser']);
const VALUED_KUBELOGIN = new Set([
  ...Object.keys(RENAMED),
  'oidc-client-secret',
  'oidc-extra-scope',
  'oidc-redirect-url',
  'oidc-auth-request-extra-params',
  'listen-address',
  'grant-type',
]);
const isBooleanFlag = (name: string): boolean => BOOLEAN_KUBELOGIN.has(name) || IGNORED[name] === false || SILENT[name] === false;
const isValuedFlag = (name: string): boolean => VALUED_KUBELOGIN.has(name) || IGNORED[name] === true || SILENT[name] === true || name in REJECTED;

export function translateKubeloginArgs(argv: string[], warn: (line: string) => void = warnOnStderr): KubeloginTranslation {
  if (argv[0] !== 'get-token') return { argv };
  const out: string[] = [argv[0]];
  let error: string | undefined;
  let clientSecret: string | undefined;
  const fail = (message: string): void => {
    error ??= message;
  };
  const io = { warn };
  const scopes: string[] = [];
  let scopeAt = -1;
  let nativeScope = false;
  let ports = 0;
  let redirectPort: string | undefined;
  let redirectAt = -1;
  let kubeloginMode = false;
  let caFiles = 0;

  for (let i = 1; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      out.push(...argv.slice(i));
      break;
    }
    // kubelogin's klog verbosity `-v N` / `--v=N`: ours is a switch.
    if (arg === '-v' || arg === '--v') {
      const next = argv[i + 1] ?? '';
      if (/^\d+$/.test(next)) {
        i++;
        if (Number(next) > 0) out.push('-v');
      } else out.push('-v');
      continue;
    }
    const level = /^--?v=(\d+)$/.exec(arg);
    if (level) {
      if (Number(level[1]) > 0) out.push('-v');
      continue;
    }
    if (!arg.startsWith('--')) {
      out.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
    const inline = eq === -1 ? undefined : arg.slice(eq + 1);
    if (name === 'scope') nativeScope = true;

    if (isBooleanFlag(name)) {
      // pflag booleans take no separate value: --flag, --flag=true, --flag=false.
      const on = inline === undefined || /^(1|t|true)$/i.test(inline);
      if (inline !== undefined && !/^(0|1|t|f|true|false)$/i.test(inline)) {
        fail(`--${name} takes true or false, not "${inline.slice(0, 20)}"`);
        continue;
      }
      if (name === 'oidc-use-access-token') {
        kubeloginMode = true;
        if (on) out.push('--token-type', 'access');
      } else if (name === 'skip-open-browser') {
        if (on) out.push('--no-browser');
      } else if (IGNORED[name] === false && on) {
        io.warn(`kubelogin flag --${name} has no equivalent in oidc-cred and is ignored`);
      }
      continue;
    }
    if (!isValuedFlag(name)) {
      out.push(arg);
      continue;
    }
    let value = inline;
    if (value === undefined) {
      if (i + 1 >= argv.length) {
        fail(`kubelogin flag --${name} needs a value`);
        continue;
      }
      value = argv[++i]!;
    }

    if (name in REJECTED) {
      // Never echo the value: --password and the token-exchange tokens are secrets.
      fail(`kubelogin flag --${name} (${name.startsWith('token-exchange') ? 'token exchange' : 'password grant'}) is not supported by oidc-cred; use the browser (authcode), device-code or client-credentials grant`);
      continue;
    }
    if (SILENT[name] !== undefined) continue;
    if (IGNORED[name] === true) {
      io.warn(`kubelogin flag --${name} has no equivalent in oidc-cred and is ignored`);
      continue;
    }
    switch (name) {
      case 'oidc-client-secret':
        // docs/configuration.md: never a flag value. Accept it for compatibility, but hand it on through this
        // process's environment only, and say once that the process list shows it.
        kubeloginMode = true;
        clientSecret = value;
        io.warn('--oidc-client-secret puts the client secret in the process list; set OIDC_CRED_CLIENT_SECRET (exec env in kubeconfig) or use --client-secret-file instead');
        break;
      case 'oidc-extra-scope':
        // pflag StringSlice: repeatable and comma-separated.
        kubeloginMode = true;
        if (scopeAt === -1) scopeAt = out.length;
        scopes.push(...value.split(',').map((s) => s.trim()).filter(Boolean));
        break;
      case 'oidc-auth-request-extra-params':
        // pflag StringToString: k=v[,k=v…]
        for (const kv of value.split(',').filter(Boolean)) out.push('--param', kv);
        break;
      case 'listen-address':
        for (const addr of value.split(',').map((s) => s.trim()).filter(Boolean)) {
          const m = /^(?:\[([^\]]*)\]|([^:]*)):(\d+)$/.exec(addr);
          if (!m) {
            fail(`kubelogin flag --listen-address wants HOST:PORT, not "${addr.slice(0, 40)}"`);
            continue;
          }
          const host = m[1] ?? m[2] ?? '';
          if (!['127.0.0.1', 'localhost', '::1', ''].includes(host)) {
            io.warn(`--listen-address ${addr}: oidc-cred binds 127.0.0.1 only (RFC 8252 §8.3); using port ${m[3]}`);
          }
          ports++;
          // Port 0 means any free port, which is our default anyway.
          if (Number(m[3]) !== 0) out.push('--port', m[3]!);
        }
        break;
      case 'oidc-redirect-url': {
        // Ours fills the port in (docs/configuration.md --redirect-uri); kubelogin's carries it. Keep the rest
        // exactly as written (`http://localhost:8000` has no path, and providers compare strings).
        const m = /^(https?:\/\/)(\[[^\]]*\]|[^/?#:]*)(?::(\d*))?([/?#].*)?$/i.exec(value);
        if (!m) {
          fail(`kubelogin flag --oidc-redirect-url is not an http URL: "${value.slice(0, 60)}"`);
          break;
        }
        redirectPort = m[3] || undefined;
        redirectAt = out.length;
        out.push('--redirect-uri', `${m[1]}${m[2]}${m[4] ?? ''}`);
        break;
      }
      case 'grant-type': {
        const g = GRANTS[value];
        if (!g) {
          fail(
            value === 'authcode-keyboard'
              ? 'kubelogin --grant-type authcode-keyboard is not supported by oidc-cred; on a machine without a browser use --grant-type device-code (or --grant device)'
              : `kubelogin --grant-type ${value.slice(0, 30)} is not supported by oidc-cred; use auto, authcode, device-code or client-credentials`,
          );
          break;
        }
        out.push('--grant', g);
        break;
      }
      case 'certificate-authority':
        if (++caFiles === 2) io.warn('oidc-cred takes one --certificate-authority file; the last one given is used');
        out.push('--ca-file', value);
        break;
      default:
        if (name === 'oidc-issuer-url' || name === 'oidc-client-id') kubeloginMode = true;
        out.push(RENAMED[name]!, value);
    }
  }

  if (scopes.length) {
    // kubelogin adds its extra scopes to "openid"; ours are added to our default (docs/configuration.md), so
    // that refresh tokens keep coming with offline_access. Duplicates would change the cache key.
    const base = nativeScope ? [] : ['openid', 'offline_access'];
    const all = [...new Set([...base, ...scopes])];
    out.splice(scopeAt, 0, ...all.flatMap((s) => ['--scope', s]));
    if (redirectAt >= scopeAt) redirectAt += all.length * 2;
  }
  if (redirectPort !== undefined && ports === 0 && redirectAt !== -1) out.splice(redirectAt, 0, '--port', redirectPort);
  else if (kubeloginMode && ports === 0 && redirectAt === -1 && !argv.includes('--port') && !argv.some((a) => a.startsWith('--port=') || a.startsWith('--redirect-uri'))) {
    // kubelogin's defaults: bind 127.0.0.1:8000, then :18000, redirect to http://localhost:PORT
    // (no path) — what providers set up for kubelogin have registered.
    out.push('--port', '8000', '--port', '18000', '--redirect-uri', 'http://localhost');
  }
  return { argv: out, error, clientSecret };
}
