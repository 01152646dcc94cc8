//! Conformance checks of alert rules: created on active experiments only, listed, fired once
//! per run, deliveries logged newest first, deleted with their log.

use cairn_core::alerts::{AlertRule, Condition, Delivery, Format};

use super::{T0, assert_kind, experiment};
use crate::{ErrorKind, Store};

fn rule(experiment_id: &str, condition: Condition) -> AlertRule {
    AlertRule {
        id: 0,
        experiment_id: experiment_id.into(),
        name: "watch".into(),
        condition,
        webhook_url: "http://127.0.0.1:9/hook".into(),
        format: Format::Slack,
        created: T0,
    }
}

pub async fn alerts_rules_firings_and_deliveries(store: &dyn Store) {
    let exp = experiment(store, "alerts").await;
    let other = experiment(store, "alerts-other").await;
    let above = Condition::MetricAbove {
        key: "loss".into(),
        threshold: 2.5,
    };
    let first = store.create_alert(rule(&exp, above.clone())).await.unwrap();
    let second = store
        .create_alert(rule(&exp, Condition::Silent { minutes: 5 }))
        .await
        .unwrap();
    store
        .create_alert(rule(&other, Condition::RunFailed))
        .await
        .unwrap();
    assert_eq!(
        (first.condition.clone(), first.format),
        (above, Format::Slack)
    );
    assert_eq!(store.get_alert(second.id).await.unwrap(), second);
    assert_eq!(
        store.list_alerts(Some(exp.clone())).await.unwrap(),
        vec![first.clone(), second.clone()]
    );
    assert_eq!(store.list_alerts(None).await.unwrap().len(), 3);
    assert_kind(
        store
            .create_alert(rule("98765", Condition::RunFailed))
            .await,
        ErrorKind::NotFound,
        "unknown experiment",
    );

    assert!(store.mark_fired(first.id, "r1", T0).await.unwrap());
    assert!(
        !store.mark_fired(first.id, "r1", T0).await.unwrap(),
        "once per run"
    );
    assert!(store.mark_fired(first.id, "r2", T0).await.unwrap());
    assert!(
        store.mark_fired(second.id, "r1", T0).await.unwrap(),
        "per rule"
    );

    for attempt in 1..=2 {
        store
            .record_delivery(Delivery {
                id: 0,
                rule_id: first.id,
                run_id: "r1".into(),
                event: "loss above 2.5".into(),
                attempt,
                status: (attempt == 2).then_some(200),
                error: (attempt == 1).then(|| "connection refused".to_string()),
                time: T0 + i64::from(attempt),
            })
            .await
            .unwrap();
    }
    let log = store.list_deliveries(first.id, 10).await.unwrap();
    assert_eq!(
        log.iter().map(|d| d.attempt).collect::<Vec<_>>(),
        vec![2, 1]
    );
    assert!(log[0].succeeded() && !log[1].succeeded());
    assert!(
        store
            .list_deliveries(second.id, 10)
            .await
            .unwrap()
            .is_empty()
    );

    store.delete_alert(first.id).await.unwrap();
    assert_kind(
        store.get_alert(first.id).await,
        ErrorKind::NotFound,
        "deleted rule",
    );
    assert!(
        store
            .list_deliveries(first.id, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_kind(
        store.delete_alert(first.id).await,
        ErrorKind::NotFound,
        "deleting twice",
    );
}
