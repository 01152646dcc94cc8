/**
 * One run's metric charts: a toolbar (x axis, log scale, smoothing, key search, group by
 * prefix) over a grid of charts, one per key, in collapsible sections by key prefix
 * (`train/loss` → "train"). Each chart loads when it comes on screen: about one bucket per pixel
 * of the server's downsampled view (at most six requests at once), the bucket mean as the line
 * and the min–max envelope behind it. Dragging zooms and refetches the range at full
 * resolution; while the run is running, points from the live stream are added to the drawn
 * buckets as they are logged. Besides the toolbar's URL parameters, `layout=flat` turns the
 * sections off and `collapsed` lists the closed ones.
 */
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { api } from "../api/client";
import { ErrorBox } from "../components/common";
import { formatNumber } from "../format";
import { subscribe, type PointsEvent } from "../live";
import { mark } from "../perf";
import { useQueryParam } from "../router";
import { ema } from "./ema";
import { useDark, useSeen } from "./hooks";
import { chartFetches } from "./limit";
import { LineChart, type BandSpec, type LineSeries, type Marker, type TooltipContent } from "./LineChart";
import { AnnotationsPanel, useAnnotations } from "./Annotations";
import { seriesColor } from "./palette";
import { ReadyTracker } from "./ready";
import {
  appendPoints,
  edgeOf,
  fromResponse,
  lastXOf,
  lineOf,
  pointXs,
  positiveFloor,
  toColumn,
  type BucketSeries,
  type XMode,
} from "./series";
import { formatX, xAxisLabel } from "./ticks";
import { ChartToolbar, useChartParams } from "./Toolbar";
import { filterKeys, groupByPrefix, wholeRange, type Range } from "./view";

type LiveListener = (event: PointsEvent | null) => void;
type LiveHub = { on: (key: string, listener: LiveListener) => () => void };

const HEIGHT = 200;
const EXPANDED_HEIGHT = 380;

/**
 * The run's live points, handed to the chart of their key (`null`: refetch, events were
 * missed). Points of keys with no chart yet are reported through `onNewKey`.
 */
function useLiveHub(runId: string, running: boolean, onNewKey: (key: string) => void): LiveHub {
  const listeners = useRef(new Map<string, Set<LiveListener>>());
  const newKey = useRef(onNewKey);
  newKey.current = onNewKey;
  useEffect(() => {
    if (!running) return;
    return subscribe({ runs: [runId] }, (event) => {
      if (event.type === "points" && event.run_id === runId) {
        const set = listeners.current.get(event.key);
        if (set) set.forEach((l) => l(event));
        else newKey.current(event.key);
      } else if (event.type === "resync") {
        listeners.current.forEach((set) => set.forEach((l) => l(null)));
      }
    });
  }, [runId, running]);
  return useMemo(
    () => ({
      on(key, listener) {
        let set = listeners.current.get(key);
        if (!set) listeners.current.set(key, (set = new Set()));
        set.add(listener);
        return () => {
          set.delete(listener);
          if (set.size === 0) listeners.current.delete(key);
        };
      },
    }),
    [],
  );
}

/** The run's start time when the relative axis needs it: undefined while loading. */
function useRunStart(runId: string, needed: boolean): number | null | undefined {
  const [start, setStart] = useState<{ runId: string; time: number | null } | null>(null);
  useEffect(() => {
    if (!needed || start?.runId === runId) return;
    const controller = new AbortController();
    api
      .getRun(runId, controller.signal)
      .then((r) => setStart({ runId, time: r.run.info.start_time }))
      .catch(() => !controller.signal.aborted && setStart({ runId, time: null }));
    return () => controller.abort();
  }, [runId, needed, start]);
  if (!needed) return null;
  return start?.runId === runId ? start.time : undefined;
}

