//! Alerts: rules per experiment that call a webhook when a run fails or finishes, a metric
//! crosses a threshold, or a running run goes silent.
//!
//! One task watches the live bus — only while some rule exists, because subscribing makes every
//! ingest encode its event — and checks silence every 30 seconds. It reloads the rules when they
//! change here and every 30 seconds besides, so rules made through another server on the same
//! database are watched too. A rule fires at most once per run: the store remembers the pair, and
//! only the server whose claim of the pair was new delivers (replicas seeing the same event race
//! for that claim). Each firing is delivered in its own task: a POST of the
//! rule's format (generic JSON, or Slack's `{"text"}`), retried with exponential backoff (1, 2,
//! 4, 8 s; five attempts) while the webhook fails or is unreachable, every attempt recorded in
//! the rule's delivery log.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cairn_core::alerts::{self, AlertRule, Condition, Delivery, Format};
use cairn_core::filter::ast::{
    RunClause, RunFilter, RunStringAttribute, StringOp, StringPredicate,
};
use cairn_core::model::ViewType;
use cairn_store::{RunSearch, Store};
use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::access::Access;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::live::Hub;
use crate::tracking::now_ms;
use cairn_core::access::Permission;

/// How often running runs are checked for silence, and the rules reloaded (other servers on the
/// same database may have changed them).
const SILENCE_CHECK: Duration = Duration::from_secs(30);
/// Delivery attempts per firing, and the first pause between them (doubling).
const ATTEMPTS: u32 = 5;
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// Most rules per experiment.
const MAX_RULES: usize = 100;

/// The alerts service. Cheap to clone.
#[derive(Clone)]
pub struct Alerts {
    store: Arc<dyn Store>,
    /// Rules are read and changed by those who may read and write their experiment.
    access: Access,
    http: reqwest::Client,
    /// Rules changed: the watcher reloads them.
    changed: Arc<Notify>,
    /// Run → when the watcher last saw it log or change (ms), for silence.
    seen: Arc<Mutex<HashMap<String, i64>>>,
    backoff: Duration,
}

impl std::fmt::Debug for Alerts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Alerts").finish_non_exhaustive()
    }
}

/// A rule as a client sends it.
#[derive(Debug, Clone)]
pub struct NewRule {
    pub name: String,
    pub kind: String,
    pub key: Option<String>,
    pub threshold: Option<f64>,
    pub minutes: Option<i64>,
    pub webhook_url: String,
    pub format: Option<String>,
}

