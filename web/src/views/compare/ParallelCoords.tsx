// Parallel coordinates of the compared runs, drawn on a canvas: one vertical axis per chosen
// param (numeric or categorical) and a last one for a metric; each run is a polyline coloured
// by that metric. Dragging along an axis brushes a range (runs outside any brush fade), a click
// on an axis clears its brush; hovering a line names the run, clicking it opens the run. Axes,
// metric and brushes live in the URL (`pc`, `pcm`, `pcb`).
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { formatNumber } from "../../format";
import { navigate, useQueryParam } from "../../router";
import { axisTicks, type Value } from "./axis";
import { fitText, palette, prepare, useThemeVersion, useWidth } from "./canvas";
import { defaultAxes, parseList, type DiffModel } from "./diff";
import { AxisPicker } from "./pickers";
import {
  brushMask,
  brushOf,
  buildColumn,
  formatBrushes,
  parseBrushes,
  posOfY,
  viridis,
  yOf,
  type Brush,
  type Column,
} from "./parallel";

const HEIGHT = 400;
const M = { top: 44, bottom: 34, left: 64, right: 72 };
/** Distance (px) from an axis within which a drag brushes it. */
const GRAB = 14;
const DEFAULT_AXES = 6;
/** Lines are coloured in this many steps of the metric. */
const COLOR_STEPS = 32;

/** The colour step of a metric position; -1 for runs without the metric. */
function colorStep(p: number): number {
  return Number.isNaN(p) ? -1 : Math.round(p * (COLOR_STEPS - 1));
}

type Props = { model: DiffModel; bestIndex: number };

export function ParallelCoords({ model, bestIndex }: Props) {
  const [axesParam, setAxes] = useQueryParam("pc", "");
  const [metricParam, setMetric] = useQueryParam("pcm", "");
  const params = model.differing.map((d) => d.key);
  const metricKeys = model.metrics.map((m) => m.key);
  const axes = axesParam ? parseList(axesParam).filter((k) => params.includes(k)) : defaultAxes(model.differing, DEFAULT_AXES);
  const metric = metricKeys.includes(metricParam) ? metricParam : (metricKeys.find((k) => !k.startsWith("system/")) ?? "");
  // Brushes live in the URL (`pcb`), like the axes, so a link reproduces the selection.
  const [brushParam, setBrushParam] = useQueryParam("pcb", "");

  const columns = useMemo(() => {
    const cols: Column[] = axes.map((key) =>
      buildColumn("params." + key, key, model.differing.find((d) => d.key === key)!.values),
    );
    const row = model.metrics.find((m) => m.key === metric);
    if (row) cols.push(buildColumn("metrics." + metric, metric, row.last as Value[]));
    return cols;
  }, [model, axes.join(","), metric]);
  const brushes = useMemo(() => {
    const ids = new Set(columns.map((c) => c.id));
    return new Map([...parseBrushes(brushParam)].filter(([id]) => ids.has(id)));
  }, [brushParam, columns]);
  const setBrushes = (next: Map<string, Brush>) => setBrushParam(formatBrushes(next));
  const metricColumn = columns.length && metric ? columns[columns.length - 1] : null;
  const mask = useMemo(() => brushMask(columns, brushes, model.runs.length), [columns, brushes, model.runs.length]);
  const selected = mask.reduce((a, b) => a + b, 0);

  return (
    <div class="cp-plot" data-testid="parallel-coords">
      <div class="cp-plot-tools">
        <AxisPicker label="Axes" options={params} chosen={axes} onChange={(next) => setAxes(next.join(","))} />
        <label class="cp-field">
          Metric
          <select value={metric} onChange={(e) => setMetric((e.currentTarget as HTMLSelectElement).value)}>
            {metricKeys.map((k) => (
              <option key={k} value={k}>
                {k}
              </option>
            ))}
          </select>
        </label>
        <ColorLegend column={metricColumn} values={model.metrics.find((m) => m.key === metric)?.last ?? []} />
        <span class="spacer" />
        <span class="muted cp-small">
          {brushes.size ? `${selected} of ${model.runs.length} runs in the brushed ranges` : "Drag along an axis to filter runs"}
        </span>
        {brushes.size > 0 && <button onClick={() => setBrushes(new Map())}>Clear brushes</button>}
      </div>
      {columns.length < 2 ? (
        <p class="muted cp-empty">Choose at least one param axis (these runs need differing params) and a metric.</p>
      ) : (
        <Canvas model={model} columns={columns} mask={mask} brushes={brushes} setBrushes={setBrushes} bestIndex={bestIndex} />
      )}
    </div>
  );
}

