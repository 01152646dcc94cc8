// The artifact preview pane: the file's metadata and download link, then a view chosen by its
// type (images, text and logs from their tail with "load all" and "follow", JSON as a tree,
// CSV/TSV as a table, HTML in a sandboxed frame, MLmodel files with their flavors, markdown).
// No preview reads more than PREVIEW_MAX_BYTES.
import type { JSX } from "preact";
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { api, type ArtifactFile } from "../../api/client";
import { ErrorBox, Link, Loading } from "../../components/common";
import { formatBytes, formatTime } from "../../format";
import { renderMarkdown } from "../../markdown";
import { delimiterFor, parseDelimited } from "./csv";
import { fetchPart, type FilePart } from "./fetchFile";
import { useAsync } from "./hooks";
import { JsonTree } from "./JsonTree";
import {
  dropPartialFirstLine,
  headRange,
  mlmodelFlavors,
  PREVIEW_MAX_BYTES,
  previewKind,
  shortDigest,
  tailRange,
  TEXT_TAIL_BYTES,
} from "./preview";

const CSV_ROWS = 1000;
const FOLLOW_MS = 2000;

export function FilePreview(props: { runId: string; file: ArtifactFile; running: boolean }) {
  const { runId, file } = props;
  const path = file.path ?? "";
  const url = api.fileUrl(runId, path);
  const size = file.size ?? 0;
  const kind = previewKind(path, file.content_type);
  const tooBig = size > PREVIEW_MAX_BYTES && kind !== "text" && kind !== "csv";
  return (
    <div class="rp-preview" data-testid="artifact-preview">
      <header class="rp-preview-head">
        <div class="rp-preview-title">
          <h3 class="mono">{path}</h3>
          <div class="rp-meta muted">
            <span>{formatBytes(size)}</span>
            {file.content_type && <span>{file.content_type}</span>}
            {file.digest && (
              <span class="mono" title={file.digest}>
                {shortDigest(file.digest)}
              </span>
            )}
            {file.created !== undefined && <span>{formatTime(file.created)}</span>}
            {file.digest && <SharedBy runId={runId} digest={file.digest} />}
          </div>
        </div>
        <a class="button" href={url} download={path.split("/").pop()}>
          Download
        </a>
      </header>
      <div class="rp-preview-body">
        {tooBig ? (
          <p class="muted rp-empty">
            This file ({formatBytes(size)}) is too large to preview here; download it instead.
          </p>
        ) : size === 0 ? (
          <p class="muted rp-empty">This file is empty.</p>
        ) : (
          <PreviewBody kind={kind} url={url} path={path} size={size} running={props.running} />
        )}
      </div>
    </div>
  );
}

/** How many other runs hold the same bytes (stored once), with links to them. */
function SharedBy(props: { runId: string; digest: string }) {
  const blob = useAsync((signal) => api.blob(props.digest, signal), [props.digest]);
  const others = useMemo(() => {
    const byRun = new Map<string, string>();
    for (const use of blob.data?.used_by ?? []) {
      if (use.run_id && use.run_id !== props.runId && !byRun.has(use.run_id)) byRun.set(use.run_id, use.path ?? "");
    }
    return [...byRun];
  }, [blob.data, props.runId]);
  if (others.length === 0) return null;
  const shown = others.slice(0, SHARED_SHOWN);
  return (
    <details class="rp-shared" data-testid="artifact-shared">
      <summary>
        stored once, also in {others.length} other run{others.length === 1 ? "" : "s"}
      </summary>
      <ul>
        {shown.map(([runId, path]) => (
          <li key={runId}>
            <Link href={`/runs/${encodeURIComponent(runId)}?tab=artifacts`}>{runId.slice(0, 8)}</Link>{" "}
            <span class="mono">{path.split("/").slice(3).join("/") || path}</span>
          </li>
        ))}
        {others.length > shown.length && <li class="muted">and {others.length - shown.length} more</li>}
      </ul>
    </details>
  );
}

