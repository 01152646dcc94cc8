/**
 * Metric charts of many runs overlaid, one chart per key, for the compare view. Each chart is
 * one request for every run on a shared bucket grid (`POST /api/v1/series`, only the columns
 * drawn; fewer buckets per run when there are many runs), loaded when it comes on screen. A zoom
 * redraws at once from what is loaded and then refines with a fetch of the range (runs and
 * bands alike); `cairn:chart:zoomed` is marked after each of the two draws. The hover
 * tooltip lists the runs nearest the cursor and the nearest one is drawn bold. In band mode
 * (`groupBy` set, or the toggle) each group of runs is drawn as its mean line with a ±std (or
 * min–max) band (`POST /api/v1/compare` bands); `bands=1|0` and `spread=std|range` keep that
 * choice in the URL.
 */
import { useEffect, useLayoutEffect, useMemo, useRef, useState } from "preact/hooks";
import { api } from "../api/client";
import { ErrorBox } from "../components/common";
import { formatNumber } from "../format";
import { mark } from "../perf";
import { useQueryParam } from "../router";
import { ema } from "./ema";
import { useDark, useSeen } from "./hooks";
import { chartFetches } from "./limit";
import { LineChart, type BandSpec, type LineSeries, type TooltipContent } from "./LineChart";
import { alignGroups, type AlignedGroups, type AlignedRuns } from "./merge";
import { alignedSeries } from "./offthread";
import { seriesColor } from "./palette";
import { ReadyTracker } from "./ready";
import { positiveFloor, toColumn, toLineColumn, type XMode } from "./series";
import { formatX, xAxisLabel } from "./ticks";
import { ChartToolbar, useChartParams } from "./Toolbar";
import { compareBuckets, filterKeys, nearestSeries, wholeRange, type Range } from "./view";

const HEIGHT = 240;
/** Up to this many runs, each run's min–max envelope is drawn. */
const ENVELOPE_RUNS = 20;
/** Up to this many runs, smoothing keeps each raw line faint behind. */
const RAW_BEHIND_RUNS = 50;
/** Runs listed in a tooltip. */
const TOOLTIP_RUNS = 10;

type Spread = "std" | "range";

export function CompareCharts(props: {
  runIds: string[];
  runNames: Record<string, string>;
  keys: string[];
  groupBy?: string;
  /** Runs once, when the charts on screen have first drawn (or there is nothing to draw). */
  onReady?: () => void;
}) {
  const { runIds, runNames, keys, groupBy } = props;
  const onReady = useRef(props.onReady);
  onReady.current = props.onReady;
  const params = useChartParams();
  const [bandsParam, setBands] = useQueryParam("bands", "");
  const [spreadParam, setSpread] = useQueryParam("spread", "std");
  const bands = bandsParam ? bandsParam === "1" : !!groupBy;
  const spread: Spread = spreadParam === "range" ? "range" : "std";
  const runsKey = useMemo(() => runIds.join(","), [runIds]);
  // Names as one string, so that a new but equal `runNames` object redraws nothing.
  const namesKey = useMemo(() => runIds.map((id) => runNames[id] ?? "").join("\u0000"), [runIds, runNames]);
  const tracker = useMemo(() => new ReadyTracker(() => {
        mark("cairn:compare:ready");
        onReady.current?.();
      }), [runsKey]);
  const shown = useMemo(() => filterKeys(keys, params.find), [keys, params.find]);

  useEffect(() => {
    if (shown.length === 0 || runIds.length === 0) tracker.finish();
  }, [shown.length, runIds.length, tracker]);

  return (
    <div class="chart-view" key={runsKey}>
      <ChartToolbar params={params} shown={shown.length} total={keys.length}>
        <label class="chart-check" title="Each group's mean with a shaded spread (groups by the group-by column, else all runs)">
          <input
            type="checkbox"
            checked={bands}
            onChange={(e) => setBands((e.currentTarget as HTMLInputElement).checked ? "1" : "0")}
          />
          Mean ± band
        </label>
        {bands && (
          <select aria-label="Band spread" value={spread} onChange={(e) => setSpread((e.currentTarget as HTMLSelectElement).value)}>
            <option value="std">± std</option>
            <option value="range">min – max</option>
          </select>
        )}
      </ChartToolbar>
      {shown.length === 0 && (
        <div class="muted chart-empty-view">{keys.length ? `No metric matches “${params.find}”.` : "These runs have no metrics."}</div>
      )}
      <div class="chart-grid">
        {shown.map((key) => (
          <CompareChartCard
            key={key}
            metricKey={key}
            runIds={runIds}
            runsKey={runsKey}
            namesKey={namesKey}
            runNames={runNames}
            groupBy={bands ? groupBy : undefined}
            bands={bands}
            spread={spread}
            xMode={params.xMode}
            log={params.log}
            smooth={params.smooth}
            zoom={params.zoom.get(key) ?? null}
            setZoom={params.setZoom}
            tracker={tracker}
          />
        ))}
      </div>
    </div>
  );
}

