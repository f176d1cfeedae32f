// oidc-cred setup docker [--profile P] [--write] (docs/docker.md): the `credHelpers` entries that
// send docker to docker-credential-oidc-cred for each registry a profile matches. Printed on stdout;
// with --write merged into $DOCKER_CONFIG/config.json (else ~/.docker/config.json) without
// disturbing anything else in that file: other keys, other helpers and credsStore are kept.
import { mkdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import type { RawOptions } from '../../config/options.js';
import { loadConfigFile } from '../../config/resolve.js';
import type { Deps } from '../../deps.js';
import { ConfigError, OidcCredError } from '../../errors.js';
import { entryTools, registryKey } from '../../config/match.js';
import { writeAtomic } from '../../infra/atomic.js';

/** docker runs `docker-credential-<this>`. */
export const HELPER = 'oidc-cred';
/** The registry key docker looks up for a `match` entry: its host[:port] (Docker Hub: its URL). */
export { registryKey };

export function dockerConfigPath(env: Readonly<Record<string, string | undefined>>, home: string, cwd: string): string {
  const dir = env.DOCKER_CONFIG ? (isAbsolute(env.DOCKER_CONFIG) ? env.DOCKER_CONFIG : resolve(cwd, env.DOCKER_CONFIG)) : join(home, '.docker');
  return join(dir, 'config.json');
}

/** The credHelpers entries for --profile, or for every profile when none is named. */
export function credHelpersFor(flags: RawOptions, deps: Pick<Deps, 'env' | 'home' | 'cwd'>): Record<string, string> {
  const config = loadConfigFile({ flags, env: deps.env, home: deps.home, cwd: deps.cwd });
  const only = typeof flags.profile === 'string' && flags.profile ? flags.profile : deps.env.OIDC_CRED_PROFILE || undefined;
  if (only && !config.profiles.has(only)) {
    throw new ConfigError(config.exists ? `config file ${config.path}: no profile named "${only}"` : `profile "${only}" was asked for, but there is no config file at ${config.path}`);
  }
  const out: Record<string, string> = {};
  for (const [name, profile] of config.profiles) {
    if (only && name !== only) continue;
    // Only registries: the git server and the API server of the same profile are not docker's.
    for (const m of profile.match ?? []) {
      if (!entryTools(m).includes('docker')) continue;
      const key = registryKey(m);
      if (key) out[key] = HELPER;
    }
  }
  if (!Object.keys(out).length) {
    const why = only
      ? `profile "${only}" has no "match" entry for docker`
      : config.exists
        ? `no profile of ${config.path} has a "match" entry for docker`
        : `there is no config file at ${config.path}`;
    throw new ConfigError(`no registry to set up: ${why}`, {
      hint: 'add the registry host names to "match", e.g. "match": ["registry.example.com"], or {"url": …, "for": ["docker"]} (docs/docker.md)',
    });
  }
  return out;
}

export async function setupDocker(flags: RawOptions, deps: Deps): Promise<number> {
  const helpers = credHelpersFor(flags, deps);
  deps.stdout.write(`${JSON.stringify({ credHelpers: helpers }, null, 2)}\n`);
  const file = dockerConfigPath(deps.env, deps.home, deps.cwd);
  if (flags.remove === true) {
    const removed = mergeDockerConfig(file, helpers, true);
    for (const [host] of removed) deps.log.info(`oidc-cred: removed credHelpers "${host}": "${HELPER}" from ${file}`);
    if (!removed.length) deps.log.info(`oidc-cred: nothing to remove: no registry of the profile uses oidc-cred in ${file}`);
    return 0;
  }
  if (flags.write !== true) {
    deps.log.info(`oidc-cred: merge this into ${file}, or run 'oidc-cred setup docker --write'`);
    return 0;
  }
  const replaced = mergeDockerConfig(file, helpers);
  for (const [host, was] of replaced) deps.log.info(`oidc-cred: ${host} used the credential helper "${was}"; it now uses "${HELPER}"`);
  deps.log.info(`oidc-cred: wrote ${Object.keys(helpers).length} credHelpers entr${Object.keys(helpers).length === 1 ? 'y' : 'ies'} to ${file}`);
  return 0;
}

/**
 * Merges `helpers` into credHelpers of the docker config file; returns the entries that pointed
 * elsewhere. With `remove` (setup docker --remove), takes out those entries that still name our
 * helper instead, and returns them; everything else in the file stays as it was.
 */
export function mergeDockerConfig(path: string, helpers: Record<string, string>, remove = false): Array<[string, string]> {
  let file = path;
  try {
    // A config.json that is a symlink (dotfiles) is updated where it points, not replaced by a file.
    file = realpathSync(path);
  } catch {
    // absent: created below
  }
  let text: string | undefined;
  let mode = 0o600;
  try {
    text = readFileSync(file, 'utf8');
    mode = statSync(file).mode & 0o777;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new OidcCredError(`cannot read the docker config ${file}`, { cause: err });
  }
  let config: Record<string, unknown> = {};
  if (text !== undefined && text.trim() !== '') {
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch (err) {
      throw new ConfigError(`the docker config ${file} is not valid JSON; it was left untouched`, { cause: err });
    }
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ConfigError(`the docker config ${file} is not a JSON object; it was left untouched`);
    config = v as Record<string, unknown>;
  }
  const existing = config.credHelpers;
  if (existing !== undefined && (typeof existing !== 'object' || existing === null || Array.isArray(existing))) {
    throw new ConfigError(`the docker config ${file}: "credHelpers" is not an object; it was left untouched`);
  }
  const merged: Record<string, unknown> = { ...(existing as Record<string, unknown> | undefined) };
  if (remove) {
    const removed = Object.entries(helpers).filter(([host, helper]) => merged[host] === helper);
    if (!removed.length) return [];
    for (const [host] of removed) delete merged[host];
    const rest: Record<string, unknown> = { ...config, credHelpers: merged };
    if (!Object.keys(merged).length) delete rest.credHelpers;
    writeConfig(file, `${JSON.stringify(rest, null, '\t')}\n`, mode);
    return removed;
  }
  const replaced: Array<[string, string]> = [];
  for (const [host, helper] of Object.entries(helpers)) {
    if (typeof merged[host] === 'string' && merged[host] !== helper) replaced.push([host, merged[host] as string]);
    merged[host] = helper;
  }
  // Docker writes this file indented with tabs; so do we. Key order is kept (credHelpers stays in place).
  const next = { ...config, credHelpers: merged };
  writeConfig(file, `${JSON.stringify(next, null, '\t')}\n`, mode);
  return replaced;
}

/** Atomic (docker never reads half a file), in a directory created 0700 if it is new. */
function writeConfig(file: string, content: string, mode: number): void {
  try {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    writeAtomic(file, content, mode);
  } catch (err) {
    throw new OidcCredError(`cannot write the docker config ${file}`, { cause: err });
  }
}
