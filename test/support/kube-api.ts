// A stand-in Kubernetes API server for the kube tests: HTTPS on 127.0.0.1 (client-go hands exec
// credentials only to TLS servers) with a throwaway self-signed certificate made here,
// verifying the bearer token as an API server's OIDC authenticator does (signature from the
// provider's JWKS, iss, aud = client ID, exp). Answers GET /version; 401 for anything else.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRemoteJWKSet, jwtVerify } from 'jose';

export interface KubeApi {
  /** https://127.0.0.1:<port> */
  readonly server: string;
  /** PEM of the self-signed certificate */
  readonly caPem: string;
  readonly counts: { requests: number; authorized: number; rejected: number };
  /** `sub` of every verified token, in order */
  readonly subjects: string[];
  /** every bearer token the server verified (to compare with what the plugin printed) */
  readonly tokens: string[];
  resetCounts(): void;
  close(): Promise<void>;
}

export interface KubeApiOptions {
  issuer: string;
  /** The audience the API server expects (the OIDC client ID). */
  clientId: string;
}

export async function startKubeApi(opts: KubeApiOptions): Promise<KubeApi> {
  const dir = mkdtempSync(join(tmpdir(), 'oidc-cred-kube-api-'));
  const key = join(dir, 'key.pem');
  const cert = join(dir, 'cert.pem');
  try {
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert],
      { stdio: ['ignore', 'ignore', 'pipe'], timeout: 20_000 },
    );
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const caPem = readFileSync(cert, 'utf8');
  const keyPem = readFileSync(key, 'utf8');
  rmSync(dir, { recursive: true, force: true });

  const jwks = createRemoteJWKSet(new URL(`${opts.issuer}/jwks`));
  const counts = { requests: 0, authorized: 0, rejected: 0 };
  const subjects: string[] = [];
  const tokens: string[] = [];

  const server: Server = createServer({ key: keyPem, cert: caPem }, (req, res) => {
    counts.requests++;
    const deny = (why: string): void => {
      counts.rejected++;
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', message: `Unauthorized: ${why}`, reason: 'Unauthorized', code: 401 }));
    };
    const m = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '');
    if (!m) return deny('no bearer token');
    const token = m[1]!;
    jwtVerify(token, jwks, { issuer: opts.issuer, audience: opts.clientId }).then(
      ({ payload }) => {
        if (req.method !== 'GET' || new URL(req.url ?? '/', 'https://127.0.0.1').pathname !== '/version') {
          // Only /version exists; a real API server would 403/404 here. 401 keeps it simple.
          return deny('not found');
        }
        counts.authorized++;
        subjects.push(String(payload.sub));
        tokens.push(token);
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ major: '1', minor: '32', gitVersion: 'v1.32.0-oidc-cred-test', platform: 'linux/amd64' }));
      },
      () => deny('token did not verify'),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    server: `https://127.0.0.1:${port}`,
    caPem,
    counts,
    subjects,
    tokens,
    resetCounts: () => {
      counts.requests = counts.authorized = counts.rejected = 0;
      subjects.length = 0;
      tokens.length = 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface KubeconfigUser {
  apiVersion: 'client.authentication.k8s.io/v1' | 'client.authentication.k8s.io/v1beta1';
  command: string;
  args: string[];
  env?: Record<string, string>;
  provideClusterInfo?: boolean;
}

/** A kubeconfig (JSON is YAML) with one cluster, one user, one context; returns its path. */
export function writeKubeconfig(dir: string, api: KubeApi, user: KubeconfigUser, name = 'kubeconfig'): string {
  const file = join(dir, name);
  const exec: Record<string, unknown> = {
    apiVersion: user.apiVersion,
    command: user.command,
    args: user.args,
    interactiveMode: 'IfAvailable',
    provideClusterInfo: user.provideClusterInfo ?? true,
  };
  if (user.env) exec.env = Object.entries(user.env).map(([k, v]) => ({ name: k, value: v }));
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'test', cluster: { server: api.server, 'certificate-authority-data': Buffer.from(api.caPem).toString('base64') } }],
    users: [{ name: 'oidc', user: { exec } }],
    contexts: [{ name: 'test', context: { cluster: 'test', user: 'oidc' } }],
    'current-context': 'test',
  };
  writeFileSync(file, JSON.stringify(config, null, 2), { mode: 0o600 });
  return file;
}
