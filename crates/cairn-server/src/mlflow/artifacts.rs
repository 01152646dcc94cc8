//! The artifact proxy (`/api/2.0/mlflow-artifacts/...`: plain PUT/GET/DELETE, listing,
//! multipart uploads, presigned downloads) and the run-scoped reads (`artifacts/list`,
//! `/get-artifact`). Bodies stream in both directions; files are stored once by content.
//!
//! MLflow's multipart upload hands the client one URL per part. With a storage backend that
//! signs URLs MLflow's own server gives out the backend's; Cairn always gives out its own
//! (`mpu/parts/{upload_id}/{n}`), so parts are hashed as they arrive and every backend behaves
//! the same. `presigned/` answers a backend URL when the backend can sign one, else this
//! server's own download URL, which serves `Range` requests, so the client's parallel ranged
//! download works either way.

use axum::Json;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use cairn_blob::{ArtifactPath, ByteStream};
use cairn_store::Listed;
use futures::TryStreamExt;
use serde::Serialize;
use serde_json::json;

use super::fields::Fields;
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::tracking::artifacts::{UploadSpec, UploadStart};

/// How long a presigned download URL stays valid.
pub(crate) const PRESIGN_SECONDS: u64 = 15 * 60;

#[derive(Serialize)]
struct FileInfo {
    path: String,
    is_dir: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    file_size: Option<u64>,
}

fn parse_path(text: &str) -> ApiResult<ArtifactPath> {
    ArtifactPath::parse(text).map_err(|_| ApiError::invalid("Invalid path"))
}

/// A request body as a byte stream.
pub(crate) fn body_stream(request: Request) -> ByteStream {
    Box::pin(
        request
            .into_body()
            .into_data_stream()
            .map_err(std::io::Error::other),
    )
}

pub(crate) fn content_length(headers: &HeaderMap) -> ApiResult<Option<u64>> {
    match headers.get(header::CONTENT_LENGTH) {
        None => Ok(None),
        Some(value) => value
            .to_str()
            .ok()
            .and_then(|v| v.parse().ok())
            .map(Some)
            .ok_or_else(|| ApiError::invalid("invalid Content-Length header")),
    }
}

/// The URL this server is reached at, as the client sees it.
pub(crate) fn base_url(headers: &HeaderMap) -> String {
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    let scheme = get("x-forwarded-proto").unwrap_or("http");
    let host = get("x-forwarded-host")
        .or_else(|| get("host"))
        .unwrap_or("127.0.0.1:5000");
    format!("{scheme}://{host}")
}

pub async fn upload(
    State(state): State<AppState>,
    Path(path): Path<String>,
    request: Request,
) -> ApiResult<Response> {
    let path = parse_path(&path)?;
    let headers = request.headers().clone();
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let size = content_length(&headers)?;
    state
        .tracking
        .artifacts()
        .put(&path, content_type.as_deref(), size, body_stream(request))
        .await?;
    Ok(Json(json!({})).into_response())
}

pub async fn download(
    State(state): State<AppState>,
    Path(path): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    crate::download::serve(&state, &parse_path(&path)?, &headers).await
}

pub async fn delete(
    State(state): State<AppState>,
    Path(path): Path<String>,
) -> ApiResult<Response> {
    state
        .tracking
        .artifacts()
        .delete(&parse_path(&path)?)
        .await?;
    Ok(Json(json!({})).into_response())
}

/// Direct children of `dir`, with paths made by `name`.
fn file_infos(entries: Vec<Listed>, name: impl Fn(&str) -> String) -> Vec<FileInfo> {
    entries
        .into_iter()
        .map(|listed| match listed {
            Listed::File(entry) => FileInfo {
                path: name(&entry.path),
                is_dir: false,
                file_size: Some(entry.size),
            },
            Listed::Dir(path) => FileInfo {
                path: name(&path),
                is_dir: true,
                file_size: None,
            },
        })
        .collect()
}

fn base_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// `GET artifacts?path=<dir>`: entries of a directory by base name.
pub async fn list(State(state): State<AppState>, f: Fields) -> ApiResult<Response> {
    let dir = parse_path(&f.opt_str("path")?.unwrap_or_default())?;
    let Some(entries) = state.tracking.artifacts().list(&dir).await? else {
        return Ok(Json(json!({})).into_response());
    };
    let files = file_infos(entries, |p| base_name(p).to_string());
    Ok(Json(json!({ "files": files })).into_response())
}

/// `GET /api/2.0/mlflow/artifacts/list?run_id&path`: entries relative to the run's artifact root.
pub async fn list_run(State(state): State<AppState>, f: Fields) -> ApiResult<Response> {
    let relative = f.opt_str("path")?.unwrap_or_default();
    let (run, full) = state
        .tracking
        .run_artifact_path(&f.run_id()?, &relative)
        .await?;
    let prefix = parse_path(&relative)?;
    let entries = state
        .tracking
        .artifacts()
        .list(&full)
        .await?
        .unwrap_or_default();
    let files = file_infos(entries, |p| {
        let name = base_name(p);
        if prefix.is_root() {
            name.to_string()
        } else {
            format!("{prefix}/{name}")
        }
    });
    Ok(Json(json!({ "root_uri": run.info.artifact_uri, "files": files })).into_response())
}

/// `GET /get-artifact?run_id&path`: one file of a run.
pub async fn get_run_artifact(
    State(state): State<AppState>,
    headers: HeaderMap,
    f: Fields,
) -> ApiResult<Response> {
    let path = f.req_str("path")?;
    let (_, full) = state
        .tracking
        .run_artifact_path(&f.run_id()?, &path)
        .await?;
    crate::download::serve(&state, &full, &headers).await
}

