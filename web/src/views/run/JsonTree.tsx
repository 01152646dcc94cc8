// A collapsible JSON viewer: objects and arrays open to two levels, deeper ones on click; big
// containers show their first entries and more on demand, so large documents stay cheap.
import { useState } from "preact/hooks";

const PAGE = 200;

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export function JsonTree(props: { value: unknown }) {
  return (
    <div class="rp-json mono">
      <JsonNode name={null} value={props.value as Json} depth={0} />
    </div>
  );
}

function Scalar({ value }: { value: Json }) {
  if (value === null) return <span class="j-null">null</span>;
  if (typeof value === "string") return <span class="j-str">"{value}"</span>;
  if (typeof value === "number") return <span class="j-num">{String(value)}</span>;
  return <span class="j-bool">{String(value)}</span>;
}

function JsonNode(props: { name: string | null; value: Json; depth: number }) {
  const { name, value, depth } = props;
  const [open, setOpen] = useState(depth < 2);
  const [limit, setLimit] = useState(PAGE);
  const label = name !== null && <span class="j-key">{name}: </span>;
  if (value === null || typeof value !== "object") {
    return (
      <div class="j-row">
        {label}
        <Scalar value={value} />
      </div>
    );
  }
  const isArray = Array.isArray(value);
  const entries: [string, Json][] = isArray ? value.map((v, i) => [String(i), v]) : Object.entries(value);
  const [openB, closeB] = isArray ? ["[", "]"] : ["{", "}"];
  if (entries.length === 0) {
    return (
      <div class="j-row">
        {label}
        {openB + closeB}
      </div>
    );
  }
  return (
    <div class="j-node">
      <button class="j-toggle" aria-expanded={open} onClick={() => setOpen(!open)}>
        <span class="j-caret">{open ? "▾" : "▸"}</span>
        {label}
        {openB}
        {!open && (
          <span class="muted">
            {" "}
            {entries.length} {isArray ? "items" : "keys"} {closeB}
          </span>
        )}
      </button>
      {open && (
        <div class="j-children">
          {entries.slice(0, limit).map(([k, v]) => (
            <JsonNode key={k} name={isArray ? null : k} value={v} depth={depth + 1} />
          ))}
          {entries.length > limit && (
            <button class="j-more" onClick={() => setLimit(limit + PAGE * 5)}>
              {entries.length - limit} more…
            </button>
          )}
        </div>
      )}
      {open && <div class="j-row">{closeB}</div>}
    </div>
  );
}
