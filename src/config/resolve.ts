// Which settings serve a request (docs/configuration.md): flag > environment > profile > default.
// Pure apart from reading the config file, so that the hot path can use it: no yargs here.
import { closeSync, fstatSync, openSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve as resolvePath } from 'node:path';
import { ConfigError, NoMatchingProfile, UsageError } from '../errors.js';
import { bestMatch, entryProblem, TOOLS, type MatchEntry, type Tool } from './match.js';
import { closest } from './suggest.js';
import {
  CLIENT_AUTHS,
  GLOBAL_OPTIONS,
  GRANTS,
  PROFILE_ONLY_KEYS,
  STORAGES,
  TOKEN_TYPES,
  type ClientAuthMethod,
  type Grant,
  type OptionSpec,
  type RawOptions,
  type Storage,
  type TokenType,
} from './options.js';

export type Purpose = 'git' | 'docker' | 'kube' | 'other';

export interface Settings {
  /** Profile name, or undefined for the unnamed profile made of flags and environment alone. */
  profile: string | undefined;
  /** The config file that was read (or would be): doctor names it. */
  configFile: string;
  issuer: string;
  clientId: string;
  clientSecretFile: string | undefined;
  /** The secret itself, from the variable below; kept off the enumerable surface by callers. */
  clientSecretEnv: string | undefined;
  /** --client-auth; undefined = decided from the provider's token_endpoint_auth_methods_supported. */
  clientAuth: ClientAuthMethod | undefined;
  /**
   * The environment variable this profile takes its secret from: OIDC_CRED_CLIENT_SECRET for the
   * unnamed profile, else only what the profile names as "client-secret-env" (docs/configuration.md).
   */
  clientSecretEnvName: string | undefined;
  scopes: string[];
  audience: string | undefined;
  /** RFC 8707 resource indicators of this profile's API. */
  resources: string[];
  /**
   * What a login of the session asks for (docs/multi-api.md): every resource and the union of
   * the scopes of the profiles that share the session (same issuer, client ID, grant and params).
   */
  sessionResources: string[];
  sessionScopes: string[];
  params: Record<string, string>;
  grant: Grant;
  ports: number[];
  redirectUri: string | undefined;
  browserCommand: string | undefined;
  /** The browser command came from BROWSER, whose conventions apply: `%s` is the URL, `:` separates alternatives. */
  browserFromEnv: boolean;
  noBrowser: boolean;
  timeout: number;
  nonInteractive: boolean;
  minValid: number;
  tokenType: TokenType | undefined;
  /** Where the refresh token lives (docs/keyring.md). */
  storage: Storage;
  cacheDir: string;
  caFile: string | undefined;
  verbose: boolean;
  match: MatchEntry[];
  gitUsername: string;
  dockerUsername: string;
}

export interface ResolveInput {
  flags: RawOptions;
  env: Readonly<Record<string, string | undefined>>;
  home: string;
  cwd: string;
  purpose: Purpose;
  /** The URL the request is for: git's protocol://host/path, the docker server, the cluster server. */
  url?: string | undefined;
  /** A client secret given on the command line (kubelogin's --oidc-client-secret): wins over the environment's. */
  clientSecretFromArgs?: string | undefined;
}

type ProfileValues = RawOptions & { match?: MatchEntry[] };

interface ConfigFile {
  path: string;
  explicit: boolean;
  exists: boolean;
  defaultProfile: string | undefined;
  profiles: Map<string, ProfileValues>;
}

const SPEC_BY_NAME = new Map<string, OptionSpec>(GLOBAL_OPTIONS.map((o) => [o.name, o]));

export function defaultConfigPath(env: ResolveInput['env'], home: string): string {
  const base = env.XDG_CONFIG_HOME && isAbsolute(env.XDG_CONFIG_HOME) ? env.XDG_CONFIG_HOME : join(home, '.config');
  return join(base, 'oidc-cred', 'config.json');
}

export function defaultCacheDir(env: ResolveInput['env'], home: string): string {
  const base = env.XDG_CACHE_HOME && isAbsolute(env.XDG_CACHE_HOME) ? env.XDG_CACHE_HOME : join(home, '.cache');
  return join(base, 'oidc-cred');
}

