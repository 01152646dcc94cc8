// Statistics helpers of the compare view: a describe (n, mean, std, min, max, median) of values
// computed here for the "all runs" row, p-value formatting, and the group-by choices (differing
// params and tags whose values differ between the runs).

export type Description = { n: number; mean: number; std: number; min: number; max: number; median: number };

/** Describes the finite values (sample std, n − 1); null when there are none. */
export function describe(values: (number | null)[]): Description | null {
  const xs = values.filter((v): v is number => v !== null && Number.isFinite(v)).sort((a, b) => a - b);
  const n = xs.length;
  if (n === 0) return null;
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  const variance = n > 1 ? xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1) : NaN;
  const median = n % 2 ? xs[(n - 1) / 2] : (xs[n / 2 - 1] + xs[n / 2]) / 2;
  return { n, mean, std: Math.sqrt(variance), min: xs[0], max: xs[n - 1], median };
}

/** A p-value for display: "< 0.001" below that, else three decimals. */
export function formatP(p: number | null): string {
  if (p === null || Number.isNaN(p)) return "—";
  if (p < 0.001) return "< 0.001";
  return p.toFixed(3);
}

/**
 * The `group_by` choices: `params.<key>` of the differing params, then `tags.<key>` of the tags
 * that tell runs apart (two or more values, counting "no such tag"), MLflow's and Cairn's
 * per-run bookkeeping tags left out.
 */
export function groupChoices(differing: string[], tagsPerRun: Record<string, string>[]): string[] {
  const values = new Map<string, Set<string>>();
  const seen = new Map<string, number>();
  for (const tags of tagsPerRun) {
    for (const [k, v] of Object.entries(tags)) {
      if (BOOKKEEPING.test(k)) continue;
      let set = values.get(k);
      if (!set) values.set(k, (set = new Set()));
      set.add(v);
      seen.set(k, (seen.get(k) ?? 0) + 1);
    }
  }
  const tagKeys = [...values.entries()]
    .filter(([k, set]) => set.size + (seen.get(k)! < tagsPerRun.length ? 1 : 0) > 1)
    .map(([k]) => k)
    .sort();
  return [...differing.map((k) => "params." + k), ...tagKeys.map((k) => "tags." + k)];
}

const BOOKKEEPING = /^(mlflow\.(runName|note\.content|source\.|log-model|parentRunId|loggedArtifacts)|cairn\.(command|cwd|git\.|host|python|platform))/;

/** Whether lower is better for a metric, guessed from its name (losses, errors, times). */
export function lowerIsBetter(key: string): boolean {
  return /(loss|error|err\b|mse|mae|rmse|perplexity|ppl|time|latency|duration|cost|regret|wer|cer|fid)/i.test(key);
}