type CardProps = {
  metricKey: string;
  runIds: string[];
  runsKey: string;
  namesKey: string;
  runNames: Record<string, string>;
  groupBy: string | undefined;
  bands: boolean;
  spread: Spread;
  xMode: XMode;
  log: boolean;
  smooth: number;
  zoom: Range | null;
  setZoom: (key: string, range: Range | null) => void;
  tracker: ReadyTracker;
};

type Loaded =
  | { kind: "runs"; aligned: AlignedRuns; range: Range | null; fromZoom: boolean }
  | { kind: "groups"; aligned: AlignedGroups; fromZoom: boolean };

/** What a chart draws: uPlot columns, their series and bands, and what the tooltip reads. */
type Drawn = {
  /** Band edges as uPlot columns (`toColumn`), lines as typed columns (`toLineColumn`). */
  data: [Float64Array, ...((number | null)[] | Float64Array)[]];
  series: LineSeries[];
  bands: BandSpec[];
  /** Per run or group: index (into `series`) of its main line, and its values. */
  main: number[];
  values: Float64Array[];
  labels: string[];
  colors: string[];
};

function CompareChartCard(props: CardProps) {
  const { metricKey: key, runIds, xMode, log, smooth, zoom, bands, groupBy, spread } = props;
  const ref = useRef<HTMLDivElement>(null);
  const seen = useSeen(ref, (v) => props.tracker.report(key, v));
  const [loaded, setLoadedState] = useState<Loaded | null>(null);
  const [error, setError] = useState<unknown>(null);
  const current = useRef<Loaded | null>(null);
  const overview = useRef<Loaded | null>(null);
  const awaitingZoom = useRef(false);
  const dark = useDark();
  const zoomKey = zoom ? zoom.join(":") : "";

  const setLoaded = (l: Loaded) => {
    current.current = l;
    setLoadedState(l);
  };

  // A layout effect: the request goes out before the page paints, not after.
  useLayoutEffect(() => {
    if (!seen) return;
    const controller = new AbortController();
    const width = ref.current?.clientWidth ?? 600;
    const fromZoom = awaitingZoom.current;
    const bandBuckets = Math.max(50, Math.min(400, Math.round(width / 2)));
    const bounds = zoom ? wholeRange(zoom) : null;
    const request = (): Promise<Loaded> =>
      bands
        ? api
            .compare(
              {
                run_ids: runIds,
                metrics: [key],
                summaries: false,
                group_by: groupBy,
                bands: { metric: key, buckets: bandBuckets, x: xMode, from: bounds?.[0], to: bounds?.[1] },
              },
              controller.signal,
            )
            .then((r) => ({ kind: "groups", aligned: alignGroups(r, spread), fromZoom }))
        : manySeries(runIds, key, xMode, width, zoom, controller.signal).then((aligned) => ({
            kind: "runs",
            aligned,
            range: zoom,
            fromZoom,
          }));
    chartFetches(request, controller.signal)
      .then((l) => {
        setError(null);
        setLoaded(l);
        if (!zoom) overview.current = l;
        if (drawnCount(l) === 0) props.tracker.drawn(key);
      })
      .catch((err) => {
        if (controller.signal.aborted) return;
        setError(err);
        props.tracker.drawn(key);
      });
    return () => controller.abort();
  }, [seen, props.runsKey, key, xMode, zoomKey, bands, groupBy, spread]);

  const onZoom = (range: Range | null) => {
    if (!range && !zoom) return;
    awaitingZoom.current = true;
    const o = overview.current;
    if (!range && o && o !== current.current) setLoaded({ ...o, fromZoom: false });
    props.setZoom(key, range);
  };

  const onDrawn = () => {
    props.tracker.drawn(key);
    if (current.current?.fromZoom && awaitingZoom.current) {
      awaitingZoom.current = false;
      mark("cairn:chart:zoomed");
    }
  };

  const drawn = useMemo(
    () => (loaded ? (loaded.kind === "runs" ? runsChart(loaded.aligned, props, dark) : groupsChart(loaded.aligned, props, dark)) : null),
    [loaded, smooth, log, dark, props.namesKey],
  );

  const tooltip = (idx: number, y: number): TooltipContent | null => {
    if (!drawn || !loaded) return null;
    const at = drawn.values.map((v) => v[idx]);
    const picked = nearestSeries(at, y, TOOLTIP_RUNS);
    if (picked.length === 0) return null;
    const present = at.filter((v) => Number.isFinite(v)).length;
    return {
      title: formatX(xMode, drawn.data[0][idx]),
      rows: picked.map((i) => ({ color: drawn.colors[i], label: drawn.labels[i], value: formatNumber(at[i]) })),
      note:
        present > picked.length
          ? `${picked.length} nearest of ${present} ${loaded.kind === "groups" ? "groups" : "runs"} · click to list all`
          : undefined,
    };
  };

  // Pinned by a click: every run's (or group's) value at that x, largest first.
  const pinned = (idx: number): TooltipContent | null => {
    if (!drawn || !loaded) return null;
    const at = drawn.values.map((v) => v[idx]);
    const all = nearestSeries(at, 0, at.length);
    if (all.length === 0) return null;
    const what = loaded.kind === "groups" ? "groups" : "runs";
    return {
      title: `${formatX(xMode, drawn.data[0][idx])} · ${all.length} ${what}`,
      rows: all.map((i) => ({ color: drawn.colors[i], label: drawn.labels[i], value: formatNumber(at[i]) })),
      note: all.length < at.length ? `${at.length - all.length} without a value here` : undefined,
    };
  };

  const highlight = (idx: number, y: number): number | null => {
    if (!drawn || drawn.values.length < 2) return null;
    const [nearest] = nearestSeries(drawn.values.map((v) => v[idx]), y, 1);
    return nearest === undefined ? null : drawn.main[nearest];
  };

  const count = loaded ? drawnCount(loaded) : 0;
  const structure = drawn
    ? `${xMode}|${log}|${smooth > 0}|${loaded!.kind}|${drawn.series.length}|${props.runsKey}|${drawn.labels.join("\u0000")}`
    : "";

  return (
    <div class="chart-card" ref={ref} data-testid="compare-chart" data-key={key} data-series={count}>
      <div class="chart-head">
        <span class="chart-title" title={key}>
          {key}
        </span>
        <span class="muted chart-last">
          {loaded ? (loaded.kind === "groups" ? `${loaded.aligned.groups.length} groups` : `${count} runs`) : ""}
        </span>
        {zoom && (
          <button class="ghost chart-icon" title="Reset zoom (or double-click the chart)" onClick={() => onZoom(null)}>
            ⟲
          </button>
        )}
      </div>
      {error ? (
        <ErrorBox error={error} />
      ) : drawn && count > 0 ? (
        <>
          <LineChart
            label={`${key} of ${count} runs over ${xAxisLabel(xMode)}`}
            data={drawn.data}
            series={drawn.series}
            bands={drawn.bands}
            xMode={xMode}
            log={log}
            xRange={zoom}
            height={HEIGHT}
            structure={structure}
            syncKey={`compare:${xMode}`}
            fastLines
            onZoom={onZoom}
            tooltip={tooltip}
            pinned={pinned}
            highlight={highlight}
            onDrawn={onDrawn}
            onRescaled={() => mark("cairn:chart:zoomed")}
          />
          {loaded?.kind === "groups" && <GroupLegend groupBy={groupBy} drawn={drawn} aligned={loaded.aligned} />}
        </>
      ) : (
        <div class="chart-placeholder" style={{ height: HEIGHT + "px" }}>
          {loaded ? "No points" : seen ? "Loading…" : ""}
        </div>
      )}
    </div>
  );
}

