//! `cairn_store::migrate`: an embedded store filled through the store traits with every kind of
//! record, copied into a fresh PostgreSQL database (a throwaway cluster from the machine's
//! PostgreSQL binaries), answers every read through `PgStore` exactly as the SQLite store did —
//! metric histories bit for bit — and takes new writes; a second copy into the filled database,
//! a missing source and a source value PostgreSQL cannot hold are refused, leaving the target
//! as it was.

use cairn_core::access::{ExperimentAccess, ShareLevel, Visibility};
use cairn_core::alerts::{AlertRule, Condition, Delivery, Format};
use cairn_core::auth::{AuditEntry, AuditQuery, Scope, Session};
use cairn_core::comments::{Activity, Annotation, Comment, CommentTarget};
use cairn_core::lineage::{Direction, Edge, Node, NodeKind, Relation};
use cairn_core::model::{
    Dataset, DatasetInput, LifecycleStage, Metric, ModelInput, ModelOutput, NewExperiment,
    NewLoggedModel, NewRun, Param, RunStatus, RunUpdate, Tag, ViewType,
};
use cairn_core::registry::{NewModelVersion, Stage};
use cairn_core::series::Point;
use cairn_store::migrate::{self, Progress};
use cairn_store::postgres::PgStore;
use cairn_store::postgres::testing::TestCluster;
use cairn_store::sqlite::SqliteStore;
use cairn_store::{
    ArtifactLocation, AuthStore, CommentStore, ErrorKind, ExperimentSearch, HistoryRequest,
    LoggedModelSearch, ManifestEntry, MetaStore, ModelVersionSearch, NewToken, NewUser,
    RegisteredModelSearch, RetentionPolicy, RunSearch, SeriesPoints, SeriesRequest, Store, Upload,
    UploadPart, XAxis,
};

const T0: i64 = 1_780_000_000_000;

async fn fresh_database() -> String {
    tokio::task::spawn_blocking(|| TestCluster::shared().fresh_database())
        .await
        .expect("make a test database")
}

/// Ids of what [`fill`] stored, for the reads that compare the stores.
struct Filled {
    experiments: Vec<String>,
    runs: Vec<String>,
    metric_keys: Vec<&'static str>,
    model_id: String,
    users: Vec<i64>,
    teams: Vec<i64>,
    alert: i64,
}

fn digest(n: u64) -> String {
    format!("blake3:{n:064x}")
}

