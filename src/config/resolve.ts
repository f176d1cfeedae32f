// Which settings serve a request (SPEC §3, §4): flag > environment > profile > default.
// Pure apart from reading the config file, so that the hot path can use it: no yargs here.
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve as resolvePath } from 'node:path';
import { ConfigError, NoMatchingProfile } from '../errors.js';
import { bestMatch, entryProblem, TOOLS, type MatchEntry, type Tool } from './match.js';
import {
  CLIENT_AUTHS,
  GLOBAL_OPTIONS,
  GRANTS,
  PROFILE_ONLY_KEYS,
  TOKEN_TYPES,
  type ClientAuthMethod,
  type Grant,
  type OptionSpec,
  type RawOptions,
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
  /** The secret itself from OIDC_CRED_CLIENT_SECRET; kept off the enumerable surface by callers. */
  clientSecretEnv: string | undefined;
  /** --client-auth; undefined = decided from the provider's token_endpoint_auth_methods_supported. */
  clientAuth: ClientAuthMethod | undefined;
  scopes: string[];
  audience: string | undefined;
  params: Record<string, string>;
  grant: Grant;
  ports: number[];
  redirectUri: string | undefined;
  browserCommand: string | undefined;
  noBrowser: boolean;
  timeout: number;
  nonInteractive: boolean;
  minValid: number;
  tokenType: TokenType | undefined;
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
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' && !given) return empty;
    throw new ConfigError(`cannot read config file ${path}`, { cause: err });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`config file ${path} is not valid JSON`, { cause: err });
  }
  return { ...validateConfig(json, path), path, explicit: !!given, exists: true };
}

