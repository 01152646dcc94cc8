//! The native API (`/api/v1`) over a real socket: ingest, full series, views, summaries, and the
//! 4xx answers to bad input.

use reqwest::StatusCode;
use serde_json::{Value, json};

mod common;

use common::TestServer;

const T0: i64 = 1_780_000_000_000;

async fn ingest(server: &TestServer, run_id: &str, body: Value) -> (StatusCode, Value) {
    server
        .post(&format!("/api/v1/runs/{run_id}/metrics"), body)
        .await
}

#[tokio::test]
async fn ingest_then_read_points_views_and_summaries() {
    let server = TestServer::start().await;
    let run_id = server.new_run().await;
    let steps: Vec<i64> = (0..5000).collect();
    let values: Vec<Value> = steps
        .iter()
        .map(|s| match s {
            100 => json!("NaN"),
            200 => json!("Infinity"),
            300 => json!(-1e9),
            s => json!((*s as f64) / 10.0),
        })
        .collect();
    let timestamps: Vec<i64> = steps.iter().map(|s| T0 + s * 3).collect();
    let (status, body) = ingest(
        &server,
        &run_id,
        json!({"metrics": [
            {"key": "train/loss", "steps": steps, "values": values, "timestamps": timestamps},
            {"key": "lr", "steps": [0, 1], "values": [0.1, 0.05], "timestamp": T0},
        ]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["accepted"], 5002);

    // Every point back, in order, with non-finite values as strings.
    let (status, body) = server
        .get(&format!(
            "/api/v1/runs/{run_id}/metrics/train%2Floss/points"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["key"], "train/loss");
    assert_eq!(body["count"], 5000);
    assert_eq!(body["steps"].as_array().unwrap().len(), 5000);
    assert_eq!(body["steps"][4999], 4999);
    assert_eq!(body["timestamps"][10], T0 + 30);
    assert_eq!(body["values"][100], "NaN");
    assert_eq!(body["values"][200], "Infinity");
    assert_eq!(body["values"][7], 0.7);

    let (_, body) = server
        .get(&format!(
            "/api/v1/runs/{run_id}/metrics/train%2Floss/points?from=10&to=12"
        ))
        .await;
    assert_eq!(body["steps"], json!([10, 11, 12]));

    // The binary form carries the same columns, bit for bit.
    let response = server
        .client
        .get(server.url(&format!(
            "/api/v1/runs/{run_id}/metrics/train%2Floss/points?format=binary&from=99&to=101"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "application/vnd.cairn.points"
    );
    let bytes = response.bytes().await.unwrap();
    assert_eq!(&bytes[..8], b"CAIRNPT1");
    let word = |i: usize| <[u8; 8]>::try_from(&bytes[8 + i * 8..16 + i * 8]).unwrap();
    assert_eq!(u64::from_le_bytes(word(0)), 3);
    assert_eq!(i64::from_le_bytes(word(1)), 0, "nothing thinned");
    assert_eq!(bytes.len(), 24 + 3 * 24);
    assert_eq!(i64::from_le_bytes(word(2)), 99);
    assert_eq!(i64::from_le_bytes(word(5)), T0 + 99 * 3);
    assert_eq!(f64::from_le_bytes(word(8)), 9.9);
    assert!(f64::from_le_bytes(word(9)).is_nan());
    let (status, _) = server
        .get(&format!(
            "/api/v1/runs/{run_id}/metrics/train%2Floss/points?format=csv"
        ))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // A view keeps the spike and the ends.
    let (status, body) = server
        .get(&format!(
            "/api/v1/runs/{run_id}/metrics/train%2Floss/series?buckets=10"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["x"], "step");
    assert_eq!(
        (body["from"].clone(), body["to"].clone()),
        (json!(0), json!(4999))
    );
    let width = body["width"].as_i64().unwrap();
    assert_eq!(
        width, 512,
        "the finest power of two giving at most 10 buckets"
    );
    let buckets = &body["buckets"];
    let counts: i64 = buckets["count"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_i64().unwrap())
        .sum();
    assert_eq!(counts, 5000);
    assert_eq!(buckets["min"][0], -1e9);
    assert_eq!(buckets["max"][0], "Infinity");
    assert_eq!(buckets["last"].as_array().unwrap().last().unwrap(), 499.9);
    assert_eq!(
        buckets["last_step"].as_array().unwrap().last().unwrap(),
        4999
    );

    // Time and relative axes.
    let (status, body) = server
        .get(&format!(
            "/api/v1/runs/{run_id}/metrics/train%2Floss/series?buckets=4&x=time"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["from"], T0);
    let (_, body) = server
        .get(&format!(
            "/api/v1/runs/{run_id}/metrics/train%2Floss/series?buckets=4&x=relative&from=0&to=2999"
        ))
        .await;
    assert_eq!(body["x"], "relative");

    // Summaries of the run.
    let (status, body) = server.get(&format!("/api/v1/runs/{run_id}/metrics")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let metrics = body["metrics"].as_array().unwrap();
    assert_eq!(metrics.len(), 2);
    let lr = metrics.iter().find(|m| m["key"] == "lr").unwrap();
    assert_eq!(lr["count"], 2);
    assert_eq!(lr["last"], 0.05);
    assert_eq!(lr["last_step"], 1);
    assert_eq!(lr["min"], 0.05);
    assert_eq!(lr["mean"], 0.07500000000000001);
    let loss = metrics.iter().find(|m| m["key"] == "train/loss").unwrap();
    assert_eq!(loss["nan_count"], 1);
    assert_eq!(loss["max"], "Infinity");

    // The MLflow history route sees the same points.
    let (status, body) = server
        .get(&format!(
            "/api/2.0/mlflow/metrics/get-history?run_id={run_id}&metric_key=lr"
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["metrics"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn compare_view_covers_many_runs_on_one_grid() {
    let server = TestServer::start().await;
    let a = server.new_run().await;
    let b = server.new_run().await;
    for (run_id, offset) in [(&a, 0), (&b, 1000)] {
        let steps: Vec<i64> = (offset..offset + 1000).collect();
        let values: Vec<f64> = steps.iter().map(|s| *s as f64).collect();
        let (status, body) = ingest(
            &server,
            run_id,
            json!({"metrics": [{"key": "m", "steps": steps, "values": values, "timestamp": T0}]}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let missing = "0123456789abcdef0123456789abcdef";
    let (status, body) = server
        .post(
            "/api/v1/series",
            json!({"run_ids": [a, b, missing], "key": "m", "buckets": 16}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (body["from"].clone(), body["to"].clone()),
        (json!(0), json!(1999))
    );
    let runs = body["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 3);
    assert_eq!(runs[0]["buckets"]["start"][0], 0);
    assert_eq!(body["width"], 128);
    assert_eq!(
        runs[1]["buckets"]["start"][0], 896,
        "run b starts on the shared grid"
    );
    assert_eq!(runs[2]["found"], false);

    let (status, body) = server
        .post(
            "/api/v1/summaries",
            json!({"run_ids": [a, missing, b], "keys": ["m"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["runs"][0]["metrics"][0]["max"], 999.0);
    assert_eq!(body["runs"][1]["metrics"], json!([]));
    assert_eq!(body["runs"][2]["metrics"][0]["min"], 1000.0);
}

#[tokio::test]
async fn idempotency_key_makes_a_retry_harmless() {
    let server = TestServer::start().await;
    let run_id = server.new_run().await;
    let send = || async {
        server
            .client
            .post(server.url(&format!("/api/v1/runs/{run_id}/metrics")))
            .header("Idempotency-Key", "batch-0001")
            .json(&json!({"metrics": [{"key": "m", "steps": [1, 2], "values": [1, 2]}]}))
            .send()
            .await
            .unwrap()
    };
    assert_eq!(send().await.status(), StatusCode::OK);
    let retry = send().await;
    assert_eq!(retry.status(), StatusCode::OK);
    assert_eq!(retry.json::<Value>().await.unwrap()["accepted"], 2);
    let (_, body) = server
        .get(&format!("/api/v1/runs/{run_id}/metrics/m/points"))
        .await;
    assert_eq!(body["count"], 2);
}

#[tokio::test]
async fn bad_input_gets_a_clear_4xx_and_changes_nothing() {
    let server = TestServer::start().await;
    let run_id = server.new_run().await;
    let path = format!("/api/v1/runs/{run_id}/metrics");
    let cases = [
        json!({}),
        json!({"metrics": "x"}),
        json!({"metrics": [{"key": "m", "steps": [1, 2], "values": [1]}]}),
        json!({"metrics": [{"key": "m", "steps": [1], "values": [1], "timestamps": [1, 2]}]}),
        json!({"metrics": [{"key": "m", "steps": [1], "values": [1], "timestamps": [1], "timestamp": 1}]}),
        json!({"metrics": [{"key": "m", "steps": [1], "values": ["nan"]}]}),
        json!({"metrics": [{"key": "m", "steps": [1.5], "values": [1]}]}),
        json!({"metrics": [{"key": "m", "steps": [1], "values": [1], "timestamps": [-1]}]}),
        json!({"metrics": [{"key": "../x", "steps": [1], "values": [1]}]}),
        json!({"metrics": [{"key": "m", "steps": [1], "values": [1], "extra": 1}]}),
        json!({"metrics": [{"key": "ok", "steps": [1], "values": [1]}, {"key": "", "steps": [1], "values": [1]}]}),
    ];
    for case in cases {
        let (status, body) = server.post(&path, case.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{case} -> {body}");
        assert_eq!(body["error_code"], "INVALID_PARAMETER_VALUE", "{case}");
        assert!(!body["message"].as_str().unwrap().is_empty());
    }
    let (_, body) = server.get(&format!("/api/v1/runs/{run_id}/metrics")).await;
    assert_eq!(body["metrics"], json!([]), "nothing was stored");

    let response = server
        .client
        .post(server.url(&path))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    let unknown = "0123456789abcdef0123456789abcdef";
    let (status, _) = ingest(
        &server,
        unknown,
        json!({"metrics": [{"key": "m", "steps": [1], "values": [1]}]}),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = ingest(
        &server,
        "bad%20id",
        json!({"metrics": [{"key": "m", "steps": [1], "values": [1]}]}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    for query in [
        "buckets=0",
        "buckets=100000000",
        "buckets=-1",
        "x=banana",
        "from=10&to=1",
        "from=abc",
        "unknown=1",
    ] {
        let (status, body) = server
            .get(&format!("/api/v1/runs/{run_id}/metrics/m/series?{query}"))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query} -> {body}");
    }
    let (status, _) = server
        .get(&format!("/api/v1/runs/{unknown}/metrics/m/series"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = server.get(&format!("/api/v1/runs/{unknown}/metrics")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = server
        .get(&format!("/api/v1/runs/{unknown}/metrics/m/points"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = server
        .post("/api/v1/series", json!({"run_ids": [], "key": "m"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let many: Vec<String> = (0..1001).map(|i| format!("{i:032x}")).collect();
    let (status, _) = server
        .post("/api/v1/series", json!({"run_ids": many, "key": "m"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = server
        .post("/api/v1/summaries", json!({"run_ids": ["../x"]}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn retention_policy_round_trips_and_reads_report_thinning() {
    let server = TestServer::start().await;
    let path = "/api/v1/experiments/0/retention";
    let (status, body) = server.get(path).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["retention"], Value::Null);
    let response = server
        .client
        .put(server.url(path))
        .json(&json!({"after_days": 30, "resolution": 1000}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let (_, body) = server.get(path).await;
    assert_eq!(
        body["retention"],
        json!({"after_days": 30, "resolution": 1000})
    );
    for bad in [
        json!({"after_days": -1, "resolution": 1000}),
        json!({"after_days": 1, "resolution": 1}),
        json!({"after_days": 1}),
    ] {
        let response = server
            .client
            .put(server.url(path))
            .json(&bad)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
    let response = server
        .client
        .put(server.url("/api/v1/experiments/777/retention"))
        .json(&json!({"after_days": 1, "resolution": 10}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let response = server.client.delete(server.url(path)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let (_, body) = server.get(path).await;
    assert_eq!(body["retention"], Value::Null);

    // Reads of intact data say so.
    let run_id = server.new_run().await;
    ingest(
        &server,
        &run_id,
        json!({"metrics": [{"key": "m", "steps": [1], "values": [1]}]}),
    )
    .await;
    let (_, body) = server
        .get(&format!("/api/v1/runs/{run_id}/metrics/m/points"))
        .await;
    assert_eq!(body["thinned"], Value::Null);
    let (_, body) = server
        .get(&format!("/api/v1/runs/{run_id}/metrics/m/series"))
        .await;
    assert_eq!(body["thinned"], Value::Null);
}

#[tokio::test]
async fn binary_ingest_matches_json_and_rejects_malformed_bodies() {
    use cairn_core::series::Point;
    use cairn_server::v1::ingest;
    use cairn_store::SeriesPoints;

    let server = TestServer::start().await;
    let run_id = server.new_run().await;
    let path = format!("/api/v1/runs/{run_id}/metrics");
    let body = ingest::encode(&[
        SeriesPoints {
            key: "train/loss".into(),
            points: vec![
                Point::new(0, 1000, 0.5),
                Point::new(1, 1000, f64::NAN),
                Point::new(2, 1000, 0.25),
            ],
        },
        SeriesPoints {
            key: "acc".into(),
            points: vec![Point::new(5, 7, 1.0), Point::new(3, 8, 0.0)],
        },
    ]);
    let send = |bytes: Vec<u8>, content_type: &'static str| {
        server
            .client
            .post(server.url(&path))
            .header("content-type", content_type)
            .header("idempotency-key", "bin-1")
            .body(bytes)
            .send()
    };
    let response = send(body.clone(), ingest::CONTENT_TYPE).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["accepted"], 5);
    // The same key again is a replay: nothing is applied twice.
    assert_eq!(answer["replay"], false);
    let again = send(body.clone(), ingest::CONTENT_TYPE).await.unwrap();
    assert_eq!(again.status(), StatusCode::OK);
    let again: Value = again.json().await.unwrap();
    assert_eq!(
        (again["accepted"].clone(), again["replay"].clone()),
        (json!(5), json!(true))
    );

    let (_, points) = server
        .get(&format!(
            "/api/v1/runs/{run_id}/metrics/train%2Floss/points"
        ))
        .await;
    assert_eq!(points["steps"], json!([0, 1, 2]));
    assert_eq!(points["values"], json!([0.5, "NaN", 0.25]));
    let (_, points) = server
        .get(&format!("/api/v1/runs/{run_id}/metrics/acc/points"))
        .await;
    assert_eq!(points["steps"], json!([3, 5]));
    assert_eq!(points["timestamps"], json!([8, 7]));

    let mut truncated = body.clone();
    truncated.truncate(body.len() - 3);
    for (bytes, content_type, expect) in [
        (truncated, ingest::CONTENT_TYPE, "Invalid request body"),
        (b"CAIRNIN9".to_vec(), ingest::CONTENT_TYPE, "CAIRNIN1"),
        (body.clone(), "text/csv", "Unsupported content type"),
    ] {
        let response = server
            .client
            .post(server.url(&path))
            .header("content-type", content_type)
            .body(bytes)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error_code"], "INVALID_PARAMETER_VALUE");
        assert!(
            error["message"].as_str().unwrap().contains(expect),
            "{error}"
        );
    }
    let (_, summaries) = server.get(&path).await;
    let counts: Vec<_> = summaries["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["count"].clone())
        .collect();
    assert_eq!(
        counts,
        vec![json!(2), json!(3)],
        "rejected bodies stored nothing"
    );
}
