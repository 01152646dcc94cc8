/** Small pieces shared by every view: links, status badges, errors, loading states. */
import type { ComponentChildren } from "preact";
import { onLinkClick } from "../router";

export function Link(props: { href: string; class?: string; title?: string; children: ComponentChildren }) {
  return (
    <a href={props.href} class={props.class} title={props.title} onClick={onLinkClick}>
      {props.children}
    </a>
  );
}

export function StatusBadge({ status }: { status: string }) {
  return <span class={`badge status-${status.toLowerCase()}`}>{status.toLowerCase()}</span>;
}

export function ErrorBox({ error }: { error: unknown }) {
  if (!error) return null;
  const message = error instanceof Error ? error.message : String(error);
  return (
    <div class="error-box" role="alert">
      {message}
    </div>
  );
}

export function Loading({ what }: { what?: string }) {
  return <div class="loading">Loading{what ? " " + what : ""}…</div>;
}
