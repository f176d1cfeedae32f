// oidc-cred setup git|kube|docker: prints (or with --write applies) the configuration snippet.
import type { RawOptions } from '../config/options.js';
import type { Deps } from '../deps.js';
import { OidcCredError } from '../errors.js';

export async function setup(p: string[], _flags: RawOptions, _deps: Deps): Promise<number> {
  throw new OidcCredError(`setup ${p[1]} is not available yet`);
}