export function loadConfigFile(input: Pick<ResolveInput, 'flags' | 'env' | 'home' | 'cwd'>): ConfigFile {
  const given = str(input.flags.config) ?? nonEmpty(input.env.OIDC_CRED_CONFIG);
  const path = given ? resolvePath(input.cwd, given) : defaultConfigPath(input.env, input.home);
  const empty: ConfigFile = { path, explicit: !!given, exists: false, defaultProfile: undefined, profiles: new Map() };
  let text: string;
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && !given) return empty;
    if (code === 'ENOENT') {
      throw new ConfigError(`config file ${path} does not exist`, { hint: 'check --config or OIDC_CRED_CONFIG; docs/configuration.md shows a config file' });
    }
    throw new ConfigError(`cannot read config file ${path}: ${errnoSentence(err)}`);
  }
  try {
    // One fstat of the file already open: the hot path reads this file on every call.
    refuseForeignFile(fstatSync(fd), path, 'config');
    text = readFileSync(fd, 'utf8');
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(`cannot read config file ${path}: ${errnoSentence(err)}`);
  } finally {
    closeSync(fd);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`config file ${path} is not valid JSON: ${jsonProblem(text, err)}`);
  }
  return { ...validateConfig(json, path), path, explicit: !!given, exists: true };
}

/**
 * ssh-style ownership rules (docs/configuration.md): a file another user owns, or one another
 * user could change (a config file: its `browser-command` would run as us) or read (a secret
 * file), is refused with the command that fixes it. root may own it: root can change anything of
 * ours anyway. No such rules on Windows, where these modes mean nothing.
 */
export function refuseForeignFile(st: { uid: number; mode: number }, path: string, kind: 'config' | 'secret'): void {
  if (process.platform === 'win32' || typeof process.getuid !== 'function') return;
  const what = kind === 'config' ? 'config file' : 'client secret file';
  const fix = kind === 'config' ? 'chmod go-w' : 'chmod 600';
  if (st.uid !== process.getuid() && st.uid !== 0) {
    throw new ConfigError(`${what} ${path} belongs to another user (uid ${st.uid})`, {
      hint: `use a copy of your own: cp '${path}' NEWFILE && ${fix} NEWFILE`,
    });
  }
  const mode = (st.mode & 0o777).toString(8).padStart(3, '0');
  if (kind === 'config' && (st.mode & 0o022) !== 0) {
    throw new ConfigError(`${what} ${path} can be changed by other users (mode ${mode})`, { hint: `run: ${fix} '${path}'` });
  }
  if (kind === 'secret' && (st.mode & 0o077) !== 0) {
    throw new ConfigError(`${what} ${path} is open to other users (mode ${mode}); the secret may have leaked`, { hint: `run: ${fix} '${path}', and rotate the secret` });
  }
}

