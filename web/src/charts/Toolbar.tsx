/**
 * The chart toolbar and the view state behind it, kept in the URL so that a link reproduces
 * the view: `x` (step | time | relative), `log` (1), `smooth` (EMA weight 0–0.99), `find` (key
 * search) and `zoom` (per-chart x ranges, see view.ts).
 */
import type { ComponentChildren } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { useQueryParam } from "../router";
import "./charts.css";
import type { XMode } from "./series";
import { formatZoom, parseSmooth, parseXMode, parseZoom, type Range } from "./view";

export type ChartParams = {
  xMode: XMode;
  setXMode: (mode: XMode) => void;
  log: boolean;
  setLog: (on: boolean) => void;
  smooth: number;
  setSmooth: (weight: number) => void;
  find: string;
  setFind: (query: string) => void;
  zoom: Map<string, Range>;
  setZoom: (key: string, range: Range | null) => void;
  clearZoom: () => void;
};

/** Rounds a zoom bound for the URL (a few significant digits of the range's width). */
function roundBound(v: number, span: number): number {
  const unit = Math.pow(10, Math.floor(Math.log10(Math.max(span, 1e-9))) - 3);
  return Math.round(v / unit) * unit;
}

export function useChartParams(): ChartParams {
  const [x, setX] = useQueryParam("x", "step");
  const [log, setLog] = useQueryParam("log", "");
  const [smoothParam, setSmoothParam] = useQueryParam("smooth", "0");
  const [find, setFind] = useQueryParam("find", "");
  const [zoomParam, setZoomParam] = useQueryParam("zoom", "");
  // The slider moves the charts at once; the URL follows when it rests.
  const [smooth, setSmoothLocal] = useState(() => parseSmooth(smoothParam));
  const timer = useRef<number | undefined>(undefined);
  useEffect(() => setSmoothLocal(parseSmooth(smoothParam)), [smoothParam]);
  useEffect(() => () => window.clearTimeout(timer.current), []);

  const currentZoom = () => parseZoom(new URLSearchParams(location.search).get("zoom") ?? "");
  return {
    xMode: parseXMode(x),
    setXMode: (mode) => {
      setZoomParam("");
      setX(mode);
    },
    log: log === "1",
    setLog: (on) => setLog(on ? "1" : ""),
    smooth,
    setSmooth: (weight) => {
      setSmoothLocal(weight);
      window.clearTimeout(timer.current);
      timer.current = window.setTimeout(() => setSmoothParam(weight ? String(weight) : "0"), 250);
    },
    find,
    setFind,
    zoom: parseZoom(zoomParam),
    setZoom: (key, range) => {
      const zoom = currentZoom();
      if (range) {
        const span = range[1] - range[0];
        zoom.set(key, [roundBound(range[0], span), roundBound(range[1], span)]);
      } else {
        zoom.delete(key);
      }
      setZoomParam(formatZoom(zoom));
    },
    clearZoom: () => setZoomParam(""),
  };
}

const X_MODES: [XMode, string][] = [
  ["step", "Step"],
  ["time", "Wall time"],
  ["relative", "Relative"],
];

export function ChartToolbar(props: {
  params: ChartParams;
  /** Charts shown and in all, for the count next to the search box. */
  shown: number;
  total: number;
  children?: ComponentChildren;
}) {
  const p = props.params;
  return (
    <div class="chart-toolbar">
      <input
        type="search"
        class="chart-search"
        placeholder="Search metrics"
        aria-label="Search metric keys"
        value={p.find}
        onInput={(e) => p.setFind((e.currentTarget as HTMLInputElement).value)}
      />
      <span class="muted chart-count">
        {props.shown === props.total ? `${props.total} charts` : `${props.shown} of ${props.total} charts`}
      </span>
      <div class="segmented" role="group" aria-label="X axis">
        {X_MODES.map(([mode, label]) => (
          <button
            key={mode}
            class={p.xMode === mode ? "active" : ""}
            aria-pressed={p.xMode === mode}
            onClick={() => p.setXMode(mode)}
          >
            {label}
          </button>
        ))}
      </div>
      <label class="chart-check">
        <input type="checkbox" checked={p.log} onChange={(e) => p.setLog((e.currentTarget as HTMLInputElement).checked)} />
        Log scale
      </label>
      <label class="chart-smooth" title="Exponential moving average (the raw line stays faint behind)">
        Smoothing
        <input
          type="range"
          min={0}
          max={0.99}
          step={0.01}
          value={p.smooth}
          aria-label="Smoothing"
          onInput={(e) => p.setSmooth(Number((e.currentTarget as HTMLInputElement).value))}
        />
        <span class="mono chart-smooth-value">{p.smooth.toFixed(2)}</span>
      </label>
      {props.children}
      {p.zoom.size > 0 && (
        <button class="ghost" onClick={p.clearZoom} title="Show every chart's full x range">
          Reset zoom
        </button>
      )}
    </div>
  );
}