export function RunCharts(props: {
  runId: string;
  running: boolean;
  keys: string[];
  /** Chart only `keys`: live points of other keys add no charts (a short headline list). */
  fixedKeys?: boolean;
}) {
  const { runId, running, keys, fixedKeys } = props;
  const params = useChartParams();
  const [layout, setLayout] = useQueryParam("layout", "prefix");
  const [collapsedParam, setCollapsed] = useQueryParam("collapsed", "");
  const [liveKeys, setLiveKeys] = useState<string[]>([]);
  const hub = useLiveHub(runId, running, (key) =>
    setLiveKeys((prev) => (fixedKeys || keys.includes(key) || prev.includes(key) ? prev : [...prev, key])),
  );
  const tracker = useMemo(() => new ReadyTracker(() => mark("cairn:run:ready")), [runId]);
  const allKeys = useMemo(() => [...keys, ...liveKeys.filter((k) => !keys.includes(k))], [keys, liveKeys]);
  const shown = useMemo(() => filterKeys(allKeys, params.find), [allKeys, params.find]);
  const origin = useRunStart(runId, params.xMode === "relative");
  const annotations = useAnnotations(runId);
  const collapsed = new Set(collapsedParam ? collapsedParam.split(",") : []);
  const sections = layout === "flat" ? [{ name: "", keys: [...shown].sort() }] : groupByPrefix(shown);
  const rendered = sections.reduce((n, s) => n + (collapsed.has(s.name) ? 0 : s.keys.length), 0);

  useEffect(() => {
    if (rendered === 0) tracker.finish();
  }, [rendered, tracker]);

  const toggle = (name: string) => {
    const next = new Set(collapsed);
    if (next.has(name)) next.delete(name);
    else next.add(name);
    setCollapsed([...next].join(","));
  };

  const card = (key: string) => (
    <RunChartCard
      key={key}
      runId={runId}
      metricKey={key}
      xMode={params.xMode}
      log={params.log}
      smooth={params.smooth}
      zoom={params.zoom.get(key) ?? null}
      setZoom={params.setZoom}
      hub={hub}
      tracker={tracker}
      origin={origin}
      markers={params.xMode === "step" ? annotations.markers.get(key) : undefined}
    />
  );

  return (
    <div class="chart-view" key={runId}>
      <ChartToolbar params={params} shown={shown.length} total={allKeys.length}>
        <label class="chart-check">
          <input
            type="checkbox"
            checked={layout !== "flat"}
            onChange={(e) => setLayout((e.currentTarget as HTMLInputElement).checked ? "prefix" : "flat")}
          />
          Group by prefix
        </label>
      </ChartToolbar>
      {allKeys.length === 0 && <div class="muted chart-empty-view">This run has no metrics yet.</div>}
      {allKeys.length > 0 && shown.length === 0 && <div class="muted chart-empty-view">No metric matches “{params.find}”.</div>}
      {sections.map((section) =>
        section.name === "" ? (
          <div class="chart-grid" key="all">
            {section.keys.map(card)}
          </div>
        ) : (
          <section class="chart-section" key={section.name}>
            <button
              class="chart-section-head"
              aria-expanded={!collapsed.has(section.name)}
              onClick={() => toggle(section.name)}
            >
              <span class="chart-caret">{collapsed.has(section.name) ? "▸" : "▾"}</span>
              {section.name}
              <span class="muted"> ({section.keys.length})</span>
            </button>
            {!collapsed.has(section.name) && <div class="chart-grid">{section.keys.map(card)}</div>}
          </section>
        ),
      )}
      {!fixedKeys && allKeys.length > 0 && <AnnotationsPanel runId={runId} keys={allKeys} state={annotations} />}
    </div>
  );
}

type View = {
  series: BucketSeries;
  /** The zoom the data was fetched for (null: the whole series). */
  range: Range | null;
  /** Buckets asked for. */
  buckets: number;
  /** This data answers a zoom (mark when drawn). */
  fromZoom: boolean;
  /** Retention thinned some points to this many steps per kept point (null: intact). */
  thinned: number | null;
};

type CardProps = {
  runId: string;
  metricKey: string;
  xMode: XMode;
  log: boolean;
  smooth: number;
  zoom: Range | null;
  setZoom: (key: string, range: Range | null) => void;
  hub: LiveHub;
  tracker: ReadyTracker;
  /** The run's start (relative axis), null when not needed, undefined while loading. */
  origin: number | null | undefined;
  /** Annotations of this key (step axis only). */
  markers?: Marker[];
};

