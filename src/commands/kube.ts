// kubectl exec credential plugin (SPEC §7).
import type { RawOptions } from '../config/options.js';
import type { Deps } from '../deps.js';
import { answerTokenCommand } from './answer.js';

export function kube(_p: string[], flags: RawOptions, deps: Deps): Promise<number> {
  return answerTokenCommand(['kube'], flags, deps);
}
