// A scatter plot of the compared runs on a canvas: x is any differing param or metric, y any
// metric (last values), each axis linear or log; categorical x values spread in their slot.
// Hovering names the nearest run, clicking opens it; the best run is ringed.
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { formatNumber } from "../../format";
import { navigate, useQueryParam } from "../../router";
import { seriesColor } from "../../charts/palette";
import { axisTicks, buildAxis, position, type Axis, type Value } from "./axis";
import { fitText, palette, prepare, useThemeVersion, useWidth } from "./canvas";
import { isIdLike, type DiffModel } from "./diff";

const HEIGHT = 360;
const M = { top: 14, right: 18, bottom: 46, left: 66 };
const HIT = 10;

type Source = { id: string; label: string; values: Value[] };

/** The choosable columns: metrics (`metrics.<key>`, last values) and differing params. */
function sources(model: DiffModel): Source[] {
  return [
    ...model.metrics.map((m) => ({ id: "metrics." + m.key, label: m.key, values: m.last as Value[] })),
    ...model.differing.map((d) => ({ id: "params." + d.key, label: d.key, values: d.values })),
  ];
}

/** Positions drawn inside a margin of the frame, so points on the extremes stay whole. */
const PAD = 0.04;
const inset = (p: number) => PAD + p * (1 - 2 * PAD);

/** A small deterministic offset in [-0.5, 0.5) for run `i` (spreads categorical points). */
function jitter(i: number): number {
  const x = Math.sin(i * 12.9898 + 78.233) * 43758.5453;
  return x - Math.floor(x) - 0.5;
}

/** The differing param with the most distinct values (the likeliest sweep dimension), ids aside. */
function defaultX(model: DiffModel, all: Source[]): Source | undefined {
  const top = [...model.differing].filter((d) => !isIdLike(d.key)).sort((a, b) => b.distinct - a.distinct)[0];
  return top && all.find((s) => s.id === "params." + top.key);
}

export function Scatter(props: { model: DiffModel; bestIndex: number; defaultY: string }) {
  const { model, bestIndex } = props;
  const all = useMemo(() => sources(model), [model]);
  const metrics = all.filter((s) => s.id.startsWith("metrics."));
  const [xParam, setX] = useQueryParam("sx", "");
  const [yParam, setY] = useQueryParam("sy", "");
  const [logX, setLogX] = useQueryParam("slx", "");
  const [logY, setLogY] = useQueryParam("sly", "");
  const x = all.find((s) => s.id === xParam) ?? defaultX(model, all) ?? metrics[0];
  const y = metrics.find((s) => s.id === yParam) ?? metrics.find((s) => s.label === props.defaultY) ?? metrics[0];
  if (!x || !y) {
    return (
      <div class="cp-plot" data-testid="scatter">
        <p class="muted cp-empty">These runs have no metrics to plot.</p>
      </div>
    );
  }
  // "" lets the axis choose (log for positive values spanning decades), "1"/"0" force it.
  const xAxis = buildAxis(x.values, logX === "" ? "auto" : logX === "1");
  const yAxis = buildAxis(y.values, logY === "" ? "auto" : logY === "1");
  const select = (value: string, set: (v: string) => void, options: Source[], label: string) => (
    <label class="cp-field">
      {label}
      <select value={value} onChange={(e) => set((e.currentTarget as HTMLSelectElement).value)}>
        {options.map((s) => (
          <option key={s.id} value={s.id}>
            {s.id.startsWith("params.") ? "param " : ""}
            {s.label}
          </option>
        ))}
      </select>
    </label>
  );
  const logBox = (axis: Axis, set: (v: string) => void, name: string) =>
    axis.kind === "numeric" && (
      <label class="cp-check" title={axis.min > 0 ? "" : "Needs positive values"}>
        <input type="checkbox" checked={axis.log} disabled={axis.min <= 0} onChange={() => set(axis.log ? "0" : "1")} /> log {name}
      </label>
    );
  return (
    <div class="cp-plot" data-testid="scatter">
      <div class="cp-plot-tools">
        {select(x.id, setX, all, "x")}
        {logBox(xAxis, setLogX, "x")}
        {select(y.id, setY, metrics, "y")}
        {logBox(yAxis, setLogY, "y")}
      </div>
      <ScatterCanvas model={model} x={x} y={y} xAxis={xAxis} yAxis={yAxis} bestIndex={bestIndex} />
    </div>
  );
}

