/**
 * Hooks shared by the chart views: the current theme (charts redraw their canvas colors when it
 * changes) and on-screen detection through one shared IntersectionObserver (charts that have
 * not been on screen are neither drawn nor fetched).
 */
import type { RefObject } from "preact";
import { useEffect, useState } from "preact/hooks";
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
    { rootMargin: "200px 0px" },
  );
  return observer;
}

/**
 * Whether the element has been on screen (or nearly) yet. `onFirst` runs once, synchronously in
 * the observer's callback, with the first answer: every chart of a grid is reported in one batch.
 */
export function useSeen(ref: RefObject<Element>, onFirst?: (visible: boolean) => void): boolean {
  const [seen, setSeen] = useState(false);
  useEffect(() => {
    const el = ref.current;
    if (!el) return;
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
