//! Conformance checks of comments (on existing targets only, listed in order, edited, deleted)
//! and of annotations on chart points.

use cairn_core::comments::{Activity, Annotation, Comment, CommentTarget};

use super::{T0, assert_kind, experiment, run};
use crate::{ErrorKind, Store};

fn comment(target: CommentTarget, body: &str, mentions: &[&str]) -> Comment {
    Comment {
        id: 0,
        target,
        author: Some("ada".into()),
        body: body.into(),
        mentions: mentions.iter().map(|m| m.to_string()).collect(),
        created: T0,
        edited: None,
    }
}

pub async fn comments_on_runs_and_experiments(store: &dyn Store) {
    let exp = experiment(store, "comments").await;
    let run_id = run(store, &exp).await;
    let on_run = CommentTarget::Run(run_id.clone());
    let first = store
        .create_comment(comment(on_run.clone(), "first @bob", &["bob"]))
        .await
        .unwrap();
    let second = store
        .create_comment(comment(on_run.clone(), "second", &[]))
        .await
        .unwrap();
    store
        .create_comment(comment(
            CommentTarget::Experiment(exp.clone()),
            "on the experiment",
            &[],
        ))
        .await
        .unwrap();
    assert_eq!(first.mentions, vec!["bob"]);
    assert_eq!(
        store.list_comments(on_run.clone()).await.unwrap(),
        vec![first.clone(), second.clone()]
    );
    assert_eq!(
        store
            .list_comments(CommentTarget::Experiment(exp.clone()))
            .await
            .unwrap()
            .len(),
        1
    );
    // Mentions, newest first, matched whole ("bo" is not "bob"), paged by id.
    let third = store
        .create_comment(comment(
            on_run.clone(),
            "again @bob and @bobby",
            &["bob", "bobby"],
        ))
        .await
        .unwrap();
    let ids = |found: Vec<Comment>| found.into_iter().map(|c| c.id).collect::<Vec<_>>();
    assert_eq!(
        ids(store.comments_mentioning("bob", None, 10).await.unwrap()),
        vec![third.id, first.id]
    );
    assert_eq!(
        ids(store
            .comments_mentioning("bob", Some(third.id), 10)
            .await
            .unwrap()),
        vec![first.id]
    );
    assert!(
        store
            .comments_mentioning("bo", None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .comments_mentioning("bob", None, 1)
            .await
            .unwrap()
            .len(),
        1
    );
    store.delete_comment(third.id).await.unwrap();
    assert_kind(
        store
            .create_comment(comment(CommentTarget::Run("f".repeat(32)), "x", &[]))
            .await,
        ErrorKind::NotFound,
        "unknown run",
    );
    assert_kind(
        store
            .create_comment(comment(CommentTarget::Experiment("9999".into()), "x", &[]))
            .await,
        ErrorKind::NotFound,
        "unknown experiment",
    );
    let edited = store
        .update_comment(
            first.id,
            "first, edited @carol".into(),
            vec!["carol".into()],
            T0 + 5,
        )
        .await
        .unwrap();
    assert_eq!(
        (edited.body.as_str(), edited.edited),
        ("first, edited @carol", Some(T0 + 5))
    );
    assert_eq!(edited.mentions, vec!["carol"]);
    store.delete_comment(second.id).await.unwrap();
    assert_kind(
        store.get_comment(second.id).await,
        ErrorKind::NotFound,
        "deleted",
    );
    assert_kind(
        store.delete_comment(second.id).await,
        ErrorKind::NotFound,
        "deleting twice",
    );
    assert_eq!(store.list_comments(on_run).await.unwrap(), vec![edited]);

    let annotation = |key: &str, step: i64| Annotation {
        id: 0,
        run_id: run_id.clone(),
        key: key.into(),
        step,
        text: format!("{key}@{step}"),
        author: None,
        created: T0,
    };
    let late = store
        .create_annotation(annotation("loss", 40))
        .await
        .unwrap();
    let early = store
        .create_annotation(annotation("loss", 3))
        .await
        .unwrap();
    store.create_annotation(annotation("acc", 9)).await.unwrap();
    let listed = store.list_annotations(&run_id).await.unwrap();
    assert_eq!(
        listed
            .iter()
            .map(|a| (a.key.as_str(), a.step))
            .collect::<Vec<_>>(),
        vec![("acc", 9), ("loss", 3), ("loss", 40)]
    );
    assert_eq!(store.get_annotation(late.id).await.unwrap(), late);
    store.delete_annotation(early.id).await.unwrap();
    assert_eq!(store.list_annotations(&run_id).await.unwrap().len(), 2);
    assert_kind(
        store.delete_annotation(early.id).await,
        ErrorKind::NotFound,
        "deleted annotation",
    );
    assert_kind(
        store
            .create_annotation(Annotation {
                run_id: "e".repeat(32),
                ..annotation("loss", 1)
            })
            .await,
        ErrorKind::NotFound,
        "annotation on an unknown run",
    );

    let change = |text: &str, time: i64| Activity {
        id: 0,
        run_id: run_id.clone(),
        time,
        user: Some("ada".into()),
        change: text.into(),
    };
    store
        .record_activity(vec![
            change("created", T0),
            change("status FINISHED", T0 + 1),
        ])
        .await
        .unwrap();
    let history = store.list_activity(&run_id, 10).await.unwrap();
    assert_eq!(
        history
            .iter()
            .map(|a| a.change.as_str())
            .collect::<Vec<_>>(),
        vec!["status FINISHED", "created"],
        "newest first"
    );
    assert_eq!(store.list_activity(&run_id, 1).await.unwrap().len(), 1);
    assert!(store.list_activity("nope", 10).await.unwrap().is_empty());

    // A run created with its first history entry has it from the start.
    let mut new = super::new_run(&exp, "with history", T0);
    new.created = Some(Activity {
        run_id: new.run_id.clone(),
        change: "created".into(),
        ..change("created", T0 + 2)
    });
    let made = store.create_run(new).await.unwrap();
    let history = store.list_activity(&made.info.run_id, 10).await.unwrap();
    assert_eq!(
        history
            .iter()
            .map(|a| (a.change.as_str(), a.user.as_deref(), a.time))
            .collect::<Vec<_>>(),
        vec![("created", Some("ada"), T0 + 2)]
    );
}
