import assert from 'node:assert/strict';
import { it } from 'node:test';
import { bestMatch, matchScore, normalizeUrl } from '../../src/config/match.ts';

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
  ['registry.example.com', 'http://registry.example.com:5000/', true],
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