/// Stores a representative mix through the store traits.
async fn fill(store: &dyn Store) -> Filled {
    let ada = store
        .create_user(NewUser {
            username: "ada".into(),
            password_hash: "$argon2id$ada".into(),
            is_admin: true,
            now: T0,
        })
        .await
        .unwrap();
    let bob = store
        .create_user(NewUser {
            username: "bob".into(),
            password_hash: "$argon2id$bob".into(),
            is_admin: false,
            now: T0,
        })
        .await
        .unwrap();
    store.set_user_disabled("bob", true).await.unwrap();
    store.set_user_disabled("bob", false).await.unwrap();
    let token = store
        .create_token(NewToken {
            user_id: bob.id,
            name: "ci".into(),
            secret_hash: "hash-ci".into(),
            scope: Scope::Read,
            expires: Some(T0 + 86_400_000),
            now: T0,
        })
        .await
        .unwrap();
    store
        .create_token(NewToken {
            user_id: ada.id,
            name: "laptop".into(),
            secret_hash: "hash-laptop".into(),
            scope: Scope::Write,
            expires: None,
            now: T0,
        })
        .await
        .unwrap();
    store.revoke_token(token.id, None).await.unwrap();
    store
        .create_session(
            "session-hash",
            Session {
                user_id: ada.id,
                csrf: "csrf".into(),
                expires: T0 + 3_600_000,
            },
        )
        .await
        .unwrap();
    store
        .append_audit(
            (0..5)
                .map(|i| AuditEntry {
                    id: 0,
                    time: T0 + i,
                    username: (i % 2 == 0).then(|| "ada".to_string()),
                    action: format!("POST /api/2.0/mlflow/runs/create#{i}"),
                    target: "tab\there, new\nline, back\\slash".into(),
                    status: 200,
                    source: Some("127.0.0.1".into()),
                    user_agent: None,
                })
                .collect(),
        )
        .await
        .unwrap();

    let research = store
        .create_team("research", ada.id, false, T0)
        .await
        .unwrap();
    let guests = store
        .create_team("guests", bob.id, false, T0)
        .await
        .unwrap();
    let personal = store.create_team("~ada", ada.id, true, T0).await.unwrap();
    store
        .set_member(research.id, bob.id, Some(cairn_core::access::Role::Member))
        .await
        .unwrap();

    let vision = store
        .create_experiment(
            NewExperiment {
                name: "vision ünïcode".into(),
                artifact_location: None,
                tags: vec![Tag::new("team", "vision"), Tag::new("note", "multi\nline")],
                creation_time: T0,
                access: Some(ExperimentAccess {
                    experiment_id: String::new(),
                    team_id: Some(research.id),
                    visibility: Visibility::Private,
                    creator_id: Some(ada.id),
                    shares: vec![],
                }),
            },
            ArtifactLocation::UnderRoot("mlflow-artifacts:/".into()),
        )
        .await
        .unwrap();
    store
        .set_share(&vision, guests.id, Some(ShareLevel::Read))
        .await
        .unwrap();
    let nlp = store
        .create_experiment(
            NewExperiment {
                name: "nlp".into(),
                artifact_location: Some("s3://bucket/nlp".into()),
                tags: vec![],
                creation_time: T0 + 1,
                access: None,
            },
            ArtifactLocation::Explicit("s3://bucket/nlp".into()),
        )
        .await
        .unwrap();
    let gone = store
        .create_experiment(
            NewExperiment {
                name: "gone".into(),
                artifact_location: None,
                tags: vec![],
                creation_time: T0 + 2,
                access: None,
            },
            ArtifactLocation::UnderRoot("mlflow-artifacts:/".into()),
        )
        .await
        .unwrap();
    // On an experiment without points, so that no compactor thins anything meanwhile.
    store
        .set_retention(
            &gone,
            Some(RetentionPolicy {
                after_days: 30,
                resolution: 10,
            }),
        )
        .await
        .unwrap();
    store
        .set_experiment_lifecycle(&gone, LifecycleStage::Deleted, T0 + 3)
        .await
        .unwrap();

    let mut runs = Vec::new();
    for (i, experiment) in [&vision, &vision, &vision, &nlp].into_iter().enumerate() {
        let run_id = cairn_core::ids::new_run_id();
        store
            .create_run(NewRun {
                run_id: run_id.clone(),
                experiment_id: experiment.clone(),
                run_name: format!("run-{i}"),
                user_id: "ada".into(),
                start_time: T0 + i as i64,
                artifact_uri: format!("mlflow-artifacts:/{experiment}/{run_id}/artifacts"),
                tags: vec![Tag::new("mlflow.user", "ada")],
                created: None,
            })
            .await
            .unwrap();
        store
            .log_batch(
                &run_id,
                vec![
                    Metric::new("loss", 1.0 / (i as f64 + 1.0), T0, 0),
                    Metric::new("odd", f64::NAN, T0, 0),
                    Metric::new("odd", f64::INFINITY, T0, 1),
                    Metric::new("odd", f64::NEG_INFINITY, T0, 2),
                    Metric::new("odd", -0.0, T0, 3),
                    Metric::new("odd", 0.1 + 0.2, T0, 4),
                    // The latest point is NaN: `latest_metrics.is_nan` is true.
                    Metric::new("odd", f64::NAN, T0, 5),
                ],
                vec![
                    Param::new("lr", format!("{}", 10f64.powi(-(i as i32)))),
                    Param::new("quote\"d", "back\\slash\ttab"),
                ],
                vec![Tag::new("stage", if i % 2 == 0 { "train" } else { "eval" })],
            )
            .await
            .unwrap();
        runs.push(run_id);
    }
    // Enough points that compaction makes chunks; then more that stay raw segments.
    for (r, run_id) in runs.iter().take(2).enumerate() {
        for key in ["acc", "grad"] {
            let points = (0..6_000)
                .map(|s| Point::new(s, T0 + s, ((s as f64) * 0.37 + r as f64).sin()))
                .collect();
            store
                .log_points(
                    run_id,
                    vec![SeriesPoints {
                        key: key.into(),
                        points,
                    }],
                    Some(format!("batch-{r}-{key}")),
                )
                .await
                .unwrap();
        }
    }
    let compacted = store.compact().await.unwrap();
    assert!(compacted.points > 0, "{compacted:?}");
    store
        .log_points(
            &runs[0],
            vec![SeriesPoints {
                key: "acc".into(),
                points: (6_000..6_100)
                    .map(|s| Point::new(s, T0 + s, s as f64 / 7.0))
                    .collect(),
            }],
            None,
        )
        .await
        .unwrap();

    store
        .update_run(
            &runs[1],
            RunUpdate {
                status: Some(RunStatus::Finished),
                end_time: Some(T0 + 10_000),
                run_name: None,
            },
        )
        .await
        .unwrap();
    store
        .set_run_lifecycle(&runs[2], LifecycleStage::Deleted, T0 + 20)
        .await
        .unwrap();

    let model_id = format!("m-{}", cairn_core::ids::new_run_id());
    store
        .create_logged_model(NewLoggedModel {
            model_id: model_id.clone(),
            experiment_id: vision.clone(),
            name: "classifier".into(),
            artifact_location: format!("mlflow-artifacts:/{vision}/models/{model_id}/artifacts"),
            creation_timestamp: T0,
            model_type: Some("sklearn".into()),
            source_run_id: Some(runs[0].clone()),
            tags: vec![Tag::new("flavor", "sklearn")],
            params: vec![Param::new("depth", "4")],
        })
        .await
        .unwrap();
    store
        .log_inputs(
            &runs[0],
            vec![DatasetInput {
                tags: vec![Tag::new("mlflow.data.context", "train")],
                dataset: Dataset {
                    name: "mnist".into(),
                    digest: "abc123".into(),
                    source_type: "local".into(),
                    source: "{\"uri\": \"/data/mnist\"}".into(),
                    schema: Some("{}".into()),
                    profile: None,
                },
            }],
            vec![ModelInput {
                model_id: model_id.clone(),
            }],
        )
        .await
        .unwrap();
    store
        .log_outputs(
            &runs[0],
            vec![ModelOutput {
                model_id: model_id.clone(),
                step: 3,
            }],
        )
        .await
        .unwrap();
    let mut linked = Metric::new("val_acc", 0.93, T0 + 5, 7);
    linked.model_id = Some(model_id.clone());
    linked.dataset_name = Some("mnist".into());
    linked.dataset_digest = Some("abc123".into());
    store
        .log_batch(&runs[0], vec![linked], vec![], vec![])
        .await
        .unwrap();

    for (n, path) in ["model/weights.bin", "model/config.json", "notes.txt"]
        .into_iter()
        .enumerate()
    {
        let lease = format!("lease-{n}");
        store
            .lease_blob(&lease, &digest(n as u64), T0, T0 + 3_600_000)
            .await
            .unwrap();
        store
            .put_artifact(
                ManifestEntry {
                    path: format!("{vision}/{}/artifacts/{path}", runs[0]),
                    digest: digest(n as u64),
                    size: 100 + n as u64,
                    content_type: "application/octet-stream".into(),
                    created: T0,
                },
                Some(&lease),
            )
            .await
            .unwrap();
    }
    store
        .create_upload(Upload {
            id: "upload-1".into(),
            path: format!("{vision}/{}/artifacts/big.bin", runs[0]),
            run_id: Some(runs[0].clone()),
            size: Some(1 << 20),
            part_size: Some(1 << 19),
            parts: Some(2),
            expected_digest: None,
            content_type: "application/octet-stream".into(),
            backend_state: "{}".into(),
            created: T0,
        })
        .await
        .unwrap();
    store
        .put_upload_part(
            "upload-1",
            UploadPart {
                number: 1,
                offset: 0,
                size: 1 << 19,
                receipt: vec![0, 1, 2, 0xff, b'\\', b'\n'],
            },
        )
        .await
        .unwrap();

    store
        .create_registered_model(
            "classifier",
            Some("the classifier".into()),
            vec![Tag::new("owner", "ada")],
            T0,
        )
        .await
        .unwrap();
    for version in 1..=2 {
        store
            .create_model_version(NewModelVersion {
                name: "classifier".into(),
                source: format!("models:/{model_id}"),
                storage_location: format!("mlflow-artifacts:/{vision}/models/{model_id}/artifacts"),
                run_id: Some(runs[0].clone()),
                run_link: None,
                model_id: Some(model_id.clone()),
                description: None,
                user_id: Some("ada".into()),
                tags: vec![Tag::new("v", version.to_string())],
                now: T0 + version,
            })
            .await
            .unwrap();
    }
    store
        .transition_model_version_stage("classifier", 2, Stage::Production, true, T0 + 5)
        .await
        .unwrap();
    store
        .set_registered_model_alias("classifier", "champion", 2, T0 + 6)
        .await
        .unwrap();
    store
        .create_registered_model_owned(
            "private-model",
            None,
            vec![],
            T0,
            ExperimentAccess {
                experiment_id: String::new(),
                team_id: Some(research.id),
                visibility: Visibility::Team,
                creator_id: Some(ada.id),
                shares: vec![],
            },
        )
        .await
        .unwrap();

    store
        .create_comment(Comment {
            id: 0,
            target: CommentTarget::Run(runs[0].clone()),
            author: Some("ada".into()),
            body: "looks good @bob".into(),
            mentions: vec!["bob".into()],
            created: T0,
            edited: None,
        })
        .await
        .unwrap();
    store
        .create_comment(Comment {
            id: 0,
            target: CommentTarget::Experiment(vision.clone()),
            author: None,
            body: "experiment note".into(),
            mentions: vec![],
            created: T0 + 1,
            edited: None,
        })
        .await
        .unwrap();
    store
        .create_annotation(Annotation {
            id: 0,
            run_id: runs[0].clone(),
            key: "acc".into(),
            step: 100,
            text: "lr drop".into(),
            author: Some("ada".into()),
            created: T0,
        })
        .await
        .unwrap();
    store
        .record_activity(vec![
            Activity {
                id: 0,
                run_id: runs[0].clone(),
                time: T0,
                user: Some("ada".into()),
                change: "created".into(),
            },
            Activity {
                id: 0,
                run_id: runs[0].clone(),
                time: T0 + 1,
                user: None,
                change: "status FINISHED".into(),
            },
        ])
        .await
        .unwrap();

    let alert = store
        .create_alert(AlertRule {
            id: 0,
            experiment_id: vision.clone(),
            name: "loss high".into(),
            condition: Condition::MetricAbove {
                key: "loss".into(),
                threshold: 2.5,
            },
            webhook_url: "http://127.0.0.1:9/hook".into(),
            format: Format::Slack,
            created: T0,
        })
        .await
        .unwrap();
    store
        .create_alert(AlertRule {
            id: 0,
            experiment_id: nlp.clone(),
            name: "silent".into(),
            condition: Condition::Silent { minutes: 5 },
            webhook_url: "http://127.0.0.1:9/hook".into(),
            format: Format::Json,
            created: T0,
        })
        .await
        .unwrap();
    store.mark_fired(alert.id, &runs[0], T0).await.unwrap();
    store
        .record_delivery(Delivery {
            id: 0,
            rule_id: alert.id,
            run_id: runs[0].clone(),
            event: "loss above 2.5".into(),
            attempt: 1,
            status: Some(500),
            error: Some("server error".into()),
            time: T0,
        })
        .await
        .unwrap();

    store
        .record_lineage(
            vec![
                Edge::new(
                    Node::new(NodeKind::Run, runs[0].clone()),
                    Relation::ForkedInto,
                    Node::new(NodeKind::Run, runs[1].clone()),
                ),
                Edge::new(
                    Node::new(NodeKind::Run, runs[1].clone()),
                    Relation::ReproducedAs,
                    Node::new(NodeKind::Run, runs[3].clone()),
                ),
            ],
            T0,
        )
        .await
        .unwrap();

    Filled {
        experiments: vec!["0".into(), vision, nlp, gone],
        runs,
        metric_keys: vec!["loss", "odd", "acc", "grad", "val_acc"],
        model_id,
        users: vec![ada.id, bob.id],
        teams: vec![research.id, guests.id, personal.id],
        alert: alert.id,
    }
}

