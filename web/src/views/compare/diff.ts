// Shaping of the compare endpoint's answer for display: runs, the params that differ (each
// run's value, how many distinct values, the most common one), the constant params, the metric
// keys with how many runs have each, per-key metric summaries of every run (when the answer
// carries them), and the metric keys to chart by default.
import type { CompareResponse } from "../../api/client";
import { toNumber } from "../../api/doubles";

export type CompareRun = { id: string; name: string; status: string; experimentId: string };

export type DifferingParam = {
  key: string;
  /** One value per run (request order); null where the run lacks the param. */
  values: (string | null)[];
  distinct: number;
  /** The most common value (ties: the first seen). */
  mode: string | null;
};

export type MetricRow = {
  key: string;
  last: (number | null)[];
  min: (number | null)[];
  max: (number | null)[];
  mean: (number | null)[];
  /** Runs that have the key. */
  present: number;
};

/** A metric key and how many of the compared runs have it. */
export type KeyCount = { key: string; present: number };

export type DiffModel = {
  runs: CompareRun[];
  differing: DifferingParam[];
  constant: [string, string][];
  /** Every metric key of the runs, in display order (`sortMetricKeys`). */
  keys: KeyCount[];
  /** Per-key summaries in the same order; empty for an answer asked without summaries. */
  metrics: MetricRow[];
};

/** The most common value among `values` (nulls count as a value) and the distinct count. */
export function modeOf(values: (string | null)[]): { mode: string | null; distinct: number } {
  const counts = new Map<string | null, number>();
  let mode: string | null = null;
  let best = 0;
  for (const v of values) {
    const c = (counts.get(v) ?? 0) + 1;
    counts.set(v, c);
    if (c > best) {
      best = c;
      mode = v;
    }
  }
  return { mode, distinct: counts.size };
}

/** Metric keys in display order: user keys by name, then `system/` keys. */
export function sortMetricKeys(keys: string[]): string[] {
  const system = (k: string) => (k.startsWith("system/") ? 1 : 0);
  return [...keys].sort((a, b) => system(a) - system(b) || a.localeCompare(b));
}

export function shapeDiff(r: CompareResponse): DiffModel {
  const runs = r.runs.map((run) => ({ id: run.run_id, name: run.run_name, status: run.status, experimentId: run.experiment_id }));
  const differing = [...r.params.differing].sort((a, b) => a.localeCompare(b)).map((key) => {
    const values = r.runs.map((run) => run.params[key] ?? null);
    return { key, values, ...modeOf(values) };
  });
  const constant = Object.entries(r.params.constant).sort(([a], [b]) => a.localeCompare(b));
  const present = new Map(r.metric_keys.map((k) => [k.key, k.runs]));
  const keys = sortMetricKeys([...present.keys()]).map((key) => ({ key, present: present.get(key) ?? 0 }));
  const metrics = sortMetricKeys(Object.keys(r.metrics)).map((key) => {
    const list = r.metrics[key];
    const pick = (f: "last" | "min" | "max" | "mean") => list.map((s) => (s ? toNumber(s[f]) : null));
    return { key, last: pick("last"), min: pick("min"), max: pick("max"), mean: pick("mean"), present: list.filter(Boolean).length };
  });
  return { runs, differing, constant, keys, metrics };
}

/** Up to `n` keys to chart first: the ones most runs have (system metrics last), then by name. */
export function defaultChartKeys(keys: KeyCount[], n = 5): string[] {
  const system = (k: string) => (k.startsWith("system/") ? 1 : 0);
  return [...keys]
    .sort((a, b) => system(a.key) - system(b.key) || b.present - a.present || a.key.localeCompare(b.key))
    .slice(0, n)
    .map((m) => m.key);
}

/** A comma-separated list parameter (empty → []). */
export function parseList(param: string): string[] {
  return param ? param.split(",").filter(Boolean) : [];
}

/** Params that name an instance rather than a setting (seeds, ids, paths): poor default axes. */
export function isIdLike(key: string): boolean {
  return /(^|[._/-])(seed|random_state|rng|run_id|uuid|id|name|path|dir|file|output_dir|logdir)$/i.test(key);
}

/** Default plot axes: the differing params that are not id-like, in order. */
export function defaultAxes(differing: DifferingParam[], n: number): string[] {
  return differing
    .filter((d) => !isIdLike(d.key))
    .slice(0, n)
    .map((d) => d.key);
}
