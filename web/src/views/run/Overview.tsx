// The run page's overview tab: the run's details (times, user, source, git, parent), its notes
// (markdown, editable), comments, params, latest metrics with their statistics, tags (system tags
// collapsed) and charts of a few headline metrics.
import { Fragment, type ComponentChildren } from "preact";
import { useMemo, useState } from "preact/hooks";
import type { Run, RunMetrics } from "../../api/client";
import { toNumber } from "../../api/doubles";
import { RunCharts } from "../../charts/RunCharts";
import { ErrorBox, Link, StatusBadge } from "../../components/common";
import { formatDuration, formatNumber, formatTime } from "../../format";
import { renderMarkdown } from "../../markdown";
import { Activity, Comments } from "./Comments";
import { useNow } from "./hooks";
import { commitUrl, filterPairs, gitInfo, headlineKeys, splitTags, type KV } from "./overview";
import { Card, Collapsible, CopyButton, KVTable } from "./widgets";

type Props = {
  run: Run;
  tags: Record<string, string>;
  metrics: RunMetrics | undefined;
  metricsError: unknown;
  experimentName: string | undefined;
  onSaveNote: (note: string) => Promise<void>;
};

export function Overview(props: Props) {
  const { run, tags, metrics } = props;
  const keys = useMemo(() => (metrics?.metrics ?? []).map((m) => m.key), [metrics]);
  // Stable while refreshed statistics bring the same keys (the charts keep their state).
  const headlineId = headlineKeys(keys).join("\n");
  const headline = useMemo(() => (headlineId ? headlineId.split("\n") : []), [headlineId]);
  const params: KV[] = (run.data.params ?? []).map((p) => [p.key, p.value]);
  const { user, system } = splitTags(tags);
  return (
    <div class="rp-overview">
      <div class="rp-grid">
        <Details run={run} tags={tags} experimentName={props.experimentName} />
        <Notes note={tags["mlflow.note.content"] ?? ""} onSave={props.onSaveNote} />
      </div>
      <div class="rp-grid">
        <Card title={<>Parameters <span class="rp-count">{params.length}</span></>}>
          <KVTable pairs={params} empty="No parameters logged." searchLabel="Search parameters" />
        </Card>
        <Card title={<>Metrics <span class="rp-count">{keys.length}</span></>}>
          <ErrorBox error={props.metricsError} />
          <MetricsTable runId={run.info.run_id} metrics={metrics} />
        </Card>
      </div>
      <Comments runId={run.info.run_id} />
      <Activity
        runId={run.info.run_id}
        version={`${run.info.status}|${run.info.run_name}|${run.info.lifecycle_stage}|${(run.data.tags ?? []).length}`}
      />
      <Card title={<>Tags <span class="rp-count">{user.length}</span></>}>
        <KVTable pairs={user} empty="No tags of your own." searchLabel="Search tags" />
        {system.length > 0 && (
          <Collapsible summary="System tags" count={system.length}>
            <KVTable pairs={system} empty="" searchLabel="Search system tags" />
          </Collapsible>
        )}
      </Card>
      {headline.length > 0 && (
        <section class="rp-headline">
          <h2>
            Key metrics{" "}
            <Link href={`/runs/${encodeURIComponent(run.info.run_id)}?tab=charts`} class="rp-h-link">
              {run.info.status === "RUNNING" ? "live charts of every metric →" : "all charts →"}
            </Link>
          </h2>
          <RunCharts runId={run.info.run_id} running={run.info.status === "RUNNING"} keys={headline} fixedKeys />
        </section>
      )}
    </div>
  );
}

function Details(props: { run: Run; tags: Record<string, string>; experimentName: string | undefined }) {
  const { info } = props.run;
  const { tags } = props;
  const running = info.status === "RUNNING";
  const now = useNow(running);
  const end = info.end_time ?? (running ? now : null);
  const git = gitInfo(tags);
  const gitLink = commitUrl(git.remote, git.commit);
  const parent = tags["mlflow.parentRunId"];
  const source = tags["mlflow.source.name"];
  const rows: [string, ComponentChildren][] = [
    ["Status", <StatusBadge status={info.status} />],
    [
      "Run ID",
      <span class="rp-id">
        <code>{info.run_id}</code> <CopyButton text={info.run_id} />
      </span>,
    ],
    [
      "Experiment",
      <Link href={`/experiments/${encodeURIComponent(info.experiment_id)}`}>{props.experimentName ?? info.experiment_id}</Link>,
    ],
    ["Started", formatTime(info.start_time)],
    ["Ended", info.end_time ? formatTime(info.end_time) : running ? <span class="muted">running</span> : "—"],
    ["Duration", end !== null ? formatDuration(end - info.start_time) : "—"],
    ["User", info.user_id || tags["mlflow.user"] || "—"],
  ];
  if (tags["cairn.group"]) rows.push(["Group", tags["cairn.group"]]);
  if (source) rows.push(["Source", <span class="mono rp-wrap">{source}</span>]);
  if (git.commit)
    rows.push([
      "Git commit",
      <span>
        {gitLink ? (
          <a href={gitLink} target="_blank" rel="noopener noreferrer" class="mono">
            {git.commit.slice(0, 10)}
          </a>
        ) : (
          <code title={git.commit}>{git.commit.slice(0, 10)}</code>
        )}
        {git.branch && <span class="muted"> on {git.branch}</span>}
        {git.dirty && <span class="badge rp-dirty" title="The working tree had uncommitted changes">dirty</span>}
      </span>,
    ]);
  if (git.remote) rows.push(["Git remote", <span class="mono rp-wrap">{git.remote}</span>]);
  if (parent) rows.push(["Parent run", <Link href={`/runs/${encodeURIComponent(parent)}`}>{parent}</Link>]);
  if (info.lifecycle_stage === "deleted") rows.push(["Lifecycle", <span class="badge status-failed">deleted</span>]);
  rows.push(["Artifacts", <span class="mono rp-wrap muted">{info.artifact_uri}</span>]);
  return (
    <Card title="Details">
      <dl class="rp-dl">
        {rows.map(([k, v]) => (
          <Fragment key={k}>
            <dt>{k}</dt>
            <dd>{v}</dd>
          </Fragment>
        ))}
      </dl>
    </Card>
  );
}

