/**
 * A uPlot line chart as a Preact component. The uPlot instance is made once per `structure`
 * (series layout, axis kind, log scale, theme) and fed new data with `setData`, never rebuilt
 * for it. It resizes with its container, zooms x by dragging (double-click resets) and reports
 * the range to the caller (who may fetch finer data), draws min–max bands, and shows a tooltip
 * built by the caller for the hovered x; `highlight` names a series to redraw bold on an overlay
 * while hovering (for charts of hundreds of runs); a click pins a panel with every series' value
 * at that x (`pinned`).
 */
import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { cssVar } from "../theme";
import { useDark } from "./hooks";
import type { XMode } from "./series";
import { DURATION_INCRS, formatDurationTick, formatLogTick, formatStepTicks, formatValueTick } from "./ticks";
import type { Range } from "./view";

export type LineSeries = {
  label: string;
  color: string;
  /** Stroke width in CSS px (0: an invisible band edge). */
  width?: number;
  /** Draw a line across missing values instead of leaving a gap. */
  spanGaps?: boolean;
};

/** A filled area between two series (indices into `series`). */
export type BandSpec = { upper: number; lower: number; fill: string };

export type TooltipRow = { color: string; label: string; value: string; strong?: boolean };
export type TooltipContent = { title: string; rows: TooltipRow[]; note?: string };

export type LineChartProps = {
  /** What the chart shows, for assistive technology. */
  label: string;
  /** `[x, ...one column per series]`. */
  data: uPlot.AlignedData;
  series: LineSeries[];
  bands?: BandSpec[];
  xMode: XMode;
  log: boolean;
  /** The zoomed x range, or null for all the data. */
  xRange: Range | null;
  height: number;
  /** Changes when the series layout changes (the chart is then rebuilt). */
  structure: string;
  /** Charts with the same key share the hover crosshair. */
  syncKey?: string;
  /**
   * Keep the lines out of uPlot and draw them in one pass of our own (their columns may then be
   * typed arrays with NaN gaps, see `toLineColumn`): uPlot then holds only the
   * band edges and two hidden series with each x's lowest and highest line value (for its y
   * range and cursor), instead of one configured series per line, whose set-up, scale
   * accumulation and per-series clipping dominate for hundreds of runs on a software canvas.
   */
  fastLines?: boolean;
  onZoom: (range: Range | null) => void;
  /** Tooltip for data index `idx` with the cursor at value `y`. */
  tooltip?: (idx: number, y: number) => TooltipContent | null;
  /**
   * What a click on the chart pins beside it for data index `idx`: every series' value (the
   * hover tooltip of a many-run chart lists only the nearest). Escape, the close button or a
   * double-click unpins it.
   */
  pinned?: (idx: number) => TooltipContent | null;
  /** The series to emphasise at data index `idx` with the cursor at value `y`. */
  highlight?: (idx: number, y: number) => number | null;
  /** Called after data (or a zoom) handed to the chart has been drawn. */
  onDrawn?: () => void;
  /** Called once a drag zoom has been redrawn from the data already loaded. */
  onRescaled?: () => void;
  /** Notes drawn as labelled vertical lines at their x (annotations). */
  markers?: Marker[];
};

export type Marker = { x: number; label: string };

/** Draws each marker in view as a dashed vertical line with its label at the top. */
function drawMarkers(u: uPlot, markers: Marker[] | undefined, color: string): number {
  if (!markers?.length) return 0;
  const ctx = u.ctx;
  const { left, top, width, height } = u.bbox;
  let drawn = 0;
  ctx.save();
  ctx.strokeStyle = color;
  ctx.fillStyle = color;
  ctx.lineWidth = 1.5 * devicePixelRatio;
  ctx.setLineDash([4 * devicePixelRatio, 3 * devicePixelRatio]);
  ctx.font = `${11 * devicePixelRatio}px system-ui, sans-serif`;
  for (const marker of markers) {
    const x = u.valToPos(marker.x, "x", true);
    if (!Number.isFinite(x) || x < left || x > left + width) continue;
    ctx.beginPath();
    ctx.moveTo(x, top);
    ctx.lineTo(x, top + height);
    ctx.stroke();
    const label = marker.label.length > 24 ? marker.label.slice(0, 23) + "…" : marker.label;
    ctx.fillText(label, Math.min(x + 3 * devicePixelRatio, left + width - ctx.measureText(label).width), top + 12 * devicePixelRatio);
    drawn++;
  }
  ctx.restore();
  return drawn;
}

const FONT = "11px system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif";

