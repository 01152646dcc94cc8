//! Conformance checks of teams and experiment access: unique team names, one personal team per
//! user, memberships that never leave a team without an owner, teams that own experiments kept,
//! access records written with the experiment, shares, artifact locations; and the backend's
//! readable-experiments search condition agreeing with `cairn_core::access::permission` for every
//! combination of role, visibility and share.

use std::collections::BTreeSet;

use cairn_core::access::{
    ExperimentAccess, Permission, Role, ShareLevel, Viewer, Visibility, permission,
};
use cairn_core::model::ViewType;

use super::{T0, assert_kind, new_experiment};
use crate::{ArtifactLocation, ErrorKind, ExperimentSearch, NewUser, Store};

async fn user(store: &dyn Store, name: &str) -> i64 {
    store
        .create_user(NewUser {
            username: name.into(),
            password_hash: "x".into(),
            is_admin: false,
            now: T0,
        })
        .await
        .unwrap()
        .id
}

async fn viewer(store: &dyn Store, user_id: i64) -> Viewer {
    Viewer {
        user_id,
        is_admin: false,
        teams: store
            .memberships(user_id)
            .await
            .unwrap()
            .into_iter()
            .collect(),
    }
}

pub async fn access_teams_and_members(store: &dyn Store) {
    let ada = user(store, "ada").await;
    let bob = user(store, "bob").await;
    let team = store.create_team("research", ada, false, T0).await.unwrap();
    assert_eq!(team.personal_of, None);
    assert_kind(
        store.create_team("research", bob, false, T0).await,
        ErrorKind::AlreadyExists,
        "a team name is unique",
    );
    let personal = store.create_team("~ada", ada, true, T0).await.unwrap();
    assert_eq!(personal.personal_of, Some(ada));
    assert_kind(
        store.create_team("~ada2", ada, true, T0).await,
        ErrorKind::AlreadyExists,
        "one personal team per user",
    );
    assert_eq!(
        store.personal_team(ada).await.unwrap(),
        Some(personal.clone())
    );
    assert_eq!(store.personal_team(bob).await.unwrap(), None);
    assert_eq!(
        store.team_by_name("research").await.unwrap(),
        Some(team.clone())
    );
    assert_eq!(store.team_by_id(team.id).await.unwrap(), Some(team.clone()));
    assert_eq!(store.team_by_name("nope").await.unwrap(), None);

    store
        .set_member(team.id, bob, Some(Role::Viewer))
        .await
        .unwrap();
    store
        .set_member(team.id, bob, Some(Role::Member))
        .await
        .unwrap();
    let members = store.team_members(team.id).await.unwrap();
    let roles: Vec<_> = members
        .iter()
        .map(|m| (m.username.as_str(), m.role))
        .collect();
    assert_eq!(roles, [("ada", Role::Owner), ("bob", Role::Member)]);
    assert_kind(
        store.set_member(team.id, ada, Some(Role::Admin)).await,
        ErrorKind::InvalidArgument,
        "the last owner cannot step down",
    );
    assert_kind(
        store.set_member(team.id, ada, None).await,
        ErrorKind::InvalidArgument,
        "the last owner cannot leave",
    );
    assert_eq!(
        store.team_members(team.id).await.unwrap().len(),
        2,
        "a refused change changes nothing"
    );
    store
        .set_member(team.id, bob, Some(Role::Owner))
        .await
        .unwrap();
    store.set_member(team.id, ada, None).await.unwrap();
    let mine: Vec<_> = store.memberships(ada).await.unwrap();
    assert_eq!(mine, [(personal.id, Role::Owner)]);

    let names = |teams: Vec<(cairn_core::access::Team, Option<Role>)>| {
        teams
            .into_iter()
            .map(|(t, role)| (t.name, role))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names(store.list_teams(ada, false).await.unwrap()),
        [("~ada".to_string(), Some(Role::Owner))]
    );
    assert_eq!(
        names(store.list_teams(ada, true).await.unwrap()),
        [
            ("research".to_string(), None),
            ("~ada".to_string(), Some(Role::Owner))
        ]
    );
    assert_kind(
        store.set_member(999_999, ada, Some(Role::Viewer)).await,
        ErrorKind::NotFound,
        "an unknown team",
    );

    // A team that owns an experiment stays; without it, it goes with its shares.
    let mut new = new_experiment("owned", T0);
    new.access = Some(ExperimentAccess {
        team_id: Some(team.id),
        ..ExperimentAccess::default()
    });
    let location = ArtifactLocation::UnderRoot("mlflow-artifacts:".into());
    let owned = store
        .create_experiment(new, location.clone())
        .await
        .unwrap();
    let other = store
        .create_experiment(new_experiment("other", T0), location)
        .await
        .unwrap();
    store
        .set_share(&other, team.id, Some(ShareLevel::Read))
        .await
        .unwrap();
    assert_kind(
        store.delete_team(team.id).await,
        ErrorKind::InvalidArgument,
        "a team owning an experiment",
    );
    store
        .set_experiment_access(&owned, Some(personal.id), Visibility::Team, Some(ada))
        .await
        .unwrap();
    store.delete_team(team.id).await.unwrap();
    assert_eq!(store.team_by_name("research").await.unwrap(), None);
    let shares = &store
        .experiment_access(std::slice::from_ref(&other))
        .await
        .unwrap();
    assert!(shares.is_empty() || shares[0].shares.is_empty());
    assert_kind(
        store.delete_team(team.id).await,
        ErrorKind::NotFound,
        "deleting twice",
    );
}

