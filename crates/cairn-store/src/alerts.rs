//! Storage of alert rules, which (rule, run) pairs have fired, and the delivery log.

use async_trait::async_trait;
use cairn_core::alerts::{AlertRule, Delivery};

use crate::Result;

#[async_trait]
pub trait AlertStore: Send + Sync + 'static {
    /// Stores a rule (its `id` and `created` are assigned) on an active experiment.
    async fn create_alert(&self, rule: AlertRule) -> Result<AlertRule>;
    /// Rules of one experiment, or of all experiments with `None`, oldest first.
    async fn list_alerts(&self, experiment_id: Option<String>) -> Result<Vec<AlertRule>>;
    async fn get_alert(&self, id: i64) -> Result<AlertRule>;
    /// Deletes a rule with its firings and deliveries.
    async fn delete_alert(&self, id: i64) -> Result<()>;
    /// Marks the rule as fired for the run; false when it had fired for that run already.
    async fn mark_fired(&self, rule_id: i64, run_id: &str, now: i64) -> Result<bool>;
    /// Appends one delivery attempt (its `id` is assigned).
    async fn record_delivery(&self, delivery: Delivery) -> Result<Delivery>;
    /// A rule's delivery attempts, newest first.
    async fn list_deliveries(&self, rule_id: i64, limit: usize) -> Result<Vec<Delivery>>;
}
