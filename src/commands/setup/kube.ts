// oidc-cred setup kube [--profile P] [--cluster NAME] [--write] (README.md, "Commands", issue 4): the kubeconfig
// `users` entry that makes kubectl (and every client-go program) run `oidc-cred kube`, and the
// `kubectl config set-credentials` command that writes it. --write lets kubectl itself edit the
// kubeconfig, so that everything else in the file stays exactly as it was.
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { delimiter, dirname, join, resolve } from 'node:path';
import type { RawOptions } from '../../config/options.js';
import { loadConfigFile, resolveSettings } from '../../config/resolve.js';
import { readSession } from '../../cache/store.js';
import { escapeControls } from '../../infra/log.js';
import { environment } from '../../session/index.js';
import { decodeJwt, sessionPaths } from '../../session/read.js';
import type { Deps } from '../../deps.js';
import { childEnv } from '../../infra/browser.js';
import { ConfigError, OidcCredError, UsageError } from '../../errors.js';

export const EXEC_API_VERSION = 'client.authentication.k8s.io/v1';

export interface KubeSetup {
  user: string;
  /** kubectl argv (without "kubectl") for the user entry, and for the context when --cluster is given. */
  commands: string[][];
  yaml: string;
}

/** A kubeconfig name: what kubectl accepts without surprises. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9._@:/-]{0,252}$/;

export function kubeSetup(profile: string | undefined, cluster: string | undefined): KubeSetup {
  if (profile !== undefined && !NAME.test(profile)) throw new UsageError(`--profile "${profile.slice(0, 40)}" is not a usable kubeconfig name`);
  if (cluster !== undefined && !NAME.test(cluster)) throw new UsageError(`--cluster "${cluster.slice(0, 40)}" is not a usable kubeconfig name`);
  const user = profile ? `oidc-cred-${profile}` : 'oidc-cred';
  // Without --profile the cluster's server picks the profile (docs/configuration.md), thanks to provideClusterInfo.
  const args = profile ? ['kube', '--profile', profile] : ['kube'];
  const commands: string[][] = [
    [
      'config',
      'set-credentials',
      user,
      `--exec-api-version=${EXEC_API_VERSION}`,
      '--exec-command=oidc-cred',
      ...args.map((a) => `--exec-arg=${a}`),
      '--exec-interactive-mode=IfAvailable',
      '--exec-provide-cluster-info=true',
    ],
  ];
  if (cluster) commands.push(['config', 'set-context', cluster, `--cluster=${cluster}`, `--user=${user}`]);
  const yaml = [
    'users:',
    `- name: ${user}`,
    '  user:',
    '    exec:',
    `      apiVersion: ${EXEC_API_VERSION}`,
    '      command: oidc-cred',
    '      args:',
    ...args.map((a) => `      - ${a}`),
    '      interactiveMode: IfAvailable',
    '      provideClusterInfo: true',
    ...(cluster ? ['contexts:', `- name: ${cluster}`, '  context:', `    cluster: ${cluster}`, `    user: ${user}`] : []),
  ].join('\n');
  return { user, commands, yaml };
}

/** For display only: the command is run as an argv array, never through a shell. */
export function shellQuote(a: string): string {
  return /^[A-Za-z0-9._@%+=:,/-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`;
}

/** The kubeconfig kubectl would write to: the first path of $KUBECONFIG, else ~/.kube/config. */
export function kubeconfigPath(env: Deps['env'], home: string, cwd: string): string {
  const first = (env.KUBECONFIG ?? '').split(delimiter).find((p) => p.trim() !== '');
  return first ? resolve(cwd, first) : join(home, '.kube', 'config');
}

export async function setupKube(flags: RawOptions, deps: Deps): Promise<number> {
  const profile = typeof flags.profile === 'string' && flags.profile ? flags.profile : deps.env.OIDC_CRED_PROFILE || undefined;
  const cluster = typeof flags.cluster === 'string' && flags.cluster ? flags.cluster : undefined;
  if (profile) {
    const config = loadConfigFile({ flags, env: deps.env, home: deps.home, cwd: deps.cwd });
    if (!config.profiles.has(profile)) {
      throw new ConfigError(config.exists ? `config file ${config.path}: no profile named "${profile}"` : `profile "${profile}" was asked for, but there is no config file at ${config.path}`);
    }
  }
  const s = kubeSetup(profile, cluster);
  if (flags.remove === true) return removeKube(s.user, cluster, deps);
  const write = flags.write === true;
  // A context for a cluster the kubeconfig does not have would point nowhere: a name that is not
  // among the clusters it has is a typo, refused with the names. A kubeconfig with no cluster at
  // all is being set up (the README's quick start adds the cluster next): a note, not a refusal.
  let missing = false;
  if (cluster) {
    const known = await clusterNames(deps);
    if (known?.length && !known.includes(cluster)) {
      throw new UsageError(`--cluster "${cluster}" is not a cluster of your kubeconfig`, { hint: `clusters: ${known.join(', ')}` });
    }
    missing = known !== undefined && known.length === 0;
  }
  const commands = s.commands.map((c) => ['kubectl', ...c].map(shellQuote).join(' '));
  // With --write the commands below are what is done; without it, the entry to merge by hand or the commands to run.
  const out = write
    ? ['# kubeconfig entry, written by these commands:', ...commands, '', s.yaml, '']
    : ['# kubeconfig entry (merge into your kubeconfig):', s.yaml, '', '# or let kubectl write it:', ...commands, ''];
  deps.stdout.write(out.join('\n'));
  const seen = apiServerView(flags, deps);
  if (seen) deps.stdout.write(seen);
  if (!write) {
    deps.log.info(`oidc-cred: nothing was changed; run 'oidc-cred setup kube${profile ? ` --profile ${profile}` : ''}${cluster ? ` --cluster ${cluster}` : ''} --write' to apply it`);
    return 0;
  }

  const file = kubeconfigPath(deps.env, deps.home, deps.cwd);
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  for (const c of s.commands) await kubectl(['--kubeconfig', file, ...c], deps);
  deps.log.info(`oidc-cred: wrote user "${s.user}"${cluster ? ` and context "${cluster}"` : ''} to ${file}`);
  if (missing) deps.log.info(`oidc-cred: note: your kubeconfig has no cluster "${cluster}" yet; add it: kubectl config set-cluster ${shellQuote(cluster!)} --server=https://…`);
  deps.log.info(
    cluster
      ? `oidc-cred: to use it, run: kubectl config use-context ${shellQuote(cluster)}`
      : `oidc-cred: to use it, give a context this user: kubectl config set-context --current --user=${shellQuote(s.user)} (or run setup kube again with --cluster NAME)`,
  );
  return 0;
}

/**
 * After a login: what the API server will see in the cached ID token — the claims it reads, the
 * username the example flags derive (docs/kubernetes.md: `--oidc-username-claim=email`,
 * `--oidc-username-prefix=oidc:`), and a ClusterRoleBinding for that user. Nothing without a
 * cached session; never a token, only claims, escaped.
 */
export function apiServerView(flags: RawOptions, deps: Deps): string | undefined {
  let claims: Record<string, unknown> | undefined;
  let profile: string | undefined;
  try {
    const st = resolveSettings({ flags, env: deps.env, home: deps.home, cwd: deps.cwd, purpose: 'other' });
    profile = st.profile;
    const { key, paths } = sessionPaths(st, environment(deps));
    const r = readSession(paths.file, key);
    if ('session' in r) claims = decodeJwt(r.session.id_token);
  } catch {
    return undefined;
  }
  if (!claims) return undefined;
  const text = (v: unknown): string => escapeControls(typeof v === 'string' ? v : JSON.stringify(v));
  const lines = [`# What the API server will see in your ID token${profile ? ` (profile ${profile})` : ''}:`];
  for (const k of ['iss', 'aud', 'sub', 'email', 'email_verified', 'groups']) if (claims[k] !== undefined) lines.push(`#   ${k}: ${text(claims[k])}`);
  const email = typeof claims.email === 'string' ? claims.email : undefined;
  const sub = typeof claims.sub === 'string' ? claims.sub : undefined;
  if (!email) {
    lines.push('# The token has no "email" claim, which the example flags take the username from: add the "email" scope to the profile (docs/kubernetes.md),');
    lines.push(`# or use --oidc-username-claim=sub${sub ? `, which makes the username oidc:${text(sub)}` : ''}.`);
  }
  const user = email ? `oidc:${email}` : sub ? `oidc:${sub}` : undefined;
  if (!user) return `${lines.join('\n')}\n`;
  if (email) lines.push(`# With --oidc-username-claim=email --oidc-username-prefix=oidc: the username is ${text(user)}; \`kubectl auth whoami\` shows it.`);
  const name = `oidc-${user.slice(5).toLowerCase().replace(/[^a-z0-9.-]+/g, '-').replace(/^[-.]+|[-.]+$/g, '').slice(0, 50) || 'user'}-view`;
  lines.push('# A binding that lets that user read the cluster (kubectl apply -f -):', 'apiVersion: rbac.authorization.k8s.io/v1', 'kind: ClusterRoleBinding', 'metadata:', `  name: ${name}`, 'roleRef:', '  apiGroup: rbac.authorization.k8s.io', '  kind: ClusterRole', '  name: view', 'subjects:', '- apiGroup: rbac.authorization.k8s.io', '  kind: User', `  name: ${JSON.stringify(escapeControls(user))}`);
  return `\n${lines.join('\n')}\n`;
}

/**
 * `setup kube --remove`: the user entry --write added, and the context named by --cluster when it
 * is the one --write made (it uses that user); the clusters and every other entry stay.
 */
async function removeKube(user: string, cluster: string | undefined, deps: Deps): Promise<number> {
  const file = kubeconfigPath(deps.env, deps.home, deps.cwd);
  const users = (await kubectlOut(['--kubeconfig', file, 'config', 'view', '-o', 'jsonpath={.users[*].name}'], deps)) ?? '';
  let removed = 0;
  if (cluster) {
    const ctxUser = await kubectlOut(['--kubeconfig', file, 'config', 'view', '-o', `jsonpath={.contexts[?(@.name=="${cluster}")].context.user}`], deps);
    if (ctxUser?.trim() === user) {
      await kubectl(['--kubeconfig', file, 'config', 'delete-context', cluster], deps);
      deps.log.info(`oidc-cred: removed context "${cluster}" from ${file}`);
      removed++;
    }
  }
  if (users.split(/\s+/).includes(user)) {
    await kubectl(['--kubeconfig', file, 'config', 'delete-user', user], deps);
    deps.log.info(`oidc-cred: removed user "${user}" from ${file}`);
    removed++;
  }
  if (!removed) deps.log.info(`oidc-cred: nothing to remove: ${file} has no user "${user}"`);
  return 0;
}

function kubectlOut(args: string[], deps: Deps): Promise<string | undefined> {
  return new Promise((resolvePromise) => {
    const child = spawn('kubectl', args, { stdio: ['ignore', 'pipe', 'ignore'], env: childEnv(deps.env) as NodeJS.ProcessEnv });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
    child.on('error', () => resolvePromise(undefined));
    child.on('close', (code) => resolvePromise(code === 0 ? out : undefined));
  });
}

/** The cluster names of the kubeconfig kubectl reads ($KUBECONFIG, merged); undefined when kubectl cannot tell. */
function clusterNames(deps: Deps): Promise<string[] | undefined> {
  return new Promise((resolvePromise) => {
    const child = spawn('kubectl', ['config', 'get-clusters'], { stdio: ['ignore', 'pipe', 'ignore'], env: childEnv(deps.env) as NodeJS.ProcessEnv });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
    child.on('error', () => resolvePromise(undefined));
    child.on('close', (code) => resolvePromise(code === 0 ? out.split('\n').slice(1).map((l) => l.trim()).filter(Boolean) : undefined));
  });
}

function kubectl(args: string[], deps: Deps): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    // stdout of kubectl ("User … set.") is for people: stderr. stdout holds the snippet only.
    const child = spawn('kubectl', args, { stdio: ['ignore', 'pipe', 'pipe'], env: childEnv(deps.env) as NodeJS.ProcessEnv });
    let err = '';
    child.stdout.on('data', (d: Buffer) => deps.stderr.write(d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (err += d.toString('utf8')));
    child.on('error', (e) => reject(new OidcCredError('could not run kubectl to write the kubeconfig', { cause: e, hint: 'install kubectl, or paste the entry above into your kubeconfig' })));
    child.on('close', (code) => {
      if (code === 0) resolvePromise();
      else reject(new OidcCredError(`kubectl ${args.slice(2, 4).join(' ')} failed (exit ${code})`, { cause: err.trim() || undefined }));
    });
  });
}
