// The README and docs/ as a newcomer and the npm package page see them: links that resolve,
// every example referenced, config snippets that the real config loader accepts.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, existsSync, mkdtempSync, writeFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve, dirname } from 'node:path';
import { describe, it } from 'node:test';
import { loadConfigFile } from '../../src/config/resolve.ts';

const ROOT = resolve(import.meta.dirname, '..', '..');
const REPO_URL = 'https://github.com/oidc-cred/oidc-cred/blob/main/';
/** Pages other engineers write in parallel; linked from here, created there. */
const WRITTEN_ELSEWHERE = new Set(['docs/docker.md', 'docs/architecture.md', 'docs/providers/glewlwyd.md']);

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? walk(p) : [p];
  });
}
const docs = (): string[] => [join(ROOT, 'README.md'), ...walk(join(ROOT, 'docs')).filter((f) => f.endsWith('.md'))];
const links = (text: string): string[] => [...text.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]!);

describe('README and docs', () => {
  it('the README stays short enough to read first', () => {
    const lines = readFileSync(join(ROOT, 'README.md'), 'utf8').split('\n').length;
    assert.ok(lines <= 260, `README.md has ${lines} lines`);
  });

  it('README links work on the npm package page: docs and examples by absolute URL', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    for (const l of links(readme)) {
      assert.ok(/^(https?:|#)/.test(l), `README.md links to ${l}, which the npm page cannot resolve`);
    }
  });

  it('every link into the repository points at a file that exists', () => {
    for (const file of docs()) {
      for (const l of links(readFileSync(file, 'utf8'))) {
        let target: string;
        if (l.startsWith(REPO_URL)) target = l.slice(REPO_URL.length);
        else if (/^(https?:|mailto:|#)/.test(l)) continue;
        else target = relative(ROOT, resolve(dirname(file), l.split('#')[0]!));
        target = target.replace(/\/$/, '');
        if (WRITTEN_ELSEWHERE.has(target)) continue;
        assert.ok(existsSync(join(ROOT, target)), `${relative(ROOT, file)} links to ${l}: no ${target}`);
      }
    }
  });

  it('every file in examples/ is referenced from the README, docs/ or its folder\'s README', () => {
    const text = [...docs(), ...walk(join(ROOT, 'examples')).filter((f) => f.endsWith('README.md'))].map((f) => readFileSync(f, 'utf8')).join('\n');
    for (const f of walk(join(ROOT, 'examples'))) {
      const rel = relative(ROOT, f);
      const name = rel.split('/').pop()!;
      const inOwnReadme = existsSync(join(dirname(f), 'README.md')) && readFileSync(join(dirname(f), 'README.md'), 'utf8').includes(`(${name})`);
      assert.ok(text.includes(rel) || inOwnReadme || name === 'README.md' && text.includes(relative(ROOT, dirname(f))), `${rel} is not referenced`);
    }
  });

  it('no page points readers at the product contract or at docs/kube.md', () => {
    for (const f of [...docs(), ...walk(join(ROOT, 'examples'))]) {
      const t = readFileSync(f, 'utf8');
      assert.doesNotMatch(t, /SPEC §|docs\/kube\.md/, relative(ROOT, f));
    }
  });

  it('the config snippets of the README, docs/ and examples/ load with the real config loader', () => {
    const dir = mkdtempSync(join(tmpdir(), 'oidc-cred-docs-'));
    try {
      const snippets: Array<[string, string]> = [];
      for (const f of docs()) {
        for (const m of readFileSync(f, 'utf8').matchAll(/```json\n([\s\S]*?)```/g)) {
          const body = m[1]!.replace(/^ {3}/gm, '');
          if (/"profiles"/.test(body)) snippets.push([relative(ROOT, f), body]);
        }
      }
      // The quick start's heredoc.
      const quick = /<<'JSON'\n([\s\S]*?)\n\s*JSON\n/.exec(readFileSync(join(ROOT, 'README.md'), 'utf8'));
      assert.ok(quick, 'the quick start writes a config file');
      snippets.push(['README.md quick start', quick[1]!.replace(/^ {3}/gm, '')]);
      for (const f of ['examples/git/config.json', 'examples/docker/oidc-cred-config.json']) snippets.push([f, readFileSync(join(ROOT, f), 'utf8')]);
      assert.ok(snippets.length >= 10, `only ${snippets.length} snippets found`);
      for (const [where, body] of snippets) {
        const file = join(dir, 'config.json');
        writeFileSync(file, body);
        const c = loadConfigFile({ flags: { config: file }, env: {}, home: dir, cwd: dir });
        assert.ok(c.profiles.size > 0, where);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