pub async fn access_records_shares_and_locations(store: &dyn Store) {
    let ada = user(store, "ada").await;
    let team = store.create_team("research", ada, false, T0).await.unwrap();
    let partner = store.create_team("partner", ada, false, T0).await.unwrap();
    let location = ArtifactLocation::UnderRoot("mlflow-artifacts:".into());
    let mut new = new_experiment("secret", T0);
    new.access = Some(ExperimentAccess {
        experiment_id: "ignored".into(),
        team_id: Some(team.id),
        visibility: Visibility::Private,
        creator_id: Some(ada),
        shares: Vec::new(),
    });
    let id = store
        .create_experiment(new, location.clone())
        .await
        .unwrap();
    let plain = store
        .create_experiment(new_experiment("plain", T0), location)
        .await
        .unwrap();
    let found = store
        .experiment_access(&[id.clone(), plain.clone(), "junk".into()])
        .await
        .unwrap();
    assert_eq!(
        found,
        [ExperimentAccess {
            experiment_id: id.clone(),
            team_id: Some(team.id),
            visibility: Visibility::Private,
            creator_id: Some(ada),
            shares: Vec::new(),
        }],
        "experiments without a record are left out"
    );
    store
        .set_share(&id, partner.id, Some(ShareLevel::Read))
        .await
        .unwrap();
    store
        .set_share(&id, partner.id, Some(ShareLevel::Write))
        .await
        .unwrap();
    store
        .set_experiment_access(&id, Some(team.id), Visibility::Public, Some(ada))
        .await
        .unwrap();
    let found = store
        .experiment_access(std::slice::from_ref(&id))
        .await
        .unwrap();
    assert_eq!(found[0].visibility, Visibility::Public);
    assert_eq!(
        found[0].shares,
        [cairn_core::access::Share {
            team_id: partner.id,
            level: ShareLevel::Write
        }],
        "a share replaced, and kept by an access change"
    );
    store.set_share(&id, partner.id, None).await.unwrap();
    assert!(
        store
            .experiment_access(std::slice::from_ref(&id))
            .await
            .unwrap()[0]
            .shares
            .is_empty()
    );
    assert_kind(
        store
            .set_share("424242", partner.id, Some(ShareLevel::Read))
            .await,
        ErrorKind::NotFound,
        "sharing an unknown experiment",
    );
    assert_kind(
        store.set_share(&id, 999_999, Some(ShareLevel::Read)).await,
        ErrorKind::NotFound,
        "sharing with an unknown team",
    );
    assert_kind(
        store
            .set_experiment_access("424242", None, Visibility::Team, None)
            .await,
        ErrorKind::NotFound,
        "an unknown experiment",
    );
    assert_kind(
        store
            .set_experiment_access(&plain, Some(999_999), Visibility::Team, None)
            .await,
        ErrorKind::NotFound,
        "an unknown team",
    );

    let roots = [
        "mlflow-artifacts:/".to_string(),
        format!("mlflow-artifacts:/{id}"),
        format!("mlflow-artifacts:/{plain}"),
        "mlflow-artifacts:/elsewhere".to_string(),
    ];
    let owners: BTreeSet<_> = store
        .experiments_with_locations(&roots)
        .await
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(owners, BTreeSet::from([id, plain]));
}

