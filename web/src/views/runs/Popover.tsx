// A button that opens a panel below it; the panel closes on Escape or a click outside.
import type { ComponentChildren } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";

type Props = {
  label: ComponentChildren;
  title?: string;
  testId?: string;
  class?: string;
  /** Align the panel's right edge with the button's. */
  alignRight?: boolean;
  onOpen?: () => void;
  children: (close: () => void) => ComponentChildren;
};

export function Popover(props: Props) {
  const [open, setOpen] = useState(false);
  const box = useRef<HTMLDivElement>(null);

  useEffect(() => {
    if (!open) return undefined;
    const onDown = (e: MouseEvent) => {
      if (box.current && !box.current.contains(e.target as Node)) setOpen(false);
    };
    const onKey = (e: KeyboardEvent) => {
      if (e.key === "Escape") setOpen(false);
    };
    document.addEventListener("mousedown", onDown);
    document.addEventListener("keydown", onKey);
    return () => {
      document.removeEventListener("mousedown", onDown);
      document.removeEventListener("keydown", onKey);
    };
  }, [open]);

  return (
    <div class="popover" ref={box}>
      <button
        class={props.class}
        title={props.title}
        data-testid={props.testId}
        aria-expanded={open}
        onClick={() => {
          if (!open) props.onOpen?.();
          setOpen(!open);
        }}
      >
        {props.label}
      </button>
      {open && <div class={`popover-panel${props.alignRight ? " right" : ""}`}>{props.children(() => setOpen(false))}</div>}
    </div>
  );
}
