import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { resolveSettings } from '../../src/config/resolve.ts';
import { ConfigError, NoMatchingProfile } from '../../src/errors.ts';
import { bestMatch, entryProblem, entryTools, matchScore, normalizeUrl, registryKey, type MatchInput, type Tool } from '../../src/config/match.ts';

const cases: Array<[string, string, boolean]> = [
  ['https://git.example.com/', 'https://git.example.com/org/repo.git', true],
  ['https://git.example.com/', 'https://git.example.com/', true],
  ['https://git.example.com', 'https://git.example.com/x', true],
  ['https://git.example.com', 'https://git.example.com.evil.test/x', false],
  ['https://git.example.com/org', 'https://git.example.com/organization/x', false],
  ['https://git.example.com/org', 'https://git.example.com/org/x', true],
  ['https://k8s.example.com:6443', 'https://k8s.example.com:6443', true],
  ['https://k8s.example.com:6443', 'https://k8s.example.com:64430', false],
  ['https://k8s.example.com:6443', 'https://k8s.example.com', false],
  ['http://git.example.com/', 'https://git.example.com/', false],
  ['registry.example.com', 'registry.example.com', true],
  ['registry.example.com', 'https://registry.example.com/v2/', true],
  // A bare host covers https and docker's scheme-less names, never cleartext http.
  ['registry.example.com', 'http://registry.example.com:5000/', false],
  ['registry.example.com', 'http://registry.example.com/', false],
  ['git.example.com', 'http://git.example.com/org/repo.git', false],
  ['registry.example.com', 'registry.example.com:5000', true],
  ['registry.example.com', 'https://registry.example.com:8443/v2/x', true],
  ['registry.example.com:443', 'registry.example.com', true],
  ['registry.example.com:443', 'registry.example.com:5000', false],
  // docker's scheme-less server names against entries written with http:// or https://.
  ['http://localhost:5000', 'localhost:5000', true],
  ['http://localhost:5000', 'localhost:5001', false],
  ['http://localhost:5000', 'http://localhost:5000', true],
  ['http://localhost:5000', 'https://localhost:5000', false],
  ['https://registry.example.com:5000', 'registry.example.com:5000', true],
  ['http://localhost:5000/team/', 'localhost:5000/team/app', true],
  ['http://localhost:5000/team/', 'localhost:5000', false],
  ['localhost:5000', 'localhost:5000', true],
  ['localhost:5000', 'http://localhost:5000', false],
  // Docker Hub under all its names.
  ['docker.io', 'https://index.docker.io/v1/', true],
  ['docker.io', 'index.docker.io', true],
  ['docker.io', 'registry-1.docker.io', true],
  ['docker.io', 'docker.io', true],
  ['index.docker.io', 'docker.io', true],
  ['registry-1.docker.io', 'https://index.docker.io/v1/', true],
  ['https://index.docker.io/v1/', 'docker.io', true],
  ['https://index.docker.io/v1/', 'registry-1.docker.io', true],
  ['https://index.docker.io/v1/', 'https://index.docker.io/v1/', true],
  ['https://docker.io', 'index.docker.io', true],
  ['docker.io', 'http://index.docker.io/v1/', false],
  ['docker.io', 'evil-docker.io', false],
  ['docker.io', 'docker.io.evil.test', false],
  ['docker.io', 'index.docker.io:5000', false],
  ['registry.example.com', 'evil.test@registry.example.com', false],
  ['http://localhost:5000', 'evil.test@localhost:5000', false],
  ['registry.example.com:5000', 'registry.example.com', false],
  ['registry.example.com:5000', 'https://registry.example.com:5000', true],
  ['REGISTRY.example.com', 'registry.EXAMPLE.com', true],
  ['registry.example.com', 'evilregistry.example.com', false],
];

for (const [entry, url, ok] of cases) {
  it(`${entry} ${ok ? 'matches' : 'does not match'} ${url}`, () => {
    assert.equal(matchScore(entry, url) >= 0, ok);
  });
}

it('the longest matching entry wins', () => {
  const hit = bestMatch(
    [
      ['all', { match: ['git.example.com'] }],
      ['team', { match: ['https://git.example.com/team/'] }],
    ],
    'https://git.example.com/team/repo.git',
  );
  assert.equal(hit?.[0], 'team');
  assert.equal(bestMatch([['all', { match: ['git.example.com'] }]], 'https://other.example.com/')?.[0], undefined);
});

it('normalizes scheme-less docker servers and odd input', () => {
  assert.equal(normalizeUrl('registry.example.com'), 'https://registry.example.com/');
  assert.equal(normalizeUrl(''), undefined);
  assert.equal(normalizeUrl('https://[bad'), undefined);
});

