// The one table of options (docs/configuration.md). The hot-path argv parser (argv.ts) and the yargs CLI
// (cli.ts) are both built from it, so they can never disagree on a name, an alias or a type.

export type OptionType = 'string' | 'number' | 'boolean' | 'array';

export interface OptionSpec {
  readonly name: string;
  readonly type: OptionType;
  readonly describe: string;
  readonly env?: string;
  readonly alias?: string;
  readonly choices?: readonly string[];
  /** May appear as a key of a profile in the config file (keys are the long flag names). */
  readonly inConfig: boolean;
}

export const GRANTS = ['auto', 'authcode', 'device', 'client-credentials'] as const;
export type Grant = (typeof GRANTS)[number];
export const TOKEN_TYPES = ['access', 'id'] as const;
export type TokenType = (typeof TOKEN_TYPES)[number];
/** RFC 6749 §2.3.1: HTTP Basic (client_secret_basic) or the request body (client_secret_post). */
export const CLIENT_AUTHS = ['basic', 'post'] as const;
export type ClientAuthMethod = (typeof CLIENT_AUTHS)[number];
/** Where the refresh token lives (docs/keyring.md). */
export const STORAGES = ['auto', 'keyring', 'file'] as const;
export type Storage = (typeof STORAGES)[number];

export const GLOBAL_OPTIONS: readonly OptionSpec[] = [
  { name: 'profile', type: 'string', env: 'OIDC_CRED_PROFILE', inConfig: false, describe: 'profile of the config file to use' },
  { name: 'config', type: 'string', env: 'OIDC_CRED_CONFIG', inConfig: false, describe: 'config file (default $XDG_CONFIG_HOME/oidc-cred/config.json)' },
  { name: 'issuer', type: 'string', env: 'OIDC_CRED_ISSUER', inConfig: true, describe: 'OpenID provider (issuer URL)' },
  { name: 'client-id', type: 'string', env: 'OIDC_CRED_CLIENT_ID', inConfig: true, describe: 'OAuth client ID' },
  { name: 'client-secret-file', type: 'string', inConfig: true, describe: 'file holding the client secret (or set OIDC_CRED_CLIENT_SECRET)' },
  { name: 'client-auth', type: 'string', env: 'OIDC_CRED_CLIENT_AUTH', inConfig: true, choices: CLIENT_AUTHS, describe: "how a confidential client sends its secret: basic or post (default: from the provider's metadata, basic when it offers both)" },
  { name: 'scope', type: 'array', env: 'OIDC_CRED_SCOPE', inConfig: true, describe: 'scopes to request (repeatable or space-separated; default "openid offline_access")' },
  { name: 'audience', type: 'string', env: 'OIDC_CRED_AUDIENCE', inConfig: true, describe: 'API audience, sent on authorize and token requests' },
  { name: 'resource', type: 'array', env: 'OIDC_CRED_RESOURCE', inConfig: true, describe: 'RFC 8707 resource indicator of the API the token is for (repeatable)' },
  { name: 'param', type: 'array', inConfig: true, describe: 'extra authorization request parameter K=V (repeatable)' },
  { name: 'grant', type: 'string', env: 'OIDC_CRED_GRANT', inConfig: true, choices: GRANTS, describe: 'how to log in' },
  { name: 'port', type: 'array', env: 'OIDC_CRED_PORT', inConfig: true, describe: 'callback port(s) to try, in order (default: any free port)' },
  { name: 'redirect-uri', type: 'string', inConfig: true, describe: 'redirect URI override (port filled in), e.g. http://localhost/callback' },
  { name: 'browser-command', type: 'string', env: 'BROWSER', inConfig: true, describe: 'command that opens the login page; the URL is appended' },
  { name: 'no-browser', type: 'boolean', inConfig: true, describe: 'only print the login URL on stderr' },
  { name: 'timeout', type: 'number', env: 'OIDC_CRED_TIMEOUT', inConfig: true, describe: 'seconds an interactive login may take (default 300)' },
  { name: 'non-interactive', type: 'boolean', env: 'OIDC_CRED_NON_INTERACTIVE', inConfig: true, describe: 'never start a login; fail instead' },
  { name: 'min-valid', type: 'number', env: 'OIDC_CRED_MIN_VALID', inConfig: true, describe: 'refresh a token that expires within this many seconds (default 60)' },
  { name: 'token-type', type: 'string', inConfig: true, choices: TOKEN_TYPES, describe: 'which token a protocol hands over (default access; id for kube)' },
  { name: 'storage', type: 'string', env: 'OIDC_CRED_STORAGE', inConfig: true, choices: STORAGES, describe: 'where the refresh token lives: the OS credential store (keyring), the cache file, or auto (keyring when one answers)' },
  { name: 'cache-dir', type: 'string', env: 'OIDC_CRED_CACHE_DIR', inConfig: true, describe: 'token cache directory (default $XDG_CACHE_HOME/oidc-cred)' },
  { name: 'ca-file', type: 'string', inConfig: true, describe: 'extra CA bundle (PEM) for the provider' },
  { name: 'verbose', type: 'boolean', alias: 'v', env: 'OIDC_CRED_DEBUG', inConfig: true, describe: 'debug log on stderr (tokens redacted)' },
];

/** Options that only some commands take. */
export const COMMAND_OPTIONS: Readonly<Record<string, readonly OptionSpec[]>> = {
  token: [
    { name: 'id-token', type: 'boolean', inConfig: false, describe: 'print the ID token instead of the access token' },
    { name: 'json', type: 'boolean', inConfig: false, describe: 'print JSON with both tokens and the expiry' },
  ],
  status: [{ name: 'json', type: 'boolean', inConfig: false, describe: 'print JSON' }],
  logout: [
    { name: 'all', type: 'boolean', inConfig: false, describe: 'remove every cached session' },
    { name: 'revoke', type: 'boolean', inConfig: false, describe: 'also revoke the refresh token at the provider' },
  ],
  setup: [
    { name: 'write', type: 'boolean', inConfig: false, describe: 'apply the configuration instead of only printing it' },
    { name: 'remove', type: 'boolean', inConfig: false, describe: 'take out what --write added' },
    { name: 'cluster', type: 'string', inConfig: false, describe: 'kubeconfig user/cluster name (setup kube)' },
  ],
  doctor: [{ name: 'json', type: 'boolean', inConfig: false, describe: 'print the checks as JSON' }],
};

/** Keys a profile may hold besides the flags. */
export const PROFILE_ONLY_KEYS = ['match', 'git-username', 'docker-username', 'client-secret-env'] as const;

export type RawOptions = Record<string, string | number | boolean | string[] | undefined>;