function ColorLegend(props: { column: Column | null; values: (number | null)[] }) {
  if (!props.column || props.column.axis.kind !== "numeric") return null;
  const { min, max } = props.column.axis;
  const stops = Array.from({ length: 9 }, (_, i) => viridis(i / 8)).join(", ");
  return (
    <span class="cp-legend-scale" title="Line colour: the metric's last value">
      <span class="mono">{formatNumber(min)}</span>
      <span class="cp-gradient" style={{ background: `linear-gradient(to right, ${stops})` }} />
      <span class="mono">{formatNumber(max)}</span>
    </span>
  );
}

type CanvasProps = {
  model: DiffModel;
  columns: Column[];
  mask: Uint8Array;
  brushes: Map<string, Brush>;
  setBrushes: (b: Map<string, Brush>) => void;
  bestIndex: number;
};

type Drag = { col: number; from: number; to: number };

function Canvas(props: CanvasProps) {
  const { model, columns, mask, brushes, bestIndex } = props;
  const wrap = useRef<HTMLDivElement>(null);
  const canvas = useRef<HTMLCanvasElement>(null);
  const overlay = useRef<HTMLCanvasElement>(null);
  const width = useWidth(wrap);
  const theme = useThemeVersion();
  const [hover, setHover] = useState<{ run: number; x: number; y: number } | null>(null);
  const [drag, setDrag] = useState<Drag | null>(null);
  const n = model.runs.length;
  const plotW = Math.max(10, width - M.left - M.right);
  const xs = columns.map((_, j) => M.left + (columns.length === 1 ? plotW / 2 : (j * plotW) / (columns.length - 1)));
  const top = M.top;
  const bottom = HEIGHT - M.bottom;
  const missingY = bottom + 16;
  const metric = columns[columns.length - 1];

  /** Adds run i's polyline to the current path. */
  const trace = (ctx: CanvasRenderingContext2D, i: number) => {
    for (let j = 0; j < columns.length; j++) {
      const p = columns[j].pos[i];
      const y = Number.isNaN(p) ? missingY : yOf(p, top, bottom);
      if (j === 0) ctx.moveTo(xs[j], y);
      else ctx.lineTo(xs[j], y);
    }
  };
  const emphasize = (ctx: CanvasRenderingContext2D, i: number, color: string, bg: string, w: number) => {
    ctx.beginPath();
    trace(ctx, i);
    ctx.lineWidth = w + 2.5;
    ctx.strokeStyle = bg;
    ctx.stroke();
    ctx.lineWidth = w;
    ctx.strokeStyle = color;
    ctx.stroke();
  };

  // The lines, axes and brushes. Lines are stroked in one path per colour step, so a redraw
  // while brushing costs a few dozen strokes whatever the number of runs.
  useEffect(() => {
    const el = canvas.current;
    if (!el || width === 0) return;
    const frame = requestAnimationFrame(() => {
      const ctx = prepare(el, width, HEIGHT);
      const colors = palette();
      const shown = new Map(brushes);
      if (drag) shown.set(columns[drag.col].id, brushOf(drag.from, drag.to));
      const live = drag ? brushMask(columns, shown, n) : mask;
      ctx.lineWidth = 1;
      ctx.strokeStyle = colors.dim;
      ctx.globalAlpha = n > 300 ? 0.35 : n > 60 ? 0.6 : 1;
      ctx.beginPath();
      for (let i = 0; i < n; i++) if (!live[i]) trace(ctx, i);
      ctx.stroke();
      ctx.globalAlpha = 1;
      const alpha = n > 300 ? 0.45 : n > 60 ? 0.65 : 0.85;
      ctx.lineWidth = n > 300 ? 1 : 1.4;
      for (let step = -1; step < COLOR_STEPS; step++) {
        ctx.beginPath();
        let any = false;
        for (let i = 0; i < n; i++) {
          if (live[i] && colorStep(metric.pos[i]) === step) {
            trace(ctx, i);
            any = true;
          }
        }
        if (!any) continue;
        ctx.strokeStyle = step < 0 ? colors.fg2 : viridis(step / (COLOR_STEPS - 1), alpha);
        ctx.stroke();
      }
      if (bestIndex >= 0) emphasize(ctx, bestIndex, colors.accent, colors.bg, 2.5);
      drawAxes(ctx, colors, columns, xs, top, bottom, missingY, shown, width);
    });
    return () => cancelAnimationFrame(frame);
  }, [width, columns, mask, brushes, drag, bestIndex, theme]);

  // The hovered line, on a canvas of its own above.
  useEffect(() => {
    const el = overlay.current;
    if (!el || width === 0) return;
    const ctx = prepare(el, width, HEIGHT);
    const colors = palette();
    if (hover) emphasize(ctx, hover.run, colors.fg, colors.bg, 2);
  }, [width, hover?.run, columns, theme]);

  const local = (e: MouseEvent) => {
    const r = overlay.current!.getBoundingClientRect();
    return { x: e.clientX - r.left, y: e.clientY - r.top };
  };
  const axisAt = (x: number) => {
    let best = -1;
    let dist = GRAB;
    xs.forEach((ax, j) => {
      const d = Math.abs(ax - x);
      if (d < dist) {
        dist = d;
        best = j;
      }
    });
    return best;
  };
  const onDown = (e: MouseEvent) => {
    const { x, y } = local(e);
    const col = axisAt(x);
    if (col < 0) return;
    e.preventDefault();
    const p = posOfY(y, top, bottom);
    setDrag({ col, from: p, to: p });
    setHover(null);
  };
  const onMove = (e: MouseEvent) => {
    const { x, y } = local(e);
    if (drag) {
      setDrag({ ...drag, to: posOfY(y, top, bottom) });
      return;
    }
    const run = nearestLine(columns, xs, x, y, top, bottom, missingY, mask);
    setHover(run < 0 ? null : { run, x, y });
  };
  const onUp = () => {
    if (!drag) return;
    const next = new Map(brushes);
    const id = columns[drag.col].id;
    // A click (no real drag) clears the axis's brush.
    if (Math.abs(drag.to - drag.from) * (bottom - top) < 3) next.delete(id);
    else next.set(id, brushOf(drag.from, drag.to));
    setDrag(null);
    props.setBrushes(next);
  };
  const onClick = () => {
    if (hover && !drag) navigate(`/runs/${encodeURIComponent(model.runs[hover.run].id)}`);
  };

  return (
    <div class="cp-canvas-wrap" ref={wrap}>
      <canvas ref={canvas} />
      <canvas
        ref={overlay}
        class={"cp-overlay-canvas " + (hover ? "cp-pointer" : drag ? "cp-brushing" : "")}
        onMouseDown={onDown}
        onMouseMove={onMove}
        onMouseUp={onUp}
        onMouseLeave={() => {
          onUp();
          setHover(null);
        }}
        onClick={onClick}
      />
      {hover && <LineTip model={model} columns={columns} run={hover.run} x={hover.x} y={hover.y} width={width} />}
    </div>
  );
}