/// `POST mpu/create/<path> {path, num_parts}` → `{upload_id, credentials: [{url, part_number,
/// headers}]}`.
pub async fn mpu_create(
    State(state): State<AppState>,
    Path(path): Path<String>,
    headers: HeaderMap,
    f: Fields,
) -> ApiResult<Response> {
    let path = destination(&path, &f)?;
    let parts = f.req_i64("num_parts")?;
    if !(1..=crate::tracking::artifacts::MAX_PARTS as i64).contains(&parts) {
        return Err(ApiError::invalid(format!(
            "Invalid value {parts} for parameter 'num_parts' supplied"
        )));
    }
    let spec = UploadSpec {
        path,
        parts: Some(parts as u32),
        ..UploadSpec::default()
    };
    let UploadStart::Started(upload) = state.tracking.artifacts().create_upload(spec).await? else {
        return Err(ApiError::internal(
            "an upload without a digest cannot be known",
        ));
    };
    let base = base_url(&headers);
    let credentials: Vec<_> = (1..=parts)
        .map(|n| {
            json!({
                "url": format!("{base}/api/2.0/mlflow-artifacts/mpu/parts/{}/{n}", upload.id),
                "part_number": n,
                "headers": {},
            })
        })
        .collect();
    Ok(Json(json!({ "upload_id": upload.id, "credentials": credentials })).into_response())
}

/// `PUT mpu/parts/{upload_id}/{n}`: one part; answers its ETag like S3 does.
pub async fn mpu_part(
    State(state): State<AppState>,
    Path((upload_id, number)): Path<(String, String)>,
    request: Request,
) -> ApiResult<Response> {
    let part = receive_part(&state, &upload_id, &number, request).await?;
    let mut response =
        Json(json!({ "part_number": part.number, "size": part.size })).into_response();
    if let Ok(value) = HeaderValue::from_str(&format!("\"{upload_id}-{}\"", part.number)) {
        response.headers_mut().insert(header::ETAG, value);
    }
    Ok(response)
}

/// Where a multipart upload goes: MLflow's client names the directory in the URL and the local
/// file in the body's `path`, whose base name is the file's name in the directory.
fn destination(dir: &str, f: &Fields) -> ApiResult<ArtifactPath> {
    let local = f.req_str("path")?;
    let name = local.rsplit(['/', '\\']).next().unwrap_or_default();
    let name = parse_path(name)?;
    if name.segments().len() != 1 {
        return Err(ApiError::invalid("Invalid path"));
    }
    Ok(parse_path(dir)?.join(&name))
}

/// Receives part `number` (as the URL spells it) of an upload, for both surfaces.
pub(crate) async fn receive_part(
    state: &AppState,
    upload_id: &str,
    number: &str,
    request: Request,
) -> ApiResult<cairn_store::UploadPart> {
    let number: u32 = number
        .parse()
        .map_err(|_| ApiError::invalid(format!("invalid part number '{number}'")))?;
    let length = content_length(request.headers())?;
    state
        .tracking
        .artifacts()
        .put_part(upload_id, number, length, body_stream(request))
        .await
}

/// The upload named in the body, checked against the destination the URL and body give.
async fn named_upload(state: &AppState, path: &str, f: &Fields) -> ApiResult<String> {
    let path = destination(path, f)?;
    let upload_id = f.req_str("upload_id")?;
    let (upload, _) = state.tracking.artifacts().upload(&upload_id).await?;
    if upload.path != path.as_string() {
        return Err(ApiError::invalid(format!(
            "upload {upload_id} is for '{}', not '{path}'",
            upload.path
        )));
    }
    Ok(upload_id)
}

/// `POST mpu/complete/<path> {upload_id, parts}`.
pub async fn mpu_complete(
    State(state): State<AppState>,
    Path(path): Path<String>,
    f: Fields,
) -> ApiResult<Response> {
    let upload_id = named_upload(&state, &path, &f).await?;
    state
        .tracking
        .artifacts()
        .complete_upload(&upload_id, None, None)
        .await?;
    Ok(Json(json!({})).into_response())
}

/// `POST mpu/abort/<path> {upload_id}`.
pub async fn mpu_abort(
    State(state): State<AppState>,
    Path(path): Path<String>,
    f: Fields,
) -> ApiResult<Response> {
    let upload_id = named_upload(&state, &path, &f).await?;
    state.tracking.artifacts().abort_upload(&upload_id).await?;
    Ok(Json(json!({})).into_response())
}

/// `GET presigned/<path>` → `{url, headers, file_size}`.
pub async fn presigned(
    State(state): State<AppState>,
    Path(path): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let path = parse_path(&path)?;
    let (entry, signed) = state
        .tracking
        .artifacts()
        .presign(&path, std::time::Duration::from_secs(PRESIGN_SECONDS))
        .await?;
    let (url, extra) = match signed {
        Some(signed) => (signed.url, signed.headers),
        None => (
            format!(
                "{}/api/2.0/mlflow-artifacts/artifacts/{}",
                base_url(&headers),
                encode_path(&path)
            ),
            Vec::new(),
        ),
    };
    let extra: serde_json::Map<String, serde_json::Value> = extra
        .into_iter()
        .map(|(k, v)| (k, serde_json::Value::String(v)))
        .collect();
    Ok(Json(json!({ "url": url, "headers": extra, "file_size": entry.size })).into_response())
}

/// Percent-encodes each segment of a path for use in a URL.
pub(crate) fn encode_path(path: &ArtifactPath) -> String {
    path.segments()
        .iter()
        .map(|segment| {
            let mut out = String::with_capacity(segment.len());
            for byte in segment.bytes() {
                if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
                    out.push(byte as char);
                } else {
                    out.push_str(&format!("%{byte:02X}"));
                }
            }
            out
        })
        .collect::<Vec<_>>()
        .join("/")
}
