// Data shaping for the run overview: tags split into user and system tags, the run's source
// and git details from MLflow's and Cairn's tags, a web link to the commit, and the "headline"
// metric keys charted at the bottom of the overview.

export type KV = [key: string, value: string];

/** Tags MLflow and Cairn set themselves (`mlflow.*`, `cairn.*`). */
export function isSystemTag(key: string): boolean {
  return key.startsWith("mlflow.") || key.startsWith("cairn.");
}

/** A run's tags split into user tags and system tags, each sorted by key. */
export function splitTags(tags: Record<string, string>): { user: KV[]; system: KV[] } {
  const user: KV[] = [];
  const system: KV[] = [];
  for (const entry of Object.entries(tags).sort(([a], [b]) => a.localeCompare(b))) {
    (isSystemTag(entry[0]) ? system : user).push(entry);
  }
  return { user, system };
}

export type GitInfo = { commit?: string; branch?: string; remote?: string; dirty?: boolean };

/** Git details from `mlflow.source.git.*` tags, else `cairn.git.*` tags. */
export function gitInfo(tags: Record<string, string>): GitInfo {
  const dirty = tags["cairn.git.dirty"];
  return {
    commit: tags["mlflow.source.git.commit"] ?? tags["cairn.git.commit"],
    branch: tags["mlflow.source.git.branch"] ?? tags["cairn.git.branch"],
    remote: tags["mlflow.source.git.repoURL"] ?? tags["cairn.git.remote"],
    dirty: dirty === undefined ? undefined : dirty === "true",
  };
}

/**
 * The web page of a commit for remotes on GitHub, GitLab or Bitbucket (https or ssh form),
 * else null.
 */
export function commitUrl(remote: string | undefined, commit: string | undefined): string | null {
  if (!remote || !commit || !/^[0-9a-f]{7,64}$/i.test(commit)) return null;
  const m =
    /^(?:https?:\/\/(?:[^@/]+@)?|ssh:\/\/git@|git@)(github\.com|gitlab\.com|bitbucket\.org)[/:](.+?)(?:\.git)?\/?$/.exec(remote);
  if (!m) return null;
  const [, host, path] = m;
  const sep = host === "gitlab.com" ? "/-/commit/" : host === "bitbucket.org" ? "/commits/" : "/commit/";
  return `https://${host}/${path}${sep}${commit}`;
}

const HEADLINE_WORDS = ["loss", "acc", "accuracy", "f1", "auc", "score", "error", "perplexity", "reward", "bleu", "iou", "map"];

/** How strongly a key looks like one to chart first (lower is first). */
function headlineRank(key: string): number {
  const lower = key.toLowerCase();
  const word = HEADLINE_WORDS.findIndex((w) => lower.split(/[/._\-\s]/).includes(w) || lower.endsWith(w));
  const split = /(^|[/._-])(val|valid|validation|eval|test)([/._-]|$)/.test(lower) ? 0 : 1;
  return (word < 0 ? 100 : word * 2) + split;
}

/**
 * Up to `limit` keys worth a chart on the overview: no system metrics, keys naming a loss or
 * accuracy-like quantity first (validation before training), then the rest by name.
 */
export function headlineKeys(keys: string[], limit = 6): string[] {
  return keys
    .filter((k) => !k.startsWith("system/"))
    .map((k) => ({ k, rank: headlineRank(k) }))
    .sort((a, b) => a.rank - b.rank || a.k.localeCompare(b.k))
    .slice(0, limit)
    .map((x) => x.k);
}

/** Rows of a key/value table whose key or value contains `query` (case-insensitive). */
export function filterPairs(pairs: KV[], query: string): KV[] {
  const q = query.trim().toLowerCase();
  if (!q) return pairs;
  return pairs.filter(([k, v]) => k.toLowerCase().includes(q) || v.toLowerCase().includes(q));
}
