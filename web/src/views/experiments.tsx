// The experiments list (`/`): search by name, active or deleted experiments, create, rename,
// describe, tag, delete and restore. `/` focuses the search; arrow keys move the highlighted
// row and Enter opens it.
import { useEffect, useRef, useState } from "preact/hooks";
import { api, ApiError, type Experiment, type ExperimentPatch } from "../api/client";
import { ErrorBox, Link, Loading } from "../components/common";
import { formatTime } from "../format";
import { mark } from "../perf";
import { navigate, useQueryParam } from "../router";
import { nameFilter, parseTag, relativeTime, visibleTags } from "./experiments-search";
import "./experiments.css";

const SEARCH_DEBOUNCE_MS = 200;
const PAGE_SIZE = 1000;

type ListState = { experiments: Experiment[]; next?: string; loading: boolean; error: unknown };

export function ExperimentsPage() {
  const [search, setSearch] = useQueryParam("q");
  const [view, setView] = useQueryParam("view", "active");
  const [text, setText] = useState(search);
  const [list, setList] = useState<ListState>({ experiments: [], loading: true, error: null });
  const [creating, setCreating] = useState(false);
  const [cursor, setCursor] = useState(-1);
  const [reload, setReload] = useState(0);
  const searchInput = useRef<HTMLInputElement>(null);
  const marked = useRef(false);

  // The box types freely; the URL (and the query) follow after a pause.
  useEffect(() => {
    if (text === search) return undefined;
    const timer = window.setTimeout(() => setSearch(text), SEARCH_DEBOUNCE_MS);
    return () => window.clearTimeout(timer);
  }, [text]); // only typing restarts the pause

  const params = { filter: nameFilter(search), view: view === "deleted" ? ("deleted_only" as const) : ("active_only" as const) };
  useEffect(() => {
    const controller = new AbortController();
    setList((l) => ({ ...l, loading: true }));
    api.listExperiments({ ...params, max_results: PAGE_SIZE }, controller.signal).then(
      (r) => {
        setList({ experiments: r.experiments, next: r.next_page_token, loading: false, error: null });
        setCursor(-1);
      },
      (error) => controller.signal.aborted || setList({ experiments: [], loading: false, error }),
    );
    return () => controller.abort();
  }, [params.filter, params.view, reload]); // what the query depends on

  useEffect(() => {
    if (marked.current || list.loading) return;
    marked.current = true;
    requestAnimationFrame(() => mark("cairn:experiments:ready"));
  }, [list.loading]);

  const loadMore = async () => {
    if (!list.next) return;
    const r = await api.listExperiments({ ...params, max_results: PAGE_SIZE, page_token: list.next });
    setList((l) => ({ ...l, experiments: [...l.experiments, ...r.experiments], next: r.next_page_token }));
  };

  const replace = (e: Experiment) =>
    setList((l) => ({ ...l, experiments: l.experiments.map((x) => (x.experiment_id === e.experiment_id ? { ...e, active_runs: x.active_runs } : x)) }));
  const remove = (id: string) => setList((l) => ({ ...l, experiments: l.experiments.filter((x) => x.experiment_id !== id) }));

  useListKeyboard(list.experiments, cursor, setCursor, searchInput);

  return (
    <div class="page experiments-page">
      <div class="exp-head">
        <h1>Experiments</h1>
        <span class="muted">{list.loading ? "" : `${list.experiments.length}${list.next ? "+" : ""}`}</span>
        <span class="spacer" />
        <button class="primary" data-testid="experiment-create" onClick={() => setCreating((c) => !c)} aria-expanded={creating}>
          New experiment
        </button>
      </div>
      {creating && (
        <CreateForm
          onCancel={() => setCreating(false)}
          onCreated={() => {
            setCreating(false);
            setView("active");
            setReload((r) => r + 1);
          }}
        />
      )}
      <div class="exp-toolbar">
        <input
          ref={searchInput}
          type="search"
          data-testid="experiment-search"
          placeholder="Search experiments by name   ( / )"
          aria-label="Search experiments by name"
          value={text}
          onInput={(e) => setText(e.currentTarget.value)}
          onKeyDown={(e) => {
            if (e.key === "ArrowDown" && list.experiments.length) {
              e.preventDefault();
              searchInput.current?.blur();
              setCursor(0);
            }
          }}
        />
        <div class="segmented" role="group" aria-label="Lifecycle">
          {["active", "deleted"].map((v) => (
            <button key={v} class={view === v ? "on" : undefined} aria-pressed={view === v} onClick={() => setView(v)}>
              {v === "active" ? "Active" : "Deleted"}
            </button>
          ))}
        </div>
      </div>
      <ErrorBox error={list.error} />
      {list.loading && !list.experiments.length ? (
        <Loading what="experiments" />
      ) : (
        <div class="exp-table-wrap">
          <table class="exp-table">
            <thead>
              <tr>
                <th>Name</th>
                <th class="num">Runs</th>
                <th>Last update</th>
                <th>Created</th>
                <th>Tags</th>
                <th aria-label="Actions" />
              </tr>
            </thead>
            <tbody>
              {list.experiments.map((e, i) => (
                <ExperimentRow key={e.experiment_id} experiment={e} cursor={i === cursor} onChanged={replace} onRemoved={remove} />
              ))}
            </tbody>
          </table>
          {!list.experiments.length && (
            <div class="exp-empty muted">
              {search ? `No ${view} experiment matches “${search}”.` : view === "deleted" ? "No deleted experiments." : "No experiments yet."}
            </div>
          )}
          {list.next && (
            <button class="exp-more" onClick={() => void loadMore()}>
              Load more
            </button>
          )}
        </div>
      )}
    </div>
  );
}

