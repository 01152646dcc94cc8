//! Small pieces the SQLite queries share: bound parameters (`?`) and the SQLite side of
//! [`Dialect`] (`LIKE` as a case-sensitive `GLOB`, `ILIKE` as `cairn_ilike`, `IN (?, …)` lists,
//! booleans as 0/1), lifecycle parsing, metric value splitting, chunked `IN (...)` lists. The
//! filter → SQL builders themselves are backend-neutral, in [`crate::sqlbuild`]; the helpers
//! re-exported from there keep their old paths.
//!
//! **Invariant:** user values only ever reach SQL as bound parameters (`?`); the SQL text is
//! built from fixed fragments and placeholders (and team ids, which are the store's integers).

use cairn_core::model::LifecycleStage;
use rusqlite::types::Value;

use crate::StoreError;
use crate::sqlbuild::Dialect;
pub use crate::sqlbuild::{view_condition, where_all};

/// SQLite's default limit on bound variables is 32766; stay far below it.
pub const IN_CHUNK: usize = 500;

/// A growing list of bound parameters.
#[derive(Default)]
pub struct Binds {
    pub values: Vec<Value>,
}

impl Binds {
    /// Adds a value and returns its placeholder.
    pub fn push(&mut self, value: impl Into<Value>) -> &'static str {
        self.values.push(value.into());
        "?"
    }

    /// `(?, ?, ...)` for a list of strings.
    pub fn list(&mut self, items: &[String]) -> String {
        let placeholders: Vec<&str> = items.iter().map(|item| self.push(item.clone())).collect();
        format!("({})", placeholders.join(", "))
    }
}

impl Dialect for Binds {
    fn bind_text(&mut self, value: &str) -> String {
        self.push(value.to_string()).to_string()
    }

    fn bind_int(&mut self, value: i64) -> String {
        self.push(value).to_string()
    }

    fn bind_float(&mut self, value: f64) -> String {
        self.push(value).to_string()
    }

    fn text_in(&mut self, column: &str, items: &[String], negated: bool) -> String {
        let not = if negated { "NOT " } else { "" };
        format!("{column} {not}IN {}", self.list(items))
    }

    fn int_in(&mut self, column: &str, items: &[i64]) -> String {
        self.values
            .extend(items.iter().map(|item| Value::Integer(*item)));
        format!("{column} IN {}", placeholders(items.len()))
    }

    /// Inlined literals (`IN (1, 2)`, `IN (NULL)` for none): they are the store's own integers.
    fn int_set(&mut self, items: Vec<i64>) -> String {
        if items.is_empty() {
            "IN (NULL)".to_string()
        } else {
            let items: Vec<String> = items.iter().map(i64::to_string).collect();
            format!("IN ({})", items.join(", "))
        }
    }

    /// `GLOB`, as SQLite's `LIKE` is case-insensitive for ASCII.
    fn like(&mut self, column: &str, pattern: &str) -> String {
        format!("{column} GLOB {}", self.push(like_to_glob(pattern)))
    }

    /// `cairn_ilike(x, p)`, the reference evaluator's Unicode-aware match registered as a SQL
    /// function.
    fn ilike(&mut self, column: &str, pattern: &str) -> String {
        format!("cairn_ilike({column}, {})", self.push(pattern.to_string()))
    }

    fn boolean(&self, value: bool) -> &'static str {
        if value { "1" } else { "0" }
    }

    fn is_false(&self, column: &str) -> String {
        format!("{column} = 0")
    }

    fn bool_as_int(&self, column: &str) -> String {
        column.to_string()
    }

    fn int_as_text(&self, column: &str) -> String {
        format!("CAST({column} AS TEXT)")
    }
}

/// Translates a `LIKE` pattern (`%`, `_`) to a case-sensitive `GLOB` pattern (`*`, `?`), escaping
/// GLOB's own metacharacters. SQLite's `LIKE` is case-insensitive for ASCII; `GLOB` is not.
pub fn like_to_glob(pattern: &str) -> String {
    let mut glob = String::with_capacity(pattern.len() + 8);
    for c in pattern.chars() {
        match c {
            '%' => glob.push('*'),
            '_' => glob.push('?'),
            '*' => glob.push_str("[*]"),
            '?' => glob.push_str("[?]"),
            '[' => glob.push_str("[[]"),
            other => glob.push(other),
        }
    }
    glob
}

pub fn parse_stage(text: &str) -> Result<LifecycleStage, StoreError> {
    LifecycleStage::parse(text).ok_or_else(|| {
        StoreError::Internal(format!("unknown lifecycle stage {text:?} in database"))
    })
}

/// Splits a metric value into the stored `(is_nan, value)` pair.
pub fn split_value(value: f64) -> (bool, f64) {
    if value.is_nan() {
        (true, 0.0)
    } else {
        (false, value)
    }
}

/// Rebuilds a metric value from its stored pair.
pub fn join_value(is_nan: bool, value: f64) -> f64 {
    if is_nan { f64::NAN } else { value }
}

/// `(?, ?, ...)` with `count` placeholders.
pub fn placeholders(count: usize) -> String {
    let mut text = String::with_capacity(count * 3 + 2);
    text.push('(');
    for index in 0..count {
        if index > 0 {
            text.push_str(", ");
        }
        text.push('?');
    }
    text.push(')');
    text
}

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_become_globs() {
        assert_eq!(like_to_glob("a%b_c"), "a*b?c");
        assert_eq!(like_to_glob("*?[x]"), "[*][?][[]x]");
    }
}
