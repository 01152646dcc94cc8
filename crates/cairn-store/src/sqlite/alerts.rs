//! Alert rules, firings and deliveries on SQLite (migration 8).

use async_trait::async_trait;
use cairn_core::alerts::{AlertRule, Condition, Delivery, Format};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{SqliteStore, experiments};
use crate::alerts::AlertStore;
use crate::{Result, StoreError};

pub const TABLES: &str = r#"
    CREATE TABLE alert_rules (
        id            INTEGER PRIMARY KEY,
        experiment_id INTEGER NOT NULL REFERENCES experiments (experiment_id),
        name          TEXT NOT NULL,
        kind          TEXT NOT NULL,
        metric_key    TEXT,
        threshold     REAL,
        minutes       INTEGER,
        webhook_url   TEXT NOT NULL,
        format        TEXT NOT NULL,
        created       INTEGER NOT NULL
    );
    CREATE INDEX alert_rules_experiment ON alert_rules (experiment_id);

    CREATE TABLE alert_fired (
        rule_id INTEGER NOT NULL REFERENCES alert_rules (id) ON DELETE CASCADE,
        run_id  TEXT NOT NULL,
        time    INTEGER NOT NULL,
        PRIMARY KEY (rule_id, run_id)
    ) WITHOUT ROWID;

    CREATE TABLE alert_deliveries (
        id      INTEGER PRIMARY KEY,
        rule_id INTEGER NOT NULL REFERENCES alert_rules (id) ON DELETE CASCADE,
        run_id  TEXT NOT NULL,
        event   TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        status  INTEGER,
        error   TEXT,
        time    INTEGER NOT NULL
    );
    CREATE INDEX alert_deliveries_rule ON alert_deliveries (rule_id, id);
"#;

const RULE_COLUMNS: &str =
    "id, experiment_id, name, kind, metric_key, threshold, minutes, webhook_url, format, created";

/// A rule row before its condition and format are parsed: (rule, kind, key, threshold,
/// minutes, format).
type RawRule = (
    AlertRule,
    String,
    Option<String>,
    Option<f64>,
    Option<i64>,
    String,
);

fn rule_row(row: &Row<'_>) -> rusqlite::Result<RawRule> {
    let experiment: i64 = row.get(1)?;
    Ok((
        AlertRule {
            id: row.get(0)?,
            experiment_id: experiment.to_string(),
            name: row.get(2)?,
            condition: Condition::RunFailed,
            webhook_url: row.get(7)?,
            format: Format::Json,
            created: row.get(9)?,
        },
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
        row.get(6)?,
        row.get(8)?,
    ))
}

fn finish((mut rule, kind, key, threshold, minutes, format): RawRule) -> Result<AlertRule> {
    rule.condition = Condition::parse(&kind, key, threshold, minutes).map_err(|e| {
        StoreError::Internal(format!("bad alert rule {} in database: {e}", rule.id))
    })?;
    rule.format = Format::parse(&format).ok_or_else(|| {
        StoreError::Internal(format!("unknown alert format {format:?} in database"))
    })?;
    Ok(rule)
}

fn get(conn: &Connection, id: i64) -> Result<AlertRule> {
    let raw = conn
        .prepare_cached(&format!(
            "SELECT {RULE_COLUMNS} FROM alert_rules WHERE id = ?1"
        ))?
        .query_row(params![id], rule_row)
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("No alert {id}")))?;
    finish(raw)
}

fn create(conn: &Connection, rule: &AlertRule) -> Result<AlertRule> {
    let experiment = experiments::require_active(conn, &rule.experiment_id)?;
    let (key, threshold, minutes) = match &rule.condition {
        Condition::MetricAbove { key, threshold } | Condition::MetricBelow { key, threshold } => {
            (Some(key.clone()), Some(*threshold), None)
        }
        Condition::Silent { minutes } => (None, None, Some(*minutes)),
        Condition::RunFailed | Condition::RunFinished => (None, None, None),
    };
    conn.prepare_cached(
        "INSERT INTO alert_rules (experiment_id, name, kind, metric_key, threshold, minutes,
             webhook_url, format, created) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        experiment,
        rule.name,
        rule.condition.kind(),
        key,
        threshold,
        minutes,
        rule.webhook_url,
        rule.format.as_str(),
        rule.created
    ])?;
    get(conn, conn.last_insert_rowid())
}

