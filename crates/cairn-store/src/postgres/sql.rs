//! Small pieces the PostgreSQL queries share: bound parameters with `$n` placeholders and the
//! PostgreSQL side of [`Dialect`] (below), chunked `IN` lists. The filter → SQL builders are
//! backend-neutral, in [`crate::sqlbuild`] (`string_test`, `key_value_clause`, `where_all`,
//! `num_op`, `view_condition` re-exported from there); `parse_stage`, `split_value`,
//! `join_value`, `now_ms` are the embedded backend's, re-exported.
//!
//! **Invariant:** user values only ever reach SQL as bound parameters; the SQL text is built
//! from fixed fragments and placeholders.
//!
//! `LIKE` here is PostgreSQL's, case-sensitive, with escaping turned off (`ESCAPE ''`) so `\` is
//! an ordinary character as in MLflow's grammar. `ILIKE` compares `lower()` of both sides under
//! the ICU root collation (`"und-x-icu"`), which lowercases every script the way Rust's
//! `to_lowercase` does, whatever the database's locale; PostgreSQL must be built with ICU (the
//! Debian, Ubuntu and official container builds are).

use postgres::types::ToSql;

use crate::sqlbuild::Dialect;
pub use crate::sqlbuild::{view_condition, where_all};
pub use crate::sqlite::sql::{join_value, now_ms, parse_stage, split_value};

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

    /// The parameters, as `query` wants them.
    pub fn params(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.values
            .iter()
            .map(|value| value.as_ref() as &(dyn ToSql + Sync))
            .collect()
    }
}

impl Dialect for Binds {
    fn bind_text(&mut self, value: &str) -> String {
        self.push(value.to_string())
    }

    fn bind_int(&mut self, value: i64) -> String {
        self.push(value)
    }

    fn bind_float(&mut self, value: f64) -> String {
        self.push(value)
    }

    /// `column = ANY($n)` / `column != ALL($n)` over one text array.
    fn text_in(&mut self, column: &str, items: &[String], negated: bool) -> String {
        let array = self.push(items.to_vec());
        if negated {
            format!("{column} != ALL({array})")
        } else {
            format!("{column} = ANY({array})")
        }
    }

    fn int_in(&mut self, column: &str, items: &[i64]) -> String {
        format!("{column} = ANY({})", self.push(items.to_vec()))
    }

    /// `= ANY($n)` over a bound array.
    fn int_set(&mut self, items: Vec<i64>) -> String {
        format!("= ANY({})", self.push(items))
    }

    fn like(&mut self, column: &str, pattern: &str) -> String {
        format!("{column} LIKE {} ESCAPE ''", self.push(pattern.to_string()))
    }

    fn ilike(&mut self, column: &str, pattern: &str) -> String {
        format!(
            "lower({column} COLLATE \"und-x-icu\") LIKE lower({}::text COLLATE \"und-x-icu\") ESCAPE ''",
            self.push(pattern.to_string())
        )
    }

    fn boolean(&self, value: bool) -> &'static str {
        if value { "true" } else { "false" }
    }

    fn is_false(&self, column: &str) -> String {
        format!("NOT {column}")
    }

    fn bool_as_int(&self, column: &str) -> String {
        format!("{column}::int")
    }

    /// Cast to text and compared in the `"C"` collation, byte-wise as in the embedded store.
    fn int_as_text(&self, column: &str) -> String {
        format!("({column}::text COLLATE \"C\")")
    }
}
