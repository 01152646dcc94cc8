// The run page's artifacts tab: a file tree whose folders load when opened (one listing per
// folder, paged), and the preview of the file chosen (its path is kept in the URL as `file`).
import { useMemo, useState } from "preact/hooks";
import { api, type ArtifactFile, type ArtifactList } from "../../api/client";
import { ErrorBox, Loading } from "../../components/common";
import { formatBytes } from "../../format";
import { useQueryParam } from "../../router";
import { useAsync } from "./hooks";
import { FilePreview } from "./Preview";
import { ancestors, baseName } from "./preview";


export function ArtifactsTab(props: { runId: string; running: boolean }) {
  const { runId } = props;
  const [selected, setSelected] = useQueryParam("file", "");
  const [expanded, setExpanded] = useState<Set<string>>(() => new Set(ancestors(selected)));
  const [files, setFiles] = useState<Map<string, ArtifactFile>>(new Map());
  const toggle = (dir: string) => {
    const next = new Set(expanded);
    if (next.has(dir)) next.delete(dir);
    else next.add(dir);
    setExpanded(next);
  };
  const ctx: TreeCtx = {
    runId,
    expanded,
    toggle,
    selected,
    select: setSelected,
    // Remember the metadata of every listed file, for the preview of the selected one.
    seen: (list) =>
      setFiles((prev) => {
        const next = new Map(prev);
        for (const f of list) if (f.path) next.set(f.path, f);
        return next;
      }),
  };
  const file = files.get(selected);
  return (
    <div class="rp-artifacts">
      <nav class="rp-tree" data-testid="artifact-tree" aria-label="Artifacts">
        <Dir ctx={ctx} path="" depth={0} />
      </nav>
      <div class="rp-preview-pane">
        {!selected ? (
          <p class="muted rp-empty">Choose a file to preview it.</p>
        ) : file ? (
          <FilePreview key={selected} runId={runId} file={file} running={props.running} />
        ) : (
          <Loading what={baseName(selected)} />
        )}
      </div>
    </div>
  );
}

type TreeCtx = {
  runId: string;
  expanded: Set<string>;
  toggle: (dir: string) => void;
  selected: string;
  select: (path: string) => void;
  seen: (files: ArtifactFile[]) => void;
};

/** One folder's listing, page after page (`next_page_token`). */
function useListing(ctx: TreeCtx, path: string) {
  const [pages, setPages] = useState<ArtifactList[]>([]);
  const [more, setMore] = useState<string | undefined>(undefined);
  const first = useAsync(
    (signal) =>
      api.artifacts(ctx.runId, { path: path || undefined }, signal).then((list) => {
        ctx.seen(list.files);
        setPages([]);
        return list;
      }),
    [ctx.runId, path],
  );
  const next = useAsync<ArtifactList | null>(
    (signal) =>
      more
        ? api.artifacts(ctx.runId, { path: path || undefined, page_token: more }, signal).then((list) => {
            ctx.seen(list.files);
            setPages((p) => [...p, list]);
            return list;
          })
        : Promise.resolve(null),
    [more],
  );
  const all = first.data ? [first.data, ...pages] : [];
  const token = all.length ? all[all.length - 1].next_page_token : undefined;
  return {
    dirs: all.flatMap((l) => l.dirs ?? []),
    files: all.flatMap((l) => l.files),
    loading: first.loading && !first.data,
    error: first.error ?? next.error,
    loadMore: token && !next.loading ? () => setMore(token) : undefined,
  };
}

function Dir(props: { ctx: TreeCtx; path: string; depth: number }) {
  const { ctx, path, depth } = props;
  const listing = useListing(ctx, path);
  const indent = { paddingLeft: `${8 + depth * 16}px` };
  const sortedDirs = useMemo(() => [...listing.dirs].sort(), [listing.dirs]);
  if (listing.loading) return <div class="rp-tree-note muted" style={indent}>Loading…</div>;
  if (listing.error) return <ErrorBox error={listing.error} />;
  if (depth === 0 && sortedDirs.length === 0 && listing.files.length === 0) {
    return <p class="muted rp-empty">This run has no artifacts.</p>;
  }
  return (
    <>
      {sortedDirs.map((dir) => {
        const open = ctx.expanded.has(dir);
        return (
          <div key={dir}>
            <button
              class="rp-entry rp-dir"
              data-testid="artifact-entry"
              data-path={dir}
              aria-expanded={open}
              style={indent}
              onClick={() => ctx.toggle(dir)}
            >
              <span class="rp-caret">{open ? "▾" : "▸"}</span>
              <span class="rp-entry-name">{baseName(dir)}/</span>
            </button>
            {open && <Dir ctx={ctx} path={dir} depth={depth + 1} />}
          </div>
        );
      })}
      {listing.files.map((f) => {
        const p = f.path ?? "";
        return (
          <button
            key={p}
            class={"rp-entry rp-file" + (p === ctx.selected ? " selected" : "")}
            data-testid="artifact-entry"
            data-path={p}
            style={indent}
            title={p}
            onClick={() => ctx.select(p)}
          >
            <span class="rp-caret" />
            <span class="rp-entry-name">{baseName(p)}</span>
            <span class="rp-entry-size muted">{formatBytes(f.size)}</span>
          </button>
        );
      })}
      {listing.loadMore && (
        <button class="rp-entry rp-more" style={indent} onClick={listing.loadMore}>
          More files…
        </button>
      )}
    </>
  );
}
