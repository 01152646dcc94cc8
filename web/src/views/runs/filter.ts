// The run filter language on the client side (MLflow's, as the server parses it: conditions
// `identifier comparator value` joined by AND): quoting of keys and strings, a tolerant
// tokenizer that reads half-typed text, and the completions offered at the caret (entity
// prefixes, the experiment's keys, comparators, known values, AND).

/** What a bare (unquoted) key may contain after `entity.`. */
const BARE_KEY = /^[\p{L}\p{N}_.\-/:]+$/u;
const NAME_START = /[\p{L}_]/u;
const NAME_CHAR = /[\p{L}\p{N}_.\-/:]/u;

export type EntityKind = "attributes" | "params" | "metrics" | "tags";

/** `kind.key`, backtick-quoting a key that is not a bare name (`` metrics.`my key` ``). */
export function filterKey(kind: EntityKind, key: string): string {
  return BARE_KEY.test(key) ? `${kind}.${key}` : `${kind}.\`${key.replace(/`/g, "``")}\``;
}

/** A string literal: single quotes, with `'` doubled and `\` escaped. */
export function quoteString(value: string): string {
  return `'${value.replace(/\\/g, "\\\\").replace(/'/g, "''")}'`;
}

/** A key condition joined to `filter` with AND (the filter itself when `condition` is empty). */
export function andFilter(filter: string, condition: string): string {
  const base = filter.trim();
  if (!condition) return base;
  return base ? `${base} AND ${condition}` : condition;
}

export type TokenType = "ident" | "string" | "number" | "op" | "word" | "paren" | "comma" | "other";

export type Token = {
  type: TokenType;
  /** The text as written. */
  text: string;
  start: number;
  end: number;
  /** For a quoted token: whether its closing quote is missing. */
  open?: boolean;
};

/** Reads a quoted text starting at `i` (the quote); returns its end and whether it is closed. */
function readQuoted(text: string, i: number): { end: number; open: boolean } {
  const quote = text[i];
  let j = i + 1;
  while (j < text.length) {
    const c = text[j];
    if (c === "\\" && (text[j + 1] === quote || text[j + 1] === "\\")) j += 2;
    else if (c === quote && text[j + 1] === quote) j += 2;
    else if (c === quote) return { end: j + 1, open: false };
    else j += 1;
  }
  return { end: text.length, open: true };
}

/** An identifier at `i`: a bare name, possibly `entity.` followed by a quoted key. */
function readIdentifier(text: string, i: number): { end: number; open: boolean } {
  let j = i;
  if (text[j] === "`" || text[j] === '"') {
    const q = readQuoted(text, j);
    if (q.open || text[q.end] !== ".") return q;
    j = q.end + 1;
  } else {
    while (j < text.length && NAME_CHAR.test(text[j])) j++;
  }
  if (text[j - 1] === "." && (text[j] === "`" || text[j] === '"')) return readQuoted(text, j);
  return { end: j, open: false };
}

/**
 * Splits filter text into tokens without failing on unfinished input. A double-quoted or
 * backticked text at the start of a condition is an identifier; elsewhere quotes make strings.
 */
export function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  let expectIdent = true;
  while (i < text.length) {
    const c = text[i];
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    let type: TokenType;
    let end: number;
    let open: boolean | undefined;
    if (expectIdent && (NAME_START.test(c) || c === "`" || c === '"')) {
      const r = readIdentifier(text, i);
      const word = text.slice(i, r.end);
      type = /^and$/i.test(word) ? "word" : "ident";
      end = r.end;
      open = r.open || undefined;
    } else if (c === "'" || c === '"' || c === "`") {
      const r = readQuoted(text, i);
      type = "string";
      end = r.end;
      open = r.open || undefined;
    } else if (/[0-9.-]/.test(c) && /^-?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?/.test(text.slice(i))) {
      type = "number";
      end = i + /^-?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?/.exec(text.slice(i))![0].length;
    } else if (NAME_START.test(c)) {
      let j = i;
      while (j < text.length && NAME_CHAR.test(text[j])) j++;
      type = "word";
      end = j;
    } else if (/[<>=!]/.test(c)) {
      const two = text.slice(i, i + 2);
      end = i + (two === "<=" || two === ">=" || two === "!=" || two === "==" ? 2 : 1);
      type = "op";
    } else if (c === "(" || c === ")") {
      type = "paren";
      end = i + 1;
    } else if (c === ",") {
      type = "comma";
      end = i + 1;
    } else {
      type = "other";
      end = i + 1;
    }
    const token: Token = { type, text: text.slice(i, end), start: i, end };
    if (open) token.open = true;
    tokens.push(token);
    // After AND a new condition starts; so does the very beginning.
    expectIdent = type === "word" && /^and$/i.test(token.text);
    i = end;
  }
  return tokens;
}

