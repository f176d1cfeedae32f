// A small container registry on 127.0.0.1 for the docker tests: the distribution API's `/v2/`,
// one image manifest and its config blob, behind either a Basic challenge or a Bearer
// token-service challenge (the two schemes docker, skopeo and podman meet in the wild), over
// plain http or over https with a throwaway self-signed certificate made by openssl.
//
// It accepts only access tokens the test provider accepts, asked at its userinfo endpoint — the
// way test/support/git.ts's server (demo/git-server.ts) checks git's tokens — so a test cannot
// pass with a made-up or expired secret. Nothing is written to stdout.
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export type Challenge = 'basic' | 'bearer';

export interface RegistryOptions {
  /** Says whether an access token is valid: e.g. `(t) => provider.userinfo(t)`; null = no. */
  verify(token: string): Promise<unknown>;
  challenge: Challenge;
  tls?: boolean;
}

export interface RegistryCounts {
  /** every HTTP request */
  requests: number;
  /** 401 answers */
  challenged: number;
  /** manifest or blob requests that were answered 200 */
  served: number;
  /** user names sent with an accepted token (Basic, or to the token service) */
  users: string[];
}

export interface TestRegistry {
  /** `127.0.0.1:PORT`: what docker and skopeo are given (and send to the helper) */
  host: string;
  /** `http://127.0.0.1:PORT` or `https://…` */
  origin: string;
  /** repository and tag of the one image */
  image: string;
  /** the manifest's digest */
  digest: string;
  readonly counts: RegistryCounts;
  resetCounts(): void;
  close(): Promise<void>;
}

const MANIFEST_TYPE = 'application/vnd.docker.distribution.manifest.v2+json';
const REPO = 'team/app';
const TAG = 'v1';

const sha256 = (b: Buffer | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** A self-signed certificate for IP:127.0.0.1, made by openssl as an operator would. */
export function selfSignedCert(): { key: string; cert: string } {
  const dir = mkdtempSync(join(tmpdir(), 'oidc-cred-registry-tls-'));
  try {
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
        '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')],
      { stdio: 'ignore' },
    );
    return { key: readFileSync(join(dir, 'key.pem'), 'utf8'), cert: readFileSync(join(dir, 'cert.pem'), 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function startRegistry(opts: RegistryOptions): Promise<TestRegistry> {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Labels: { 'test.oidc-cred': 'yes' } }, rootfs: { type: 'layers', diff_ids: [] } }));
  const manifest = Buffer.from(
    JSON.stringify({ schemaVersion: 2, mediaType: MANIFEST_TYPE, config: { mediaType: 'application/vnd.docker.container.image.v1+json', size: config.length, digest: sha256(config) }, layers: [] }),
  );
  const digest = sha256(manifest);
  const blobs = new Map([[sha256(config), config]]);
  const counts: RegistryCounts = { requests: 0, challenged: 0, served: 0, users: [] };
  // Registry tokens handed out by the token service (Bearer), opaque to the client.
  const registryTokens = new Set<string>();
  let origin = '';

  /** The access token in a Basic header, if the provider accepts it. */
  async function basicUser(req: IncomingMessage): Promise<string | undefined> {
    const m = /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(req.headers.authorization ?? '');
    if (!m) return undefined;
    const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return undefined;
    const token = decoded.slice(colon + 1);
    if (!token || !(await opts.verify(token).catch(() => null))) return undefined;
    const user = decoded.slice(0, colon);
    counts.users.push(user);
    return user;
  }

  function challenge(res: ServerResponse, scope?: string): void {
    counts.challenged += 1;
    const header =
      opts.challenge === 'basic'
        ? 'Basic realm="oidc-cred test registry"'
        : `Bearer realm="${origin}/token",service="oidc-cred-test"${scope ? `,scope="${scope}"` : ''}`;
    res.writeHead(401, { 'www-authenticate': header, 'content-type': 'application/json', 'docker-distribution-api-version': 'registry/2.0' });
    res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }));
  }

  async function authorized(req: IncomingMessage): Promise<boolean> {
    if (opts.challenge === 'basic') return (await basicUser(req)) !== undefined;
    const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
    return !!m && registryTokens.has(m[1]!);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    counts.requests += 1;
    const url = new URL(req.url ?? '/', origin);
    if (url.pathname === '/token' && opts.challenge === 'bearer') {
      // The distribution token service: Basic credentials in, a registry token out.
      if (!(await basicUser(req))) {
        counts.challenged += 1;
        res.writeHead(401, { 'www-authenticate': 'Basic realm="oidc-cred test token service"', 'content-type': 'application/json' });
        res.end('{"errors":[{"code":"UNAUTHORIZED","message":"invalid credentials"}]}');
        return;
      }
      const t = randomBytes(24).toString('hex');
      registryTokens.add(t);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ token: t, access_token: t, expires_in: 300 }));
      return;
    }
    if (!url.pathname.startsWith('/v2/')) {
      res.writeHead(404).end();
      return;
    }
    const scope = url.pathname === '/v2/' ? undefined : `repository:${REPO}:pull`;
    if (!(await authorized(req))) return challenge(res, scope);
    const head = req.method === 'HEAD';
    const send = (type: string, body: Buffer, extra: Record<string, string> = {}): void => {
      counts.served += 1;
      res.writeHead(200, { 'content-type': type, 'content-length': String(body.length), 'docker-distribution-api-version': 'registry/2.0', ...extra });
      res.end(head ? undefined : body);
    };
    if (url.pathname === '/v2/') {
      res.writeHead(200, { 'content-type': 'application/json', 'docker-distribution-api-version': 'registry/2.0' });
      res.end('{}');
      return;
    }
    if (url.pathname === `/v2/${REPO}/manifests/${TAG}` || url.pathname === `/v2/${REPO}/manifests/${digest}`) {
      return send(MANIFEST_TYPE, manifest, { 'docker-content-digest': digest });
    }
    if (url.pathname === `/v2/${REPO}/tags/list`) return send('application/json', Buffer.from(JSON.stringify({ name: REPO, tags: [TAG] })));
    const blob = /^\/v2\/team\/app\/blobs\/(sha256:[0-9a-f]{64})$/.exec(url.pathname);
    if (blob && blobs.has(blob[1]!)) return send('application/octet-stream', blobs.get(blob[1]!)!, { 'docker-content-digest': blob[1]! });
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end('{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}');
  }

  const listener = (req: IncomingMessage, res: ServerResponse): void => {
    handle(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  };
  const server: Server = opts.tls ? createHttpsServer(selfSignedCert(), listener) : createHttpServer(listener);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const host = `127.0.0.1:${port}`;
  origin = `${opts.tls ? 'https' : 'http'}://${host}`;
  return {
    host,
    origin,
    image: `${REPO}:${TAG}`,
    digest,
    counts,
    resetCounts: () => Object.assign(counts, { requests: 0, challenged: 0, served: 0, users: [] }),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