function xValues(mode: XMode): uPlot.Axis.Values | undefined {
  if (mode === "step") return (_u, splits, _a, _s, incr) => formatStepTicks(splits, incr);
  if (mode === "relative") return (_u, splits, _a, _s, incr) => splits.map((v) => formatDurationTick(v, incr));
  return undefined;
}

function yValues(log: boolean): uPlot.Axis.Values {
  return (_u, splits, _a, _s, incr) =>
    splits.map((v) => (v == null ? "" : log ? formatLogTick(v) : formatValueTick(v, incr)));
}

/** On a log scale, grid lines and ticks only where uPlot keeps a label (1, 2, 5 × 10ⁿ or 10ⁿ). */
const labelledOnly: uPlot.Axis.Filter = (u, splits, axisIdx, space, incr) =>
  u.axes[axisIdx].filter!(u, splits, axisIdx, space, incr);

/** Width of the y axis: room for its longest label. */
function ySize(_u: uPlot, values: string[] | null): number {
  const longest = (values ?? []).reduce((m, v) => Math.max(m, v ? v.length : 0), 1);
  return Math.ceil(longest * 6.4) + 16;
}

/** The theme's axis and grid colors, read once per theme (each read forces a style pass). */
const axisColors = new Map<boolean, { axis: string; grid: string }>();

function themeAxisColors(dark: boolean): { axis: string; grid: string } {
  let colors = axisColors.get(dark);
  if (!colors) {
    colors = { axis: cssVar("--chart-axis") || "#5c6370", grid: cssVar("--chart-grid") || "rgba(0,0,0,0.08)" };
    axisColors.set(dark, colors);
  }
  return colors;
}

function axis(mode: "x" | "y", xMode: XMode, log: boolean, dark: boolean): uPlot.Axis {
  const { axis: stroke, grid } = themeAxisColors(dark);
  const filter = mode === "y" && log ? { filter: labelledOnly } : {};
  return {
    stroke,
    font: FONT,
    grid: { stroke: grid, width: 1, ...filter },
    ticks: { stroke: grid, width: 1, size: 4, ...filter },
    ...(mode === "x"
      ? {
          space: 64,
          // Wall-clock ticks may carry the date on a second line.
          size: xMode === "time" ? 44 : 30,
          values: xValues(xMode),
          incrs: xMode === "relative" ? DURATION_INCRS : undefined,
        }
      : { space: 28, values: yValues(log), size: ySize }),
  };
}

