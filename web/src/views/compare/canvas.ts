// Canvas plumbing for the compare view's plots: the element's CSS size followed with a
// ResizeObserver, a context scaled for the device's pixel ratio, and theme colours.
import type { RefObject } from "preact";
import { useEffect, useState } from "preact/hooks";
import { cssVar } from "../../theme";

/** The CSS width of the element, following its resizes. */
export function useWidth(ref: RefObject<HTMLElement>): number {
  const [width, setWidth] = useState(0);
  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    setWidth(el.clientWidth);
    const observer = new ResizeObserver(() => setWidth(el.clientWidth));
    observer.observe(el);
    return () => observer.disconnect();
  }, [ref]);
  return width;
}

/** Sizes the canvas for `width`×`height` CSS pixels and returns a context in CSS pixels. */
export function prepare(canvas: HTMLCanvasElement, width: number, height: number): CanvasRenderingContext2D {
  const dpr = window.devicePixelRatio || 1;
  const w = Math.round(width * dpr);
  const h = Math.round(height * dpr);
  if (canvas.width !== w || canvas.height !== h) {
    canvas.width = w;
    canvas.height = h;
  }
  canvas.style.width = `${width}px`;
  canvas.style.height = `${height}px`;
  const ctx = canvas.getContext("2d")!;
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, width, height);
  return ctx;
}

export type Palette = { fg: string; fg2: string; grid: string; axis: string; accent: string; bg: string; dim: string };

/** The theme's colours for drawing. */
export function palette(): Palette {
  const dark = document.documentElement.dataset.theme === "dark";
  return {
    fg: cssVar("--fg"),
    fg2: cssVar("--fg-2"),
    grid: cssVar("--chart-grid"),
    axis: cssVar("--chart-axis"),
    accent: cssVar("--accent"),
    bg: cssVar("--bg"),
    dim: dark ? "rgba(255, 255, 255, 0.10)" : "rgba(0, 0, 0, 0.09)",
  };
}

/** `text` cut with an ellipsis to fit `max` pixels in the context's font. */
export function fitText(ctx: CanvasRenderingContext2D, text: string, max: number): string {
  if (ctx.measureText(text).width <= max) return text;
  let lo = 0;
  let hi = text.length;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (ctx.measureText(text.slice(0, mid) + "…").width <= max) lo = mid;
    else hi = mid - 1;
  }
  return text.slice(0, lo) + "…";
}

/** A number that changes when the theme does (a redraw dependency for canvas colours). */
export function useThemeVersion(): number {
  const [version, setVersion] = useState(0);
  useEffect(() => {
    const bump = () => setVersion((v) => v + 1);
    window.addEventListener("cairn-theme", bump);
    return () => window.removeEventListener("cairn-theme", bump);
  }, []);
  return version;
}
