//! Conformance checks of the lineage graph: edges derived from inputs, outputs, tags, the
//! artifact manifest and the registry, recorded edges, and node labels.

use cairn_core::ids::new_model_id;
use cairn_core::lineage::{
    Direction, Edge, FORKED_FROM_TAG, GIT_COMMIT_TAG, Node, NodeKind, PARENT_RUN_TAG,
    REPRODUCES_TAG, Relation,
};
use cairn_core::model::{Dataset, DatasetInput, ModelInput, NewLoggedModel, Tag};
use cairn_core::registry::NewModelVersion;

use super::{T0, experiment, run};
use crate::{ManifestEntry, Store};

fn dataset(name: &str, digest: &str) -> DatasetInput {
    DatasetInput {
        tags: vec![],
        dataset: Dataset {
            name: name.into(),
            digest: digest.into(),
            source_type: "local".into(),
            source: "{}".into(),
            schema: None,
            profile: None,
        },
    }
}

async fn edges(store: &dyn Store, node: &Node, direction: Direction) -> Vec<Edge> {
    store
        .lineage_edges(vec![node.clone()], direction, 100)
        .await
        .unwrap()
}

/// A small graph: `train@d1 → trainer → model → fraud/1`, `trainer` at commit `c1`, child of
/// `parent`, storing `weights.bin`, which `evaluator` used (recorded) together with the model.
pub async fn lineage_derived_and_recorded_edges(store: &dyn Store) {
    let exp = experiment(store, "lineage").await;
    let parent = run(store, &exp).await;
    let trainer = run(store, &exp).await;
    let evaluator = run(store, &exp).await;
    store
        .log_inputs(&trainer, vec![dataset("train", "d1")], vec![])
        .await
        .unwrap();
    store
        .log_batch(
            &trainer,
            vec![],
            vec![],
            vec![
                Tag::new(PARENT_RUN_TAG, parent.clone()),
                Tag::new(GIT_COMMIT_TAG, "c1"),
            ],
        )
        .await
        .unwrap();
    let model_id = new_model_id();
    store
        .create_logged_model(NewLoggedModel {
            model_id: model_id.clone(),
            experiment_id: exp.clone(),
            name: "clf".into(),
            artifact_location: format!("mlflow-artifacts:/{exp}/models/{model_id}/artifacts"),
            creation_timestamp: T0,
            model_type: None,
            source_run_id: Some(trainer.clone()),
            tags: vec![],
            params: vec![],
        })
        .await
        .unwrap();
    store
        .log_inputs(
            &evaluator,
            vec![],
            vec![ModelInput {
                model_id: model_id.clone(),
            }],
        )
        .await
        .unwrap();
    store
        .create_registered_model("fraud", None, vec![], T0)
        .await
        .unwrap();
    store
        .create_model_version(NewModelVersion {
            name: "fraud".into(),
            source: format!("models:/{model_id}"),
            storage_location: String::new(),
            model_id: Some(model_id.clone()),
            run_id: Some(trainer.clone()),
            now: T0,
            ..NewModelVersion::default()
        })
        .await
        .unwrap();
    let weights = format!("blake3:{:064x}", 7);
    for path in [
        format!("{exp}/{trainer}/artifacts/weights.bin"),
        format!("{exp}/{trainer}/artifacts/copy/weights.bin"),
        format!("{exp}/models/{model_id}/artifacts/weights.bin"),
    ] {
        store
            .put_artifact(
                ManifestEntry {
                    path,
                    digest: weights.clone(),
                    size: 10,
                    content_type: "application/octet-stream".into(),
                    created: T0,
                },
                None,
            )
            .await
            .unwrap();
    }
    let file = Node::new(NodeKind::Artifact, weights.clone());
    store
        .record_lineage(
            vec![Edge::new(
                file.clone(),
                Relation::Input,
                Node::run(&evaluator),
            )],
            T0,
        )
        .await
        .unwrap();
    // Recording twice changes nothing.
    store
        .record_lineage(
            vec![Edge::new(
                file.clone(),
                Relation::Input,
                Node::run(&evaluator),
            )],
            T0,
        )
        .await
        .unwrap();

    let model = Node::new(NodeKind::Model, model_id.clone());
    let version = Node::new(NodeKind::ModelVersion, "fraud/1");
    let trainer_node = Node::run(&trainer);
    assert_eq!(
        edges(store, &trainer_node, Direction::Upstream).await,
        vec![
            Edge::new(Node::run(&parent), Relation::ParentOf, trainer_node.clone()),
            Edge::new(
                Node::dataset("train", "d1"),
                Relation::Input,
                trainer_node.clone()
            ),
            Edge::new(
                Node::new(NodeKind::Commit, "c1"),
                Relation::CodeOf,
                trainer_node.clone()
            ),
        ]
    );
    assert_eq!(
        edges(store, &trainer_node, Direction::Downstream).await,
        vec![
            Edge::new(trainer_node.clone(), Relation::Output, model.clone()),
            Edge::new(trainer_node.clone(), Relation::Output, file.clone()),
        ],
        "a file stored twice is one node; a version registering a model hangs off the model"
    );
    assert_eq!(
        edges(store, &model, Direction::Both).await,
        vec![
            Edge::new(trainer_node.clone(), Relation::Output, model.clone()),
            Edge::new(model.clone(), Relation::Input, Node::run(&evaluator)),
            Edge::new(model.clone(), Relation::RegisteredAs, version.clone()),
            Edge::new(model.clone(), Relation::Output, file.clone()),
        ]
    );
    assert_eq!(
        edges(store, &version, Direction::Upstream).await,
        vec![Edge::new(
            model.clone(),
            Relation::RegisteredAs,
            version.clone()
        )]
    );
    assert_eq!(
        edges(store, &Node::dataset("train", "d1"), Direction::Downstream).await,
        vec![Edge::new(
            Node::dataset("train", "d1"),
            Relation::Input,
            trainer_node.clone()
        )]
    );
    assert_eq!(
        edges(
            store,
            &Node::new(NodeKind::Commit, "c1"),
            Direction::Downstream
        )
        .await,
        vec![Edge::new(
            Node::new(NodeKind::Commit, "c1"),
            Relation::CodeOf,
            trainer_node.clone()
        )]
    );
    assert_eq!(
        edges(store, &Node::run(&parent), Direction::Downstream).await,
        vec![Edge::new(
            Node::run(&parent),
            Relation::ParentOf,
            trainer_node.clone()
        )]
    );
    // The file: produced by the trainer and the model's folder, used by the evaluator.
    assert_eq!(
        edges(store, &file, Direction::Both).await,
        vec![
            Edge::new(trainer_node.clone(), Relation::Output, file.clone()),
            Edge::new(model.clone(), Relation::Output, file.clone()),
            Edge::new(file.clone(), Relation::Input, Node::run(&evaluator)),
        ]
    );
    // Forks and reproductions are tags on the new run.
    let fork = run(store, &exp).await;
    let again = run(store, &exp).await;
    store
        .log_batch(
            &fork,
            vec![],
            vec![],
            vec![Tag::new(FORKED_FROM_TAG, trainer.clone())],
        )
        .await
        .unwrap();
    store
        .log_batch(
            &again,
            vec![],
            vec![],
            vec![Tag::new(REPRODUCES_TAG, trainer.clone())],
        )
        .await
        .unwrap();
    let runs_after: Vec<Edge> = edges(store, &trainer_node, Direction::Downstream)
        .await
        .into_iter()
        .filter(|edge| edge.to.kind == NodeKind::Run)
        .collect();
    let mut expected = vec![
        Edge::new(trainer_node.clone(), Relation::ForkedInto, Node::run(&fork)),
        Edge::new(
            trainer_node.clone(),
            Relation::ReproducedAs,
            Node::run(&again),
        ),
    ];
    expected.sort();
    assert_eq!(runs_after, expected);
    assert_eq!(
        edges(store, &Node::run(&fork), Direction::Upstream).await,
        vec![Edge::new(
            trainer_node.clone(),
            Relation::ForkedInto,
            Node::run(&fork)
        )]
    );
    assert!(
        edges(store, &Node::run("0".repeat(32)), Direction::Both)
            .await
            .is_empty()
    );

    let described = store
        .describe_nodes(vec![
            trainer_node.clone(),
            model.clone(),
            file.clone(),
            version.clone(),
            Node::dataset("train", "d1"),
            Node::new(NodeKind::Commit, "0123456789abcdef"),
        ])
        .await
        .unwrap();
    let labels: Vec<&str> = described.iter().map(|info| info.label.as_str()).collect();
    assert_eq!(
        labels,
        vec![
            "run",
            "clf",
            "weights.bin",
            "fraud v1",
            "train",
            "0123456789ab"
        ]
    );
    assert_eq!(described[0].experiment_id.as_deref(), Some(exp.as_str()));
    assert_eq!(described[1].experiment_id.as_deref(), Some(exp.as_str()));
}