export function LineChart(props: LineChartProps) {
  const host = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const latest = useRef(props);
  latest.current = props;
  const applied = useRef<{ data: uPlot.AlignedData | null; range: Range | null }>({ data: null, range: null });
  const pendingDraw = useRef(false);
  const layout = useRef<PlotLayout>(plotLayout([], false));
  const dark = useDark();

  // Build the chart when its structure (or the theme) changes.
  useEffect(() => {
    const el = host.current!;
    const { series, bands, xMode, log, height, syncKey, fastLines } = latest.current;
    const layoutNow = plotLayout(series, !!fastLines);
    layout.current = layoutNow;
    const tip = document.createElement("div");
    tip.className = "chart-tooltip";
    const pin = document.createElement("div");
    pin.className = "chart-pinned";
    pin.setAttribute("role", "dialog");
    pin.setAttribute("data-testid", "chart-pinned");
    let downAt: number | null = null;
    const overlay = document.createElement("canvas");
    overlay.className = "chart-overlay";
    let hovering = false;
    let rescaling = false;

    const opts: uPlot.Options = {
      width: Math.max(100, el.clientWidth),
      height,
      ms: 1,
      legend: { show: false },
      cursor: {
        y: false,
        points: { show: false },
        drag: { x: true, y: false, setScale: false },
        sync: syncKey
          ? { key: syncKey, setSeries: false, filters: { pub: (type) => type === "mousemove" || type === "mouseleave" } }
          : undefined,
        bind: {
          dblclick: () => () => {
            unpin();
            latest.current.onZoom(null);
            return null;
          },
        },
      },
      scales: { x: { time: xMode === "time" }, y: log ? { distr: 3, log: 10 } : {} },
      axes: [axis("x", xMode, log, dark), axis("y", xMode, log, dark)],
      series: [
        {},
        ...layoutNow.series.map(
          (s): uPlot.Series => ({
            label: s.label,
            stroke: s.width === 0 ? "transparent" : s.color,
            width: s.width ?? 1.5,
            spanGaps: s.spanGaps ?? false,
            // A series with a single point in view has no line to draw: show that point.
            points: { show: s.hidden || s.width === 0 ? false : lonePoint, size: 5 },
            ...(s.hidden ? { paths: () => null } : {}),
          }),
        ),
      ],
      bands: (bands ?? []).map((b) => ({ series: [layoutNow.index[b.upper] + 1, layoutNow.index[b.lower] + 1], fill: b.fill })),
      hooks: {
        setSelect: [
          (u) => {
            if (u.select.width < 4) return;
            const range: Range = [u.posToVal(u.select.left, "x"), u.posToVal(u.select.left + u.select.width, "x")];
            u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
            rescaling = true;
            u.setScale("x", { min: range[0], max: range[1] });
            applied.current.range = range;
            // Tell the caller once this redraw is on screen (its work may be a page render).
            requestAnimationFrame(() => setTimeout(() => latest.current.onZoom(range), 0));
          },
        ],
        setCursor: [(u) => updateHover(u)],
        draw: [
          (u) => {
            if (fastLines) drawLines(u, latest.current.series, latest.current.data);
            const markers = drawMarkers(u, latest.current.markers, cssVar("--accent") || "#2f6fed");
            el.dataset.markers = String(markers);
            overlay.style.display = "none";
            if (rescaling) {
              rescaling = false;
              latest.current.onRescaled?.();
            }
            if (!pendingDraw.current) return;
            pendingDraw.current = false;
            latest.current.onDrawn?.();
          },
        ],
      },
    };

    pendingDraw.current = true;
    const u = new uPlot(opts, plotData(latest.current.data, layoutNow), el);
    plot.current = u;
    applied.current = { data: latest.current.data, range: null };
    if (latest.current.xRange) {
      u.setScale("x", { min: latest.current.xRange[0], max: latest.current.xRange[1] });
      applied.current.range = latest.current.xRange;
    }
    u.over.appendChild(overlay);
    el.appendChild(tip);
    el.appendChild(pin);
    // A click (a press and release without a drag) pins every series' value at that x.
    u.over.addEventListener("mousedown", (e) => (downAt = e.clientX));
    u.over.addEventListener("click", (e) => {
      const dragged = downAt === null || Math.abs(e.clientX - downAt) >= 4;
      downAt = null;
      const idx = u.cursor.idx;
      if (dragged || idx == null || !latest.current.pinned) return;
      const content = latest.current.pinned(idx);
      if (content) showPinned(content);
    });
    const onKey = (e: KeyboardEvent) => {
      if (e.key === "Escape") unpin();
    };
    document.addEventListener("keydown", onKey);

    function unpin() {
      pin.style.display = "none";
      pin.textContent = "";
    }

    function showPinned(content: TooltipContent) {
      pin.textContent = "";
      const close = document.createElement("button");
      close.className = "ghost chart-pinned-close";
      close.title = "Close (Esc)";
      close.setAttribute("aria-label", "Close");
      close.textContent = "×";
      close.addEventListener("click", unpin);
      const body = document.createElement("div");
      body.className = "chart-pinned-body";
      renderTooltip(body, content);
      pin.append(close, body);
      pin.style.display = "block";
    }
    u.over.addEventListener("mouseenter", () => (hovering = true));
    u.over.addEventListener("mouseleave", () => {
      hovering = false;
      hideHover();
    });

    function hideHover() {
      tip.style.display = "none";
      overlay.style.display = "none";
    }

    function updateHover(u: uPlot) {
      const idx = u.cursor.idx;
      const { left, top } = u.cursor;
      if (!hovering || idx == null || left == null || top == null || left < 0) {
        hideHover();
        return;
      }
      const y = u.posToVal(top, "y");
      drawHighlight(u, latest.current.highlight?.(idx, y) ?? null);
      const content = latest.current.tooltip?.(idx, y);
      if (!content) {
        tip.style.display = "none";
        return;
      }
      renderTooltip(tip, content);
      tip.style.display = "block";
      const plotLeft = u.over.offsetLeft;
      const plotTop = u.over.offsetTop;
      const x = plotLeft + left + 14;
      const fitsRight = x + tip.offsetWidth < el.clientWidth;
      tip.style.left = (fitsRight ? x : Math.max(0, plotLeft + left - 14 - tip.offsetWidth)) + "px";
      tip.style.top = Math.max(0, Math.min(plotTop + top - tip.offsetHeight / 2, el.clientHeight - tip.offsetHeight)) + "px";
    }

    function drawHighlight(u: uPlot, si: number | null) {
      if (si === null) {
        overlay.style.display = "none";
        return;
      }
      const w = u.over.clientWidth;
      const h = u.over.clientHeight;
      const ratio = window.devicePixelRatio || 1;
      if (overlay.width !== Math.round(w * ratio) || overlay.height !== Math.round(h * ratio)) {
        overlay.width = Math.round(w * ratio);
        overlay.height = Math.round(h * ratio);
        overlay.style.width = w + "px";
        overlay.style.height = h + "px";
      }
      overlay.style.display = "block";
      const ctx = overlay.getContext("2d")!;
      ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
      ctx.clearRect(0, 0, w, h);
      const xs = u.data[0];
      const ys = latest.current.data[si + 1];
      ctx.beginPath();
      let pen = false;
      for (let i = 0; i < xs.length; i++) {
        const v = ys[i];
        if (v == null || !Number.isFinite(v)) continue;
        const px = u.valToPos(xs[i], "x");
        const py = u.valToPos(v, "y");
        if (pen) ctx.lineTo(px, py);
        else ctx.moveTo(px, py);
        pen = true;
      }
      ctx.lineWidth = 2.5;
      ctx.strokeStyle = latest.current.series[si]?.color ?? "#888";
      ctx.stroke();
    }

    const resize = new ResizeObserver(() => {
      const width = Math.max(100, el.clientWidth);
      if (width !== u.width) u.setSize({ width, height: latest.current.height });
    });
    resize.observe(el);
    return () => {
      resize.disconnect();
      document.removeEventListener("keydown", onKey);
      u.destroy();
      tip.remove();
      pin.remove();
      plot.current = null;
    };
  }, [props.structure, dark]);

  // New data or a new zoom: hand them to the existing chart in one redraw.
  useEffect(() => {
    const u = plot.current;
    if (!u) return;
    const { data, xRange } = props;
    const a = applied.current;
    if (a.data === data && sameRange(a.range, xRange)) return;
    a.data = data;
    a.range = xRange;
    pendingDraw.current = true;
    u.batch(() => {
      u.setData(plotData(data, layout.current), xRange === null);
      if (xRange) u.setScale("x", { min: xRange[0], max: xRange[1] });
    });
  }, [props.data, props.xRange]);

  useEffect(() => {
    const u = plot.current;
    if (u && u.height !== props.height) u.setSize({ width: u.width, height: props.height });
  }, [props.height]);

  useEffect(() => {
    plot.current?.redraw(false);
  }, [props.markers]);

  return <div class="line-chart" ref={host} role="img" aria-label={props.label} style={{ height: props.height + "px" }} />;
}