/** Adds live events to a view; null when its buckets must be refetched instead. */
function withEvents(view: View, events: PointsEvent[], xMode: XMode, origin: number | null, after = -Infinity): View | null {
  let series = view.series;
  const range = view.range ? { from: view.range[0], to: view.range[1] } : {};
  for (const e of events) {
    const xs = pointXs(xMode, e.steps, e.timestamps, origin);
    const keep = xs.map((x) => (x > after ? x : NaN));
    const next = appendPoints(series, keep, e.values, range);
    if (!next) return null;
    series = next;
  }
  if (series.start.length > 2 * view.buckets) return null;
  return { ...view, series };
}

function RunChartCard(props: CardProps) {
  const { runId, metricKey: key, xMode, log, smooth, zoom, origin } = props;
  const ref = useRef<HTMLDivElement>(null);
  const seen = useSeen(ref, (v) => props.tracker.report(key, v));
  const [view, setViewState] = useState<View | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [expanded, setExpanded] = useState(false);
  const [refresh, setRefresh] = useState(0);
  const current = useRef<View | null>(null);
  const overview = useRef<{ xMode: XMode; view: View } | null>(null);
  const awaitingZoom = useRef(false);
  const dark = useDark();
  const zoomKey = zoom ? zoom.join(":") : "";

  const setView = (v: View | null) => {
    current.current = v;
    setViewState(v);
  };

  // Load the view (on first sight, and when the axis, the zoom or a refetch asks), then follow
  // the live stream: events are queued and added once per animation frame.
  useEffect(() => {
    if (!seen || origin === undefined) return;
    const controller = new AbortController();
    let loading = true;
    let queued: PointsEvent[] = [];
    let frame = 0;
    const flush = () => {
      frame = 0;
      const v = current.current;
      if (!v || queued.length === 0) return;
      const next = withEvents(v, queued, xMode, origin);
      queued = [];
      if (next) setView({ ...next, fromZoom: false });
      else setRefresh((r) => r + 1);
    };
    const off = props.hub.on(key, (event) => {
      if (event === null) {
        setRefresh((r) => r + 1);
        return;
      }
      queued.push(event);
      if (!loading && !frame) frame = requestAnimationFrame(flush);
    });
    // The server rounds the bucket width up to a power of two (between half and all the
    // buckets asked for come back): ask for 1.5 per pixel to get about one.
    const width = ref.current?.clientWidth ?? 600;
    const buckets = Math.max(50, Math.min(6000, Math.round(width * 1.5)));
    const bounds = zoom ? wholeRange(zoom) : null;
    chartFetches(
      () => api.runSeries(runId, key, { buckets, x: xMode, from: bounds?.[0], to: bounds?.[1] }, controller.signal),
      controller.signal,
    )
      .then((r) => {
        loading = false;
        const series = fromResponse(r, xMode, origin);
        let v: View = { series, range: zoom, buckets, fromZoom: awaitingZoom.current, thinned: r.thinned };
        // Points that came while the request was out and are newer than its answer.
        v = withEvents(v, queued, xMode, origin, lastXOf(series)) ?? v;
        queued = [];
        setError(null);
        setView(v);
        if (!zoom) overview.current = { xMode, view: v };
        if (series.start.length === 0) props.tracker.drawn(key);
      })
      .catch((err) => {
        if (controller.signal.aborted) return;
        setError(err);
        props.tracker.drawn(key);
      });
    return () => {
      controller.abort();
      cancelAnimationFrame(frame);
      off();
    };
  }, [seen, runId, key, xMode, zoomKey, origin, refresh, expanded]);

  const onZoom = (range: Range | null) => {
    if (!range && !zoom) return;
    awaitingZoom.current = true;
    const o = overview.current;
    if (!range && o && o.xMode === xMode) setView({ ...o.view, fromZoom: false });
    props.setZoom(key, range);
  };

  const onDrawn = () => {
    const v = current.current;
    props.tracker.drawn(key);
    if (v?.fromZoom && awaitingZoom.current) {
      awaitingZoom.current = false;
      mark("cairn:chart:zoomed");
    }
  };

  const drawn = useMemo(() => (view ? chartData(view.series, smooth, log) : null), [view, smooth, log]);
  const color = seriesColor(0, dark);
  const lines: LineSeries[] = [
    { label: "max", color, width: 0 },
    { label: "min", color, width: 0 },
    { label: key, color: smooth > 0 ? seriesColor(0, dark, 0.3) : color, width: smooth > 0 ? 1 : 1.5 },
    ...(smooth > 0 ? [{ label: "smoothed", color, width: 1.5 }] : []),
  ];
  const bands: BandSpec[] = [{ upper: 0, lower: 1, fill: seriesColor(0, dark, 0.14) }];
  const points = view?.series.start.length ?? 0;
  const last = view && points > 0 && !view.range ? view.series.last[points - 1] : null;

  const tooltip = (idx: number): TooltipContent | null => {
    if (!view || !drawn) return null;
    const s = view.series;
    const rows = [];
    if (drawn.smoothed) rows.push({ color, label: "smoothed", value: formatNumber(drawn.smoothed[idx]), strong: true });
    const several = s.count[idx] > 1;
    rows.push({
      color: smooth > 0 ? seriesColor(0, dark, 0.4) : color,
      label: several ? "mean" : "value",
      value: formatNumber(drawn.line[idx]),
      strong: !drawn.smoothed,
    });
    if (several) {
      rows.push({ color: seriesColor(0, dark, 0.2), label: "min – max", value: `${formatNumber(s.min[idx])} – ${formatNumber(s.max[idx])}` });
      rows.push({ color: "transparent", label: "last", value: formatNumber(s.last[idx]) });
    }
    return {
      title: formatX(xMode, s.x[idx]),
      rows,
      note: several ? `${s.count[idx].toLocaleString()} points in this bucket` : undefined,
    };
  };

  return (
    <div
      class={"chart-card" + (expanded ? " expanded" : "")}
      ref={ref}
      data-testid="metric-chart"
      data-key={key}
      data-points={points}
    >
      <div class="chart-head">
        <span class="chart-title" title={key}>
          {key}
        </span>
        {view?.thinned && (
          <span class="badge" title={`Older points were thinned by retention to one per ${view.thinned} steps`}>
            thinned
          </span>
        )}
        {last !== null && <span class="chart-last mono" title="Latest value">{formatNumber(last)}</span>}
        {zoom && (
          <button class="ghost chart-icon" title="Reset zoom (or double-click the chart)" onClick={() => onZoom(null)}>
            ⟲
          </button>
        )}
        <button
          class="ghost chart-icon"
          title={expanded ? "Shrink" : "Enlarge"}
          aria-label={expanded ? "Shrink chart" : "Enlarge chart"}
          onClick={() => setExpanded(!expanded)}
        >
          {expanded ? "⤡" : "⤢"}
        </button>
      </div>
      {error ? (
        <ErrorBox error={error} />
      ) : view && drawn && points > 0 ? (
        <LineChart
          label={`${key} over ${xAxisLabel(xMode)}`}
          data={drawn.data}
          series={lines}
          bands={bands}
          xMode={xMode}
          log={log}
          xRange={zoom}
          height={expanded ? EXPANDED_HEIGHT : HEIGHT}
          structure={`${xMode}|${log}|${smooth > 0}`}
          syncKey={`run:${runId}:${xMode}`}
          onZoom={onZoom}
          tooltip={tooltip}
          onDrawn={onDrawn}
          markers={props.markers}
        />
      ) : (
        <div class="chart-placeholder" style={{ height: (expanded ? EXPANDED_HEIGHT : HEIGHT) + "px" }}>
          {view ? (zoom ? "No points in this range" : "No points") : seen ? "Loading…" : ""}
        </div>
      )}
    </div>
  );
}

/** The columns drawn for one run: envelope (max, min), the line, and its smoothed copy. */
function chartData(s: BucketSeries, smooth: number, log: boolean) {
  const line = lineOf(s);
  const lo = edgeOf(s, s.min, line);
  const hi = edgeOf(s, s.max, line);
  const smoothed = smooth > 0 ? ema(line, smooth) : null;
  const floor = log ? positiveFloor([lo, line]) : undefined;
  const columns = [toColumn(hi, floor), toColumn(lo, floor), toColumn(line, floor)];
  if (smoothed) columns.push(toColumn(smoothed, floor));
  return { data: [s.x, ...columns] as [Float64Array, ...(number | null)[][]], line, smoothed };
}
