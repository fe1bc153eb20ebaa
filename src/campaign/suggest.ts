// "did you mean …?" for unknown keys: the nearest known key by edit distance.

/** Edit distance where swapping two neighbours (`nmae` → `name`) counts as one edit (optimal string alignment). */
export function editDistance(a: string, b: string): number {
  const rows = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(rows[i - 1][j] + 1, rows[i][j - 1] + 1, rows[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, rows[i - 2][j - 2] + 1);
      rows[i][j] = d;
    }
  }
  return rows[a.length][b.length];
}

export function suggest(word: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    const d = editDistance(word.toLowerCase(), k.toLowerCase());
    if (d < bestD) {
      bestD = d;
      best = k;
    }
  }
  // Short words (two-character Chinese names) are within 2 of anything of their length: a
  // suggestion must keep more than it changes.
  const limit = Math.min(Math.max(2, Math.floor(word.length / 3)), Math.ceil(word.length / 2) - 1 || 1);
  return best !== undefined && bestD <= limit && bestD < Math.max(word.length, best.length) ? best : undefined;
}

export function unknownKeyMessage(where: string, key: string, known: readonly string[]): string {
  const s = suggest(key, known);
  return `unknown key '${key}'${where ? ` in ${where}` : ''}` + (s ? `; did you mean '${s}'?` : '');
}