/// A metric value as its bits, so that answers compare bit for bit (NaN included).
fn bits(values: impl IntoIterator<Item = f64>) -> Vec<String> {
    values
        .into_iter()
        .map(|v| format!("{:016x}", v.to_bits()))
        .collect()
}

/// What the store answers to a wide set of reads, each labelled.
async fn answers(store: &dyn Store, f: &Filled) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut say = |label: String, answer: String| out.push((label, answer));
    for id in &f.experiments {
        say(
            format!("experiment {id}"),
            format!("{:?}", store.get_experiment(id).await),
        );
        say(
            format!("keys {id}"),
            format!("{:?}", store.experiment_keys(id, 100).await),
        );
        say(
            format!("retention {id}"),
            format!("{:?}", store.retention(id).await),
        );
    }
    say(
        "experiment search".into(),
        format!(
            "{:?}",
            store
                .search_experiments(ExperimentSearch {
                    view: ViewType::All,
                    max_results: 100,
                    ..ExperimentSearch::default()
                })
                .await
                .map(|page| page.items)
        ),
    );
    say(
        "active run counts".into(),
        format!("{:?}", store.active_run_counts(&f.experiments).await),
    );
    for run_id in &f.runs {
        say(
            format!("run {run_id}"),
            format!("{:?}", store.get_run(run_id).await),
        );
        for key in &f.metric_keys {
            let history = store
                .history(HistoryRequest {
                    run_id: run_id.clone(),
                    key: key.to_string(),
                    max_results: 0,
                    page_token: None,
                })
                .await
                .unwrap();
            say(
                format!("history {run_id} {key}"),
                format!(
                    "{:?} {:?}",
                    history
                        .items
                        .iter()
                        .map(|m| (m.step, m.timestamp, &m.model_id, &m.dataset_name))
                        .collect::<Vec<_>>(),
                    bits(history.items.iter().map(|m| m.value))
                ),
            );
            let points = store.points(run_id, key, None, None).await.unwrap();
            say(
                format!("points {run_id} {key}"),
                format!(
                    "{} {:?} {:?}",
                    points.thinned,
                    points
                        .points
                        .iter()
                        .map(|p| (p.step, p.timestamp))
                        .collect::<Vec<_>>(),
                    bits(points.points.iter().map(|p| p.value))
                ),
            );
        }
    }
    for filter in [
        "",
        "metrics.loss < 0.6",
        "params.lr = '1'",
        "tags.stage = 'eval'",
    ] {
        let search = RunSearch {
            experiment_ids: f.experiments.clone(),
            filter: cairn_core::filter::parse_run_filter(filter).unwrap(),
            order_by: cairn_core::filter::parse_run_order_by(&["metrics.loss ASC".into()]).unwrap(),
            view: ViewType::All,
            max_results: 100,
            ..RunSearch::default()
        };
        say(
            format!("run search '{filter}'"),
            format!(
                "{:?}",
                store
                    .search_runs(search.clone())
                    .await
                    .map(|page| page.items)
            ),
        );
        say(
            format!("run count '{filter}'"),
            format!("{:?}", store.count_runs(search).await),
        );
    }
    say(
        "summaries".into(),
        format!("{:?}", store.summaries(f.runs.clone(), vec![]).await),
    );
    say(
        "series".into(),
        format!(
            "{:?}",
            store
                .series(SeriesRequest {
                    run_ids: f.runs.clone(),
                    key: "acc".into(),
                    x: XAxis::Step,
                    buckets: 50,
                    from: None,
                    to: None,
                })
                .await
        ),
    );
    say(
        "logged model".into(),
        format!("{:?}", store.get_logged_model(&f.model_id).await),
    );
    say(
        "logged model search".into(),
        format!(
            "{:?}",
            store
                .search_logged_models(LoggedModelSearch {
                    experiment_ids: f.experiments.clone(),
                    max_results: 100,
                    ..LoggedModelSearch::default()
                })
                .await
                .map(|page| page.items)
        ),
    );
    say(
        "artifact root".into(),
        format!("{:?}", store.list_artifacts("").await),
    );
    say(
        "artifact walk".into(),
        format!("{:?}", store.walk_artifacts("", None, 100).await),
    );
    for n in 0..3 {
        say(
            format!("blob {n}"),
            format!("{:?}", store.blob_info(&digest(n)).await),
        );
    }
    say(
        "upload".into(),
        format!("{:?}", store.get_upload("upload-1").await),
    );
    say(
        "upload parts".into(),
        format!("{:?}", store.upload_parts("upload-1").await),
    );
    say(
        "registered model".into(),
        format!("{:?}", store.get_registered_model("classifier").await),
    );
    say(
        "registered model search".into(),
        format!(
            "{:?}",
            store
                .search_registered_models(RegisteredModelSearch {
                    max_results: 100,
                    ..RegisteredModelSearch::default()
                })
                .await
                .map(|page| page.items)
        ),
    );
    say(
        "model version search".into(),
        format!(
            "{:?}",
            store
                .search_model_versions(ModelVersionSearch {
                    max_results: 100,
                    ..ModelVersionSearch::default()
                })
                .await
                .map(|page| page.items)
        ),
    );
    say(
        "alias".into(),
        format!(
            "{:?}",
            store
                .get_model_version_by_alias("classifier", "champion")
                .await
        ),
    );
    say(
        "latest versions".into(),
        format!("{:?}", store.latest_versions("classifier", vec![]).await),
    );
    say(
        "model access".into(),
        format!("{:?}", store.registered_model_access("private-model").await),
    );
    say("users".into(), format!("{:?}", store.list_users().await));
    say(
        "user bob".into(),
        format!("{:?}", store.user_by_name("bob").await),
    );
    for user in &f.users {
        say(
            format!("tokens {user}"),
            format!("{:?}", store.list_tokens(*user).await),
        );
        say(
            format!("teams {user}"),
            format!("{:?}", store.list_teams(*user, true).await),
        );
    }
    say(
        "token".into(),
        format!("{:?}", store.token_by_hash("hash-laptop").await),
    );
    say(
        "session".into(),
        format!("{:?}", store.session_by_hash("session-hash", T0).await),
    );
    say(
        "audit".into(),
        format!(
            "{:?}",
            store
                .search_audit(AuditQuery {
                    limit: 100,
                    ..AuditQuery::default()
                })
                .await
        ),
    );
    for team in &f.teams {
        say(
            format!("members {team}"),
            format!("{:?}", store.team_members(*team).await),
        );
    }
    say(
        "experiment access".into(),
        format!("{:?}", store.experiment_access(&f.experiments).await),
    );
    say(
        "run comments".into(),
        format!(
            "{:?}",
            store
                .list_comments(CommentTarget::Run(f.runs[0].clone()))
                .await
        ),
    );
    say(
        "experiment comments".into(),
        format!(
            "{:?}",
            store
                .list_comments(CommentTarget::Experiment(f.experiments[1].clone()))
                .await
        ),
    );
    say(
        "mentions".into(),
        format!("{:?}", store.comments_mentioning("bob", None, 10).await),
    );
    say(
        "annotations".into(),
        format!("{:?}", store.list_annotations(&f.runs[0]).await),
    );
    say(
        "activity".into(),
        format!("{:?}", store.list_activity(&f.runs[0], 10).await),
    );
    say(
        "alerts".into(),
        format!("{:?}", store.list_alerts(None).await),
    );
    say(
        "deliveries".into(),
        format!("{:?}", store.list_deliveries(f.alert, 10).await),
    );
    let nodes: Vec<Node> = f
        .runs
        .iter()
        .map(|r| Node::new(NodeKind::Run, r.clone()))
        .chain([Node::new(NodeKind::Model, f.model_id.clone())])
        .collect();
    say(
        "lineage".into(),
        format!(
            "{:?}",
            store
                .lineage_edges(nodes.clone(), Direction::Both, 100)
                .await
        ),
    );
    say(
        "nodes".into(),
        format!("{:?}", store.describe_nodes(nodes).await),
    );
    out
}