/** `/` focuses the search; arrows move the highlight; Enter opens the highlighted experiment. */
function useListKeyboard(
  experiments: Experiment[],
  cursor: number,
  setCursor: (i: number) => void,
  searchInput: { current: HTMLInputElement | null },
) {
  const latest = useRef({ experiments, cursor });
  latest.current = { experiments, cursor };
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const target = e.target as HTMLElement;
      if (target.closest?.("input, textarea, select, [contenteditable]")) return;
      if (e.metaKey || e.ctrlKey || e.altKey) return;
      const { experiments, cursor } = latest.current;
      if (e.key === "/") {
        searchInput.current?.focus();
        searchInput.current?.select();
      } else if (e.key === "ArrowDown" || e.key === "j") setCursor(Math.min(experiments.length - 1, cursor + 1));
      else if (e.key === "ArrowUp" || e.key === "k") setCursor(Math.max(0, cursor - 1));
      else if (e.key === "Enter" && cursor >= 0 && experiments[cursor] && !target.closest("button, a")) {
        navigate(`/experiments/${experiments[cursor].experiment_id}`);
      } else return;
      e.preventDefault();
    };
    document.addEventListener("keydown", onKey);
    return () => document.removeEventListener("keydown", onKey);
  }, [setCursor, searchInput]);
  useEffect(() => {
    if (cursor >= 0) document.querySelector(".exp-table tr.cursor")?.scrollIntoView({ block: "nearest" });
  }, [cursor]);
}

