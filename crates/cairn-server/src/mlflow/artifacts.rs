//! The artifact proxy (`/api/2.0/mlflow-artifacts/...`) and the run-scoped artifact reads
//! (`artifacts/list`, `/get-artifact`). Bodies stream in both directions.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use cairn_blob::{ArtifactPath, ByteStream};
use futures::TryStreamExt;
use serde::Serialize;
use serde_json::json;

use super::fields::Fields;
use crate::AppState;
use crate::error::{ApiError, ApiResult, ErrorCode};

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

pub async fn upload(
    State(state): State<AppState>,
    Path(path): Path<String>,
    request: Request,
) -> ApiResult<Response> {
    let path = parse_path(&path)?;
    let body: ByteStream = Box::pin(
        request
            .into_body()
            .into_data_stream()
            .map_err(std::io::Error::other),
    );
    state.tracking.blobs().put(&path, body).await?;
    Ok(Json(json!({})).into_response())
}

pub async fn download(
    State(state): State<AppState>,
    Path(path): Path<String>,
) -> ApiResult<Response> {
    stream_file(&state, &parse_path(&path)?).await
}

pub async fn delete(
    State(state): State<AppState>,
    Path(path): Path<String>,
) -> ApiResult<Response> {
    state.tracking.blobs().delete(&parse_path(&path)?).await?;
    Ok(Json(json!({})).into_response())
}

/// `GET artifacts?path=<dir>`: entries of a directory by base name.
pub async fn list(State(state): State<AppState>, f: Fields) -> ApiResult<Response> {
    let dir = parse_path(&f.opt_str("path")?.unwrap_or_default())?;
    let Some(entries) = state.tracking.blobs().list(&dir).await? else {
        return Ok(Json(json!({})).into_response());
    };
    let files: Vec<FileInfo> = entries
        .into_iter()
        .map(|e| FileInfo {
            path: e.name,
            is_dir: e.is_dir,
            file_size: e.size,
        })
        .collect();
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
        .blobs()
        .list(&full)
        .await?
        .unwrap_or_default();
    let files: Vec<FileInfo> = entries
        .into_iter()
        .map(|e| FileInfo {
            path: if prefix.is_root() {
                e.name
            } else {
                format!("{prefix}/{}", e.name)
            },
            is_dir: e.is_dir,
            file_size: e.size,
        })
        .collect();
    Ok(Json(json!({ "root_uri": run.info.artifact_uri, "files": files })).into_response())
}

/// `GET /get-artifact?run_id&path`: one file of a run.
pub async fn get_run_artifact(State(state): State<AppState>, f: Fields) -> ApiResult<Response> {
    let path = f.req_str("path")?;
    let (_, full) = state
        .tracking
        .run_artifact_path(&f.run_id()?, &path)
        .await?;
    stream_file(&state, &full).await
}

async fn stream_file(state: &AppState, path: &ArtifactPath) -> ApiResult<Response> {
    if path.is_root() {
        return Err(ApiError::invalid("Invalid path"));
    }
    let blob = state
        .tracking
        .blobs()
        .get(path)
        .await
        .map_err(|e| match e.kind() {
            cairn_blob::ErrorKind::IsDirectory => {
                ApiError::invalid(format!("'{path}' is a directory, not a file"))
            }
            _ => e.into(),
        })?;
    let file_name = path.file_name().unwrap_or("artifact");
    let content_type = guess_content_type(file_name);
    let mut response = Response::new(Body::from_stream(blob.body));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&content_type)
            .unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(blob.size));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    let disposition = format!(
        "attachment; filename=\"{}\"",
        file_name.replace(['"', '\\', '\r', '\n'], "_")
    );
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

/// Text-like files are served as `text/plain` so a browser never renders them as HTML.
fn guess_content_type(file_name: &str) -> String {
    let guess = mime_guess::from_path(file_name).first_or_octet_stream();
    match (guess.type_(), guess.subtype().as_str()) {
        (mime_guess::mime::TEXT, _) | (_, "javascript") | (_, "xml") => {
            "text/plain; charset=utf-8".to_string()
        }
        _ => guess.essence_str().to_string(),
    }
}

pub async fn not_implemented() -> ApiError {
    ApiError::new(
        ErrorCode::NotImplemented,
        "this server stores artifacts itself: upload with PUT, multipart and presigned URLs are not enabled",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types() {
        assert_eq!(guess_content_type("a.html"), "text/plain; charset=utf-8");
        assert_eq!(guess_content_type("a.png"), "image/png");
        assert_eq!(guess_content_type("a.json"), "application/json");
        assert_eq!(guess_content_type("MLmodel"), "application/octet-stream");
    }
}
