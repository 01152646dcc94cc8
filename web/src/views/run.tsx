// The run page (`/runs/:id`): a header (experiment breadcrumb, name with rename, status, delete
// or restore) over tabs kept in the URL (`?tab=`): overview, charts, artifacts, environment,
// inputs and lineage. The page follows the run on the live stream: status changes reload the run, new
// points refresh the metric statistics (at most every few seconds).
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { api, ApiError, type Run, type RunPatch } from "../api/client";
import { RunCharts } from "../charts/RunCharts";
import { ErrorBox, Link, Loading, StatusBadge } from "../components/common";
import { subscribe } from "../live";
import { onLinkClick, useQueryParam } from "../router";
import { ArtifactsTab } from "./run/Artifacts";
import { EnvironmentTab } from "./run/Environment";
import { useAsync } from "./run/hooks";
import { InputsTab } from "./run/Inputs";
import { LineageView } from "./lineage/LineageView";
import { Overview } from "./run/Overview";
import "./run/run.css";

const TABS = [
  ["overview", "Overview"],
  ["charts", "Charts"],
  ["artifacts", "Artifacts"],
  ["environment", "Environment"],
  ["inputs", "Inputs"],
  ["lineage", "Lineage"],
] as const;
type Tab = (typeof TABS)[number][0];

/** Metric statistics are refetched at most this often while points arrive. */
const METRICS_REFRESH_MS = 3000;

export function RunPage(props: { runId: string }) {
  const { runId } = props;
  const [tabParam] = useQueryParam("tab", "overview");
  const tab: Tab = TABS.some(([t]) => t === tabParam) ? (tabParam as Tab) : "overview";
  const run = useAsync((signal) => api.getRun(runId, signal).then((r) => r.run), [runId]);
  const metrics = useAsync((signal) => api.runMetrics(runId, signal), [runId]);
  const experimentId = run.data?.info.experiment_id;
  const experiment = useAsync(
    (signal) => (experimentId ? api.getExperiment(experimentId, signal).then((r) => r.experiment) : Promise.resolve(null)),
    [experimentId],
  );
  useLiveRun(runId, run.reload, metrics.reload);
  const tags = useMemo(
    () => Object.fromEntries((run.data?.data.tags ?? []).map((t) => [t.key, t.value])),
    [run.data],
  );
  // Stable while refreshed statistics bring the same keys (the charts keep their state).
  const keysId = (metrics.data?.metrics ?? []).map((m) => m.key).sort().join("\n");
  const keys = useMemo(() => (keysId ? keysId.split("\n") : []), [keysId]);

  useEffect(() => {
    if (run.data) document.title = `${run.data.info.run_name} · Cairn`;
  }, [run.data?.info.run_name]);

  if (run.error && !run.data) {
    const missing = run.error instanceof ApiError && run.error.status === 404;
    return (
      <div class="page">
        <h1>{missing ? "Run not found" : "Could not load the run"}</h1>
        {missing ? (
          <p>
            There is no run <code>{runId}</code>. <Link href="/">Experiments</Link>
          </p>
        ) : (
          <ErrorBox error={run.error} />
        )}
      </div>
    );
  }
  if (!run.data) return <Loading what="the run" />;
  const r = run.data;
  const patch = (body: RunPatch) => api.updateRun(runId, body).then((res) => run.set(res.run));
  const running = r.info.status === "RUNNING";
  return (
    <div class="page rp-page">
      <Header run={r} experimentName={experiment.data?.name} onPatch={patch} />
      <nav class="tabs rp-tabs">
        {TABS.map(([t, label]) => (
          <a
            key={t}
            href={`/runs/${encodeURIComponent(runId)}${t === "overview" ? "" : "?tab=" + t}`}
            class={t === tab ? "active" : undefined}
            data-testid={`tab-${t}`}
            aria-current={t === tab ? "page" : undefined}
            onClick={onLinkClick}
          >
            {label}
          </a>
        ))}
      </nav>
      {tab === "overview" && (
        <Overview
          run={r}
          tags={tags}
          metrics={metrics.data}
          metricsError={metrics.error}
          experimentName={experiment.data?.name}
          onSaveNote={(note) => patch({ note })}
        />
      )}
      {tab === "charts" &&
        (metrics.data ? (
          <RunCharts runId={runId} running={running} keys={keys} />
        ) : metrics.error ? (
          <ErrorBox error={metrics.error} />
        ) : (
          <Loading what="metrics" />
        ))}
      {tab === "artifacts" && <ArtifactsTab runId={runId} running={running} />}
      {tab === "environment" && <EnvironmentTab run={r} tags={tags} />}
      {tab === "inputs" && <InputsTab run={r} />}
      {tab === "lineage" && <LineageView node={`run:${runId}`} />}
    </div>
  );
}

