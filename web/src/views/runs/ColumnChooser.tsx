// The column chooser of the runs table: the shown columns in order (move, remove), and every
// attribute, metric (last / min / max), param and tag of the experiment to add, with a search.
import { useEffect, useRef, useState } from "preact/hooks";
import type { ExperimentKeys } from "../../api/client";
import { ATTRIBUTES, columnId, columnLabel, type Agg, type Column, type Kind } from "./columns";

type Props = {
  columns: Column[];
  keys: ExperimentKeys | null;
  onChange: (columns: Column[]) => void;
  onReset: () => void;
};

/** Keys listed per kind before "refine the search". */
const LIST_LIMIT = 150;

const KIND_TITLES: Record<Kind, string> = { attributes: "Attributes", metrics: "Metrics", params: "Params", tags: "Tags" };

export function ColumnChooser(props: Props) {
  const [search, setSearch] = useState("");
  const searchInput = useRef<HTMLInputElement>(null);
  useEffect(() => searchInput.current?.focus(), []);
  const chosen = new Set(props.columns.map(columnId));
  const needle = search.trim().toLowerCase();

  const toggle = (column: Column) => {
    const id = columnId(column);
    props.onChange(chosen.has(id) ? props.columns.filter((c) => columnId(c) !== id) : [...props.columns, column]);
  };

  const move = (index: number, by: number) => {
    const next = [...props.columns];
    const [c] = next.splice(index, 1);
    next.splice(Math.max(0, Math.min(next.length, index + by)), 0, c);
    props.onChange(next);
  };

  const keysOf = (kind: Kind): string[] =>
    kind === "attributes" ? ATTRIBUTES.map((a) => a.key) : (props.keys?.[kind] ?? []);

  const matches = (kind: Kind, key: string) =>
    !needle || key.toLowerCase().includes(needle) || columnLabel({ kind, key, agg: "last" }).toLowerCase().includes(needle);

  return (
    <div class="chooser">
      <input
        type="search"
        placeholder="Search columns…"
        value={search}
        ref={searchInput}
        onInput={(e) => setSearch(e.currentTarget.value)}
        aria-label="Search columns"
      />
      <div class="chooser-lists">
        {!needle && (
          <section>
            <h4>
              Shown <span class="muted">({props.columns.length})</span>
              <button class="ghost small" onClick={props.onReset} title="Back to the default columns">
                Reset
              </button>
            </h4>
            {props.columns.map((c, i) => (
              <div class="chooser-item" key={columnId(c)}>
                <span class="kind-dot" data-kind={c.kind} />
                <span class="chooser-label" title={columnId(c)}>
                  {columnLabel(c)}
                </span>
                <button class="ghost small" disabled={i === 0} onClick={() => move(i, -1)} aria-label="Move left" title="Move left">
                  ↑
                </button>
                <button
                  class="ghost small"
                  disabled={i === props.columns.length - 1}
                  onClick={() => move(i, 1)}
                  aria-label="Move right"
                  title="Move right"
                >
                  ↓
                </button>
                <button class="ghost small" onClick={() => toggle(c)} aria-label="Hide" title="Hide">
                  ×
                </button>
              </div>
            ))}
          </section>
        )}
        {(["attributes", "metrics", "params", "tags"] as Kind[]).map((kind) => {
          const found = keysOf(kind).filter((k) => matches(kind, k));
          if (!found.length) return null;
          return (
            <section key={kind}>
              <h4>
                {KIND_TITLES[kind]} <span class="muted">({found.length})</span>
              </h4>
              {found.slice(0, LIST_LIMIT).map((key) => (
                <ChooserItem key={key} kind={kind} name={key} chosen={chosen} onToggle={toggle} />
              ))}
              {found.length > LIST_LIMIT && (
                <div class="muted chooser-more">{found.length - LIST_LIMIT} more — refine the search</div>
              )}
            </section>
          );
        })}
      </div>
    </div>
  );
}

function ChooserItem(props: { kind: Kind; name: string; chosen: Set<string>; onToggle: (c: Column) => void }) {
  const { kind, name } = props;
  const column = (agg: Agg): Column => ({ kind, key: name, agg });
  const label = columnLabel(column("last"));
  return (
    <div class="chooser-item">
      <label class="chooser-label" title={kind === "attributes" ? label : `${kind}.${name}`}>
        <input type="checkbox" checked={props.chosen.has(columnId(column("last")))} onChange={() => props.onToggle(column("last"))} />
        {label}
      </label>
      {kind === "metrics" &&
        (["min", "max"] as Agg[]).map((agg) => (
          <button
            key={agg}
            class={`chip${props.chosen.has(columnId(column(agg))) ? " on" : ""}`}
            aria-pressed={props.chosen.has(columnId(column(agg)))}
            title={`Show the ${agg === "min" ? "smallest" : "largest"} value of ${name} over the run`}
            onClick={() => props.onToggle(column(agg))}
          >
            {agg}
          </button>
        ))}
    </div>
  );
}
