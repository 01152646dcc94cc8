//! Artifact routes of the native API: a run's files with their metadata, downloads with `Range`,
//! resumable uploads in parts, blob metadata, and garbage collection.
//!
//! - `GET /api/v1/runs/{run_id}/artifacts?path=&recursive=&page_token=&max_results=` — files (path
//!   relative to the run's artifact root, size, digest, content type, created) and, unless
//!   recursive, directories.
//! - `GET|PUT|DELETE /api/v1/runs/{run_id}/files/{path}` — one file: download (with `Range`),
//!   upload in one request (`X-Cairn-Digest` optionally checked), delete.
//! - `POST /api/v1/runs/{run_id}/uploads {path, size, digest?, part_size?, content_type?}` — starts
//!   a resumable upload. When `digest` names bytes already stored, the file is recorded at once
//!   and nothing needs sending (`{"stored": true, "file"}`, 200); otherwise 201 with
//!   `{upload_id, part_size, parts}`.
//!   With `"direct": true` (object-store backends that sign URLs) the bytes go straight to
//!   storage: a file up to 5 GiB with no `part_size` gets one presigned `url` (PUT the file there,
//!   then complete); a larger file, or one with a `part_size`, gets `part_urls` (`[{number, url,
//!   headers}]`, valid `expires_in` seconds): PUT each part to its URL, in parallel and any order,
//!   keep the `ETag` each answers, then complete with them. Either way the server reads the
//!   stored file once to hash it.
//! - `GET /api/v1/runs/{run_id}/presigned/{path}` — a URL that reads the file straight from
//!   storage (`direct: true`) or, for storage that cannot sign URLs, from this server.
//! - `GET /api/v1/uploads/{id}` — the upload and the parts received so far (to resume); for a
//!   direct upload in parts, freshly signed `part_urls` instead (the client keeps its ETags).
//! - `PUT /api/v1/uploads/{id}/parts/{n}` — part `n` (1-based; every part is `part_size` bytes but
//!   the last). Parts may arrive in parallel and in any order; sending one again replaces it.
//! - `POST /api/v1/uploads/{id}/complete {digest?, parts?}` — joins the parts, checks the digest
//!   (the one given here or at creation), records the file. `parts` (`[{number, etag}]`, every
//!   part) only for a direct upload in parts; a refused one drops the upload.
//! - `DELETE /api/v1/uploads/{id}` — aborts.
//! - `GET /api/v1/blobs/{digest}` — size, created, how many files use the blob and which.
//! - `POST /api/v1/admin/gc {dry_run?, retention_seconds?, grace_seconds?}` — garbage collection.

use std::time::Duration;

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cairn_blob::{ArtifactPath, Digest};
use cairn_store::{Listed, ManifestEntry};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{body, query};
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::mlflow::artifacts::{
    PRESIGN_SECONDS, base_url, body_stream, content_length, encode_path, receive_part,
};
use crate::tracking::artifacts::{
    DIRECT_URL_SECONDS, Delivery, GcOptions, MAX_DIRECT_SIZE, MAX_PART_SIZE, MIN_PART_SIZE,
    ReportedPart, UploadSpec, UploadStart, default_part_size,
};

fn relative_path(text: &str) -> ApiResult<ArtifactPath> {
    ArtifactPath::parse(text).map_err(|_| ApiError::invalid("Invalid path"))
}

fn parse_digest(text: &str) -> ApiResult<Digest> {
    Digest::parse(text).ok_or_else(|| {
        ApiError::invalid(format!(
            "'{text}' is not a digest: expected blake3:<64 hex digits>"
        ))
    })
}