const SHARED_SHOWN = 20;

function PreviewBody(props: { kind: ReturnType<typeof previewKind>; url: string; path: string; size: number; running: boolean }) {
  const { kind, url, path, size } = props;
  switch (kind) {
    case "image":
      return (
        <div class="rp-image">
          <img src={url} alt={path} />
        </div>
      );
    case "text":
      return <TextPreview key={url} url={url} size={size} running={props.running} />;
    case "csv":
      return <CsvPreview url={url} path={path} size={size} />;
    case "json":
      return <Whole url={url} render={(text) => <JsonPreview text={text} />} />;
    case "html":
      return (
        <Whole
          url={url}
          render={(text) => <iframe class="rp-html" sandbox="" srcdoc={text} title={`Preview of ${path}`} />}
        />
      );
    case "markdown":
      return <Whole url={url} render={(text) => <div class="markdown rp-md" dangerouslySetInnerHTML={{ __html: renderMarkdown(text) }} />} />;
    case "mlmodel":
      return <Whole url={url} render={(text) => <MLmodelPreview text={text} />} />;
    default:
      return <p class="muted rp-empty">No preview for this type of file. Use the download link.</p>;
  }
}

/** Fetches the whole file (callers have checked its size) and renders its text. */
function Whole(props: { url: string; render: (text: string) => JSX.Element }) {
  const file = useAsync((signal) => fetchPart(props.url, { signal }).then((p) => p.text), [props.url]);
  if (file.error) return <ErrorBox error={file.error} />;
  if (file.data === undefined) return <Loading />;
  return props.render(file.data);
}

function JsonPreview(props: { text: string }) {
  const [raw, setRaw] = useState(false);
  const parsed = useMemo(() => {
    try {
      return { value: JSON.parse(props.text) as unknown };
    } catch (e) {
      return { error: e instanceof Error ? e.message : String(e) };
    }
  }, [props.text]);
  if ("error" in parsed) {
    return (
      <>
        <p class="muted">Not valid JSON ({parsed.error}); shown as text.</p>
        <pre class="rp-text">{props.text}</pre>
      </>
    );
  }
  return (
    <>
      <div class="rp-preview-tools">
        <label class="rp-check">
          <input type="checkbox" checked={raw} onChange={() => setRaw(!raw)} /> Raw
        </label>
      </div>
      {raw ? <pre class="rp-text">{JSON.stringify(parsed.value, null, 2)}</pre> : <JsonTree value={parsed.value} />}
    </>
  );
}

