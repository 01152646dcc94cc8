// CSV text (RFC 4180): fields with a comma, quote, CR or LF, or leading/trailing spaces are
// quoted, quotes doubled, records ended by CRLF. Used by the runs table's export.

/** One field as CSV. */
export function csvField(value: string): string {
  return /[",\r\n]|^\s|\s$/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

/** One record (a line with its CRLF). */
export function csvRecord(fields: string[]): string {
  return fields.map(csvField).join(",") + "\r\n";
}

/** A whole table: the header record, then one record per row. */
export function toCsv(header: string[], rows: Iterable<string[]>): string {
  const parts = [csvRecord(header)];
  for (const row of rows) parts.push(csvRecord(row));
  return parts.join("");
}
