//! Conformance checks of accounts and credentials: unique usernames, disabling, password
//! changes ending sessions, tokens by hash with their user, revocation scoped to the owner,
//! sessions expiring; the audit log appended, searched and pruned.

use cairn_core::auth::{AuditEntry, AuditQuery, Scope, Session};

use super::{T0, assert_kind};
use crate::{ErrorKind, NewToken, NewUser, Store};

fn new_user(name: &str, admin: bool) -> NewUser {
    NewUser {
        username: name.into(),
        password_hash: format!("hash-of-{name}"),
        is_admin: admin,
        now: T0,
    }
}

fn new_token(user_id: i64, name: &str, hash: &str, scope: Scope, expires: Option<i64>) -> NewToken {
    NewToken {
        user_id,
        name: name.into(),
        secret_hash: hash.into(),
        scope,
        expires,
        now: T0,
    }
}

pub async fn auth_users_tokens_and_sessions(store: &dyn Store) {
    let ada = store.create_user(new_user("ada", true)).await.unwrap();
    let bob = store.create_user(new_user("bob", false)).await.unwrap();
    assert!(ada.is_admin && !ada.disabled && !bob.is_admin);
    assert_kind(
        store.create_user(new_user("ada", false)).await,
        ErrorKind::AlreadyExists,
        "taken username",
    );
    let (found, hash) = store.user_by_name("bob").await.unwrap().unwrap();
    assert_eq!((found, hash.as_str()), (bob.clone(), "hash-of-bob"));
    assert!(store.user_by_name("carol").await.unwrap().is_none());
    let names: Vec<String> = store
        .list_users()
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.username)
        .collect();
    assert_eq!(names, vec!["ada", "bob"]);

    let read = store
        .create_token(new_token(bob.id, "ci", "h1", Scope::Read, Some(T0 + 1000)))
        .await
        .unwrap();
    let write = store
        .create_token(new_token(bob.id, "laptop", "h2", Scope::Write, None))
        .await
        .unwrap();
    assert_eq!((read.scope, read.expires), (Scope::Read, Some(T0 + 1000)));
    let (token, owner) = store.token_by_hash("h2").await.unwrap().unwrap();
    assert_eq!((token, owner.username.as_str()), (write.clone(), "bob"));
    assert!(store.token_by_hash("nope").await.unwrap().is_none());
    assert_eq!(store.list_tokens(bob.id).await.unwrap().len(), 2);
    assert!(store.list_tokens(ada.id).await.unwrap().is_empty());
    // Only the owner (or anyone, with None) revokes.
    assert_kind(
        store.revoke_token(write.id, Some(ada.id)).await,
        ErrorKind::NotFound,
        "someone else's token",
    );
    assert!(
        store
            .revoke_token(write.id, Some(bob.id))
            .await
            .unwrap()
            .revoked
    );
    assert!(store.token_by_hash("h2").await.unwrap().unwrap().0.revoked);
    assert_kind(
        store.revoke_token(9999, None).await,
        ErrorKind::NotFound,
        "unknown token",
    );

    let session = Session {
        user_id: bob.id,
        csrf: "c1".into(),
        expires: T0 + 10_000,
    };
    store.create_session("s1", session.clone()).await.unwrap();
    let (found, user) = store.session_by_hash("s1", T0).await.unwrap().unwrap();
    assert_eq!((found, user.id), (session.clone(), bob.id));
    assert!(
        store
            .session_by_hash("s1", T0 + 10_000)
            .await
            .unwrap()
            .is_none(),
        "expired"
    );
    // A new password ends the user's sessions; so does disabling.
    store.set_password("bob", "new-hash").await.unwrap();
    assert!(store.session_by_hash("s1", T0).await.unwrap().is_none());
    assert_eq!(
        store.user_by_name("bob").await.unwrap().unwrap().1,
        "new-hash"
    );
    store.create_session("s2", session.clone()).await.unwrap();
    let disabled = store.set_user_disabled("bob", true).await.unwrap();
    assert!(disabled.disabled);
    assert!(store.session_by_hash("s2", T0).await.unwrap().is_none());
    assert!(store.token_by_hash("h1").await.unwrap().unwrap().1.disabled);
    assert!(
        !store
            .set_user_disabled("bob", false)
            .await
            .unwrap()
            .disabled
    );
    store.create_session("s3", session).await.unwrap();
    store.delete_session("s3").await.unwrap();
    assert!(store.session_by_hash("s3", T0).await.unwrap().is_none());
    assert_kind(
        store.set_password("carol", "x").await,
        ErrorKind::NotFound,
        "unknown user",
    );
}

fn entry(time: i64, user: Option<&str>, action: &str) -> AuditEntry {
    AuditEntry {
        id: 0,
        time,
        username: user.map(str::to_string),
        action: action.into(),
        target: "/api/x".into(),
        status: 200,
        source: Some("127.0.0.1".into()),
        user_agent: None,
    }
}

pub async fn audit_log_appends_searches_and_prunes(store: &dyn Store) {
    store
        .append_audit(vec![
            entry(T0, Some("ada"), "auth.sign_in"),
            entry(T0 + 1, Some("ada"), "POST /api/2.0/mlflow/runs/create"),
            entry(T0 + 2, None, "auth.denied"),
            entry(T0 + 3, Some("bob"), "POST /api/2.0/mlflow/runs/create"),
        ])
        .await
        .unwrap();
    let all = store
        .search_audit(AuditQuery {
            limit: 10,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(all.len(), 4);
    assert_eq!(all[0].username.as_deref(), Some("bob"), "newest first");
    assert!(all.windows(2).all(|w| w[0].id > w[1].id));
    assert_eq!(
        all[3],
        AuditEntry {
            id: all[3].id,
            ..entry(T0, Some("ada"), "auth.sign_in")
        }
    );
    let ada = store
        .search_audit(AuditQuery {
            username: Some("ada".into()),
            limit: 10,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(ada.len(), 2);
    let auth = store
        .search_audit(AuditQuery {
            action_prefix: Some("auth.".into()),
            limit: 10,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(
        auth.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(),
        vec!["auth.denied", "auth.sign_in"]
    );
    let window = store
        .search_audit(AuditQuery {
            since: Some(T0 + 1),
            until: Some(T0 + 3),
            limit: 10,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(window.len(), 2);
    let page = store
        .search_audit(AuditQuery {
            before_id: Some(all[1].id),
            limit: 1,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(page, vec![all[2].clone()]);
    assert_eq!(store.prune_audit(T0 + 2).await.unwrap(), 2);
    let left = store
        .search_audit(AuditQuery {
            limit: 10,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(left.len(), 2);
}
