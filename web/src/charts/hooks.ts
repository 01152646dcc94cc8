/**
 * Hooks shared by the chart views: the current theme (charts redraw their canvas colors when it
 * changes) and on-screen detection (charts that have not been on screen are neither drawn nor
 * fetched): measured once when a chart mounts, then through one shared IntersectionObserver.
 */
import type { RefObject } from "preact";
import { useEffect, useLayoutEffect, useState } from "preact/hooks";
import { isDark } from "./palette";

/** Whether the dark theme is on, re-rendering the caller when the theme changes. */
export function useDark(): boolean {
  const [dark, setDark] = useState(isDark);
  useEffect(() => {
    const update = () => setDark(isDark());
    window.addEventListener("cairn-theme", update);
    return () => window.removeEventListener("cairn-theme", update);
  }, []);
  return dark;
}

type VisibilityListener = (visible: boolean) => void;

const listeners = new Map<Element, VisibilityListener>();
let observer: IntersectionObserver | null = null;

function sharedObserver(): IntersectionObserver {
  observer ??= new IntersectionObserver(
    (entries) => {
      for (const entry of entries) listeners.get(entry.target)?.(entry.isIntersecting);
    },
    // Start a little before a chart scrolls in, so it is usually drawn when it arrives.
    { rootMargin: `${MARGIN}px 0px` },
  );
  return observer;
}

/** How far off screen (CSS px, above or below) a chart counts as on screen. */
const MARGIN = 200;

/** Whether `el` is laid out within `MARGIN` of the viewport. */
function nearScreen(el: Element): boolean {
  const r = el.getBoundingClientRect();
  if (r.width === 0 && r.height === 0) return false;
  return r.bottom >= -MARGIN && r.top <= window.innerHeight + MARGIN && r.right >= 0 && r.left <= window.innerWidth;
}

/**
 * Whether the element has been on screen (or nearly) yet. `onFirst` runs once with the first
 * answer. A chart on screen when it mounts is seen at once (measured before the first paint, so
 * its data is asked for a frame earlier than the observer would say); the charts of one grid
 * mounted on screen together are reported in the same commit, the others by the observer.
 */
export function useSeen(ref: RefObject<Element>, onFirst?: (visible: boolean) => void): boolean {
  const [seen, setSeen] = useState(false);
  useLayoutEffect(() => {
    const el = ref.current;
    if (!el) return;
    if (nearScreen(el)) {
      onFirst?.(true);
      setSeen(true);
      return;
    }
    let first = true;
    const stop = () => {
      listeners.delete(el);
      sharedObserver().unobserve(el);
    };
    listeners.set(el, (visible) => {
      if (first) {
        first = false;
        onFirst?.(visible);
      }
      if (visible) {
        setSeen(true);
        stop();
      }
    });
    sharedObserver().observe(el);
    return stop;
  }, [ref]);
  return seen;
}
