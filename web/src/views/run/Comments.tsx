// Comments on a run (overview tab): markdown bodies with @mentions, newest last; the author (or
// anyone, without authentication) may edit or delete theirs. And the run's activity history.
import { useState } from "preact/hooks";
import { api, mayChange, type Comment } from "../../api/client";
import { ErrorBox, Loading } from "../../components/common";
import { formatTime } from "../../format";
import { renderMarkdown } from "../../markdown";
import { useAsync } from "./hooks";
import { Card, Collapsible } from "./widgets";

export function Comments(props: { runId: string }) {
  const comments = useAsync((signal) => api.runComments(props.runId, signal).then((r) => r.comments), [props.runId]);
  const [draft, setDraft] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const post = (e: Event) => {
    e.preventDefault();
    if (!draft.trim()) return;
    setBusy(true);
    setError(null);
    api
      .addRunComment(props.runId, draft)
      .then(() => {
        setDraft("");
        comments.reload();
      })
      .catch(setError)
      .finally(() => setBusy(false));
  };
  const list = comments.data ?? [];
  return (
    <Card title={<>Comments <span class="rp-count">{list.length}</span></>}>
      <ErrorBox error={comments.error} />
      {!comments.data && !comments.error ? <Loading what="comments" /> : null}
      <ol class="rp-comments" data-testid="comments">
        {list.map((c) => (
          <CommentItem key={c.id} comment={c} onChanged={comments.reload} />
        ))}
      </ol>
      <form class="rp-comment-form" onSubmit={post}>
        <textarea
          aria-label="New comment"
          placeholder="Comment (markdown; @name mentions someone)"
          value={draft}
          rows={3}
          onInput={(e) => setDraft((e.currentTarget as HTMLTextAreaElement).value)}
        />
        <ErrorBox error={error} />
        <button class="primary" type="submit" disabled={busy || !draft.trim()}>
          Comment
        </button>
      </form>
    </Card>
  );
}

function CommentItem(props: { comment: Comment; onChanged: () => void }) {
  const c = props.comment;
  const [editing, setEditing] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const save = () =>
    api
      .editComment(c.id, editing ?? "")
      .then(() => {
        setEditing(null);
        props.onChanged();
      })
      .catch(setError);
  const remove = () => {
    if (confirm("Delete this comment?")) api.deleteComment(c.id).then(props.onChanged).catch(setError);
  };
  return (
    <li class="rp-comment" data-testid="comment" data-id={c.id}>
      <div class="rp-comment-head">
        <strong>{c.author ?? "anonymous"}</strong>
        <span class="muted">
          {formatTime(c.created)}
          {c.edited ? " · edited" : ""}
        </span>
        {mayChange(c.author) && editing === null && (
          <span class="rp-comment-actions">
            <button class="ghost" onClick={() => setEditing(c.body)}>
              Edit
            </button>
            <button class="ghost" onClick={remove}>
              Delete
            </button>
          </span>
        )}
      </div>
      {editing === null ? (
        <div class="markdown" dangerouslySetInnerHTML={{ __html: renderMarkdown(c.body) }} />
      ) : (
        <div class="rp-comment-form">
          <textarea
            aria-label="Edit comment"
            value={editing}
            rows={3}
            onInput={(e) => setEditing((e.currentTarget as HTMLTextAreaElement).value)}
          />
          <span>
            <button class="primary" onClick={save} disabled={!editing.trim()}>
              Save
            </button>
            <button onClick={() => setEditing(null)}>Cancel</button>
          </span>
        </div>
      )}
      <ErrorBox error={error} />
    </li>
  );
}

/** The run's history: who changed its status, name, tags and note, and when (newest first). */
export function Activity(props: { runId: string; version: string }) {
  const activity = useAsync(
    (signal) => api.runActivity(props.runId, signal).then((r) => r.activity),
    [props.runId, props.version],
  );
  const list = activity.data ?? [];
  return (
    <Collapsible summary="Activity" count={list.length}>
      <ErrorBox error={activity.error} />
      <ol class="rp-activity" data-testid="activity">
        {list.map((a) => (
          <li key={a.id}>
            <span class="muted">{formatTime(a.time)}</span> {a.change}
            {a.user ? <span class="muted"> — {a.user}</span> : null}
          </li>
        ))}
      </ol>
    </Collapsible>
  );
}
