// oidc-cred setup git [--profile P] [--write] (issue 3): the git config that hands the profile's
// tokens to git for exactly the URLs the profile matches (docs/configuration.md), and nowhere else.
//
// For each http(s) `match` entry U of the profile it emits, in this order:
//
//   git config --global --replace-all credential.U.helper ''
//   git config --global --add credential.U.helper 'oidc-cred --profile P'
//   git config --global credential.U.useHttpPath true        (only when U has a path)
//
// Why the empty `helper` first: git asks every configured helper in config order and stops at
// the first that answers. A `store`/`osxkeychain`/`manager` helper configured earlier (system or
// global) would otherwise answer with the expired token it stored after the last successful
// fetch, costing one failed fetch an hour. The empty value clears only the helpers matched so far
// for U (gitcredentials(7)); other hosts keep theirs, and a helper added after ours (e.g.
// `cache` in front, docs/git.md) still works. `--replace-all` + `--add` make re-running setup
// idempotent instead of piling up duplicates.
//
// Why `--profile P` in the helper: git runs `git credential-oidc-cred --profile P get` (a helper
// value not starting with `!` or `/` is prefixed with `git credential-`), and an explicit profile
// cannot be out-bid by another profile with a longer overlapping match.
//
// Why useHttpPath: git sends `path=` to helpers only with it (default off for http), and a
// `match` entry with a path can only match a request that carries the path.
import { execFile } from 'node:child_process';
import type { RawOptions } from '../../config/options.js';
import { entryTools } from '../../config/match.js';
import { loadConfigFile } from '../../config/resolve.js';
import type { Deps } from '../../deps.js';
import { childEnv } from '../../infra/browser.js';
import { ConfigError, OidcCredError } from '../../errors.js';

export interface GitConfigLine {
  /** argv after `git` */
  args: string[];
}

/** The git config commands for a profile's match entries (pure: tests and --write share it). */
export function gitSetupCommands(profile: string, match: readonly string[], extraHelperArgs: readonly string[] = []): GitConfigLine[] {
  const helper = ['oidc-cred', ...extraHelperArgs, '--profile', profile].map(shellWord).join(' ');
  const out: GitConfigLine[] = [];
  const seen = new Set<string>();
  for (const entry of match) {
    const target = gitUrl(entry);
    if (!target || seen.has(target.url)) continue;
    seen.add(target.url);
    out.push({ args: ['config', '--global', '--replace-all', `credential.${target.url}.helper`, ''] });
    out.push({ args: ['config', '--global', '--add', `credential.${target.url}.helper`, helper] });
    if (target.hasPath) out.push({ args: ['config', '--global', `credential.${target.url}.useHttpPath`, 'true'] });
  }
  return out;
}

/**
 * A `match` entry as the URL of a git `credential.<url>` section. A bare host (given to git with
 * `"for": ["git"]`) covers https only (docs/docker.md): it becomes https://host.
 * Entries with another scheme (ssh, oci, …) concern other tools and are skipped.
 */
