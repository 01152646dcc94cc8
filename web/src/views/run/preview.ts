// What an artifact preview shows for a file (by name and content type) and how much of it to
// fetch: previews never read more than PREVIEW_MAX_BYTES, and text starts from the file's tail.

export type PreviewKind = "image" | "text" | "markdown" | "json" | "csv" | "html" | "mlmodel" | "none";

/** The most bytes any preview fetches. */
export const PREVIEW_MAX_BYTES = 5 * 1024 * 1024;
/** The tail of a text file shown first. */
export const TEXT_TAIL_BYTES = 256 * 1024;

const IMAGE = /\.(png|jpe?g|gif|webp|svg|bmp|ico|avif)$/i;
const TEXT =
  /\.(txt|log|out|err|py|ipynb|r|sh|bash|zsh|ya?ml|toml|ini|cfg|conf|env|patch|diff|sql|js|ts|tsx|jsx|css|c|h|cc|cpp|hpp|rs|go|java|scala|kt|rb|pl|lua|jl|tex|rst|xml|properties|gitignore|dockerfile|lock)$/i;
const TEXT_NAMES = /(^|\/)(Dockerfile|Makefile|LICENSE|README|requirements\.txt|conda\.yaml|python_env\.yaml)$/;

/** The preview for a file, from its path (extension) and its stored content type. */
export function previewKind(path: string, contentType = ""): PreviewKind {
  const type = contentType.toLowerCase();
  if (/(^|\/)MLmodel$/.test(path)) return "mlmodel";
  if (IMAGE.test(path) || type.startsWith("image/")) return "image";
  if (/\.(html?|xhtml)$/i.test(path) || type.startsWith("text/html")) return "html";
  if (/\.(json|jsonl?)$/i.test(path) && !/\.jsonl$/i.test(path)) return "json";
  if (type.startsWith("application/json")) return "json";
  if (/\.(csv|tsv|tab)$/i.test(path) || type.startsWith("text/csv") || type.startsWith("text/tab-separated-values"))
    return "csv";
  if (/\.(md|markdown)$/i.test(path)) return "markdown";
  if (TEXT.test(path) || TEXT_NAMES.test(path) || /\.jsonl$/i.test(path) || type.startsWith("text/")) return "text";
  return "none";
}

/**
 * The `Range` header value for a text preview: the last `tail` bytes of a file of `size` bytes,
 * or nothing when the whole file is no larger (a plain GET).
 */
export function tailRange(size: number, tail: number): string | undefined {
  return size > tail ? `bytes=-${tail}` : undefined;
}

/** The `Range` header value for the head of a file (previews that need the start). */
export function headRange(size: number, max: number): string | undefined {
  return size > max ? `bytes=0-${max - 1}` : undefined;
}

/**
 * Text fetched from the middle of a file starts with a partial line (and maybe a partial UTF-8
 * sequence, decoded as U+FFFD): drop everything up to the first line break.
 */
export function dropPartialFirstLine(text: string): string {
  const nl = text.indexOf("\n");
  return nl < 0 ? text : text.slice(nl + 1);
}

/** The top-level keys of an MLmodel file's `flavors:` block (its model flavors). */
export function mlmodelFlavors(yaml: string): string[] {
  const lines = yaml.split(/\r?\n/);
  const start = lines.findIndex((l) => /^flavors:\s*$/.test(l));
  if (start < 0) return [];
  const flavors: string[] = [];
  let indent = -1;
  for (const line of lines.slice(start + 1)) {
    if (line.trim() === "" || line.trimStart().startsWith("#")) continue;
    const lead = line.length - line.trimStart().length;
    if (lead === 0) break;
    if (indent < 0) indent = lead;
    if (lead !== indent) continue;
    const m = /^\s*([^:#]+):/.exec(line);
    if (m) flavors.push(m[1].trim());
  }
  return flavors;
}

/** Short form of a `blake3:<hex>` digest for display. */
export function shortDigest(digest: string | undefined): string {
  if (!digest) return "";
  const [algo, hex] = digest.includes(":") ? digest.split(":", 2) : ["", digest];
  return (algo ? algo + ":" : "") + hex.slice(0, 12);
}

/** The folders that hold `path` ("a/b/c.txt" → "a", "a/b"). */
export function ancestors(path: string): string[] {
  const parts = path.split("/");
  return parts.slice(0, -1).map((_, i) => parts.slice(0, i + 1).join("/"));
}

/** The last segment of a path. */
export function baseName(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}
