// kubectl exec credential plugin (SPEC §7, client-go's ExecCredential): KUBERNETES_EXEC_INFO in,
// one ExecCredential JSON object out, in the apiVersion the caller spoke.
import { UsageError } from '../errors.js';

export const KUBE_VERSIONS = ['client.authentication.k8s.io/v1', 'client.authentication.k8s.io/v1beta1'] as const;
export type KubeVersion = (typeof KUBE_VERSIONS)[number];

export interface KubeRequest {
  apiVersion: KubeVersion;
  /** spec.interactive; undefined when KUBERNETES_EXEC_INFO is absent. */
  interactive: boolean | undefined;
  /** spec.cluster.server with provideClusterInfo: true. */
  server: string | undefined;
}

export function parseExecInfo(raw: string | undefined): KubeRequest {
  if (raw === undefined || raw.trim() === '') return { apiVersion: 'client.authentication.k8s.io/v1beta1', interactive: undefined, server: undefined };
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    throw new UsageError('KUBERNETES_EXEC_INFO is not valid JSON');
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new UsageError('KUBERNETES_EXEC_INFO is not a JSON object');
  const o = json as { apiVersion?: unknown; kind?: unknown; spec?: unknown };
  const apiVersion = o.apiVersion ?? 'client.authentication.k8s.io/v1beta1';
  if (typeof apiVersion !== 'string' || !(KUBE_VERSIONS as readonly string[]).includes(apiVersion)) {
    throw new UsageError(`KUBERNETES_EXEC_INFO has apiVersion ${JSON.stringify(apiVersion).slice(0, 80)}; supported: ${KUBE_VERSIONS.join(', ')}`);
  }
  if (o.kind !== undefined && o.kind !== 'ExecCredential') throw new UsageError('KUBERNETES_EXEC_INFO is not an ExecCredential');
  const spec = typeof o.spec === 'object' && o.spec !== null ? (o.spec as { interactive?: unknown; cluster?: unknown }) : {};
  const cluster = typeof spec.cluster === 'object' && spec.cluster !== null ? (spec.cluster as { server?: unknown }) : {};
  return {
    apiVersion: apiVersion as KubeVersion,
    interactive: typeof spec.interactive === 'boolean' ? spec.interactive : undefined,
    server: typeof cluster.server === 'string' && cluster.server ? cluster.server : undefined,
  };
}

export function formatExecCredential(req: KubeRequest, token: string, expiresAt: number): string {
  // RFC 3339 without fractional seconds, as client-go prints it.
  const expirationTimestamp = new Date(Math.floor(expiresAt / 1000) * 1000).toISOString().replace('.000Z', 'Z');
  return `${JSON.stringify({ kind: 'ExecCredential', apiVersion: req.apiVersion, spec: {}, status: { token, expirationTimestamp } })}\n`;
}
