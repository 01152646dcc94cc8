//! `impl MetricStore for PgStore`: metric ingest, history, points, views, summaries, retention
//! and forced compaction, each one transaction on a pooled connection.
//!
//! The port of `impl MetricStore for SqliteStore`. What differs: write closures may run more
//! than once (a transaction that lost a race is retried from the start), so they clone the
//! batches they hand to `series::append`; two requests racing with one idempotency key both
//! append, one of them fails on the key's uniqueness and its re-run answers as a replay; a view
//! downsamples its runs on several pooled connections at once, as the embedded store does on its
//! readers; `compact` waits for the compactor thread off the runtime.

use async_trait::async_trait;
use cairn_core::model::{Metric, Page};

use super::{PgStore, metrics, retention, runs, series, sql};
use crate::{
    CompactionStats, HistoryRequest, Logged, MetricStore, PointsRead, Result, RetentionPolicy,
    RunSeries, SampledHistoryRequest, SeriesPoints, SeriesRequest, SeriesSummary, SeriesView,
    StoreError,
};

#[async_trait]
impl MetricStore for PgStore {
    async fn history(&self, request: HistoryRequest) -> Result<Page<Metric>> {
        self.read(move |tx| metrics::history(tx, &request)).await
    }

    async fn sampled_history(&self, request: SampledHistoryRequest) -> Result<Vec<RunSeries>> {
        self.read(move |tx| metrics::sampled_history(tx, &request))
            .await
    }

    async fn log_points(
        &self,
        run_id: &str,
        series: Vec<SeriesPoints>,
        idempotency_key: Option<String>,
    ) -> Result<Logged> {
        let id = run_id.to_string();
        let batches: Vec<series::Batch> = series
            .into_iter()
            .map(|s| series::Batch {
                key: s.key,
                points: s.points,
                links: Vec::new(),
            })
            .collect();
        let (logged, compact) = self
            .write(move |tx| {
                let (run, _) = runs::require_active(tx, &id)?;
                let now = sql::now_ms();
                if let Some(key) = &idempotency_key
                    && let Some(earlier) = series::earlier_answer(tx, run, key)?
                {
                    return Ok((
                        Logged {
                            accepted: earlier,
                            replay: true,
                        },
                        false,
                    ));
                }
                let appended = series::append(tx, run, batches.clone(), now)?;
                if let Some(key) = &idempotency_key {
                    series::remember_answer(tx, run, key, appended.points, now)?;
                }
                Ok((
                    Logged {
                        accepted: appended.points,
                        replay: false,
                    },
                    appended.compact,
                ))
            })
            .await?;
        if compact {
            self.nudge_compactor();
        }
        Ok(logged)
    }

    async fn points(
        &self,
        run_id: &str,
        key: &str,
        from_step: Option<i64>,
        to_step: Option<i64>,
    ) -> Result<PointsRead> {
        let (run_id, key) = (run_id.to_string(), key.to_string());
        self.read(move |tx| {
            let run =
                metrics::run_key(tx, &run_id)?.ok_or_else(|| StoreError::run_not_found(&run_id))?;
            match series::series_id(tx, run, &key)? {
                Some(id) => series::points(
                    tx,
                    id,
                    from_step.unwrap_or(i64::MIN),
                    to_step.unwrap_or(i64::MAX),
                ),
                None => Ok(PointsRead::default()),
            }
        })
        .await
    }

    async fn set_retention(
        &self,
        experiment_id: &str,
        policy: Option<RetentionPolicy>,
    ) -> Result<()> {
        let id = experiment_id.to_string();
        self.write(move |tx| retention::set(tx, &id, policy)).await
    }

    async fn retention(&self, experiment_id: &str) -> Result<Option<RetentionPolicy>> {
        let id = experiment_id.to_string();
        self.read(move |tx| retention::get(tx, &id)).await
    }

    async fn series(&self, request: SeriesRequest) -> Result<SeriesView> {
        let (grid, targets) = self.read(move |tx| series::plan_view(tx, &request)).await?;
        // Runs are independent: downsample them on several connections at once.
        let (pool_size, _) = self.pool_use();
        let lanes = usize::try_from(pool_size)
            .unwrap_or(1)
            .min(targets.len())
            .max(1);
        let per_lane = targets.len().div_ceil(lanes).max(1);
        let parts = targets
            .chunks(per_lane)
            .map(|part| {
                let part = part.to_vec();
                self.read(move |tx| series::view_runs(tx, grid, &part))
            })
            .collect::<Vec<_>>();
        let runs = futures::future::try_join_all(parts)
            .await?
            .into_iter()
            .flatten()
            .collect();
        Ok(SeriesView { grid, runs })
    }