/** The first index of sorted `xs` at or after `v`. */
function lowerBound(xs: ArrayLike<number>, v: number): number {
  let lo = 0;
  let hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (xs[mid] < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Strokes every visible line series (missing values spanned or gapped) under one clip. */
/**
 * What uPlot itself holds for `series`: all of them; or, for `fastLines`, the band edges (width
 * 0, which uPlot fills between) followed by two hidden series, each x's lowest and highest line
 * value. `index` maps a position in `series` to its position here (-1: drawn by `drawLines`).
 */
type PlotLayout = {
  series: (LineSeries & { hidden?: boolean })[];
  index: number[];
  /** Positions in `series` of the lines folded into the hidden low/high pair. */
  lines: number[] | null;
};

function plotLayout(series: LineSeries[], fastLines: boolean): PlotLayout {
  if (!fastLines) return { series, index: series.map((_, i) => i), lines: null };
  const kept: PlotLayout["series"] = [];
  const index: number[] = [];
  const lines: number[] = [];
  series.forEach((s, i) => {
    if (s.width === 0) {
      index.push(kept.length);
      kept.push(s);
    } else {
      index.push(-1);
      lines.push(i);
    }
  });
  const hidden = { color: "transparent", width: 1, spanGaps: true, hidden: true };
  kept.push({ label: "lowest", ...hidden }, { label: "highest", ...hidden });
  return { series: kept, index, lines };
}

/** The columns uPlot gets for `data` under `layout` (see `plotLayout`). */
function plotData(data: uPlot.AlignedData, layout: PlotLayout): uPlot.AlignedData {
  if (!layout.lines) return data;
  const n = data[0].length;
  const low = new Array<number | null>(n).fill(null);
  const high = new Array<number | null>(n).fill(null);
  for (const si of layout.lines) {
    const ys = data[si + 1];
    if (!ys) continue;
    for (let i = 0; i < n; i++) {
      const v = ys[i];
      if (v == null || !Number.isFinite(v)) continue;
      const lo = low[i];
      const hi = high[i];
      if (lo === null || v < lo) low[i] = v;
      if (hi === null || v > hi) high[i] = v;
    }
  }
  const edges = layout.series.length - 2;
  const kept: uPlot.AlignedData[number][] = [];
  layout.index.forEach((to, from) => {
    if (to >= 0 && to < edges) kept[to] = data[from + 1];
  });
  return [data[0], ...kept, low, high] as uPlot.AlignedData;
}

/** Whether a series has fewer than two values in `[i0, i1]` (its one point is then drawn). */
const lonePoint = (u: uPlot, si: number, i0: number, i1: number): boolean => {
  const ys = u.data[si];
  let seen = 0;
  for (let i = i0; i <= i1 && seen < 2; i++) if (ys[i] != null) seen++;
  return seen === 1;
};

/** A y value → canvas px mapping for the chart's current y scale (linear or log₁₀). */
function yToCanvas(u: uPlot): ((v: number) => number) | null {
  const { min, max, distr } = u.scales.y;
  if (min == null || max == null || max <= min) return null;
  const { top, height } = u.bbox;
  if (distr === 3) {
    if (min <= 0) return null;
    const lo = Math.log10(min);
    const span = Math.log10(max) - lo;
    return (v) => (v > 0 ? top + height * (1 - (Math.log10(v) - lo) / span) : NaN);
  }
  const span = max - min;
  return (v) => top + height * (1 - (v - min) / span);
}

function drawLines(u: uPlot, series: LineSeries[], data: uPlot.AlignedData) {
  const xs = u.data[0];
  const { min, max } = u.scales.x;
  const yPos = yToCanvas(u);
  if (xs.length === 0 || min == null || max == null || !yPos) return;
  const i0 = Math.max(0, lowerBound(xs, min) - 1);
  const i1 = Math.min(xs.length - 1, lowerBound(xs, max));
  const px = new Float64Array(i1 - i0 + 1);
  for (let i = i0; i <= i1; i++) px[i - i0] = u.valToPos(xs[i], "x", true);
  const ctx = u.ctx;
  const ratio = window.devicePixelRatio || 1;
  const dot = 2 * ratio;
  const { left, top, width, height } = u.bbox;
  ctx.save();
  ctx.beginPath();
  ctx.rect(left, top, width, height);
  ctx.clip();
  series.forEach((s, si) => {
    if (s.width === 0) return;
    const ys = data[si + 1];
    if (!ys) return;
    ctx.beginPath();
    let pen = false;
    // A stretch of one point has no line: it is drawn as a dot.
    let stretch = 0;
    let lastX = 0;
    let lastY = 0;
    const endStretch = () => {
      if (stretch === 1) {
        ctx.moveTo(lastX + dot, lastY);
        ctx.arc(lastX, lastY, dot, 0, 2 * Math.PI);
      }
      stretch = 0;
    };
    for (let i = i0; i <= i1; i++) {
      const v = ys[i];
      const py = v == null ? NaN : yPos(v);
      if (!Number.isFinite(py)) {
        pen = pen && !!s.spanGaps;
        if (!pen) endStretch();
        continue;
      }
      lastX = px[i - i0];
      lastY = py;
      if (pen) ctx.lineTo(lastX, lastY);
      else ctx.moveTo(lastX, lastY);
      pen = true;
      stretch++;
    }
    endStretch();
    ctx.lineWidth = (s.width ?? 1.5) * ratio;
    ctx.strokeStyle = s.color;
    ctx.stroke();
  });
  ctx.restore();
}

/** Equal ranges, up to the rounding of zoom bounds in the URL (a thousandth of the width). */
function sameRange(a: Range | null, b: Range | null): boolean {
  if (!a || !b) return a === b;
  const tolerance = (a[1] - a[0]) * 1e-3;
  return Math.abs(a[0] - b[0]) <= tolerance && Math.abs(a[1] - b[1]) <= tolerance;
}

function renderTooltip(tip: HTMLElement, content: TooltipContent) {
  tip.textContent = "";
  const title = document.createElement("div");
  title.className = "chart-tooltip-title";
  title.textContent = content.title;
  tip.appendChild(title);
  for (const row of content.rows) {
    const line = document.createElement("div");
    line.className = row.strong ? "chart-tooltip-row strong" : "chart-tooltip-row";
    const swatch = document.createElement("span");
    swatch.className = "chart-swatch";
    swatch.style.background = row.color;
    const label = document.createElement("span");
    label.className = "chart-tooltip-label";
    label.textContent = row.label;
    const value = document.createElement("span");
    value.className = "chart-tooltip-value";
    value.textContent = row.value;
    line.append(swatch, label, value);
    tip.appendChild(line);
  }
  if (content.note) {
    const note = document.createElement("div");
    note.className = "chart-tooltip-note";
    note.textContent = content.note;
    tip.appendChild(note);
  }
}
