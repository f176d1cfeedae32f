// oidc-cred setup git|kube|docker: prints (or with --write applies) the configuration snippet
// that wires a tool to this program. Each tool's half lives in setup/<tool>.ts.
import type { RawOptions } from '../config/options.js';
import type { Deps } from '../deps.js';
import { UsageError } from '../errors.js';

export async function setup(p: string[], flags: RawOptions, deps: Deps): Promise<number> {
  if (flags.remove === true && flags.write === true) throw new UsageError('--write and --remove do opposite things: give one of them');
  switch (p[1]) {
    case 'git':
      return (await import('./setup/git.js')).setupGit(flags, deps);
    case 'kube':
      return (await import('./setup/kube.js')).setupKube(flags, deps);
    case 'docker':
      return (await import('./setup/docker.js')).setupDocker(flags, deps);
    default:
      throw new UsageError(`setup knows git, kube and docker, not "${p[1]}"`);
  }
}
