//! `PUT /api/v1/runs/{run_id}` (idempotent run creation with a client-chosen id) and the
//! OpenAPI document of the native API, over a real socket.

use reqwest::StatusCode;
use serde_json::{Value, json};

mod common;

use common::TestServer;

async fn put_run(server: &TestServer, run_id: &str, body: Value) -> (StatusCode, Value) {
    put_raw(
        &server.client,
        &server.url(&format!("/api/v1/runs/{run_id}")),
        body,
    )
    .await
}

async fn put_raw(client: &reqwest::Client, url: &str, body: Value) -> (StatusCode, Value) {
    let response = client.put(url).json(&body).send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

fn tag<'a>(run: &'a Value, key: &str) -> Option<&'a str> {
    run["data"]["tags"]
        .as_array()?
        .iter()
        .find(|t| t["key"] == key)
        .and_then(|t| t["value"].as_str())
}

async fn create_experiment(server: &TestServer, name: &str) -> String {
    let (status, body) = server
        .post("/api/2.0/mlflow/experiments/create", json!({"name": name}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["experiment_id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn put_creates_a_run_by_experiment_name_and_a_retry_changes_nothing() {
    let server = TestServer::start().await;
    let run_id = new_id();
    let body = json!({
        "experiment_name": "my-project",
        "run_name": "baseline",
        "user_id": "ada",
        "start_time": 1_780_000_000_000_i64,
        "tags": [{"key": "team", "value": "vision"}],
    });
    let (status, created) = put_run(&server, &run_id, body.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["created"], true);
    let run = &created["run"];
    assert_eq!(run["info"]["run_id"], run_id.as_str());
    assert_eq!(run["info"]["run_name"], "baseline");
    assert_eq!(run["info"]["user_id"], "ada");
    assert_eq!(run["info"]["status"], "RUNNING");
    assert_eq!(run["info"]["start_time"], 1_780_000_000_000_i64);
    assert_eq!(tag(run, "team"), Some("vision"));
    assert_eq!(tag(run, "mlflow.runName"), Some("baseline"));

    // The experiment was created, with the default artifact location.
    let (status, experiment) = server
        .get("/api/2.0/mlflow/experiments/get-by-name?experiment_name=my-project")
        .await;
    assert_eq!(status, StatusCode::OK, "{experiment}");
    let experiment_id = experiment["experiment"]["experiment_id"].as_str().unwrap();
    assert_ne!(experiment_id, "0");
    assert_eq!(run["info"]["experiment_id"], experiment_id);
    assert_eq!(
        run["info"]["artifact_uri"],
        format!("mlflow-artifacts:/{experiment_id}/{run_id}/artifacts")
    );

    // A retry (even with other details, or by id) answers the run as it is.
    let (status, again) = put_run(&server, &run_id, body).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["created"], false);
    assert_eq!(again["run"], created["run"]);
    let (status, by_id) = put_run(
        &server,
        &run_id,
        json!({"experiment_id": experiment_id, "run_name": "other"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{by_id}");
    assert_eq!(by_id["created"], false);
    assert_eq!(by_id["run"], created["run"]);

    // MLflow's get-run sees the same run.
    let (status, got) = server
        .get(&format!("/api/2.0/mlflow/runs/get?run_id={run_id}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{got}");
    assert_eq!(got["run"], created["run"]);
    assert_eq!(got["run"]["info"]["run_name"], "baseline");
    assert_eq!(tag(&got["run"], "team"), Some("vision"));
}

#[tokio::test]
async fn put_without_an_experiment_uses_the_default_and_generates_a_name() {
    let server = TestServer::start().await;
    let run_id = new_id();
    let (status, body) = put_run(&server, &run_id, json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["run"]["info"]["experiment_id"], "0");
    let name = body["run"]["info"]["run_name"].as_str().unwrap();
    assert!(!name.is_empty());
    assert_eq!(tag(&body["run"], "mlflow.runName"), Some(name));

    // By id, into an existing experiment.
    let experiment_id = create_experiment(&server, "by-id").await;
    let other = new_id();
    let (status, body) = put_run(&server, &other, json!({"experiment_id": experiment_id})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["run"]["info"]["experiment_id"], experiment_id.as_str());
}

#[tokio::test]
async fn put_of_a_taken_id_in_another_experiment_is_a_conflict() {
    let server = TestServer::start().await;
    let run_id = new_id();
    let (status, body) = put_run(&server, &run_id, json!({"experiment_name": "first"})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    for other in [
        json!({"experiment_name": "second"}),
        json!({"experiment_id": "0"}),
    ] {
        let (status, body) = put_run(&server, &run_id, other.clone()).await;
        assert_eq!(status, StatusCode::CONFLICT, "{other}: {body}");
        assert_eq!(body["error_code"], "RESOURCE_ALREADY_EXISTS");
        let message = body["message"].as_str().unwrap();
        assert!(message.contains(&run_id), "{message}");
        assert!(message.contains("'first'"), "{message}");
    }
    let (_, body) = put_run(&server, &run_id, json!({"experiment_name": "second"})).await;
    assert!(
        body["message"].as_str().unwrap().contains("'second'"),
        "{body}"
    );
    let (_, body) = put_run(&server, &run_id, json!({})).await;
    assert!(
        body["message"].as_str().unwrap().contains("'Default'"),
        "{body}"
    );

    // An id taken through MLflow's runs/create is checked the same way.
    let mlflow_run = server.new_run().await;
    let (status, body) = put_run(&server, &mlflow_run, json!({"experiment_id": "0"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["created"], false);
}

#[tokio::test]
async fn bad_put_requests_are_4xx() {
    let server = TestServer::start().await;
    let deleted = create_experiment(&server, "gone").await;
    let (status, body) = server
        .post(
            "/api/2.0/mlflow/experiments/delete",
            json!({"experiment_id": deleted}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let id = new_id();
    let cases: Vec<(&str, Value, StatusCode, &str, String)> = vec![
        (
            "-bad",
            json!({}),
            StatusCode::BAD_REQUEST,
            "INVALID_PARAMETER_VALUE",
            "Invalid run ID".into(),
        ),
        (
            &id,
            json!({"experiment_id": "4242"}),
            StatusCode::NOT_FOUND,
            "RESOURCE_DOES_NOT_EXIST",
            "4242".into(),
        ),
        (
            &id,
            json!({"experiment_name": "gone"}),
            StatusCode::BAD_REQUEST,
            "INVALID_PARAMETER_VALUE",
            format!("The experiment {deleted} must be in the 'active' state"),
        ),
        (
            &id,
            json!({"experiment_id": deleted}),
            StatusCode::BAD_REQUEST,
            "INVALID_PARAMETER_VALUE",
            "Current state is deleted".into(),
        ),
        (
            &id,
            json!({"experiment_id": "0", "experiment_name": "x"}),
            StatusCode::BAD_REQUEST,
            "INVALID_PARAMETER_VALUE",
            "not both".into(),
        ),
        (
            &id,
            json!({"experiment_id": "0", "colour": "red"}),
            StatusCode::BAD_REQUEST,
            "INVALID_PARAMETER_VALUE",
            "unknown field".into(),
        ),
        (
            &id,
            json!({"run_name": "a", "tags": [{"key": "mlflow.runName", "value": "b"}]}),
            StatusCode::BAD_REQUEST,
            "INVALID_PARAMETER_VALUE",
            "Both 'run_name' argument and 'mlflow.runName' tag".into(),
        ),
    ];
    for (run_id, body, want_status, want_code, says) in cases {
        let (status, answer) = put_run(&server, run_id, body.clone()).await;
        assert_eq!(status, want_status, "{run_id} {body}: {answer}");
        assert_eq!(answer["error_code"], want_code, "{run_id} {body}: {answer}");
        assert!(
            answer["message"].as_str().unwrap().contains(&says),
            "{run_id} {body}: {answer}"
        );
    }
    // Nothing was created by the rejected requests.
    let (status, _) = server
        .get(&format!("/api/2.0/mlflow/runs/get?run_id={id}"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn metrics_can_be_ingested_into_a_put_run() {
    let server = TestServer::start().await;
    let run_id = new_id();
    let (status, body) = put_run(&server, &run_id, json!({"experiment_name": "ingest"})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = server
        .post(
            &format!("/api/v1/runs/{run_id}/metrics"),
            json!({"metrics": [{"key": "loss", "steps": [0, 1, 2], "values": [1.0, 0.5, 0.25]}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["accepted"], 3);
    let (status, body) = server
        .get(&format!("/api/v1/runs/{run_id}/metrics/loss/points"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["values"], json!([1.0, 0.5, 0.25]));
}

#[tokio::test]
async fn concurrent_puts_of_one_new_id_create_it_once() {
    let server = TestServer::start().await;
    let run_id = new_id();
    let url = server.url(&format!("/api/v1/runs/{run_id}"));
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (client, url) = (server.client.clone(), url.clone());
            tokio::spawn(async move {
                put_raw(
                    &client,
                    &url,
                    json!({"experiment_name": "race", "run_name": "r"}),
                )
                .await
            })
        })
        .collect();
    let mut created = 0;
    let mut runs = Vec::new();
    for task in tasks {
        let (status, body) = task.await.unwrap();
        match status {
            StatusCode::CREATED => {
                assert_eq!(body["created"], true, "{body}");
                created += 1;
            }
            StatusCode::OK => assert_eq!(body["created"], false, "{body}"),
            other => panic!("{other}: {body}"),
        }
        runs.push(body["run"]["info"].clone());
    }
    assert_eq!(created, 1);
    assert!(runs.iter().all(|info| info == &runs[0]), "{runs:?}");
    let (status, body) = server
        .post(
            "/api/2.0/mlflow/experiments/search",
            json!({"filter": "name = 'race'"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["experiments"].as_array().unwrap().len(), 1);
}

/// Every route path registered in `v1::routes`, in OpenAPI form.
const V1_PATHS: &[&str] = &[
    "/api/v1/openapi.yaml",
    "/api/v1/logged-models/{model_id}",
    "/api/v1/runs/{run_id}",
    "/api/v1/runs/{run_id}/metrics",
    "/api/v1/runs/{run_id}/metrics/{key}/points",
    "/api/v1/runs/{run_id}/metrics/{key}/series",
    "/api/v1/series",
    "/api/v1/summaries",
    "/api/v1/experiments/{experiment_id}/retention",
    "/api/v1/stream",
    "/api/v1/compare",
    "/api/v1/runs/{run_id}/artifacts",
    "/api/v1/runs/{run_id}/files/{path}",
    "/api/v1/runs/{run_id}/uploads",
    "/api/v1/runs/{run_id}/presigned/{path}",
    "/api/v1/uploads/{upload_id}",
    "/api/v1/uploads/{upload_id}/parts/{number}",
    "/api/v1/uploads/{upload_id}/complete",
    "/api/v1/blobs/{digest}",
    "/api/v1/admin/gc",
    "/api/v1/registered-models",
    "/api/v1/registered-models/{name}",
    "/api/v1/lineage",
    "/api/v1/lineage/diff",
    "/api/v1/runs/{run_id}/lineage",
    "/api/v1/runs/{run_id}/fork",
    "/api/v1/session",
    "/api/v1/tokens",
    "/api/v1/tokens/{token_id}",
    "/api/v1/audit",
    "/api/v1/teams",
    "/api/v1/teams/{name}",
    "/api/v1/teams/{name}/members/{username}",
    "/api/v1/experiments/{experiment_id}/access",
    "/api/v1/experiments/{experiment_id}/shares/{team}",
    "/api/v1/registered-models/{name}/access",
    "/api/v1/mentions",
    "/api/v1/experiments/{experiment_id}/alerts",
    "/api/v1/alerts/{alert_id}",
    "/api/v1/alerts/{alert_id}/deliveries",
    "/api/v1/runs/{run_id}/comments",
    "/api/v1/experiments/{experiment_id}/comments",
    "/api/v1/comments/{comment_id}",
    "/api/v1/runs/{run_id}/annotations",
    "/api/v1/annotations/{annotation_id}",
    "/api/v1/runs/{run_id}/activity",
];

#[tokio::test]
async fn the_openapi_document_covers_every_route() {
    let server = TestServer::start().await;
    let response = server
        .client
        .get(server.url("/api/v1/openapi.yaml"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/yaml");
    let text = response.text().await.unwrap();
    assert!(
        text.starts_with("openapi: 3.1"),
        "{:?}",
        text.lines().next()
    );
    let paths = text
        .split("\npaths:\n")
        .nth(1)
        .expect("a top-level paths: section");
    // The section ends at the next top-level key.
    let paths = paths
        .lines()
        .take_while(|line| line.is_empty() || line.starts_with(' '))
        .collect::<Vec<_>>();
    for path in V1_PATHS {
        let entry = format!("  {path}:");
        assert!(
            paths.iter().any(|line| *line == entry),
            "{path} is not documented under paths:"
        );
    }
}
