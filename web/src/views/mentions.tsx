// The mentions page (`/mentions`, authentication on): comments that mention the signed-in user,
// newest first, each with its author, time and markdown body (rendered as on the run page) and a
// link to the run or experiment it is on; paged back with "Older".
import { useEffect, useState } from "preact/hooks";
import { api, type Comment } from "../api/client";
import { ErrorBox, Link, Loading } from "../components/common";
import { formatTime } from "../format";
import { renderMarkdown } from "../markdown";
import { useAsync } from "./run/hooks";
import "./lineage/lineage.css";
import "./run/run.css";
import "./mentions.css";

/** Comments per request (the API's default). */
export const MENTIONS_PAGE_SIZE = 50;

/** The page a comment is on. */
export function targetHref(target: Comment["target"]): string {
  return (target.kind === "run" ? "/runs/" : "/experiments/") + encodeURIComponent(target.id);
}

export function MentionsPage() {
  const first = useAsync((signal) => api.mentions({ limit: MENTIONS_PAGE_SIZE }, signal), []);
  const [older, setOlder] = useState<{ comments: Comment[]; full: boolean }>({ comments: [], full: true });
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    document.title = "Mentions · Cairn";
  }, []);

  const comments = [...(first.data?.comments ?? []), ...older.comments];
  const lastPageFull =
    older.comments.length > 0 ? older.full : (first.data?.comments.length ?? 0) >= MENTIONS_PAGE_SIZE;

  const loadOlder = () => {
    const last = comments[comments.length - 1];
    if (!last) return;
    setBusy(true);
    setError(null);
    api
      .mentions({ before: last.id, limit: MENTIONS_PAGE_SIZE })
      .then((answer) =>
        setOlder({
          comments: [...older.comments, ...answer.comments],
          full: answer.comments.length >= MENTIONS_PAGE_SIZE,
        }),
      )
      .catch(setError)
      .finally(() => setBusy(false));
  };
  const refresh = () => {
    setOlder({ comments: [], full: true });
    setError(null);
    first.reload();
  };

  return (
    <div class="page">
      <div class="md-header">
        <h1>Mentions</h1>
        <span class="muted">comments that mention you, newest first</span>
      </div>
      <ErrorBox error={first.error} />
      {first.data === undefined ? (
        !first.error && <Loading what="mentions" />
      ) : (
        <>
          <div class="mentions-more">
            <span class="muted" data-testid="mentions-count">
              {comments.length} {comments.length === 1 ? "comment" : "comments"}
            </span>
            <button class="ghost" onClick={refresh} disabled={first.loading}>
              Refresh
            </button>
          </div>
          {comments.length === 0 ? (
            <p class="muted" data-testid="mentions-empty">
              Nobody has mentioned you yet.
            </p>
          ) : (
            <ol class="rp-comments mentions-list" data-testid="mentions">
              {comments.map((c) => (
                <Mention key={c.id} comment={c} />
              ))}
            </ol>
          )}
          <ErrorBox error={error} />
          {comments.length > 0 && lastPageFull && (
            <div class="mentions-more">
              <button onClick={loadOlder} disabled={busy} data-testid="mentions-older">
                {busy ? "Loading…" : "Older"}
              </button>
            </div>
          )}
        </>
      )}
    </div>
  );
}

function Mention(props: { comment: Comment }) {
  const c = props.comment;
  return (
    <li class="rp-comment" data-testid="mention" data-id={c.id}>
      <div class="rp-comment-head">
        <strong>{c.author ?? "anonymous"}</strong>
        <span class="muted">
          {formatTime(c.created)}
          {c.edited ? " · edited" : ""}
        </span>
        <span class="mentions-target">
          on{" "}
          <Link href={targetHref(c.target)}>
            {c.target.kind} <code>{c.target.id}</code>
          </Link>
        </span>
      </div>
      <div class="markdown" dangerouslySetInnerHTML={{ __html: renderMarkdown(c.body) }} />
    </li>
  );
}
