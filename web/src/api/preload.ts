/**
 * Requests started before the view that needs them has loaded: the entry point starts a lazy
 * view's first request while the view's code is still on the wire, and the view takes the
 * promise instead of asking again. A preloaded answer is taken once; one not taken within a
 * few seconds is dropped, so a stale answer is never used later.
 */
const TTL_MS = 5000;

const pending = new Map<string, { promise: Promise<unknown>; at: number }>();

/** Starts `load` now and keeps its promise under `key` for one `take`. */
export function preload<T>(key: string, load: () => Promise<T>): void {
  const promise = load();
  promise.catch(() => {}); // an unused failure is not an unhandled rejection; `take` sees it
  pending.set(key, { promise, at: Date.now() });
}

/** The promise preloaded under `key` (once), or `undefined` when there is none or it is stale. */
export function take<T>(key: string, now = Date.now()): Promise<T> | undefined {
  const entry = pending.get(key);
  pending.delete(key);
  if (!entry || now - entry.at > TTL_MS) return undefined;
  return entry.promise as Promise<T>;
}
