// The git attribute parser and answer formatter (docs/git.md, issue 3): examples, then properties over
// nasty input (random bytes, `==`, lone newlines, repeated [] keys, huge lines).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { describeError } from '../../src/errors.ts';
import { gitSetupCommands, gitUrl, shellWord } from '../../src/commands/setup/git.ts';
import { erasedSecret, formatGitAnswer, GitHostRejected, GitProtocolError, MAX_LINE, parseGitInput, type GitRequest } from '../../src/protocols/git.ts';

const T = 'tok_ABCdef0123456789';
const EXP = Date.UTC(2030, 0, 1);

describe('parseGitInput', () => {
  it('reads key=value lines up to the blank line; values keep their `=`', () => {
    const r = parseGitInput('protocol=https\nhost=h:8443\npath=a/b.git\nusername=u\npassword=p==\n\nhost=ignored\n');
    assert.equal(r.url, 'https://h:8443/a/b.git');
    assert.equal(r.attrs.get('password'), 'p==');
    assert.equal(r.attrs.get('username'), 'u');
  });
  it('EOF ends the request too; CRLF is accepted', () => {
    assert.equal(parseGitInput('protocol=https\r\nhost=h').url, 'https://h/');
  });
  it('[] keys accumulate and an empty value resets them', () => {
    const r = parseGitInput('capability[]=a\ncapability[]=b\nwwwauth[]=x\ncapability[]=\ncapability[]=authtype\n');
    assert.deepEqual(r.lists.get('capability'), ['authtype']);
    assert.deepEqual([...r.capabilities], ['authtype']);
    assert.deepEqual(r.lists.get('wwwauth'), ['x']);
  });
  it('url= expands into protocol, host, path, username and password, replacing earlier parts', () => {
    const r = parseGitInput('protocol=http\nhost=old\npath=old\nusername=old\nurl=https://b%40b:s%3Ar@h.example:444/p%20q\n');
    assert.equal(r.url, 'https://h.example:444/p q');
    assert.equal(r.attrs.get('username'), 'b@b');
    assert.equal(r.attrs.get('password'), 's:r');
    assert.equal(parseGitInput('username=kept\nurl=https://h/\n').attrs.get('username'), undefined);
  });
  it('a malformed percent escape does not throw', () => {
    assert.equal(parseGitInput('url=https://h/%zz%E0\n').url, 'https://h/%zz%E0');
  });
  it('unknown keys, `==` and lines without `=` are ignored', () => {
    const r = parseGitInput('==\n=x\nnoequals\nprotocol=https\nhost=h\n');
    assert.equal(r.url, 'https://h/');
    assert.equal(r.attrs.has(''), false);
  });
  it('refuses a NUL, a line over 64 KiB (in bytes), and a url component with a newline', () => {
    assert.throws(() => parseGitInput('host=a\0b\n'), GitProtocolError);
    assert.throws(() => parseGitInput(`path=${'a'.repeat(MAX_LINE)}\n`), GitProtocolError);
    assert.doesNotThrow(() => parseGitInput(`p=${'a'.repeat(MAX_LINE - 2)}\n`));
    assert.throws(() => parseGitInput(`p=${'é'.repeat(MAX_LINE / 2)}\n`), GitProtocolError, 'multi-byte characters count as bytes');
    assert.throws(() => parseGitInput('url=https://u%0A@h/\n'), GitProtocolError);
    assert.throws(() => parseGitInput('url=https://h/a%00b\n'), GitProtocolError);
  });
  it('a refusal is one line, exit 1 (not a usage error)', () => {
    const err = (() => {
      try {
        parseGitInput('a\0');
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    assert.ok(err instanceof GitProtocolError);
    assert.equal(err.exitCode, 1);
    assert.equal(describeError(err), 'oidc-cred: git sent a line with a NUL byte; refusing the request');
  });
  it('erasedSecret: credential (authtype) before password', () => {
    assert.equal(erasedSecret(parseGitInput('password=p\ncredential=c\n')), 'c');
    assert.equal(erasedSecret(parseGitInput('password=p\n')), 'p');
    assert.equal(erasedSecret(parseGitInput('password=\n')), undefined);
  });
});

describe('formatGitAnswer', () => {
  const req = (s: string): GitRequest => parseGitInput(s);
  it('username, password, password_expiry_utc', () => {
    assert.equal(formatGitAnswer({ request: req('protocol=https\nhost=h\n'), username: 'oauth2', token: T, expiresAt: EXP + 999 }), `username=oauth2\npassword=${T}\npassword_expiry_utc=${EXP / 1000}\n`);
  });
  it("the request's username wins", () => {
    assert.match(formatGitAnswer({ request: req('username=alice\n'), username: 'oauth2', token: T, expiresAt: EXP }), /^username=alice\n/);
  });
  it('capability[]=authtype → authtype=Bearer and credential=, no password', () => {
    assert.equal(
      formatGitAnswer({ request: req('capability[]=authtype\n'), username: 'oauth2', token: T, expiresAt: EXP }),
      `capability[]=authtype\nauthtype=Bearer\ncredential=${T}\npassword_expiry_utc=${EXP / 1000}\n`,
    );
  });
  it('refuses to print a token or a username with a newline', () => {
    assert.throws(() => formatGitAnswer({ request: req(''), username: 'oauth2', token: 'a\nb', expiresAt: EXP }), GitProtocolError);
    assert.throws(() => formatGitAnswer({ request: req(''), username: 'x\ny', token: T, expiresAt: EXP }), GitProtocolError);
  });
});

// -- properties ---------------------------------------------------------------------------------

const KEYS = ['protocol', 'host', 'path', 'username', 'password', 'url', 'capability[]', 'wwwauth[]', 'credential', 'authtype', '', '=', 'x[]'];
const nastyLine = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 80 }),
  fc.tuple(fc.constantFrom(...KEYS), fc.string({ unit: 'binary', maxLength: 60 })).map(([k, v]) => `${k}=${v}`),
  fc.constantFrom('==', '=', '\r', '', 'url=', 'url=https://', 'url=https://%0a@h/', 'url=https://h/%E0%zz', 'url=https://u%ZZ:p%@h/', 'capability[]=', 'capability[]=authtype', 'host=h\0'),
  fc.integer({ min: MAX_LINE - 4, max: MAX_LINE + 4 }).map((n) => `path=${'x'.repeat(n)}`),
);
const nastyInput = fc.oneof(
  fc.array(nastyLine, { maxLength: 30 }).map((ls) => ls.join('\n')),
  fc.uint8Array({ maxLength: 2000 }).map((b) => Buffer.from(b).toString('utf8')),
  fc.array(fc.constantFrom('\n', '\r\n', '=', '==', '[]=', 'capability[]=a\n'), { maxLength: 200 }).map((a) => a.join('')),
);

