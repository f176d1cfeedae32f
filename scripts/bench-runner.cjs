'use strict';
// Times commands for scripts/bench.ts from a process with almost nothing loaded: spawning from
// the bench's own process (which holds an OpenID provider) makes every fork slower by a constant
// that would dilute the ratios. Reads a JSON spec, prints JSON medians.
//   { pairs, baseline: Case, cases: Case[] }   Case = { name, cmd: string[], env, input, expect, prepare }
// `prepare` (a command, run untimed before every run of the case) puts the state back, e.g. an
// expired access token before each timed refresh.
const { spawnSync } = require('node:child_process');
const { readFileSync } = require('node:fs');

const spec = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
function prepare(c) {
  if (!c.prepare) return;
  const r = spawnSync(c.prepare[0], c.prepare.slice(1), { env: c.env, stdio: ['ignore', 'ignore', 'pipe'] });
  if (r.status !== 0) throw new Error(`${c.name}: preparing failed (exit ${r.status}): ${r.stderr.toString().slice(0, 300)}`);
}
function once(c) {
  prepare(c);
  const t0 = process.hrtime.bigint();
  const r = spawnSync(c.cmd[0], c.cmd.slice(1), { env: c.env, input: c.input || '', stdio: ['pipe', 'pipe', 'pipe'] });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0 || (c.expect && !new RegExp(c.expect, 'm').test(r.stdout.toString()))) {
    throw new Error(`${c.name}: exit ${r.status}, no answer: ${r.stderr.toString().slice(0, 300)}`);
  }
  return ms;
}
// Peak RSS of one run, from a python wrapper that reports its child's ru_maxrss only.
function rss(c) {
  prepare(c);
  const py = 'import resource,subprocess,sys; subprocess.run(sys.argv[1:], input=sys.stdin.buffer.read(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)';
  const r = spawnSync('python3', ['-c', py, ...c.cmd], { env: c.env, input: c.input || '' });
  return Number(r.stdout.toString().trim());
}
const out = [];
for (const c of spec.cases) {
  for (let i = 0; i < 3; i++) {
    once(spec.baseline);
    once(c);
  }
  const a = [];
  const b = [];
  for (let i = 0; i < spec.pairs; i++) {
    // A B, B A, …: neither side always runs right after the other.
    if (i % 2) {
      b.push(once(c));
      a.push(once(spec.baseline));
    } else {
      a.push(once(spec.baseline));
      b.push(once(c));
    }
  }
  const ra = [];
  const rb = [];
  for (let i = 0; i < 7; i++) {
    ra.push(rss(spec.baseline));
    rb.push(rss(c));
  }
  out.push({ name: c.name, ms: median(b), baseMs: median(a), rssKb: median(rb), baseRssKb: median(ra) });
}
process.stdout.write(JSON.stringify(out));