/** What the parser expects next within a condition. */
export type Slot = "ident" | "op" | "value" | "list" | "null" | "and";

type Parsed = { slot: Slot; ident: Token | null };

/** Walks the tokens through the condition grammar; returns what comes next and the identifier. */
function walk(tokens: Token[]): Parsed {
  let slot: Slot = "ident";
  let ident: Token | null = null;
  let afterNot = false;
  for (const t of tokens) {
    const upper = t.text.toUpperCase();
    switch (slot) {
      case "ident":
        if (t.type === "ident") {
          ident = t;
          slot = "op";
        }
        break;
      case "op":
        if (t.type === "op") slot = "value";
        else if (t.type === "word" && (upper === "LIKE" || upper === "ILIKE")) slot = "value";
        else if (t.type === "word" && upper === "IN") slot = "list";
        else if (t.type === "word" && upper === "NOT" && !afterNot) afterNot = true;
        else if (t.type === "word" && upper === "IS") slot = "null";
        break;
      case "null":
        if (t.type === "word" && upper === "NULL") slot = "and";
        break;
      case "value":
        slot = "and";
        break;
      case "list":
        if (t.type === "paren" && t.text === ")") slot = "and";
        break;
      case "and":
        if (t.type === "word" && upper === "AND") {
          slot = "ident";
          ident = null;
          afterNot = false;
        }
        break;
    }
  }
  return { slot, ident };
}

export type Keys = { params: string[]; metrics: string[]; tags: string[] };

export type Completion = {
  /** What the dropdown shows. */
  label: string;
  /** What replaces the text between `from` and `to`. */
  insert: string;
  /** A hint shown beside the label (the key's kind, ...). */
  detail?: string;
};

export type Completions = { from: number; to: number; items: Completion[] };

export const RUN_ATTRIBUTE_KEYS = ["run_name", "status", "user_id", "start_time", "end_time", "run_id", "artifact_uri"];
const STATUSES = ["RUNNING", "FINISHED", "FAILED", "KILLED", "SCHEDULED"];
const ENTITY_ALIASES: Record<string, EntityKind> = {
  metric: "metrics",
  metrics: "metrics",
  param: "params",
  params: "params",
  parameter: "params",
  parameters: "params",
  tag: "tags",
  tags: "tags",
  attribute: "attributes",
  attributes: "attributes",
  attr: "attributes",
  run: "attributes",
};
const MAX_ITEMS = 50;

/** The entity and key an identifier token names (the key unquoted). */
export function identParts(text: string): { entity: EntityKind | null; key: string } {
  const dot = text.indexOf(".");
  if (dot < 0) return { entity: "attributes", key: unquote(text) };
  const entity = ENTITY_ALIASES[text.slice(0, dot).toLowerCase()] ?? null;
  return { entity, key: unquote(text.slice(dot + 1)) };
}

/** A possibly unfinished quoted text without its quotes (and with doubled quotes undone). */
function unquote(text: string): string {
  const q = text[0];
  if (q !== "`" && q !== '"' && q !== "'") return text;
  let body = text.slice(1);
  if (body.length && body.endsWith(q) && !body.endsWith("\\" + q)) body = body.slice(0, -1);
  return body.split(q + q).join(q);
}

/** Items whose text matches `typed`: those starting with it first, then those containing it. */
function rank<T>(items: T[], typed: string, text: (item: T) => string = String): T[] {
  const t = typed.toLowerCase();
  const starts = items.filter((k) => text(k).toLowerCase().startsWith(t));
  const contains = t ? items.filter((k) => !text(k).toLowerCase().startsWith(t) && text(k).toLowerCase().includes(t)) : [];
  return [...starts, ...contains];
}

function keysOf(kind: EntityKind, keys: Keys): string[] {
  return kind === "attributes" ? RUN_ATTRIBUTE_KEYS : keys[kind];
}