/// Every combination of visibility, share and role: the experiments a search returns for a
/// caller are exactly those `permission` lets them read.
pub async fn access_readable_search_matches_the_rules(store: &dyn Store) {
    let owner = user(store, "owner").await;
    let team = store.create_team("home", owner, false, T0).await.unwrap();
    let partner = store
        .create_team("partner", owner, false, T0)
        .await
        .unwrap();
    let creator = user(store, "creator").await;
    store
        .set_member(team.id, creator, Some(Role::Member))
        .await
        .unwrap();
    let mut callers = vec![owner, creator];
    for (index, role) in [Role::Admin, Role::Member, Role::Viewer]
        .into_iter()
        .enumerate()
    {
        let home = user(store, &format!("home-{index}")).await;
        store.set_member(team.id, home, Some(role)).await.unwrap();
        let away = user(store, &format!("away-{index}")).await;
        store
            .set_member(partner.id, away, Some(role))
            .await
            .unwrap();
        callers.extend([home, away]);
    }
    callers.push(user(store, "nobody").await);

    let location = ArtifactLocation::UnderRoot("mlflow-artifacts:".into());
    let mut experiments = Vec::new();
    for visibility in [Visibility::Private, Visibility::Team, Visibility::Public] {
        for share in [None, Some(ShareLevel::Read), Some(ShareLevel::Write)] {
            let name = format!("{visibility:?}-{share:?}");
            let mut new = new_experiment(&name, T0);
            new.access = Some(ExperimentAccess {
                team_id: Some(team.id),
                visibility,
                creator_id: Some(creator),
                ..ExperimentAccess::default()
            });
            let id = store
                .create_experiment(new, location.clone())
                .await
                .unwrap();
            if let Some(level) = share {
                store.set_share(&id, partner.id, Some(level)).await.unwrap();
            }
            experiments.push(id);
        }
    }
    let common = store
        .create_experiment(new_experiment("common", T0), location)
        .await
        .unwrap();
    experiments.push(common);
    let records = store.experiment_access(&experiments).await.unwrap();

    for caller in callers {
        let viewer = viewer(store, caller).await;
        let expected: BTreeSet<String> = experiments
            .iter()
            .filter(|id| {
                let record = records.iter().find(|r| &r.experiment_id == *id);
                permission(&viewer, record) >= Permission::Read
            })
            .cloned()
            .collect();
        let page = store
            .search_experiments(ExperimentSearch {
                view: ViewType::ActiveOnly,
                max_results: 1000,
                readable_by: Some(viewer.clone()),
                ..ExperimentSearch::default()
            })
            .await
            .unwrap();
        let got: BTreeSet<String> = page
            .items
            .into_iter()
            .map(|e| e.experiment_id)
            .filter(|id| experiments.contains(id))
            .collect();
        assert_eq!(got, expected, "caller {caller} with {:?}", viewer.teams);
    }
}

