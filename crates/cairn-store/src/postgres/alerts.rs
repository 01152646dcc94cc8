//! Alert rules, firings and deliveries on PostgreSQL.
//!
//! Differences from the embedded store: a delivery's attempt and HTTP status are stored as
//! BIGINT and checked back into their Rust types; deleting a rule locks its row first, so of two
//! concurrent deletes the second waits and answers `NotFound` as it would after the first.
//! A firing is recorded once per (rule, run) by its primary key (`ON CONFLICT DO NOTHING`), so
//! concurrent replicas evaluating the same rule still notify once.

use async_trait::async_trait;
use cairn_core::alerts::{AlertRule, Condition, Delivery, Format};
use postgres::Transaction;

use super::{PgStore, experiments};
use crate::alerts::AlertStore;
use crate::{Result, StoreError};

const RULE_COLUMNS: &str =
    "id, experiment_id, name, kind, metric_key, threshold, minutes, webhook_url, format, created";

fn rule_row(row: &postgres::Row) -> Result<AlertRule> {
    let id: i64 = row.get(0);
    let experiment: i64 = row.get(1);
    let kind: &str = row.get(3);
    let format: &str = row.get(8);
    Ok(AlertRule {
        id,
        experiment_id: experiment.to_string(),
        name: row.get(2),
        condition: Condition::parse(kind, row.get(4), row.get(5), row.get(6))
            .map_err(|e| StoreError::Internal(format!("bad alert rule {id} in database: {e}")))?,
        webhook_url: row.get(7),
        format: Format::parse(format).ok_or_else(|| {
            StoreError::Internal(format!("unknown alert format {format:?} in database"))
        })?,
        created: row.get(9),
    })
}

fn get(tx: &mut Transaction<'_>, id: i64) -> Result<AlertRule> {
    let row = tx
        .query_opt(
            &format!("SELECT {RULE_COLUMNS} FROM alert_rules WHERE id = $1"),
            &[&id],
        )?
        .ok_or_else(|| StoreError::NotFound(format!("No alert {id}")))?;
    rule_row(&row)
}

fn create(tx: &mut Transaction<'_>, rule: &AlertRule) -> Result<AlertRule> {
    let experiment = experiments::require_active(tx, &rule.experiment_id)?;
    let (key, threshold, minutes) = match &rule.condition {
        Condition::MetricAbove { key, threshold } | Condition::MetricBelow { key, threshold } => {
            (Some(key.clone()), Some(*threshold), None)
        }
        Condition::Silent { minutes } => (None, None, Some(*minutes)),
        Condition::RunFailed | Condition::RunFinished => (None, None, None),
    };
    let id: i64 = tx
        .query_one(
            "INSERT INTO alert_rules (experiment_id, name, kind, metric_key, threshold, minutes,
                 webhook_url, format, created) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             RETURNING id",
            &[
                &experiment,
                &rule.name,
                &rule.condition.kind(),
                &key,
                &threshold,
                &minutes,
                &rule.webhook_url,
                &rule.format.as_str(),
                &rule.created,
            ],
        )?
        .get(0);
    get(tx, id)
}

fn list(tx: &mut Transaction<'_>, experiment_id: Option<&str>) -> Result<Vec<AlertRule>> {
    let rows = match experiment_id {
        Some(id) => {
            let id: i64 = id
                .parse()
                .map_err(|_| StoreError::experiment_not_found(id))?;
            tx.query(
                &format!(
                    "SELECT {RULE_COLUMNS} FROM alert_rules WHERE experiment_id = $1 ORDER BY id"
                ),
                &[&id],
            )?
        }
        None => tx.query(
            &format!("SELECT {RULE_COLUMNS} FROM alert_rules ORDER BY id"),
            &[],
        )?,
    };
    rows.iter().map(rule_row).collect()
}

fn delete(tx: &mut Transaction<'_>, id: i64) -> Result<()> {
    if tx
        .query_opt("SELECT 1 FROM alert_rules WHERE id = $1 FOR UPDATE", &[&id])?
        .is_none()
    {
        return Err(StoreError::NotFound(format!("No alert {id}")));
    }
    for statement in [
        "DELETE FROM alert_deliveries WHERE rule_id = $1",
        "DELETE FROM alert_fired WHERE rule_id = $1",
        "DELETE FROM alert_rules WHERE id = $1",
    ] {
        tx.execute(statement, &[&id])?;
    }
    Ok(())
}

fn record_delivery(tx: &mut Transaction<'_>, delivery: &Delivery) -> Result<Delivery> {
    let id: i64 = tx
        .query_one(
            "INSERT INTO alert_deliveries (rule_id, run_id, event, attempt, status, error, time)
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
            &[
                &delivery.rule_id,
                &delivery.run_id,
                &delivery.event,
                &i64::from(delivery.attempt),
                &delivery.status.map(i64::from),
                &delivery.error,
                &delivery.time,
            ],
        )?
        .get(0);
    Ok(Delivery {
        id,
        ..delivery.clone()
    })
}

fn delivery_row(row: &postgres::Row) -> Result<Delivery> {
    let out_of_range = |what: &str, value: i64| {
        StoreError::Internal(format!("delivery {what} {value} out of range in database"))
    };
    let attempt: i64 = row.get(4);
    let status: Option<i64> = row.get(5);
    Ok(Delivery {
        id: row.get(0),
        rule_id: row.get(1),
        run_id: row.get(2),
        event: row.get(3),
        attempt: u32::try_from(attempt).map_err(|_| out_of_range("attempt", attempt))?,
        status: status
            .map(|status| u16::try_from(status).map_err(|_| out_of_range("status", status)))
            .transpose()?,
        error: row.get(6),
        time: row.get(7),
    })
}

fn list_deliveries(tx: &mut Transaction<'_>, rule_id: i64, limit: usize) -> Result<Vec<Delivery>> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    tx.query(
        "SELECT id, rule_id, run_id, event, attempt, status, error, time
         FROM alert_deliveries WHERE rule_id = $1 ORDER BY id DESC LIMIT $2",
        &[&rule_id, &limit],
    )?
    .iter()
    .map(delivery_row)
    .collect()
}

#[async_trait]
impl AlertStore for PgStore {
    async fn create_alert(&self, rule: AlertRule) -> Result<AlertRule> {
        self.write(move |tx| create(tx, &rule)).await
    }

    async fn list_alerts(&self, experiment_id: Option<String>) -> Result<Vec<AlertRule>> {
        self.read(move |tx| list(tx, experiment_id.as_deref()))
            .await
    }

    async fn get_alert(&self, id: i64) -> Result<AlertRule> {
        self.read(move |tx| get(tx, id)).await
    }

    async fn delete_alert(&self, id: i64) -> Result<()> {
        self.write(move |tx| delete(tx, id)).await
    }

    async fn mark_fired(&self, rule_id: i64, run_id: &str, now: i64) -> Result<bool> {
        let run_id = run_id.to_string();
        self.write(move |tx| {
            let inserted = tx.execute(
                "INSERT INTO alert_fired (rule_id, run_id, time) VALUES ($1, $2, $3)
                 ON CONFLICT DO NOTHING",
                &[&rule_id, &run_id, &now],
            )?;
            Ok(inserted == 1)
        })
        .await
    }

    async fn record_delivery(&self, delivery: Delivery) -> Result<Delivery> {
        self.write(move |tx| record_delivery(tx, &delivery)).await
    }

    async fn list_deliveries(&self, rule_id: i64, limit: usize) -> Result<Vec<Delivery>> {
        self.read(move |tx| list_deliveries(tx, rule_id, limit))
            .await
    }
}
