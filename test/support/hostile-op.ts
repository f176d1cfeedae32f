// A deliberately broken OpenID provider for answers a real one cannot be made to give: it runs a
// genuine authorization-code round trip (so the scripted browser and oidc-cred's loopback server
// are real) and then answers discovery or the token endpoint the way a test asks.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { generateKeyPair, SignJWT, exportJWK } from 'jose';

export type Fault =
  | 'ok'
  | 'discovery-issuer-mismatch'
  | 'discovery-truncated'
  | 'discovery-text-plain'
  | 'discovery-huge'
  | 'discovery-redirect'
  | 'token-html'
  | 'token-truncated'
  | 'token-huge'
  | 'token-hang-body'
  | 'token-wrong-audience'
  | 'token-bad-nonce'
  | 'token-wrong-issuer'
  | 'token-expired-id-token'
  | 'token-no-access-token'
  | 'token-redirect'
  | 'callback-wrong-iss'
  /** a refresh_token grant that is never answered */
  | 'refresh-hang';

export interface HostileOp {
  issuer: string;
  fault: Fault;
  requests: string[];
  close(): Promise<void>;
}

export async function startHostileOp(): Promise<HostileOp> {
  const { privateKey, publicKey } = await generateKeyPair('RS256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
  const pending = new Map<string, { nonce: string; clientId: string }>();
  let issuer = '';
  const op: HostileOp = { issuer: '', fault: 'ok', requests: [], close: async () => undefined };

  const json = (res: ServerResponse, status: number, body: unknown, type = 'application/json'): void => {
    res.writeHead(status, { 'content-type': type });
    res.end(typeof body === 'string' ? body : JSON.stringify(body));
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', issuer);
    op.requests.push(`${req.method} ${url.pathname}`);
    const f = op.fault;
    if (url.pathname === '/.well-known/openid-configuration') {
      const meta = {
        issuer: f === 'discovery-issuer-mismatch' ? 'https://someone-else.example' : issuer,
        authorization_endpoint: `${issuer}/auth`,
        token_endpoint: `${issuer}/token`,
        jwks_uri: `${issuer}/jwks`,
        response_types_supported: ['code'],
        id_token_signing_alg_values_supported: ['RS256'],
        code_challenge_methods_supported: ['S256'],
        authorization_response_iss_parameter_supported: true,
      };
      if (f === 'discovery-truncated') return json(res, 200, JSON.stringify(meta).slice(0, 40));
      if (f === 'discovery-text-plain') return json(res, 200, meta, 'text/plain');
      if (f === 'discovery-huge') return json(res, 200, JSON.stringify({ ...meta, padding: 'x'.repeat(3 * 1024 * 1024) }));
      if (f === 'discovery-redirect') {
        res.writeHead(302, { location: 'https://evil.example/.well-known/openid-configuration' });
        res.end();
        return;
      }
      return json(res, 200, meta);
    }
    if (url.pathname === '/jwks') return json(res, 200, { keys: [jwk] });
    if (url.pathname === '/auth') {
      const code = `code-${Math.random().toString(36).slice(2)}`;
      pending.set(code, { nonce: url.searchParams.get('nonce') ?? '', clientId: url.searchParams.get('client_id') ?? '' });
      const back = new URL(url.searchParams.get('redirect_uri') ?? '');
      back.searchParams.set('code', code);
      back.searchParams.set('state', url.searchParams.get('state') ?? '');
      back.searchParams.set('iss', f === 'callback-wrong-iss' ? 'https://someone-else.example' : issuer);
      res.writeHead(302, { location: back.href });
      res.end();
      return;
    }
    if (url.pathname === '/token' && req.method === 'POST') {
      let body = '';
      for await (const chunk of req) body += chunk;
      const form = new URLSearchParams(body);
      if (form.get('grant_type') === 'refresh_token' && f === 'refresh-hang') return; // never answers
      const grant = pending.get(form.get('code') ?? '');
      if (!grant) return json(res, 400, { error: 'invalid_grant' });
      if (f === 'token-html') return json(res, 200, '<html><body>Please log in to the proxy</body></html>', 'text/html');
      if (f === 'token-truncated') return json(res, 200, '{"access_token":"abc","token_ty');
      if (f === 'token-huge') return json(res, 200, JSON.stringify({ access_token: 'a'.repeat(3 * 1024 * 1024), token_type: 'Bearer' }));
      if (f === 'token-redirect') {
        res.writeHead(307, { location: 'https://evil.example/token' });
        res.end();
        return;
      }
      if (f === 'token-hang-body') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write('{"access_token":');
        return; // never ends
      }
      const now = Math.floor(Date.now() / 1000);
      const idToken = await new SignJWT({
        nonce: f === 'token-bad-nonce' ? 'not-the-nonce' : grant.nonce,
      })
        .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
        .setIssuer(f === 'token-wrong-issuer' ? 'https://someone-else.example' : issuer)
        .setAudience(f === 'token-wrong-audience' ? 'another-client' : grant.clientId)
        .setSubject('hostile-user')
        .setIssuedAt(f === 'token-expired-id-token' ? now - 7200 : now)
        .setExpirationTime(f === 'token-expired-id-token' ? now - 3600 : now + 3600)
        .sign(privateKey);
      const tokens: Record<string, unknown> = { access_token: 'hostile-access-token-0123456789', token_type: 'Bearer', expires_in: 3600, id_token: idToken, refresh_token: 'hostile-refresh-token-0123456789' };
      if (f === 'token-no-access-token') delete tokens.access_token;
      return json(res, 200, tokens);
    }
    json(res, 404, { error: 'not_found' });
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch(() => res.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  op.issuer = issuer;
  op.close = () =>
    new Promise((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return op;
}