function identCompletions(typed: string, keys: Keys): Completion[] {
  const dot = typed.indexOf(".");
  if (dot >= 0) {
    const entity = ENTITY_ALIASES[typed.slice(0, dot).toLowerCase()];
    if (!entity) return [];
    const keyPart = unquote(typed.slice(dot + 1));
    return rank(keysOf(entity, keys), keyPart).map((k) => ({
      label: filterKey(entity, k),
      insert: filterKey(entity, k) + " ",
      detail: entity,
    }));
  }
  const out: Completion[] = [];
  for (const prefix of ["metrics.", "params.", "tags.", "attributes."]) {
    if (prefix.startsWith(typed.toLowerCase())) out.push({ label: prefix, insert: prefix, detail: "prefix" });
  }
  if (!typed) return out;
  const all = (["metrics", "params", "tags", "attributes"] as EntityKind[]).flatMap((kind) =>
    keysOf(kind, keys).map((key) => ({ kind, key, id: filterKey(kind, key) })),
  );
  for (const k of rank(all, typed, (k) => k.key)) out.push({ label: k.id, insert: k.id + " ", detail: k.kind });
  return out;
}

const NUMERIC_OPS = ["=", "!=", "<", "<=", ">", ">="];
const STRING_OPS = ["=", "!=", "LIKE", "ILIKE", "IN", "NOT IN"];
const NULL_OPS = ["IS NULL", "IS NOT NULL"];

function opCompletions(ident: Token | null, typed: string): Completion[] {
  const { entity, key } = identParts(ident?.text ?? "");
  let ops: string[];
  if (entity === "metrics" || (entity === "attributes" && (key === "start_time" || key === "end_time"))) ops = NUMERIC_OPS;
  else if (entity === "params" || entity === "tags") ops = [...STRING_OPS, ...NULL_OPS];
  else ops = STRING_OPS;
  const t = typed.toUpperCase();
  return ops.filter((op) => op.startsWith(t)).map((op) => ({ label: op, insert: op + " " }));
}

function valueCompletions(ident: Token | null, typed: string, values: ValuesOf | undefined): Completion[] {
  const { entity, key } = identParts(ident?.text ?? "");
  let candidates: string[] = [];
  if (entity === "attributes" && key === "status") candidates = STATUSES;
  else if (entity && values) candidates = values(entity, key);
  const t = unquote(typed).toLowerCase();
  return candidates
    .filter((v) => v.toLowerCase().startsWith(t))
    .map((v) => ({ label: quoteString(v), insert: quoteString(v) + " " }));
}

/** Values seen for a key (e.g. in the rows already loaded), for value completion. */
export type ValuesOf = (kind: EntityKind, key: string) => string[];

/**
 * The completions at `caret`: what to offer and which text they replace. Nothing is offered
 * after a finished condition unless `explicit` (the user asked, e.g. Ctrl+Space).
 */
export function complete(text: string, caret: number, keys: Keys, values?: ValuesOf, explicit = false): Completions {
  const tokens = tokenize(text.slice(0, caret));
  const last = tokens[tokens.length - 1];
  const touching = last !== undefined && last.end === caret && (last.type !== "string" || last.open) && last.type !== "paren" && last.type !== "comma";
  const before = touching ? tokens.slice(0, -1) : tokens;
  const { slot, ident } = walk(before);
  const from = touching ? last.start : caret;
  // Replace the rest of the word under the caret too.
  let to = caret;
  while (to < text.length && NAME_CHAR.test(text[to]) && touching) to++;
  const typed = touching ? text.slice(from, caret) : "";
  let items: Completion[] = [];
  switch (slot) {
    case "ident":
      items = identCompletions(typed, keys);
      break;
    case "op":
      items = opCompletions(ident, typed);
      break;
    case "null":
      items = ["NULL", "NOT NULL"].filter((w) => w.startsWith(typed.toUpperCase())).map((w) => ({ label: w, insert: w + " " }));
      break;
    case "value":
      items = valueCompletions(ident, typed, values);
      break;
    case "list":
      items = [];
      break;
    case "and":
      items = explicit || (touching && typed.length > 0) ? [{ label: "AND", insert: "AND " }].filter((c) => c.label.startsWith(typed.toUpperCase())) : [];
      break;
  }
  // An exact match of the only choice needs no dropdown.
  if (items.length === 1 && items[0].insert.trim() === typed && !explicit) items = [];
  return { from, to, items: items.slice(0, MAX_ITEMS) };
}

/** The text after accepting `item` at `c`, and where the caret goes. */
export function applyCompletion(text: string, c: Completions, item: Completion): { text: string; caret: number } {
  const rest = text.slice(c.to);
  const next = text.slice(0, c.from) + item.insert + (item.insert.endsWith(" ") ? rest.replace(/^ +/, "") : rest);
  return { text: next, caret: c.from + item.insert.length };
}
