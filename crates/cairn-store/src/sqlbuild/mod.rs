//! The filter → SQL compilation both backends share: the query builders of experiment, run,
//! logged-model and registry searches and of the readable-by-a-viewer conditions, written once
//! against [`Dialect`], which each backend's `Binds` implements (`sqlite::sql::Binds` binds
//! rusqlite values behind `?`, `postgres::sql::Binds` boxed `ToSql` values behind `$n`).
//!
//! Submodules, one per search: [`access`] (readable conditions), [`experiments`], [`models`]
//! (logged models), [`registry`] (registered models and versions), [`runs`] (run clauses and
//! run order). What stays with a backend: running the query and reading its rows, and the
//! embedded store's join-order planning in `sqlite/search.rs`.
//!
//! **Invariant:** user values only ever reach SQL as bound parameters; the SQL text is built
//! from fixed fragments, placeholders and (for [`Dialect::int_set`]) integers the store itself
//! holds. Every builder binds its values in the order their placeholders appear in the text
//! it returns, so positional `?` placeholders line up; a caller that assembles texts out of
//! order (SQLite's joins before its WHERE) gives each part its own `Binds`.
//!
//! **Invariant:** a builder binds only values its text refers to (PostgreSQL rejects a
//! statement with a parameter it does not use).

pub mod access;
pub mod experiments;
pub mod models;
pub mod registry;
pub mod runs;

use cairn_core::filter::ast::{NumOp, StringOp, StringPredicate};
use cairn_core::model::ViewType;

/// A growing list of bound parameters in one SQL dialect: binding a value gives its
/// placeholder, and the few fragments where SQLite and PostgreSQL differ come from here.
pub trait Dialect {
    /// Binds a text value; returns its placeholder.
    fn bind_text(&mut self, value: &str) -> String;
    /// Binds an integer; returns its placeholder.
    fn bind_int(&mut self, value: i64) -> String;
    /// Binds a float; returns its placeholder. Builders never bind NaN: a NaN operand matches
    /// nothing (SQLite binds NaN as NULL, which compares to nothing; PostgreSQL would compare it
    /// as the largest number), so they write [`Dialect::boolean`]`(false)` instead.
    fn bind_float(&mut self, value: f64) -> String;
    /// `column IN (…)` (`NOT IN` when `negated`) over bound texts.
    fn text_in(&mut self, column: &str, items: &[String], negated: bool) -> String;
    /// `column IN (…)` over bound integers.
    fn int_in(&mut self, column: &str, items: &[i64]) -> String;
    /// A membership test over integers the store holds (team ids, never user text), as the
    /// part after the column (`IN (1, 2)`, `= ANY($n)`); the fragment may appear more than
    /// once in a query.
    fn int_set(&mut self, items: Vec<i64>) -> String;
    /// `column LIKE pattern`, case-sensitive, `%` and `_` the only wildcards.
    fn like(&mut self, column: &str, pattern: &str) -> String;
    /// `column ILIKE pattern`, case folded over all of Unicode like the reference evaluator.
    fn ilike(&mut self, column: &str, pattern: &str) -> String;
    /// A boolean literal.
    fn boolean(&self, value: bool) -> &'static str;
    /// The condition that a stored boolean column is false.
    fn is_false(&self, column: &str) -> String;
    /// A stored boolean as the integer 0 or 1 (to rank by).
    fn bool_as_int(&self, column: &str) -> String;
    /// An integer column as text, compared byte-wise.
    fn int_as_text(&self, column: &str) -> String;
}

/// A boolean SQL expression over `column` for a predicate that is not `IS NULL` / `IS NOT NULL`
/// (those depend on whether the row exists, which the caller decides).
pub fn string_test(column: &str, predicate: &StringPredicate, binds: &mut impl Dialect) -> String {
    match predicate {
        StringPredicate::Compare(op, value) => match op {
            StringOp::Eq => format!("{column} = {}", binds.bind_text(value)),
            StringOp::Ne => format!("{column} != {}", binds.bind_text(value)),
            StringOp::Like => binds.like(column, value),
            StringOp::ILike => binds.ilike(column, value),
        },
        StringPredicate::In(items) => binds.text_in(column, items, false),
        StringPredicate::NotIn(items) => binds.text_in(column, items, true),
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
    binds: &mut impl Dialect,
) -> String {
    let key_placeholder = binds.bind_text(key);
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

/// `column <op> value` for an integer operand.
pub fn int_compare(column: &str, op: NumOp, value: i64, binds: &mut impl Dialect) -> String {
    format!("{column} {} {}", num_op(op), binds.bind_int(value))
}

/// `ASC` or `DESC`.
pub fn direction(ascending: bool) -> &'static str {
    if ascending { "ASC" } else { "DESC" }
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

/// The filter and order parts of a search query: `SELECT … FROM … {where_sql} ORDER BY {order}`.
pub struct SearchSql {
    /// `WHERE …`, or empty.
    pub where_sql: String,
    /// The ORDER BY list, without the keywords; never empty.
    pub order: String,
}

#[cfg(test)]
mod tests {
    use cairn_core::filter::ast::{RunClause, StringOp, StringPredicate};

    use super::{key_value_clause, runs, string_test};
    use crate::postgres::sql::Binds as PgBinds;
    use crate::sqlite::sql::Binds as SqliteBinds;

    #[test]
    fn string_tests_in_each_dialect() {
        let like = StringPredicate::Compare(StringOp::Like, "a%".to_string());
        let not_in = StringPredicate::NotIn(vec!["x".to_string(), "y".to_string()]);

        let mut sqlite = SqliteBinds::default();
        assert_eq!(string_test("c", &like, &mut sqlite), "c GLOB ?");
        assert_eq!(string_test("c", &not_in, &mut sqlite), "c NOT IN (?, ?)");
        assert_eq!(sqlite.values.len(), 3);

        let mut pg = PgBinds::default();
        assert_eq!(string_test("c", &like, &mut pg), "c LIKE $1 ESCAPE ''");
        assert_eq!(string_test("c", &not_in, &mut pg), "c != ALL($2)");
        assert_eq!(pg.values.len(), 2);
    }

    #[test]
    fn key_value_clause_binds_the_key_first() {
        let eq = StringPredicate::Compare(StringOp::Eq, "v".to_string());
        let mut pg = PgBinds::default();
        assert_eq!(
            key_value_clause("tags", "run_id", "r.id", "k", &eq, &mut pg),
            "EXISTS (SELECT 1 FROM tags kv WHERE kv.run_id = r.id AND kv.key = $1 AND kv.value = $2)"
        );
    }

    #[test]
    fn a_nan_metric_operand_binds_nothing_it_does_not_use() {
        let clause = RunClause::Metric {
            key: "loss".to_string(),
            op: cairn_core::filter::ast::NumOp::Lt,
            value: f64::NAN,
        };
        let mut pg = PgBinds::default();
        let runs::Compiled::Join { on, .. } = runs::compile_clause(&clause, "f0", &mut pg) else {
            panic!("a metric clause is a join");
        };
        assert_eq!(on, "f0.key = $1 AND false");
        assert_eq!(pg.values.len(), 1);
        let mut sqlite = SqliteBinds::default();
        let runs::Compiled::Join { on, .. } = runs::compile_clause(&clause, "f0", &mut sqlite)
        else {
            panic!("a metric clause is a join");
        };
        assert_eq!(on, "f0.key = ? AND 0");
        assert_eq!(sqlite.values.len(), 1);
    }
}
