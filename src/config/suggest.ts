// "Did you mean": the closest known name to a mistyped flag, command or config key.
// Pure and import-free, so that the config reader on the hot path can use it for its errors.

/** The closest known name within two edits, for "did you mean". */
export function closest(word: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = 3;
  for (const k of known) {
    const d = editDistance(word, k);
    if (d < bestD || (d === bestD && best !== undefined && k.startsWith(word) && !best.startsWith(word))) {
      best = k;
      bestD = d;
    }
  }
  // A prefix of a longer name ("--issue" for "--issuer") counts too.
  return best ?? known.find((k) => k.startsWith(word) && word.length >= 3);
}

function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
  }
  return d[a.length]![b.length]!;
}