/// Registered models: created with their access record, read back, changed, gone with the model;
/// model and version searches narrowed to what `permission` lets each caller read.
pub async fn access_registered_models(store: &dyn Store) {
    let owner = user(store, "owner").await;
    let member = user(store, "member").await;
    let outsider = user(store, "outsider").await;
    let team = store.create_team("home", owner, false, T0).await.unwrap();
    store
        .set_member(team.id, member, Some(Role::Member))
        .await
        .unwrap();
    let owned = |visibility| ExperimentAccess {
        team_id: Some(team.id),
        visibility,
        creator_id: Some(owner),
        ..ExperimentAccess::default()
    };
    for (name, visibility) in [
        ("private-model", Visibility::Private),
        ("team-model", Visibility::Team),
        ("public-model", Visibility::Public),
    ] {
        store
            .create_registered_model_owned(name, None, Vec::new(), T0, owned(visibility))
            .await
            .unwrap();
        store
            .create_model_version(cairn_core::registry::NewModelVersion {
                name: name.into(),
                source: "s3://bucket/m".into(),
                storage_location: "s3://bucket/m".into(),
                run_id: None,
                run_link: None,
                model_id: None,
                description: None,
                user_id: None,
                tags: Vec::new(),
                now: T0,
            })
            .await
            .unwrap();
    }
    store
        .create_registered_model("common-model", None, Vec::new(), T0)
        .await
        .unwrap();
    let found = store.registered_model_access("team-model").await.unwrap();
    assert_eq!(
        found.map(|a| (a.team_id, a.visibility)),
        Some((Some(team.id), Visibility::Team))
    );
    assert_eq!(
        store.registered_model_access("common-model").await.unwrap(),
        None
    );
    assert_kind(
        store
            .create_registered_model_owned(
                "team-model",
                None,
                Vec::new(),
                T0,
                owned(Visibility::Team),
            )
            .await,
        ErrorKind::AlreadyExists,
        "a taken name",
    );
    assert_kind(
        store
            .set_registered_model_access("nope", None, Visibility::Team, None)
            .await,
        ErrorKind::NotFound,
        "an unknown model",
    );

    let names = [
        "private-model",
        "team-model",
        "public-model",
        "common-model",
    ];
    for caller in [owner, member, outsider] {
        let viewer = viewer(store, caller).await;
        let expected: BTreeSet<String> = {
            let mut readable = BTreeSet::new();
            for name in names {
                let record = store.registered_model_access(name).await.unwrap();
                if permission(&viewer, record.as_ref()) >= Permission::Read {
                    readable.insert(name.to_string());
                }
            }
            readable
        };
        let models: BTreeSet<String> = store
            .search_registered_models(crate::RegisteredModelSearch {
                max_results: 100,
                readable_by: Some(viewer.clone()),
                ..Default::default()
            })
            .await
            .unwrap()
            .items
            .into_iter()
            .map(|m| m.name)
            .collect();
        assert_eq!(models, expected, "models for {caller}");
        let versions: BTreeSet<String> = store
            .search_model_versions(crate::ModelVersionSearch {
                max_results: 100,
                readable_by: Some(viewer.clone()),
                ..Default::default()
            })
            .await
            .unwrap()
            .items
            .into_iter()
            .map(|v| v.name)
            .collect();
        let with_versions: BTreeSet<String> = expected
            .into_iter()
            .filter(|n| n != "common-model")
            .collect();
        assert_eq!(versions, with_versions, "versions for {caller}");
    }

    store.delete_registered_model("team-model").await.unwrap();
    assert_eq!(
        store.registered_model_access("team-model").await.unwrap(),
        None
    );
    store
        .set_registered_model_access(
            "common-model",
            Some(team.id),
            Visibility::Private,
            Some(owner),
        )
        .await
        .unwrap();
    let moved = store
        .registered_model_access("common-model")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(moved.visibility, Visibility::Private);
}
