// A small delimited-text parser for artifact previews (CSV and TSV): RFC 4180 quoting (quoted
// fields may hold delimiters, doubled quotes and line breaks), LF, CRLF or CR line endings, and
// a row limit so that a huge file costs only the rows shown.

export type Delimited = {
  rows: string[][];
  /** More rows follow the last one returned (the limit was reached, or the text was cut). */
  truncated: boolean;
};

/**
 * Parses `text` into rows of fields, at most `maxRows` rows. With `complete` false (the text is
 * the head of a longer file), the last row, which may be cut, is dropped.
 */
export function parseDelimited(text: string, delimiter: string, maxRows: number, complete = true): Delimited {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = "";
  let quoted = false;
  let i = 0;
  const n = text.length;
  // A BOM is not part of the first field.
  if (text.charCodeAt(0) === 0xfeff) i = 1;
  const endRow = () => {
    row.push(field);
    rows.push(row);
    row = [];
    field = "";
  };
  while (i < n) {
    const c = text[i];
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i += 2;
          continue;
        }
        quoted = false;
      } else {
        field += c;
      }
      i++;
      continue;
    }
    if (c === '"' && field === "") {
      quoted = true;
    } else if (c === delimiter) {
      row.push(field);
      field = "";
    } else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i++;
      endRow();
      if (rows.length > maxRows) break;
    } else {
      field += c;
    }
    i++;
  }
  const atEnd = i >= n;
  if (atEnd && (field !== "" || row.length > 0)) endRow();
  let truncated = !atEnd || !complete;
  if (!complete && atEnd && rows.length > 0) rows.pop();
  if (rows.length > maxRows) {
    rows.length = maxRows;
    truncated = true;
  }
  return { rows, truncated };
}

/** The delimiter of a file by its name: tab for .tsv/.tab, else a comma. */
export function delimiterFor(path: string): string {
  return /\.(tsv|tab)$/i.test(path) ? "\t" : ",";
}
