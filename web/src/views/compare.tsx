// The compare page (`/compare?runs=a,b,c`, up to 1,000 runs): a header with the runs (colours
// as in the charts), the group-by and best-run choices, then the overlaid metric charts with a
// key picker, the params diff, parallel coordinates, a scatter plot and statistics. Every
// choice lives in the URL (`keys`, `group`, `best`, `dir`, the plots' axes) so a link
// reproduces the view. The charts come first, on screen and on the wire: the page starts from
// a comparison without per-run summaries, and the sections below the charts (which need the
// summaries) and the secondary requests (summaries, best run, tags, experiment names) wait until
// the charts on screen have drawn, so they neither delay those charts' requests nor compete with
// them for the server (see `useSettled`).
import type { ComponentChildren } from "preact";
import { useCallback, useEffect, useMemo, useState } from "preact/hooks";
import { api, type Experiment } from "../api/client";
import { CompareCharts } from "../charts/CompareCharts";
import { warmSeriesWorker } from "../charts/offthread";
import { seriesColor } from "../charts/palette";
import { ErrorBox, Link, Loading } from "../components/common";
import { formatNumber } from "../format";
import { useQueryParam } from "../router";
import { useThemeVersion } from "./compare/canvas";
import { defaultChartKeys, parseList, shapeDiff, type DiffModel } from "./compare/diff";
import { loadCompare, loadSummaries, MAX_RUNS, parseRunIds } from "./compare/request";
import { ParallelCoords } from "./compare/ParallelCoords";
import { ParamsDiff } from "./compare/ParamsDiff";
import { AxisPicker } from "./compare/pickers";
import { Scatter } from "./compare/Scatter";
import { Stats } from "./compare/Stats";
import { groupChoices, lowerIsBetter } from "./compare/stats";
import { useAsync } from "./run/hooks";
import { toNumber } from "../api/doubles";
import "./compare/compare.css";

const MAX_KEYS = 30;
const LEGEND_RUNS = 24;
/** The secondary work starts after this long even if the charts have not reported drawn. */
const SETTLE_FALLBACK_MS = 2500;

export function ComparePage() {
  const [runsParam] = useQueryParam("runs", "");
  const runIds = useMemo(() => parseRunIds(runsParam, MAX_RUNS), [runsParam]);
  const runsKey = runIds.join(",");
  const main = useAsync(
    (signal) => (runIds.length ? loadCompare(runIds, signal) : Promise.resolve(null)),
    [runsKey],
  );
  const model = useMemo(() => (main.data ? shapeDiff(main.data) : null), [main.data]);
  const comparedIds = useMemo(() => model?.runs.map((r) => r.id) ?? [], [model]);
  useEffect(warmSeriesWorker, []);

  if (runIds.length === 0) {
    return (
      <div class="page cp-page">
        <h1>Compare runs</h1>
        <p class="muted">
          No runs chosen. Tick runs in an experiment's runs table and press <strong>Compare</strong>.{" "}
          <Link href="/">Experiments</Link>
        </p>
      </div>
    );
  }
  if (main.error && !model) {
    return (
      <div class="page cp-page">
        <h1>Compare runs</h1>
        <ErrorBox error={main.error} />
      </div>
    );
  }
  if (!model) return <Loading what={`${runIds.length} runs`} />;
  const cut = runsParam.split(",").filter(Boolean).length > MAX_RUNS;
  return <Compare model={model} runIds={comparedIds} cut={cut} />;
}