type Point = { i: number; px: number; py: number };

function ScatterCanvas(props: { model: DiffModel; x: Source; y: Source; xAxis: Axis; yAxis: Axis; bestIndex: number }) {
  const { model, x, y, xAxis, yAxis, bestIndex } = props;
  const wrap = useRef<HTMLDivElement>(null);
  const canvas = useRef<HTMLCanvasElement>(null);
  const overlay = useRef<HTMLCanvasElement>(null);
  const width = useWidth(wrap);
  const theme = useThemeVersion();
  const [hover, setHover] = useState<Point | null>(null);
  const plotW = Math.max(10, width - M.left - M.right);
  const plotH = HEIGHT - M.top - M.bottom;
  const points = useMemo(() => {
    const out: Point[] = [];
    const slot = xAxis.kind === "categorical" ? 0.6 / Math.max(1, xAxis.categories.length) : 0;
    for (let i = 0; i < model.runs.length; i++) {
      const px = position(xAxis, x.values[i]);
      const py = position(yAxis, y.values[i]);
      if (px === null || py === null) continue;
      out.push({ i, px: M.left + inset(px + jitter(i) * slot) * plotW, py: M.top + (1 - inset(py)) * plotH });
    }
    return out;
  }, [model, x, y, xAxis, yAxis, plotW, plotH]);

  const radius = model.runs.length > 300 ? 3 : 4.5;
  const ring = (ctx: CanvasRenderingContext2D, p: Point | undefined, color: string, r: number) => {
    if (!p) return;
    ctx.beginPath();
    ctx.arc(p.px, p.py, r, 0, Math.PI * 2);
    ctx.lineWidth = 2;
    ctx.strokeStyle = color;
    ctx.stroke();
  };

  // Frame and points; the hover ring goes on a canvas of its own above.
  useEffect(() => {
    const el = canvas.current;
    if (!el || width === 0) return;
    const frame = requestAnimationFrame(() => {
      const ctx = prepare(el, width, HEIGHT);
      const colors = palette();
      const dark = document.documentElement.dataset.theme === "dark";
      drawFrame(ctx, colors, xAxis, yAxis, x.label, y.label, plotW, plotH);
      for (const p of points) {
        ctx.beginPath();
        ctx.arc(p.px, p.py, radius, 0, Math.PI * 2);
        ctx.fillStyle = seriesColor(p.i, dark, 0.85);
        ctx.fill();
      }
      ring(
        ctx,
        points.find((p) => p.i === bestIndex),
        colors.accent,
        radius + 4,
      );
    });
    return () => cancelAnimationFrame(frame);
  }, [width, points, bestIndex, theme]);

  useEffect(() => {
    const el = overlay.current;
    if (!el || width === 0) return;
    const ctx = prepare(el, width, HEIGHT);
    ring(ctx, hover ?? undefined, palette().fg, radius + 3);
  }, [width, hover, theme]);

  const onMove = (e: MouseEvent) => {
    const rect = overlay.current!.getBoundingClientRect();
    const mx = e.clientX - rect.left;
    const my = e.clientY - rect.top;
    let best: Point | null = null;
    let dist = HIT * HIT;
    for (const p of points) {
      const d = (p.px - mx) ** 2 + (p.py - my) ** 2;
      if (d < dist) {
        dist = d;
        best = p;
      }
    }
    if (best !== hover) setHover(best);
  };
  const fmt = (v: Value) => (typeof v === "number" ? formatNumber(v) : (v ?? "—"));
  return (
    <div class="cp-canvas-wrap" ref={wrap}>
      <canvas ref={canvas} />
      <canvas
        ref={overlay}
        class={"cp-overlay-canvas" + (hover ? " cp-pointer" : "")}
        onMouseMove={onMove}
        onMouseLeave={() => setHover(null)}
        onClick={() => hover && navigate(`/runs/${encodeURIComponent(model.runs[hover.i].id)}`)}
      />
      {hover && (
        <div
          class="cp-tip"
          style={{ left: `${hover.px > width - 240 ? hover.px - 230 : hover.px + 12}px`, top: `${Math.max(0, hover.py - 24)}px` }}
        >
          <div class="cp-tip-title">{model.runs[hover.i].name}</div>
          <div class="cp-tip-row">
            <span class="muted">{x.label}</span>
            <span class="mono">{fmt(x.values[hover.i])}</span>
          </div>
          <div class="cp-tip-row">
            <span class="muted">{y.label}</span>
            <span class="mono">{fmt(y.values[hover.i])}</span>
          </div>
          <div class="muted cp-small">Click to open the run</div>
        </div>
      )}
      {points.length === 0 && <p class="muted cp-overlay">No run has both values.</p>}
    </div>
  );
}

