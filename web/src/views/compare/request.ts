/**
 * What the compare page asks first, in a module small enough for the entry bundle: the run ids
 * of a compare link and the preload of their comparison, started by the entry point while the
 * page's own code is still loading (the page then takes that answer; see api/preload). That
 * first comparison leaves out the per-run summaries (`summaries: false`: the runs, the params
 * diff and the metric keys are all the charts need, at a fraction of the server's work and the
 * bytes); the page asks for the summaries once its charts have drawn (`loadSummaries`).
 */
import { api, type CompareResponse } from "../../api/client";
import { preload, take } from "../../api/preload";

/** Runs a compare link may name; more are cut. */
export const MAX_RUNS = 1000;

/** The runs' ids from the `runs` URL parameter: comma-separated, duplicates dropped, at most `max`. */
export function parseRunIds(param: string, max = 1000): string[] {
  const seen = new Set<string>();
  for (const id of param.split(",")) {
    const t = id.trim();
    if (t) seen.add(t);
    if (seen.size >= max) break;
  }
  return [...seen];
}

const key = (runIds: string[]) => "compare:" + runIds.join(",");

/** Starts the comparison of the runs named by a compare link's query string. */
export function preloadCompare(search: URLSearchParams): void {
  const runIds = parseRunIds(search.get("runs") ?? "", MAX_RUNS);
  if (runIds.length) preload(key(runIds), () => api.compare({ run_ids: runIds, summaries: false }));
}

/** The comparison of `runIds` without summaries: the preloaded answer when there is one. */
export function loadCompare(runIds: string[], signal: AbortSignal): Promise<CompareResponse> {
  return take<CompareResponse>(key(runIds)) ?? api.compare({ run_ids: runIds, summaries: false }, signal);
}

/** The whole comparison of `runIds`, per-run metric summaries included. */
export function loadSummaries(runIds: string[], signal: AbortSignal): Promise<CompareResponse> {
  return api.compare({ run_ids: runIds }, signal);
}
