//! The native routes the web UI reads and writes: experiments (search, create, change), their
//! keys, runs (get, change, windows of a search with counts), and the UI's own paths, over a
//! real socket.

use reqwest::StatusCode;
use serde_json::{Value, json};

mod common;

use common::TestServer;

async fn send(
    server: &TestServer,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = server.client.request(method, server.url(path));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn patch(server: &TestServer, path: &str, body: Value) -> (StatusCode, Value) {
    send(server, reqwest::Method::PATCH, path, Some(body)).await
}

async fn create_experiment(server: &TestServer, name: &str) -> String {
    let (status, body) = server
        .post("/api/v1/experiments", json!({ "name": name }))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["experiment"]["experiment_id"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn run_in(
    server: &TestServer,
    experiment_id: &str,
    name: &str,
    loss: f64,
    lr: &str,
) -> String {
    let run_id = uuid::Uuid::new_v4().simple().to_string();
    let (status, body) = send(
        server,
        reqwest::Method::PUT,
        &format!("/api/v1/runs/{run_id}"),
        Some(json!({ "experiment_id": experiment_id, "run_name": name })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = server
        .post(
            "/api/2.0/mlflow/runs/log-batch",
            json!({
                "run_id": run_id,
                "params": [{"key": "lr", "value": lr}],
                "metrics": [
                    {"key": "loss", "value": loss + 1.0, "timestamp": 1, "step": 0},
                    {"key": "loss", "value": loss, "timestamp": 2, "step": 1},
                ],
                "tags": [{"key": "team", "value": "vision"}],
            }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    run_id
}

fn names(body: &Value) -> Vec<String> {
    body["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["info"]["run_name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn experiments_are_created_searched_described_renamed_deleted_and_restored() {
    let server = TestServer::start().await;
    let (status, body) = server
        .post(
            "/api/v1/experiments",
            json!({"name": "vision", "description": "Image **models**", "tags": [{"key": "team", "value": "cv"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["experiment"]["experiment_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(body["experiment"]["description"], "Image **models**");
    create_experiment(&server, "language").await;
    run_in(&server, &id, "a", 0.5, "0.1").await;

    let (status, body) = server
        .post("/api/v1/experiments", json!({"name": "vision"}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error_code"], "RESOURCE_ALREADY_EXISTS");

    let (status, list) = server
        .get("/api/v1/experiments?filter=name%20LIKE%20%27%25isi%25%27")
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let found = list["experiments"].as_array().unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["name"], "vision");
    assert_eq!(found[0]["active_runs"], 1);

    let (status, body) = patch(
        &server,
        &format!("/api/v1/experiments/{id}"),
        json!({"name": "vision-2", "description": "", "set_tags": [{"key": "stage", "value": "prod"}], "delete_tags": ["team"]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let experiment = &body["experiment"];
    assert_eq!(experiment["name"], "vision-2");
    assert!(experiment.get("description").is_none(), "{experiment}");
    let tags: Vec<&str> = experiment["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["key"].as_str().unwrap())
        .collect();
    assert_eq!(tags, vec!["stage"]);

    // A taken name is a conflict and changes nothing else in the same call.
    let (status, body) = patch(
        &server,
        &format!("/api/v1/experiments/{id}"),
        json!({"name": "language", "description": "should not stick"}),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (_, body) = server.get(&format!("/api/v1/experiments/{id}")).await;
    assert!(body["experiment"].get("description").is_none(), "{body}");

    let (status, body) = patch(
        &server,
        &format!("/api/v1/experiments/{id}"),
        json!({"lifecycle_stage": "deleted"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["experiment"]["lifecycle_stage"], "deleted");
    let (_, active) = server.get("/api/v1/experiments").await;
    assert!(
        !active["experiments"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["experiment_id"] == id.as_str())
    );
    let (_, deleted) = server.get("/api/v1/experiments?view=deleted_only").await;
    assert_eq!(deleted["experiments"][0]["experiment_id"], id.as_str());
    let (status, body) = patch(
        &server,
        &format!("/api/v1/experiments/{id}"),
        json!({"lifecycle_stage": "active", "description": "back"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["experiment"]["lifecycle_stage"], "active");
    assert_eq!(body["experiment"]["description"], "back");
}

#[tokio::test]
async fn experiment_mistakes_are_4xx_and_change_nothing() {
    let server = TestServer::start().await;
    let id = create_experiment(&server, "e").await;
    for (body, status) in [
        (json!({"lifecycle_stage": "gone"}), StatusCode::BAD_REQUEST),
        (json!({"name": ""}), StatusCode::BAD_REQUEST),
        (json!({"unknown": 1}), StatusCode::BAD_REQUEST),
        (
            json!({"set_tags": [{"key": "", "value": "x"}]}),
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let (got, answer) =
            patch(&server, &format!("/api/v1/experiments/{id}"), body.clone()).await;
        assert_eq!(got, status, "{body} -> {answer}");
        assert!(answer["message"].is_string(), "{answer}");
    }
    let (status, _) = patch(&server, "/api/v1/experiments/999999", json!({"name": "x"})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = server.get("/api/v1/experiments/abc").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = server.get("/api/v1/experiments?view=sideways").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = server.get("/api/v1/experiments?filter=name%20%3D%3D").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (_, body) = server.get(&format!("/api/v1/experiments/{id}")).await;
    assert_eq!(body["experiment"]["name"], "e");
    assert_eq!(body["experiment"]["tags"], json!([]));
}

#[tokio::test]
async fn run_windows_count_filter_sort_and_summarise() {
    let server = TestServer::start().await;
    let exp = create_experiment(&server, "table").await;
    for index in 0..25 {
        run_in(
            &server,
            &exp,
            &format!("r{index:02}"),
            index as f64,
            &format!("0.{}", index % 3),
        )
        .await;
    }
    let search = |body: Value| {
        let server = &server;
        async move { server.post("/api/v1/runs/search", body).await }
    };
    let (status, all) =
        search(json!({"experiment_ids": [exp], "order_by": ["metrics.loss ASC"], "limit": 1000}))
            .await;
    assert_eq!(status, StatusCode::OK, "{all}");
    assert_eq!(all["total"], 25);
    let everything = names(&all);
    assert_eq!(everything[0], "r00");
    assert_eq!(everything[24], "r24");

    let (_, window) = search(json!({"experiment_ids": [exp], "order_by": ["metrics.loss ASC"], "offset": 10, "limit": 5, "summaries": ["loss"]})).await;
    assert_eq!(window["total"], 25);
    assert_eq!(window["offset"], 10);
    assert_eq!(names(&window), everything[10..15].to_vec());
    let row = &window["runs"][0];
    assert_eq!(row["params"]["lr"], "0.1");
    assert_eq!(row["tags"]["team"], "vision");
    assert_eq!(row["metrics"]["loss"], 10.0);
    assert_eq!(row["summaries"]["loss"]["min"], 10.0);
    assert_eq!(row["summaries"]["loss"]["max"], 11.0);
    assert_eq!(row["summaries"]["loss"]["count"], 2);

    let (_, filtered) = search(json!({"experiment_ids": [exp], "filter": "metrics.loss < 10 and params.lr = '0.0'", "limit": 100})).await;
    assert_eq!(filtered["total"], 4, "{filtered}");
    assert_eq!(filtered["runs"].as_array().unwrap().len(), 4);

    let (_, counted) = search(json!({"experiment_ids": [exp], "limit": 0})).await;
    assert_eq!(counted["total"], 25);
    assert_eq!(counted["runs"], json!([]));

    for (body, what) in [
        (
            json!({"experiment_ids": [exp], "filter": "metrics.loss <"}),
            "position",
        ),
        (json!({"experiment_ids": [exp], "limit": 1001}), "limit"),
        (json!({"experiment_ids": []}), "experiment_ids"),
        (
            json!({"experiment_ids": [exp], "order_by": ["sideways"]}),
            "order",
        ),
        (json!({"experiment_ids": [exp], "view": "some"}), "view"),
        (json!({"experiment_ids": [exp], "bogus": true}), "bogus"),
    ] {
        let (status, answer) = search(body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body} -> {answer}");
        let message = answer["message"].as_str().unwrap().to_lowercase();
        assert!(message.contains(what), "{body} -> {answer}");
    }
}

#[tokio::test]
async fn runs_are_read_annotated_renamed_deleted_and_restored() {
    let server = TestServer::start().await;
    let exp = create_experiment(&server, "runs").await;
    let run_id = run_in(&server, &exp, "first", 1.0, "0.1").await;
    let (status, body) = server.get(&format!("/api/v1/runs/{run_id}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["run"]["info"]["run_name"], "first");

    let (status, body) = patch(
        &server,
        &format!("/api/v1/runs/{run_id}"),
        json!({"run_name": "second", "note": "# Notes", "set_tags": [{"key": "k", "value": "v"}], "delete_tags": ["team"]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let run = &body["run"];
    assert_eq!(run["info"]["run_name"], "second");
    let tags = run["data"]["tags"].as_array().unwrap();
    let tag = |key: &str| {
        tags.iter()
            .find(|t| t["key"] == key)
            .map(|t| t["value"].clone())
    };
    assert_eq!(tag("mlflow.note.content"), Some(json!("# Notes")));
    assert_eq!(tag("k"), Some(json!("v")));
    assert_eq!(tag("team"), None);
    assert_eq!(tag("mlflow.runName"), Some(json!("second")));

    let (status, body) = patch(
        &server,
        &format!("/api/v1/runs/{run_id}"),
        json!({"lifecycle_stage": "deleted"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["run"]["info"]["lifecycle_stage"], "deleted");
    let (_, counted) = server
        .post(
            "/api/v1/runs/search",
            json!({"experiment_ids": [exp], "limit": 0}),
        )
        .await;
    assert_eq!(counted["total"], 0);
    let (_, counted) = server
        .post(
            "/api/v1/runs/search",
            json!({"experiment_ids": [exp], "limit": 0, "view": "deleted_only"}),
        )
        .await;
    assert_eq!(counted["total"], 1);
    let (status, body) = patch(
        &server,
        &format!("/api/v1/runs/{run_id}"),
        json!({"lifecycle_stage": "active", "note": ""}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["run"]["info"]["lifecycle_stage"], "active");
    assert!(
        !body["run"]["data"]["tags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["key"] == "mlflow.note.content")
    );

    for body in [
        json!({"run_name": ""}),
        json!({"lifecycle_stage": "x"}),
        json!({"set_tags": [{"key": "", "value": "v"}]}),
        json!({"nope": 1}),
    ] {
        let (status, answer) =
            patch(&server, &format!("/api/v1/runs/{run_id}"), body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body} -> {answer}");
    }
    let (_, body) = server.get(&format!("/api/v1/runs/{run_id}")).await;
    assert_eq!(body["run"]["info"]["run_name"], "second");
    let (status, _) = server
        .get("/api/v1/runs/0123456789abcdef0123456789abcdef")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn experiment_keys_list_what_its_runs_use() {
    let server = TestServer::start().await;
    let exp = create_experiment(&server, "keys").await;
    run_in(&server, &exp, "a", 1.0, "0.1").await;
    let (status, keys) = server.get(&format!("/api/v1/experiments/{exp}/keys")).await;
    assert_eq!(status, StatusCode::OK, "{keys}");
    assert_eq!(keys["params"], json!(["lr"]));
    assert_eq!(keys["metrics"], json!(["loss"]));
    assert!(keys["tags"].as_array().unwrap().contains(&json!("team")));
    let (status, _) = server.get("/api/v1/experiments/424242/keys").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn many_series_sends_only_the_requested_bucket_fields() {
    let server = TestServer::start().await;
    let exp = create_experiment(&server, "fields").await;
    let run_id = run_in(&server, &exp, "a", 1.0, "0.1").await;
    let (status, body) = server
        .post(
            "/api/v1/series",
            json!({"run_ids": [run_id], "key": "loss", "fields": ["start", "mean"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let buckets = body["runs"][0]["buckets"].as_object().unwrap();
    let mut fields: Vec<&str> = buckets.keys().map(String::as_str).collect();
    fields.sort();
    assert_eq!(fields, vec!["mean", "start"]);
    assert_eq!(buckets["mean"], json!([2.0, 1.0]));
    let (status, body) = server
        .post(
            "/api/v1/series",
            json!({"run_ids": [run_id], "key": "loss", "fields": ["median"]}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["message"].as_str().unwrap().contains("median"));
}

#[tokio::test]
async fn the_ui_is_served_at_its_routes_and_the_api_keeps_its_404s() {
    let server = TestServer::start().await;
    for path in ["/", "/experiments/1", "/runs/abc", "/compare?runs=a,b"] {
        let response = server.client.get(server.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let content_type = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(
            content_type.starts_with("text/html"),
            "{path}: {content_type}"
        );
        let text = response.text().await.unwrap();
        assert!(text.contains("<html"), "{path}");
    }
    let (status, body) = server.get("/api/v1/nothing-here").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error_code"], "ENDPOINT_NOT_FOUND");
    let response = server
        .client
        .get(server.url("/assets/../../etc/passwd"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let response = server.client.post(server.url("/")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}
