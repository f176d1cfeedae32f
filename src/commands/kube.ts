// kubectl exec credential plugin (docs/kubernetes.md): `oidc-cred kube`, alias `get-token`.
import type { RawOptions } from '../config/options.js';
import type { Deps } from '../deps.js';
import { answerTokenCommand } from './answer.js';

export async function kube(_p: string[], flags: RawOptions, deps: Deps): Promise<number> {
  return (await answerTokenCommand(['kube'], flags, deps)) ?? 2;
}
