//! Artifacts on an S3-compatible object store (a real `s3s-fs` started by the test): the MLflow
//! proxy, multipart uploads, presigned downloads straight from the store, dedup, garbage
//! collection, and an outage of the store answered with 503, retried downloads across a short
//! one, and recovery without a restart.

mod common;

use std::sync::Arc;

use cairn_blob::testing::S3Server;
use common::TestServer;
use reqwest::StatusCode;
use serde_json::{Value, json};

fn payload(size: usize, seed: u8) -> Vec<u8> {
    (0..size)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// Asserts that an error answer's message says `text`.
fn assert_message(body: &Value, text: &str) {
    let message = body["message"].as_str().unwrap_or_default();
    assert!(message.contains(text), "{body}");
}

async fn start(s3: &S3Server) -> TestServer {
    TestServer::start_with(
        tempfile::tempdir().unwrap(),
        Arc::new(s3.blob_store("artifacts")),
    )
    .await
}

/// Files under the bucket's `artifacts/` prefix, as the store keeps them.
fn stored_blobs(s3: &S3Server) -> Vec<std::path::PathBuf> {
    let root = s3
        .dir()
        .join("data")
        .join(S3Server::BUCKET)
        .join("artifacts/blake3");
    let mut out = Vec::new();
    let mut stack = vec![root];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out
}

#[tokio::test]
async fn proxy_multipart_presigned_dedup_and_gc_on_s3() {
    let s3 = S3Server::start().await;
    let server = start(&s3).await;
    let art = |p: &str| server.url(&format!("/api/2.0/mlflow-artifacts{p}"));

    // A plain PUT, then the same bytes at another path: one blob.
    let small = payload(300_000, 1);
    for path in ["0/a/one.bin", "0/b/two.bin"] {
        let response = server
            .client
            .put(art(&format!("/artifacts/{path}")))
            .body(small.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
    assert_eq!(stored_blobs(&s3).len(), 1);
    let response = server
        .client
        .get(art("/artifacts/0/b/two.bin"))
        .header("Range", "bytes=10-19")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(response.bytes().await.unwrap().as_ref(), &small[10..20]);

    // MLflow's multipart upload: parts of 5 MiB (S3's minimum) and a short last part.
    let part = 5 << 20;
    let big = payload(2 * part + 1234, 2);
    let (status, created) = server
        .post(
            "/api/2.0/mlflow-artifacts/mpu/create/0/c",
            json!({"path": "/local/big.bin", "num_parts": 3}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let urls: Vec<String> = created["credentials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["url"].as_str().unwrap().to_string())
        .collect();
    // Out of order (MLflow never sends the last part before all others: its size says nothing).
    for i in [1, 0, 2] {
        let url = &urls[i];
        let end = ((i + 1) * part).min(big.len());
        let response = server
            .client
            .put(url)
            .body(big[i * part..end].to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
    let (status, body) = server
        .post(
            "/api/2.0/mlflow-artifacts/mpu/complete/0/c",
            json!({"path": "/local/big.bin", "upload_id": created["upload_id"], "parts": []}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // presigned/ answers a URL signed for the object store itself.
    let (status, signed) = server
        .get("/api/2.0/mlflow-artifacts/presigned/0/c/big.bin")
        .await;
    assert_eq!(status, StatusCode::OK, "{signed}");
    assert_eq!(signed["file_size"], big.len());
    let url = signed["url"].as_str().unwrap();
    assert!(url.starts_with(s3.endpoint()), "{url}");
    let response = server.client.get(url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.bytes().await.unwrap().as_ref(), big.as_slice());
    assert_eq!(stored_blobs(&s3).len(), 2);

    // Deleting one path keeps the shared blob; deleting the other lets gc reclaim it.
    for path in ["0/a/one.bin", "0/b/two.bin"] {
        let response = server
            .client
            .delete(art(&format!("/artifacts/{path}")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let (status, report) = server
            .post(
                "/api/v1/admin/gc",
                json!({"retention_seconds": 0, "grace_seconds": 0}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{report}");
        let expected = if path.contains("one") { 0 } else { small.len() };
        assert_eq!(report["bytes_reclaimed"], json!(expected), "{report}");
    }
    assert_eq!(stored_blobs(&s3).len(), 1);
}

#[tokio::test]
async fn an_object_store_outage_is_a_503_and_damages_nothing() {
    let mut s3 = S3Server::start().await;
    let server = start(&s3).await;
    let url = server.url("/api/2.0/mlflow-artifacts/artifacts/0/outage/before.txt");
    let response = server.client.put(&url).body("kept").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let listing_before = server
        .get("/api/2.0/mlflow-artifacts/artifacts?path=0/outage")
        .await;
    s3.stop();
    let response = server
        .client
        .put(server.url("/api/2.0/mlflow-artifacts/artifacts/0/outage/after.txt"))
        .body("lost")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error_code"], "TEMPORARILY_UNAVAILABLE", "{body}");
    let response = server.client.get(&url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    // The catalogue is untouched: the failed upload recorded nothing.
    let listing_after = server
        .get("/api/2.0/mlflow-artifacts/artifacts?path=0/outage")
        .await;
    assert_eq!(listing_before, listing_after);

    // A download that starts during the outage is retried (a few times, within seconds) and
    // succeeds when the store comes back meanwhile.
    let pending = tokio::spawn(server.client.get(&url).send());
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    s3.restart().await;
    let response = pending.await.unwrap().unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().await.unwrap(), "kept");

    // Recovery needs nothing from the operator: uploads work again on the same server.
    let after = server.url("/api/2.0/mlflow-artifacts/artifacts/0/outage/after.txt");
    let response = server
        .client
        .put(&after)
        .body("stored")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let response = server.client.get(&after).send().await.unwrap();
    assert_eq!(response.text().await.unwrap(), "stored");
}

/// A direct upload: the client PUTs the file to a presigned URL of the object store itself, the
/// server hashes it once and records it; the native presigned download reads it straight back.
#[tokio::test]
async fn direct_uploads_and_presigned_downloads_bypass_the_server() {
    let s3 = S3Server::start().await;
    let server = start(&s3).await;
    let run = server.new_run().await;
    let data = payload(3 << 20, 9);
    let (status, created) = server
        .post(
            &format!("/api/v1/runs/{run}/uploads"),
            json!({"path": "model/direct.bin", "size": data.len(), "direct": true}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["direct"], true);
    let url = created["url"].as_str().unwrap().to_string();
    assert!(url.starts_with(s3.endpoint()), "{url}");
    let id = created["upload_id"].as_str().unwrap().to_string();
    // Completing before anything was put is refused, and the upload stays.
    let (status, body) = server
        .post(&format!("/api/v1/uploads/{id}/complete"), json!({}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    // Parts are not for direct uploads.
    let response = server
        .client
        .put(server.url(&format!("/api/v1/uploads/{id}/parts/1")))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let response = server
        .client
        .put(&url)
        .body(data.clone())
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    let (status, body) = server
        .post(
            &format!("/api/v1/uploads/{id}/complete"),
            json!({"digest": format!("blake3:{}", "0".repeat(64))}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    // A digest mismatch drops the bytes: put them again and complete without a digest.
    let response = server
        .client
        .put(&url)
        .body(data.clone())
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
    let (status, body) = server
        .post(&format!("/api/v1/uploads/{id}/complete"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["file"]["size"], data.len());
    let (status, signed) = server
        .get(&format!("/api/v1/runs/{run}/presigned/model/direct.bin"))
        .await;
    assert_eq!(status, StatusCode::OK, "{signed}");
    assert_eq!(signed["direct"], true);
    let response = server
        .client
        .get(signed["url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.bytes().await.unwrap().as_ref(), data.as_slice());
    // The staging object is gone: only the blob remains.
    assert_eq!(stored_blobs(&s3).len(), 1);
}

/// PUTs `body` to a presigned URL of the store, as a client without credentials; the ETag.
async fn put_to_storage(client: &reqwest::Client, url: &str, body: Vec<u8>) -> String {
    let response = client.put(url).body(body).send().await.unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    response.headers()[reqwest::header::ETAG]
        .to_str()
        .unwrap()
        .to_string()
}

/// A direct upload in parts: each part is PUT straight to the store at its own presigned URL (in
/// any order), the client completes with the parts' ETags, and the server hashes the joined file
/// once and records it. Files over 5 GiB take this path without asking for a part size.
#[tokio::test]
async fn direct_uploads_in_parts_go_straight_to_storage() {
    let s3 = S3Server::start().await;
    let server = start(&s3).await;
    let run = server.new_run().await;
    let part = 5usize << 20;
    let data = payload(2 * part + 777, 4);
    let (status, created) = server
        .post(
            &format!("/api/v1/runs/{run}/uploads"),
            json!({"path": "ckpt/big.bin", "size": data.len(), "part_size": part, "direct": true}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["direct"], true);
    assert_eq!(created["parts"], 3);
    let id = created["upload_id"].as_str().unwrap().to_string();
    let urls: Vec<String> = created["part_urls"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(index, entry)| {
            assert_eq!(entry["number"], index + 1);
            let url = entry["url"].as_str().unwrap();
            assert!(url.starts_with(s3.endpoint()), "{url}");
            url.to_string()
        })
        .collect();
    assert_eq!(urls.len(), 3);
    // Parts do not go through the server, and completing needs every part's ETag.
    let response = server
        .client
        .put(server.url(&format!("/api/v1/uploads/{id}/parts/1")))
        .body(vec![0u8; part])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let complete = format!("/api/v1/uploads/{id}/complete");
    let (status, body) = server.post(&complete, json!({})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = server
        .post(
            &complete,
            json!({"parts": [{"number": 1, "etag": "a"}, {"number": 3, "etag": "c"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_message(&body, "missing parts 2");
    let (status, body) = server
        .post(&complete, json!({"parts": [{"number": 1, "tag": "a"}]}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let mut etags = vec![String::new(); 3];
    for index in [2, 0, 1] {
        let bytes = data[index * part..((index + 1) * part).min(data.len())].to_vec();
        etags[index] = put_to_storage(&server.client, &urls[index], bytes).await;
    }
    // The upload is still there to resume, with fresh URLs.
    let (status, resumed) = server.get(&format!("/api/v1/uploads/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{resumed}");
    assert_eq!(resumed["direct"], true);
    assert_eq!(resumed["part_urls"].as_array().unwrap().len(), 3);
    let reported: Vec<Value> = etags
        .iter()
        .enumerate()
        .rev()
        .map(|(index, etag)| json!({"number": index + 1, "etag": etag}))
        .collect();
    let digest = cairn_blob::Digest::of(&data).to_string();
    let (status, body) = server
        .post(&complete, json!({"parts": reported, "digest": digest}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["file"]["digest"], digest.as_str());
    let response = server
        .client
        .get(server.url(&format!("/api/v1/runs/{run}/files/ckpt/big.bin")))
        .send()
        .await
        .unwrap();
    assert!(response.bytes().await.unwrap().as_ref() == data.as_slice());
    assert_eq!(stored_blobs(&s3).len(), 1);
    let (status, _) = server.get(&format!("/api/v1/uploads/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Bytes that are not the declared file are refused, and the upload is dropped.
    let (status, created) = server
        .post(
            &format!("/api/v1/runs/{run}/uploads"),
            json!({"path": "ckpt/bad.bin", "size": 12, "part_size": part, "direct": true,
                   "digest": format!("blake3:{}", "0".repeat(64))}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["upload_id"].as_str().unwrap();
    let url = created["part_urls"][0]["url"].as_str().unwrap();
    let etag = put_to_storage(&server.client, url, b"not the file".to_vec()).await;
    let (status, body) = server
        .post(
            &format!("/api/v1/uploads/{id}/complete"),
            json!({"parts": [{"number": 1, "etag": etag}]}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_message(&body, "dropped");
    let (status, _) = server.get(&format!("/api/v1/uploads/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, listed) = server
        .get(&format!("/api/v1/runs/{run}/artifacts?path=ckpt"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed["files"].as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(stored_blobs(&s3).len(), 1);

    // Over 5 GiB, a direct upload is in parts of the default size; it can be aborted.
    let size = 6u64 << 30;
    let (status, created) = server
        .post(
            &format!("/api/v1/runs/{run}/uploads"),
            json!({"path": "ckpt/huge.bin", "size": size, "direct": true}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let part_size = created["part_size"].as_u64().unwrap();
    assert_eq!(created["parts"], size.div_ceil(part_size));
    assert_eq!(
        created["part_urls"].as_array().unwrap().len() as u64,
        size.div_ceil(part_size)
    );
    let id = created["upload_id"].as_str().unwrap();
    let response = server
        .client
        .delete(server.url(&format!("/api/v1/uploads/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    // Uploads through the server are completed without reported parts.
    let (_, created) = server
        .post(
            &format!("/api/v1/runs/{run}/uploads"),
            json!({"path": "ckpt/small.bin", "size": 3}),
        )
        .await;
    let id = created["upload_id"].as_str().unwrap();
    let (status, body) = server
        .post(
            &format!("/api/v1/uploads/{id}/complete"),
            json!({"parts": [{"number": 1, "etag": "x"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

/// The local store signs nothing: direct uploads are refused with a clear 400, and the native
/// presigned route answers this server's own download URL.
#[tokio::test]
async fn local_storage_refuses_direct_uploads_and_presigns_its_own_url() {
    let server = TestServer::start().await;
    let run = server.new_run().await;
    let (status, body) = server
        .post(
            &format!("/api/v1/runs/{run}/uploads"),
            json!({"path": "a.bin", "size": 10, "direct": true}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_message(&body, "in parts");
    let (status, body) = server
        .post(
            &format!("/api/v1/runs/{run}/uploads"),
            json!({"path": "a.bin", "size": 6u64 << 30, "direct": true}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_message(&body, "no direct uploads");
    let response = server
        .client
        .put(server.url(&format!("/api/v1/runs/{run}/files/dir/a b.txt")))
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let (status, signed) = server
        .get(&format!("/api/v1/runs/{run}/presigned/dir/a%20b.txt"))
        .await;
    assert_eq!(status, StatusCode::OK, "{signed}");
    assert_eq!(signed["direct"], false);
    let response = server
        .client
        .get(signed["url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.text().await.unwrap(), "hello");
}