function Compare(props: { model: DiffModel; runIds: string[]; cut: boolean }) {
  const { model, runIds } = props;
  const runsKey = runIds.join(",");
  const [keysParam, setKeys] = useQueryParam("keys", "");
  const [group, setGroup] = useQueryParam("group", "");
  const [bestParam, setBest] = useQueryParam("best", "");
  const [dirParam, setDir] = useQueryParam("dir", "");
  const metricKeys = useMemo(() => model.keys.map((m) => m.key), [model]);
  const defaults = useMemo(() => defaultChartKeys(model.keys), [model]);
  const keys = keysParam ? parseList(keysParam).filter((k) => metricKeys.includes(k)) : defaults;
  const bestMetric = metricKeys.includes(bestParam) ? bestParam : (defaults[0] ?? "");
  const direction = dirParam === "min" || dirParam === "max" ? dirParam : lowerIsBetter(bestMetric) ? "min" : "max";
  const runNames = useMemo(() => Object.fromEntries(model.runs.map((r) => [r.id, r.name])), [model]);
  const [settled, onChartsReady] = useSettled(runsKey);
  // The model with per-run summaries, for the sections below the charts.
  const full = useAsync(
    (signal) => (settled ? loadSummaries(runIds, signal).then(shapeDiff) : Promise.resolve(null)),
    [runsKey, settled],
  );
  const summarised = full.data ?? null;
  const waiting = (what: string) => (full.error ? <ErrorBox error={full.error} /> : <Loading what={what} />);

  const best = useAsync(
    (signal) =>
      settled && bestMetric
        ? api.compare({ run_ids: runIds, metrics: [bestMetric], summaries: false, best: { metric: bestMetric, direction } }, signal).then((r) => r.best ?? null)
        : Promise.resolve(null),
    [runsKey, bestMetric, direction, settled],
  );
  const bestIndex = best.data?.run_id ? runIds.indexOf(best.data.run_id) : -1;
  const tags = useAsync((signal) => (settled ? loadTags(model, signal) : Promise.resolve(undefined)), [model, settled]);
  const groups = useMemo(
    () => groupChoices(model.differing.map((d) => d.key), tags.data ?? []),
    [model, tags.data],
  );
  const experiments = useAsync((signal) => (settled ? loadExperiments(model, signal) : Promise.resolve(undefined)), [model, settled]);

  return (
    <div class="page cp-page">
      <header class="cp-header">
        <div class="cp-title">
          <h1>
            Comparing {model.runs.length.toLocaleString()} run{model.runs.length === 1 ? "" : "s"}
          </h1>
          {experiments.data && experiments.data.length > 0 && (
            <span class="muted">
              in{" "}
              {experiments.data.map((e, i) => (
                <span key={e.experiment_id}>
                  {i > 0 && ", "}
                  <Link href={`/experiments/${encodeURIComponent(e.experiment_id)}`}>{e.name}</Link>
                </span>
              ))}
            </span>
          )}
          <span class="spacer" />
          <nav class="cp-jump" aria-label="Sections">
            {SECTIONS.map(([id, label]) => (
              <button key={id} class="ghost" onClick={() => document.getElementById("cp-" + id)?.scrollIntoView({ behavior: "smooth" })}>
                {label}
              </button>
            ))}
          </nav>
        </div>
        {props.cut && <p class="rp-banner">Only the first {MAX_RUNS.toLocaleString()} runs of the link are compared.</p>}
        <div class="cp-controls">
          <label class="cp-field">
            Best run by
            <select value={bestMetric} onChange={(e) => setBest((e.currentTarget as HTMLSelectElement).value)}>
              {metricKeys.map((k) => (
                <option key={k} value={k}>
                  {k}
                </option>
              ))}
            </select>
            <select aria-label="Direction" value={direction} onChange={(e) => setDir((e.currentTarget as HTMLSelectElement).value)}>
              <option value="min">lowest</option>
              <option value="max">highest</option>
            </select>
          </label>
          {best.data?.run_id && bestIndex >= 0 && (
            <span class="cp-best-run">
              <span class="cp-star">★</span>
              <Link href={`/runs/${encodeURIComponent(best.data.run_id)}`}>{model.runs[bestIndex].name}</Link>
              <span class="mono muted">{formatNumber(toNumber(best.data.value))}</span>
            </span>
          )}
          <ErrorBox error={best.error} />
          <span class="spacer" />
          <label class="cp-field" title="Groups runs in the charts (mean ± band) and the statistics">
            Group by
            <select value={group} onChange={(e) => setGroup((e.currentTarget as HTMLSelectElement).value)}>
              <option value="">none</option>
              {groups.map((g) => (
                <option key={g} value={g}>
                  {g}
                </option>
              ))}
            </select>
          </label>
        </div>
        <Legend model={model} bestIndex={bestIndex} />
      </header>

      <Section
        id="charts"
        title="Metrics"
        tools={
          <AxisPicker
            label="Charts"
            options={metricKeys}
            chosen={keys}
            max={MAX_KEYS}
            onChange={(next) => setKeys(next.length ? next.join(",") : ",")}
            onReset={() => setKeys("")}
          />
        }
      >
        <CompareCharts runIds={runIds} runNames={runNames} keys={keys} groupBy={group || undefined} onReady={onChartsReady} />
      </Section>
      <Section id="params" title="Parameters">
        {summarised ? <ParamsDiff model={summarised} bestIndex={bestIndex} /> : waiting("parameters")}
      </Section>
      <Section id="parallel" title="Parallel coordinates">
        {summarised ? <ParallelCoords model={summarised} bestIndex={bestIndex} /> : waiting("parallel coordinates")}
      </Section>
      <div class="cp-two">
        <Section id="scatter" title="Scatter">
          {summarised ? <Scatter model={summarised} bestIndex={bestIndex} defaultY={bestMetric} /> : waiting("scatter plot")}
        </Section>
        <Section id="stats" title="Statistics">
          {summarised ? (
            <Stats
              runIds={runIds}
              model={summarised}
              group={group}
              groupChoices={groups}
              setGroup={setGroup}
              defaultMetric={bestMetric}
            />
          ) : (
            waiting("statistics")
          )}
        </Section>
      </div>
    </div>
  );
}