fn list(conn: &Connection, experiment_id: Option<&str>) -> Result<Vec<AlertRule>> {
    let raws: Vec<RawRule> = match experiment_id {
        Some(id) => {
            let id: i64 = id
                .parse()
                .map_err(|_| StoreError::experiment_not_found(id))?;
            conn.prepare_cached(&format!(
                "SELECT {RULE_COLUMNS} FROM alert_rules WHERE experiment_id = ?1 ORDER BY id"
            ))?
            .query_map(params![id], rule_row)?
            .collect::<rusqlite::Result<_>>()?
        }
        None => conn
            .prepare_cached(&format!(
                "SELECT {RULE_COLUMNS} FROM alert_rules ORDER BY id"
            ))?
            .query_map([], rule_row)?
            .collect::<rusqlite::Result<_>>()?,
    };
    raws.into_iter().map(finish).collect()
}

fn delivery_row(row: &Row<'_>) -> rusqlite::Result<Delivery> {
    Ok(Delivery {
        id: row.get(0)?,
        rule_id: row.get(1)?,
        run_id: row.get(2)?,
        event: row.get(3)?,
        attempt: row.get(4)?,
        status: row.get(5)?,
        error: row.get(6)?,
        time: row.get(7)?,
    })
}

#[async_trait]
impl AlertStore for SqliteStore {
    async fn create_alert(&self, rule: AlertRule) -> Result<AlertRule> {
        self.write(move |conn| create(conn, &rule)).await
    }

    async fn list_alerts(&self, experiment_id: Option<String>) -> Result<Vec<AlertRule>> {
        self.read(move |conn| list(conn, experiment_id.as_deref()))
            .await
    }

    async fn get_alert(&self, id: i64) -> Result<AlertRule> {
        self.read(move |conn| get(conn, id)).await
    }

    async fn delete_alert(&self, id: i64) -> Result<()> {
        self.write(move |conn| {
            get(conn, id)?;
            for statement in [
                "DELETE FROM alert_deliveries WHERE rule_id = ?1",
                "DELETE FROM alert_fired WHERE rule_id = ?1",
                "DELETE FROM alert_rules WHERE id = ?1",
            ] {
                conn.prepare_cached(statement)?.execute(params![id])?;
            }
            Ok(())
        })
        .await
    }

    async fn mark_fired(&self, rule_id: i64, run_id: &str, now: i64) -> Result<bool> {
        let run_id = run_id.to_string();
        self.write(move |conn| {
            let inserted = conn
                .prepare_cached(
                    "INSERT INTO alert_fired (rule_id, run_id, time) VALUES (?1, ?2, ?3)
                     ON CONFLICT DO NOTHING",
                )?
                .execute(params![rule_id, run_id, now])?;
            Ok(inserted == 1)
        })
        .await
    }

    async fn record_delivery(&self, delivery: Delivery) -> Result<Delivery> {
        self.write(move |conn| {
            conn.prepare_cached(
                "INSERT INTO alert_deliveries (rule_id, run_id, event, attempt, status, error, time)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                delivery.rule_id,
                delivery.run_id,
                delivery.event,
                delivery.attempt,
                delivery.status,
                delivery.error,
                delivery.time
            ])?;
            Ok(Delivery {
                id: conn.last_insert_rowid(),
                ..delivery
            })
        })
        .await
    }

    async fn list_deliveries(&self, rule_id: i64, limit: usize) -> Result<Vec<Delivery>> {
        self.read(move |conn| {
            let mut statement = conn.prepare_cached(
                "SELECT id, rule_id, run_id, event, attempt, status, error, time
                 FROM alert_deliveries WHERE rule_id = ?1 ORDER BY id DESC LIMIT ?2",
            )?;
            let rows = statement.query_map(params![rule_id, limit as i64], delivery_row)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
        .await
    }
}
