import type { RawOptions } from '../../config/options.js';
import type { Deps } from '../../deps.js';
import { OidcCredError } from '../../errors.js';

export async function setupGit(_flags: RawOptions, _deps: Deps): Promise<number> {
  throw new OidcCredError('setup git is not available yet');
}
