// Building blocks of the run page's tabs: titled cards, a copy button, a searchable key/value
// table whose long values wrap, and a collapsible section.
import type { ComponentChildren } from "preact";
import { useState } from "preact/hooks";
import { copyText } from "./hooks";
import { filterPairs, type KV } from "./overview";

export function Card(props: { title: ComponentChildren; actions?: ComponentChildren; class?: string; children: ComponentChildren }) {
  return (
    <section class={"rp-card " + (props.class ?? "")}>
      <header class="rp-card-head">
        <h2>{props.title}</h2>
        {props.actions && <div class="rp-card-actions">{props.actions}</div>}
      </header>
      <div class="rp-card-body">{props.children}</div>
    </section>
  );
}

export function CopyButton(props: { text: string; label?: string; title?: string }) {
  const [done, setDone] = useState(false);
  const copy = () =>
    copyText(props.text).then(() => {
      setDone(true);
      window.setTimeout(() => setDone(false), 1200);
    });
  return (
    <button class="rp-copy" title={props.title ?? "Copy to the clipboard"} onClick={copy}>
      {done ? "Copied" : (props.label ?? "Copy")}
    </button>
  );
}

/** A key/value table with a search box when it has more than a few rows. */
export function KVTable(props: { pairs: KV[]; empty: string; searchLabel: string; mono?: boolean; limit?: number }) {
  const [query, setQuery] = useState("");
  const [all, setAll] = useState(false);
  const rows = filterPairs(props.pairs, query);
  const limit = props.limit ?? Infinity;
  const shown = all ? rows : rows.slice(0, limit);
  if (props.pairs.length === 0) return <p class="muted rp-empty">{props.empty}</p>;
  return (
    <div class="rp-kv">
      {props.pairs.length > 8 && (
        <input
          class="rp-search"
          type="search"
          placeholder={props.searchLabel}
          aria-label={props.searchLabel}
          value={query}
          onInput={(e) => setQuery((e.currentTarget as HTMLInputElement).value)}
        />
      )}
      <table class="rp-table">
        <tbody>
          {shown.map(([k, v]) => (
            <tr key={k}>
              <th scope="row" class="rp-key">
                {k}
              </th>
              <td class={"rp-value" + (props.mono ? " mono" : "")}>{v}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {rows.length === 0 && <p class="muted rp-empty">Nothing matches “{query}”.</p>}
      {shown.length < rows.length && (
        <button class="rp-more" onClick={() => setAll(true)}>
          Show all {rows.length}
        </button>
      )}
    </div>
  );
}

/** A section that starts collapsed, with a count in its summary. */
export function Collapsible(props: { summary: string; count?: number; children: ComponentChildren }) {
  return (
    <details class="rp-details">
      <summary>
        {props.summary}
        {props.count !== undefined && <span class="rp-count">{props.count}</span>}
      </summary>
      {props.children}
    </details>
  );
}
