import type { RawOptions } from '../../config/options.js';
import type { Deps } from '../../deps.js';
import { OidcCredError } from '../../errors.js';

export async function setupDocker(_flags: RawOptions, _deps: Deps): Promise<number> {
  throw new OidcCredError('setup docker is not available yet');
}
