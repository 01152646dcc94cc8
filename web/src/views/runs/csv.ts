// CSV text (RFC 4180): fields with a comma, quote, CR or LF, or leading/trailing spaces are
// quoted, quotes doubled, records ended by CRLF. Used by the runs table's export. Text that a
// spreadsheet would run as a formula (a param or tag value starting with =, +, -, @, a tab or a
// CR that is not a number) gets a leading apostrophe, which spreadsheets show as plain text.

/** A value a spreadsheet would evaluate as a formula, made inert; numbers are left alone. */
export function inertText(value: string): string {
  if (!/^[=+\-@\t\r]/.test(value)) return value;
  return value.trim() !== "" && Number.isFinite(Number(value)) ? value : "'" + value;
}

/** One field as CSV. */
export function csvField(raw: string): string {
  const value = inertText(raw);
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
