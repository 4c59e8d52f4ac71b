// Small helpers the benchmark scripts share.

/** The median of a list of numbers (the upper one of an even count). */
export const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** max|a − b| / max|b|: the relative error of a against the reference b, in the largest entries' units. */
export function maxRelativeError(a, b) {
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    num = Math.max(num, Math.abs(a[i] - b[i]));
    den = Math.max(den, Math.abs(b[i]));
  }
  return num / den;
}

/** Prepared data with every task's rows copied: plugin caches keyed by the rows (XᵀX) start empty. */
export function freshData(data) {
  const copy = (t) => ({ ...t, X: { ...t.X, data: t.X.data.slice() }, y: t.y.slice() });
  return { ...data, train: data.train.map(copy), test: data.test.map(copy) };
}

/** Exits 2 naming the first command-line flag not in `known` (a misspelt flag must not run a long benchmark). */
export function checkFlags(known, usage) {
  const args = process.argv.slice(2);
  for (let i = 0; i < args.length; i++) {
    if (!args[i].startsWith('--')) continue;
    if (!known.includes(args[i])) {
      console.error(`unknown option ${args[i]}. ${usage}`);
      process.exit(2);
    }
  }
}
