//! Conformance checks of the model registry: names, version numbering, stages, aliases, tags,
//! rename and delete carrying everything along, and both searches with their paging.

use cairn_core::filter::ast::{
    ModelVersionClause, ModelVersionFilter, ModelVersionOrderBy, ModelVersionOrderKey, NumOp,
    RegisteredModelClause, RegisteredModelFilter, RegisteredModelOrderBy, RegisteredModelOrderKey,
    StringOp, StringPredicate, VersionStringAttribute,
};
use cairn_core::model::Tag;
use cairn_core::registry::{ModelVersion, NewModelVersion, PROMPT_TAG, Stage};

use super::{T0, assert_kind};
use crate::{ErrorKind, ModelVersionSearch, RegisteredModelSearch, Store};

fn tag(key: &str, value: &str) -> Tag {
    Tag {
        key: key.into(),
        value: value.into(),
    }
}

fn new_version(name: &str, run_id: Option<&str>, now: i64) -> NewModelVersion {
    NewModelVersion {
        name: name.into(),
        source: format!("models:/m-{now}"),
        storage_location: format!("mlflow-artifacts:/1/models/m-{now}/artifacts"),
        run_id: run_id.map(str::to_string),
        model_id: Some(format!("m-{now}")),
        now,
        ..NewModelVersion::default()
    }
}

async fn versions_of(store: &dyn Store, filter: ModelVersionFilter) -> Vec<(String, i64)> {
    let page = store
        .search_model_versions(ModelVersionSearch {
            filter,
            ..ModelVersionSearch::default()
        })
        .await
        .unwrap();
    page.items
        .into_iter()
        .map(|version| (version.name, version.version))
        .collect()
}

fn named(name: &str) -> ModelVersionFilter {
    ModelVersionFilter {
        clauses: vec![ModelVersionClause::StringAttribute {
            attribute: VersionStringAttribute::Name,
            predicate: StringPredicate::Compare(StringOp::Eq, name.into()),
        }],
    }
}

/// Create, get, update, rename and delete a registered model; names are unique.
pub async fn registry_models_lifecycle(store: &dyn Store) {
    let model = store
        .create_registered_model("fraud", Some("first".into()), vec![tag("team", "risk")], T0)
        .await
        .unwrap();
    assert_eq!(model.name, "fraud");
    assert_eq!(model.description.as_deref(), Some("first"));
    assert_eq!(model.tags, vec![tag("team", "risk")]);
    assert_eq!(
        (model.creation_timestamp, model.last_updated_timestamp),
        (T0, T0)
    );
    let message = assert_kind(
        store
            .create_registered_model("fraud", None, vec![], T0)
            .await,
        ErrorKind::AlreadyExists,
        "duplicate name",
    );
    assert!(message.contains("fraud"), "{message}");
    assert_kind(
        store.get_registered_model("nope").await,
        ErrorKind::NotFound,
        "unknown model",
    );

    let updated = store
        .update_registered_model("fraud", Some("second".into()), T0 + 1)
        .await
        .unwrap();
    assert_eq!(updated.description.as_deref(), Some("second"));
    assert_eq!(updated.last_updated_timestamp, T0 + 1);

    store
        .create_model_version(new_version("fraud", Some("r1"), T0 + 2))
        .await
        .unwrap();
    store
        .set_registered_model_alias("fraud", "champion", 1, T0 + 3)
        .await
        .unwrap();
    store
        .create_registered_model("other", None, vec![], T0)
        .await
        .unwrap();
    assert_kind(
        store
            .rename_registered_model("fraud", "other", T0 + 4)
            .await,
        ErrorKind::AlreadyExists,
        "rename onto a taken name",
    );
    let renamed = store
        .rename_registered_model("fraud", "fraud-v2", T0 + 4)
        .await
        .unwrap();
    assert_eq!(renamed.name, "fraud-v2");
    assert_eq!(renamed.tags, vec![tag("team", "risk")]);
    assert_eq!(renamed.aliases.len(), 1);
    assert_kind(
        store.get_registered_model("fraud").await,
        ErrorKind::NotFound,
        "old name after rename",
    );
    let version = store.get_model_version("fraud-v2", 1).await.unwrap();
    assert_eq!(version.name, "fraud-v2");
    assert_eq!(version.aliases, vec!["champion".to_string()]);
    assert_eq!(
        store
            .get_model_version_by_alias("fraud-v2", "champion")
            .await
            .unwrap()
            .version,
        1
    );

    store.delete_registered_model("fraud-v2").await.unwrap();
    assert_kind(
        store.get_registered_model("fraud-v2").await,
        ErrorKind::NotFound,
        "deleted model",
    );
    assert_kind(
        store.get_model_version("fraud-v2", 1).await,
        ErrorKind::NotFound,
        "version of a deleted model",
    );
    assert!(versions_of(store, named("fraud-v2")).await.is_empty());
    // The name is free again, and numbering starts over with the new model.
    store
        .create_registered_model("fraud-v2", None, vec![], T0 + 5)
        .await
        .unwrap();
    let first = store
        .create_model_version(new_version("fraud-v2", None, T0 + 6))
        .await
        .unwrap();
    assert_eq!(first.version, 1);
    assert!(first.aliases.is_empty());
}

