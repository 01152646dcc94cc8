// The audit log page (`/admin/audit`, site administrators, authentication on): every write, refused
// request, sign-in and sign-out the server recorded, newest first, filtered by user, action prefix
// and time range (kept in the URL), paged back with "Older". The server decides who may read it:
// anyone else sees its 403 message.
import { useEffect, useState } from "preact/hooks";
import { api, type AuditEntry } from "../api/client";
import { ErrorBox, Loading } from "../components/common";
import { formatTime } from "../format";
import { navigate, useLocation } from "../router";
import { useAsync } from "./run/hooks";
import {
  AUDIT_PAGE_SIZE,
  auditQuery,
  localInputToMs,
  mayHaveOlder,
  msToLocalInput,
  parseMs,
  statusKind,
  truncate,
  type AuditFilters,
} from "./audit/query";
import "./lineage/lineage.css";
import "./audit/audit.css";

const AGENT_CHARS = 40;

function filtersFrom(search: URLSearchParams): AuditFilters {
  return {
    user: search.get("user") ?? "",
    action: search.get("action") ?? "",
    since: search.get("since") ?? "",
    until: search.get("until") ?? "",
  };
}

/** The page's URL for `filters` (empty ones left out). */
function auditHref(filters: AuditFilters): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(filters)) if (value !== "") params.set(key, value);
  const qs = params.toString();
  return "/admin/audit" + (qs ? "?" + qs : "");
}

export function AuditPage() {
  const { search } = useLocation();
  const filters = filtersFrom(search);
  const key = JSON.stringify(filters);
  const first = useAsync((signal) => api.audit(auditQuery(filters), signal), [key]);
  // Older pages loaded with "Older", for the filters they were asked with.
  const [older, setOlder] = useState<{ key: string; entries: AuditEntry[]; full: boolean }>({
    key,
    entries: [],
    full: true,
  });
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    document.title = "Audit log · Cairn";
  }, []);

  const extra = older.key === key ? older : { key, entries: [], full: true };
  const entries = [...(first.data?.entries ?? []), ...extra.entries];
  const lastPageFull = extra.entries.length > 0 ? extra.full : mayHaveOlder(first.data?.entries.length ?? 0);

  const loadOlder = () => {
    const last = entries[entries.length - 1];
    if (!last) return;
    setBusy(true);
    setError(null);
    api
      .audit(auditQuery(filters, last.id))
      .then((answer) =>
        setOlder({ key, entries: [...extra.entries, ...answer.entries], full: mayHaveOlder(answer.entries.length) }),
      )
      .catch(setError)
      .finally(() => setBusy(false));
  };
  const refresh = () => {
    setOlder({ key, entries: [], full: true });
    setError(null);
    first.reload();
  };

  return (
    <div class="page">
      <div class="md-header">
        <h1>Audit log</h1>
        <span class="muted">writes, refused requests, sign-ins and sign-outs, newest first</span>
      </div>
      <FilterForm key={key} filters={filters} onApply={(next) => navigate(auditHref(next), true)} />
      <ErrorBox error={first.error} />
      {first.data === undefined ? (
        !first.error && <Loading what="the audit log" />
      ) : (
        <>
          <div class="audit-more">
            <span class="muted" data-testid="audit-count">
              {entries.length} {entries.length === 1 ? "entry" : "entries"}
            </span>
            <button class="ghost" onClick={refresh} disabled={first.loading}>
              Refresh
            </button>
          </div>
          {entries.length === 0 ? (
            <p class="muted" data-testid="audit-empty">
              {Object.values(filters).some((v) => v !== "") ? "No entries match these filters." : "No entries yet."}
            </p>
          ) : (
            <AuditTable entries={entries} />
          )}
          <ErrorBox error={error} />
          {entries.length > 0 && lastPageFull && (
            <div class="audit-more">
              <button onClick={loadOlder} disabled={busy} data-testid="audit-older">
                {busy ? "Loading…" : `Older (${AUDIT_PAGE_SIZE} more)`}
              </button>
            </div>
          )}
        </>
      )}
    </div>
  );
}

function FilterForm(props: { filters: AuditFilters; onApply: (filters: AuditFilters) => void }) {
  const { filters } = props;
  const [user, setUser] = useState(filters.user);
  const [action, setAction] = useState(filters.action);
  const [since, setSince] = useState(msToLocalInput(parseMs(filters.since)));
  const [until, setUntil] = useState(msToLocalInput(parseMs(filters.until)));
  const toMs = (value: string) => {
    const ms = localInputToMs(value);
    return ms === undefined ? "" : String(ms);
  };
  const submit = (e: Event) => {
    e.preventDefault();
    props.onApply({ user: user.trim(), action: action.trimStart(), since: toMs(since), until: toMs(until) });
  };
  const clear = () => {
    setUser("");
    setAction("");
    setSince("");
    setUntil("");
    props.onApply({ user: "", action: "", since: "", until: "" });
  };
  const value = (e: Event) => (e.currentTarget as HTMLInputElement).value;
  const any = Object.values(filters).some((v) => v !== "");
  return (
    <form class="audit-filters" onSubmit={submit} data-testid="audit-filters">
      <label>
        User
        <input name="user" placeholder="username" value={user} onInput={(e) => setUser(value(e))} />
      </label>
      <label>
        Action starts with
        <input
          name="action"
          placeholder="auth. or POST /api/v1/experiments"
          value={action}
          onInput={(e) => setAction(value(e))}
        />
      </label>
      <label>
        Since
        <input name="since" type="datetime-local" step={1} value={since} onInput={(e) => setSince(value(e))} />
      </label>
      <label>
        Until
        <input name="until" type="datetime-local" step={1} value={until} onInput={(e) => setUntil(value(e))} />
      </label>
      <button class="primary" type="submit">
        Filter
      </button>
      {any && (
        <button class="ghost" type="button" onClick={clear}>
          Clear
        </button>
      )}
    </form>
  );
}

function AuditTable(props: { entries: AuditEntry[] }) {
  return (
    <table class="md-table audit-table" data-testid="audit-table">
      <thead>
        <tr>
          <th>Time</th>
          <th>User</th>
          <th>Action</th>
          <th>Target</th>
          <th>Status</th>
          <th>Source</th>
          <th>User agent</th>
        </tr>
      </thead>
      <tbody>
        {props.entries.map((e) => {
          const kind = statusKind(e.status);
          const failed = kind === "client-error" || kind === "server-error";
          return (
            <tr
              key={e.id}
              class={failed ? "audit-failed" : undefined}
              data-testid="audit-row"
              data-id={e.id}
              data-action={e.action}
              data-status={e.status}
            >
              <td class="audit-time" title={new Date(e.time).toISOString()}>
                {formatTime(e.time)}
              </td>
              <td>{e.username ?? <span class="muted">—</span>}</td>
              <td class="audit-action">{e.action}</td>
              <td class="audit-target">{e.target}</td>
              <td>
                <span
                  class={`audit-status audit-status-${kind}`}
                  title={failed ? (kind === "server-error" ? "failed" : "refused") : undefined}
                >
                  {e.status}
                </span>
              </td>
              <td class="audit-source">{e.source ?? <span class="muted">—</span>}</td>
              <td class="audit-agent" title={e.user_agent ?? undefined}>
                {e.user_agent ? truncate(e.user_agent, AGENT_CHARS) : <span class="muted">—</span>}
              </td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}