/** Only key=value lines, each key a plain attribute name, each value on its own line. */
function onlyProtocolLines(out: string): boolean {
  if (out === '') return true;
  if (!out.endsWith('\n')) return false;
  return out
    .slice(0, -1)
    .split('\n')
    .every((l) => /^[a-z_]+(\[\])?=[^\n\r\0]*$/.test(l));
}

describe('properties', () => {
  it('whatever comes in: parsed, or refused with our GitProtocolError — never another throw', () => {
    fc.assert(
      fc.property(nastyInput, (input) => {
        try {
          parseGitInput(input);
        } catch (err) {
          assert.ok(err instanceof GitProtocolError, `unexpected ${String(err)}`);
          assert.equal(err.exitCode, 1);
          assert.doesNotMatch(describeError(err), /\n/);
        }
      }),
      { numRuns: 400 },
    );
  });

  it('an answer to any request that parses is only key=value lines, with the token exactly once', () => {
    fc.assert(
      fc.property(nastyInput, fc.string({ minLength: 1, maxLength: 40 }).filter((u) => !/[\n\r\0]/.test(u)), (input, username) => {
        let request: GitRequest;
        try {
          request = parseGitInput(input);
        } catch {
          return;
        }
        let out: string;
        try {
          out = formatGitAnswer({ request, username, token: T, expiresAt: EXP });
        } catch (err) {
          assert.ok(err instanceof GitProtocolError);
          return;
        }
        assert.ok(onlyProtocolLines(out), JSON.stringify(out));
        assert.equal(out.split(T).length - 1, 1, 'the token appears exactly once');
      }),
      { numRuns: 400 },
    );
  });

  it('repeated [] keys accumulate in order', () => {
    fc.assert(
      fc.property(fc.array(fc.stringMatching(/^[a-z]{1,8}$/), { maxLength: 50 }), (vals) => {
        const r = parseGitInput(vals.map((v) => `capability[]=${v}`).join('\n'));
        assert.deepEqual(r.lists.get('capability') ?? [], vals);
      }),
    );
  });
});

