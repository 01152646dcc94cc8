//! `search_runs` at scale, checked against the in-memory reference evaluator of `cairn-core`:
//! thousands of runs with 20 params, 10 metrics and 5 tags each, several filters and orders, every
//! page compared with what the reference says. Timings live in `bench/`, not here.

use cairn_core::filter::ast::{
    NumOp, RunClause, RunFilter, RunOrderBy, RunOrderKey, StringOp, StringPredicate,
};
use cairn_core::filter::compare_runs;
use cairn_core::model::{Metric, NewExperiment, NewRun, Param, Tag};
use cairn_store::sqlite::SqliteStore;
use cairn_store::{ArtifactLocation, MetaStore, RunSearch};

const RUNS: usize = 3_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn search_at_scale_matches_the_reference_evaluator() {
    let dir = tempfile::tempdir().unwrap();
    // CAIRN_PERF_DB=<path> keeps the seeded database for inspection (EXPLAIN QUERY PLAN etc.).
    let path = std::env::var_os("CAIRN_PERF_DB")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| dir.path().join("perf.db"));
    let _ = std::fs::remove_file(&path);
    let store = SqliteStore::open(&path).unwrap();
    let experiment_id = store
        .create_experiment(
            NewExperiment {
                name: "perf".into(),
                artifact_location: None,
                tags: vec![],
                creation_time: 0,
                access: None,
            },
            ArtifactLocation::UnderRoot("r".into()),
        )
        .await
        .unwrap();

    let mut pending = Vec::new();
    for index in 0..RUNS {
        let store = store.clone();
        let experiment_id = experiment_id.clone();
        pending.push(tokio::spawn(async move {
            let run_id = cairn_core::ids::new_run_id();
            store
                .create_run(NewRun {
                    run_id: run_id.clone(),
                    experiment_id,
                    run_name: format!("run-{index}"),
                    user_id: "u".into(),
                    start_time: index as i64,
                    artifact_uri: "a".into(),
                    tags: vec![],
                    created: None,
                })
                .await
                .unwrap();
            let params = (0..20)
                .filter(|p| (index + p) % 11 != 0)
                .map(|p| Param::new(format!("param_{p}"), format!("{}", (index + p) % 7)))
                .collect();
            let metrics = (0..10)
                .filter(|m| (index + m) % 13 != 0)
                .map(|m| {
                    Metric::new(
                        format!("metric_{m}"),
                        ((index * 31 + m) % 1000) as f64,
                        1,
                        0,
                    )
                })
                .collect();
            let tags = (0..5)
                .map(|t| {
                    Tag::new(
                        format!("tag_{t}"),
                        if (index + t) % 2 == 0 { "even" } else { "odd" },
                    )
                })
                .collect();
            store
                .log_batch(&run_id, metrics, params, tags)
                .await
                .unwrap();
        }));
        if pending.len() >= 512 {
            for task in pending.drain(..) {
                task.await.unwrap();
            }
        }
    }
    for task in pending {
        task.await.unwrap();
    }

    let everything = RunSearch {
        experiment_ids: vec![experiment_id.clone()],
        max_results: 50_000,
        ..RunSearch::default()
    };
    let all_runs = store.search_runs(everything).await.unwrap().items;
    assert_eq!(all_runs.len(), RUNS);

    let metric = |key: &str, op, value| RunClause::Metric {
        key: key.into(),
        op,
        value,
    };
    let param = |key: &str, value: &str| RunClause::Param {
        key: key.into(),
        predicate: StringPredicate::Compare(StringOp::Eq, value.into()),
    };
    let tag = |key: &str, op, value: &str| RunClause::Tag {
        key: key.into(),
        predicate: StringPredicate::Compare(op, value.into()),
    };
    let order = |key: RunOrderKey, ascending| RunOrderBy { key, ascending };
    let cases: Vec<(Vec<RunClause>, Vec<RunOrderBy>)> = vec![
        (
            vec![
                metric("metric_3", NumOp::Gt, 100.0),
                param("param_5", "3"),
                tag("tag_1", StringOp::Eq, "even"),
            ],
            vec![order(RunOrderKey::Metric("metric_7".into()), false)],
        ),
        (
            vec![
                metric("metric_1", NumOp::Le, 500.0),
                tag("tag_2", StringOp::Like, "o%"),
            ],
            vec![order(RunOrderKey::Metric("metric_0".into()), true)],
        ),
        (
            vec![param("param_0", "1")],
            vec![order(RunOrderKey::Param("param_3".into()), false)],
        ),
        (vec![metric("metric_9", NumOp::Ne, 7.0)], vec![]),
    ];
    for (clauses, order_by) in cases {
        let filter = RunFilter { clauses };
        let mut expected: Vec<_> = all_runs.iter().filter(|run| filter.matches(run)).collect();
        expected.sort_by(|a, b| compare_runs(&order_by, a, b));
        let expected: Vec<&str> = expected
            .iter()
            .map(|run| run.info.run_id.as_str())
            .collect();

        let mut got = Vec::new();
        let mut page_token = None;
        loop {
            let search = RunSearch {
                experiment_ids: vec![experiment_id.clone()],
                filter: filter.clone(),
                order_by: order_by.clone(),
                max_results: 100,
                page_token: page_token.take(),
                ..RunSearch::default()
            };
            let page = store.search_runs(search).await.unwrap();
            got.extend(page.items.into_iter().map(|run| run.info.run_id));
            match page.next_page_token {
                Some(token) => page_token = Some(token),
                None => break,
            }
        }
        assert!(!expected.is_empty(), "case {filter} selects something");
        assert_eq!(got, expected, "filter {filter}");
    }
}