export function gitUrl(entry: string): { url: string; hasPath: boolean } | undefined {
  const raw = entry.trim();
  if (!raw) return undefined;
  const withScheme = raw.includes('://') ? raw : `https://${raw}`;
  let u: URL;
  try {
    u = new URL(withScheme);
  } catch {
    return undefined;
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') return undefined;
  if (u.username || u.password || u.search || u.hash) return undefined;
  const path = u.pathname.replace(/\/+$/, '');
  return { url: `${u.protocol}//${u.host}${path}`, hasPath: path !== '' };
}

/** POSIX shell quoting: git runs a helper string through `sh -c`, and users paste our lines into one. */
export function shellWord(s: string): string {
  if (s === '') return "''";
  if (/^[A-Za-z0-9_./:@%+=,-]+$/.test(s)) return s;
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export async function setupGit(flags: RawOptions, deps: Deps): Promise<number> {
  const config = loadConfigFile({ flags, env: deps.env, home: deps.home, cwd: deps.cwd });
  if (!config.exists) {
    throw new ConfigError(`setup git needs a config file with a profile that has "match" entries, and there is none at ${config.path}`, {
      hint: 'see examples/git/config.json',
    });
  }
  const explicit = typeof flags.profile === 'string' && flags.profile ? flags.profile : deps.env.OIDC_CRED_PROFILE || undefined;
  const name = explicit ?? config.defaultProfile ?? (config.profiles.size === 1 ? [...config.profiles.keys()][0] : undefined);
  if (!name) {
    throw new ConfigError(`config file ${config.path}: no default-profile and several profiles`, {
      hint: `pass --profile (one of ${[...config.profiles.keys()].join(', ')})`,
    });
  }
  const profile = config.profiles.get(name);
  if (!profile) {
    throw new ConfigError(`config file ${config.path}: no profile named "${name}"`, {
      hint: `profiles: ${[...config.profiles.keys()].join(', ') || 'none'}`,
    });
  }
  // A non-default config file must reach the helper too, or git's invocation would not find P.
  const extra = config.explicit ? ['--config', config.path] : [];
  // Only git servers: a registry or an API server in the same profile is not git's (docs/docker.md).
  const urls = (profile.match ?? []).filter((m) => entryTools(m).includes('git')).map((m) => m.url);
  const commands = gitSetupCommands(name, urls, extra);
  if (commands.length === 0) {
    // Never a global `credential.helper`: that would hand this profile's token to every host.
    throw new ConfigError(`config file ${config.path}: profiles.${name}.match: has no git server (an http(s) URL; bare hosts are taken as registries)`, {
      hint: 'add the git server, e.g. "match": ["https://git.example.com/"], or {"url": …, "for": ["git"]}',
    });
  }
  if (flags.remove === true) return removeGit(name, urls, extra, deps);
  for (const c of commands) deps.stdout.write(`git ${c.args.map(shellWord).join(' ')}\n`);
  if (flags.write !== true) {
    deps.log.info(`oidc-cred: nothing was changed; run these commands, or 'oidc-cred setup git --profile ${shellWord(name)} --write' to apply them`);
    return 0;
  }
  // --replace-all drops whatever helpers the section had: say which, since --remove cannot bring them back.
  const helper = ['oidc-cred', ...extra, '--profile', name].map(shellWord).join(' ');
  for (const key of new Set(commands.map((c) => c.args[3]!).filter((k) => k.endsWith('.helper')))) {
    const replaced = (await gitValues(key, deps)).filter((v) => v !== '' && v !== helper);
    if (replaced.length) deps.log.info(`oidc-cred: replaced ${key} = ${replaced.map((v) => JSON.stringify(v)).join(', ')} (note it down: setup git --remove cannot restore it)`);
  }
  for (const c of commands) await runGit(c.args, deps);
  deps.log.info(`oidc-cred: wrote ${commands.length} settings to your global git config for profile "${name}"`);
  return 0;
}

/** `setup git --remove`: takes out the helper lines --write added for the profile's git servers, and nothing else. */
async function removeGit(name: string, urls: string[], extra: string[], deps: Deps): Promise<number> {
  const helper = ['oidc-cred', ...extra, '--profile', name].map(shellWord).join(' ');
  let removed = 0;
  for (const entry of urls) {
    const target = gitUrl(entry);
    if (!target) continue;
    const key = `credential.${target.url}.helper`;
    const values = await gitValues(key, deps);
    if (!values.includes(helper)) continue;
    const rest = values.filter((v) => v !== helper);
    // Ours was the whole section ('' then ours, as --write leaves it): the section goes.
    if (rest.every((v) => v === '')) await runGit(['config', '--global', '--unset-all', key], deps);
    else await runGit(['config', '--global', '--unset', key, `^${helper.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`], deps);
    removed++;
    if (target.hasPath && (await gitValues(`credential.${target.url}.useHttpPath`, deps)).join() === 'true') {
      await runGit(['config', '--global', '--unset', `credential.${target.url}.useHttpPath`], deps);
    }
    deps.log.info(`oidc-cred: removed ${key} = ${JSON.stringify(helper)}`);
  }
  if (!removed) deps.log.info(`oidc-cred: nothing to remove: no git server of profile "${name}" runs oidc-cred in your global git config`);
  return 0;
}

/** The values of a multi-valued key in the global git config ([] when unset). */
function gitValues(key: string, deps: Deps): Promise<string[]> {
  return new Promise((resolve) => {
    execFile('git', ['config', '--global', '--get-all', key], { env: childEnv(deps.env) as NodeJS.ProcessEnv, cwd: deps.cwd, timeout: 30_000 }, (err, stdout) => {
      resolve(err ? [] : String(stdout).replace(/\n$/, '').split('\n'));
    });
  });
}

/** Runs git with an argv array, never through a shell. */
function runGit(args: string[], deps: Deps): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('git', args, { env: childEnv(deps.env) as NodeJS.ProcessEnv, cwd: deps.cwd, timeout: 30_000 }, (err, _stdout, stderr) => {
      if (!err) return resolve();
      const why = String(stderr).trim().split('\n')[0] || err.message;
      reject(new OidcCredError(`git ${args.slice(0, 4).join(' ')} failed: ${why}`, { cause: err }));
    });
  });
}