function drawnCount(l: Loaded): number {
  return l.kind === "runs" ? l.aligned.drawn : l.aligned.groups.reduce((n, g) => n + g.runs, 0);
}

/** One many-series request sized for the chart: fewer buckets per run when there are many. */
function manySeries(
  runIds: string[],
  key: string,
  xMode: XMode,
  width: number,
  zoom: Range | null,
  signal: AbortSignal,
): Promise<AlignedRuns> {
  const bounds = zoom ? wholeRange(zoom) : null;
  const fields: ("start" | "mean" | "min" | "max")[] = ["start", "mean"];
  if (runIds.length <= ENVELOPE_RUNS) fields.push("min", "max");
  return alignedSeries(
    {
      run_ids: runIds,
      key,
      buckets: compareBuckets(width, runIds.length),
      x: xMode,
      from: bounds?.[0],
      to: bounds?.[1],
      fields,
    },
    signal,
  );
}

function runLabel(props: CardProps, id: string): string {
  return props.runNames[id] || id.slice(0, 8);
}

/** Columns for overlaid runs: envelopes (few runs), faint raw lines (smoothing), main lines. */
function runsChart(a: AlignedRuns, props: CardProps, dark: boolean): Drawn {
  const { smooth, log, runIds } = props;
  const n = runIds.length;
  const mains = a.mean.map((m) => (smooth > 0 ? ema(m, smooth) : m));
  const rawBehind = smooth > 0 && n <= RAW_BEHIND_RUNS;
  const floor = log ? positiveFloor([...mains, ...(a.min ?? []), ...(rawBehind ? a.mean : [])]) : undefined;
  // Hairlines: thicker strokes cost several times more to rasterise for hundreds of runs.
  const width = n > ENVELOPE_RUNS ? 1 : 1.5;
  const columns: ((number | null)[] | Float64Array)[] = [];
  const series: LineSeries[] = [];
  const bands: BandSpec[] = [];
  const colors = runIds.map((_, i) => seriesColor(i, dark));
  const labels = runIds.map((id) => runLabel(props, id));
  if (a.min && a.max) {
    for (let i = 0; i < n; i++) {
      columns.push(toColumn(a.max[i], floor), toColumn(a.min[i], floor));
      series.push({ label: labels[i] + " max", color: colors[i], width: 0, spanGaps: true });
      series.push({ label: labels[i] + " min", color: colors[i], width: 0, spanGaps: true });
      bands.push({ upper: series.length - 2, lower: series.length - 1, fill: seriesColor(i, dark, 0.08) });
    }
  }
  if (rawBehind) {
    for (let i = 0; i < n; i++) {
      columns.push(toLineColumn(a.mean[i], floor));
      series.push({ label: labels[i] + " raw", color: seriesColor(i, dark, 0.25), width: 1, spanGaps: true });
    }
  }
  const main: number[] = [];
  for (let i = 0; i < n; i++) {
    columns.push(toLineColumn(mains[i], floor));
    series.push({ label: labels[i], color: colors[i], width, spanGaps: true });
    main.push(series.length - 1);
  }
  return { data: [a.x, ...columns], series, bands, main, values: mains, labels, colors };
}

