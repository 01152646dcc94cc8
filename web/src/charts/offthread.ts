/**
 * Many-series views loaded off the page's thread: `POST /api/v1/series` for up to 1,000 runs
 * answers megabytes of JSON, whose parsing and alignment would otherwise hold the page's thread
 * for tens of milliseconds per chart, while other charts wait to draw. One shared worker
 * (`seriesWorker.ts`) fetches, parses and aligns; the columns come back as transferred buffers.
 * Where workers are unavailable, or the worker fails to start, the same work runs here.
 */
import { api, ApiError, type ManySeriesRequest } from "../api/client";
import { alignRuns, type AlignedRuns } from "./merge";

type Reply = { id: number; aligned?: AlignedRuns; error?: { status: number; code: string; message: string } };
type Pending = { resolve: (a: AlignedRuns) => void; reject: (e: unknown) => void; body: ManySeriesRequest };

let worker: Worker | null | undefined;
let nextId = 1;
const pending = new Map<number, Pending>();

function inThread(body: ManySeriesRequest, signal?: AbortSignal): Promise<AlignedRuns> {
  return api.manySeries(body, signal).then(alignRuns);
}

function start(): Worker | null {
  if (worker !== undefined) return worker;
  try {
    worker = new Worker(new URL("./seriesWorker.ts", import.meta.url), { type: "module" });
  } catch {
    worker = null;
    return worker;
  }
  worker.onmessage = (event: MessageEvent<Reply>) => {
    const { id, aligned, error } = event.data;
    const p = pending.get(id);
    if (!p) return;
    pending.delete(id);
    if (aligned) p.resolve(aligned);
    else p.reject(new ApiError(error?.status ?? 0, error?.code ?? "NETWORK_ERROR", error?.message ?? "request failed"));
  };
  worker.onerror = () => {
    // The worker could not run: answer what it held, and everything later, on this thread.
    worker?.terminate();
    worker = null;
    const held = [...pending.values()];
    pending.clear();
    for (const p of held) inThread(p.body).then(p.resolve, p.reject);
  };
  return worker;
}

/** The aligned many-series view of `body` (see `alignRuns`), loaded off the page's thread. */
export function alignedSeries(body: ManySeriesRequest, signal?: AbortSignal): Promise<AlignedRuns> {
  const w = typeof Worker === "undefined" ? null : start();
  if (!w) return inThread(body, signal);
  if (signal?.aborted) return Promise.reject(signal.reason ?? new DOMException("Aborted", "AbortError"));
  const id = nextId++;
  return new Promise<AlignedRuns>((resolve, reject) => {
    pending.set(id, { resolve, reject, body });
    signal?.addEventListener(
      "abort",
      () => {
        if (!pending.delete(id)) return;
        worker?.postMessage({ id, cancel: true });
        reject(signal.reason ?? new DOMException("Aborted", "AbortError"));
      },
      { once: true },
    );
    w.postMessage({ id, body });
  });
}

/** Starts the worker ahead of the first request (a page that will chart many runs). */
export function warmSeriesWorker(): void {
  if (typeof Worker !== "undefined") start();
}
