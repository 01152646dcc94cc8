//! Serving stored files over HTTP, for the MLflow artifact proxy and the native API alike:
//! single `Range: bytes=` requests (206 / 416), a strong `ETag` (the content digest, so
//! `If-None-Match` revalidation is free), and headers that keep browsers from rendering what they
//! download.

use std::ops::Range;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cairn_blob::ArtifactPath;
use cairn_store::ManifestEntry;

use crate::AppState;
use crate::error::ApiResult;

/// What a `Range` header asks for, resolved against a file of known size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wanted {
    Whole,
    Part(Range<u64>),
    /// A range that starts past the end (416).
    Unsatisfiable,
}

/// Parses `Range: bytes=a-b`, `bytes=a-` and `bytes=-n`. Anything else (other units, several
/// ranges, malformed text) is ignored and the whole file is served, as RFC 9110 allows.
pub fn parse_range(value: Option<&str>, size: u64) -> Wanted {
    let Some(spec) = value.and_then(|v| v.trim().strip_prefix("bytes=")) else {
        return Wanted::Whole;
    };
    if spec.contains(',') {
        return Wanted::Whole;
    }
    let Some((first, last)) = spec.split_once('-') else {
        return Wanted::Whole;
    };
    let (first, last) = (first.trim(), last.trim());
    let range = match (first.parse::<u64>(), last.parse::<u64>()) {
        (Ok(start), Ok(end)) if start <= end => start..end.saturating_add(1),
        (Ok(_), Ok(_)) => return Wanted::Whole,
        (Ok(start), Err(_)) if last.is_empty() => start..size,
        (Err(_), Ok(suffix)) if first.is_empty() => {
            if suffix == 0 {
                return Wanted::Unsatisfiable;
            }
            size.saturating_sub(suffix)..size
        }
        _ => return Wanted::Whole,
    };
    if range.start >= size {
        return Wanted::Unsatisfiable;
    }
    Wanted::Part(range.start..range.end.min(size))
}

/// Text-like files are served as `text/plain` so a browser never renders them as HTML.
pub fn served_content_type(file_name: &str) -> String {
    let guess = mime_guess::from_path(file_name).first_or_octet_stream();
    match (guess.type_(), guess.subtype().as_str()) {
        (mime_guess::mime::TEXT, _) | (_, "javascript") | (_, "xml") => {
            "text/plain; charset=utf-8".to_string()
        }
        _ => guess.essence_str().to_string(),
    }
}

fn etag(entry: &ManifestEntry) -> String {
    format!("\"{}\"", entry.digest)
}

/// Streams the file at `path` (or the range the request asks for).
pub async fn serve(
    state: &AppState,
    path: &ArtifactPath,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    let artifacts = state.tracking.artifacts();
    let entry = artifacts.entry(path).await?;
    let tag = etag(&entry);
    let mut response = if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == tag || t.trim() == "*"))
    {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let range = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
        match parse_range(range, entry.size) {
            Wanted::Unsatisfiable => {
                let mut response = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
                if let Ok(value) = HeaderValue::from_str(&format!("bytes */{}", entry.size)) {
                    response.headers_mut().insert(header::CONTENT_RANGE, value);
                }
                return Ok(response);
            }
            Wanted::Whole => {
                let blob = artifacts.read(&entry, None).await?;
                let mut response = Response::new(Body::from_stream(blob.body));
                response
                    .headers_mut()
                    .insert(header::CONTENT_LENGTH, HeaderValue::from(blob.size));
                response
            }
            Wanted::Part(range) => {
                let blob = artifacts.read(&entry, Some(range)).await?;
                let length = blob.range.end - blob.range.start;
                let content_range = format!(
                    "bytes {}-{}/{}",
                    blob.range.start,
                    blob.range.end - 1,
                    blob.size
                );
                let mut response = Response::new(Body::from_stream(blob.body));
                *response.status_mut() = StatusCode::PARTIAL_CONTENT;
                let headers = response.headers_mut();
                headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
                if let Ok(value) = HeaderValue::from_str(&content_range) {
                    headers.insert(header::CONTENT_RANGE, value);
                }
                response
            }
        }
    };
    let file_name = path.file_name().unwrap_or("artifact");
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&served_content_type(file_name))
            .unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Ok(value) = HeaderValue::from_str(&tag) {
        headers.insert(header::ETAG, value);
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    let disposition = format!(
        "attachment; filename=\"{}\"",
        file_name.replace(
            |c: char| c == '"' || c == '\\' || c.is_control() || !c.is_ascii(),
            "_"
        )
    );
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range(None, 10), Wanted::Whole);
        assert_eq!(parse_range(Some("bytes=0-4"), 10), Wanted::Part(0..5));
        assert_eq!(parse_range(Some("bytes=5-"), 10), Wanted::Part(5..10));
        assert_eq!(parse_range(Some("bytes=-3"), 10), Wanted::Part(7..10));
        assert_eq!(parse_range(Some("bytes=-30"), 10), Wanted::Part(0..10));
        assert_eq!(parse_range(Some("bytes=8-100"), 10), Wanted::Part(8..10));
        assert_eq!(parse_range(Some("bytes=10-"), 10), Wanted::Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=-0"), 10), Wanted::Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=0-0"), 0), Wanted::Unsatisfiable);
        for ignored in [
            "items=0-1",
            "bytes=0-1,3-4",
            "bytes=x-y",
            "bytes=5-2",
            "bytes=",
            "bytes=-",
        ] {
            assert_eq!(parse_range(Some(ignored), 10), Wanted::Whole, "{ignored}");
        }
    }

    #[test]
    fn content_types() {
        assert_eq!(served_content_type("a.html"), "text/plain; charset=utf-8");
        assert_eq!(served_content_type("a.png"), "image/png");
        assert_eq!(served_content_type("a.json"), "application/json");
        assert_eq!(served_content_type("MLmodel"), "application/octet-stream");
    }
}