impl Alerts {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Alerts {
            access: Access::new(Arc::clone(&store)),
            store,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .user_agent(concat!("cairn-alerts/", env!("CARGO_PKG_VERSION")))
                .build()
                .unwrap_or_default(),
            changed: Arc::default(),
            seen: Arc::default(),
            backoff: FIRST_BACKOFF,
        }
    }

    /// The same service with a shorter first retry pause (tests).
    pub fn with_backoff(mut self, backoff: Duration) -> Self {
        self.backoff = backoff;
        self
    }

    /// A rule the caller has `need` on (its experiment); hidden ones are answered as missing.
    async fn rule(&self, id: i64, need: Permission) -> ApiResult<AlertRule> {
        let rule = self.store.get_alert(id).await?;
        match self.access.experiment(&rule.experiment_id, need).await {
            Err(error) if error.code == ErrorCode::ResourceDoesNotExist => {
                Err(ApiError::not_found(format!("No alert rule {id}")))
            }
            Err(error) => Err(error),
            Ok(()) => Ok(rule),
        }
    }

    /// Creates a rule on an experiment the caller may write to.
    pub async fn create(&self, experiment_id: &str, rule: NewRule) -> ApiResult<AlertRule> {
        self.access
            .experiment(experiment_id, Permission::Write)
            .await?;
        let condition = Condition::parse(&rule.kind, rule.key, rule.threshold, rule.minutes)?;
        alerts::check_webhook_url(&rule.webhook_url)?;
        let format = match rule.format.as_deref() {
            None => Format::Json,
            Some(text) => Format::parse(text).ok_or_else(|| {
                ApiError::invalid(format!("Invalid format '{text}': expected json or slack"))
            })?,
        };
        let name = rule.name.trim().to_string();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(ApiError::invalid(
                "An alert needs a name of 1 to 200 characters",
            ));
        }
        if self.list(Some(experiment_id)).await?.len() >= MAX_RULES {
            return Err(ApiError::invalid(format!(
                "An experiment may have at most {MAX_RULES} alerts"
            )));
        }
        let created = self
            .store
            .create_alert(AlertRule {
                id: 0,
                experiment_id: experiment_id.to_string(),
                name,
                condition,
                webhook_url: rule.webhook_url,
                format,
                created: now_ms(),
            })
            .await?;
        self.changed.notify_one();
        Ok(created)
    }

    /// An experiment's rules (every rule for `None`, the server's own use).
    pub async fn list(&self, experiment_id: Option<&str>) -> ApiResult<Vec<AlertRule>> {
        if let Some(experiment_id) = experiment_id {
            self.access
                .experiment(experiment_id, Permission::Read)
                .await?;
        }
        Ok(self
            .store
            .list_alerts(experiment_id.map(str::to_string))
            .await?)
    }

    pub async fn delete(&self, id: i64) -> ApiResult<()> {
        self.rule(id, Permission::Write).await?;
        self.store.delete_alert(id).await?;
        self.changed.notify_one();
        Ok(())
    }

    pub async fn deliveries(&self, id: i64, limit: usize) -> ApiResult<Vec<Delivery>> {
        self.rule(id, Permission::Read).await?;
        Ok(self.store.list_deliveries(id, limit.clamp(1, 1000)).await?)
    }

    /// Watches the bus and the clock for as long as the server runs.
    pub async fn watch(self, hub: Hub) {
        let mut silence = tokio::time::interval(SILENCE_CHECK);
        loop {
            let rules = match self.store.list_alerts(None).await {
                Ok(rules) => rules,
                Err(error) => {
                    tracing::error!(%error, "cannot read alert rules");
                    tokio::time::sleep(SILENCE_CHECK).await;
                    continue;
                }
            };
            if rules.is_empty() {
                tokio::select! {
                    () = self.changed.notified() => {}
                    () = tokio::time::sleep(SILENCE_CHECK) => {}
                }
                continue;
            }
            let mut events = hub.subscribe();
            let loaded = tokio::time::Instant::now();
            loop {
                tokio::select! {
                    () = self.changed.notified() => break,
                    _ = silence.tick() => {
                        self.check_silence(&rules, now_ms()).await;
                        if loaded.elapsed() >= SILENCE_CHECK {
                            break;
                        }
                    }
                    event = events.recv() => match event {
                        Ok(event) if event.gap => {}
                        Ok(event) => self.on_event(&rules, &event.run_id, &event.experiment_id, &event.json).await,
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                            tracing::warn!(missed, "alerts fell behind the live bus; some points were not checked");
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                    },
                }
            }
        }
    }

    async fn on_event(&self, rules: &[AlertRule], run_id: &str, experiment_id: &str, json: &[u8]) {
        self.seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(run_id.to_string(), now_ms());
        let rules: Vec<&AlertRule> = rules
            .iter()
            .filter(|r| r.experiment_id == experiment_id)
            .collect();
        if rules.is_empty() {
            return;
        }
        let Ok(event) = serde_json::from_slice::<Value>(json) else {
            return;
        };
        match event["type"].as_str() {
            Some("run") => {
                let status = event["status"].as_str().unwrap_or("");
                let name = event["run_name"].as_str().unwrap_or(run_id);
                for rule in rules {
                    let fires = matches!(
                        (&rule.condition, status),
                        (Condition::RunFailed, "FAILED") | (Condition::RunFinished, "FINISHED")
                    );
                    if fires {
                        let text = format!("Run {name} {}", status.to_lowercase());
                        self.fire(rule, run_id, text).await;
                    }
                }
            }
            Some("points") => {
                let key = event["key"].as_str().unwrap_or("");
                let values: Vec<f64> = event["values"]
                    .as_array()
                    .map(|values| values.iter().filter_map(Value::as_f64).collect())
                    .unwrap_or_default();
                for rule in rules {
                    if let Some(value) = values.iter().find(|v| rule.condition.fires_on(key, **v)) {
                        let text = match &rule.condition {
                            Condition::MetricAbove { threshold, .. } => {
                                format!("{key} = {value} is above {threshold} in run {run_id}")
                            }
                            _ => format!("{key} = {value} is below the threshold in run {run_id}"),
                        };
                        self.fire(rule, run_id, text).await;
                    }
                }
            }
            _ => {}
        }
    }

    /// Fires every silence rule for running runs with nothing new for its minutes at `now`.
    pub async fn check_silence(&self, rules: &[AlertRule], now: i64) {
        for rule in rules {
            let Condition::Silent { minutes } = rule.condition else {
                continue;
            };
            let search = RunSearch {
                experiment_ids: vec![rule.experiment_id.clone()],
                filter: RunFilter {
                    clauses: vec![RunClause::StringAttribute {
                        attribute: RunStringAttribute::Status,
                        predicate: StringPredicate::Compare(StringOp::Eq, "RUNNING".into()),
                    }],
                },
                view: ViewType::ActiveOnly,
                max_results: 1000,
                ..RunSearch::default()
            };
            let runs = match self.store.search_runs(search).await {
                Ok(page) => page.items,
                Err(error) => {
                    tracing::error!(%error, "cannot search running runs for silence alerts");
                    continue;
                }
            };
            for run in runs {
                let seen = self
                    .seen
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get(&run.info.run_id)
                    .copied()
                    .unwrap_or(0);
                let logged = run.metrics.iter().map(|m| m.timestamp).max().unwrap_or(0);
                let last = seen.max(logged).max(run.info.start_time);
                if now - last >= minutes * 60_000 {
                    let text = format!(
                        "Run {} has logged nothing for {} minutes",
                        run.info.run_name,
                        (now - last) / 60_000
                    );
                    self.fire(rule, &run.info.run_id, text).await;
                }
            }
        }
    }

    /// Delivers a firing unless the rule already fired for this run.
    async fn fire(&self, rule: &AlertRule, run_id: &str, text: String) {
        match self.store.mark_fired(rule.id, run_id, now_ms()).await {
            Ok(true) => {}
            Ok(false) => return,
            Err(error) => {
                tracing::error!(%error, "cannot record an alert firing");
                return;
            }
        }
        let body = match rule.format {
            Format::Slack => json!({ "text": format!("[{}] {text}", rule.name) }),
            Format::Json => json!({
                "alert": rule.name,
                "alert_id": rule.id,
                "condition": rule.condition.kind(),
                "experiment_id": rule.experiment_id,
                "run_id": run_id,
                "text": text,
                "time": now_ms(),
            }),
        };
        let service = self.clone();
        let rule = rule.clone();
        let run_id = run_id.to_string();
        tokio::spawn(async move { service.deliver(rule, run_id, text, body).await });
    }

    async fn deliver(&self, rule: AlertRule, run_id: String, text: String, body: Value) {
        let mut pause = self.backoff;
        for attempt in 1..=ATTEMPTS {
            let answer = self.http.post(&rule.webhook_url).json(&body).send().await;
            let (status, error) = match answer {
                Ok(response) if response.status().is_success() => {
                    (Some(response.status().as_u16()), None)
                }
                Ok(response) => (
                    Some(response.status().as_u16()),
                    Some(format!("the webhook answered {}", response.status())),
                ),
                Err(error) => (None, Some(error.to_string())),
            };
            let delivered = error.is_none();
            let record = Delivery {
                id: 0,
                rule_id: rule.id,
                run_id: run_id.clone(),
                event: text.clone(),
                attempt,
                status,
                error,
                time: now_ms(),
            };
            if let Err(error) = self.store.record_delivery(record).await {
                tracing::error!(%error, "cannot record an alert delivery");
            }
            if delivered {
                return;
            }
            if attempt < ATTEMPTS {
                tokio::time::sleep(pause).await;
                pause *= 2;
            }
        }
        tracing::warn!(
            alert = rule.id,
            "gave up delivering an alert after {ATTEMPTS} attempts"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_core::model::{NewExperiment, NewRun};
    use cairn_store::ArtifactLocation;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A webhook that answers 200 and counts requests.
    async fn receiver() -> (String, Arc<Mutex<Vec<String>>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let bodies: Arc<Mutex<Vec<String>>> = Arc::default();
        let seen = Arc::clone(&bodies);
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut buffer = vec![0u8; 65536];
                let n = socket.read(&mut buffer).await.unwrap_or(0);
                seen.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&buffer[..n]).into_owned());
                let _ = socket
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    .await;
            }
        });
        (url, bodies)
    }

    #[tokio::test]
    async fn silent_running_runs_fire_once() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> =
            Arc::new(cairn_store::sqlite::SqliteStore::open(&dir.path().join("cairn.db")).unwrap());
        let experiment = store
            .create_experiment(
                NewExperiment {
                    name: "silence".into(),
                    artifact_location: None,
                    tags: vec![],
                    creation_time: 0,
                    access: None,
                },
                ArtifactLocation::UnderRoot("mlflow-artifacts:".into()),
            )
            .await
            .unwrap();
        let start = 1_700_000_000_000;
        let run = store
            .create_run(NewRun {
                run_id: "a".repeat(32),
                experiment_id: experiment.clone(),
                run_name: "quiet".into(),
                user_id: "u".into(),
                start_time: start,
                artifact_uri: "mlflow-artifacts:/1/a/artifacts".into(),
                tags: vec![],
                created: None,
            })
            .await
            .unwrap();
        let (url, bodies) = receiver().await;
        let alerts = Alerts::new(Arc::clone(&store));
        let rule = alerts
            .create(
                &experiment,
                NewRule {
                    name: "silence".into(),
                    kind: "silent".into(),
                    key: None,
                    threshold: None,
                    minutes: Some(10),
                    webhook_url: url,
                    format: None,
                },
            )
            .await
            .unwrap();
        let rules = vec![rule.clone()];
        alerts.check_silence(&rules, start + 9 * 60_000).await;
        alerts.check_silence(&rules, start + 11 * 60_000).await;
        alerts.check_silence(&rules, start + 20 * 60_000).await;
        for _ in 0..100 {
            if !store.list_deliveries(rule.id, 10).await.unwrap().is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let log = store.list_deliveries(rule.id, 10).await.unwrap();
        assert_eq!(log.len(), 1, "fired once, after ten minutes: {log:?}");
        assert_eq!(log[0].run_id, run.info.run_id);
        assert!(log[0].succeeded());
        assert!(
            log[0]
                .event
                .contains("quiet has logged nothing for 11 minutes"),
            "{}",
            log[0].event
        );
        let body = bodies.lock().unwrap().join("");
        assert!(body.contains("\"condition\":\"silent\""), "{body}");
    }
}