const SECTIONS = [
  ["charts", "Metrics"],
  ["params", "Parameters"],
  ["parallel", "Parallel"],
  ["scatter", "Scatter"],
  ["stats", "Statistics"],
] as const;

/**
 * Whether the page's secondary work may start: once the charts on screen have drawn (the
 * returned callback), or after `SETTLE_FALLBACK_MS` whatever happened. Starts over for new runs.
 */
function useSettled(runsKey: string): [boolean, () => void] {
  const [settledFor, setSettledFor] = useState("");
  useEffect(() => {
    const timer = setTimeout(() => setSettledFor(runsKey), SETTLE_FALLBACK_MS);
    return () => clearTimeout(timer);
  }, [runsKey]);
  const onReady = useCallback(() => setSettledFor(runsKey), [runsKey]);
  return [settledFor === runsKey, onReady];
}

function Section(props: { id: string; title: string; tools?: ComponentChildren; children: ComponentChildren }) {
  return (
    <section class="cp-section-card" id={"cp-" + props.id}>
      <header>
        <h2>{props.title}</h2>
        {props.tools}
      </header>
      {props.children}
    </section>
  );
}

function Legend(props: { model: DiffModel; bestIndex: number }) {
  const { model, bestIndex } = props;
  const [all, setAll] = useState(false);
  useThemeVersion();
  const dark = document.documentElement.dataset.theme === "dark";
  const shown = all ? model.runs : model.runs.slice(0, LEGEND_RUNS);
  return (
    <div class={"cp-legend" + (all ? " all" : "")}>
      {shown.map((r, i) => (
        <Link key={r.id} href={`/runs/${encodeURIComponent(r.id)}`} class={"cp-chip" + (i === bestIndex ? " best" : "")} title={`${r.name} (${r.status.toLowerCase()})`}>
          <span class="cp-dot" style={{ background: seriesColor(i, dark) }} />
          {r.name}
          {i === bestIndex && <span class="cp-star">★</span>}
        </Link>
      ))}
      {model.runs.length > LEGEND_RUNS && (
        <button class="cp-chip cp-more" onClick={() => setAll(!all)}>
          {all ? "Show fewer" : `+ ${model.runs.length - LEGEND_RUNS} more`}
        </button>
      )}
    </div>
  );
}

/** Tags of every compared run (for the group-by choices), by run id filter per experiment. */
async function loadTags(model: DiffModel, signal: AbortSignal): Promise<Record<string, string>[]> {
  const byExperiment = new Map<string, string[]>();
  for (const r of model.runs) {
    const list = byExperiment.get(r.experimentId) ?? [];
    list.push(r.id);
    byExperiment.set(r.experimentId, list);
  }
  const out: Record<string, string>[] = [];
  for (const [experimentId, ids] of byExperiment) {
    const filter = `attributes.run_id IN (${ids.map((id) => `'${id.replace(/'/g, "")}'`).join(", ")})`;
    const res = await api.searchRuns({ experiment_ids: [experimentId], filter, offset: 0, limit: MAX_RUNS, view: "all" }, signal);
    out.push(...res.runs.map((r) => r.tags));
  }
  return out;
}

/** The experiments of the compared runs (names for the header). */
async function loadExperiments(model: DiffModel, signal: AbortSignal): Promise<Experiment[]> {
  const ids = [...new Set(model.runs.map((r) => r.experimentId))].slice(0, 5);
  return Promise.all(ids.map((id) => api.getExperiment(id, signal).then((r) => r.experiment)));
}