describe('setup git commands', () => {
  it('a reset, our helper, and useHttpPath only where the match has a path', () => {
    assert.deepEqual(
      gitSetupCommands('work', ['https://git.example.com/', 'git.example.org', 'https://gl.example.com/group/', 'oci://r.example', 'https://git.example.com']).map((c) => c.args.join(' | ')),
      [
        'config | --global | --replace-all | credential.https://git.example.com.helper | ',
        'config | --global | --add | credential.https://git.example.com.helper | oidc-cred --profile work',
        'config | --global | --replace-all | credential.https://git.example.org.helper | ',
        'config | --global | --add | credential.https://git.example.org.helper | oidc-cred --profile work',
        'config | --global | --replace-all | credential.https://gl.example.com/group.helper | ',
        'config | --global | --add | credential.https://gl.example.com/group.helper | oidc-cred --profile work',
        'config | --global | credential.https://gl.example.com/group.useHttpPath | true',
      ],
    );
  });
  it('quotes what a shell would split', () => {
    assert.equal(gitSetupCommands("it's mine", ['h'], ['--config', '/a b/c.json'])[1]!.args[4], "oidc-cred --config '/a b/c.json' --profile 'it'\\''s mine'");
    assert.equal(shellWord(''), "''");
    assert.equal(gitUrl('ssh://git@h/x'), undefined);
    assert.equal(gitUrl('https://user:pw@h/'), undefined);
  });
});

describe('git host= is validated strictly before matching (issue 10 item 12)', () => {
  const refused = [
    'evil.test@git.example.com',
    'git.example.com\\@evil.test',
    'ｇit.example.com',
    'git%2eexample.com',
    'git.example.com ',
    ' git.example.com',
    'git.example.com\tx',
    'git.example.com:99999',
    'git.example.com:',
    'git.example.com/x',
    'git..example.com',
    '[::1',
    'gït.example.com',
    '',
  ];
  for (const host of refused) {
    it(`refuses host=${JSON.stringify(host)}`, () => {
      assert.throws(() => parseGitInput(`protocol=https\nhost=${host}\n`), (e: unknown) => e instanceof GitHostRejected && e instanceof GitProtocolError && /not a host name or IP address/.test(e.message));
    });
  }
  for (const url of ['https://git.example.com\\@evil.test/r', 'https://ｇit.example.com/r', 'https://git%2eexample.com/r', 'https://u@evil.test@git.example.com/']) {
    it(`refuses url=${url}`, () => assert.throws(() => parseGitInput(`url=${url}\n`), GitHostRejected));
  }
  for (const host of ['git.example.com', 'git.example.com:8443', 'h', '127.0.0.1:3000', '[::1]:8080', '[2001:db8::1]', 'my_host.corp', 'git.example.com.']) {
    it(`accepts host=${host}`, () => assert.equal(parseGitInput(`protocol=https\nhost=${host}\n`).url, `https://${host}/`));
  }
  it('accepts a url= with user info', () => assert.equal(parseGitInput('url=https://b%40b:s%3Ar@h.example:444/p\n').attrs.get('host'), 'h.example:444'));
});
