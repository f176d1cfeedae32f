// docs/kubernetes.md at the protocol level: KUBERNETES_EXEC_INFO parsing, the ExecCredential shape, the
// kubelogin flag translation, and the setup snippet. Tables with exact outputs.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { UsageError } from '../../src/errors.ts';
import { ExecInfoError, formatExecCredential, parseExecInfo } from '../../src/protocols/kube.ts';
import { translateKubeloginArgs } from '../../src/protocols/kubelogin.ts';
import { kubeconfigPath, kubeSetup, shellQuote } from '../../src/commands/setup/kube.ts';

const V1 = 'client.authentication.k8s.io/v1';
const V1B = 'client.authentication.k8s.io/v1beta1';

describe('parseExecInfo', () => {
  const ok: [string | undefined, ReturnType<typeof parseExecInfo>][] = [
    [undefined, { apiVersion: V1B, interactive: undefined, server: undefined }],
    ['', { apiVersion: V1B, interactive: undefined, server: undefined }],
    ['  \n', { apiVersion: V1B, interactive: undefined, server: undefined }],
    ['{}', { apiVersion: V1B, interactive: undefined, server: undefined }],
    [JSON.stringify({ kind: 'ExecCredential', apiVersion: V1, spec: { interactive: false } }), { apiVersion: V1, interactive: false, server: undefined }],
    [JSON.stringify({ kind: 'ExecCredential', apiVersion: V1B, spec: { interactive: true, cluster: { server: 'https://k8s.example.com:6443', 'certificate-authority-data': 'LS0t' } } }), { apiVersion: V1B, interactive: true, server: 'https://k8s.example.com:6443' }],
    [JSON.stringify({ apiVersion: V1, spec: { cluster: { server: 42 } } }), { apiVersion: V1, interactive: undefined, server: undefined }],
    [JSON.stringify({ apiVersion: V1, spec: null }), { apiVersion: V1, interactive: undefined, server: undefined }],
  ];
  for (const [raw, want] of ok) it(`accepts ${JSON.stringify(raw)}`, () => assert.deepEqual(parseExecInfo(raw), want));

  const bad: [string, RegExp][] = [
    ['garbage', /not valid JSON/],
    ['{"apiVersion":', /not valid JSON/],
    ['[]', /not a JSON object/],
    ['null', /not a JSON object/],
    ['"x"', /not a JSON object/],
    [JSON.stringify({ apiVersion: 'client.authentication.k8s.io/v1alpha1' }), /apiVersion "client\.authentication\.k8s\.io\/v1alpha1"/],
    [JSON.stringify({ apiVersion: 'v1' }), /apiVersion "v1"/],
    [JSON.stringify({ apiVersion: null }), /apiVersion null/],
    [JSON.stringify({ apiVersion: V1, kind: 'Pod' }), /kind "Pod"/],
    [JSON.stringify({ apiVersion: V1, spec: 'x' }), /spec that is not an object/],
    [JSON.stringify({ apiVersion: V1, spec: { interactive: 'no' } }), /interactive/],
  ];
  for (const [raw, re] of bad) {
    it(`refuses ${raw} with exit 1 (not a usage error)`, () => {
      assert.throws(
        () => parseExecInfo(raw),
        (err: unknown) => err instanceof ExecInfoError && !(err instanceof UsageError) && err.exitCode === 1 && re.test(err.message) && !err.message.includes('\n'),
      );
    });
  }

  it('keeps what it echoes short and printable', () => {
    const raw = JSON.stringify({ apiVersion: `x\n${'y'.repeat(500)}` });
    assert.throws(() => parseExecInfo(raw), (err: Error) => err.message.length < 200 && !/[\n\r]/.test(err.message));
  });

  it('never throws anything but its own error (property)', () => {
    const execInfoLike = fc.record(
      {
        kind: fc.oneof(fc.constant('ExecCredential'), fc.jsonValue()),
        apiVersion: fc.oneof(fc.constantFrom(V1, V1B, 'client.authentication.k8s.io/v1alpha1'), fc.jsonValue()),
        spec: fc.oneof(fc.record({ interactive: fc.oneof(fc.boolean(), fc.jsonValue()), cluster: fc.oneof(fc.record({ server: fc.jsonValue() }), fc.jsonValue()) }, { requiredKeys: [] }), fc.jsonValue()),
      },
      { requiredKeys: [] },
    );
    const input = fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.json(), execInfoLike.map((o) => JSON.stringify(o)), fc.constant('{"__proto__":{"apiVersion":"x"}}'));
    fc.assert(
      fc.property(input, (raw) => {
        try {
          const r = parseExecInfo(raw);
          assert.ok(r.apiVersion === V1 || r.apiVersion === V1B);
          assert.ok(r.server === undefined || typeof r.server === 'string');
        } catch (err) {
          assert.ok(err instanceof ExecInfoError, `threw ${String(err)}`);
          assert.equal(err.exitCode, 1);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('formatExecCredential', () => {
  it('prints exactly the docs/kubernetes.md shape on one line, in the caller’s apiVersion, RFC 3339 expiry', () => {
    const at = Date.UTC(2030, 0, 2, 3, 4, 5, 678);
    assert.equal(
      formatExecCredential({ apiVersion: V1 }, 'eyJ.a.b', at),
      '{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1","status":{"token":"eyJ.a.b","expirationTimestamp":"2030-01-02T03:04:05Z"}}\n',
    );
    assert.equal(
      formatExecCredential({ apiVersion: V1B }, 't', at),
      '{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1beta1","status":{"token":"t","expirationTimestamp":"2030-01-02T03:04:05Z"}}\n',
    );
  });
  it('leaves the expiry out rather than crash on a nonsensical one', () => {
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, 1e20]) {
      assert.equal(formatExecCredential({ apiVersion: V1 }, 't', bad), '{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1","status":{"token":"t"}}\n');
    }
  });
});

describe('translateKubeloginArgs', () => {
  function tr(argv: string[]): { argv: string[]; error: string | undefined; clientSecret: string | undefined; warnings: string[] } {
    const warnings: string[] = [];
    const out = translateKubeloginArgs(argv, (l) => warnings.push(l));
    return { argv: out.argv, error: out.error, clientSecret: out.clientSecret, warnings };
  }
  const D = ['--port', '8000', '--port', '18000', '--redirect-uri', 'http://localhost'];
  const table: [string, string[], string[]][] = [
    ['other commands are untouched', ['kube', '--oidc-issuer-url', 'x'], ['kube', '--oidc-issuer-url', 'x']],
    ['options before the command are not ours to rewrite', ['--profile', 'p', 'get-token'], ['--profile', 'p', 'get-token']],
    ['native get-token is untouched', ['get-token', '--issuer', 'https://i', '--scope', 'a b', '-v'], ['get-token', '--issuer', 'https://i', '--scope', 'a b', '-v']],
    ['issuer and client id; kubelogin’s default listen addresses and redirect', ['get-token', '--oidc-issuer-url', 'https://i', '--oidc-client-id=c'], ['get-token', '--issuer', 'https://i', '--client-id', 'c', ...D]],
    ['extra scopes are added to the default, repeatable and comma-separated, deduplicated', ['get-token', '--oidc-extra-scope', 'email,profile', '--oidc-extra-scope=groups', '--oidc-extra-scope', 'email'], ['get-token', '--scope', 'openid', '--scope', 'offline_access', '--scope', 'email', '--scope', 'profile', '--scope', 'groups', ...D]],
    ['extra scopes next to a native --scope', ['get-token', '--scope', 'openid', '--oidc-extra-scope', 'email'], ['get-token', '--scope', 'openid', '--scope', 'email', ...D]],
    ['access token', ['get-token', '--oidc-use-access-token'], ['get-token', '--token-type', 'access', ...D]],
    ['access token =false', ['get-token', '--oidc-use-access-token=false'], ['get-token', ...D]],
    ['listen addresses become ports; no kubelogin defaults then', ['get-token', '--listen-address', '127.0.0.1:8000,127.0.0.1:18000', '--listen-address=localhost:9000'], ['get-token', '--port', '8000', '--port', '18000', '--port', '9000']],
    ['port 0 is any port', ['get-token', '--listen-address', '127.0.0.1:0'], ['get-token']],
    ['redirect URL: port moved to --port', ['get-token', '--oidc-redirect-url', 'http://localhost:8000/cb'], ['get-token', '--port', '8000', '--redirect-uri', 'http://localhost/cb']],
    ['redirect URL without a path stays without one', ['get-token', '--oidc-redirect-url=http://localhost:8000'], ['get-token', '--port', '8000', '--redirect-uri', 'http://localhost']],
    ['redirect URL without a port', ['get-token', '--oidc-redirect-url', 'http://127.0.0.1/callback', '--listen-address', '127.0.0.1:9000'], ['get-token', '--redirect-uri', 'http://127.0.0.1/callback', '--port', '9000']],
    ['skip-open-browser, browser-command, cache dir, timeout', ['get-token', '--skip-open-browser', '--browser-command', 'firefox --new-window', '--token-cache-dir', '~/.kube/cache/oidc-login', '--authentication-timeout-sec', '60'], ['get-token', '--no-browser', '--browser-command', 'firefox --new-window', '--cache-dir', '~/.kube/cache/oidc-login', '--timeout', '60']],
    ['grants', ['get-token', '--grant-type', 'device-code', '--grant-type=authcode', '--grant-type', 'client-credentials', '--grant-type', 'auto'], ['get-token', '--grant', 'device', '--grant', 'authcode', '--grant', 'client-credentials', '--grant', 'auto']],
    ['extra params', ['get-token', '--oidc-auth-request-extra-params', 'prompt=consent,login_hint=a@b'], ['get-token', '--param', 'prompt=consent', '--param', 'login_hint=a@b']],
    ['CA file', ['get-token', '--certificate-authority', '/ca.pem'], ['get-token', '--ca-file', '/ca.pem']],
    ['PKCE flags change nothing', ['get-token', '--oidc-use-pkce', '--oidc-pkce-method', 'S256'], ['get-token']],
    ['klog verbosity', ['get-token', '-v', '1', '--v=0', '--non-interactive'], ['get-token', '-v', '--non-interactive']],
    ['unknown flags are left for the CLI to refuse', ['get-token', '--frobnicate', 'x'], ['get-token', '--frobnicate', 'x']],
    ['nothing after --', ['get-token', '--', '--oidc-issuer-url', 'x'], ['get-token', '--', '--oidc-issuer-url', 'x']],
  ];
  for (const [name, input, want] of table) {
    it(name, () => {
      const r = tr(input);
      assert.deepEqual(r.argv, want);
      assert.equal(r.error, undefined);
    });
  }

  it('is idempotent', () => {
    const once = tr(['get-token', '--oidc-issuer-url', 'https://i', '--oidc-extra-scope', 'email', '--listen-address', '127.0.0.1:8000']).argv;
    assert.deepEqual(tr(once).argv, once);
  });

  it('takes --oidc-client-secret out of argv as the client secret, with one warning that never shows it', () => {
    const r = tr(['get-token', '--oidc-client-secret', 's3cret-value', '--oidc-client-id', 'c']);
    assert.ok(!r.argv.some((a) => a.includes('s3cret-value')));
    assert.equal(r.clientSecret, 's3cret-value');
    assert.equal(r.warnings.length, 1);
    assert.match(r.warnings[0]!, /process list/);
    assert.ok(!r.warnings[0]!.includes('s3cret-value'));
    const inline = tr(['get-token', '--oidc-client-secret=s3cret-value']);
    assert.ok(!inline.argv.some((a) => a.includes('s3cret-value')));
    assert.equal(inline.clientSecret, 's3cret-value');
  });

  it('warns once per flag without an equivalent and drops it', () => {
    const r = tr(['get-token', '--force-refresh', '--token-cache-storage', 'keyring', '--certificate-authority-data=LS0t', '--insecure-skip-tls-verify=false']);
    assert.deepEqual(r.argv, ['get-token']);
    assert.equal(r.warnings.length, 3);
    for (const w of r.warnings) assert.match(w, /no equivalent in oidc-cred and is ignored/);
  });

  const refused: [string[], RegExp][] = [
    [['get-token', '--grant-type', 'authcode-keyboard'], /authcode-keyboard is not supported.*device-code/],
    [['get-token', '--grant-type=password'], /grant-type password is not supported/],
    [['get-token', '--grant-type', 'token-exchange'], /grant-type token-exchange is not supported/],
    [['get-token', '--password', 'pw-value-123'], /--password \(password grant\) is not supported/],
    [['get-token', '--token-exchange-subject-token=tok-value-123'], /token exchange/],
    [['get-token', '--oidc-issuer-url'], /needs a value/],
    [['get-token', '--listen-address', 'nonsense'], /HOST:PORT/],
    [['get-token', '--oidc-use-access-token=maybe'], /true or false/],
    [['get-token', '--oidc-redirect-url', 'ftp://x'], /not an http URL/],
  ];
  for (const [argv, re] of refused) {
    it(`refuses ${argv.slice(1).join(' ')} as a usage error, without echoing secrets`, () => {
      const r = tr(argv);
      const msg = r.error ?? '';
      assert.match(msg, re);
      assert.ok(!msg.includes('value-123'));
      assert.ok(!r.argv.some((a) => a.includes('value-123')));
    });
  }

  it('never throws, whatever it is given (property)', () => {
    const flag = fc.constantFrom('--oidc-issuer-url', '--oidc-extra-scope', '--listen-address', '--grant-type', '--oidc-redirect-url', '--oidc-use-access-token', '--oidc-client-secret', '-v', '--v', '--', '--force-refresh');
    fc.assert(
      fc.property(fc.array(fc.oneof(flag, fc.string(), flag.chain((f) => fc.string().map((v) => `${f}=${v}`)))), (rest) => {
        const r = tr(['get-token', ...rest]);
        assert.ok(Array.isArray(r.argv));
      }),
      { numRuns: 1000 },
    );
  });
});

describe('setup kube', () => {
  it('the user entry README.md, "Commands" and issue 4 describe', () => {
    const s = kubeSetup('work', undefined);
    assert.equal(s.user, 'oidc-cred-work');
    assert.equal(
      s.yaml,
      [
        'users:',
        '- name: oidc-cred-work',
        '  user:',
        '    exec:',
        '      apiVersion: client.authentication.k8s.io/v1',
        '      command: oidc-cred',
        '      args:',
        '      - kube',
        '      - --profile',
        '      - work',
        '      interactiveMode: IfAvailable',
        '      provideClusterInfo: true',
      ].join('\n'),
    );
    assert.deepEqual(s.commands, [
      ['config', 'set-credentials', 'oidc-cred-work', '--exec-api-version=client.authentication.k8s.io/v1', '--exec-command=oidc-cred', '--exec-arg=kube', '--exec-arg=--profile', '--exec-arg=work', '--exec-interactive-mode=IfAvailable', '--exec-provide-cluster-info=true'],
    ]);
  });
  it('with --cluster, a context that uses it; without --profile, the server picks the profile', () => {
    const s = kubeSetup(undefined, 'prod');
    assert.deepEqual(s.commands[1], ['config', 'set-context', 'prod', '--cluster=prod', '--user=oidc-cred']);
    assert.match(s.yaml, /args:\n {6}- kube\n {6}interactiveMode/);
  });
  it('refuses names that would break the YAML', () => {
    assert.throws(() => kubeSetup('a b', undefined), UsageError);
    assert.throws(() => kubeSetup(undefined, 'x\ny: 1'), UsageError);
  });
  it('quotes for display only where needed', () => {
    assert.equal(shellQuote('--exec-arg=--profile'), '--exec-arg=--profile');
    assert.equal(shellQuote("it's"), `'it'\\''s'`);
  });
  it('writes to the first $KUBECONFIG path, else ~/.kube/config', () => {
    assert.equal(kubeconfigPath({ KUBECONFIG: '/a/one:/b/two' }, '/home/u', '/'), '/a/one');
    assert.equal(kubeconfigPath({ KUBECONFIG: ':rel' }, '/home/u', '/cwd'), '/cwd/rel');
    assert.equal(kubeconfigPath({}, '/home/u', '/'), '/home/u/.kube/config');
  });
});

