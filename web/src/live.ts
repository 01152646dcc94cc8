/**
 * The live stream (`GET /api/v1/stream`, WebSocket): one shared connection per page, with
 * reference-counted subscriptions to runs and experiments, reconnection with back-off, and a
 * `resync` callback whenever events may have been missed (the server said so, or the connection
 * dropped) so that views refetch what is on screen.
 */
import { api } from "./api/client";
import { toFloat64, type WireDouble } from "./api/doubles";

export type PointsEvent = {
  type: "points";
  run_id: string;
  experiment_id: string;
  key: string;
  steps: number[];
  timestamps: number[];
  values: Float64Array;
};

export type RunEvent = {
  type: "run";
  change: "created" | "updated" | "deleted" | "restored";
  run_id: string;
  experiment_id: string;
  run_name: string;
  status: string;
  lifecycle_stage: string;
  start_time: number;
  end_time: number | null;
};

export type LiveEvent = PointsEvent | RunEvent | { type: "resync"; reason?: string };

export type Handler = (event: LiveEvent) => void;

type Subscription = { runs: string[]; experiments: string[]; handler: Handler };

const subscriptions = new Set<Subscription>();
let socket: WebSocket | null = null;
let retry = 0;
let reconnectTimer: number | undefined;

function wanted(): { runs: string[]; experiments: string[] } {
  const runs = new Set<string>();
  const experiments = new Set<string>();
  for (const s of subscriptions) {
    s.runs.forEach((r) => runs.add(r));
    s.experiments.forEach((e) => experiments.add(e));
  }
  return { runs: [...runs], experiments: [...experiments] };
}

function dispatch(event: LiveEvent) {
  for (const s of subscriptions) {
    if (event.type === "resync") s.handler(event);
    else if (s.runs.includes(event.run_id) || s.experiments.includes(event.experiment_id)) s.handler(event);
  }
}

function connect() {
  if (socket || subscriptions.size === 0) return;
  const ws = new WebSocket(api.streamUrl({}));
  socket = ws;
  ws.onopen = () => {
    const hadRetried = retry > 0;
    retry = 0;
    ws.send(JSON.stringify({ subscribe: wanted() }));
    if (hadRetried) dispatch({ type: "resync", reason: "reconnected" });
  };
  ws.onmessage = (message) => {
    if (typeof message.data !== "string") return;
    const frame = JSON.parse(message.data) as { events?: Array<Record<string, unknown>> };
    for (const raw of frame.events ?? []) {
      if (raw.type === "points") {
        dispatch({ ...(raw as unknown as PointsEvent), values: toFloat64(raw.values as WireDouble[]) });
      } else if (raw.type === "run" || raw.type === "resync") {
        dispatch(raw as unknown as LiveEvent);
      }
    }
  };
  ws.onclose = () => {
    socket = null;
    if (subscriptions.size === 0) return;
    retry = Math.min(retry + 1, 6);
    reconnectTimer = window.setTimeout(connect, 250 * 2 ** retry);
  };
}

/** Follow runs and/or experiments; returns the function that stops following. */
export function subscribe(sub: { runs?: string[]; experiments?: string[] }, handler: Handler): () => void {
  const entry: Subscription = { runs: sub.runs ?? [], experiments: sub.experiments ?? [], handler };
  subscriptions.add(entry);
  if (socket && socket.readyState === WebSocket.OPEN) {
    socket.send(JSON.stringify({ subscribe: { runs: entry.runs, experiments: entry.experiments } }));
  } else {
    connect();
  }
  return () => {
    subscriptions.delete(entry);
    const still = wanted();
    const runs = entry.runs.filter((r) => !still.runs.includes(r));
    const experiments = entry.experiments.filter((e) => !still.experiments.includes(e));
    if (subscriptions.size === 0) {
      window.clearTimeout(reconnectTimer);
      socket?.close();
      socket = null;
    } else if (socket && socket.readyState === WebSocket.OPEN && (runs.length || experiments.length)) {
      socket.send(JSON.stringify({ unsubscribe: { runs, experiments } }));
    }
  };
}