/// A manifest entry as the native API shows it, with its path relative to `root`.
fn file_json(entry: &ManifestEntry, root: &ArtifactPath) -> Value {
    let path = ArtifactPath::parse(&entry.path)
        .ok()
        .and_then(|p| p.strip_prefix(root))
        .map(|p| p.as_string())
        .unwrap_or_else(|| entry.path.clone());
    json!({
        "path": path,
        "size": entry.size,
        "digest": entry.digest,
        "content_type": entry.content_type,
        "created": entry.created,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    #[serde(default)]
    path: String,
    #[serde(default)]
    recursive: bool,
    page_token: Option<String>,
    max_results: Option<usize>,
}

pub async fn list(
    State(state): State<AppState>,
    Path(run_id): Path<String>,
    params: Result<Query<ListQuery>, QueryRejection>,
) -> ApiResult<Response> {
    let params = query(params)?;
    let (_, root) = state.tracking.run_artifact_path(&run_id, "").await?;
    let dir = root.join(&relative_path(&params.path)?);
    let artifacts = state.tracking.artifacts();
    if params.recursive {
        let limit = params.max_results.unwrap_or(1000).clamp(1, 10_000);
        let after = match params.page_token.as_deref().filter(|t| !t.is_empty()) {
            Some(token) => Some(root.join(&relative_path(token)?).as_string()),
            None => None,
        };
        let page = artifacts.walk(&dir, after.as_deref(), limit).await?;
        let next = (page.len() == limit)
            .then(|| page.last().map(|e| file_json(e, &root)["path"].clone()))
            .flatten();
        let files: Vec<Value> = page.iter().map(|e| file_json(e, &root)).collect();
        let mut out = json!({ "files": files });
        if let Some(next) = next {
            out["next_page_token"] = next;
        }
        return Ok(Json(out).into_response());
    }
    let entries = artifacts.list(&dir).await?.unwrap_or_default();
    let mut files = Vec::new();
    let mut dirs = Vec::new();
    for listed in entries {
        match listed {
            Listed::File(entry) => files.push(file_json(&entry, &root)),
            Listed::Dir(path) => {
                let relative = ArtifactPath::parse(&path)
                    .ok()
                    .and_then(|p| p.strip_prefix(&root))
                    .map(|p| p.as_string())
                    .unwrap_or(path);
                dirs.push(relative);
            }
        }
    }
    Ok(Json(json!({ "files": files, "dirs": dirs })).into_response())
}

/// The full artifact path of a run's file.
async fn run_file(state: &AppState, run_id: &str, path: &str) -> ApiResult<ArtifactPath> {
    let relative = relative_path(path)?;
    if relative.is_root() {
        return Err(ApiError::invalid("Invalid path"));
    }
    let (_, root) = state.tracking.run_artifact_path(run_id, "").await?;
    Ok(root.join(&relative))
}

pub async fn download(
    State(state): State<AppState>,
    Path((run_id, path)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let full = run_file(&state, &run_id, &path).await?;
    crate::download::serve(&state, &full, &headers).await
}

pub async fn put_file(
    State(state): State<AppState>,
    Path((run_id, path)): Path<(String, String)>,
    request: Request,
) -> ApiResult<Response> {
    let full = run_file(&state, &run_id, &path).await?;
    let (_, root) = state.tracking.run_artifact_path(&run_id, "").await?;
    let headers = request.headers().clone();
    let expected = match headers.get("x-cairn-digest").and_then(|v| v.to_str().ok()) {
        Some(text) => Some(parse_digest(text)?),
        None => None,
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let entry = state
        .tracking
        .artifacts()
        .put_checked(
            &full,
            content_type.as_deref(),
            content_length(&headers)?,
            expected,
            body_stream(request),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "file": file_json(&entry, &root) })),
    )
        .into_response())
}