function validateConfig(json: unknown, path: string): Pick<ConfigFile, 'defaultProfile' | 'profiles'> {
  const fail = (key: string, what: string): never => {
    throw new ConfigError(`config file ${path}: ${key}: ${what}`);
  };
  if (!isObject(json)) return fail('(top level)', 'must be a JSON object');
  for (const k of Object.keys(json)) {
    if (!['$schema', 'default-profile', 'profiles'].includes(k)) {
      const guess = closest(k, ['default-profile', 'profiles']);
      fail(k, guess ? `unknown key (did you mean "${guess}"?)` : 'unknown key (expected "default-profile" or "profiles")');
    }
  }
  const dp = json['default-profile'];
  if (dp !== undefined && typeof dp !== 'string') fail('default-profile', 'must be a string');
  const profiles = new Map<string, ProfileValues>();
  const rawProfiles = json.profiles ?? {};
  if (!isObject(rawProfiles)) return fail('profiles', 'must be an object of named profiles');
  for (const [name, raw] of Object.entries(rawProfiles)) {
    const at = `profiles.${name}`;
    if (!isObject(raw)) return fail(at, 'must be an object');
    const values: ProfileValues = {};
    for (const [key, value] of Object.entries(raw)) {
      const spec = SPEC_BY_NAME.get(key);
      if (PROFILE_ONLY_KEYS.includes(key as (typeof PROFILE_ONLY_KEYS)[number])) {
        if (key === 'match') {
          values.match = checkMatch(value, (what) => fail(`${at}.match`, what));
        } else if (typeof value !== 'string') fail(`${at}.${key}`, 'must be a string');
        else if (key === 'client-secret-env' && !/^[A-Za-z_][A-Za-z0-9_]*$/.test(value)) fail(`${at}.${key}`, 'must be the name of an environment variable');
        else values[key] = value;
        continue;
      }
      if (!spec || !spec.inConfig) {
        const guess = spec ? undefined : closest(key, CONFIG_KEYS);
        fail(`${at}.${key}`, spec ? 'is not allowed in a config file' : guess ? `unknown key (did you mean "${guess}"?)` : 'unknown key (keys are the long flag names, e.g. "client-id")');
        continue;
      }
      values[key] = checkValue(spec, value, (what) => fail(`${at}.${key}`, what));
    }
    profiles.set(name, values);
  }
  if (typeof dp === 'string' && !profiles.has(dp)) fail('default-profile', `names "${dp}", which is not a profile`);
  return { defaultProfile: dp as string | undefined, profiles };
}

/**
 * `match`: a string or an array of strings and `{"url", "for"}` objects (docs/docker.md); `for`
 * names the tools an entry serves, as a string or an array.
 */
function checkMatch(value: unknown, fail: (what: string) => never): MatchEntry[] {
  const list = Array.isArray(value) ? value : [value];
  return list.map((item, i): MatchEntry => {
    const at = Array.isArray(value) ? `entry ${i + 1}: ` : '';
    if (typeof item === 'string') {
      const problem = entryProblem(item);
      return problem ? fail(`${at}${problem}`) : { url: item };
    }
    if (!isObject(item)) return fail(`${at}must be a string, or an object {"url": …, "for": [${TOOLS.map((t) => `"${t}"`).join(', ')}]}`);
    for (const k of Object.keys(item)) if (k !== 'url' && k !== 'for') fail(`${at}unknown key "${k}" (an entry has "url" and "for")`);
    if (typeof item.url !== 'string' || !item.url.trim()) return fail(`${at}"url" must be a non-empty string`);
    const problem = entryProblem(item.url);
    if (problem) fail(`${at}${problem}`);
    if (item.for === undefined) return { url: item.url };
    const tools = typeof item.for === 'string' ? [item.for] : item.for;
    if (!Array.isArray(tools) || tools.length === 0 || !tools.every((t) => (TOOLS as readonly unknown[]).includes(t))) {
      return fail(`${at}"for" must name one or more of ${TOOLS.join(', ')}`);
    }
    return { url: item.url, for: tools as Tool[] };
  });
}

function checkValue(spec: OptionSpec, value: unknown, fail: (what: string) => never): string | number | boolean | string[] {
  switch (spec.type) {
    case 'boolean':
      if (typeof value !== 'boolean') fail('must be true or false');
      return value as boolean;
    case 'number':
      if (typeof value !== 'number' || !Number.isFinite(value)) fail('must be a number');
      return value as number;
    case 'array': {
      if (spec.name === 'param' && isObject(value)) {
        return Object.entries(value).map(([k, v]) => (typeof v === 'string' ? `${k}=${v}` : fail(`value of "${k}" must be a string`)));
      }
      if (spec.name === 'port' && typeof value === 'number') return [String(value)];
      const list = typeof value === 'string' ? [value] : value;
      if (!Array.isArray(list)) fail('must be a string or an array');
      return (list as unknown[]).map((v) => (typeof v === 'string' || typeof v === 'number' ? String(v) : fail('must hold strings')));
    }
    default:
      if (typeof value !== 'string') fail('must be a string');
      if (spec.choices && !spec.choices.includes(value as string)) fail(`must be one of ${spec.choices.join(', ')}`);
      return value as string;
  }
}

