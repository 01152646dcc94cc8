/**
 * Categorical colors for chart series: ten hand-picked hues first, then hues spread by the
 * golden angle (so any number of runs gets distinct neighbours), lighter on the dark theme.
 */
type Hsl = [h: number, s: number, l: number];

const BASE: Hsl[] = [
  [211, 72, 47],
  [28, 95, 52],
  [142, 55, 38],
  [355, 72, 52],
  [268, 50, 58],
  [186, 75, 38],
  [322, 62, 56],
  [45, 90, 44],
  [20, 40, 42],
  [90, 50, 40],
];

function hsl(i: number): Hsl {
  if (i < BASE.length) return BASE[i];
  return [(i * 137.508 + 17) % 360, 55 + (i % 3) * 12, 40 + (i % 4) * 5];
}

/** The color of series `i` as a CSS color (with `alpha` < 1, translucent). */
export function seriesColor(i: number, dark: boolean, alpha = 1): string {
  const [h, s, l] = hsl(i);
  const light = dark ? Math.min(75, l + 16) : l;
  const a = alpha < 1 ? ` / ${alpha}` : "";
  return `hsl(${h.toFixed(1)} ${s}% ${light}%${a})`;
}

/** Whether the dark theme is on (for colors drawn on canvas). */
export function isDark(): boolean {
  return document.documentElement.dataset.theme === "dark";
}
