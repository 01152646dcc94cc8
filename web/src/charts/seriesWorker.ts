/**
 * Worker side of `offthread.ts`: fetches a many-series view (`POST /api/v1/series`), parses it
 * and aligns it onto one x grid (`alignRuns`), then hands the columns back as transferred
 * buffers, so that a compare page's megabytes of JSON never block the page's thread.
 *
 * In: `{ id, body }` (a `ManySeriesRequest`) or `{ id, cancel: true }`.
 * Out: `{ id, aligned }` or `{ id, error: { status, code, message } }`; nothing for a cancelled id.
 */
import { apiError, type ManySeriesRequest, type ManySeriesResponse } from "../api/client";
import { alignRuns, transferables } from "./merge";

type Inbound = { id: number; body: ManySeriesRequest } | { id: number; cancel: true };

type WorkerScope = {
  onmessage: ((event: MessageEvent<Inbound>) => void) | null;
  postMessage(message: unknown, transfer?: Transferable[]): void;
};

const scope = self as unknown as WorkerScope;
const running = new Map<number, AbortController>();

scope.onmessage = (event) => {
  const message = event.data;
  if ("cancel" in message) {
    running.get(message.id)?.abort();
    running.delete(message.id);
    return;
  }
  const controller = new AbortController();
  running.set(message.id, controller);
  load(message.body, controller.signal)
    .then((aligned) => scope.postMessage({ id: message.id, aligned }, transferables(aligned)))
    .catch((error: unknown) => {
      if (controller.signal.aborted) return;
      const e = error as { status?: number; code?: string; message?: string };
      scope.postMessage({
        id: message.id,
        error: { status: e.status ?? 0, code: e.code ?? "NETWORK_ERROR", message: e.message ?? String(error) },
      });
    })
    .finally(() => running.delete(message.id));
};

async function load(body: ManySeriesRequest, signal: AbortSignal) {
  const response = await fetch("/api/v1/series", {
    method: "POST",
    signal,
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw await apiError(response);
  return alignRuns((await response.json()) as ManySeriesResponse);
}
