//! Cairn's domain layer: the types every other crate speaks, the validation rules and limits that
//! MLflow's clients rely on, and the filter / order-by language used to search runs, experiments
//! and logged models.
//!
//! Module map:
//! - [`alerts`]: alert rules (run failed/finished, metric thresholds, silence) and deliveries.
//! - [`auth`]: users, API tokens, browser sessions and the rules for their names.
//! - [`comments`]: comments on runs and experiments, and their @mentions.
//! - [`model`]: experiments, runs, params, tags, metrics, dataset and model inputs/outputs, logged models.
//! - [`validation`]: key/value rules, size limits, truncation, and the exact error messages.
//! - [`filter`]: lexer, parser and typed ASTs for `filter` strings and `order_by` clauses.
//! - [`lineage`]: the lineage graph's nodes, edges and relations.
//! - [`ids`]: generation and checking of run, experiment and logged-model identifiers.
//! - [`registry`]: registered models, versions, stages and aliases, and their validation rules.
//! - [`redact`]: server-side redaction of secret-looking param and tag values.
//! - [`names`]: generated run names (`bold-owl-417` style) for runs created without a name.
//! - [`series`]: metric points, summaries, the compressed chunk codec and downsampling buckets.
//! - [`stats`]: descriptive statistics and two-sample tests (Welch's t, Mann–Whitney U) for run comparison.
//! - [`compare`]: run comparison (params diff, best run, grouping, per-bucket bands).
//!
//! **Architecture Invariant:** this crate does no I/O and knows nothing of HTTP, JSON or SQL. It
//! depends on no serialisation library; wire formats live in `cairn-server`.

pub mod access;
pub mod alerts;
pub mod auth;
pub mod comments;
pub mod compare;
pub mod filter;
pub mod ids;
pub mod lineage;
pub mod model;
pub mod names;
pub mod redact;
pub mod registry;
pub mod series;
pub mod stats;
pub mod validation;

pub use validation::ValidationError;