function groupLabel(groupBy: string | undefined, value: string | null): string {
  if (!groupBy) return "all runs";
  const name = groupBy.replace(/^(params|tags)\./, "");
  return value === null ? `${name} not set` : `${name} = ${value}`;
}

/** Columns for group bands: per group its band edges and its mean line. */
function groupsChart(a: AlignedGroups, props: CardProps, dark: boolean): Drawn {
  const { smooth, log } = props;
  const sm = (v: Float64Array) => (smooth > 0 ? ema(v, smooth) : v);
  const groups = a.groups.map((g) => ({ ...g, mean: sm(g.mean), lo: sm(g.lo), hi: sm(g.hi) }));
  const floor = log ? positiveFloor(groups.flatMap((g) => [g.lo, g.mean])) : undefined;
  const columns: (number | null)[][] = [];
  const series: LineSeries[] = [];
  const bands: BandSpec[] = [];
  const main: number[] = [];
  const colors = groups.map((_, i) => seriesColor(i, dark));
  const labels = groups.map((g) => groupLabel(props.groupBy, g.value));
  groups.forEach((g, i) => {
    columns.push(toColumn(g.hi, floor), toColumn(g.lo, floor), toColumn(g.mean, floor));
    series.push({ label: labels[i] + " high", color: colors[i], width: 0, spanGaps: true });
    series.push({ label: labels[i] + " low", color: colors[i], width: 0, spanGaps: true });
    series.push({ label: labels[i], color: colors[i], width: 1.75, spanGaps: true });
    bands.push({ upper: series.length - 3, lower: series.length - 2, fill: seriesColor(i, dark, 0.16) });
    main.push(series.length - 1);
  });
  return { data: [a.x, ...columns], series, bands, main, values: groups.map((g) => g.mean), labels, colors };
}

function GroupLegend(props: { groupBy: string | undefined; drawn: Drawn; aligned: AlignedGroups }) {
  return (
    <div class="chart-legend">
      {props.aligned.groups.map((g, i) => (
        <span class="chart-legend-item" key={i}>
          <span class="chart-swatch" style={{ background: props.drawn.colors[i] }} />
          {props.drawn.labels[i]}
          <span class="muted">({g.runs})</span>
        </span>
      ))}
    </div>
  );
}
