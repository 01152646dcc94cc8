// Choosers of the compare view: a multi-select popover with a search box (chart keys, plot
// axes), closed by a click outside or Escape.
import { useEffect, useRef, useState } from "preact/hooks";

export function AxisPicker(props: {
  label: string;
  options: string[];
  chosen: string[];
  onChange: (next: string[]) => void;
  /** Restores the default choice. */
  onReset?: () => void;
  max?: number;
}) {
  const [open, setOpen] = useState(false);
  const [query, setQuery] = useState("");
  const root = useRef<HTMLDivElement>(null);
  const search = useRef<HTMLInputElement>(null);
  useEffect(() => {
    if (!open) return;
    search.current?.focus();
    const close = (e: Event) => {
      if (e instanceof KeyboardEvent ? e.key === "Escape" : !root.current?.contains(e.target as Node)) setOpen(false);
    };
    document.addEventListener("mousedown", close);
    document.addEventListener("keydown", close);
    return () => {
      document.removeEventListener("mousedown", close);
      document.removeEventListener("keydown", close);
    };
  }, [open]);
  const q = query.trim().toLowerCase();
  const shown = props.options.filter((o) => o.toLowerCase().includes(q)).slice(0, 500);
  const chosen = new Set(props.chosen);
  const full = props.max !== undefined && chosen.size >= props.max;
  const toggle = (option: string) => {
    if (chosen.has(option)) props.onChange(props.chosen.filter((c) => c !== option));
    else if (!full) props.onChange([...props.chosen, option]);
  };
  return (
    <div class="cp-picker" ref={root}>
      <button class="cp-picker-button" aria-expanded={open} onClick={() => setOpen(!open)}>
        {props.label} <span class="cp-badge">{props.chosen.length}</span> ▾
      </button>
      {open && (
        <div class="cp-popover" role="dialog" aria-label={props.label}>
          <input
            type="search"
            placeholder="Search…"
            aria-label={`Search ${props.label.toLowerCase()}`}
            value={query}
            ref={search}
            onInput={(e) => setQuery((e.currentTarget as HTMLInputElement).value)}
          />
          <div class="cp-popover-actions">
            <button onClick={() => props.onChange([])}>None</button>
            {props.onReset && <button onClick={props.onReset}>Default</button>}
            {props.max !== undefined && <span class="muted cp-small">at most {props.max}</span>}
          </div>
          <div class="cp-options">
            {shown.map((o) => (
              <label key={o} class={"cp-option" + (full && !chosen.has(o) ? " disabled" : "")}>
                <input type="checkbox" checked={chosen.has(o)} disabled={full && !chosen.has(o)} onChange={() => toggle(o)} />
                <span>{o}</span>
              </label>
            ))}
            {shown.length === 0 && <p class="muted cp-small">Nothing matches.</p>}
          </div>
        </div>
      )}
    </div>
  );
}
