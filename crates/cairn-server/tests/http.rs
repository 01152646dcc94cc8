//! The real server on 127.0.0.1:0 with a fresh store per test, driven over HTTP.

use reqwest::StatusCode;
use serde_json::{Value, json};

mod common;

use common::{TestServer, raw_put};

#[tokio::test]
async fn health_version_and_unknown_routes() {
    let server = TestServer::start().await;
    let response = server
        .client
        .get(server.url("/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.text().await.unwrap(), "OK");
    let response = server
        .client
        .get(server.url("/version"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let (status, body) = server.get("/api/2.0/mlflow/nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error_code"], "ENDPOINT_NOT_FOUND");
    let (status, body) = server.get("/api/3.0/mlflow/server-info").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["multipart_uploads_enabled"], true);
    assert_eq!(body["multipart_downloads_enabled"], false);
}

#[tokio::test]
async fn default_experiment_and_experiment_crud() {
    let server = TestServer::start().await;
    let (status, body) = server
        .get("/api/2.0/mlflow/experiments/get?experiment_id=0")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["experiment"]["name"], "Default");

    let (status, body) = server
        .post(
            "/api/2.0/mlflow/experiments/create",
            json!({"name": "exp-a", "tags": [{"key": "team", "value": "x"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let id = body["experiment_id"].as_str().unwrap().to_string();

    let (status, body) = server
        .post(
            "/api/2.0/mlflow/experiments/create",
            json!({"name": "exp-a"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error_code"], "RESOURCE_ALREADY_EXISTS");

    let (status, body) = server
        .get("/ajax-api/2.0/mlflow/experiments/get-by-name?experiment_name=exp-a")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["experiment"]["experiment_id"], id.as_str());
    assert_eq!(
        body["experiment"]["artifact_location"],
        format!("mlflow-artifacts:/{id}")
    );

    let (status, body) = server
        .get("/api/2.0/mlflow/experiments/get-by-name?experiment_name=missing")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body["message"],
        "Could not find experiment with name 'missing'"
    );
}

#[tokio::test]
async fn runs_log_and_read_back() {
    let server = TestServer::start().await;
    let run_id = server.new_run().await;
    let batch = json!({
        "run_id": run_id,
        "metrics": [
            {"key": "loss", "value": 0.5, "timestamp": 10, "step": 2},
            {"key": "loss", "value": "NaN", "timestamp": 11, "step": 1},
            {"key": "acc", "value": "Infinity", "timestamp": "12", "step": "3"}
        ],
        "params": [{"key": "lr", "value": "0.01"}],
        "tags": [{"key": "team", "value": "vision"}]
    });
    let (status, body) = server.post("/api/2.0/mlflow/runs/log-batch", batch).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let (status, body) = server
        .get(&format!("/api/2.0/mlflow/runs/get?run_id={run_id}"))
        .await;
    assert_eq!(status, StatusCode::OK);
    let metrics = body["run"]["data"]["metrics"].as_array().unwrap();
    let loss = metrics.iter().find(|m| m["key"] == "loss").unwrap();
    assert_eq!(loss["value"], 0.5, "latest is the largest step");
    let acc = metrics.iter().find(|m| m["key"] == "acc").unwrap();
    assert_eq!(acc["value"], "Infinity");
    assert_eq!(body["run"]["info"]["run_uuid"], run_id.as_str());

    let (status, body) = server
        .get(&format!(
            "/api/2.0/mlflow/metrics/get-history?run_id={run_id}&metric_key=loss"
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    let history = body["metrics"].as_array().unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[0]["value"], "NaN");
    assert_eq!(history[1]["step"], 2);
}

#[tokio::test]
async fn user_errors_are_4xx_with_mlflow_bodies() {
    let server = TestServer::start().await;
    let run_id = server.new_run().await;

    let (status, body) = server
        .get("/api/2.0/mlflow/runs/get?run_id=0123456789abcdef0123456789abcdef")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body["message"],
        "Run with id=0123456789abcdef0123456789abcdef not found"
    );

    let response = server
        .client
        .post(server.url("/api/2.0/mlflow/runs/log-parameter"))
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    let (status, body) = server
        .post(
            "/api/2.0/mlflow/runs/log-parameter",
            json!({"run_id": run_id, "key": "p", "value": "1"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = server
        .post(
            "/api/2.0/mlflow/runs/log-parameter",
            json!({"run_id": run_id, "key": "p", "value": "2"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("Changing param values is not allowed"),
        "{body}"
    );

    let (status, body) = server
        .post(
            "/api/2.0/mlflow/runs/log-metric",
            json!({"run_id": run_id, "key": "a!b", "value": 1, "timestamp": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error_code"], "INVALID_PARAMETER_VALUE");

    let (status, _) = server
        .post(
            "/api/2.0/mlflow/runs/log-metric",
            json!({"run_id": run_id, "key": "m", "value": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "timestamp is required");

    let metrics: Vec<Value> = (0..1001)
        .map(|i| json!({"key": "m", "value": i, "timestamp": 1, "step": i}))
        .collect();
    let (status, _) = server
        .post(
            "/api/2.0/mlflow/runs/log-batch",
            json!({"run_id": run_id, "metrics": metrics}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (status, body) = server
        .post(
            "/api/2.0/mlflow/runs/search",
            json!({"experiment_ids": ["0"], "filter": "metrics.acc >> 1"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    let (status, _) = server
        .post("/api/2.0/mlflow/runs/delete", json!({"run_id": run_id}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = server
        .post(
            "/api/2.0/mlflow/runs/set-tag",
            json!({"run_id": run_id, "key": "t", "value": "v"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("must be in the 'active' state"),
        "{body}"
    );
    let (status, _) = server
        .post("/api/2.0/mlflow/runs/log-batch", json!({"run_id": run_id}))
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "an empty batch still checks the run"
    );
    let (status, _) = server
        .post(
            "/api/2.0/mlflow/runs/log-batch",
            json!({"run_id": "0123456789abcdef0123456789abcdef"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn search_filters_orders_and_pages() {
    let server = TestServer::start().await;
    for i in 0..7 {
        let run_id = server.new_run().await;
        let batch = json!({
            "run_id": run_id,
            "metrics": [{"key": "acc", "value": i as f64 / 10.0, "timestamp": 1, "step": 0}],
            "params": [{"key": "i", "value": i.to_string()}],
            "tags": [{"key": "parity", "value": if i % 2 == 0 { "even" } else { "odd" }}]
        });
        assert_eq!(
            server.post("/api/2.0/mlflow/runs/log-batch", batch).await.0,
            StatusCode::OK
        );
    }
    let (status, body) = server
        .post(
            "/api/2.0/mlflow/runs/search",
            json!({"experiment_ids": ["0"], "filter": "metrics.acc > 0.15 and tags.parity = 'even'", "order_by": ["metrics.acc DESC"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let values: Vec<f64> = body["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["data"]["metrics"][0]["value"].as_f64().unwrap())
        .collect();
    assert_eq!(values, vec![0.6, 0.4, 0.2]);

    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut request =
            json!({"experiment_ids": ["0"], "max_results": 3, "order_by": ["params.i ASC"]});
        if let Some(t) = &token {
            request["page_token"] = json!(t);
        }
        let (status, body) = server.post("/api/2.0/mlflow/runs/search", request).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        for run in body["runs"].as_array().unwrap() {
            seen.push(
                run["data"]["params"][0]["value"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            );
        }
        match body["next_page_token"].as_str() {
            Some(t) => token = Some(t.to_string()),
            None => break,
        }
    }
    assert_eq!(seen, vec!["0", "1", "2", "3", "4", "5", "6"]);

    let (status, _) = server
        .post(
            "/api/2.0/mlflow/runs/search",
            json!({"experiment_ids": ["0"], "page_token": "garbage"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn artifact_proxy_round_trip_and_traversal() {
    let server = TestServer::start().await;
    let run_id = server.new_run().await;
    let base = format!("/api/2.0/mlflow-artifacts/artifacts/0/{run_id}/artifacts");
    let payload = vec![7u8; 300_000];
    let response = server
        .client
        .put(server.url(&format!("{base}/dir/data.bin")))
        .body(payload.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let response = server
        .client
        .get(server.url(&format!("{base}/dir/data.bin")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    assert_eq!(response.bytes().await.unwrap().to_vec(), payload);

    let (status, body) = server
        .get(&format!(
            "/api/2.0/mlflow-artifacts/artifacts?path=0/{run_id}/artifacts"
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["files"], json!([{"path": "dir", "is_dir": true}]));
    let (_, body) = server
        .get("/api/2.0/mlflow-artifacts/artifacts?path=nothing/here")
        .await;
    assert_eq!(body, json!({}));

    let (status, body) = server
        .get(&format!(
            "/api/2.0/mlflow/artifacts/list?run_id={run_id}&path=dir"
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body["files"],
        json!([{"path": "dir/data.bin", "is_dir": false, "file_size": 300000}])
    );

    let response = server
        .client
        .get(server.url(&format!("{base}/dir")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    // Raw requests: an HTTP client library would normalise these paths before sending them.
    for bad in [
        "/api/2.0/mlflow-artifacts/artifacts/a/%2E%2E/x",
        "/api/2.0/mlflow-artifacts/artifacts/a/%2e%2e/%2e%2e/x",
        "/api/2.0/mlflow-artifacts/artifacts/a/",
        "/api/2.0/mlflow-artifacts/artifacts/a/../../x",
        "/api/2.0/mlflow-artifacts/artifacts//etc/passwd",
    ] {
        let status = raw_put(&server.base, bad).await;
        assert!(status.starts_with("HTTP/1.1 4"), "{bad}: {status}");
    }
    assert!(!server._data.path().join("x").exists());
}

#[tokio::test]
async fn sampled_and_bulk_history() {
    let server = TestServer::start().await;
    let mut runs = Vec::new();
    for offset in [0i64, 1] {
        let run_id = server.new_run().await;
        let metrics: Vec<Value> = (0..100)
            .map(|step| json!({"key": "loss", "value": (step + offset) as f64, "timestamp": 1000 + step, "step": step}))
            .collect();
        let (status, body) = server
            .post(
                "/api/2.0/mlflow/runs/log-batch",
                json!({"run_id": run_id, "metrics": metrics}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        runs.push(run_id);
    }
    let query = format!(
        "/ajax-api/2.0/mlflow/metrics/get-history-bulk-interval?run_ids={}&run_ids={}&metric_key=loss&max_results=10",
        runs[0], runs[1]
    );
    let (status, body) = server.get(&query).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for run_id in &runs {
        let steps: Vec<i64> = body["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["run_id"] == run_id.as_str())
            .map(|m| m["step"].as_i64().unwrap())
            .collect();
        assert!(steps.len() <= 10 && steps.len() >= 2, "{steps:?}");
        assert_eq!(steps.first(), Some(&0), "first step is always included");
        assert_eq!(steps.last(), Some(&99), "last step is always included");
        assert!(steps.windows(2).all(|w| w[0] < w[1]));
    }
    let query = format!(
        "/ajax-api/2.0/mlflow/metrics/get-history-bulk-interval?run_ids={}&metric_key=loss&start_step=10&end_step=20&max_results=3",
        runs[0]
    );
    let (_, body) = server.get(&query).await;
    let steps: Vec<i64> = body["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["step"].as_i64().unwrap())
        .collect();
    assert_eq!(steps.first(), Some(&10));
    assert_eq!(steps.last(), Some(&20));

    let too_many: String = (0..101).map(|i| format!("run_ids=r{i}&")).collect();
    let (status, _) = server
        .get(&format!(
            "/ajax-api/2.0/mlflow/metrics/get-history-bulk-interval?{too_many}metric_key=loss"
        ))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = server
        .get(&format!("/ajax-api/2.0/mlflow/metrics/get-history-bulk-interval?run_ids={}&metric_key=loss&max_results=0", runs[0]))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (status, body) = server
        .get(&format!("/ajax-api/2.0/mlflow/metrics/get-history-bulk?run_id={}&run_id={}&metric_key=loss&max_results=5", runs[0], runs[1]))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let points = body["metrics"].as_array().unwrap();
    assert_eq!(points.len(), 10);
    assert_eq!(points[5]["run_id"], runs[1].as_str());
    assert_eq!(points[5]["value"], 1.0);
}

#[tokio::test]
async fn logged_models_lifecycle() {
    let server = TestServer::start().await;
    let run_id = server.new_run().await;
    let (status, body) = server
        .post(
            "/api/2.0/mlflow/logged-models",
            json!({"experiment_id": "0", "name": "clf", "model_type": "sklearn", "source_run_id": run_id,
                   "params": [{"key": "C", "value": "1.0"}], "tags": [{"key": "stage", "value": "dev"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let info = &body["model"]["info"];
    let model_id = info["model_id"].as_str().unwrap().to_string();
    assert!(model_id.starts_with("m-") && model_id.len() == 34);
    assert_eq!(info["status"], "LOGGED_MODEL_PENDING");
    assert_eq!(
        info["artifact_uri"],
        format!("mlflow-artifacts:/0/models/{model_id}/artifacts")
    );

    let metric = json!({"run_id": run_id, "key": "acc", "value": 0.9, "timestamp": 5, "step": 1,
                        "model_id": model_id, "dataset_name": "train", "dataset_digest": "abc"});
    assert_eq!(
        server
            .post("/api/2.0/mlflow/runs/log-metric", metric)
            .await
            .0,
        StatusCode::OK
    );

    let response = server
        .client
        .patch(server.url(&format!("/api/2.0/mlflow/logged-models/{model_id}")))
        .json(&json!({"model_id": model_id, "status": "LOGGED_MODEL_READY"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    let (status, body) = server
        .get(&format!("/api/2.0/mlflow/logged-models/{model_id}"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["model"]["info"]["status"], "LOGGED_MODEL_READY");
    let metrics = body["model"]["data"]["metrics"].as_array().unwrap();
    assert_eq!(metrics.len(), 1);
    assert_eq!(metrics[0]["dataset_name"], "train");

    let (status, body) = server
        .post(
            "/api/2.0/mlflow/logged-models/search",
            json!({"experiment_ids": ["0"], "filter": "name = 'clf'"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["models"].as_array().unwrap().len(), 1);
    let (_, body) = server
        .post(
            "/api/2.0/mlflow/logged-models/search",
            json!({"experiment_ids": ["0"], "filter": "name = 'other'"}),
        )
        .await;
    assert!(
        body.get("models")
            .is_none_or(|m| m.as_array().unwrap().is_empty()),
        "{body}"
    );

    let (status, body) = server
        .post(
            "/api/2.0/mlflow/runs/outputs",
            json!({"run_id": run_id, "models": [{"model_id": model_id, "step": 1}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, body) = server
        .get(&format!("/api/2.0/mlflow/runs/get?run_id={run_id}"))
        .await;
    assert_eq!(
        body["run"]["outputs"]["model_outputs"][0]["model_id"],
        model_id.as_str()
    );

    let response = server
        .client
        .delete(server.url(&format!("/api/2.0/mlflow/logged-models/{model_id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let (status, body) = server
        .get(&format!("/api/2.0/mlflow/logged-models/{model_id}"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error_code"], "RESOURCE_DOES_NOT_EXIST");
}

/// Every route, fed wrong types, absurd numbers and garbage: never a 5xx, always a JSON error.
#[tokio::test]
async fn hostile_input_never_yields_a_5xx() {
    let server = TestServer::start().await;
    let run_id = server.new_run().await;
    let post_routes = [
        "experiments/create",
        "experiments/search",
        "experiments/update",
        "experiments/delete",
        "experiments/restore",
        "experiments/set-experiment-tag",
        "experiments/delete-experiment-tag",
        "runs/create",
        "runs/update",
        "runs/delete",
        "runs/restore",
        "runs/search",
        "runs/log-metric",
        "runs/log-parameter",
        "runs/log-batch",
        "runs/set-tag",
        "runs/delete-tag",
        "runs/log-inputs",
        "runs/outputs",
        "runs/log-model",
        "logged-models",
        "logged-models/search",
        "logged-models/m-0123/params",
    ];
    let huge = "9".repeat(40);
    let bodies = vec![
        json!({}),
        json!({"run_id": 5, "experiment_id": [1], "name": {"a": 1}}),
        json!({"run_id": run_id, "experiment_id": huge, "max_results": -1, "page_token": "%%%"}),
        json!({"run_id": run_id, "experiment_ids": ["0"], "max_results": 1e300, "filter": "((("}),
        json!({"run_id": run_id, "experiment_ids": ["0"], "page_token": "YzF8b3x4fDk5OTk5OTk5OTk5OTk5OTk5OTk5OQ"}),
        json!({"run_id": run_id, "metrics": "x", "params": [1], "tags": [{"key": null}]}),
        json!({"run_id": run_id, "metrics": [{"key": "k", "value": "abc", "timestamp": "t", "step": 1.5}]}),
        json!({"run_id": run_id, "metrics": [{"key": "k", "value": 1, "timestamp": 1, "step": huge}]}),
        json!({"run_id": run_id, "key": "\u{0}", "value": "v", "timestamp": -5}),
        json!({"run_id": "../../etc", "key": "k", "value": 1, "timestamp": 1}),
        json!({"run_id": run_id, "datasets": [{"dataset": {"name": "d"}}], "models": [{}]}),
        json!({"run_id": run_id, "model_json": "{not json", "status": "NOPE", "end_time": "x"}),
        json!({"experiment_id": "0", "name": "", "filter": "name = 'x' OR name = 'y'", "order_by": [{"field_name": 5}]}),
        json!({"experiment_id": "0", "status": 99, "run_view_type": "SOMETIMES", "view_type": 42}),
    ];
    for route in post_routes {
        for body in &bodies {
            for prefix in ["/api/2.0/mlflow/", "/ajax-api/2.0/mlflow/"] {
                let (status, answer) = server.post(&format!("{prefix}{route}"), body.clone()).await;
                assert!(status.as_u16() < 500, "{route} {body}: {status} {answer}");
                if !status.is_success() {
                    assert!(answer["error_code"].is_string(), "{route} {body}: {answer}");
                }
            }
        }
        let response = server
            .client
            .post(server.url(&format!("/api/2.0/mlflow/{route}")))
            .header("content-type", "application/json")
            .body("{\"unterminated")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{route}");
    }
    let get_queries = [
        "runs/get?run_id=%00",
        "runs/get?run_uuid=zz&run_id=",
        "experiments/get?experiment_id=-1",
        &format!("experiments/get?experiment_id={huge}"),
        "experiments/get-by-name",
        "experiments/search?max_results=abc&view_type=NOPE",
        &format!("metrics/get-history?run_id={run_id}&metric_key=m&max_results=-3"),
        &format!("metrics/get-history?run_id={run_id}&metric_key=m&max_results={huge}"),
        &format!("metrics/get-history?run_id={run_id}&metric_key=m&page_token=bad"),
        &format!(
            "metrics/get-history?run_id={run_id}&metric_key=m&max_results=9223372036854775807"
        ),
        "metrics/get-history-bulk-interval?metric_key=m",
        &format!(
            "metrics/get-history-bulk-interval?run_ids={run_id}&metric_key=m&start_step=9&end_step=1"
        ),
        &format!(
            "metrics/get-history-bulk?run_id={run_id}&metric_key=m&max_results=9223372036854775807"
        ),
        "logged-models/m-nope",
        "artifacts/list?run_id=nope&path=../x",
        "get-artifact?run_id=x&path=y",
    ];
    for query in get_queries {
        let (status, answer) = server.get(&format!("/api/2.0/mlflow/{query}")).await;
        assert!(status.as_u16() < 500, "{query}: {status} {answer}");
    }
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_ingested_points_and_ready_answers() {
    let server = TestServer::start().await;
    let run_id = server.new_run().await;
    let (status, _) = server.get("/api/v1/runs/0123456789abcdef").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let metrics: Vec<Value> = (0..3)
        .map(|step| json!({"key": "loss", "value": 1.0, "timestamp": 1, "step": step}))
        .collect();
    let (status, body) = server
        .post(
            "/api/2.0/mlflow/runs/log-batch",
            json!({"run_id": run_id, "metrics": metrics}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = server
        .post(
            &format!("/api/v1/runs/{run_id}/metrics"),
            json!({"metrics": [{"key": "acc", "steps": [0, 1], "timestamps": [1, 2], "values": [0.5, 0.6]}]}),
        )
        .await;
    assert!(status.is_success(), "{body}");

    let response = server
        .client
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = response.text().await.unwrap();
    assert!(
        text.contains(
            "cairn_http_requests_total{method=\"GET\",route=\"/api/v1/runs/{run_id}\",status=\"404\"} 1"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "cairn_http_request_duration_seconds_count{method=\"POST\",route=\"/api/2.0/mlflow/runs/log-batch\"} 1"
        ),
        "{text}"
    );
    assert!(text.contains("cairn_ingested_points_total 5"), "{text}");
    assert!(text.contains("cairn_live_subscribers 0"), "{text}");
    assert!(text.contains("\ncairn_running_runs 1\n"), "{text}");
    assert!(text.contains("\ncairn_store_write_queue 0\n"), "{text}");

    let response = server
        .client
        .get(server.url("/ready"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().await.unwrap(), "ready");
}
