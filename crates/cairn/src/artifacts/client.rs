//! The HTTP side of `cairn artifacts`: URLs under the server's base URL (each path segment
//! percent-encoded), the server's JSON errors turned into [`ServerError`], and the recursive file
//! listing.

use std::time::Duration;

use anyhow::Context;
use reqwest::{Response, StatusCode, Url};
use serde::Deserialize;
use serde::de::DeserializeOwned;

/// An error answered by the server: its HTTP status and the `message` of its JSON body.
#[derive(Debug, Clone)]
pub struct ServerError {
    pub status: StatusCode,
    pub message: String,
}

impl std::fmt::Display for ServerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (HTTP {})", self.message, self.status.as_u16())
    }
}

impl std::error::Error for ServerError {}

impl ServerError {
    /// Whether trying the same request again later may work.
    pub fn is_transient(&self) -> bool {
        self.status.is_server_error() || self.status == StatusCode::TOO_MANY_REQUESTS
    }
}

/// Whether `error` is the server saying "not found".
pub fn is_not_found(error: &anyhow::Error) -> bool {
    error
        .downcast_ref::<ServerError>()
        .is_some_and(|e| e.status == StatusCode::NOT_FOUND)
}

/// Whether `error` may go away when the request is sent again (a dropped connection, a 5xx, a
/// 429).
pub fn is_transient(error: &anyhow::Error) -> bool {
    if let Some(server) = error.downcast_ref::<ServerError>() {
        return server.is_transient();
    }
    error.chain().any(|cause| {
        cause
            .downcast_ref::<reqwest::Error>()
            .is_some_and(|e| e.is_connect() || e.is_request() || e.is_body() || e.is_timeout())
            || cause.downcast_ref::<std::io::Error>().is_some()
    })
}

/// A file as `GET /api/v1/runs/{run}/artifacts?recursive=true` lists it.
#[derive(Debug, Clone, Deserialize)]
pub struct RemoteFile {
    /// Relative to the run's artifact root.
    pub path: String,
    pub size: u64,
    pub digest: Option<String>,
}

#[derive(Deserialize)]
struct Page {
    files: Vec<RemoteFile>,
    next_page_token: Option<String>,
}

/// A Cairn server.
#[derive(Debug, Clone)]
pub struct Api {
    http: reqwest::Client,
    /// For presigned storage URLs: carries none of the server's credentials.
    storage: reqwest::Client,
    base: Url,
    pub verbose: bool,
}

impl Api {
    /// A client of `server`; with `CAIRN_TOKEN` set, every request carries it (a server started
    /// with `--auth` needs it).
    pub fn new(server: &str, verbose: bool) -> anyhow::Result<Self> {
        let mut headers = reqwest::header::HeaderMap::new();
        if let Ok(token) = std::env::var("CAIRN_TOKEN")
            && !token.is_empty()
        {
            let value = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}"))
                .context("CAIRN_TOKEN is not a valid header value")?;
            headers.insert(reqwest::header::AUTHORIZATION, value);
        }
        Self::with_headers(server, verbose, headers)
    }

    /// A server whose every request carries `headers` (credentials).
    pub fn with_headers(
        server: &str,
        verbose: bool,
        headers: reqwest::header::HeaderMap,
    ) -> anyhow::Result<Self> {
        let base = Url::parse(server.trim())
            .with_context(|| format!("'{server}' is not a server URL (e.g. http://HOST:5000)"))?;
        if base.cannot_be_a_base() || !matches!(base.scheme(), "http" | "https") {
            anyhow::bail!("'{server}' is not an http:// or https:// server URL");
        }
        let builder = || {
            reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(15))
                .user_agent(concat!("cairn-cli/", env!("CARGO_PKG_VERSION")))
        };
        let http = builder()
            .default_headers(headers)
            .build()
            .context("cannot set up the HTTP client")?;
        let storage = builder().build().context("cannot set up the HTTP client")?;
        Ok(Api {
            http,
            storage,
            base,
            verbose,
        })
    }

    /// The server URL as the user gave it, without a trailing `/` (part of upload state keys).
    pub fn server(&self) -> &str {
        self.base.as_str().trim_end_matches('/')
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The client for presigned URLs of the storage backend (no Cairn credentials sent there).
    pub fn storage(&self) -> &reqwest::Client {
        &self.storage
    }

    /// The URL of `segments` below the base URL; each segment is percent-encoded, and a segment
    /// holding `/` (an artifact path) becomes several.
    pub fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty();
            for segment in segments {
                path.extend(segment.split('/').filter(|s| !s.is_empty()));
            }
        }
        url
    }

    /// Parses a successful JSON answer, or turns an error answer into a [`ServerError`].
    pub async fn json<T: DeserializeOwned>(response: Response) -> anyhow::Result<T> {
        let response = Self::check(response).await?;
        let url = response.url().clone();
        response
            .json()
            .await
            .with_context(|| format!("unexpected answer from {url}"))
    }

    /// Passes a successful answer through; reads an error answer into a [`ServerError`].
    pub async fn check(response: Response) -> anyhow::Result<Response> {
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let text = response.text().await.unwrap_or_default();
        let body: Option<serde_json::Value> = serde_json::from_str(&text).ok();
        let message = body
            .as_ref()
            .and_then(|b| b.get("message"))
            .and_then(|m| m.as_str())
            .map(str::to_owned)
            .unwrap_or_else(|| {
                let text = text.trim();
                if text.is_empty() {
                    status
                        .canonical_reason()
                        .unwrap_or("request failed")
                        .to_string()
                } else {
                    text.chars().take(500).collect()
                }
            });
        Err(ServerError { status, message }.into())
    }

    /// Every file at or below `path` in the run's artifacts (`path` itself when it is a file),
    /// sorted by path.
    pub async fn walk(&self, run_id: &str, path: &str) -> anyhow::Result<Vec<RemoteFile>> {
        let mut files = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut url = self.url(&["api/v1/runs", run_id, "artifacts"]);
            {
                let mut query = url.query_pairs_mut();
                query.append_pair("path", path);
                query.append_pair("recursive", "true");
                query.append_pair("max_results", "1000");
                if let Some(token) = &token {
                    query.append_pair("page_token", token);
                }
            }
            let response = self
                .http
                .get(url)
                .send()
                .await
                .with_context(|| format!("cannot reach {}", self.server()))?;
            let page: Page = Self::json(response).await?;
            files.extend(page.files);
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(next) => token = Some(next),
                None => break,
            }
        }
        Ok(files)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_encode_segments_and_keep_a_base_path() {
        let api = Api::new("http://host:5000", false).unwrap();
        assert_eq!(api.server(), "http://host:5000");
        assert_eq!(
            api.url(&["api/v1/runs", "r1", "files", "a b/c#d.txt"])
                .as_str(),
            "http://host:5000/api/v1/runs/r1/files/a%20b/c%23d.txt"
        );
        let api = Api::new("http://host/cairn/", false).unwrap();
        assert_eq!(
            api.url(&["api/v1/uploads", "u"]).as_str(),
            "http://host/cairn/api/v1/uploads/u"
        );
        assert!(Api::new("host:5000", false).is_err());
        assert!(Api::new("ftp://host", false).is_err());
        assert!(Api::new("https://host", false).is_ok(), "TLS is built in");
    }
}
