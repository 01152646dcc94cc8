//! Small pieces shared by the PostgreSQL query builders: bound parameters with `$n`
//! placeholders, string predicates, chunked `IN` lists. Backend-neutral helpers (`where_all`,
//! `num_op`, `view_condition`, `parse_stage`, `split_value`, `join_value`, `now_ms`) are the
//! embedded backend's, re-exported.
//!
//! **Invariant:** user values only ever reach SQL as bound parameters; the SQL text is built
//! from fixed fragments and placeholders.
//!
//! `LIKE` here is PostgreSQL's, case-sensitive, with escaping turned off (`ESCAPE ''`) so `\` is
//! an ordinary character as in MLflow's grammar. `ILIKE` compares `lower()` of both sides under
//! the ICU root collation (`"und-x-icu"`), which lowercases every script the way Rust's
//! `to_lowercase` does, whatever the database's locale; PostgreSQL must be built with ICU (the
//! Debian, Ubuntu and official container builds are).

use cairn_core::filter::ast::{StringOp, StringPredicate};
use postgres::types::ToSql;

pub use crate::sqlite::sql::{
    join_value, now_ms, num_op, parse_stage, split_value, view_condition, where_all,
};

/// Ids bound per `= ANY($n)` array or `IN` list chunk.
pub const IN_CHUNK: usize = 1000;

/// A value that can be bound to a statement.
pub type Value = Box<dyn ToSql + Sync + Send>;

/// A growing list of bound parameters.
#[derive(Default)]
pub struct Binds {
    pub values: Vec<Value>,
}

impl Binds {
    /// Adds a value and returns its placeholder (`$1`, `$2`, …).
    pub fn push<T: ToSql + Sync + Send + 'static>(&mut self, value: T) -> String {
        self.values.push(Box::new(value));
        format!("${}", self.values.len())
    }

    /// `ANY($n)` over a text array, for `column = ANY($n)` (or `!= ALL`, see `string_test`).
    pub fn array(&mut self, items: &[String]) -> String {
        self.push(items.to_vec())
    }

    /// The parameters, as `query` wants them.
    pub fn params(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.values
            .iter()
            .map(|value| value.as_ref() as &(dyn ToSql + Sync))
            .collect()
    }
}

/// A boolean SQL expression over `column` for a predicate that is not `IS NULL` / `IS NOT NULL`
/// (those depend on whether the row exists, which the caller decides).
pub fn string_test(column: &str, predicate: &StringPredicate, binds: &mut Binds) -> String {
    match predicate {
        StringPredicate::Compare(op, value) => match op {
            StringOp::Eq => format!("{column} = {}", binds.push(value.clone())),
            StringOp::Ne => format!("{column} != {}", binds.push(value.clone())),
            StringOp::Like => format!("{column} LIKE {} ESCAPE ''", binds.push(value.clone())),
            StringOp::ILike => format!(
                "lower({column} COLLATE \"und-x-icu\") LIKE lower({}::text COLLATE \"und-x-icu\") ESCAPE ''",
                binds.push(value.clone())
            ),
        },
        StringPredicate::In(items) => format!("{column} = ANY({})", binds.array(items)),
        StringPredicate::NotIn(items) => format!("{column} != ALL({})", binds.array(items)),
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