/// Versions number 1, 2, 3…; a deleted number is not reused; versions keep what they were
/// created with; descriptions, tags and deletes need the version to exist.
pub async fn registry_versions(store: &dyn Store) {
    assert_kind(
        store
            .create_model_version(new_version("ghost", None, T0))
            .await,
        ErrorKind::NotFound,
        "version of an unknown model",
    );
    store
        .create_registered_model("m", None, vec![], T0)
        .await
        .unwrap();
    let mut created: Vec<ModelVersion> = Vec::new();
    for index in 0..3 {
        let mut new = new_version("m", Some(&format!("run-{index}")), T0 + index);
        new.tags = vec![tag("k", &index.to_string())];
        new.description = Some(format!("v{index}"));
        new.run_link = Some("http://127.0.0.1/run".into());
        new.user_id = Some("ada".into());
        created.push(store.create_model_version(new).await.unwrap());
    }
    assert_eq!(
        created.iter().map(|v| v.version).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    let second = store.get_model_version("m", 2).await.unwrap();
    assert_eq!(second, created[1]);
    assert_eq!(second.current_stage, Stage::None);
    assert_eq!(second.run_id.as_deref(), Some("run-1"));
    assert_eq!(second.model_id.as_deref(), Some("m-1700000000001"));
    assert_eq!(
        second.storage_location,
        "mlflow-artifacts:/1/models/m-1700000000001/artifacts"
    );
    assert_eq!(second.user_id.as_deref(), Some("ada"));
    assert_eq!(second.tags, vec![tag("k", "1")]);
    // Creating a version updates the model.
    assert_eq!(
        store
            .get_registered_model("m")
            .await
            .unwrap()
            .last_updated_timestamp,
        T0 + 2
    );

    store.delete_model_version("m", 3, T0 + 10).await.unwrap();
    assert_kind(
        store.get_model_version("m", 3).await,
        ErrorKind::NotFound,
        "deleted version",
    );
    assert_kind(
        store.delete_model_version("m", 3, T0 + 10).await,
        ErrorKind::NotFound,
        "deleting twice",
    );
    let fourth = store
        .create_model_version(new_version("m", None, T0 + 11))
        .await
        .unwrap();
    assert_eq!(
        fourth.version, 4,
        "a deleted version's number is not reused"
    );

    let updated = store
        .update_model_version("m", 1, Some("better".into()), T0 + 12)
        .await
        .unwrap();
    assert_eq!(updated.description.as_deref(), Some("better"));
    assert_eq!(updated.last_updated_timestamp, T0 + 12);
    let cleared = store
        .update_model_version("m", 1, None, T0 + 13)
        .await
        .unwrap();
    assert_eq!(cleared.description, None);
    assert_kind(
        store.update_model_version("m", 9, None, T0).await,
        ErrorKind::NotFound,
        "update of an unknown version",
    );

    store
        .set_model_version_tag("m", 1, tag("k", "new"), T0 + 14)
        .await
        .unwrap();
    store
        .set_model_version_tag("m", 1, tag("other", "x"), T0 + 14)
        .await
        .unwrap();
    assert_eq!(
        store.get_model_version("m", 1).await.unwrap().tags,
        vec![tag("k", "new"), tag("other", "x")]
    );
    store
        .delete_model_version_tag("m", 1, "other", T0 + 15)
        .await
        .unwrap();
    store
        .delete_model_version_tag("m", 1, "absent", T0 + 15)
        .await
        .unwrap();
    assert_eq!(
        store.get_model_version("m", 1).await.unwrap().tags,
        vec![tag("k", "new")]
    );
    assert_kind(
        store.set_model_version_tag("m", 9, tag("k", "v"), T0).await,
        ErrorKind::NotFound,
        "tag on an unknown version",
    );

    store
        .set_registered_model_tag("m", tag("a", "1"), T0 + 16)
        .await
        .unwrap();
    store
        .set_registered_model_tag("m", tag("a", "2"), T0 + 16)
        .await
        .unwrap();
    store
        .delete_registered_model_tag("m", "absent", T0 + 17)
        .await
        .unwrap();
    assert_eq!(
        store.get_registered_model("m").await.unwrap().tags,
        vec![tag("a", "2")]
    );
    store
        .delete_registered_model_tag("m", "a", T0 + 17)
        .await
        .unwrap();
    assert!(
        store
            .get_registered_model("m")
            .await
            .unwrap()
            .tags
            .is_empty()
    );
}

/// Stages: transitions, archiving the others, and the latest version of each stage.
pub async fn registry_stages_and_latest_versions(store: &dyn Store) {
    store
        .create_registered_model("s", None, vec![], T0)
        .await
        .unwrap();
    for index in 0..4 {
        store
            .create_model_version(new_version("s", None, T0 + index))
            .await
            .unwrap();
    }
    let moved = store
        .transition_model_version_stage("s", 1, Stage::Production, false, T0 + 10)
        .await
        .unwrap();
    assert_eq!(moved.current_stage, Stage::Production);
    assert_eq!(moved.last_updated_timestamp, T0 + 10);
    store
        .transition_model_version_stage("s", 2, Stage::Production, false, T0 + 11)
        .await
        .unwrap();
    store
        .transition_model_version_stage("s", 3, Stage::Staging, false, T0 + 12)
        .await
        .unwrap();

    let latest = store.latest_versions("s", vec![]).await.unwrap();
    let pairs: Vec<(Stage, i64)> = latest
        .iter()
        .map(|version| (version.current_stage, version.version))
        .collect();
    assert_eq!(
        pairs,
        vec![
            (Stage::None, 4),
            (Stage::Staging, 3),
            (Stage::Production, 2)
        ]
    );
    let production = store
        .latest_versions("s", vec![Stage::Production])
        .await
        .unwrap();
    assert_eq!(production.len(), 1);
    assert_eq!(production[0].version, 2);
    assert!(
        store
            .latest_versions("s", vec![Stage::Archived])
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .get_registered_model("s")
            .await
            .unwrap()
            .latest_versions
            .len(),
        3
    );

    // Promoting 4 to Production with archiving moves 1 and 2 to Archived, and nothing else.
    store
        .transition_model_version_stage("s", 4, Stage::Production, true, T0 + 13)
        .await
        .unwrap();
    let stages: Vec<Stage> = {
        let mut stages = Vec::new();
        for version in 1..=4 {
            stages.push(
                store
                    .get_model_version("s", version)
                    .await
                    .unwrap()
                    .current_stage,
            );
        }
        stages
    };
    assert_eq!(
        stages,
        vec![
            Stage::Archived,
            Stage::Archived,
            Stage::Staging,
            Stage::Production
        ]
    );
    assert_kind(
        store
            .transition_model_version_stage("s", 7, Stage::Staging, false, T0)
            .await,
        ErrorKind::NotFound,
        "unknown version",
    );
    assert_kind(
        store.latest_versions("nope", vec![]).await,
        ErrorKind::NotFound,
        "latest versions of an unknown model",
    );
}

/// Aliases name one version, move when set again, and go away with their version.
pub async fn registry_aliases(store: &dyn Store) {
    store
        .create_registered_model("a", None, vec![], T0)
        .await
        .unwrap();
    for index in 0..3 {
        store
            .create_model_version(new_version("a", None, T0 + index))
            .await
            .unwrap();
    }
    assert_kind(
        store
            .set_registered_model_alias("a", "champion", 9, T0)
            .await,
        ErrorKind::NotFound,
        "alias to an unknown version",
    );
    store
        .set_registered_model_alias("a", "champion", 1, T0 + 5)
        .await
        .unwrap();
    store
        .set_registered_model_alias("a", "challenger", 2, T0 + 5)
        .await
        .unwrap();
    store
        .set_registered_model_alias("a", "champion", 2, T0 + 6)
        .await
        .unwrap();
    let two = store.get_model_version("a", 2).await.unwrap();
    assert_eq!(
        two.aliases,
        vec!["challenger".to_string(), "champion".to_string()]
    );
    assert!(
        store
            .get_model_version("a", 1)
            .await
            .unwrap()
            .aliases
            .is_empty()
    );
    let model = store.get_registered_model("a").await.unwrap();
    let aliases: Vec<(String, i64)> = model
        .aliases
        .iter()
        .map(|alias| (alias.alias.clone(), alias.version))
        .collect();
    assert_eq!(
        aliases,
        vec![("challenger".to_string(), 2), ("champion".to_string(), 2)]
    );
    assert_eq!(
        store
            .get_model_version_by_alias("a", "champion")
            .await
            .unwrap()
            .version,
        2
    );
    assert_kind(
        store.get_model_version_by_alias("a", "nope").await,
        ErrorKind::InvalidArgument,
        "unknown alias",
    );

    store
        .delete_registered_model_alias("a", "challenger", T0 + 7)
        .await
        .unwrap();
    store
        .delete_registered_model_alias("a", "challenger", T0 + 7)
        .await
        .unwrap();
    assert_kind(
        store.get_model_version_by_alias("a", "challenger").await,
        ErrorKind::InvalidArgument,
        "deleted alias",
    );
    // Deleting the version takes its aliases with it.
    store.delete_model_version("a", 2, T0 + 8).await.unwrap();
    assert_kind(
        store.get_model_version_by_alias("a", "champion").await,
        ErrorKind::InvalidArgument,
        "alias of a deleted version",
    );
    assert!(
        store
            .get_registered_model("a")
            .await
            .unwrap()
            .aliases
            .is_empty()
    );
}

/// Both searches: filters, order, default order, paging with tokens.
pub async fn registry_search(store: &dyn Store) {
    for (index, name) in ["beta", "alpha", "Gamma", "delta"].iter().enumerate() {
        let tags = if index % 2 == 0 {
            vec![tag("team", "risk")]
        } else {
            vec![tag("team", "growth")]
        };
        store
            .create_registered_model(name, None, tags, T0 + index as i64)
            .await
            .unwrap();
    }
    let names =
        |page: crate::Result<cairn_core::model::Page<cairn_core::registry::RegisteredModel>>| {
            page.unwrap()
                .items
                .into_iter()
                .map(|model| model.name)
                .collect::<Vec<_>>()
        };
    assert_eq!(
        names(
            store
                .search_registered_models(RegisteredModelSearch::default())
                .await
        ),
        vec!["Gamma", "alpha", "beta", "delta"],
        "default order is by name"
    );
    let filter = RegisteredModelFilter {
        clauses: vec![RegisteredModelClause::Name(StringPredicate::Compare(
            StringOp::ILike,
            "%A".into(),
        ))],
    };
    assert_eq!(
        names(
            store
                .search_registered_models(RegisteredModelSearch {
                    filter,
                    ..RegisteredModelSearch::default()
                })
                .await
        ),
        vec!["Gamma", "alpha", "beta", "delta"]
    );
    let filter = RegisteredModelFilter {
        clauses: vec![
            RegisteredModelClause::Name(StringPredicate::Compare(StringOp::Like, "%a".into())),
            RegisteredModelClause::Tag {
                key: "team".into(),
                predicate: StringPredicate::Compare(StringOp::Eq, "risk".into()),
            },
        ],
    };
    assert_eq!(
        names(
            store
                .search_registered_models(RegisteredModelSearch {
                    filter,
                    ..RegisteredModelSearch::default()
                })
                .await
        ),
        vec!["Gamma", "beta"]
    );
    let by_update = RegisteredModelSearch {
        order_by: vec![RegisteredModelOrderBy {
            key: RegisteredModelOrderKey::LastUpdatedTimestamp,
            ascending: false,
        }],
        max_results: 3,
        ..RegisteredModelSearch::default()
    };
    let first = store
        .search_registered_models(by_update.clone())
        .await
        .unwrap();
    assert_eq!(
        first
            .items
            .iter()
            .map(|model| model.name.as_str())
            .collect::<Vec<_>>(),
        vec!["delta", "Gamma", "alpha"]
    );
    let token = first.next_page_token.expect("a second page");
    let second = store
        .search_registered_models(RegisteredModelSearch {
            page_token: Some(token.clone()),
            ..by_update
        })
        .await
        .unwrap();
    assert_eq!(second.items.len(), 1);
    assert_eq!(second.items[0].name, "beta");
    assert!(second.next_page_token.is_none());
    assert_kind(
        store
            .search_registered_models(RegisteredModelSearch {
                page_token: Some(token),
                ..RegisteredModelSearch::default()
            })
            .await,
        ErrorKind::InvalidArgument,
        "a token of another query",
    );

    // Versions: two of alpha, three of beta, with runs and tags.
    for (name, count) in [("alpha", 2), ("beta", 3)] {
        for index in 0..count {
            let mut new = new_version(name, Some(&format!("{name}-run-{index}")), T0 + 100);
            new.tags = vec![tag("quality", if index == 0 { "low" } else { "high" })];
            new.source = format!("mlflow-artifacts:/1/{name}/{index}/model");
            store.create_model_version(new).await.unwrap();
        }
    }
    assert_eq!(
        versions_of(store, ModelVersionFilter::default()).await,
        vec![
            ("alpha".to_string(), 2),
            ("alpha".to_string(), 1),
            ("beta".to_string(), 3),
            ("beta".to_string(), 2),
            ("beta".to_string(), 1)
        ],
        "equal timestamps: by name, then newest version first"
    );
    let filter = ModelVersionFilter {
        clauses: vec![
            ModelVersionClause::StringAttribute {
                attribute: VersionStringAttribute::RunId,
                predicate: StringPredicate::In(vec!["beta-run-0".into(), "beta-run-2".into()]),
            },
            ModelVersionClause::VersionNumber {
                op: NumOp::Gt,
                value: 1,
            },
        ],
    };
    assert_eq!(
        versions_of(store, filter).await,
        vec![("beta".to_string(), 3)]
    );
    let filter = ModelVersionFilter {
        clauses: vec![
            ModelVersionClause::Tag {
                key: "quality".into(),
                predicate: StringPredicate::Compare(StringOp::Eq, "low".into()),
            },
            ModelVersionClause::StringAttribute {
                attribute: VersionStringAttribute::SourcePath,
                predicate: StringPredicate::Compare(StringOp::Like, "%/alpha/%".into()),
            },
        ],
    };
    assert_eq!(
        versions_of(store, filter).await,
        vec![("alpha".to_string(), 1)]
    );
    let ordered = ModelVersionSearch {
        filter: named("beta"),
        order_by: vec![ModelVersionOrderBy {
            key: ModelVersionOrderKey::VersionNumber,
            ascending: true,
        }],
        max_results: 2,
        ..ModelVersionSearch::default()
    };
    let page = store.search_model_versions(ordered.clone()).await.unwrap();
    assert_eq!(
        page.items.iter().map(|v| v.version).collect::<Vec<_>>(),
        vec![1, 2]
    );
    let rest = store
        .search_model_versions(ModelVersionSearch {
            page_token: page.next_page_token,
            ..ordered
        })
        .await
        .unwrap();
    assert_eq!(
        rest.items.iter().map(|v| v.version).collect::<Vec<_>>(),
        vec![3]
    );
    assert!(rest.next_page_token.is_none());
    assert_eq!(rest.items[0].tags, vec![tag("quality", "high")]);

    // Prompts are registered models tagged `mlflow.prompt.is_prompt = 'true'`.
    store
        .create_registered_model("prompt", None, vec![tag(PROMPT_TAG, "true")], T0)
        .await
        .unwrap();
    store
        .create_model_version(new_version("prompt", None, T0))
        .await
        .unwrap();
    let with_prompts = names(
        store
            .search_registered_models(RegisteredModelSearch::default())
            .await,
    );
    assert!(with_prompts.contains(&"prompt".to_string()));
    let without = names(
        store
            .search_registered_models(RegisteredModelSearch {
                exclude_prompts: true,
                ..RegisteredModelSearch::default()
            })
            .await,
    );
    assert_eq!(without, vec!["Gamma", "alpha", "beta", "delta"]);
    let versions = store
        .search_model_versions(ModelVersionSearch {
            exclude_prompts: true,
            ..ModelVersionSearch::default()
        })
        .await
        .unwrap();
    assert!(
        versions
            .items
            .iter()
            .all(|version| version.name != "prompt")
    );
    assert_eq!(versions.items.len(), 5);
}
