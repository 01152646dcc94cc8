// Annotations of a run's charts: notes on one step of one metric, drawn as labelled vertical
// lines on that metric's chart (step axis), listed under the charts with a form to add one.
import { useEffect, useMemo, useState } from "preact/hooks";
import { api, mayChange, type Annotation } from "../api/client";
import { ErrorBox } from "../components/common";
import type { Marker } from "./LineChart";

export type AnnotationsState = {
  list: Annotation[];
  /** Key → its markers. */
  markers: Map<string, Marker[]>;
  reload: () => void;
  error: unknown;
};

export function useAnnotations(runId: string): AnnotationsState {
  const [list, setList] = useState<Annotation[]>([]);
  const [error, setError] = useState<unknown>(null);
  const [version, setVersion] = useState(0);
  useEffect(() => {
    const controller = new AbortController();
    api
      .runAnnotations(runId, controller.signal)
      .then((r) => setList(r.annotations))
      .catch((e) => !controller.signal.aborted && setError(e));
    return () => controller.abort();
  }, [runId, version]);
  const markers = useMemo(() => {
    const byKey = new Map<string, Marker[]>();
    for (const a of list) byKey.set(a.key, [...(byKey.get(a.key) ?? []), { x: a.step, label: a.text }]);
    return byKey;
  }, [list]);
  return { list, markers, reload: () => setVersion((v) => v + 1), error };
}

export function AnnotationsPanel(props: { runId: string; keys: string[]; state: AnnotationsState }) {
  const [key, setKey] = useState(props.keys[0] ?? "");
  const [step, setStep] = useState("");
  const [text, setText] = useState("");
  const [error, setError] = useState<unknown>(null);
  const add = (e: Event) => {
    e.preventDefault();
    setError(null);
    api
      .addAnnotation(props.runId, { key, step: Number(step), text })
      .then(() => {
        setText("");
        props.state.reload();
      })
      .catch(setError);
  };
  const remove = (id: number) => api.deleteAnnotation(id).then(props.state.reload).catch(setError);
  return (
    <section class="chart-annotations" data-testid="annotations">
      <h3>Annotations</h3>
      <ErrorBox error={props.state.error} />
      <ul>
        {props.state.list.map((a) => (
          <li key={a.id} data-testid="annotation">
            <code>{a.key}</code> at step {a.step}: {a.text}
            {a.author ? <span class="muted"> — {a.author}</span> : null}
            {mayChange(a.author) && (
              <button class="ghost" onClick={() => void remove(a.id)} aria-label={`Delete annotation ${a.text}`}>
                ✕
              </button>
            )}
          </li>
        ))}
      </ul>
      <form class="chart-annotate" onSubmit={add}>
        <select aria-label="Annotation metric" value={key} onChange={(e) => setKey((e.currentTarget as HTMLSelectElement).value)}>
          {props.keys.map((k) => (
            <option key={k} value={k}>
              {k}
            </option>
          ))}
        </select>
        <input
          aria-label="Annotation step"
          type="number"
          placeholder="step"
          value={step}
          onInput={(e) => setStep((e.currentTarget as HTMLInputElement).value)}
        />
        <input
          aria-label="Annotation text"
          placeholder="What happened here"
          value={text}
          onInput={(e) => setText((e.currentTarget as HTMLInputElement).value)}
        />
        <button type="submit" disabled={!key || step === "" || !text.trim()}>
          Annotate
        </button>
      </form>
      <ErrorBox error={error} />
    </section>
  );
}
