//! The web UI: the files of `web/dist`, embedded at build time (see `build.rs`), served at `/`.
//!
//! - Hashed files under `/assets/` are immutable and cached for a year; everything else is
//!   revalidated.
//! - The UI's own paths (`/`, `/experiments…`, `/runs/…`, `/compare`, `/models…`, `/lineage`, `/teams…`, `/admin/…`) answer `index.html`, so a
//!   link to any view loads directly.
//! - A gzip copy made at build time is sent to clients that accept it.
//! - Without a built UI, those paths answer a page that says how to build it; the APIs work
//!   either way.
//! - [`WebDir`] serves a folder from disk instead (for working on the UI without rebuilding the
//!   server).

use std::path::PathBuf;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

use crate::AppState;
use crate::error::ApiError;

/// One embedded file.
pub struct Asset {
    pub path: &'static str,
    pub bytes: &'static [u8],
    pub gzip: Option<&'static [u8]>,
}

include!(concat!(env!("OUT_DIR"), "/ui_assets.rs"));

/// A folder to serve the UI from instead of the embedded files.
#[derive(Debug, Clone, Default)]
pub struct WebDir(pub Option<PathBuf>);

/// Whether a path belongs to the UI's router (and so answers `index.html`).
pub fn is_ui_route(path: &str) -> bool {
    path == "/"
        || path == "/index.html"
        || path == "/compare"
        || path == "/experiments"
        || path.starts_with("/experiments/")
        || path.starts_with("/runs/")
        || path == "/models"
        || path.starts_with("/models/")
        || path == "/lineage"
        || path == "/teams"
        || path.starts_with("/teams/")
        || path.starts_with("/admin/")
        || path == "/mentions"
}

/// Whether the binary carries a built UI.
pub fn embedded() -> bool {
    ASSETS.iter().any(|a| a.path == "/index.html")
}

const NOT_BUILT: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Cairn</title>
<style>body{font:15px/1.5 system-ui,sans-serif;max-width:42rem;margin:4rem auto;padding:0 1rem}
code{background:#f2f2f2;padding:.1rem .3rem;border-radius:4px}</style></head>
<body><h1>Cairn is running</h1>
<p>This build of the server does not include the web UI. The tracking APIs work as usual
(<code>MLFLOW_TRACKING_URI</code> can point here).</p>
<p>To get the UI, build it and then the server: <code>./scripts/run</code> does both, or run
<code>npm ci &amp;&amp; npm run build</code> in <code>web/</code>, then
<code>cargo build -p cairn</code>.</p></body></html>"#;

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("json") | Some("map") => "application/json",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("woff2") => "font/woff2",
        Some("wasm") => "application/wasm",
        _ => "application/octet-stream",
    }
}

fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';');
            let name = parts.next().unwrap_or("").trim();
            let refused = parts.any(|p| p.trim().replace(' ', "") == "q=0");
            name.eq_ignore_ascii_case("gzip") && !refused
        })
}

fn cache_control(path: &str) -> HeaderValue {
    if path.starts_with("/assets/") {
        HeaderValue::from_static("public, max-age=31536000, immutable")
    } else {
        HeaderValue::from_static("no-cache")
    }
}

fn respond(path: &str, bytes: Vec<u8>, gzip: bool) -> Response {
    let mut response = (StatusCode::OK, bytes).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(path)),
    );
    headers.insert(header::CACHE_CONTROL, cache_control(path));
    headers.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if gzip {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    response
}

/// The file a GET for `path` is answered with, if any: the path itself, or `index.html` for
/// the UI's routes.
fn target(path: &str) -> Option<&str> {
    if is_ui_route(path) {
        Some("/index.html")
    } else if path.starts_with("/assets/") || path == "/favicon.ico" {
        Some(path)
    } else {
        None
    }
}

async fn from_folder(dir: &std::path::Path, file: &str) -> Option<Vec<u8>> {
    let relative = file.trim_start_matches('/');
    if relative
        .split('/')
        .any(|part| part == ".." || part.is_empty())
    {
        return None;
    }
    tokio::fs::read(dir.join(relative)).await.ok()
}

/// The fallback for GETs no API route took: UI files and routes, else the API's 404.
pub async fn serve(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let path = uri.path();
    let not_found = || ApiError::endpoint_not_found(method.as_str(), path).into_response();
    if method != Method::GET && method != Method::HEAD {
        return not_found();
    }
    let Some(file) = target(path) else {
        return not_found();
    };
    if let Some(dir) = &state.web_dir.0 {
        return match from_folder(dir, file).await {
            Some(bytes) => respond(file, bytes, false),
            None => not_found(),
        };
    }
    match ASSETS.iter().find(|asset| asset.path == file) {
        Some(asset) => match asset.gzip {
            Some(gz) if accepts_gzip(&headers) => respond(file, gz.to_vec(), true),
            _ => respond(file, asset.bytes.to_vec(), false),
        },
        None if file == "/index.html" => {
            respond("/index.html", NOT_BUILT.as_bytes().to_vec(), false)
        }
        None => not_found(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ui_routes_answer_index_and_api_paths_do_not() {
        for path in [
            "/",
            "/experiments",
            "/experiments/3",
            "/runs/abc",
            "/compare",
            "/models",
            "/models/fraud",
            "/lineage",
            "/teams",
            "/teams/research",
            "/admin/audit",
            "/mentions",
        ] {
            assert_eq!(target(path), Some("/index.html"), "{path}");
        }
        for path in [
            "/api/v1/runs",
            "/ajax-api/2.0/mlflow/x",
            "/runsx",
            "/health2",
        ] {
            assert_eq!(target(path), None, "{path}");
        }
        assert_eq!(target("/assets/index-1.js"), Some("/assets/index-1.js"));
    }

    #[test]
    fn gzip_is_sent_only_when_accepted() {
        let mut headers = HeaderMap::new();
        assert!(!accepts_gzip(&headers));
        headers.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("br, gzip"),
        );
        assert!(accepts_gzip(&headers));
        headers.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("gzip;q=0, br"),
        );
        assert!(!accepts_gzip(&headers));
        headers.insert(header::ACCEPT_ENCODING, HeaderValue::from_static("deflate"));
        assert!(!accepts_gzip(&headers));
    }
}