/** Axes with their ticks, names and brushes, and the "missing" slot below them. */
function drawAxes(
  ctx: CanvasRenderingContext2D,
  colors: ReturnType<typeof palette>,
  columns: Column[],
  xs: number[],
  top: number,
  bottom: number,
  missingY: number,
  brushes: Map<string, Brush>,
  width: number,
) {
  const spacing = columns.length > 1 ? xs[1] - xs[0] : width;
  ctx.font = "11px system-ui, sans-serif";
  columns.forEach((col, j) => {
    const x = xs[j];
    ctx.strokeStyle = colors.axis;
    ctx.lineWidth = 1;
    ctx.beginPath();
    ctx.moveTo(x + 0.5, top);
    ctx.lineTo(x + 0.5, bottom);
    ctx.stroke();
    const brush = brushes.get(col.id);
    if (brush) {
      const y1 = yOf(brush[1], top, bottom);
      const y0 = yOf(brush[0], top, bottom);
      ctx.fillStyle = colors.accent;
      ctx.globalAlpha = 0.22;
      ctx.fillRect(x - 8, y1, 16, Math.max(2, y0 - y1));
      ctx.globalAlpha = 1;
      ctx.strokeStyle = colors.accent;
      ctx.strokeRect(x - 8 + 0.5, y1 + 0.5, 16, Math.max(2, y0 - y1));
    }
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    for (const t of axisTicks(col.axis, 5, 10)) {
      const y = yOf(t.pos, top, bottom);
      ctx.strokeStyle = colors.axis;
      ctx.beginPath();
      ctx.moveTo(x - 3, y + 0.5);
      ctx.lineTo(x + 0.5, y + 0.5);
      ctx.stroke();
      haloText(ctx, colors, fitText(ctx, t.label, Math.min(90, spacing * 0.45)), x - 6, y);
    }
    if (col.pos.some((p) => Number.isNaN(p))) haloText(ctx, colors, "missing", x - 6, missingY);
    ctx.textAlign = "center";
    ctx.textBaseline = "alphabetic";
    ctx.font = "600 12px system-ui, sans-serif";
    ctx.fillStyle = colors.fg;
    const label = fitText(ctx, col.name, Math.max(40, spacing - 12));
    ctx.fillText(label, Math.min(Math.max(x, ctx.measureText(label).width / 2 + 2), width - ctx.measureText(label).width / 2 - 2), top - 22);
    ctx.font = "11px system-ui, sans-serif";
    if (col.axis.kind === "numeric" && col.axis.log) {
      ctx.fillStyle = colors.fg2;
      ctx.fillText("log", x, top - 9);
    }
  });
}