fn assert_same(expected: &[(String, String)], found: &[(String, String)]) {
    assert_eq!(expected.len(), found.len());
    for ((label, want), (_, got)) in expected.iter().zip(found) {
        assert_eq!(got, want, "{label}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_embedded_store_moves_to_postgres_whole_and_verified() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cairn.db");
    let sqlite = SqliteStore::open(&path).unwrap();
    let filled = fill(&sqlite).await;
    let expected = answers(&sqlite, &filled).await;
    drop(sqlite);

    let url = fresh_database().await;
    let events = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = std::sync::Arc::clone(&events);
    let report = migrate::migrate(&path, &url, move |event| {
        let line = match event {
            Progress::Copied { table, rows } => format!("copied {table} {rows}"),
            Progress::Verified { table, rows, ok } => format!("verified {table} {rows} {ok}"),
            _ => return,
        };
        seen.lock().unwrap().push(line);
    })
    .await
    .unwrap();
    let names: Vec<&str> = report.tables.iter().map(|t| t.name.as_str()).collect();
    for table in [
        "experiments",
        "runs",
        "metric_chunks",
        "metric_raw",
        "users",
        "run_activity",
    ] {
        assert!(names.contains(&table), "{table} in {names:?}");
    }
    assert!(
        names.iter().position(|t| *t == "runs") < names.iter().position(|t| *t == "params"),
        "{names:?}"
    );
    assert!(report.metric_bytes > 0);
    let chunks = report.tables.iter().find(|t| t.name == "metric_chunks");
    assert!(chunks.is_some_and(|t| t.rows > 0), "{chunks:?}");
    assert_eq!(
        report.rows,
        report.tables.iter().map(|t| t.rows).sum::<u64>()
    );
    let events = events.lock().unwrap().clone();
    for table in &report.tables {
        assert!(
            events.contains(&format!("verified {} {} true", table.name, table.rows)),
            "{table:?} in {events:?}"
        );
    }

    let pg = PgStore::connect_with(&url, 4).await.unwrap();
    let found = answers(&pg, &filled).await;
    assert_same(&expected, &found);

    // New writes get new ids, past every copied one.
    let experiment = pg
        .create_experiment(
            NewExperiment {
                name: "after the move".into(),
                artifact_location: None,
                tags: vec![],
                creation_time: T0,
                access: None,
            },
            ArtifactLocation::UnderRoot("mlflow-artifacts:/".into()),
        )
        .await
        .unwrap();
    assert_eq!(experiment, "4");
    let carol = pg
        .create_user(NewUser {
            username: "carol".into(),
            password_hash: "x".into(),
            is_admin: false,
            now: T0,
        })
        .await
        .unwrap();
    assert!(filled.users.iter().all(|id| carol.id > *id));
    let comment = pg
        .create_comment(Comment {
            id: 0,
            target: CommentTarget::Run(filled.runs[0].clone()),
            author: Some("carol".into()),
            body: "new".into(),
            mentions: vec![],
            created: T0 + 9,
            edited: None,
        })
        .await
        .unwrap();
    assert_eq!(
        pg.list_comments(CommentTarget::Run(filled.runs[0].clone()))
            .await
            .unwrap()
            .last(),
        Some(&comment)
    );
    pg.append_audit(vec![AuditEntry {
        id: 0,
        time: T0 + 100,
        username: None,
        action: "after".into(),
        target: "t".into(),
        status: 200,
        source: None,
        user_agent: None,
    }])
    .await
    .unwrap();
    let audit = pg
        .search_audit(AuditQuery {
            limit: 100,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(audit.len(), 6);
    assert_eq!(audit[0].action, "after");
    assert!(audit[0].id > audit[1].id);
    let run = pg
        .create_run(NewRun {
            run_id: cairn_core::ids::new_run_id(),
            experiment_id: filled.experiments[1].clone(),
            run_name: "after".into(),
            user_id: "carol".into(),
            start_time: T0,
            artifact_uri: "a".into(),
            tags: vec![],
            created: None,
        })
        .await
        .unwrap();
    pg.log_batch(
        &run.info.run_id,
        vec![Metric::new("loss", 0.5, T0, 0)],
        vec![Param::new("lr", "1")],
        vec![],
    )
    .await
    .unwrap();
    pg.record_activity(vec![Activity {
        id: 0,
        run_id: run.info.run_id.clone(),
        time: T0,
        user: Some("carol".into()),
        change: "created".into(),
    }])
    .await
    .unwrap();

    // A second copy into the now filled database is refused and changes nothing.
    let error = migrate::migrate(&path, &url, |_| {}).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidArgument, "{error}");
    let message = error.to_string();
    assert!(
        message.contains("not empty") && message.contains("runs (5 rows)"),
        "{message}"
    );
    assert_eq!(
        pg.get_run(&run.info.run_id).await.unwrap().info.run_name,
        "after"
    );
    let still = answers(&pg, &filled).await;
    assert_eq!(still.len(), found.len());
    for ((label, before), (_, after)) in found.iter().zip(&still) {
        let copied_run = filled.runs.iter().any(|r| *label == format!("run {r}"));
        if copied_run || label.starts_with("history") || label.starts_with("points") {
            assert_eq!(after, before, "{label}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_source_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_database().await;
    let error = migrate::migrate(&dir.path().join("cairn.db"), &url, |_| {})
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::NotFound);
    assert!(
        error.to_string().contains("no Cairn database at"),
        "{error}"
    );
    assert!(!dir.path().join("cairn.db").exists(), "nothing was created");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_postgres_cannot_hold_rolls_everything_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cairn.db");
    let sqlite = SqliteStore::open(&path).unwrap();
    let filled = fill(&sqlite).await;
    drop(sqlite);
    // A NUL character: SQLite keeps it, PostgreSQL's text cannot.
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute(
            "UPDATE params SET value = 'a' || char(0) || 'b' WHERE key = 'lr'",
            [],
        )
        .unwrap();
    }
    let url = fresh_database().await;
    let error = migrate::migrate(&path, &url, |_| {}).await.unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("params.value") && message.contains("NUL"),
        "{message}"
    );

    // Nothing stayed: the target still holds only its Default experiment, and takes a good copy.
    let pg = PgStore::connect_with(&url, 2).await.unwrap();
    let experiments = pg
        .search_experiments(ExperimentSearch {
            view: ViewType::All,
            max_results: 100,
            ..ExperimentSearch::default()
        })
        .await
        .unwrap()
        .items;
    assert_eq!(experiments.len(), 1);
    assert_eq!(experiments[0].experiment_id, "0");
    assert!(pg.list_users().await.unwrap().is_empty());
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute("UPDATE params SET value = '1' WHERE key = 'lr'", [])
            .unwrap();
    }
    migrate::migrate(&path, &url, |_| {}).await.unwrap();
    assert_eq!(pg.get_run(&filled.runs[0]).await.unwrap().params.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_target_is_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cairn.db");
    drop(SqliteStore::open(&path).unwrap());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let error = migrate::migrate(
        &path,
        &format!("postgres://postgres@127.0.0.1:{port}/none"),
        |_| {},
    )
    .await
    .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Unavailable, "{error}");
    let error = migrate::migrate(&path, "postgres://[bad", |_| {})
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidArgument, "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_that_reads_back_differently_is_not_committed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cairn.db");
    let sqlite = SqliteStore::open(&path).unwrap();
    fill(&sqlite).await;
    drop(sqlite);
    let url = fresh_database().await;
    drop(PgStore::connect_with(&url, 2).await.unwrap());
    // A trigger that changes params as they land: verification must catch it.
    let setup = url.clone();
    tokio::task::spawn_blocking(move || {
        let mut client = postgres::Client::connect(&setup, postgres::NoTls).unwrap();
        client
            .batch_execute(
                "CREATE FUNCTION tamper() RETURNS trigger LANGUAGE plpgsql AS
                   $$ BEGIN NEW.value := NEW.value || '!'; RETURN NEW; END $$;
                 CREATE TRIGGER tamper BEFORE INSERT ON params
                   FOR EACH ROW EXECUTE FUNCTION tamper();",
            )
            .unwrap();
    })
    .await
    .unwrap();

    let verdicts = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = std::sync::Arc::clone(&verdicts);
    let error = migrate::migrate(&path, &url, move |event| {
        if let Progress::Verified { table, ok, .. } = event {
            seen.lock().unwrap().push((table.to_string(), ok));
        }
    })
    .await
    .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Internal);
    let message = error.to_string();
    assert!(
        message.contains("verification failed for params")
            && message.contains("nothing was committed"),
        "{message}"
    );
    let verdicts = verdicts.lock().unwrap().clone();
    assert!(
        verdicts.contains(&("params".to_string(), false)),
        "{verdicts:?}"
    );
    assert!(
        verdicts.contains(&("runs".to_string(), true)),
        "{verdicts:?}"
    );

    let pg = PgStore::connect_with(&url, 2).await.unwrap();
    assert!(pg.list_users().await.unwrap().is_empty());
    assert_eq!(
        pg.get_experiment("0").await.unwrap().name,
        "Default",
        "the target's own Default experiment is back"
    );
}
