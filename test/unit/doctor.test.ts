// doctor's pure helpers: the discovery URLs it reports, the redirect URI it probes with, the
// error text it pulls out of a provider's page, and which kubeconfig users count as wired.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { discoveryUrls, errorText, kubeUsers, probeRedirectUri } from '../../src/commands/doctor.ts';

describe('doctor helpers', () => {
  it('discovery URLs as oauth4webapi builds them (OIDC Discovery §4, RFC 8414 §3)', () => {
    assert.deepEqual(discoveryUrls(new URL('https://sso.example.com/realms/eng')), [
      'https://sso.example.com/realms/eng/.well-known/openid-configuration',
      'https://sso.example.com/.well-known/oauth-authorization-server/realms/eng',
    ]);
    assert.deepEqual(discoveryUrls(new URL('https://tenant.eu.auth0.com/')), [
      'https://tenant.eu.auth0.com/.well-known/openid-configuration',
      'https://tenant.eu.auth0.com/.well-known/oauth-authorization-server',
    ]);
  });

  it('the probe redirect URI is the one a login would send', () => {
    assert.equal(probeRedirectUri({ redirectUri: undefined, ports: [] }), 'http://127.0.0.1:49152/callback');
    assert.equal(probeRedirectUri({ redirectUri: undefined, ports: [8000, 18000] }), 'http://127.0.0.1:8000/callback');
    // kubelogin's http://localhost stays without a path, as registered.
    assert.equal(probeRedirectUri({ redirectUri: 'http://localhost', ports: [8000] }), 'http://localhost:8000');
    assert.equal(probeRedirectUri({ redirectUri: 'http://localhost/callback', ports: [] }), 'http://localhost:49152/callback');
  });

  it('error text from JSON, from oidc-provider\'s page, and from a page without an error code', () => {
    assert.equal(errorText('{"error":"invalid_client","error_description":"no such client"}', 'application/json'), 'invalid_client (no such client)');
    assert.equal(
      errorText('<html><body><h1>oops! something went wrong</h1><pre><code>error: invalid_redirect_uri\nerror_description: redirect_uri did not match\nstate: abc\n</code></pre></body></html>', 'text/html'),
      'invalid_redirect_uri: redirect_uri did not match',
    );
    assert.equal(errorText('<title>Error</title><p>We&#39;re sorry &amp; stuff</p><script>x()</script>', 'text/html'), "Error We're sorry & stuff");
  });

  it('kubeconfig users: by --profile in args, or without it by a context whose cluster the profile matches', () => {
    const view = {
      clusters: [
        { name: 'prod', cluster: { server: 'https://k8s.example.com:6443' } },
        { name: 'lab', cluster: { server: 'https://lab.example.net' } },
      ],
      users: [
        { name: 'named', user: { exec: { command: 'oidc-cred', args: ['kube', '--profile', 'work'] } } },
        { name: 'other', user: { exec: { command: '/usr/local/bin/oidc-cred', args: ['kube', '--profile=lab'] } } },
        { name: 'by-server', user: { exec: { command: 'oidc-cred', args: ['kube'] } } },
        { name: 'kubelogin', user: { exec: { command: 'kubectl', args: ['oidc-login', 'get-token'] } } },
      ],
      contexts: [
        { name: 'prod', context: { cluster: 'prod', user: 'by-server' } },
        { name: 'lab', context: { cluster: 'lab', user: 'kubelogin' } },
      ],
    };
    assert.deepEqual(kubeUsers(view, { profile: 'work', match: [{ url: 'https://k8s.example.com:6443' }] }), ['named', 'by-server']);
    assert.deepEqual(kubeUsers(view, { profile: 'lab', match: [{ url: 'https://lab.example.net' }] }), ['other']);
  });
});