it('an entry with "for" serves only those tools; a plain entry serves every tool', () => {
  const registryOnly: MatchInput = { url: 'registry.example.com', for: ['docker'] };
  assert.ok(matchScore(registryOnly, 'registry.example.com', 'docker') >= 0);
  assert.equal(matchScore(registryOnly, 'https://registry.example.com/team/repo.git', 'git'), -1);
  assert.equal(matchScore(registryOnly, 'https://registry.example.com', 'kube'), -1);
  for (const tool of ['git', 'docker', 'kube'] as Tool[]) assert.ok(matchScore('registry.example.com', 'https://registry.example.com/x', tool) >= 0, tool);
  // A git request goes to the profile whose entry is for git, even when a docker-only entry is longer.
  const hit = bestMatch(
    [
      ['registry', { match: [{ url: 'https://forge.example.com/team/', for: ['docker'] }] }],
      ['git', { match: ['https://forge.example.com/'] }],
    ],
    'https://forge.example.com/team/repo.git',
    'git',
  );
  assert.equal(hit?.[0], 'git');
});

it('which tools setup wires an entry for', () => {
  const table: Array<[MatchInput, readonly Tool[]]> = [
    ['registry.example.com', ['docker']],
    ['registry.example.com:5000', ['docker']],
    ['docker.io', ['docker']],
    ['https://index.docker.io/v1/', ['docker']],
    ['http://localhost:5000', ['git', 'docker']],
    ['http://127.0.0.1:8080/', ['git', 'docker']],
    ['https://k8s.example.com:6443', ['kube']],
    ['https://git.example.com/', ['git']],
    ['https://git.example.com', ['git']],
    ['https://git.example.com/team/', ['git']],
    ['http://git.example.com:3000/team/', ['git']],
    ['oci://r.example', []],
    [{ url: 'https://k8s.example.com:6443', for: ['git', 'kube'] }, ['git', 'kube']],
    [{ url: 'git.example.org', for: ['git'] }, ['git']],
  ];
  for (const [entry, tools] of table) assert.deepEqual(entryTools(entry), tools, JSON.stringify(entry));
});

it('the credHelpers key of a registry entry', () => {
  assert.equal(registryKey('docker.io'), 'https://index.docker.io/v1/');
  assert.equal(registryKey('registry-1.docker.io'), 'https://index.docker.io/v1/');
  assert.equal(registryKey('http://localhost:5000'), 'localhost:5000');
  assert.equal(registryKey('Registry.Example.com:5000'), 'registry.example.com:5000');
});

it('entries that cannot be matched are named', () => {
  assert.equal(entryProblem('registry.example.com'), undefined);
  assert.equal(entryProblem('https://git.example.com/x'), undefined);
  assert.match(entryProblem('registry.example.com/team') ?? '', /bare host with more than host\[:port\]/);
  assert.match(entryProblem('https://[bad') ?? '', /is not a host name or URL/);
});

describe('config files: match entries with "for"', () => {
  const dir = mkdtempSync(join(tmpdir(), 'oidc-cred-match-'));
  const file = join(dir, 'config.json');
  const write = (match: unknown): void =>
    writeFileSync(file, JSON.stringify({ profiles: { reg: { issuer: 'https://idp.example/', 'client-id': 'c', match } } }), { mode: 0o600 });
  const resolve = (purpose: 'git' | 'docker' | 'kube', url: string): string | undefined => {
    try {
      return resolveSettings({ flags: { config: file }, env: {}, home: dir, cwd: dir, purpose, url }).profile;
    } catch (err) {
      if (err instanceof NoMatchingProfile) return undefined;
      throw err;
    }
  };
  const problem = (match: unknown): string => {
    write(match);
    try {
      resolve('docker', 'registry.example.com');
    } catch (err) {
      assert.ok(err instanceof ConfigError, String(err));
      return err.message;
    }
    throw new Error('expected a ConfigError');
  };

  it('a docker-only entry serves docker, not git or kube; strings and objects mix', () => {
    write(['https://git.example.com/', { url: 'registry.example.com', for: ['docker'] }, { url: 'https://k8s.example.com:6443', for: 'kube' }]);
    assert.equal(resolve('docker', 'registry.example.com'), 'reg');
    assert.equal(resolve('git', 'https://registry.example.com/team/repo.git'), undefined);
    assert.equal(resolve('git', 'https://git.example.com/team/repo.git'), 'reg');
    assert.equal(resolve('git', 'https://k8s.example.com:6443/'), undefined);
    assert.equal(resolve('kube', 'https://k8s.example.com:6443'), 'reg');
  });
  it('a plain string still serves every tool', () => {
    write('registry.example.com');
    assert.equal(resolve('docker', 'registry.example.com'), 'reg');
    assert.equal(resolve('git', 'https://registry.example.com/x.git'), 'reg');
  });
  it('bad entries are refused with the key and the entry', () => {
    assert.match(problem([{ url: 'r.example', for: ['podman'] }]), /profiles\.reg\.match: entry 1: "for" must name one or more of git, docker, kube/);
    assert.match(problem([{ url: 'r.example', for: [] }]), /"for" must name one or more/);
    assert.match(problem(['ok.example', { host: 'r.example' }]), /profiles\.reg\.match: entry 2: unknown key "host"/);
    assert.match(problem([{ for: ['git'] }]), /entry 1: "url" must be a non-empty string/);
    assert.match(problem([42]), /entry 1: must be a string, or an object/);
    assert.match(problem('registry.example.com/team'), /profiles\.reg\.match: "registry\.example\.com\/team" is a bare host with more than host\[:port\]/);
  });
});