/** Picks the profile (docs/configuration.md) and layers flag > env > profile > default. */
export function resolveSettings(input: ResolveInput): Settings {
  const config = loadConfigFile(input);
  // git and docker helpers are often wired for every host: an exported variable must not pick
  // their provider or profile (docs/configuration.md), so only their own command line does.
  const helper = input.purpose === 'git' || input.purpose === 'docker';
  const env = (key: string): string | undefined => (helper && PROVIDER_ENV.has(key) ? undefined : nonEmpty(input.env[key]));
  const explicit = str(input.flags.profile) ?? env('OIDC_CRED_PROFILE');
  let name: string | undefined;
  if (explicit) {
    if (!config.profiles.has(explicit)) {
      throw new ConfigError(
        config.exists ? `config file ${config.path}: no profile named "${explicit}"` : `profile "${explicit}" was asked for, but there is no config file at ${config.path}`,
        { hint: config.exists ? `profiles: ${[...config.profiles.keys()].join(', ') || 'none'}` : 'create it or drop --profile' },
      );
    }
    name = explicit;
  } else if (input.url && input.purpose !== 'other') {
    const hit = bestMatch(
      [...config.profiles].map(([n, p]) => [n, { match: p.match ?? [] }] as [string, { match: MatchEntry[] }]),
      input.url,
      input.purpose,
    );
    name = hit?.[0];
    if (!name && !hasOwnProvider(input, env)) {
      // git and docker: a request no profile claims is not ours, unless the helper's own command
      // line says which provider to use (credential.<url>.helper, scoped by git).
      if (input.purpose !== 'kube') throw new NoMatchingProfile(`no profile matches ${input.url}`);
      // kube with cluster info: never default-profile alone, or a kubeconfig user entry shared
      // by several clusters would carry one cluster's token to another (docs/configuration.md).
      throw new ConfigError(`no profile matches the cluster ${input.url}${config.exists ? ` in ${config.path}` : ''}`, {
        hint: "add the server to a profile's \"match\", or name the profile in the kubeconfig exec args (--profile NAME)",
      });
    }
  }
  if (!name && !hasOwnProvider(input, env) && !(input.url && input.purpose !== 'other')) {
    name = config.defaultProfile ?? (config.profiles.size === 1 ? [...config.profiles.keys()][0] : undefined);
  }
  const profile: ProfileValues = name ? config.profiles.get(name)! : {};
  const baseDir = dirname(config.path);

  const pick = (key: string): string | number | boolean | string[] | undefined => {
    const flag = input.flags[key];
    if (flag !== undefined) return flag;
    const spec = SPEC_BY_NAME.get(key);
    const envValue = spec?.env ? env(spec.env) : undefined;
    if (spec && envValue !== undefined) return fromEnv(spec, envValue);
    return profile[key];
  };
  // Paths from the config file are relative to it; paths from flags relative to the cwd.
  const path = (key: string): string | undefined => {
    const v = str(pick(key));
    if (v === undefined) return undefined;
    const fromProfile = input.flags[key] === undefined && profile[key] !== undefined;
    return resolvePath(fromProfile ? baseDir : input.cwd, expandHome(v, input.home));
  };

  /**
   * A bad value is the fault of where it came from: a flag or a variable is a usage error (exit
   * 2) that names it; a profile's value is a config error that names the file and the key
   * (docs/configuration.md, "Exit codes and errors").
   */
  const badValue = (key: string, value: string, what: string): never => {
    if (input.flags[key] !== undefined) throw new UsageError(`--${key} ${what}, not "${value}"`, { hint: `see 'oidc-cred --help'` });
    const spec = SPEC_BY_NAME.get(key);
    if (spec?.env && env(spec.env) !== undefined) throw new UsageError(`${spec.env} ${what}, not "${env(spec.env)}"`, { hint: `see 'oidc-cred --help'` });
    throw new ConfigError(`config file ${config.path}: profiles.${name}.${key}: ${what}, not "${value}"`);
  };

  const issuer = str(pick('issuer'));
  const clientId = str(pick('client-id'));
  if ((!issuer || !clientId) && !name && config.profiles.size > 1) {
    // Several profiles and nothing to choose between them: say so, rather than "no issuer".
    const names = [...config.profiles.keys()];
    throw new ConfigError(`config file ${config.path} has ${names.length} profiles (${names.join(', ')}) and no "default-profile"`, {
      hint: `pass --profile ${names[0]}, set OIDC_CRED_PROFILE, or add "default-profile": "${names[0]}" to the file`,
    });
  }
  const missing = (key: string, hint: string): never => {
    if (name) throw new ConfigError(`config file ${config.path}: profiles.${name} has no "${key}"`, { hint: `add "${key}" to the profile, or pass --${key}` });
    throw new ConfigError(`no ${key === 'issuer' ? 'issuer' : 'client ID'} configured in ${helper ? 'the command line' : 'the command line and environment'}`, { hint });
  };
  if (!issuer) return missing('issuer', 'pass --issuer URL, set OIDC_CRED_ISSUER, or add a profile to the config file');
  if (!clientId) return missing('client-id', 'pass --client-id, set OIDC_CRED_CLIENT_ID, or add "client-id" to the profile');

  // Checked here, where it is known whether a flag, a variable or the file said it, and before
  // anything would wait for a login (docs/configuration.md).
  let issuerUrl: URL | undefined;
  try {
    issuerUrl = new URL(issuer);
  } catch {
    badValue('issuer', issuer, 'must be a URL such as https://idp.example.com/');
  }
  if (issuerUrl && issuerUrl.protocol !== 'https:' && !(issuerUrl.protocol === 'http:' && isLoopback(issuerUrl.hostname))) {
    badValue('issuer', issuer, 'must use https:// (plain http is allowed only on a loopback address)');
  }
  const redirectUri = str(pick('redirect-uri'));
  if (redirectUri !== undefined) {
    let u: URL | undefined;
    try {
      u = new URL(redirectUri);
    } catch {
      badValue('redirect-uri', redirectUri, 'must be a URL such as http://127.0.0.1/callback');
    }
    // RFC 8252 §7.3: a loopback redirect, plain http, on an address only this machine reaches.
    if (u && (u.protocol !== 'http:' || !['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname))) {
      badValue('redirect-uri', redirectUri, 'must be http:// on 127.0.0.1, [::1] or localhost (a loopback redirect)');
    }
  }

  // The secret in the environment is for one provider only: the unnamed profile's, or a
  // profile's that names its variable; never every profile's (docs/configuration.md).
  const secretEnvName = name ? str(profile['client-secret-env']) : 'OIDC_CRED_CLIENT_SECRET';

  const scopes = words(pick('scope'), /\s+/);
  const ports = words(pick('port'), /[\s,]+/).map((p) => {
    const n = Number(p);
    if (!Number.isInteger(n) || n < 1 || n > 65535) return badValue('port', p, 'must be a TCP port number from 1 to 65535');
    return n;
  });
  const params: Record<string, string> = {};
  for (const kv of list(pick('param'))) {
    const eq = kv.indexOf('=');
    if (eq <= 0) badValue('param', kv, 'must look like KEY=VALUE (login_hint=me@example.com)');
    params[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  const oneOf = (xs: readonly string[]): string => `must be one of ${xs.length > 1 ? `${xs.slice(0, -1).join(', ')} or ${xs[xs.length - 1]}` : xs[0]}`;
  const grant = (str(pick('grant')) ?? 'auto') as Grant;
  if (!GRANTS.includes(grant)) badValue('grant', grant, oneOf(GRANTS));
  const tokenType = str(pick('token-type')) as TokenType | undefined;
  if (tokenType && !TOKEN_TYPES.includes(tokenType)) badValue('token-type', tokenType, oneOf(TOKEN_TYPES));
  const clientAuth = str(pick('client-auth')) as ClientAuthMethod | undefined;
  if (clientAuth && !CLIENT_AUTHS.includes(clientAuth)) badValue('client-auth', clientAuth, oneOf(CLIENT_AUTHS));
  const storage = (str(pick('storage')) ?? 'auto') as Storage;
  if (!STORAGES.includes(storage)) badValue('storage', storage, oneOf(STORAGES));
  const timeout = num(pick('timeout'), 'timeout') ?? 300;
  const minValid = num(pick('min-valid'), 'min-valid') ?? 60;
  if (timeout <= 0) badValue('timeout', String(timeout), 'must be a positive number of seconds');
  if (minValid < 0) badValue('min-valid', String(minValid), 'must not be negative');

  const ownScopes = scopes.length ? scopes : ['openid', 'offline_access'];
  const resources = [...new Set(words(pick('resource'), /\s+/))];
  const shared = sharingProfiles(config, name, { issuer, clientId, params, grant });
  const sessionResources = [...new Set([...resources, ...shared.flatMap((v) => words(v.resource, /\s+/))])].sort();
  const sessionScopes = [...new Set([...ownScopes, ...shared.flatMap((v) => scopesOf(v)), 'offline_access'])].sort();

  return {
    profile: name,
    configFile: config.path,
    issuer,
    clientId,
    clientSecretFile: path('client-secret-file'),
    clientSecretEnv: (name ? undefined : nonEmpty(input.clientSecretFromArgs)) ?? (secretEnvName ? nonEmpty(input.env[secretEnvName]) : undefined),
    clientSecretEnvName: secretEnvName,
    clientAuth,
    scopes: ownScopes,
    audience: str(pick('audience')),
    resources,
    sessionResources,
    sessionScopes,
    params,
    grant,
    ports,
    redirectUri,
    browserCommand: str(pick('browser-command')),
    browserFromEnv: input.flags['browser-command'] === undefined && env('BROWSER') !== undefined,
    noBrowser: pick('no-browser') === true,
    timeout,
    nonInteractive: pick('non-interactive') === true,
    minValid,
    tokenType,
    storage,
    cacheDir: path('cache-dir') ?? defaultCacheDir(input.env, input.home),
    caFile: path('ca-file'),
    verbose: pick('verbose') === true,
    match: profile.match ?? [],
    gitUsername: str(profile['git-username']) ?? 'oauth2',
    dockerUsername: str(profile['docker-username']) ?? 'oauth2accesstoken',
  };
}

/**
 * The other profiles of the config file that share this one's session — one login, one refresh
 * token (docs/multi-api.md): the same issuer, client ID, grant family and extra parameters.
 */
function sharingProfiles(config: ConfigFile, self: string | undefined, me: { issuer: string; clientId: string; params: Record<string, string>; grant: Grant }): ProfileValues[] {
  const cc = (g: unknown): boolean => g === 'client-credentials';
  const same = (a: Record<string, string>, b: Record<string, string>): boolean =>
    Object.keys(a).length === Object.keys(b).length && Object.entries(a).every(([k, v]) => b[k] === v);
  const out: ProfileValues[] = [];
  for (const [n, v] of config.profiles) {
    if (n === self || str(v.issuer) !== me.issuer || str(v['client-id']) !== me.clientId || cc(v.grant) !== cc(me.grant)) continue;
    const params: Record<string, string> = {};
    for (const kv of list(v.param)) {
      const eq = kv.indexOf('=');
      if (eq > 0) params[kv.slice(0, eq)] = kv.slice(eq + 1);
    }
    if (same(params, me.params)) out.push(v);
  }
  return out;
}

function scopesOf(v: ProfileValues): string[] {
  const s = words(v.scope, /\s+/);
  return s.length ? s : ['openid', 'offline_access'];
}

/**
 * Verbosity before a profile is known (flag > environment): `-v`, `--verbose false`,
 * `OIDC_CRED_DEBUG=0` all read as the option table says. Settings.verbose adds the profile.
 */
export function verboseFrom(flags: RawOptions, env: ResolveInput['env']): boolean {
  const flag = flags.verbose;
  if (typeof flag === 'boolean') return flag;
  const v = env.OIDC_CRED_DEBUG;
  return v !== undefined && v !== '' && fromEnv(SPEC_BY_NAME.get('verbose')!, v) === true;
}

/** Environment variables that name a provider or profile: ignored by the git and docker helpers. */
const PROVIDER_ENV: ReadonlySet<string> = new Set(['OIDC_CRED_PROFILE', 'OIDC_CRED_ISSUER', 'OIDC_CRED_CLIENT_ID']);

/** Issuer and client ID given on the command line (or, except for git and docker, the environment) make a profile of their own. */
function hasOwnProvider(input: ResolveInput, env: (key: string) => string | undefined): boolean {
  const issuer = str(input.flags.issuer) ?? env('OIDC_CRED_ISSUER');
  const client = str(input.flags['client-id']) ?? env('OIDC_CRED_CLIENT_ID');
  return !!issuer && !!client;
}

function fromEnv(spec: OptionSpec, value: string): string | number | boolean | string[] {
  switch (spec.type) {
    case 'boolean':
      return !['0', 'false', 'no', 'off'].includes(value.trim().toLowerCase());
    case 'number': {
      const n = Number(value);
      if (value.trim() === '' || !Number.isFinite(n)) throw new UsageError(`${spec.env} must be a number, not "${value}"`, { hint: `see 'oidc-cred --help'` });
      return n;
    }
    case 'array':
      // OIDC_CRED_SCOPE="openid email"; OIDC_CRED_PORT="8000 18000" or "8000,18000".
      return value.split(spec.name === 'port' ? /[\s,]+/ : /\s+/).filter(Boolean);
    default:
      return value;
  }
}

function isLoopback(hostname: string): boolean {
  return ['127.0.0.1', 'localhost', '[::1]', '::1'].includes(hostname) || /^127\.\d+\.\d+\.\d+$/.test(hostname);
}

/** Keys a profile may hold, for "did you mean". */
const CONFIG_KEYS: readonly string[] = [...GLOBAL_OPTIONS.filter((o) => o.inConfig).map((o) => o.name), ...PROFILE_ONLY_KEYS];

/** An errno as one plain sentence, without the path and syscall Node puts into its message. */
function errnoSentence(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  const plain: Record<string, string> = {
    EACCES: 'permission denied',
    EPERM: 'permission denied',
    EISDIR: 'it is a directory, not a file',
    ENOTDIR: 'a part of the path is not a directory',
    ELOOP: 'too many symbolic links',
  };
  return (code && plain[code]) ?? (err instanceof Error ? err.message : String(err));
}

/**
 * JSON.parse says "at position 55"; a person needs the line and column. Node 20 words some
 * errors without a position ("Unexpected end of JSON input"): the end of the text is where.
 */
export function jsonProblem(text: string, err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  const m = / in JSON at position (\d+)/.exec(msg);
  const at = m ? Number(m[1]) : /end of JSON input/.test(msg) ? text.length : undefined;
  let what = msg.replace(/ in JSON at position \d+.*$/, '').replace(/, ".*" is not valid JSON$/, '').replace(/ of JSON input$/, '');
  what = what.charAt(0).toLowerCase() + what.slice(1);
  if (at === undefined) return what;
  const before = text.slice(0, at).split('\n');
  return `line ${before.length}, column ${before[before.length - 1]!.length + 1}: ${what}`;
}

function words(v: unknown, sep: RegExp): string[] {
  return list(v).flatMap((s) => s.split(sep)).filter(Boolean);
}
function list(v: unknown): string[] {
  if (v === undefined) return [];
  return (Array.isArray(v) ? v : [v]).map(String);
}
function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : typeof v === 'number' ? String(v) : undefined;
}
function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v === '' ? undefined : v;
}
function num(v: unknown, key: string): number | undefined {
  if (v === undefined) return undefined;
  const n = typeof v === 'number' ? v : Number(v);
  if (!Number.isFinite(n)) throw new ConfigError(`${key} must be a number`);
  return n;
}
function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
function expandHome(p: string, home: string): string {
  return p === '~' ? home : p.startsWith('~/') ? join(home, p.slice(2)) : p;
}
