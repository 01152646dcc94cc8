//! Two servers (replicas) on one PostgreSQL database and one S3-compatible store: what one
//! writes the other reads, unique names and idempotency keys hold across them, artifacts stored
//! through one download through the other, and live events published by one reach the other's
//! WebSocket subscribers (`LISTEN/NOTIFY`). The database is a throwaway cluster the test starts
//! from the machine's PostgreSQL binaries; the object store is `s3s-fs`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use cairn_blob::testing::S3Server;
use cairn_core::alerts::{AlertRule, Condition, Format};
use cairn_core::model::NewExperiment;
use cairn_store::postgres::PgStore;
use cairn_store::postgres::relay::RelayGuard;
use cairn_store::postgres::testing::TestCluster;
use cairn_store::{AlertStore, ArtifactLocation, MetaStore};
use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

mod common;

use common::TestServer;

struct Replicas {
    a: TestServer,
    b: TestServer,
    _guards: Vec<RelayGuard>,
    _s3: S3Server,
}

async fn replicas() -> Replicas {
    let url = tokio::task::spawn_blocking(|| TestCluster::shared().fresh_database())
        .await
        .unwrap();
    replicas_on(&url).await
}

async fn replicas_on(url: &str) -> Replicas {
    let s3 = S3Server::start().await;
    let mut servers = Vec::new();
    let mut guards = Vec::new();
    for _ in 0..2 {
        let store = PgStore::connect_with(url, 8).await.expect("connect");
        let (relay, incoming, guard) = store.start_relay().expect("relay");
        guards.push(guard);
        let blobs = Arc::new(s3.blob_store("replicas"));
        servers.push(TestServer::start_on(Arc::new(store), blobs, Some((relay, incoming))).await);
    }
    let b = servers.pop().unwrap();
    let a = servers.pop().unwrap();
    Replicas {
        a,
        b,
        _guards: guards,
        _s3: s3,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_share_writes_names_keys_and_artifacts() {
    let replicas = replicas().await;
    let (a, b) = (&replicas.a, &replicas.b);

    // An experiment made through A is read through B; the name is taken on both.
    let (status, body) = a
        .post(
            "/api/2.0/mlflow/experiments/create",
            json!({"name": "shared"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let experiment_id = body["experiment_id"].as_str().unwrap().to_string();
    let (status, body) = b
        .get("/api/2.0/mlflow/experiments/get-by-name?experiment_name=shared")
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["experiment"]["experiment_id"], experiment_id.as_str());
    let (status, body) = b
        .post(
            "/api/2.0/mlflow/experiments/create",
            json!({"name": "shared"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error_code"], "RESOURCE_ALREADY_EXISTS");

    // The same new name through both at once: exactly one wins.
    let (one, two) = tokio::join!(
        a.post(
            "/api/2.0/mlflow/experiments/create",
            json!({"name": "raced"})
        ),
        b.post(
            "/api/2.0/mlflow/experiments/create",
            json!({"name": "raced"})
        ),
    );
    let mut statuses = [one.0, two.0];
    statuses.sort();
    assert_eq!(
        statuses,
        [StatusCode::OK, StatusCode::BAD_REQUEST],
        "{one:?} {two:?}"
    );

    // A run made through A, logged to through B, read and searched through both.
    let run_id = a.new_run_in(&experiment_id).await;
    let (status, body) = b
        .post(
            "/api/2.0/mlflow/runs/log-batch",
            json!({"run_id": run_id, "params": [{"key": "lr", "value": "0.1"}],
                   "metrics": [{"key": "loss", "value": 0.5, "timestamp": 5, "step": 1}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = a
        .get(&format!("/api/2.0/mlflow/runs/get?run_id={run_id}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["run"]["data"]["params"][0]["value"], "0.1");
    assert_eq!(body["run"]["data"]["metrics"][0]["value"], 0.5);
    // A param changed through the other replica is still refused.
    let (status, _) = a
        .post(
            "/api/2.0/mlflow/runs/log-parameter",
            json!({"run_id": run_id, "key": "lr", "value": "0.2"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, body) = b
        .post(
            "/api/2.0/mlflow/runs/search",
            json!({"experiment_ids": [experiment_id], "filter": "metrics.loss < 1 and params.lr = '0.1'"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["runs"].as_array().map(Vec::len), Some(1), "{body}");

    // An idempotency key used through A is a replay through B: the points are stored once.
    let points =
        json!({"metrics": [{"key": "acc", "steps": [1, 2, 3], "values": [0.1, 0.2, 0.3]}]});
    for (server, replay) in [(a, false), (b, true)] {
        let response = server
            .client
            .post(server.url(&format!("/api/v1/runs/{run_id}/metrics")))
            .header("Idempotency-Key", "batch-1")
            .json(&points)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["accepted"], 3, "{body}");
        assert_eq!(body["replay"], replay, "{body}");
    }
    let (status, body) = a
        .get(&format!(
            "/api/2.0/mlflow/metrics/get-history?run_id={run_id}&metric_key=acc"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["metrics"].as_array().map(Vec::len), Some(3), "{body}");

    // A file stored through A is served by B, byte for byte.
    let path = format!("{experiment_id}/{run_id}/artifacts/notes.txt");
    let response = a
        .client
        .put(a.url(&format!("/api/2.0/mlflow-artifacts/artifacts/{path}")))
        .body("written through A")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let response = b
        .client
        .get(b.url(&format!("/api/2.0/mlflow-artifacts/artifacts/{path}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().await.unwrap(), "written through A");
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A live stream of `run_id` on `server`, past its hello.
async fn follow(server: &TestServer, run_id: &str) -> Socket {
    let url = format!(
        "{}/api/v1/stream?runs={run_id}",
        server.base.replace("http://", "ws://")
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("connect");
    assert_eq!(events(&mut socket).await[0]["type"], "hello");
    socket
}

/// The events of the next frame (waiting at most 20 s).
async fn events(socket: &mut Socket) -> Vec<Value> {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(20), socket.next())
            .await
            .expect("an event within 20 s")
            .expect("socket open")
            .expect("a message");
        if let Message::Text(text) = message {
            let frame: Value = serde_json::from_str(&text).unwrap();
            return frame["events"].as_array().unwrap().clone();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn live_events_reach_subscribers_of_the_other_replica() {
    let replicas = replicas().await;
    let (a, b) = (&replicas.a, &replicas.b);
    let run_id = a.new_run().await;
    let mut socket = follow(b, &run_id).await;
    let mut next = async || events(&mut socket).await;

    let sent = Instant::now();
    let (status, body) = a
        .post(
            &format!("/api/v1/runs/{run_id}/metrics"),
            json!({"metrics": [{"key": "loss", "steps": [1, 2], "values": [0.5, 0.25], "timestamp": 7}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let event = loop {
        if let Some(event) = next().await.into_iter().find(|e| e["type"] == "points") {
            break event;
        }
    };
    eprintln!(
        "points written through A reached B's subscriber after {:?}",
        sent.elapsed()
    );
    assert_eq!(event["run_id"], run_id.as_str());
    assert_eq!(event["steps"], json!([1, 2]));
    assert_eq!(event["values"], json!([0.5, 0.25]));

    // A large event (over NOTIFY's 8000-byte payload) goes through the side table.
    let steps: Vec<i64> = (10..2010).collect();
    let values: Vec<f64> = steps.iter().map(|s| 1.0 / *s as f64).collect();
    let (status, body) = a
        .post(
            &format!("/api/v1/runs/{run_id}/metrics"),
            json!({"metrics": [{"key": "big", "steps": steps, "values": values, "timestamp": 7}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let event = loop {
        if let Some(event) = next().await.into_iter().find(|e| e["key"] == "big") {
            break event;
        }
    };
    assert_eq!(event["steps"].as_array().map(Vec::len), Some(2000));

    // A run's status change through A.
    let (status, body) = a
        .post(
            "/api/2.0/mlflow/runs/update",
            json!({"run_id": run_id, "status": "FINISHED", "end_time": 9}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let event = loop {
        if let Some(event) = next().await.into_iter().find(|e| e["type"] == "run") {
            break event;
        }
    };
    assert_eq!(event["status"], "FINISHED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_database_restart_is_ridden_out_and_subscribers_resync() {
    // A cluster of its own: the other tests keep theirs running.
    let cluster = Arc::new(
        tokio::task::spawn_blocking(TestCluster::start)
            .await
            .unwrap()
            .expect("start a cluster"),
    );
    let url = tokio::task::spawn_blocking({
        let cluster = Arc::clone(&cluster);
        move || cluster.fresh_database()
    })
    .await
    .unwrap();
    let replicas = replicas_on(&url).await;
    let (a, b) = (&replicas.a, &replicas.b);
    let run_id = a.new_run().await;
    let mut socket = follow(b, &run_id).await;
    let path = format!("/api/v1/runs/{run_id}/metrics");
    let point = |step: i64| json!({"metrics": [{"key": "loss", "steps": [step], "values": [0.5]}]});

    let stopper = Arc::clone(&cluster);
    tokio::task::spawn_blocking(move || stopper.stop())
        .await
        .unwrap()
        .expect("stop the database");
    // Writes and reads are refused as unavailable, with a hint when to retry; never a 500.
    let response = a
        .client
        .post(a.url(&path))
        .json(&point(1))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().contains_key("retry-after"));
    let response = b
        .client
        .get(b.url(&format!("/api/2.0/mlflow/runs/get?run_id={run_id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().contains_key("retry-after"));

    let starter = Arc::clone(&cluster);
    tokio::task::spawn_blocking(move || starter.restart())
        .await
        .unwrap()
        .expect("restart the database");
    // B's relay reconnects and tells its subscribers they may have missed events.
    loop {
        if events(&mut socket)
            .await
            .iter()
            .any(|e| e["type"] == "resync")
        {
            break;
        }
    }
    // Without restarting either server: writes through A land and reach B's subscriber.
    let (status, body) = a.post(&path, point(2)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let event = loop {
        if let Some(event) = events(&mut socket)
            .await
            .into_iter()
            .find(|e| e["type"] == "points")
        {
            break event;
        }
    };
    assert_eq!(event["steps"], json!([2]));
    let (status, body) = b
        .get(&format!(
            "/api/2.0/mlflow/metrics/get-history?run_id={run_id}&metric_key=loss"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["metrics"].as_array().map(Vec::len), Some(1), "{body}");
}

/// A webhook on loopback that answers 200 and keeps every request it got.
async fn webhook() -> (String, Arc<std::sync::Mutex<Vec<String>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let requests: Arc<std::sync::Mutex<Vec<String>>> = Arc::default();
    let seen = Arc::clone(&requests);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut buffer = vec![0u8; 65536];
            let n = socket.read(&mut buffer).await.unwrap_or(0);
            seen.lock()
                .unwrap()
                .push(String::from_utf8_lossy(&buffer[..n]).into_owned());
            let _ = socket
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                .await;
        }
    });
    (url, requests)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_alert_fires_once_though_both_replicas_see_the_event() {
    let url = tokio::task::spawn_blocking(|| TestCluster::shared().fresh_database())
        .await
        .unwrap();
    // The rule exists before the replicas start, so both watch it from the first event on.
    let (hook, requests) = webhook().await;
    let setup = PgStore::connect_with(&url, 2).await.expect("connect");
    let experiment_id = setup
        .create_experiment(
            NewExperiment {
                name: "alerts".into(),
                artifact_location: None,
                tags: vec![],
                creation_time: 1,
                access: None,
            },
            ArtifactLocation::UnderRoot("mlflow-artifacts:".into()),
        )
        .await
        .unwrap();
    let rule = setup
        .create_alert(AlertRule {
            id: 0,
            experiment_id: experiment_id.clone(),
            name: "loss too high".into(),
            condition: Condition::MetricAbove {
                key: "loss".into(),
                threshold: 1.0,
            },
            webhook_url: hook,
            format: Format::Json,
            created: 0,
        })
        .await
        .unwrap();
    drop(setup);
    let replicas = replicas_on(&url).await;
    let (a, b) = (&replicas.a, &replicas.b);

    let run_id = a.new_run_in(&experiment_id).await;
    // Written through A: A sees the point on its own bus, B through the relay.
    let (status, body) = a
        .post(
            &format!("/api/v1/runs/{run_id}/metrics"),
            json!({"metrics": [{"key": "loss", "steps": [1], "values": [5.0]}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while requests.lock().unwrap().is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Give a second delivery, if any, time to arrive as well.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let got = requests.lock().unwrap().clone();
    assert_eq!(got.len(), 1, "one delivery: {got:?}");
    assert!(got[0].contains(&run_id), "{}", got[0]);
    let (status, body) = b
        .get(&format!("/api/v1/alerts/{}/deliveries", rule.id))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["deliveries"].as_array().map(Vec::len),
        Some(1),
        "{body}"
    );
}
