//! Typed tables, and their CSV form.
//!
//! An export builds its tables as typed columns (text, 64-bit integers, doubles; any cell may be
//! empty), so that CSV and Parquet write the same data: CSV fields are quoted as RFC 4180 says
//! (when they hold a comma, a quote or a line break, or start or end with a space); numbers are
//! written in their shortest exact form, with `NaN`, `inf` and `-inf` for the non-finite ones
//! (what `pandas.read_csv` reads back).

/// How an integer column's values are to be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntKind {
    Plain,
    /// Milliseconds since the epoch (a timestamp type where the format has one).
    Millis,
}

/// One column's cells.
#[derive(Debug, Clone, PartialEq)]
pub enum Cells {
    Text(Vec<Option<String>>),
    Int(IntKind, Vec<Option<i64>>),
    Float(Vec<Option<f64>>),
}

impl Cells {
    pub fn len(&self) -> usize {
        match self {
            Cells::Text(v) => v.len(),
            Cells::Int(_, v) => v.len(),
            Cells::Float(v) => v.len(),
        }
    }

    /// The cell of `row` as CSV text (empty when absent).
    fn csv(&self, row: usize) -> String {
        match self {
            Cells::Text(v) => v[row].clone().unwrap_or_default(),
            Cells::Int(_, v) => v[row].map(|n| n.to_string()).unwrap_or_default(),
            Cells::Float(v) => v[row].map(number).unwrap_or_default(),
        }
    }
}

/// Named columns of equal length.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Table {
    pub columns: Vec<(String, Cells)>,
}

impl Table {
    pub fn push(&mut self, name: impl Into<String>, cells: Cells) {
        self.columns.push((name.into(), cells));
    }

    pub fn rows(&self) -> usize {
        self.columns.first().map_or(0, |(_, c)| c.len())
    }

    /// The table as CSV: a header line, then one line per row.
    pub fn csv(&self) -> String {
        let header: Vec<String> = self.columns.iter().map(|(n, _)| n.clone()).collect();
        let mut out = line(&header);
        for row in 0..self.rows() {
            let cells: Vec<String> = self.columns.iter().map(|(_, c)| c.csv(row)).collect();
            out.push_str(&line(&cells));
        }
        out
    }
}

/// One CSV field, quoted when it must be.
pub fn field(out: &mut String, text: &str) {
    let quote =
        text.contains([',', '"', '\n', '\r']) || text.starts_with(' ') || text.ends_with(' ');
    if quote {
        out.push('"');
        out.push_str(&text.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(text);
    }
}

/// One CSV line (with its line break).
pub fn line(fields: &[String]) -> String {
    let mut out = String::new();
    for (i, text) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        field(&mut out, text);
    }
    out.push('\n');
    out
}

/// A double in its shortest exact form (`NaN`, `inf`, `-inf` when not finite).
pub fn number(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_string()
    } else if value.is_infinite() {
        if value > 0.0 { "inf" } else { "-inf" }.to_string()
    } else {
        let mut buffer = ryu::Buffer::new();
        let text = buffer.format_finite(value);
        text.strip_suffix(".0").unwrap_or(text).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_quoted_when_they_must_be() {
        let cells = [
            "plain",
            "a,b",
            "say \"hi\"",
            "two\nlines",
            " padded",
            "",
            "=SUM(A1)",
        ]
        .map(String::from);
        assert_eq!(
            line(&cells),
            "plain,\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\",\" padded\",,=SUM(A1)\n"
        );
    }

    #[test]
    fn numbers_in_their_shortest_exact_form() {
        assert_eq!(number(0.1), "0.1");
        assert_eq!(number(3.0), "3");
        assert_eq!(number(-2.5e-300), "-2.5e-300");
        assert_eq!(number(f64::NAN), "NaN");
        assert_eq!(number(f64::INFINITY), "inf");
        assert_eq!(number(f64::NEG_INFINITY), "-inf");
    }

    #[test]
    fn tables_render_empty_cells_as_empty_fields() {
        let mut table = Table::default();
        table.push("a", Cells::Text(vec![Some("x".into()), None]));
        table.push("b", Cells::Int(IntKind::Millis, vec![None, Some(5)]));
        table.push("c", Cells::Float(vec![Some(0.5), Some(f64::NAN)]));
        assert_eq!(table.csv(), "a,b,c\nx,,0.5\n,5,NaN\n");
    }
}
