// Small hooks shared by the run and compare pages: data loading with cancellation, a clock
// that ticks while something is live, and copying text to the clipboard.
import { useEffect, useRef, useState } from "preact/hooks";

export type Async<T> = {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  /** Load again (keeping the current data on screen meanwhile). */
  reload: () => void;
  /** Replace the data (e.g. with a PATCH answer). */
  set: (data: T) => void;
};

/**
 * The result of `load`, run again when `deps` change; the previous request is aborted. A
 * failure keeps the last data and reports the error.
 */
export function useAsync<T>(load: (signal: AbortSignal) => Promise<T>, deps: unknown[]): Async<T> {
  const [state, setState] = useState<{ data: T | undefined; error: unknown; loading: boolean }>({
    data: undefined,
    error: null,
    loading: true,
  });
  const [version, setVersion] = useState(0);
  const loadRef = useRef(load);
  loadRef.current = load;
  useEffect(() => {
    const controller = new AbortController();
    setState((s) => ({ ...s, loading: true }));
    loadRef
      .current(controller.signal)
      .then((data) => !controller.signal.aborted && setState({ data, error: null, loading: false }))
      .catch((error) => !controller.signal.aborted && setState((s) => ({ ...s, error, loading: false })));
    return () => controller.abort();
  }, [...deps, version]);
  return {
    ...state,
    reload: () => setVersion((v) => v + 1),
    set: (data) => setState({ data, error: null, loading: false }),
  };
}

/** The current time in ms, updated every `intervalMs` while `active`. */
export function useNow(active: boolean, intervalMs = 1000): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    if (!active) return;
    const timer = window.setInterval(() => setNow(Date.now()), intervalMs);
    return () => window.clearInterval(timer);
  }, [active, intervalMs]);
  return now;
}

/** Copies `text` to the clipboard (with a fallback for pages not served over https). */
export async function copyText(text: string): Promise<void> {
  if (navigator.clipboard && window.isSecureContext) {
    await navigator.clipboard.writeText(text);
    return;
  }
  const area = document.createElement("textarea");
  area.value = text;
  area.style.position = "fixed";
  area.style.opacity = "0";
  document.body.appendChild(area);
  area.select();
  document.execCommand("copy");
  area.remove();
}
