//! The live stream end to end over a real WebSocket: points and run changes arrive, filters hold,
//! bad subscriptions get clear errors.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

mod common;

use common::TestServer;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(server: &TestServer, query: &str) -> Socket {
    let url = format!(
        "{}/api/v1/stream{query}",
        server.base.replace("http://", "ws://")
    );
    let (socket, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("connect");
    socket
}

/// The next event (frames may carry several), waiting at most a few seconds.
async fn next_events(socket: &mut Socket) -> Vec<Value> {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(5), socket.next())
            .await
            .expect("an event within 5 s")
            .expect("socket open")
            .expect("a message");
        if let Message::Text(text) = message {
            let frame: Value = serde_json::from_str(&text).unwrap();
            return frame["events"].as_array().unwrap().clone();
        }
    }
}

/// Collects events until one satisfies `wanted`.
async fn wait_for(socket: &mut Socket, wanted: impl Fn(&Value) -> bool) -> Value {
    loop {
        for event in next_events(socket).await {
            if wanted(&event) {
                return event;
            }
        }
    }
}

#[tokio::test]
async fn points_and_run_changes_arrive_live() {
    let server = TestServer::start().await;
    let run_id = server.new_run().await;
    let other = server.new_run().await;
    let mut socket = connect(&server, &format!("?runs={run_id}")).await;
    let hello = next_events(&mut socket).await;
    assert_eq!(hello[0]["type"], "hello");

    // Points of another run are not sent; ours are, through both ingest paths.
    let (status, _) = server
        .post(
            &format!("/api/v1/runs/{other}/metrics"),
            json!({"metrics": [{"key": "x", "steps": [1], "values": [1]}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = server
        .post(
            &format!("/api/v1/runs/{run_id}/metrics"),
            json!({"metrics": [{"key": "loss", "steps": [1, 2], "values": [0.5, "NaN"], "timestamp": 7}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let event = wait_for(&mut socket, |e| e["type"] == "points").await;
    assert_eq!(event["run_id"], run_id.as_str());
    assert_eq!(event["key"], "loss");
    assert_eq!(event["steps"], json!([1, 2]));
    assert_eq!(event["values"], json!([0.5, "NaN"]));
    assert_eq!(event["timestamps"], json!([7, 7]));

    let (status, _) = server
        .post(
            "/api/2.0/mlflow/runs/log-batch",
            json!({"run_id": run_id, "metrics": [{"key": "acc", "value": 0.9, "timestamp": 9, "step": 3}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let event = wait_for(&mut socket, |e| e["type"] == "points").await;
    assert_eq!(
        (event["key"].clone(), event["steps"].clone()),
        (json!("acc"), json!([3]))
    );

    // Following the experiment brings new runs and status changes.
    socket
        .send(Message::Text(
            json!({"subscribe": {"experiments": ["0"]}})
                .to_string()
                .into(),
        ))
        .await
        .unwrap();
    wait_for(&mut socket, |e| e["type"] == "ack").await;
    let fresh = server.new_run().await;
    let event = wait_for(&mut socket, |e| e["type"] == "run").await;
    assert_eq!(event["change"], "created");
    assert_eq!(event["run_id"], fresh.as_str());
    assert_eq!(event["status"], "RUNNING");
    let (status, _) = server
        .post(
            "/api/2.0/mlflow/runs/update",
            json!({"run_id": fresh, "status": "FINISHED", "end_time": 99}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let event = wait_for(&mut socket, |e| e["type"] == "run").await;
    assert_eq!(event["change"], "updated");
    assert_eq!(event["status"], "FINISHED");
    assert_eq!(event["end_time"], 99);
    let (status, _) = server
        .post("/api/2.0/mlflow/runs/delete", json!({"run_id": fresh}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let event = wait_for(&mut socket, |e| e["type"] == "run").await;
    assert_eq!(event["change"], "deleted");
    assert_eq!(event["lifecycle_stage"], "deleted");

    // A bad message is answered and changes nothing.
    socket
        .send(Message::Text(r#"{"subscribe": {"runs": ["../x"]}}"#.into()))
        .await
        .unwrap();
    let event = wait_for(&mut socket, |e| e["type"] == "error").await;
    assert!(
        event["message"]
            .as_str()
            .unwrap()
            .contains("Invalid run ID"),
        "{event}"
    );
    socket
        .send(Message::Text(
            json!({"unsubscribe": {"runs": [run_id], "experiments": ["0"]}})
                .to_string()
                .into(),
        ))
        .await
        .unwrap();
    wait_for(&mut socket, |e| e["type"] == "ack").await;
    server
        .post(
            &format!("/api/v1/runs/{run_id}/metrics"),
            json!({"metrics": [{"key": "loss", "steps": [5], "values": [1]}]}),
        )
        .await;
    let quiet = tokio::time::timeout(Duration::from_millis(300), socket.next()).await;
    assert!(
        quiet.is_err(),
        "nothing arrives after unsubscribing: {quiet:?}"
    );
}

#[tokio::test]
async fn bad_stream_requests_are_4xx() {
    let server = TestServer::start().await;
    for (query, says) in [
        ("?runs=..%2Fx", "Invalid run ID"),
        ("?experiments=abc", "experiment ids are decimal numbers"),
        ("?bogus=1", "unknown field"),
    ] {
        let (status, body) = server.get(&format!("/api/v1/stream{query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert!(
            body["message"].as_str().unwrap().contains(says),
            "{query}: {body}"
        );
    }
    // A plain GET (no upgrade) is told what the route speaks.
    let (status, body) = server.get("/api/v1/stream?runs=").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["message"].as_str().unwrap().contains("WebSocket"),
        "{body}"
    );
}

#[tokio::test]
async fn a_replayed_ingest_is_not_published_again() {
    let server = TestServer::start().await;
    let run_id = server.new_run().await;
    let mut socket = connect(&server, &format!("?runs={run_id}")).await;
    wait_for(&mut socket, |e| e["type"] == "hello").await;
    let send = |step: i64, key: &'static str| {
        server
            .client
            .post(server.url(&format!("/api/v1/runs/{run_id}/metrics")))
            .header("Idempotency-Key", key)
            .json(&json!({"metrics": [{"key": "m", "steps": [step], "values": [1]}]}))
            .send()
    };
    for (step, key) in [(1, "a"), (1, "a"), (2, "b")] {
        assert_eq!(send(step, key).await.unwrap().status(), StatusCode::OK);
    }
    let mut steps = Vec::new();
    while steps.len() < 2 {
        for event in next_events(&mut socket).await {
            if event["type"] == "points" {
                steps.extend(
                    event["steps"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|s| s.as_i64().unwrap()),
                );
            }
        }
    }
    assert_eq!(steps, vec![1, 2], "the retry of step 1 was not sent again");
    let quiet = tokio::time::timeout(Duration::from_millis(200), socket.next()).await;
    assert!(quiet.is_err(), "nothing more arrives: {quiet:?}");
}