/** Text with a halo of the background colour, readable over the lines. */
function haloText(ctx: CanvasRenderingContext2D, colors: ReturnType<typeof palette>, text: string, x: number, y: number) {
  ctx.lineWidth = 3;
  ctx.lineJoin = "round";
  ctx.strokeStyle = colors.bg;
  ctx.strokeText(text, x, y);
  ctx.fillStyle = colors.fg2;
  ctx.fillText(text, x, y);
}

/** The run whose line passes closest to (x, y), within 6 px; -1 when none. */
function nearestLine(
  columns: Column[],
  xs: number[],
  x: number,
  y: number,
  top: number,
  bottom: number,
  missingY: number,
  mask: Uint8Array,
): number {
  const j = xs.findIndex((ax) => ax > x) - 1;
  if (j < 0 || j >= xs.length - 1) return -1;
  const t = (x - xs[j]) / (xs[j + 1] - xs[j]);
  const a = columns[j].pos;
  const b = columns[j + 1].pos;
  let best = -1;
  let dist = 6;
  for (let i = 0; i < a.length; i++) {
    if (!mask[i]) continue;
    const ya = Number.isNaN(a[i]) ? missingY : yOf(a[i], top, bottom);
    const yb = Number.isNaN(b[i]) ? missingY : yOf(b[i], top, bottom);
    const d = Math.abs(ya + (yb - ya) * t - y);
    if (d < dist) {
      dist = d;
      best = i;
    }
  }
  return best;
}

function LineTip(props: { model: DiffModel; columns: Column[]; run: number; x: number; y: number; width: number }) {
  const { model, columns, run } = props;
  const left = props.x > props.width - 260 ? props.x - 250 : props.x + 14;
  return (
    <div class="cp-tip" style={{ left: `${left}px`, top: `${Math.max(0, props.y - 20)}px` }}>
      <div class="cp-tip-title">{model.runs[run].name}</div>
      {columns.map((col, j) => {
        const isMetric = j === columns.length - 1;
        const v = isMetric
          ? formatNumber(model.metrics.find((m) => m.key === col.name)?.last[run])
          : (model.differing.find((d) => d.key === col.name)?.values[run] ?? "—");
        return (
          <div key={col.id} class="cp-tip-row">
            <span class="muted">{col.name}</span>
            <span class="mono">{v || "—"}</span>
          </div>
        );
      })}
      <div class="muted cp-small">Click to open the run</div>
    </div>
  );
}
