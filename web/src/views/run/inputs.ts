// The run's inputs and outputs as MLflow records them (`run.inputs.dataset_inputs`,
// `run.inputs.model_inputs`, `run.outputs.model_outputs`), shaped for display: the dataset's
// source, schema and profile arrive as JSON inside strings and are decoded here.

export type DatasetRow = {
  name: string;
  digest: string;
  sourceType: string;
  /** The source's URI when it has one, else its raw text. */
  source: string;
  context: string;
  /** Column or tensor descriptions: [name, type] pairs, when the schema is understood. */
  columns: [string, string][];
  /** The schema as pretty-printed JSON (or its raw text). */
  schema: string;
  /** Profile entries (e.g. num_rows) as [key, value text]. */
  profile: [string, string][];
  tags: [string, string][];
};

export type ModelRef = { modelId: string; step: number | null };

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => !!v && typeof v === "object" && !Array.isArray(v);
const str = (v: unknown): string => (typeof v === "string" ? v : v === undefined || v === null ? "" : String(v));

/** A JSON text decoded, or the text itself when it is not JSON. */
function decode(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** [name, type] pairs of an MLflow dataset schema (column specs or tensor specs). */
export function schemaColumns(schema: unknown): [string, string][] {
  if (!isObj(schema)) return [];
  const colspec = schema.mlflow_colspec;
  if (Array.isArray(colspec)) {
    return colspec.filter(isObj).map((c, i) => [str(c.name) || `#${i}`, str(c.type) + (c.required === false ? "?" : "")]);
  }
  const tensors = schema.mlflow_tensorspec;
  if (isObj(tensors)) {
    const out: [string, string][] = [];
    for (const [part, spec] of Object.entries(tensors)) {
      const specs = typeof spec === "string" ? decode(spec) : spec;
      if (!Array.isArray(specs)) continue;
      for (const s of specs.filter(isObj)) {
        const t = isObj(s["tensor-spec"]) ? s["tensor-spec"] : {};
        const shape = Array.isArray(t.shape) ? `[${t.shape.join(", ")}]` : "";
        out.push([str(s.name) || part, `${str(t.dtype)}${shape}`]);
      }
    }
    return out;
  }
  return [];
}

function pairs(value: unknown): [string, string][] {
  if (!isObj(value)) return [];
  return Object.entries(value).map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)]);
}

/** The dataset inputs of a run (`run.inputs`). */
export function datasetRows(inputs: unknown): DatasetRow[] {
  const list = isObj(inputs) && Array.isArray(inputs.dataset_inputs) ? inputs.dataset_inputs : [];
  return list.filter(isObj).map((input) => {
    const ds = isObj(input.dataset) ? input.dataset : {};
    const tags = Array.isArray(input.tags)
      ? input.tags.filter(isObj).map((t) => [str(t.key), str(t.value)] as [string, string])
      : [];
    const source = decode(str(ds.source));
    const schema = decode(str(ds.schema));
    return {
      name: str(ds.name),
      digest: str(ds.digest),
      sourceType: str(ds.source_type),
      source: isObj(source) && typeof source.uri === "string" ? source.uri : str(ds.source),
      context: tags.find(([k]) => k === "mlflow.data.context")?.[1] ?? "",
      columns: schemaColumns(schema),
      schema: typeof schema === "string" ? schema : JSON.stringify(schema, null, 2),
      profile: pairs(decode(str(ds.profile))),
      tags: tags.filter(([k]) => k !== "mlflow.data.context"),
    };
  });
}

/** Model references under `field` (`model_inputs` or `model_outputs`) of inputs or outputs. */
export function modelRefs(record: unknown, field: "model_inputs" | "model_outputs"): ModelRef[] {
  const list = isObj(record) && Array.isArray(record[field]) ? record[field] : [];
  return list.filter(isObj).map((m) => ({
    modelId: str(m.model_id),
    step: typeof m.step === "number" ? m.step : null,
  }));
}