function CreateForm(props: { onCancel: () => void; onCreated: (e: Experiment) => void }) {
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    if (!name.trim()) return;
    setBusy(true);
    try {
      const r = await api.createExperiment({ name: name.trim(), ...(description.trim() ? { description: description.trim() } : {}) });
      props.onCreated(r.experiment);
    } catch (err) {
      setError(err instanceof ApiError && err.status === 409 ? new Error(`An experiment named “${name.trim()}” exists already.`) : err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="exp-create" onSubmit={(e) => void submit(e)}>
      <input
        data-testid="experiment-name"
        placeholder="Experiment name"
        aria-label="Experiment name"
        value={name}
        ref={useFocusOnMount<HTMLInputElement>()}
        onInput={(e) => setName(e.currentTarget.value)}
        onKeyDown={(e) => e.key === "Escape" && props.onCancel()}
      />
      <input
        placeholder="Description (optional, markdown)"
        aria-label="Description"
        value={description}
        onInput={(e) => setDescription(e.currentTarget.value)}
      />
      <button type="submit" class="primary" data-testid="experiment-create-submit" disabled={!name.trim() || busy}>
        Create
      </button>
      <button type="button" class="ghost" onClick={props.onCancel}>
        Cancel
      </button>
      <ErrorBox error={error} />
    </form>
  );
}

type Editing = null | "name" | "description" | "tag";

function ExperimentRow(props: {
  experiment: Experiment;
  cursor: boolean;
  onChanged: (e: Experiment) => void;
  onRemoved: (id: string) => void;
}) {
  const e = props.experiment;
  const [editing, setEditing] = useState<Editing>(null);
  const [error, setError] = useState<unknown>(null);
  const deleted = e.lifecycle_stage === "deleted";

  const patch = async (body: ExperimentPatch) => {
    try {
      const r = await api.updateExperiment(e.experiment_id, body);
      setError(null);
      setEditing(null);
      if (body.lifecycle_stage) props.onRemoved(e.experiment_id);
      else props.onChanged(r.experiment);
    } catch (err) {
      setError(err instanceof ApiError && err.status === 409 ? new Error("That name is taken.") : err);
    }
  };

  const now = Date.now();
  return (
    <>
      <tr data-testid="experiment-row" data-experiment-id={e.experiment_id} class={props.cursor ? "cursor" : undefined}>
        <td class="exp-name">
          {editing === "name" ? (
            <InlineInput initial={e.name} label="New name" onSave={(name) => void patch({ name })} onCancel={() => setEditing(null)} />
          ) : (
            <Link href={`/experiments/${e.experiment_id}`}>{e.name}</Link>
          )}
          {e.description && editing !== "description" && (
            <div class="exp-desc muted" title={e.description}>
              {e.description}
            </div>
          )}
        </td>
        <td class="num">{e.active_runs ?? ""}</td>
        <td title={formatTime(e.last_update_time)}>{relativeTime(e.last_update_time, now)}</td>
        <td title={formatTime(e.creation_time)}>{relativeTime(e.creation_time, now)}</td>
        <td class="exp-tags">
          {visibleTags(e.tags).map((t) => (
            <span class="tag" key={t.key} title={`${t.key}=${t.value}`}>
              <span class="tag-key">{t.key}</span>
              {t.value && <span class="tag-value">{t.value}</span>}
              {!deleted && (
                <button class="tag-x" aria-label={`Remove tag ${t.key}`} title="Remove tag" onClick={() => void patch({ delete_tags: [t.key] })}>
                  ×
                </button>
              )}
            </span>
          ))}
          {!deleted &&
            (editing === "tag" ? (
              <InlineInput
                initial=""
                label="Tag as key=value"
                placeholder="key=value"
                onSave={(text) => {
                  const tag = parseTag(text);
                  if (tag) void patch({ set_tags: [tag] });
                  else setEditing(null);
                }}
                onCancel={() => setEditing(null)}
              />
            ) : (
              <button class="ghost tag-add" title="Add a tag" aria-label="Add a tag" onClick={() => setEditing("tag")}>
                + tag
              </button>
            ))}
        </td>
        <td class="exp-actions">
          {deleted ? (
            <button onClick={() => void patch({ lifecycle_stage: "active" })}>Restore</button>
          ) : (
            <>
              <button class="ghost" title="Rename" onClick={() => setEditing("name")}>
                Rename
              </button>
              <button class="ghost" title="Edit the description" onClick={() => setEditing("description")}>
                Describe
              </button>
              <ConfirmButton label="Delete" title="Delete the experiment and its runs (they can be restored)" onConfirm={() => void patch({ lifecycle_stage: "deleted" })} />
            </>
          )}
        </td>
      </tr>
      {(editing === "description" || error) && (
        <tr class="exp-edit-row">
          <td colSpan={6}>
            {editing === "description" && (
              <DescriptionEditor initial={e.description ?? ""} onSave={(description) => void patch({ description })} onCancel={() => setEditing(null)} />
            )}
            <ErrorBox error={error} />
          </td>
        </tr>
      )}
    </>
  );
}

function InlineInput(props: { initial: string; label: string; placeholder?: string; onSave: (v: string) => void; onCancel: () => void }) {
  const [value, setValue] = useState(props.initial);
  return (
    <input
      class="inline-input"
      aria-label={props.label}
      placeholder={props.placeholder}
      value={value}
      ref={useFocusOnMount<HTMLInputElement>()}
      onInput={(e) => setValue(e.currentTarget.value)}
      onKeyDown={(e) => {
        if (e.key === "Enter" && value.trim()) props.onSave(value.trim());
        else if (e.key === "Escape") props.onCancel();
      }}
      onBlur={props.onCancel}
    />
  );
}

function DescriptionEditor(props: { initial: string; onSave: (v: string) => void; onCancel: () => void }) {
  const [value, setValue] = useState(props.initial);
  return (
    <div class="exp-desc-edit">
      <textarea
        rows={3}
        aria-label="Description"
        placeholder="Describe the experiment (markdown)"
        value={value}
        ref={useFocusOnMount<HTMLTextAreaElement>()}
        onInput={(e) => setValue(e.currentTarget.value)}
        onKeyDown={(e) => {
          if (e.key === "Escape") props.onCancel();
          if (e.key === "Enter" && (e.metaKey || e.ctrlKey)) props.onSave(value);
        }}
      />
      <div>
        <button class="primary" onClick={() => props.onSave(value)}>
          Save
        </button>{" "}
        <button class="ghost" onClick={props.onCancel}>
          Cancel
        </button>
      </div>
    </div>
  );
}

/** A button that asks for a second click before acting. */
function ConfirmButton(props: { label: string; title: string; onConfirm: () => void }) {
  const [armed, setArmed] = useState(false);
  return (
    <button
      class={`ghost danger${armed ? " armed" : ""}`}
      title={props.title}
      onClick={() => (armed ? props.onConfirm() : setArmed(true))}
      onBlur={() => setArmed(false)}
    >
      {armed ? "Confirm" : props.label}
    </button>
  );
}

/** A ref that focuses its element once mounted (`autofocus` only works on page load). */
function useFocusOnMount<T extends HTMLElement>() {
  const ref = useRef<T>(null);
  useEffect(() => ref.current?.focus(), []);
  return ref;
}