/** Grid, ticks and axis titles. */
function drawFrame(
  ctx: CanvasRenderingContext2D,
  colors: ReturnType<typeof palette>,
  xAxis: Axis,
  yAxis: Axis,
  xLabel: string,
  yLabel: string,
  plotW: number,
  plotH: number,
) {
  ctx.font = "11px system-ui, sans-serif";
  ctx.lineWidth = 1;
  const xTicks = axisTicks(xAxis, Math.max(2, Math.floor(plotW / 90)), Math.max(2, Math.floor(plotW / 70)));
  const yTicks = axisTicks(yAxis, 5);
  ctx.textAlign = "center";
  ctx.textBaseline = "top";
  for (const t of xTicks) {
    const px = Math.round(M.left + inset(t.pos) * plotW) + 0.5;
    ctx.strokeStyle = colors.grid;
    ctx.beginPath();
    ctx.moveTo(px, M.top);
    ctx.lineTo(px, M.top + plotH);
    ctx.stroke();
    ctx.fillStyle = colors.fg2;
    ctx.fillText(fitText(ctx, t.label, 80), px, M.top + plotH + 6);
  }
  ctx.textAlign = "right";
  ctx.textBaseline = "middle";
  for (const t of yTicks) {
    const py = Math.round(M.top + (1 - inset(t.pos)) * plotH) + 0.5;
    ctx.strokeStyle = colors.grid;
    ctx.beginPath();
    ctx.moveTo(M.left, py);
    ctx.lineTo(M.left + plotW, py);
    ctx.stroke();
    ctx.fillStyle = colors.fg2;
    ctx.fillText(fitText(ctx, t.label, M.left - 10), M.left - 6, py);
  }
  ctx.strokeStyle = colors.axis;
  ctx.strokeRect(M.left + 0.5, M.top + 0.5, plotW, plotH);
  ctx.fillStyle = colors.fg;
  ctx.font = "600 12px system-ui, sans-serif";
  ctx.textAlign = "center";
  ctx.textBaseline = "alphabetic";
  const logX = xAxis.kind === "numeric" && xAxis.log ? " (log)" : "";
  const logY = yAxis.kind === "numeric" && yAxis.log ? " (log)" : "";
  ctx.fillText(xLabel + logX, M.left + plotW / 2, M.top + plotH + 38);
  ctx.save();
  ctx.translate(14, M.top + plotH / 2);
  ctx.rotate(-Math.PI / 2);
  ctx.fillText(fitText(ctx, yLabel + logY, plotH), 0, 0);
  ctx.restore();
}