function MLmodelPreview(props: { text: string }) {
  const flavors = mlmodelFlavors(props.text);
  return (
    <>
      <div class="rp-flavors">
        <span class="muted">Flavors:</span>
        {flavors.length ? flavors.map((f) => <span class="badge rp-flavor">{f}</span>) : <span class="muted">none listed</span>}
      </div>
      <pre class="rp-text rp-yaml">
        {props.text.split("\n").map((line, i) => {
          const m = /^(\s*)([^\s:#][^:#]*):(.*)$/.exec(line);
          const flavor = m && m[1].length > 0 && flavors.includes(m[2].trim());
          return (
            <div key={i}>
              {m ? (
                <>
                  {m[1]}
                  <span class={flavor ? "y-flavor" : "y-key"}>{m[2]}</span>:{m[3]}
                </>
              ) : (
                line || " "
              )}
            </div>
          );
        })}
      </pre>
    </>
  );
}

/** A delimited file: the first rows of its head as a table. */
function CsvPreview(props: { url: string; path: string; size: number }) {
  const head = useAsync(
    (signal) => fetchPart(props.url, { range: headRange(props.size, PREVIEW_MAX_BYTES), signal }),
    [props.url, props.size],
  );
  const parsed = useMemo(() => {
    if (!head.data) return null;
    const complete = props.size <= PREVIEW_MAX_BYTES;
    return parseDelimited(head.data.text, delimiterFor(props.path), CSV_ROWS + 1, complete);
  }, [head.data, props.path, props.size]);
  if (head.error) return <ErrorBox error={head.error} />;
  if (!parsed) return <Loading />;
  const [header, ...rows] = parsed.rows;
  if (!header) return <p class="muted rp-empty">No rows.</p>;
  return (
    <>
      <p class="muted rp-note">
        {rows.length.toLocaleString()} rows{parsed.truncated ? ` shown (the first ${CSV_ROWS.toLocaleString()})` : ""} ·{" "}
        {header.length} columns
      </p>
      <div class="rp-csv">
        <table class="rp-table">
          <thead>
            <tr>
              <th class="num">#</th>
              {header.map((h, i) => (
                <th key={i}>{h}</th>
              ))}
            </tr>
          </thead>
          <tbody>
            {rows.map((row, r) => (
              <tr key={r}>
                <td class="num muted">{r + 1}</td>
                {header.map((_, c) => (
                  <td key={c} title={row[c]}>
                    {row[c] ?? ""}
                  </td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </>
  );
}

/**
 * Text from the file's tail (TEXT_TAIL_BYTES, or PREVIEW_MAX_BYTES after "load all"); while the
 * run is running, "follow" re-reads the tail every FOLLOW_MS (a 304 when it has not changed)
 * and keeps the view scrolled to the end.
 */
function TextPreview(props: { url: string; size: number; running: boolean }) {
  const [all, setAll] = useState(false);
  const [follow, setFollow] = useState(false);
  const [part, setPart] = useState<FilePart | null>(null);
  const [error, setError] = useState<unknown>(null);
  const pre = useRef<HTMLPreElement>(null);
  const limit = all ? PREVIEW_MAX_BYTES : TEXT_TAIL_BYTES;
  const following = follow && props.running;

  useEffect(() => {
    const controller = new AbortController();
    let etag: string | null = null;
    let timer: number | undefined;
    const load = () =>
      fetchPart(props.url, {
        // Following asks for the tail whatever the listed size: the file may have grown.
        range: following ? `bytes=-${limit}` : tailRange(props.size, limit),
        etag,
        signal: controller.signal,
      })
        .then((p) => {
          if (p.status !== 304) {
            etag = p.etag;
            setPart(p);
          }
          setError(null);
        })
        .catch((e) => !controller.signal.aborted && setError(e))
        .finally(() => {
          if (following && !controller.signal.aborted) timer = window.setTimeout(load, FOLLOW_MS);
        });
    load();
    return () => {
      controller.abort();
      window.clearTimeout(timer);
    };
  }, [props.url, props.size, limit, following]);

  useEffect(() => {
    if (following && pre.current) pre.current.scrollTop = pre.current.scrollHeight;
  }, [part, following]);

  if (error && !part) return <ErrorBox error={error} />;
  if (!part) return <Loading />;
  const total = part.total ?? props.size;
  const partial = part.start > 0;
  const text = partial ? dropPartialFirstLine(part.text) : part.text;
  return (
    <>
      <div class="rp-preview-tools">
        <span class="muted">
          {partial ? `The last ${formatBytes(total - part.start)} of ${formatBytes(total)}` : `All ${formatBytes(total)}`}
        </span>
        {partial && !all && (
          <button onClick={() => setAll(true)}>
            {total > PREVIEW_MAX_BYTES ? `Load the last ${formatBytes(PREVIEW_MAX_BYTES)}` : "Load all"}
          </button>
        )}
        {props.running && (
          <label class="rp-check" title="Re-read the end of the file every 2 seconds">
            <input type="checkbox" checked={follow} onChange={() => setFollow(!follow)} /> Follow
          </label>
        )}
        <ErrorBox error={error} />
      </div>
      <pre ref={pre} class="rp-text rp-log">
        {text}
      </pre>
    </>
  );
}
