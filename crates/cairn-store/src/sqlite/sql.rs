//! Small pieces shared by the query builders: bound parameters, string predicates, `LIKE`
//! translation, lifecycle / view-type conditions, and chunked `IN (...)` lists.
//!
//! **Invariant:** user values only ever reach SQL as bound parameters (`?`); the SQL text is
//! built from fixed fragments and placeholders.

use cairn_core::filter::ast::{NumOp, StringOp, StringPredicate};
use cairn_core::model::{LifecycleStage, ViewType};
use rusqlite::types::Value;

use crate::StoreError;

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

/// A boolean SQL expression over `column` for a predicate that is not `IS NULL` / `IS NOT NULL`
/// (those depend on whether the row exists, which the caller decides).
pub fn string_test(column: &str, predicate: &StringPredicate, binds: &mut Binds) -> String {
    match predicate {
        StringPredicate::Compare(op, value) => match op {
            StringOp::Eq => format!("{column} = {}", binds.push(value.clone())),
            StringOp::Ne => format!("{column} != {}", binds.push(value.clone())),
            StringOp::Like => format!("{column} GLOB {}", binds.push(like_to_glob(value))),
            StringOp::ILike => format!("cairn_ilike({column}, {})", binds.push(value.clone())),
        },
        StringPredicate::In(items) => format!("{column} IN {}", binds.list(items)),
        StringPredicate::NotIn(items) => format!("{column} NOT IN {}", binds.list(items)),
        StringPredicate::IsNull => format!("{column} IS NULL"),
        StringPredicate::IsNotNull => format!("{column} IS NOT NULL"),
    }
}

/// A clause over a key/value child table: `IS NULL` means "has no such key", every other
/// predicate (including `!=`) requires the key to be present.
pub fn key_value_clause(
    table: &str,
    owner_column: &str,
    owner: &str,
    key: &str,
    predicate: &StringPredicate,
    binds: &mut Binds,
) -> String {
    let key_placeholder = binds.push(key.to_string());
    let base = format!(
        "SELECT 1 FROM {table} kv WHERE kv.{owner_column} = {owner} AND kv.key = {key_placeholder}"
    );
    match predicate {
        StringPredicate::IsNull => format!("NOT EXISTS ({base})"),
        StringPredicate::IsNotNull => format!("EXISTS ({base})"),
        other => format!(
            "EXISTS ({base} AND {})",
            string_test("kv.value", other, binds)
        ),
    }
}

/// `WHERE a AND b …`, or nothing when there are no conditions.
pub fn where_all(conditions: &[String]) -> String {
    if conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conditions.join(" AND "))
    }
}

/// The SQL operator of a numeric comparison.
pub fn num_op(op: NumOp) -> &'static str {
    match op {
        NumOp::Eq => "=",
        NumOp::Ne => "!=",
        NumOp::Lt => "<",
        NumOp::Le => "<=",
        NumOp::Gt => ">",
        NumOp::Ge => ">=",
    }
}

/// The condition on a `lifecycle_stage` column for a view type, if any.
pub fn view_condition(column: &str, view: ViewType) -> Option<String> {
    match view {
        ViewType::ActiveOnly => Some(format!("{column} = 'active'")),
        ViewType::DeletedOnly => Some(format!("{column} = 'deleted'")),
        ViewType::All => None,
    }
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
