//! The behaviour every storage backend must show, written once and run against each backend.
//!
//! Each check is a plain `pub async fn name(store: &dyn Store)` that starts from a fresh store
//! (only the `Default` experiment exists) and panics on a violation. The
//! [`store_conformance_tests!`](crate::store_conformance_tests) macro expands to one
//! `#[tokio::test]` per check, given an expression that makes a fresh `(store, guard)` pair (the
//! guard keeps e.g. a temporary directory or a scratch database alive for the test):
//!
//! ```ignore
//! cairn_store::store_conformance_tests!(make_sqlite_store());          // a sync expression
//! cairn_store::store_conformance_tests!(async make_postgres_store());  // a future
//! ```
//!
//! The test crate must depend on `tokio` (with `macros` and `rt-multi-thread`).

use std::collections::BTreeSet;

use cairn_core::filter::ast::{
    DatasetField, ExperimentClause, ExperimentFilter, ExperimentOrderBy, ExperimentOrderKey,
    ExperimentTimeAttribute, LoggedModelClause, LoggedModelFilter, LoggedModelOrderBy,
    LoggedModelOrderKey, ModelStringAttribute, NumOp, RunClause, RunFilter, RunOrderAttribute,
    RunOrderBy, RunOrderKey, RunStringAttribute, RunTimeAttribute, StringOp, StringPredicate,
};
use cairn_core::ids::{new_model_id, new_run_id};
use cairn_core::model::{
    Dataset, DatasetInput, LifecycleStage, LoggedModelStatus, Metric, ModelInput, ModelOutput,
    NewExperiment, NewLoggedModel, NewRun, Param, Run, RunStatus, RunUpdate, Tag, ViewType,
};
use cairn_core::validation;

use crate::{
    ArtifactLocation, ErrorKind, ExperimentSearch, HistoryRequest, LoggedModelSearch, RunSearch,
    SampledHistoryRequest, Store,
};

/// Expands to one `#[tokio::test]` per conformance check. `$make` makes a fresh
/// `(impl Store, guard)`; prefix it with `async` when it is a future.
#[macro_export]
macro_rules! store_conformance_tests {
    (async $make:expr) => {
        $crate::store_conformance_tests!(@each (async $make));
    };
    ($make:expr) => {
        $crate::store_conformance_tests!(@each (sync $make));
    };
    (@make (async $make:expr)) => { $make.await };
    (@make (sync $make:expr)) => { $make };
    (@each $maker:tt) => {
        $crate::store_conformance_tests!(@tests $maker;
            default_experiment_exists,
            stats_count_running_runs,
            experiment_create_and_get,
            experiment_names_are_unique,
            experiment_unknown_ids_are_not_found,
            experiment_rename,
            experiment_delete_and_restore_cascade_to_runs,
            experiment_tags,
            search_experiments_filters,
            search_experiments_order_and_paging,
            run_create_and_get,
            run_create_requires_active_experiment,
            run_unknown_is_not_found,
            get_runs_in_order,
            run_update,
            run_name_tag_renames_run,
            deleted_run_rejects_writes,
            params_are_immutable,
            long_values_are_stored_as_given,
            batch_is_atomic,
            delete_run_tag,
            latest_metric_is_order_independent,
            nan_and_infinity_round_trip,
            duplicate_points_are_stored_once,
            search_runs_metric_clauses,
            search_runs_param_and_tag_clauses,
            search_runs_ilike_folds_unicode_case,
            logged_models_order_by_type_status_and_source,
            search_runs_attribute_clauses,
            search_runs_dataset_clauses,
            search_runs_view_types_and_experiments,
            search_runs_order_by_metric_with_nan_and_missing,
            search_runs_order_by_params_tags_attributes,
            search_runs_pagination,
            search_runs_bad_page_tokens,
            search_runs_windows_and_counts,
            experiment_keys_and_run_counts,
            concurrent_writers,
            concurrent_failures_are_isolated,
            search_runs_key_filters_respect_scope,
            inputs_and_outputs,
            history_paging,
            sampled_history,
            logged_model_lifecycle,
            logged_model_metrics_from_log_batch,
            search_logged_models,
            series_random_writes_read_back_exactly,
            series_views_match_the_reference,
            series_buckets_are_stable_as_a_run_grows,
            series_ingest_is_idempotent_and_checked,
            series_links_survive_compaction,
            series_retention_thins_old_points_only,
            artifacts_put_get_and_replace,
            artifacts_files_and_directories_do_not_overlap,
            artifacts_list_direct_children,
            artifacts_walk_pages_through_a_tree,
            artifacts_delete_files_and_directories,
            artifacts_blob_references,
            artifacts_leases_protect_blobs,
            artifacts_claim_and_forget,
            artifacts_claim_orphans,
            artifacts_deleted_roots,
            artifacts_uploads_in_parts,
            artifacts_concurrent_uploads_and_collection,
            registry_models_lifecycle,
            registry_versions,
            registry_stages_and_latest_versions,
            registry_aliases,
            registry_search,
            lineage_derived_and_recorded_edges,
            auth_users_tokens_and_sessions,
            audit_log_appends_searches_and_prunes,
            alerts_rules_firings_and_deliveries,
            comments_on_runs_and_experiments,
            access_teams_and_members,
            access_records_shares_and_locations,
            access_readable_search_matches_the_rules,
            access_registered_models,
        );
    };
    (@tests $maker:tt; $($name:ident),* $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                let (store, guard) = $crate::store_conformance_tests!(@make $maker);
                $crate::conformance::$name(&store).await;
                drop(store);
                drop(guard);
            }
        )*
    };
}

mod access;
mod alerts;
mod artifacts;
mod auth;
mod comments;
mod lineage;
mod registry;
mod series;
pub use access::*;
pub use alerts::*;
pub use artifacts::*;
pub use auth::*;
pub use comments::*;
pub use lineage::*;
pub use registry::*;
pub use series::*;

// ---------------------------------------------------------------------------------------------
// Helpers

const T0: i64 = 1_700_000_000_000;

fn new_experiment(name: &str, creation_time: i64) -> NewExperiment {
    NewExperiment {
        name: name.to_string(),
        artifact_location: None,
        tags: Vec::new(),
        creation_time,
        access: None,
    }
}

async fn experiment(store: &dyn Store, name: &str) -> String {
    store
        .create_experiment(
            new_experiment(name, T0),
            ArtifactLocation::UnderRoot("mlflow-artifacts:".to_string()),
        )
        .await
        .expect("create experiment")
}

fn new_run(experiment_id: &str, name: &str, start_time: i64) -> NewRun {
    let run_id = new_run_id();
    NewRun {
        artifact_uri: format!("mlflow-artifacts:/{experiment_id}/{run_id}/artifacts"),
        run_id,
        experiment_id: experiment_id.to_string(),
        run_name: name.to_string(),
        user_id: "alice".to_string(),
        start_time,
        tags: Vec::new(),
        created: None,
    }
}

async fn run_at(store: &dyn Store, experiment_id: &str, name: &str, start_time: i64) -> String {
    store
        .create_run(new_run(experiment_id, name, start_time))
        .await
        .expect("create run")
        .info
        .run_id
}

async fn run(store: &dyn Store, experiment_id: &str) -> String {
    run_at(store, experiment_id, "run", T0).await
}

fn metric(key: &str, value: f64, timestamp: i64, step: i64) -> Metric {
    Metric::new(key, value, timestamp, step)
}

async fn log_metric(store: &dyn Store, run_id: &str, point: Metric) {
    store
        .log_batch(run_id, vec![point], vec![], vec![])
        .await
        .expect("log metric");
}

async fn log_param(store: &dyn Store, run_id: &str, key: &str, value: &str) {
    store
        .log_batch(run_id, vec![], vec![Param::new(key, value)], vec![])
        .await
        .expect("log param");
}

async fn set_tag(store: &dyn Store, run_id: &str, key: &str, value: &str) {
    store
        .log_batch(run_id, vec![], vec![], vec![Tag::new(key, value)])
        .await
        .expect("set tag");
}

fn runs_query(
    experiment_ids: &[&str],
    clauses: Vec<RunClause>,
    order_by: Vec<RunOrderBy>,
) -> RunSearch {
    RunSearch {
        experiment_ids: experiment_ids.iter().map(|id| id.to_string()).collect(),
        filter: RunFilter { clauses },
        order_by,
        view: ViewType::ActiveOnly,
        max_results: 1000,
        page_token: None,
        offset: 0,
    }
}

/// Every run id of a search, following page tokens.
async fn all_run_ids(store: &dyn Store, mut search: RunSearch) -> Vec<String> {
    let mut ids = Vec::new();
    loop {
        let page = store
            .search_runs(search.clone())
            .await
            .expect("search runs");
        ids.extend(page.items.into_iter().map(|run| run.info.run_id));
        match page.next_page_token {
            Some(token) => search.page_token = Some(token),
            None => return ids,
        }
    }
}

async fn matching(store: &dyn Store, experiment_id: &str, clause: RunClause) -> BTreeSet<String> {
    all_run_ids(store, runs_query(&[experiment_id], vec![clause], vec![]))
        .await
        .into_iter()
        .collect()
}

fn set(ids: &[&String]) -> BTreeSet<String> {
    ids.iter().map(|id| (*id).clone()).collect()
}

fn order(key: RunOrderKey, ascending: bool) -> RunOrderBy {
    RunOrderBy { key, ascending }
}

fn compare(op: StringOp, value: &str) -> StringPredicate {
    StringPredicate::Compare(op, value.to_string())
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|item| item.to_string()).collect()
}

/// A small deterministic generator (xorshift64*), so shuffles are reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }

    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }
}

fn same_value(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a == b
}

fn latest_of<'a>(run: &'a Run, key: &str) -> Option<&'a Metric> {
    run.metrics.iter().find(|m| m.key == key)
}