function Notes(props: { note: string; onSave: (note: string) => Promise<void> }) {
  const [draft, setDraft] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [saving, setSaving] = useState(false);
  const html = useMemo(() => renderMarkdown(props.note), [props.note]);
  const save = () => {
    setSaving(true);
    props
      .onSave(draft ?? "")
      .then(() => setDraft(null))
      .catch(setError)
      .finally(() => setSaving(false));
  };
  const editing = draft !== null;
  return (
    <Card
      title="Notes"
      class="rp-notes"
      actions={
        !editing && (
          <button onClick={() => (setError(null), setDraft(props.note))} title="Edit the notes (markdown)">
            {props.note ? "Edit" : "Add notes"}
          </button>
        )
      }
    >
      {editing ? (
        <div class="rp-note-edit">
          <textarea
            aria-label="Notes (markdown)"
            value={draft}
            rows={10}
            placeholder="Markdown: what this run tried, what came out of it…"
            onInput={(e) => setDraft((e.currentTarget as HTMLTextAreaElement).value)}
          />
          <ErrorBox error={error} />
          <div class="rp-row">
            <button class="primary" disabled={saving} onClick={save}>
              {saving ? "Saving…" : "Save"}
            </button>
            <button disabled={saving} onClick={() => setDraft(null)}>
              Cancel
            </button>
            <span class="muted rp-hint">Markdown is supported.</span>
          </div>
        </div>
      ) : props.note ? (
        <div class="markdown" dangerouslySetInnerHTML={{ __html: html }} />
      ) : (
        <p class="muted rp-empty">No notes yet.</p>
      )}
    </Card>
  );
}

function MetricsTable(props: { runId: string; metrics: RunMetrics | undefined }) {
  const [query, setQuery] = useState("");
  const all = props.metrics?.metrics ?? [];
  if (!props.metrics) return <p class="muted rp-empty">Loading…</p>;
  if (all.length === 0) return <p class="muted rp-empty">No metrics logged.</p>;
  const match = new Set(filterPairs(all.map((m) => [m.key, ""] as KV), query).map(([k]) => k));
  const rows = all.filter((m) => match.has(m.key)).sort((a, b) => a.key.localeCompare(b.key));
  const user = rows.filter((m) => !m.key.startsWith("system/"));
  const system = rows.filter((m) => m.key.startsWith("system/"));
  const table = (list: typeof rows) => (
    <table class="rp-table rp-metrics">
      <thead>
        <tr>
          <th>Key</th>
          <th class="num">Last</th>
          <th class="num">Min</th>
          <th class="num">Max</th>
          <th class="num">Points</th>
          <th class="num">Step</th>
        </tr>
      </thead>
      <tbody>
        {list.map((m) => (
          <tr key={m.key}>
            <td class="rp-key">
              <Link href={`/runs/${encodeURIComponent(props.runId)}?tab=charts&find=${encodeURIComponent(m.key)}`} title="Chart">
                {m.key}
              </Link>
            </td>
            <td class="num mono">{formatNumber(toNumber(m.last))}</td>
            <td class="num mono">{formatNumber(toNumber(m.min))}</td>
            <td class="num mono">{formatNumber(toNumber(m.max))}</td>
            <td class="num mono" title={m.nan_count ? `${m.nan_count} NaN` : undefined}>
              {m.count.toLocaleString()}
            </td>
            <td class="num mono">{m.last_step.toLocaleString()}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
  return (
    <div class="rp-kv">
      {all.length > 8 && (
        <input
          class="rp-search"
          type="search"
          placeholder="Search metrics"
          aria-label="Search metrics"
          value={query}
          onInput={(e) => setQuery((e.currentTarget as HTMLInputElement).value)}
        />
      )}
      {user.length > 0 && table(user)}
      {system.length > 0 && (
        <Collapsible summary="System metrics" count={system.length}>
          {table(system)}
        </Collapsible>
      )}
      {rows.length === 0 && <p class="muted rp-empty">Nothing matches “{query}”.</p>}
    </div>
  );
}