pub async fn delete_file(
    State(state): State<AppState>,
    Path((run_id, path)): Path<(String, String)>,
) -> ApiResult<Response> {
    let full = run_file(&state, &run_id, &path).await?;
    let removed = state.tracking.artifacts().delete(&full).await?;
    Ok(Json(json!({ "removed": removed })).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateUploadBody {
    path: String,
    size: u64,
    digest: Option<String>,
    part_size: Option<u64>,
    content_type: Option<String>,
    #[serde(default)]
    direct: bool,
}

fn upload_json(
    id: &str,
    path: &str,
    size: Option<u64>,
    part_size: Option<u64>,
    parts: Option<u32>,
) -> Value {
    json!({
        "upload_id": id,
        "path": path,
        "size": size,
        "part_size": part_size,
        "parts": parts,
    })
}

pub async fn create_upload(
    State(state): State<AppState>,
    Path(run_id): Path<String>,
    payload: Result<Json<CreateUploadBody>, JsonRejection>,
) -> ApiResult<Response> {
    let request = body(payload)?;
    let full = run_file(&state, &run_id, &request.path).await?;
    let (_, root) = state.tracking.run_artifact_path(&run_id, "").await?;
    let part_size = match request.part_size {
        Some(size) if !(MIN_PART_SIZE..=MAX_PART_SIZE).contains(&size) || size % 1024 != 0 => {
            return Err(ApiError::invalid(format!(
                "part_size must be a multiple of 1024 between {MIN_PART_SIZE} and {MAX_PART_SIZE}"
            )));
        }
        Some(size) => size,
        None => default_part_size(request.size),
    };
    let digest = match request.digest.as_deref() {
        Some(text) => Some(parse_digest(text)?),
        None => None,
    };
    let delivery = match request.direct {
        false => Delivery::Server,
        true if request.part_size.is_some() || request.size > MAX_DIRECT_SIZE => {
            Delivery::DirectParts
        }
        true => Delivery::Direct,
    };
    let spec = UploadSpec {
        path: full,
        run_id: Some(run_id),
        size: Some(request.size),
        part_size: Some(part_size),
        parts: None,
        digest,
        content_type: request.content_type,
        delivery,
    };
    let (upload, part_urls) = match state.tracking.artifacts().create_upload(spec).await? {
        UploadStart::Stored(entry) => {
            return Ok((
                StatusCode::OK,
                Json(json!({ "stored": true, "file": file_json(&entry, &root) })),
            )
                .into_response());
        }
        UploadStart::Direct(upload, url) => {
            let mut out = upload_json(&upload.id, &request.path, upload.size, None, None);
            out["stored"] = json!(false);
            out["direct"] = json!(true);
            out["url"] = json!(url.url);
            out["headers"] = headers_json(url.headers);
            return Ok((StatusCode::CREATED, Json(out)).into_response());
        }
        UploadStart::Started(upload) => (upload, None),
        UploadStart::DirectParts(upload, urls) => (upload, Some(urls)),
    };
    let mut out = upload_json(
        &upload.id,
        &request.path,
        upload.size,
        upload.part_size,
        upload.parts,
    );
    out["stored"] = json!(false);
    if let Some(urls) = part_urls {
        add_part_urls(&mut out, urls);
    }
    Ok((StatusCode::CREATED, Json(out)).into_response())
}

/// A direct upload in parts: `direct`, `part_urls` (`[{number, url, headers}]`, part `k` at the
/// `k`-th URL) and how long they stay valid.
fn add_part_urls(out: &mut Value, urls: Vec<cairn_blob::Presigned>) {
    out["direct"] = json!(true);
    out["part_urls"] = urls
        .into_iter()
        .zip(1u32..)
        .map(|(url, number)| {
            json!({ "number": number, "url": url.url, "headers": headers_json(url.headers) })
        })
        .collect();
    out["expires_in"] = json!(DIRECT_URL_SECONDS);
}

fn headers_json(headers: Vec<(String, String)>) -> Value {
    Value::Object(
        headers
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect(),
    )
}

/// `GET /api/v1/runs/{run_id}/presigned/{path}`: a URL that reads the file straight from the
/// storage backend when it signs URLs (`direct: true`), else this server's download URL.
pub async fn presigned(
    State(state): State<AppState>,
    Path((run_id, path)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let full = run_file(&state, &run_id, &path).await?;
    let (entry, signed) = state
        .tracking
        .artifacts()
        .presign(&full, Duration::from_secs(PRESIGN_SECONDS))
        .await?;
    let direct = signed.is_some();
    let (url, extra) = match signed {
        Some(signed) => (signed.url, signed.headers),
        None => (
            format!(
                "{}/api/v1/runs/{run_id}/files/{}",
                base_url(&headers),
                encode_path(&relative_path(&path)?)
            ),
            Vec::new(),
        ),
    };
    Ok(Json(json!({
        "url": url,
        "headers": headers_json(extra),
        "file_size": entry.size,
        "digest": entry.digest,
        "direct": direct,
        "expires_in": PRESIGN_SECONDS,
    }))
    .into_response())
}

pub async fn get_upload(
    State(state): State<AppState>,
    Path(upload_id): Path<String>,
) -> ApiResult<Response> {
    let (upload, parts) = state.tracking.artifacts().upload(&upload_id).await?;
    let mut out = upload_json(
        &upload.id,
        &upload.path,
        upload.size,
        upload.part_size,
        upload.parts,
    );
    out["run_id"] = json!(upload.run_id);
    out["digest"] = json!(upload.expected_digest);
    out["received"] = parts
        .iter()
        .map(|p| json!({ "number": p.number, "size": p.size }))
        .collect();
    if let Some(urls) = state.tracking.artifacts().direct_part_urls(&upload).await? {
        add_part_urls(&mut out, urls);
    }
    Ok(Json(out).into_response())
}

pub async fn put_part(
    State(state): State<AppState>,
    Path((upload_id, number)): Path<(String, String)>,
    request: Request,
) -> ApiResult<Response> {
    let part = receive_part(&state, &upload_id, &number, request).await?;
    Ok(Json(json!({ "number": part.number, "size": part.size })).into_response())
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct CompleteBody {
    digest: Option<String>,
    parts: Option<Vec<CompletedPart>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompletedPart {
    number: u32,
    etag: String,
}

pub async fn complete_upload(
    State(state): State<AppState>,
    Path(upload_id): Path<String>,
    payload: Result<Json<CompleteBody>, JsonRejection>,
) -> ApiResult<Response> {
    let request = match payload {
        Err(JsonRejection::MissingJsonContentType(_)) => CompleteBody::default(),
        other => body(other)?,
    };
    let digest = match request.digest.as_deref() {
        Some(text) => Some(parse_digest(text)?),
        None => None,
    };
    let artifacts = state.tracking.artifacts();
    let (upload, _) = artifacts.upload(&upload_id).await?;
    let reported = request.parts.map(|parts| {
        parts
            .into_iter()
            .map(|part| ReportedPart {
                number: part.number,
                etag: part.etag,
            })
            .collect()
    });
    let entry = artifacts
        .complete_upload(&upload_id, digest, reported)
        .await?;
    let root = match &upload.run_id {
        Some(run_id) => state.tracking.run_artifact_path(run_id, "").await?.1,
        None => ArtifactPath::root(),
    };
    Ok(Json(json!({ "file": file_json(&entry, &root) })).into_response())
}

pub async fn abort_upload(
    State(state): State<AppState>,
    Path(upload_id): Path<String>,
) -> ApiResult<Response> {
    state.tracking.artifacts().abort_upload(&upload_id).await?;
    Ok(Json(json!({})).into_response())
}

pub async fn blob(
    State(state): State<AppState>,
    Path(digest): Path<String>,
) -> ApiResult<Response> {
    let digest = parse_digest(&digest)?;
    let (info, users) = state.tracking.artifacts().blob(&digest, 1000).await?;
    let used_by: Vec<Value> = users
        .iter()
        .map(|entry| {
            let run_id = entry
                .path
                .split('/')
                .nth(1)
                .filter(|_| entry.path.split('/').nth(2) == Some("artifacts"));
            json!({ "path": entry.path, "run_id": run_id, "created": entry.created })
        })
        .collect();
    Ok(Json(json!({
        "digest": info.digest,
        "size": info.size,
        "created": info.created,
        "references": info.references,
        "used_by": used_by,
    }))
    .into_response())
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct GcBody {
    #[serde(default)]
    dry_run: bool,
    retention_seconds: Option<u64>,
    grace_seconds: Option<u64>,
}

pub async fn gc(
    State(state): State<AppState>,
    payload: Result<Json<GcBody>, JsonRejection>,
) -> ApiResult<Response> {
    let request = body(payload)?;
    let mut options = GcOptions {
        dry_run: request.dry_run,
        ..GcOptions::default()
    };
    if let Some(seconds) = request.retention_seconds {
        options.retention = Duration::from_secs(seconds);
    }
    if let Some(seconds) = request.grace_seconds {
        options.grace = Duration::from_secs(seconds);
    }
    let report = state.tracking.artifacts().gc(options, &|_| {}).await?;
    Ok(Json(gc_json(&report)).into_response())
}

pub fn gc_json(report: &crate::tracking::artifacts::GcReport) -> Value {
    json!({
        "dry_run": report.dry_run,
        "purged_roots": report.purged_roots,
        "purged_entries": report.purged_entries,
        "blobs_deleted": report.blobs_deleted,
        "bytes_reclaimed": report.bytes_reclaimed,
        "orphans_deleted": report.orphans_deleted,
        "uploads_aborted": report.uploads_aborted,
        "staging_bytes_reclaimed": report.staging_bytes_reclaimed,
    })
}