fn assert_kind<T: std::fmt::Debug>(
    result: crate::Result<T>,
    kind: ErrorKind,
    context: &str,
) -> String {
    match result {
        Ok(value) => panic!("{context}: expected {kind:?}, got Ok({value:?})"),
        Err(error) => {
            assert_eq!(error.kind(), kind, "{context}: {error}");
            error.to_string()
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Experiments

pub async fn default_experiment_exists(store: &dyn Store) {
    let default = store.get_experiment("0").await.unwrap();
    assert_eq!(default.name, "Default");
    assert_eq!(default.artifact_location, "mlflow-artifacts:/0");
    assert_eq!(default.lifecycle_stage, LifecycleStage::Active);
    assert_eq!(
        store
            .get_experiment_by_name("Default")
            .await
            .unwrap()
            .unwrap()
            .experiment_id,
        "0"
    );
}

pub async fn experiment_create_and_get(store: &dyn Store) {
    let mut new = new_experiment("first", T0);
    new.tags = vec![Tag::new("team", "vision"), Tag::new("note", "x")];
    let id = store
        .create_experiment(
            new,
            ArtifactLocation::UnderRoot("s3://bucket/root/".to_string()),
        )
        .await
        .unwrap();
    assert_ne!(id, "0");
    let got = store.get_experiment(&id).await.unwrap();
    assert_eq!(got.name, "first");
    assert_eq!(got.artifact_location, format!("s3://bucket/root/{id}"));
    assert_eq!((got.creation_time, got.last_update_time), (T0, T0));
    let mut tags = got.tags.clone();
    tags.sort_by(|a, b| a.key.cmp(&b.key));
    assert_eq!(
        tags,
        vec![Tag::new("note", "x"), Tag::new("team", "vision")]
    );

    let second = store
        .create_experiment(
            new_experiment("second", T0),
            ArtifactLocation::Explicit("/data/exp".to_string()),
        )
        .await
        .unwrap();
    assert!(
        second.parse::<i64>().unwrap() > id.parse::<i64>().unwrap(),
        "ids increase"
    );
    assert_eq!(
        store
            .get_experiment(&second)
            .await
            .unwrap()
            .artifact_location,
        "/data/exp"
    );
    assert_eq!(
        store
            .get_experiment_by_name("second")
            .await
            .unwrap()
            .unwrap()
            .experiment_id,
        second
    );
    assert!(
        store
            .get_experiment_by_name("Second")
            .await
            .unwrap()
            .is_none(),
        "names are case-sensitive"
    );
    assert!(
        store
            .get_experiment_by_name("missing")
            .await
            .unwrap()
            .is_none()
    );
}

pub async fn experiment_names_are_unique(store: &dyn Store) {
    let id = experiment(store, "taken").await;
    let message = assert_kind(
        store
            .create_experiment(
                new_experiment("taken", T0),
                ArtifactLocation::UnderRoot("r".into()),
            )
            .await,
        ErrorKind::AlreadyExists,
        "duplicate name",
    );
    assert!(
        message.contains("Experiment(name=taken) already exists"),
        "{message}"
    );
    store
        .set_experiment_lifecycle(&id, LifecycleStage::Deleted, T0 + 1)
        .await
        .unwrap();
    assert_kind(
        store
            .create_experiment(
                new_experiment("taken", T0),
                ArtifactLocation::UnderRoot("r".into()),
            )
            .await,
        ErrorKind::AlreadyExists,
        "name of a deleted experiment",
    );
    let found = store
        .get_experiment_by_name("taken")
        .await
        .unwrap()
        .expect("deleted ones are found by name");
    assert_eq!(found.lifecycle_stage, LifecycleStage::Deleted);
    let other = experiment(store, "other").await;
    assert_kind(
        store.rename_experiment(&other, "taken", T0 + 2).await,
        ErrorKind::AlreadyExists,
        "rename onto a taken name",
    );
}

pub async fn experiment_unknown_ids_are_not_found(store: &dyn Store) {
    let message = assert_kind(
        store.get_experiment("4242").await,
        ErrorKind::NotFound,
        "unknown id",
    );
    assert_eq!(message, "No Experiment with id=4242 exists");
    assert_kind(
        store.get_experiment("not-a-number").await,
        ErrorKind::NotFound,
        "malformed id",
    );
    assert_kind(
        store.rename_experiment("4242", "x", T0).await,
        ErrorKind::NotFound,
        "rename unknown",
    );
    assert_kind(
        store
            .set_experiment_lifecycle("4242", LifecycleStage::Deleted, T0)
            .await,
        ErrorKind::NotFound,
        "delete unknown",
    );
    assert_kind(
        store.set_experiment_tag("4242", Tag::new("a", "b")).await,
        ErrorKind::NotFound,
        "tag unknown",
    );
}

pub async fn experiment_rename(store: &dyn Store) {
    let id = experiment(store, "before").await;
    store
        .rename_experiment(&id, "after", T0 + 500)
        .await
        .unwrap();
    let got = store.get_experiment(&id).await.unwrap();
    assert_eq!(got.name, "after");
    assert_eq!(got.last_update_time, T0 + 500);
    assert_eq!(got.creation_time, T0);
    assert!(
        store
            .get_experiment_by_name("before")
            .await
            .unwrap()
            .is_none()
    );
}

pub async fn experiment_delete_and_restore_cascade_to_runs(store: &dyn Store) {
    let id = experiment(store, "cascade").await;
    let kept = run(store, &id).await;
    let deleted_alone = run(store, &id).await;
    store
        .set_run_lifecycle(&deleted_alone, LifecycleStage::Deleted, T0 + 10)
        .await
        .unwrap();

    store
        .set_experiment_lifecycle(&id, LifecycleStage::Deleted, T0 + 100)
        .await
        .unwrap();
    let got = store.get_experiment(&id).await.unwrap();
    assert_eq!(got.lifecycle_stage, LifecycleStage::Deleted);
    assert_eq!(got.last_update_time, T0 + 100);
    assert_eq!(
        store.get_run(&kept).await.unwrap().info.lifecycle_stage,
        LifecycleStage::Deleted
    );
    let message = assert_kind(
        store.create_run(new_run(&id, "late", T0)).await,
        ErrorKind::InvalidArgument,
        "run in deleted exp",
    );
    assert_eq!(
        message,
        format!("The experiment {id} must be in the 'active' state. Current state is deleted.")
    );
    assert_kind(
        store
            .log_batch(&kept, vec![metric("m", 1.0, T0, 0)], vec![], vec![])
            .await,
        ErrorKind::InvalidArgument,
        "write to a cascaded-deleted run",
    );

    store
        .set_experiment_lifecycle(&id, LifecycleStage::Active, T0 + 200)
        .await
        .unwrap();
    let got = store.get_experiment(&id).await.unwrap();
    assert_eq!(got.lifecycle_stage, LifecycleStage::Active);
    assert_eq!(got.last_update_time, T0 + 200);
    assert_eq!(
        store.get_run(&kept).await.unwrap().info.lifecycle_stage,
        LifecycleStage::Active
    );
    assert_eq!(
        store
            .get_run(&deleted_alone)
            .await
            .unwrap()
            .info
            .lifecycle_stage,
        LifecycleStage::Deleted,
        "a run deleted on its own before the experiment stays deleted"
    );
}

pub async fn experiment_tags(store: &dyn Store) {
    let id = experiment(store, "tagged").await;
    store
        .set_experiment_tag(&id, Tag::new("k", "v1"))
        .await
        .unwrap();
    store
        .set_experiment_tag(&id, Tag::new("k", "v2"))
        .await
        .unwrap();
    store
        .set_experiment_tag(&id, Tag::new("other", "o"))
        .await
        .unwrap();
    let tags = store.get_experiment(&id).await.unwrap().tags;
    assert!(
        tags.contains(&Tag::new("k", "v2")) && tags.len() == 2,
        "{tags:?}"
    );
    store.delete_experiment_tag(&id, "k").await.unwrap();
    assert_eq!(
        store.get_experiment(&id).await.unwrap().tags,
        vec![Tag::new("other", "o")]
    );
    assert_kind(
        store.delete_experiment_tag(&id, "k").await,
        ErrorKind::NotFound,
        "missing experiment tag",
    );
}

fn experiment_query(clauses: Vec<ExperimentClause>, view: ViewType) -> ExperimentSearch {
    ExperimentSearch {
        filter: ExperimentFilter { clauses },
        order_by: Vec::new(),
        view,
        max_results: 1000,
        page_token: None,
        readable_by: None,
    }
}

async fn experiment_names(store: &dyn Store, search: ExperimentSearch) -> Vec<String> {
    store
        .search_experiments(search)
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|e| e.name)
        .collect()
}

pub async fn search_experiments_filters(store: &dyn Store) {
    for (index, name) in ["Alpha", "alpine", "beta", "Gamma"].iter().enumerate() {
        let id = store
            .create_experiment(
                new_experiment(name, T0 + index as i64 * 10),
                ArtifactLocation::UnderRoot("r".into()),
            )
            .await
            .unwrap();
        if index % 2 == 0 {
            store
                .set_experiment_tag(
                    &id,
                    Tag::new("team", if index == 0 { "vision" } else { "nlp" }),
                )
                .await
                .unwrap();
        }
    }
    let beta = store.get_experiment_by_name("beta").await.unwrap().unwrap();
    store
        .set_experiment_lifecycle(&beta.experiment_id, LifecycleStage::Deleted, T0 + 1000)
        .await
        .unwrap();

    let names = |clauses, view| experiment_names(store, experiment_query(clauses, view));
    let by_name = |op, value: &str| vec![ExperimentClause::Name(compare(op, value))];
    assert_eq!(
        names(by_name(StringOp::Like, "Al%"), ViewType::All).await,
        vec!["Alpha"]
    );
    let mut ilike = names(by_name(StringOp::ILike, "al%"), ViewType::All).await;
    ilike.sort();
    assert_eq!(ilike, vec!["Alpha", "alpine"]);
    assert_eq!(
        names(by_name(StringOp::Eq, "Gamma"), ViewType::All).await,
        vec!["Gamma"]
    );
    assert!(
        !names(by_name(StringOp::Ne, "Gamma"), ViewType::All)
            .await
            .contains(&"Gamma".to_string())
    );
    assert_eq!(
        names(by_name(StringOp::Eq, "beta"), ViewType::ActiveOnly).await,
        Vec::<String>::new()
    );
    assert_eq!(names(vec![], ViewType::DeletedOnly).await, vec!["beta"]);
    let active = names(vec![], ViewType::ActiveOnly).await;
    assert_eq!(active.len(), 4, "Default + three active: {active:?}");

    let tag = |predicate| {
        vec![ExperimentClause::Tag {
            key: "team".to_string(),
            predicate,
        }]
    };
    assert_eq!(
        names(tag(compare(StringOp::Eq, "vision")), ViewType::All).await,
        vec!["Alpha"]
    );
    let mut tagged = names(tag(StringPredicate::IsNotNull), ViewType::All).await;
    tagged.sort();
    assert_eq!(tagged, vec!["Alpha", "beta"]);
    assert_eq!(
        names(tag(compare(StringOp::Ne, "vision")), ViewType::All).await,
        vec!["beta"]
    );

    let time = vec![ExperimentClause::TimeAttribute {
        attribute: ExperimentTimeAttribute::CreationTime,
        op: NumOp::Ge,
        value: T0 + 20,
    }];
    let mut recent = names(time, ViewType::All).await;
    recent.sort();
    let default_is_recent = store.get_experiment("0").await.unwrap().creation_time >= T0 + 20;
    let mut expected = vec!["Gamma".to_string(), "beta".to_string()];
    if default_is_recent {
        expected.insert(0, "Default".to_string());
    }
    assert_eq!(recent, expected);
    let by_id = vec![ExperimentClause::ExperimentId(StringPredicate::In(vec![
        beta.experiment_id.clone(),
        "0".into(),
    ]))];
    let mut ids = names(by_id, ViewType::All).await;
    ids.sort();
    assert_eq!(ids, vec!["Default", "beta"]);
}

pub async fn search_experiments_order_and_paging(store: &dyn Store) {
    // Same creation time for pairs, so the experiment_id tiebreak is visible.
    let mut created = Vec::new();
    for index in 0..9 {
        let name = format!("exp-{index}");
        let id = store
            .create_experiment(
                new_experiment(&name, T0 + (index / 2) as i64),
                ArtifactLocation::UnderRoot("r".into()),
            )
            .await
            .unwrap();
        created.push((T0 + (index / 2) as i64, id.parse::<i64>().unwrap(), name));
    }
    let name_filter = vec![ExperimentClause::Name(compare(StringOp::Like, "exp-%"))];
    // Default order: creation_time DESC, experiment_id ASC.
    let mut expected = created.clone();
    expected.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let expected: Vec<String> = expected.into_iter().map(|e| e.2).collect();

    let mut search = experiment_query(name_filter.clone(), ViewType::ActiveOnly);
    search.max_results = 4;
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let page = store.search_experiments(search.clone()).await.unwrap();
        pages += 1;
        assert!(page.items.len() <= 4);
        seen.extend(page.items.into_iter().map(|e| e.name));
        match page.next_page_token {
            Some(token) => search.page_token = Some(token),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, expected);

    // An exact multiple of the page size ends without a token.
    let mut exact = experiment_query(name_filter.clone(), ViewType::ActiveOnly);
    exact.max_results = 9;
    assert!(
        store
            .search_experiments(exact)
            .await
            .unwrap()
            .next_page_token
            .is_none()
    );

    let mut by_name = experiment_query(name_filter.clone(), ViewType::ActiveOnly);
    by_name.order_by = vec![ExperimentOrderBy {
        key: ExperimentOrderKey::Name,
        ascending: false,
    }];
    let names = experiment_names(store, by_name).await;
    let mut sorted = names.clone();
    sorted.sort();
    sorted.reverse();
    assert_eq!(names, sorted);

    let mut bad = experiment_query(name_filter, ViewType::ActiveOnly);
    bad.page_token = Some("garbage!".to_string());
    assert_kind(
        store.search_experiments(bad).await,
        ErrorKind::InvalidArgument,
        "bad experiments token",
    );
}

// ---------------------------------------------------------------------------------------------
// Runs: CRUD and rules

pub async fn run_create_and_get(store: &dyn Store) {
    let exp = experiment(store, "runs").await;
    let mut new = new_run(&exp, "named-run", T0);
    new.tags = vec![Tag::new("mlflow.user", "alice"), Tag::new("a", "b")];
    let created = store.create_run(new.clone()).await.unwrap();
    assert_eq!(created.info.run_id, new.run_id);
    assert_eq!(created.info.experiment_id, exp);
    assert_eq!(created.info.run_name, "named-run");
    assert_eq!(created.info.status, RunStatus::Running);
    assert_eq!(created.info.end_time, None);
    assert_eq!(created.info.lifecycle_stage, LifecycleStage::Active);
    assert_eq!(created.info.artifact_uri, new.artifact_uri);
    let got = store.get_run(&new.run_id).await.unwrap();
    assert_eq!(got.info, created.info);
    assert!(
        got.tags.contains(&Tag::new("mlflow.runName", "named-run")),
        "{:?}",
        got.tags
    );
    assert!(got.tags.contains(&Tag::new("a", "b")));
    assert!(got.metrics.is_empty() && got.params.is_empty());
    assert_kind(
        store.create_run(new).await,
        ErrorKind::AlreadyExists,
        "duplicate run id",
    );
}

pub async fn run_create_requires_active_experiment(store: &dyn Store) {
    let message = assert_kind(
        store.create_run(new_run("999", "r", T0)).await,
        ErrorKind::NotFound,
        "unknown experiment",
    );
    assert_eq!(message, "No Experiment with id=999 exists");
}

pub async fn run_unknown_is_not_found(store: &dyn Store) {
    let missing = new_run_id();
    let expected = format!("Run with id={missing} not found");
    assert_eq!(
        assert_kind(store.get_run(&missing).await, ErrorKind::NotFound, "get"),
        expected
    );
    assert_eq!(
        assert_kind(
            store
                .log_batch(&missing, vec![], vec![Param::new("p", "1")], vec![])
                .await,
            ErrorKind::NotFound,
            "log"
        ),
        expected
    );
    assert_kind(
        store.update_run(&missing, RunUpdate::default()).await,
        ErrorKind::NotFound,
        "update",
    );
    assert_kind(
        store
            .set_run_lifecycle(&missing, LifecycleStage::Deleted, T0)
            .await,
        ErrorKind::NotFound,
        "delete",
    );
    assert_kind(
        store.delete_run_tag(&missing, "k").await,
        ErrorKind::NotFound,
        "delete tag",
    );
}

pub async fn get_runs_in_order(store: &dyn Store) {
    let exp = experiment(store, "get-runs").await;
    let a = run(store, &exp).await;
    let b = run(store, &exp).await;
    log_param(store, &b, "p", "1").await;
    set_tag(store, &a, "t", "x").await;
    let asked = vec![b.clone(), a.clone(), b.clone()];
    let got = store.get_runs(&asked).await.unwrap();
    let ids: Vec<&str> = got.iter().map(|r| r.info.run_id.as_str()).collect();
    assert_eq!(ids, [b.as_str(), a.as_str(), b.as_str()]);
    assert_eq!(got[0], store.get_run(&b).await.unwrap());
    assert_eq!(got[1], store.get_run(&a).await.unwrap());
    assert!(store.get_runs(&[]).await.unwrap().is_empty());
    let missing = new_run_id();
    let message = assert_kind(
        store.get_runs(&[a.clone(), missing.clone()]).await,
        ErrorKind::NotFound,
        "get_runs with an unknown id",
    );
    assert_eq!(message, format!("Run with id={missing} not found"));
}

pub async fn run_update(store: &dyn Store) {
    let exp = experiment(store, "update").await;
    let id = run(store, &exp).await;
    let info = store
        .update_run(
            &id,
            RunUpdate {
                status: Some(RunStatus::Finished),
                end_time: Some(T0 + 99),
                run_name: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (info.status, info.end_time, info.run_name.as_str()),
        (RunStatus::Finished, Some(T0 + 99), "run")
    );
    let info = store
        .update_run(
            &id,
            RunUpdate {
                run_name: Some("renamed".to_string()),
                ..RunUpdate::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(info.run_name, "renamed");
    assert_eq!(info.status, RunStatus::Finished, "unset fields stay");
    let got = store.get_run(&id).await.unwrap();
    assert!(
        got.tags.contains(&Tag::new("mlflow.runName", "renamed")),
        "{:?}",
        got.tags
    );
}

pub async fn run_name_tag_renames_run(store: &dyn Store) {
    let exp = experiment(store, "name-tag").await;
    let id = run(store, &exp).await;
    set_tag(store, &id, "mlflow.runName", "via-tag").await;
    assert_eq!(store.get_run(&id).await.unwrap().info.run_name, "via-tag");
    let found = matching(
        store,
        &exp,
        RunClause::StringAttribute {
            attribute: RunStringAttribute::RunName,
            predicate: compare(StringOp::Eq, "via-tag"),
        },
    )
    .await;
    assert_eq!(found, set(&[&id]));
}

pub async fn deleted_run_rejects_writes(store: &dyn Store) {
    let exp = experiment(store, "deleted-run").await;
    let id = run(store, &exp).await;
    set_tag(store, &id, "keep", "1").await;
    store
        .set_run_lifecycle(&id, LifecycleStage::Deleted, T0 + 5)
        .await
        .unwrap();
    let got = store.get_run(&id).await.unwrap();
    assert_eq!(got.info.lifecycle_stage, LifecycleStage::Deleted);
    let expected = validation::inactive_run_message(&id);
    let checks: Vec<(&str, crate::Result<()>)> = vec![
        (
            "log_batch",
            store
                .log_batch(&id, vec![metric("m", 1.0, T0, 0)], vec![], vec![])
                .await,
        ),
        (
            "set tag",
            store
                .log_batch(&id, vec![], vec![], vec![Tag::new("t", "v")])
                .await,
        ),
        ("delete tag", store.delete_run_tag(&id, "keep").await),
        (
            "log_inputs",
            store
                .log_inputs(
                    &id,
                    vec![],
                    vec![ModelInput {
                        model_id: new_model_id(),
                    }],
                )
                .await,
        ),
        (
            "log_outputs",
            store
                .log_outputs(
                    &id,
                    vec![ModelOutput {
                        model_id: new_model_id(),
                        step: 1,
                    }],
                )
                .await,
        ),
        (
            "update_run",
            store
                .update_run(
                    &id,
                    RunUpdate {
                        status: Some(RunStatus::Failed),
                        ..RunUpdate::default()
                    },
                )
                .await
                .map(|_| ()),
        ),
    ];
    for (what, result) in checks {
        assert_eq!(
            assert_kind(result, ErrorKind::InvalidArgument, what),
            expected,
            "{what}"
        );
    }
    store
        .set_run_lifecycle(&id, LifecycleStage::Active, T0 + 6)
        .await
        .unwrap();
    log_metric(store, &id, metric("m", 1.0, T0, 0)).await;
    assert_eq!(store.get_run(&id).await.unwrap().metrics.len(), 1);
}

pub async fn params_are_immutable(store: &dyn Store) {
    let exp = experiment(store, "params").await;
    let id = run(store, &exp).await;
    log_param(store, &id, "lr", "0.01").await;
    log_param(store, &id, "lr", "0.01").await;
    let message = assert_kind(
        store
            .log_batch(&id, vec![], vec![Param::new("lr", "0.02")], vec![])
            .await,
        ErrorKind::InvalidArgument,
        "changed param",
    );
    assert_eq!(
        message,
        validation::changed_param_message(&id, "lr", "0.01", "0.02")
    );
    assert_eq!(
        store.get_run(&id).await.unwrap().params,
        vec![Param::new("lr", "0.01")]
    );
}

pub async fn long_values_are_stored_as_given(store: &dyn Store) {
    // Truncation is the caller's job: the store keeps exactly what it is given.
    let exp = experiment(store, "long").await;
    let id = run(store, &exp).await;
    let long = "é".repeat(validation::MAX_PARAM_VAL_LENGTH + 500);
    store
        .log_batch(
            &id,
            vec![],
            vec![Param::new("p", long.clone())],
            vec![Tag::new("t", long.clone())],
        )
        .await
        .unwrap();
    let got = store.get_run(&id).await.unwrap();
    assert_eq!(got.params[0].value, long);
    assert!(got.tags.contains(&Tag::new("t", long)));
}

pub async fn batch_is_atomic(store: &dyn Store) {
    let exp = experiment(store, "atomic").await;
    let id = run(store, &exp).await;
    log_param(store, &id, "fixed", "a").await;
    let result = store
        .log_batch(
            &id,
            vec![metric("loss", 1.0, T0, 0), metric("loss", 0.5, T0, 1)],
            vec![Param::new("new", "1"), Param::new("fixed", "b")],
            vec![Tag::new("t", "v")],
        )
        .await;
    assert_kind(
        result,
        ErrorKind::InvalidArgument,
        "batch with a changed param",
    );
    let got = store.get_run(&id).await.unwrap();
    assert_eq!(got.params, vec![Param::new("fixed", "a")]);
    assert!(got.metrics.is_empty(), "{:?}", got.metrics);
    assert!(!got.tags.iter().any(|t| t.key == "t"));
    let history = store
        .history(HistoryRequest {
            run_id: id.clone(),
            key: "loss".into(),
            max_results: 0,
            page_token: None,
        })
        .await
        .unwrap();
    assert!(history.items.is_empty());
}

pub async fn delete_run_tag(store: &dyn Store) {
    let exp = experiment(store, "tags").await;
    let id = run(store, &exp).await;
    set_tag(store, &id, "k", "v").await;
    store.delete_run_tag(&id, "k").await.unwrap();
    assert!(
        !store
            .get_run(&id)
            .await
            .unwrap()
            .tags
            .iter()
            .any(|t| t.key == "k")
    );
    let message = assert_kind(
        store.delete_run_tag(&id, "k").await,
        ErrorKind::NotFound,
        "missing tag",
    );
    assert_eq!(message, format!("No tag with name: k in run with id {id}"));
}

// ---------------------------------------------------------------------------------------------
// Metrics

pub async fn latest_metric_is_order_independent(store: &dyn Store) {
    let exp = experiment(store, "latest").await;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for round in 0..6 {
        let id = run(store, &exp).await;
        let mut points = Vec::new();
        for _ in 0..60 {
            // Few distinct steps/timestamps so ties on step and timestamp are common.
            let value = match rng.below(10) {
                0 => f64::NAN,
                1 => f64::INFINITY,
                2 => f64::NEG_INFINITY,
                _ => rng.below(7) as f64 - 3.0,
            };
            points.push(metric(
                "m",
                value,
                T0 + rng.below(3) as i64,
                rng.below(4) as i64,
            ));
        }
        rng.shuffle(&mut points);
        // Arrive in several batches of shuffled sizes.
        let mut rest = points.as_slice();
        while !rest.is_empty() {
            let take = (1 + rng.below(12) as usize).min(rest.len());
            store
                .log_batch(&id, rest[..take].to_vec(), vec![], vec![])
                .await
                .unwrap();
            rest = &rest[take..];
        }
        let expected = points.iter().max_by(|a, b| a.recency_cmp(b)).unwrap();
        let got = store.get_run(&id).await.unwrap();
        let latest = latest_of(&got, "m").expect("latest metric");
        assert_eq!(
            (latest.step, latest.timestamp),
            (expected.step, expected.timestamp),
            "round {round}"
        );
        assert!(
            same_value(latest.value, expected.value),
            "round {round}: {} vs {}",
            latest.value,
            expected.value
        );
    }
}

pub async fn nan_and_infinity_round_trip(store: &dyn Store) {
    let exp = experiment(store, "special").await;
    let id = run(store, &exp).await;
    let values = [
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        -0.5,
        1e308,
        f64::MIN_POSITIVE,
    ];
    let points: Vec<Metric> = values
        .iter()
        .enumerate()
        .map(|(i, v)| metric("x", *v, T0, i as i64))
        .collect();
    store.log_batch(&id, points, vec![], vec![]).await.unwrap();
    let history = store
        .history(HistoryRequest {
            run_id: id.clone(),
            key: "x".into(),
            max_results: 0,
            page_token: None,
        })
        .await
        .unwrap();
    assert_eq!(history.items.len(), values.len());
    for (point, expected) in history.items.iter().zip(values) {
        assert!(
            same_value(point.value, expected),
            "{} vs {expected}",
            point.value
        );
    }
    for (key, value) in [
        ("nan", f64::NAN),
        ("inf", f64::INFINITY),
        ("ninf", f64::NEG_INFINITY),
    ] {
        log_metric(store, &id, metric(key, value, T0, 0)).await;
    }
    let got = store.get_run(&id).await.unwrap();
    assert!(latest_of(&got, "nan").unwrap().value.is_nan());
    assert_eq!(latest_of(&got, "inf").unwrap().value, f64::INFINITY);
    assert_eq!(latest_of(&got, "ninf").unwrap().value, f64::NEG_INFINITY);
    assert!(latest_of(&got, "x").unwrap().value == f64::MIN_POSITIVE);
}

pub async fn duplicate_points_are_stored_once(store: &dyn Store) {
    let exp = experiment(store, "dupes").await;
    let id = run(store, &exp).await;
    let batch = vec![
        metric("m", 1.0, T0, 0),
        metric("m", f64::NAN, T0, 1),
        metric("m", 2.0, T0, 2),
    ];
    store
        .log_batch(&id, batch.clone(), vec![], vec![])
        .await
        .unwrap();
    store.log_batch(&id, batch, vec![], vec![]).await.unwrap(); // a client retry
    log_metric(store, &id, metric("m", 3.0, T0, 2)).await; // a different value at the same step is kept
    let history = store
        .history(HistoryRequest {
            run_id: id.clone(),
            key: "m".into(),
            max_results: 0,
            page_token: None,
        })
        .await
        .unwrap();
    let seen: Vec<(i64, String)> = history
        .items
        .iter()
        .map(|m| (m.step, format!("{}", m.value)))
        .collect();
    assert_eq!(
        seen,
        vec![
            (0, "1".into()),
            (1, "NaN".into()),
            (2, "2".into()),
            (2, "3".into())
        ]
    );
}

pub async fn history_paging(store: &dyn Store) {
    let exp = experiment(store, "history").await;
    let id = run(store, &exp).await;
    let mut points: Vec<Metric> = Vec::new();
    for step in 0..25 {
        points.push(metric("loss", 1.0 / (step as f64 + 1.0), T0 + step, step));
        if step % 5 == 0 {
            points.push(metric("loss", -1.0, T0 + step, step)); // same step+timestamp, other value
            points.push(metric("loss", 5.0, T0 + step - 1, step)); // same step, earlier timestamp
        }
    }
    points.push(metric("other", 0.0, T0, 0));
    let mut shuffled = points.clone();
    Rng(7).shuffle(&mut shuffled);
    store
        .log_batch(&id, shuffled, vec![], vec![])
        .await
        .unwrap();

    let mut expected: Vec<&Metric> = points.iter().filter(|m| m.key == "loss").collect();
    expected.sort_by(|a, b| a.recency_cmp(b));
    let mut request = HistoryRequest {
        run_id: id.clone(),
        key: "loss".into(),
        max_results: 7,
        page_token: None,
    };
    let mut seen: Vec<Metric> = Vec::new();
    loop {
        let page = store.history(request.clone()).await.unwrap();
        assert!(page.items.len() <= 7);
        seen.extend(page.items);
        match page.next_page_token {
            Some(token) => request.page_token = Some(token),
            None => break,
        }
    }
    let got: Vec<(i64, i64, f64)> = seen
        .iter()
        .map(|m| (m.step, m.timestamp, m.value))
        .collect();
    let want: Vec<(i64, i64, f64)> = expected
        .iter()
        .map(|m| (m.step, m.timestamp, m.value))
        .collect();
    assert_eq!(got, want);

    let first = store
        .history(HistoryRequest {
            run_id: id.clone(),
            key: "loss".into(),
            max_results: 7,
            page_token: None,
        })
        .await
        .unwrap();
    let token = first.next_page_token.unwrap();
    assert_kind(
        store
            .history(HistoryRequest {
                run_id: id.clone(),
                key: "other".into(),
                max_results: 7,
                page_token: Some(token),
            })
            .await,
        ErrorKind::InvalidArgument,
        "token of another series",
    );
    assert_kind(
        store
            .history(HistoryRequest {
                run_id: id.clone(),
                key: "loss".into(),
                max_results: 7,
                page_token: Some("%%%".into()),
            })
            .await,
        ErrorKind::InvalidArgument,
        "malformed history token",
    );
    let everything = store
        .history(HistoryRequest {
            run_id: id.clone(),
            key: "loss".into(),
            max_results: 1000,
            page_token: None,
        })
        .await
        .unwrap();
    assert_eq!(everything.items.len(), want.len());
    assert!(everything.next_page_token.is_none());
}

pub async fn sampled_history(store: &dyn Store) {
    let exp = experiment(store, "sampled").await;
    let dense = run(store, &exp).await;
    let sparse = run(store, &exp).await;
    let mut points = Vec::new();
    for step in 0..100 {
        points.push(metric("m", step as f64, T0 + step, step));
    }
    points.push(metric("m", -1.0, T0 + 500, 50)); // two points at step 50
    store
        .log_batch(&dense, points, vec![], vec![])
        .await
        .unwrap();
    store
        .log_batch(
            &sparse,
            vec![metric("m", 1.0, T0, 3), metric("m", 2.0, T0, 7)],
            vec![],
            vec![],
        )
        .await
        .unwrap();

    let request = SampledHistoryRequest {
        run_ids: vec![dense.clone(), sparse.clone(), new_run_id()],
        key: "m".into(),
        start_step: Some(10),
        end_step: Some(90),
        max_results: 5,
    };
    let series = store.sampled_history(request).await.unwrap();
    assert_eq!(series.len(), 3);
    assert_eq!(series[0].run_id, dense);
    let steps: BTreeSet<i64> = series[0].points.iter().map(|m| m.step).collect();
    assert_eq!(steps.len(), 5, "{steps:?}");
    assert!(
        steps.contains(&10) && steps.contains(&90),
        "first and last are always kept: {steps:?}"
    );
    assert!(steps.contains(&50), "evenly spaced: {steps:?}");
    assert_eq!(
        series[0].points.iter().filter(|m| m.step == 50).count(),
        2,
        "every point at a chosen step"
    );
    assert!(
        series[1].points.is_empty(),
        "no steps of the sparse run fall in [10, 90]"
    );
    assert!(series[2].points.is_empty());

    let all = store
        .sampled_history(SampledHistoryRequest {
            run_ids: vec![sparse.clone()],
            key: "m".into(),
            start_step: None,
            end_step: None,
            max_results: 10,
        })
        .await
        .unwrap();
    assert_eq!(
        all[0].points.iter().map(|m| m.step).collect::<Vec<_>>(),
        vec![3, 7]
    );
}

// ---------------------------------------------------------------------------------------------
// Search

/// Five runs with a spread of metrics, params, tags and attributes.
struct Fixture {
    exp: String,
    runs: Vec<String>,
}

async fn search_fixture(store: &dyn Store) -> Fixture {
    let exp = experiment(store, "search").await;
    let mut runs = Vec::new();
    for index in 0..5i64 {
        let id = run_at(store, &exp, &format!("run-{index}"), T0 + index * 1000).await;
        runs.push(id);
    }
    // metric "acc": 0.1, 0.5, NaN, +inf, missing.
    for (index, value) in [0.1, 0.5, f64::NAN, f64::INFINITY].iter().enumerate() {
        // an older, larger point first: the latest value is what counts.
        store
            .log_batch(
                &runs[index],
                vec![metric("acc", 100.0, T0, 0), metric("acc", *value, T0, 1)],
                vec![],
                vec![],
            )
            .await
            .unwrap();
    }
    // params "model": CNN, cnn, rnn*x, (missing), mlp
    for (index, value) in [(0, "CNN"), (1, "cnn"), (2, "rnn*x"), (4, "mlp")] {
        log_param(store, &runs[index], "model", value).await;
    }
    // tags "env": prod, dev, prod, (missing), (missing)
    for (index, value) in [(0, "prod"), (1, "dev"), (2, "prod")] {
        set_tag(store, &runs[index], "env", value).await;
    }
    store
        .update_run(
            &runs[3],
            RunUpdate {
                status: Some(RunStatus::Finished),
                end_time: Some(T0 + 10_000),
                run_name: None,
            },
        )
        .await
        .unwrap();
    Fixture { exp, runs }
}

pub async fn search_runs_metric_clauses(store: &dyn Store) {
    let Fixture { exp, runs } = search_fixture(store).await;
    let m = |op, value| RunClause::Metric {
        key: "acc".into(),
        op,
        value,
    };
    assert_eq!(
        matching(store, &exp, m(NumOp::Gt, 0.2)).await,
        set(&[&runs[1], &runs[3]])
    );
    assert_eq!(
        matching(store, &exp, m(NumOp::Ge, 0.5)).await,
        set(&[&runs[1], &runs[3]])
    );
    assert_eq!(
        matching(store, &exp, m(NumOp::Lt, 0.5)).await,
        set(&[&runs[0]])
    );
    assert_eq!(
        matching(store, &exp, m(NumOp::Le, 0.5)).await,
        set(&[&runs[0], &runs[1]])
    );
    assert_eq!(
        matching(store, &exp, m(NumOp::Eq, 0.5)).await,
        set(&[&runs[1]])
    );
    // `!=`: only runs that have the metric; a NaN latest value matches no comparison.
    assert_eq!(
        matching(store, &exp, m(NumOp::Ne, 0.5)).await,
        set(&[&runs[0], &runs[3]])
    );
    assert_eq!(
        matching(store, &exp, m(NumOp::Gt, 99.0)).await,
        set(&[&runs[3]]),
        "older points do not count"
    );
    assert_eq!(
        matching(store, &exp, m(NumOp::Eq, f64::INFINITY)).await,
        set(&[&runs[3]])
    );
    let missing = RunClause::Metric {
        key: "nope".into(),
        op: NumOp::Ne,
        value: 0.0,
    };
    assert!(matching(store, &exp, missing).await.is_empty());
}

pub async fn search_runs_ilike_folds_unicode_case(store: &dyn Store) {
    let exp = experiment(store, "unicode").await;
    let mut runs = Vec::new();
    for (index, value) in ["Élan", "élan", "elan", "ÉLAN-2"].iter().enumerate() {
        let id = run_at(store, &exp, &format!("u-{index}"), T0 + index as i64).await;
        store
            .log_batch(&id, vec![], vec![], vec![Tag::new("word", *value)])
            .await
            .unwrap();
        runs.push(id);
    }
    let t = |op, value: &str| RunClause::Tag {
        key: "word".into(),
        predicate: compare(op, value),
    };
    assert_eq!(
        matching(store, &exp, t(StringOp::ILike, "élan%")).await,
        set(&[&runs[0], &runs[1], &runs[3]])
    );
    assert_eq!(
        matching(store, &exp, t(StringOp::Like, "É%")).await,
        set(&[&runs[0], &runs[3]])
    );
}

pub async fn search_runs_param_and_tag_clauses(store: &dyn Store) {
    let Fixture { exp, runs } = search_fixture(store).await;
    let p = |predicate| RunClause::Param {
        key: "model".into(),
        predicate,
    };
    assert_eq!(
        matching(store, &exp, p(compare(StringOp::Eq, "cnn"))).await,
        set(&[&runs[1]])
    );
    assert_eq!(
        matching(store, &exp, p(compare(StringOp::Ne, "cnn"))).await,
        set(&[&runs[0], &runs[2], &runs[4]]),
        "!= needs the key"
    );
    assert_eq!(
        matching(store, &exp, p(compare(StringOp::Like, "c%"))).await,
        set(&[&runs[1]]),
        "LIKE is case-sensitive"
    );
    assert_eq!(
        matching(store, &exp, p(compare(StringOp::Like, "C_N"))).await,
        set(&[&runs[0]])
    );
    assert_eq!(
        matching(store, &exp, p(compare(StringOp::ILike, "c%"))).await,
        set(&[&runs[0], &runs[1]])
    );
    assert_eq!(
        matching(store, &exp, p(compare(StringOp::Like, "%*%"))).await,
        set(&[&runs[2]]),
        "* is literal"
    );
    assert_eq!(
        matching(store, &exp, p(compare(StringOp::Like, "rnn?x"))).await,
        BTreeSet::new(),
        "? is literal"
    );
    assert_eq!(
        matching(store, &exp, p(StringPredicate::IsNull)).await,
        set(&[&runs[3]])
    );
    assert_eq!(
        matching(store, &exp, p(StringPredicate::IsNotNull))
            .await
            .len(),
        4
    );
    assert_eq!(
        matching(
            store,
            &exp,
            p(StringPredicate::In(strings(&["cnn", "mlp", "zzz"])))
        )
        .await,
        set(&[&runs[1], &runs[4]])
    );
    assert_eq!(
        matching(
            store,
            &exp,
            p(StringPredicate::NotIn(strings(&["cnn", "mlp"])))
        )
        .await,
        set(&[&runs[0], &runs[2]])
    );
    let t = |predicate| RunClause::Tag {
        key: "env".into(),
        predicate,
    };
    assert_eq!(
        matching(store, &exp, t(compare(StringOp::Eq, "prod"))).await,
        set(&[&runs[0], &runs[2]])
    );
    assert_eq!(
        matching(store, &exp, t(compare(StringOp::Ne, "prod"))).await,
        set(&[&runs[1]])
    );
    assert_eq!(
        matching(store, &exp, t(StringPredicate::IsNull)).await,
        set(&[&runs[3], &runs[4]])
    );
    assert_eq!(
        matching(store, &exp, t(compare(StringOp::ILike, "PROD"))).await,
        set(&[&runs[0], &runs[2]])
    );
    assert_eq!(
        matching(store, &exp, t(compare(StringOp::Like, "PROD"))).await,
        BTreeSet::new()
    );

    // Conjunction of a metric, a param and a tag.
    let combined = runs_query(
        &[&exp],
        vec![
            RunClause::Metric {
                key: "acc".into(),
                op: NumOp::Lt,
                value: 1.0,
            },
            p(compare(StringOp::ILike, "cnn")),
            t(compare(StringOp::Eq, "prod")),
        ],
        vec![],
    );
    assert_eq!(all_run_ids(store, combined).await, vec![runs[0].clone()]);
}

pub async fn search_runs_attribute_clauses(store: &dyn Store) {
    let Fixture { exp, runs } = search_fixture(store).await;
    let a = |attribute, predicate| RunClause::StringAttribute {
        attribute,
        predicate,
    };
    assert_eq!(
        matching(
            store,
            &exp,
            a(
                RunStringAttribute::RunId,
                StringPredicate::In(vec![runs[1].clone(), runs[4].clone()])
            )
        )
        .await,
        set(&[&runs[1], &runs[4]])
    );
    assert_eq!(
        matching(
            store,
            &exp,
            a(
                RunStringAttribute::RunId,
                StringPredicate::NotIn(vec![runs[1].clone()])
            )
        )
        .await
        .len(),
        4
    );
    assert_eq!(
        matching(
            store,
            &exp,
            a(RunStringAttribute::RunName, compare(StringOp::Eq, "run-2"))
        )
        .await,
        set(&[&runs[2]])
    );
    assert_eq!(
        matching(
            store,
            &exp,
            a(
                RunStringAttribute::RunName,
                compare(StringOp::Like, "RUN-%")
            )
        )
        .await,
        BTreeSet::new()
    );
    assert_eq!(
        matching(
            store,
            &exp,
            a(
                RunStringAttribute::RunName,
                compare(StringOp::ILike, "RUN-%")
            )
        )
        .await
        .len(),
        5
    );
    assert_eq!(
        matching(
            store,
            &exp,
            a(
                RunStringAttribute::Status,
                compare(StringOp::Eq, "FINISHED")
            )
        )
        .await,
        set(&[&runs[3]])
    );
    assert_eq!(
        matching(
            store,
            &exp,
            a(
                RunStringAttribute::Status,
                compare(StringOp::Ne, "FINISHED")
            )
        )
        .await
        .len(),
        4
    );
    assert_eq!(
        matching(
            store,
            &exp,
            a(RunStringAttribute::UserId, compare(StringOp::Eq, "alice"))
        )
        .await
        .len(),
        5
    );
    assert_eq!(
        matching(
            store,
            &exp,
            a(
                RunStringAttribute::ArtifactUri,
                compare(StringOp::Like, "%/artifacts")
            )
        )
        .await
        .len(),
        5
    );
    let time = |attribute, op, value| RunClause::TimeAttribute {
        attribute,
        op,
        value,
    };
    assert_eq!(
        matching(
            store,
            &exp,
            time(RunTimeAttribute::StartTime, NumOp::Ge, T0 + 3000)
        )
        .await,
        set(&[&runs[3], &runs[4]])
    );
    assert_eq!(
        matching(
            store,
            &exp,
            time(RunTimeAttribute::StartTime, NumOp::Eq, T0)
        )
        .await,
        set(&[&runs[0]])
    );
    assert_eq!(
        matching(store, &exp, time(RunTimeAttribute::EndTime, NumOp::Gt, 0)).await,
        set(&[&runs[3]])
    );
}

pub async fn search_runs_dataset_clauses(store: &dyn Store) {
    let exp = experiment(store, "datasets").await;
    let a = run(store, &exp).await;
    let b = run(store, &exp).await;
    let _none = run(store, &exp).await;
    let input = |name: &str, digest: &str, context: &str| DatasetInput {
        tags: vec![Tag::new("mlflow.data.context", context)],
        dataset: Dataset {
            name: name.into(),
            digest: digest.into(),
            source_type: "local".into(),
            source: "{}".into(),
            schema: None,
            profile: None,
        },
    };
    store
        .log_inputs(
            &a,
            vec![input("iris", "d1", "train"), input("wine", "d2", "eval")],
            vec![],
        )
        .await
        .unwrap();
    store
        .log_inputs(&b, vec![input("Iris", "d3", "train")], vec![])
        .await
        .unwrap();
    let d = |field, predicate| RunClause::Dataset { field, predicate };
    assert_eq!(
        matching(
            store,
            &exp,
            d(DatasetField::Name, compare(StringOp::Eq, "iris"))
        )
        .await,
        set(&[&a])
    );
    assert_eq!(
        matching(
            store,
            &exp,
            d(DatasetField::Name, compare(StringOp::ILike, "IRIS"))
        )
        .await,
        set(&[&a, &b])
    );
    assert_eq!(
        matching(
            store,
            &exp,
            d(
                DatasetField::Digest,
                StringPredicate::In(strings(&["d2", "d3"]))
            )
        )
        .await,
        set(&[&a, &b])
    );
    assert_eq!(
        matching(
            store,
            &exp,
            d(DatasetField::Context, compare(StringOp::Eq, "eval"))
        )
        .await,
        set(&[&a])
    );
    assert_eq!(
        matching(
            store,
            &exp,
            d(DatasetField::Context, compare(StringOp::Eq, "train"))
        )
        .await,
        set(&[&a, &b])
    );
    assert_eq!(
        matching(
            store,
            &exp,
            d(DatasetField::Name, compare(StringOp::Ne, "iris"))
        )
        .await,
        set(&[&a, &b]),
        "any input"
    );
}

pub async fn search_runs_view_types_and_experiments(store: &dyn Store) {
    let first = experiment(store, "first").await;
    let second = experiment(store, "second").await;
    let a = run(store, &first).await;
    let b = run(store, &first).await;
    let c = run(store, &second).await;
    store
        .set_run_lifecycle(&b, LifecycleStage::Deleted, T0)
        .await
        .unwrap();
    let ids = |experiments: &[&str], view| {
        let mut search = runs_query(experiments, vec![], vec![]);
        search.view = view;
        search
    };
    let got: BTreeSet<String> = all_run_ids(store, ids(&[&first], ViewType::ActiveOnly))
        .await
        .into_iter()
        .collect();
    assert_eq!(got, set(&[&a]));
    let got: BTreeSet<String> = all_run_ids(store, ids(&[&first], ViewType::DeletedOnly))
        .await
        .into_iter()
        .collect();
    assert_eq!(got, set(&[&b]));
    let got: BTreeSet<String> = all_run_ids(store, ids(&[&first, &second], ViewType::All))
        .await
        .into_iter()
        .collect();
    assert_eq!(got, set(&[&a, &b, &c]));
    assert!(
        all_run_ids(store, ids(&["12345"], ViewType::All))
            .await
            .is_empty()
    );
}

pub async fn search_runs_order_by_metric_with_nan_and_missing(store: &dyn Store) {
    let Fixture { exp, runs } = search_fixture(store).await;
    // acc: r0 0.1, r1 0.5, r2 NaN, r3 +inf, r4 missing.
    let ascending = all_run_ids(
        store,
        runs_query(
            &[&exp],
            vec![],
            vec![order(RunOrderKey::Metric("acc".into()), true)],
        ),
    )
    .await;
    assert_eq!(
        ascending,
        vec![
            runs[0].clone(),
            runs[1].clone(),
            runs[3].clone(),
            runs[2].clone(),
            runs[4].clone()
        ]
    );
    let descending = all_run_ids(
        store,
        runs_query(
            &[&exp],
            vec![],
            vec![order(RunOrderKey::Metric("acc".into()), false)],
        ),
    )
    .await;
    assert_eq!(
        descending,
        vec![
            runs[3].clone(),
            runs[1].clone(),
            runs[0].clone(),
            runs[2].clone(),
            runs[4].clone()
        ]
    );
}

pub async fn search_runs_order_by_params_tags_attributes(store: &dyn Store) {
    let Fixture { exp, runs } = search_fixture(store).await;
    let by = |key, ascending| runs_query(&[&exp], vec![], vec![order(key, ascending)]);
    // model: r0 CNN, r1 cnn, r2 rnn*x, r3 missing, r4 mlp. Binary collation: upper case first.
    let asc = all_run_ids(store, by(RunOrderKey::Param("model".into()), true)).await;
    assert_eq!(
        asc,
        vec![
            runs[0].clone(),
            runs[1].clone(),
            runs[4].clone(),
            runs[2].clone(),
            runs[3].clone()
        ]
    );
    let desc = all_run_ids(store, by(RunOrderKey::Param("model".into()), false)).await;
    assert_eq!(
        desc,
        vec![
            runs[2].clone(),
            runs[4].clone(),
            runs[1].clone(),
            runs[0].clone(),
            runs[3].clone()
        ]
    );
    // env: r0 prod, r1 dev, r2 prod, r3/r4 missing; ties by start_time DESC.
    let asc = all_run_ids(store, by(RunOrderKey::Tag("env".into()), true)).await;
    assert_eq!(
        asc,
        vec![
            runs[1].clone(),
            runs[2].clone(),
            runs[0].clone(),
            runs[4].clone(),
            runs[3].clone()
        ]
    );
    let desc = all_run_ids(store, by(RunOrderKey::Tag("env".into()), false)).await;
    assert_eq!(
        desc,
        vec![
            runs[2].clone(),
            runs[0].clone(),
            runs[1].clone(),
            runs[4].clone(),
            runs[3].clone()
        ]
    );
    // Default order: start_time DESC.
    let default = all_run_ids(store, runs_query(&[&exp], vec![], vec![])).await;
    assert_eq!(default, runs.iter().rev().cloned().collect::<Vec<_>>());
    let asc = all_run_ids(
        store,
        by(RunOrderKey::Attribute(RunOrderAttribute::StartTime), true),
    )
    .await;
    assert_eq!(asc, runs);
    // end_time: only r3 has one; missing last both ways.
    let desc = all_run_ids(
        store,
        by(RunOrderKey::Attribute(RunOrderAttribute::EndTime), false),
    )
    .await;
    assert_eq!(desc[0], runs[3]);
    let asc = all_run_ids(
        store,
        by(RunOrderKey::Attribute(RunOrderAttribute::EndTime), true),
    )
    .await;
    assert_eq!(asc[0], runs[3]);
    let names = all_run_ids(
        store,
        by(RunOrderKey::Attribute(RunOrderAttribute::RunName), false),
    )
    .await;
    assert_eq!(names, runs.iter().rev().cloned().collect::<Vec<_>>());
    // Equal start times fall back to run_id ASC.
    let exp2 = experiment(store, "ties").await;
    let mut tied = Vec::new();
    for _ in 0..6 {
        tied.push(run_at(store, &exp2, "t", T0).await);
    }
    tied.sort();
    assert_eq!(
        all_run_ids(store, runs_query(&[&exp2], vec![], vec![])).await,
        tied
    );
}

pub async fn search_runs_pagination(store: &dyn Store) {
    let exp = experiment(store, "paging").await;
    let mut expected = Vec::new();
    for index in 0..23i64 {
        // Equal metric values in groups of three: only the tiebreak orders them.
        let id = run_at(store, &exp, "p", T0 + (index % 4)).await;
        log_metric(store, &id, metric("score", (index / 3) as f64, T0, 0)).await;
        expected.push(id);
    }
    let full = all_run_ids(
        store,
        RunSearch {
            max_results: 50_000,
            ..runs_query(
                &[&exp],
                vec![],
                vec![order(RunOrderKey::Metric("score".into()), false)],
            )
        },
    )
    .await;
    assert_eq!(full.len(), 23);
    let mut search = runs_query(
        &[&exp],
        vec![],
        vec![order(RunOrderKey::Metric("score".into()), false)],
    );
    search.max_results = 5;
    let mut pages = 0;
    let mut seen = Vec::new();
    loop {
        let page = store.search_runs(search.clone()).await.unwrap();
        pages += 1;
        seen.extend(page.items.into_iter().map(|run| run.info.run_id));
        match page.next_page_token {
            Some(token) => search.page_token = Some(token),
            None => break,
        }
    }
    assert_eq!(pages, 5);
    assert_eq!(seen, full, "pages neither skip nor repeat");
    let unique: BTreeSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), 23);
    let mut exact = runs_query(&[&exp], vec![], vec![]);
    exact.max_results = 23;
    assert!(
        store
            .search_runs(exact)
            .await
            .unwrap()
            .next_page_token
            .is_none(),
        "no token without more rows"
    );
}

pub async fn search_runs_bad_page_tokens(store: &dyn Store) {
    let exp = experiment(store, "tokens").await;
    for _ in 0..3 {
        run(store, &exp).await;
    }
    let mut search = runs_query(&[&exp], vec![], vec![]);
    search.max_results = 1;
    let token = store
        .search_runs(search.clone())
        .await
        .unwrap()
        .next_page_token
        .expect("a next page");
    for bad in ["", "!!!", "bm90IGEgdG9rZW4", "YWJj"] {
        if bad.is_empty() {
            continue; // an empty token means "first page"
        }
        let mut with_bad = search.clone();
        with_bad.page_token = Some(bad.to_string());
        assert_kind(
            store.search_runs(with_bad).await,
            ErrorKind::InvalidArgument,
            bad,
        );
    }
    let mut other_query = runs_query(
        &[&exp],
        vec![RunClause::Tag {
            key: "x".into(),
            predicate: StringPredicate::IsNull,
        }],
        vec![],
    );
    other_query.page_token = Some(token);
    assert_kind(
        store.search_runs(other_query).await,
        ErrorKind::InvalidArgument,
        "token of another query",
    );
}

// ---------------------------------------------------------------------------------------------
// Concurrency

pub async fn concurrent_writers(store: &dyn Store) {
    let exp = experiment(store, "concurrent").await;
    let mut runs = Vec::new();
    for _ in 0..5 {
        runs.push(run(store, &exp).await);
    }
    const TASKS: i64 = 50;
    const POINTS: i64 = 40;
    let writes = (0..TASKS).map(|task| {
        let run_id = runs[(task % 5) as usize].clone();
        async move {
            let metrics: Vec<Metric> = (0..POINTS)
                .map(|i| metric("m", (task * 1000 + i) as f64, T0 + i, task * POINTS + i))
                .collect();
            store
                .log_batch(
                    &run_id,
                    metrics,
                    vec![Param::new(format!("p{task}"), "v")],
                    vec![Tag::new(format!("t{task}"), "v")],
                )
                .await
        }
    });
    let results = join_all(writes).await;
    assert!(results.iter().all(|r| r.is_ok()), "{results:?}");
    for (index, run_id) in runs.iter().enumerate() {
        let history = store
            .history(HistoryRequest {
                run_id: run_id.clone(),
                key: "m".into(),
                max_results: 0,
                page_token: None,
            })
            .await
            .unwrap();
        let tasks_for_run = (0..TASKS).filter(|task| task % 5 == index as i64).count() as i64;
        assert_eq!(history.items.len() as i64, tasks_for_run * POINTS);
        let got = store.get_run(run_id).await.unwrap();
        assert_eq!(got.params.len() as i64, tasks_for_run);
        let last_task = (0..TASKS)
            .filter(|task| task % 5 == index as i64)
            .max()
            .unwrap();
        assert_eq!(
            latest_of(&got, "m").unwrap().step,
            last_task * POINTS + POINTS - 1
        );
    }
}

pub async fn concurrent_failures_are_isolated(store: &dyn Store) {
    // Failing and succeeding batches arrive together (and so share commit groups where the
    // backend groups): each failure leaves nothing, each success is complete.
    let exp = experiment(store, "isolation").await;
    let id = run(store, &exp).await;
    log_param(store, &id, "fixed", "a").await;
    let writes = (0..40i64).map(|task| {
        let id = id.clone();
        async move {
            let fails = task % 2 == 1;
            let params = if fails {
                vec![Param::new("fixed", "b")]
            } else {
                vec![]
            };
            let result = store
                .log_batch(
                    &id,
                    vec![metric("m", task as f64, T0, task)],
                    params,
                    vec![Tag::new(format!("t{task}"), "v")],
                )
                .await;
            (task, fails, result)
        }
    });
    for (task, fails, result) in join_all(writes).await {
        assert_eq!(result.is_err(), fails, "task {task}: {result:?}");
    }
    let got = store.get_run(&id).await.unwrap();
    let tags: BTreeSet<String> = got
        .tags
        .iter()
        .map(|t| t.key.clone())
        .filter(|k| k.starts_with('t'))
        .collect();
    let expected: BTreeSet<String> = (0..40)
        .filter(|t| t % 2 == 0)
        .map(|t| format!("t{t}"))
        .collect();
    assert_eq!(tags, expected);
    let history = store
        .history(HistoryRequest {
            run_id: id.clone(),
            key: "m".into(),
            max_results: 0,
            page_token: None,
        })
        .await
        .unwrap();
    assert!(history.items.iter().all(|m| m.step % 2 == 0));
    assert_eq!(history.items.len(), 20);
    assert_eq!(latest_of(&got, "m").unwrap().step, 38);
}

pub async fn search_runs_key_filters_respect_scope(store: &dyn Store) {
    // Selective key clauses may drive the query from their index; experiment and lifecycle
    // scoping must still hold, and so must a run count that is smaller than the clause's.
    let mine = experiment(store, "mine").await;
    let theirs = experiment(store, "theirs").await;
    let kept = run(store, &mine).await;
    let deleted = run(store, &mine).await;
    for id in [&kept, &deleted] {
        store
            .log_batch(
                id,
                vec![metric("acc", 0.9, T0, 0)],
                vec![Param::new("shared", "x")],
                vec![Tag::new("k", "v")],
            )
            .await
            .unwrap();
    }
    store
        .set_run_lifecycle(&deleted, LifecycleStage::Deleted, T0)
        .await
        .unwrap();
    for _ in 0..30 {
        let other = run(store, &theirs).await;
        store
            .log_batch(
                &other,
                vec![metric("acc", 0.9, T0, 0)],
                vec![Param::new("shared", "x")],
                vec![Tag::new("k", "v")],
            )
            .await
            .unwrap();
    }
    let clauses = vec![
        RunClause::Param {
            key: "shared".into(),
            predicate: compare(StringOp::Eq, "x"),
        },
        RunClause::Tag {
            key: "k".into(),
            predicate: compare(StringOp::Like, "v%"),
        },
        RunClause::Metric {
            key: "acc".into(),
            op: NumOp::Gt,
            value: 0.5,
        },
    ];
    let found = all_run_ids(store, runs_query(&[&mine], clauses.clone(), vec![])).await;
    assert_eq!(found, vec![kept.clone()]);
    let mut deleted_only = runs_query(&[&mine], clauses.clone(), vec![]);
    deleted_only.view = ViewType::DeletedOnly;
    assert_eq!(
        all_run_ids(store, deleted_only).await,
        vec![deleted.clone()]
    );
    assert_eq!(
        all_run_ids(store, runs_query(&[&theirs], clauses.clone(), vec![]))
            .await
            .len(),
        30
    );
    assert_eq!(
        all_run_ids(store, runs_query(&[&mine, &theirs], clauses, vec![]))
            .await
            .len(),
        31
    );
}

/// Polls every future concurrently on the current task (no extra dependency needed).
async fn join_all<F: std::future::Future>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let mut pending: Vec<std::pin::Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = pending.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut done = true;
        for (index, future) in pending.iter_mut().enumerate() {
            if outputs[index].is_none() {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(output) => outputs[index] = Some(output),
                    std::task::Poll::Pending => done = false,
                }
            }
        }
        if done {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    outputs
        .into_iter()
        .map(|output| output.expect("every future finished"))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Inputs and outputs

pub async fn inputs_and_outputs(store: &dyn Store) {
    let exp = experiment(store, "io").await;
    let a = run(store, &exp).await;
    let b = run(store, &exp).await;
    let dataset = Dataset {
        name: "iris".into(),
        digest: "abc123".into(),
        source_type: "local".into(),
        source: "{\"uri\": \"/data/iris.csv\"}".into(),
        schema: Some("{\"cols\": []}".into()),
        profile: None,
    };
    let input = DatasetInput {
        tags: vec![Tag::new("mlflow.data.context", "train")],
        dataset: dataset.clone(),
    };
    let model = new_model_id();
    store
        .log_inputs(
            &a,
            vec![input.clone()],
            vec![ModelInput {
                model_id: model.clone(),
            }],
        )
        .await
        .unwrap();
    store
        .log_inputs(
            &a,
            vec![input.clone()],
            vec![ModelInput {
                model_id: model.clone(),
            }],
        )
        .await
        .unwrap(); // idempotent
    store
        .log_inputs(&b, vec![input.clone()], vec![])
        .await
        .unwrap();
    store
        .log_outputs(
            &a,
            vec![
                ModelOutput {
                    model_id: model.clone(),
                    step: 3,
                },
                ModelOutput {
                    model_id: model.clone(),
                    step: 3,
                },
            ],
        )
        .await
        .unwrap();
    let got = store.get_run(&a).await.unwrap();
    assert_eq!(got.dataset_inputs, vec![input.clone()]);
    assert_eq!(
        got.model_inputs,
        vec![ModelInput {
            model_id: model.clone()
        }]
    );
    assert_eq!(
        got.model_outputs,
        vec![ModelOutput {
            model_id: model.clone(),
            step: 3
        }]
    );
    assert_eq!(
        store.get_run(&b).await.unwrap().dataset_inputs,
        vec![input.clone()]
    );
    let page = store
        .search_runs(runs_query(&[&exp], vec![], vec![]))
        .await
        .unwrap();
    let from_search = page.items.iter().find(|r| r.info.run_id == a).unwrap();
    assert_eq!(
        from_search, &got,
        "search returns runs as complete as get_run"
    );
}

// ---------------------------------------------------------------------------------------------
// Logged models

fn new_model(experiment_id: &str, name: &str, created: i64) -> NewLoggedModel {
    let model_id = new_model_id();
    NewLoggedModel {
        artifact_location: format!("mlflow-artifacts:/{experiment_id}/models/{model_id}/artifacts"),
        model_id,
        experiment_id: experiment_id.to_string(),
        name: name.to_string(),
        creation_timestamp: created,
        model_type: Some("sklearn".into()),
        source_run_id: None,
        tags: vec![Tag::new("a", "1")],
        params: vec![Param::new("alpha", "0.5")],
    }
}

pub async fn logged_model_lifecycle(store: &dyn Store) {
    let exp = experiment(store, "models").await;
    let new = new_model(&exp, "model", T0);
    let created = store.create_logged_model(new.clone()).await.unwrap();
    assert_eq!(created.model_id, new.model_id);
    assert_eq!(created.status, LoggedModelStatus::Pending);
    assert_eq!(created.lifecycle_stage, LifecycleStage::Active);
    assert_eq!(
        (created.creation_timestamp, created.last_updated_timestamp),
        (T0, T0)
    );
    assert_eq!(created.tags, vec![Tag::new("a", "1")]);
    assert_eq!(created.params, vec![Param::new("alpha", "0.5")]);
    assert_eq!(
        store.get_logged_model(&new.model_id).await.unwrap(),
        created
    );

    let ready = store
        .set_logged_model_status(&new.model_id, LoggedModelStatus::Ready, None, T0 + 5)
        .await
        .unwrap();
    assert_eq!(
        (ready.status, ready.last_updated_timestamp),
        (LoggedModelStatus::Ready, T0 + 5)
    );
    let tagged = store
        .set_logged_model_tags(
            &new.model_id,
            vec![Tag::new("a", "2"), Tag::new("b", "3")],
            T0 + 6,
        )
        .await
        .unwrap();
    assert_eq!(tagged.tags, vec![Tag::new("a", "2"), Tag::new("b", "3")]);
    store
        .delete_logged_model_tag(&new.model_id, "a", T0 + 7)
        .await
        .unwrap();
    assert_kind(
        store
            .delete_logged_model_tag(&new.model_id, "a", T0 + 7)
            .await,
        ErrorKind::NotFound,
        "missing model tag",
    );
    store
        .log_logged_model_params(&new.model_id, vec![Param::new("beta", "2")], T0 + 8)
        .await
        .unwrap();
    let got = store.get_logged_model(&new.model_id).await.unwrap();
    assert_eq!(got.tags, vec![Tag::new("b", "3")]);
    assert_eq!(
        got.params,
        vec![Param::new("alpha", "0.5"), Param::new("beta", "2")]
    );

    store
        .delete_logged_model(&new.model_id, T0 + 9)
        .await
        .unwrap();
    let message = assert_kind(
        store.get_logged_model(&new.model_id).await,
        ErrorKind::NotFound,
        "deleted model",
    );
    assert_eq!(
        message,
        format!("Logged model with ID '{}' not found.", new.model_id)
    );
    assert_kind(
        store.get_logged_model("m-missing").await,
        ErrorKind::NotFound,
        "unknown model",
    );
    assert_kind(
        store.create_logged_model(new_model("777", "x", T0)).await,
        ErrorKind::NotFound,
        "unknown experiment",
    );
}

pub async fn logged_model_metrics_from_log_batch(store: &dyn Store) {
    let exp = experiment(store, "model-metrics").await;
    let model = store
        .create_logged_model(new_model(&exp, "m", T0))
        .await
        .unwrap();
    let run_id = run(store, &exp).await;
    let mut first = metric("acc", 0.9, T0, 1);
    first.model_id = Some(model.model_id.clone());
    first.dataset_name = Some("iris".into());
    first.dataset_digest = Some("d1".into());
    let mut second = metric("acc", 0.95, T0 + 1, 2);
    second.model_id = Some(model.model_id.clone());
    store
        .log_batch(
            &run_id,
            vec![first.clone(), second.clone(), metric("plain", 1.0, T0, 0)],
            vec![],
            vec![],
        )
        .await
        .unwrap();
    store
        .log_batch(&run_id, vec![first.clone()], vec![], vec![])
        .await
        .unwrap(); // retried
    let got = store.get_logged_model(&model.model_id).await.unwrap();
    assert_eq!(got.metrics, vec![first.clone(), second.clone()]);
    let run = store.get_run(&run_id).await.unwrap();
    assert_eq!(
        latest_of(&run, "acc").unwrap().value,
        0.95,
        "model metrics are run metrics too"
    );
    let history = store
        .history(HistoryRequest {
            run_id,
            key: "acc".into(),
            max_results: 0,
            page_token: None,
        })
        .await
        .unwrap();
    assert_eq!(history.items, vec![first, second]);
}

pub async fn logged_models_order_by_type_status_and_source(store: &dyn Store) {
    let exp = experiment(store, "model-order").await;
    let run_a = run(store, &exp).await;
    let mut ids = Vec::new();
    for (index, (model_type, source)) in [
        (Some("b"), Some(run_a.clone())),
        (None, None),
        (Some("a"), None),
    ]
    .into_iter()
    .enumerate()
    {
        let mut new = new_model(&exp, "m", T0 + index as i64);
        new.model_type = model_type.map(str::to_string);
        new.source_run_id = source;
        ids.push(store.create_logged_model(new).await.unwrap().model_id);
    }
    store
        .set_logged_model_status(&ids[1], LoggedModelStatus::Ready, None, T0 + 10)
        .await
        .unwrap();
    let ordered = |key: LoggedModelOrderKey, ascending: bool| {
        let search = LoggedModelSearch {
            experiment_ids: vec![exp.clone()],
            filter: LoggedModelFilter::default(),
            order_by: vec![LoggedModelOrderBy { key, ascending }],
            max_results: 100,
            page_token: None,
        };
        async move {
            let page = store.search_logged_models(search).await.unwrap();
            page.items
                .into_iter()
                .map(|m| m.model_id)
                .collect::<Vec<_>>()
        }
    };
    let by = |order: [usize; 3]| order.iter().map(|i| ids[*i].clone()).collect::<Vec<_>>();
    assert_eq!(
        ordered(LoggedModelOrderKey::ModelType, true).await,
        by([2, 0, 1]),
        "missing last"
    );
    assert_eq!(
        ordered(LoggedModelOrderKey::ModelType, false).await,
        by([0, 2, 1]),
        "missing last"
    );
    assert_eq!(
        ordered(LoggedModelOrderKey::SourceRunId, true).await[0],
        ids[0]
    );
    assert_eq!(
        ordered(LoggedModelOrderKey::SourceRunId, false).await[0],
        ids[0]
    );
    assert_eq!(
        ordered(LoggedModelOrderKey::Status, true).await[2],
        ids[1],
        "PENDING < READY"
    );
    assert_eq!(ordered(LoggedModelOrderKey::Status, false).await[0], ids[1]);
}

pub async fn search_logged_models(store: &dyn Store) {
    let exp = experiment(store, "model-search").await;
    let other = experiment(store, "model-search-other").await;
    let run_id = run(store, &exp).await;
    let mut ids = Vec::new();
    for (index, score) in [Some(0.3), Some(0.9), None, Some(f64::NAN), Some(0.5)]
        .iter()
        .enumerate()
    {
        let mut new = new_model(
            &exp,
            if index % 2 == 0 { "even" } else { "odd" },
            T0 + index as i64,
        );
        new.params = vec![Param::new("index", index.to_string())];
        let model = store.create_logged_model(new).await.unwrap();
        if let Some(score) = score {
            let mut point = metric("score", *score, T0, 0);
            point.model_id = Some(model.model_id.clone());
            point.dataset_name = Some("eval".into());
            point.dataset_digest = Some("e1".into());
            store
                .log_batch(&run_id, vec![point], vec![], vec![])
                .await
                .unwrap();
        }
        ids.push(model.model_id);
    }
    store
        .create_logged_model(new_model(&other, "elsewhere", T0))
        .await
        .unwrap();
    let deleted = store
        .create_logged_model(new_model(&exp, "even", T0 + 100))
        .await
        .unwrap();
    store
        .delete_logged_model(&deleted.model_id, T0 + 101)
        .await
        .unwrap();

    let query = |clauses, order_by| LoggedModelSearch {
        experiment_ids: vec![exp.clone()],
        filter: LoggedModelFilter { clauses },
        order_by,
        max_results: 100,
        page_token: None,
    };
    let found = |page: crate::Result<cairn_core::model::Page<cairn_core::model::LoggedModel>>| {
        page.unwrap()
            .items
            .into_iter()
            .map(|m| m.model_id)
            .collect::<Vec<_>>()
    };
    // Default order: creation_timestamp DESC; deleted models and other experiments excluded.
    let all = found(store.search_logged_models(query(vec![], vec![])).await);
    assert_eq!(all, ids.iter().rev().cloned().collect::<Vec<_>>());
    let even = found(
        store
            .search_logged_models(query(
                vec![LoggedModelClause::StringAttribute {
                    attribute: ModelStringAttribute::Name,
                    predicate: compare(StringOp::Eq, "even"),
                }],
                vec![],
            ))
            .await,
    );
    assert_eq!(even, vec![ids[4].clone(), ids[2].clone(), ids[0].clone()]);
    let good = found(
        store
            .search_logged_models(query(
                vec![LoggedModelClause::Metric {
                    key: "score".into(),
                    op: NumOp::Gt,
                    value: 0.4,
                }],
                vec![],
            ))
            .await,
    );
    assert_eq!(good, vec![ids[4].clone(), ids[1].clone()]);
    let by_param = found(
        store
            .search_logged_models(query(
                vec![LoggedModelClause::Param {
                    key: "index".into(),
                    predicate: compare(StringOp::Eq, "3"),
                }],
                vec![],
            ))
            .await,
    );
    assert_eq!(by_param, vec![ids[3].clone()]);
    let metric_order = |ascending, dataset_name: Option<&str>| {
        vec![LoggedModelOrderBy {
            key: LoggedModelOrderKey::Metric {
                key: "score".into(),
                dataset_name: dataset_name.map(str::to_string),
                dataset_digest: None,
            },
            ascending,
        }]
    };
    let asc = found(
        store
            .search_logged_models(query(vec![], metric_order(true, None)))
            .await,
    );
    assert_eq!(
        asc,
        vec![
            ids[0].clone(),
            ids[4].clone(),
            ids[1].clone(),
            ids[3].clone(),
            ids[2].clone()
        ]
    );
    let desc = found(
        store
            .search_logged_models(query(vec![], metric_order(false, Some("eval"))))
            .await,
    );
    assert_eq!(
        desc,
        vec![
            ids[1].clone(),
            ids[4].clone(),
            ids[0].clone(),
            ids[3].clone(),
            ids[2].clone()
        ]
    );
    let elsewhere = found(
        store
            .search_logged_models(query(vec![], metric_order(false, Some("nope"))))
            .await,
    );
    assert_eq!(
        elsewhere.len(),
        5,
        "no model has points for that dataset; all sort as missing"
    );

    // Paging.
    let mut search = query(vec![], vec![]);
    search.max_results = 2;
    let mut seen = Vec::new();
    loop {
        let page = store.search_logged_models(search.clone()).await.unwrap();
        seen.extend(page.items.into_iter().map(|m| m.model_id));
        match page.next_page_token {
            Some(token) => search.page_token = Some(token),
            None => break,
        }
    }
    assert_eq!(seen, all);
    search.page_token = Some("bogus".into());
    assert_kind(
        store.search_logged_models(search).await,
        ErrorKind::InvalidArgument,
        "bad model token",
    );
}

/// Tables address rows by offset: every window equals the same slice of the full order, and the
/// count follows the filter and view (order and offset do not matter to it).
pub async fn search_runs_windows_and_counts(store: &dyn Store) {
    let exp = experiment(store, "windows").await;
    let other = experiment(store, "windows-other").await;
    let mut ids = Vec::new();
    for index in 0..30i64 {
        let id = run_at(store, &exp, "w", T0 + index).await;
        log_metric(store, &id, metric("loss", (index % 7) as f64, T0, 0)).await;
        log_param(
            store,
            &id,
            "even",
            if index % 2 == 0 { "yes" } else { "no" },
        )
        .await;
        ids.push(id);
    }
    run(store, &other).await;
    store
        .set_run_lifecycle(&ids[0], LifecycleStage::Deleted, T0)
        .await
        .unwrap();

    let ordered = runs_query(
        &[&exp],
        vec![],
        vec![order(RunOrderKey::Metric("loss".into()), true)],
    );
    let full = all_run_ids(
        store,
        RunSearch {
            max_results: 1000,
            ..ordered.clone()
        },
    )
    .await;
    assert_eq!(full.len(), 29);
    for (offset, limit) in [(0, 10), (7, 5), (25, 10), (29, 3), (40, 5)] {
        let window = store
            .search_runs(RunSearch {
                offset,
                max_results: limit,
                ..ordered.clone()
            })
            .await
            .unwrap();
        let got: Vec<String> = window.items.into_iter().map(|r| r.info.run_id).collect();
        let want: Vec<String> = full.iter().skip(offset).take(limit).cloned().collect();
        assert_eq!(got, want, "window at {offset}+{limit}");
    }

    assert_eq!(store.count_runs(ordered.clone()).await.unwrap(), 29);
    let filtered = runs_query(
        &[&exp],
        vec![
            RunClause::Metric {
                key: "loss".into(),
                op: NumOp::Lt,
                value: 3.0,
            },
            RunClause::Param {
                key: "even".into(),
                predicate: compare(StringOp::Eq, "yes"),
            },
        ],
        vec![],
    );
    // Even indexes 2..28 with index % 7 < 3: 2, 8, 14, 16, 22, 28 (0 is deleted).
    assert_eq!(store.count_runs(filtered.clone()).await.unwrap(), 6);
    let matched = all_run_ids(store, filtered.clone()).await;
    assert_eq!(matched.len(), 6);
    let all_views = RunSearch {
        view: ViewType::All,
        ..runs_query(&[&exp, &other], vec![], vec![])
    };
    assert_eq!(store.count_runs(all_views).await.unwrap(), 31);
    let deleted = RunSearch {
        view: ViewType::DeletedOnly,
        ..runs_query(&[&exp], vec![], vec![])
    };
    assert_eq!(store.count_runs(deleted).await.unwrap(), 1);
    assert_eq!(
        store
            .count_runs(runs_query(&["999999"], vec![], vec![]))
            .await
            .unwrap(),
        0
    );
}

/// Column pickers list the keys an experiment's runs use; experiment lists show run counts.
pub async fn experiment_keys_and_run_counts(store: &dyn Store) {
    let exp = experiment(store, "keys").await;
    let other = experiment(store, "keys-other").await;
    let empty = experiment(store, "keys-empty").await;
    let a = run(store, &exp).await;
    let b = run(store, &exp).await;
    log_param(store, &a, "lr", "0.1").await;
    log_param(store, &b, "batch", "32").await;
    log_param(store, &b, "lr", "0.2").await;
    log_metric(store, &a, metric("val/loss", 1.0, T0, 0)).await;
    log_metric(store, &b, metric("acc", 1.0, T0, 0)).await;
    set_tag(store, &a, "team", "vision").await;
    let c = run(store, &other).await;
    log_param(store, &c, "elsewhere", "1").await;
    store
        .set_run_lifecycle(&b, LifecycleStage::Deleted, T0)
        .await
        .unwrap();

    let keys = store.experiment_keys(&exp, 100).await.unwrap();
    assert_eq!(keys.params, vec!["batch", "lr"]);
    assert_eq!(keys.metrics, vec!["acc", "val/loss"]);
    assert!(keys.tags.contains(&"team".to_string()));
    assert!(!keys.params.contains(&"elsewhere".to_string()));
    let limited = store.experiment_keys(&exp, 1).await.unwrap();
    assert_eq!(limited.params, vec!["batch"]);
    let none = store.experiment_keys(&empty, 100).await.unwrap();
    assert!(none.params.is_empty() && none.metrics.is_empty());
    let missing = store.experiment_keys("999999", 100).await.unwrap_err();
    assert_eq!(missing.kind(), ErrorKind::NotFound);

    let mut counts = store
        .active_run_counts(&[exp.clone(), other.clone(), empty.clone(), "x".into()])
        .await
        .unwrap();
    counts.sort();
    let mut want = vec![(exp.clone(), 1), (other.clone(), 1)];
    want.sort();
    assert_eq!(counts, want);
}

/// `stats` counts active runs in progress: finishing or deleting a run takes it out.
pub async fn stats_count_running_runs(store: &dyn Store) {
    let before = store.stats().await.unwrap();
    assert_eq!(before.running_runs, 0);
    assert_eq!((before.blobs, before.blob_bytes), (0, 0));
    assert!(before.readers >= 1);
    let exp = experiment(store, "stats").await;
    let a = run(store, &exp).await;
    let b = run(store, &exp).await;
    let _c = run(store, &exp).await;
    assert_eq!(store.stats().await.unwrap().running_runs, 3);
    store
        .update_run(
            &a,
            RunUpdate {
                status: Some(RunStatus::Finished),
                end_time: Some(T0 + 10),
                run_name: None,
            },
        )
        .await
        .unwrap();
    store
        .set_run_lifecycle(&b, LifecycleStage::Deleted, T0 + 11)
        .await
        .unwrap();
    assert_eq!(store.stats().await.unwrap().running_runs, 1);
}