/** Reloads the run when the stream reports a change of it, and its metrics as points arrive. */
function useLiveRun(runId: string, reloadRun: () => void, reloadMetrics: () => void) {
  const reload = useRef({ reloadRun, reloadMetrics });
  reload.current = { reloadRun, reloadMetrics };
  useEffect(() => {
    let timer: number | undefined;
    const soon = () => {
      if (timer === undefined)
        timer = window.setTimeout(() => {
          timer = undefined;
          reload.current.reloadMetrics();
        }, METRICS_REFRESH_MS);
    };
    const stop = subscribe({ runs: [runId] }, (event) => {
      if (event.type === "run") reload.current.reloadRun();
      else if (event.type === "points") soon();
      else {
        reload.current.reloadRun();
        reload.current.reloadMetrics();
      }
    });
    return () => {
      stop();
      window.clearTimeout(timer);
    };
  }, [runId]);
}

/** The run's labels (the Cairn SDK's `tags=[...]`, kept in the `cairn.tags` tag). */
function labels(run: Run): string[] {
  const value = run.data.tags?.find((t) => t.key === "cairn.tags")?.value ?? "";
  return value.split(",").map((s) => s.trim()).filter(Boolean);
}

function Header(props: { run: Run; experimentName: string | undefined; onPatch: (body: RunPatch) => Promise<void> }) {
  const { info } = props.run;
  const [name, setName] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const deleted = info.lifecycle_stage === "deleted";
  const act = (body: RunPatch, after?: () => void) => {
    setBusy(true);
    setError(null);
    props
      .onPatch(body)
      .then(after)
      .catch(setError)
      .finally(() => setBusy(false));
  };
  const rename = (e: Event) => {
    e.preventDefault();
    const next = (name ?? "").trim();
    if (!next || next === info.run_name) return setName(null);
    act({ run_name: next }, () => setName(null));
  };
  const remove = () => {
    if (confirm(`Delete run “${info.run_name}”? It can be restored later.`)) act({ lifecycle_stage: "deleted" });
  };
  return (
    <header class="rp-header">
      <div class="rp-crumbs">
        <Link href="/">Experiments</Link>
        <span class="muted">/</span>
        <Link href={`/experiments/${encodeURIComponent(info.experiment_id)}`}>{props.experimentName ?? info.experiment_id}</Link>
        <span class="muted">/</span>
      </div>
      <div class="rp-title">
        {name === null ? (
          <h1 data-testid="run-name">{info.run_name}</h1>
        ) : (
          <form class="rp-rename" onSubmit={rename}>
            <input
              aria-label="Run name"
              value={name}
              ref={(el) => el?.focus()}
              onInput={(e) => setName((e.currentTarget as HTMLInputElement).value)}
              onKeyDown={(e) => e.key === "Escape" && setName(null)}
            />
            <button class="primary" type="submit" disabled={busy}>
              Save
            </button>
            <button type="button" onClick={() => setName(null)}>
              Cancel
            </button>
          </form>
        )}
        <span data-testid="run-status">
          <StatusBadge status={info.status} />
        </span>
        {deleted && <span class="badge status-failed">deleted</span>}
        {labels(props.run).map((label) => (
          <span key={label} class="badge rp-label" title="Label (cairn.tags)">
            {label}
          </span>
        ))}
        <span class="spacer" />
        {name === null && (
          <button onClick={() => setName(info.run_name)} disabled={busy}>
            Rename
          </button>
        )}
        {deleted ? (
          <button onClick={() => act({ lifecycle_stage: "active" })} disabled={busy}>
            Restore
          </button>
        ) : (
          <button class="danger" onClick={remove} disabled={busy}>
            Delete
          </button>
        )}
      </div>
      <ErrorBox error={error} />
      {deleted && <p class="rp-banner">This run is deleted: it is hidden from the experiment's runs until restored.</p>}
    </header>
  );
}
