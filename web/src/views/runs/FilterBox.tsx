// The runs filter box: MLflow's filter language, applied on Enter, with key/comparator/value
// completion in a keyboard-navigable dropdown (arrows choose, Tab or Enter on a chosen item
// accepts, Ctrl+Space asks, Escape closes) and the server's message for a rejected filter.
import type { RefObject } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { applyCompletion, complete, type Completions, type Keys, type ValuesOf } from "./filter";

type Props = {
  /** The applied filter (the box resets to it when it changes from outside). */
  value: string;
  onApply: (filter: string) => void;
  keys: Keys;
  values?: ValuesOf;
  error: string | null;
  inputRef: RefObject<HTMLInputElement>;
  /** The user asked for completions (the full key list may not be loaded yet). */
  onNeedKeys?: () => void;
};

const NO_COMPLETIONS: Completions = { from: 0, to: 0, items: [] };

export function FilterBox(props: Props) {
  const [text, setText] = useState(props.value);
  const [menu, setMenu] = useState<Completions>(NO_COMPLETIONS);
  const [active, setActive] = useState(-1);
  const list = useRef<HTMLUListElement>(null);

  useEffect(() => setText(props.value), [props.value]);

  const input = () => props.inputRef.current;

  const suggest = (value: string, caret: number, explicit = false) => {
    setMenu(complete(value, caret, props.keys, props.values, explicit));
    setActive(-1);
  };

  const close = () => {
    setMenu(NO_COMPLETIONS);
    setActive(-1);
  };

  const accept = (index: number) => {
    const item = menu.items[index];
    if (!item) return;
    const next = applyCompletion(text, menu, item);
    setText(next.text);
    requestAnimationFrame(() => {
      const el = input();
      if (!el) return;
      el.focus();
      el.setSelectionRange(next.caret, next.caret);
      suggest(next.text, next.caret);
    });
  };

  const onKeyDown = (e: KeyboardEvent) => {
    const open = menu.items.length > 0;
    if (e.key === " " && e.ctrlKey) {
      e.preventDefault();
      props.onNeedKeys?.();
      suggest(text, input()?.selectionStart ?? text.length, true);
    } else if (open && (e.key === "ArrowDown" || e.key === "ArrowUp")) {
      e.preventDefault();
      const n = menu.items.length;
      setActive((a) => (e.key === "ArrowDown" ? (a + 1) % n : (a - 1 + n) % n));
    } else if (open && e.key === "Tab" && !e.shiftKey) {
      e.preventDefault();
      accept(Math.max(0, active));
    } else if (e.key === "Enter" && open && active >= 0) {
      e.preventDefault();
      accept(active);
    } else if (e.key === "Enter") {
      e.preventDefault();
      close();
      props.onApply(text.trim());
    } else if (e.key === "Escape") {
      if (open) close();
      else input()?.blur();
    }
  };

  useEffect(() => {
    list.current?.querySelector(".active")?.scrollIntoView({ block: "nearest" });
  }, [active]);

  return (
    <div class="filter-box">
      <div class="filter-input">
        <span class="filter-icon" aria-hidden="true">
          ⌕
        </span>
        <input
          ref={props.inputRef}
          data-testid="runs-filter"
          type="text"
          spellcheck={false}
          autocomplete="off"
          placeholder="Filter: metrics.loss < 0.5 and params.model = 'cnn'"
          title="MLflow's filter language; Enter applies it, / focuses the box, Ctrl+Space suggests"
          value={text}
          aria-label="Filter runs"
          aria-autocomplete="list"
          aria-expanded={menu.items.length > 0}
          aria-invalid={props.error ? true : undefined}
          class={props.error ? "invalid" : undefined}
          onInput={(e) => {
            const el = e.currentTarget;
            setText(el.value);
            suggest(el.value, el.selectionStart ?? el.value.length);
          }}
          onKeyDown={onKeyDown}
          onClick={(e) => suggest(text, e.currentTarget.selectionStart ?? text.length)}
          onBlur={() => setTimeout(close, 150)}
        />
        {text !== props.value && <span class="filter-hint">↵ apply</span>}
        {props.value && text === props.value && (
          <button
            class="ghost filter-clear"
            title="Clear the filter"
            aria-label="Clear the filter"
            onClick={() => {
              setText("");
              props.onApply("");
            }}
          >
            ×
          </button>
        )}
      </div>
      {menu.items.length > 0 && (
        <ul class="filter-menu" role="listbox" ref={list}>
          {menu.items.map((item, i) => (
            <li
              key={item.label + i}
              role="option"
              aria-selected={i === active}
              class={i === active ? "active" : undefined}
              onMouseDown={(e) => {
                e.preventDefault();
                accept(i);
              }}
              onMouseEnter={() => setActive(i)}
            >
              <span class="mono">{item.label}</span>
              {item.detail && <span class="muted">{item.detail}</span>}
            </li>
          ))}
        </ul>
      )}
      {props.error && (
        <div class="filter-error" data-testid="runs-filter-error" role="alert">
          {props.error}
        </div>
      )}
    </div>
  );
}