function validateConfig(json: unknown, path: string): Pick<ConfigFile, 'defaultProfile' | 'profiles'> {
  const fail = (key: string, what: string): never => {
    throw new ConfigError(`config file ${path}: ${key}: ${what}`);
  };
  if (!isObject(json)) return fail('(top level)', 'must be a JSON object');
  for (const k of Object.keys(json)) {
    if (!['$schema', 'default-profile', 'profiles'].includes(k)) fail(k, 'unknown key (expected "default-profile" or "profiles")');
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
        else values[key] = value;
        continue;
      }
      if (!spec || !spec.inConfig) {
        fail(`${at}.${key}`, spec ? 'is not allowed in a config file' : 'unknown key (keys are the long flag names, e.g. "client-id")');
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

/** Picks the profile (SPEC §4) and layers flag > env > profile > default. */
export function resolveSettings(input: ResolveInput): Settings {
  const config = loadConfigFile(input);
  const explicit = str(input.flags.profile) ?? nonEmpty(input.env.OIDC_CRED_PROFILE);
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
    if (!name && input.purpose !== 'kube') {
      // git and docker: a request no profile claims is not ours, unless the command line or the
      // environment alone say which provider to use (credential.<url>.helper scoped by git).
      if (!hasOwnProvider(input)) throw new NoMatchingProfile(`no profile matches ${input.url}`);
    }
  }
  if (!name && !hasOwnProvider(input)) {
    name = config.defaultProfile ?? (config.profiles.size === 1 ? [...config.profiles.keys()][0] : undefined);
  }
  const profile: ProfileValues = name ? config.profiles.get(name)! : {};
  const baseDir = dirname(config.path);

  const pick = (key: string): string | number | boolean | string[] | undefined => {
    const flag = input.flags[key];
    if (flag !== undefined) return flag;
    const spec = SPEC_BY_NAME.get(key);
    const envValue = spec?.env ? input.env[spec.env] : undefined;
    if (spec && envValue !== undefined && envValue !== '') return fromEnv(spec, envValue);
    return profile[key];
  };
  // Paths from the config file are relative to it; paths from flags relative to the cwd.
  const path = (key: string): string | undefined => {
    const v = str(pick(key));
    if (v === undefined) return undefined;
    const fromProfile = input.flags[key] === undefined && profile[key] !== undefined;
    return resolvePath(fromProfile ? baseDir : input.cwd, expandHome(v, input.home));
  };

  const issuer = str(pick('issuer'));
  const clientId = str(pick('client-id'));
  const where = name ? `profile "${name}" of ${config.path}` : 'the command line and environment';
  if (!issuer) throw new ConfigError(`no issuer configured in ${where}`, { hint: 'pass --issuer URL, set OIDC_CRED_ISSUER, or add a profile to the config file' });
  if (!clientId) throw new ConfigError(`no client ID configured in ${where}`, { hint: 'pass --client-id, set OIDC_CRED_CLIENT_ID, or add "client-id" to the profile' });

  const scopes = words(pick('scope'), /\s+/);
  const ports = words(pick('port'), /[\s,]+/).map((p) => {
    const n = Number(p);
    if (!Number.isInteger(n) || n < 1 || n > 65535) throw new ConfigError(`port "${p}" is not a TCP port number`);
    return n;
  });
  const params: Record<string, string> = {};
  for (const kv of list(pick('param'))) {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new ConfigError(`--param "${kv}" must look like KEY=VALUE`);
    params[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  const grant = (str(pick('grant')) ?? 'auto') as Grant;
  if (!GRANTS.includes(grant)) throw new ConfigError(`grant "${grant}" is not one of ${GRANTS.join(', ')}`);
  const tokenType = str(pick('token-type')) as TokenType | undefined;
  if (tokenType && !TOKEN_TYPES.includes(tokenType)) throw new ConfigError(`token-type "${tokenType}" is not one of ${TOKEN_TYPES.join(', ')}`);
  const clientAuth = str(pick('client-auth')) as ClientAuthMethod | undefined;
  if (clientAuth && !CLIENT_AUTHS.includes(clientAuth)) throw new ConfigError(`client-auth "${clientAuth}" is not one of ${CLIENT_AUTHS.join(', ')}`);
  const timeout = num(pick('timeout'), 'timeout') ?? 300;
  const minValid = num(pick('min-valid'), 'min-valid') ?? 60;
  if (timeout <= 0) throw new ConfigError('timeout must be a positive number of seconds');
  if (minValid < 0) throw new ConfigError('min-valid must not be negative');

  return {
    profile: name,
    configFile: config.path,
    issuer,
    clientId,
    clientSecretFile: path('client-secret-file'),
    clientSecretEnv: nonEmpty(input.clientSecretFromArgs) ?? nonEmpty(input.env.OIDC_CRED_CLIENT_SECRET),
    clientAuth,
    scopes: scopes.length ? scopes : ['openid', 'offline_access'],
    audience: str(pick('audience')),
    params,
    grant,
    ports,
    redirectUri: str(pick('redirect-uri')),
    browserCommand: str(pick('browser-command')),
    noBrowser: pick('no-browser') === true,
    timeout,
    nonInteractive: pick('non-interactive') === true,
    minValid,
    tokenType,
    cacheDir: path('cache-dir') ?? defaultCacheDir(input.env, input.home),
    caFile: path('ca-file'),
    verbose: pick('verbose') === true,
    match: profile.match ?? [],
    gitUsername: str(profile['git-username']) ?? 'oauth2',
    dockerUsername: str(profile['docker-username']) ?? 'oauth2accesstoken',
  };
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

/** Issuer and client ID given on the command line or in the environment make a profile of their own. */
function hasOwnProvider(input: ResolveInput): boolean {
  const issuer = str(input.flags.issuer) ?? nonEmpty(input.env.OIDC_CRED_ISSUER);
  const client = str(input.flags['client-id']) ?? nonEmpty(input.env.OIDC_CRED_CLIENT_ID);
  return !!issuer && !!client;
}

function fromEnv(spec: OptionSpec, value: string): string | number | boolean | string[] {
  switch (spec.type) {
    case 'boolean':
      return !['0', 'false', 'no', 'off'].includes(value.trim().toLowerCase());
    case 'number': {
      const n = Number(value);
      if (value.trim() === '' || !Number.isFinite(n)) throw new ConfigError(`${spec.env}="${value}" is not a number`);
      return n;
    }
    case 'array':
      // OIDC_CRED_SCOPE="openid email"; OIDC_CRED_PORT="8000 18000" or "8000,18000".
      return value.split(spec.name === 'port' ? /[\s,]+/ : /\s+/).filter(Boolean);
    default:
      return value;
  }
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