    async fn summaries(
        &self,
        run_ids: Vec<String>,
        keys: Vec<String>,
    ) -> Result<Vec<SeriesSummary>> {
        self.read(move |tx| series::summaries(tx, &run_ids, &keys))
            .await
    }

    async fn compact(&self) -> Result<CompactionStats> {
        let compactor = self.compactor()?;
        tokio::task::spawn_blocking(move || compactor.force())
            .await
            .map_err(|e| StoreError::Internal(format!("compaction task failed: {e}")))?
    }
}

#[cfg(test)]
mod tests {
    use cairn_core::model::NewRun;
    use cairn_core::series::Point;

    use crate::postgres::PgStore;
    use crate::postgres::testing::TestCluster;
    use crate::{MetaStore, MetricStore, SeriesPoints};

    async fn replicas() -> (PgStore, PgStore) {
        let url = tokio::task::spawn_blocking(|| TestCluster::shared().fresh_database())
            .await
            .expect("make a test database");
        let first = PgStore::connect_with(&url, 4).await.expect("connect");
        let second = PgStore::connect_with(&url, 4).await.expect("connect");
        (first, second)
    }

    async fn new_run(store: &PgStore, run_id: &str) {
        store
            .create_run(NewRun {
                run_id: run_id.to_string(),
                experiment_id: "0".to_string(),
                run_name: "r".to_string(),
                user_id: "alice".to_string(),
                start_time: 1,
                artifact_uri: format!("mlflow-artifacts:/0/{run_id}/artifacts"),
                tags: Vec::new(),
                created: None,
            })
            .await
            .expect("create run");
    }

    fn batch(key: &str, from: i64, count: i64) -> Vec<SeriesPoints> {
        vec![SeriesPoints {
            key: key.to_string(),
            points: (from..from + count)
                .map(|s| Point::new(s, s, s as f64))
                .collect(),
        }]
    }

    /// Appends from two replicas race with both replicas' compactors: every point is kept once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn appends_racing_compaction_on_two_replicas_lose_nothing() {
        let (a, b) = replicas().await;
        let run = "00000000000000000000000000000001";
        new_run(&a, run).await;
        let writers: Vec<_> = (0..6i64)
            .map(|w| {
                let store = if w % 2 == 0 { a.clone() } else { b.clone() };
                tokio::spawn(async move {
                    for i in 0..15i64 {
                        let from = (w * 15 + i) * 300;
                        store
                            .log_points(run, batch("m", from, 300), None)
                            .await
                            .expect("log points");
                    }
                })
            })
            .collect();
        let compactors: Vec<_> = [a.clone(), b.clone()]
            .into_iter()
            .map(|store| {
                tokio::spawn(async move {
                    for _ in 0..10 {
                        store.compact().await.expect("compact");
                    }
                })
            })
            .collect();
        for task in writers.into_iter().chain(compactors) {
            task.await.unwrap();
        }
        a.compact().await.expect("compact");
        let points = b.points(run, "m", None, None).await.unwrap().points;
        assert_eq!(points.len(), 6 * 15 * 300);
        assert!(points.windows(2).all(|w| w[0].step + 1 == w[1].step));
        let summary = a
            .summaries(vec![run.to_string()], Vec::new())
            .await
            .unwrap();
        assert_eq!(summary[0].summary.count, 6 * 15 * 300);
    }

    /// Requests racing with one idempotency key: one writes, the others replay its answer.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn one_idempotency_key_racing_writes_once() {
        let (a, b) = replicas().await;
        let run = "00000000000000000000000000000002";
        new_run(&a, run).await;
        let requests: Vec<_> = (0..8)
            .map(|i| {
                let store = if i % 2 == 0 { a.clone() } else { b.clone() };
                tokio::spawn(async move {
                    store
                        .log_points(run, batch("m", 0, 100), Some("once".to_string()))
                        .await
                        .expect("log points")
                })
            })
            .collect();
        let mut fresh = 0;
        for request in requests {
            let logged = request.await.unwrap();
            assert_eq!(logged.accepted, 100);
            fresh += usize::from(!logged.replay);
        }
        assert_eq!(fresh, 1);
        let summary = b
            .summaries(vec![run.to_string()], Vec::new())
            .await
            .unwrap();
        assert_eq!(summary[0].summary.count, 100);
    }
}
