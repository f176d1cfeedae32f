// The README's quick start runs against this: the demo identity provider, a git server and a
// Kubernetes API stand-in on fixed loopback ports, so that every command in the README works as
// written. Runs until Ctrl-C; writes nothing of yours (only the API server's CA, to a temp dir).
//
//   node --import tsx demo/playground.ts
//
//   http://127.0.0.1:9400          the OpenID provider (oidc-provider), client "oidc-cred-demo"
//   http://127.0.0.1:9401/repo.git a git server that accepts only this provider's access tokens
//   https://127.0.0.1:9402         a Kubernetes API stand-in (GET /version) that verifies ID tokens
//                                  as kube-apiserver's OIDC authenticator does
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, connect, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startKubeApi } from '../test/support/kube-api.ts';
import { startGitServer } from './git-server.ts';
import { startProvider } from './provider.ts';

const PROVIDER_PORT = 9400;
const GIT_PORT = 9401;
const KUBE_PORT = 9402;

/** A fixed port in front of a server that listens on a random one: bytes in, bytes out (TLS passes through). */
function forward(port: number, to: number): Promise<Server> {
  const s = createServer((sock) => {
    const up = connect(to, '127.0.0.1');
    sock.pipe(up).pipe(sock);
    const end = (): void => {
      sock.destroy();
      up.destroy();
    };
    sock.on('error', end);
    up.on('error', end);
  });
  return new Promise((resolve, reject) => {
    s.once('error', reject);
    s.listen(port, '127.0.0.1', () => resolve(s));
  });
}

const provider = await startProvider({ port: PROVIDER_PORT });
const git = await startGitServer({ verify: (t) => provider.userinfo(t) });
const kube = await startKubeApi({ issuer: provider.issuer, clientId: provider.publicClientId });
const servers = [await forward(GIT_PORT, Number(new URL(git.origin).port)), await forward(KUBE_PORT, Number(new URL(kube.server).port))];

const dir = join(tmpdir(), 'oidc-cred-playground');
mkdirSync(dir, { recursive: true });
const ca = join(dir, 'ca.pem');
writeFileSync(ca, kube.caPem);

process.stderr.write(
  [
    `provider:    ${provider.issuer}  (client ${provider.publicClientId}; user demo-user <demo@example.com> logs in without a form)`,
    `git server:  http://127.0.0.1:${GIT_PORT}/repo.git`,
    `API server:  https://127.0.0.1:${KUBE_PORT}  (its CA: ${ca})`,
    'Ctrl-C stops them.',
    '',
  ].join('\n'),
);

const stop = (): void => {
  for (const s of servers) s.close();
  void Promise.all([provider.close(), git.close(), kube.close()]).then(() => process.exit(0));
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
