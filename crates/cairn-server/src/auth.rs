//! Authentication: who is calling, checked before any route reads or writes data.
//!
//! With authentication on (`cairn server --auth`, or any non-loopback bind without `--insecure`),
//! every API route (`/api/…`, `/ajax-api/…`, `/get-artifact`) needs one of:
//! - `Authorization: Bearer <token>` — an API token (the SDK's `CAIRN_TOKEN`, the mlflow client's
//!   `MLFLOW_TRACKING_TOKEN`), stored as its SHA-256 (tokens are 256 random bits, so a fast hash
//!   is enough), refused once revoked or expired;
//! - `Authorization: Basic` — username and password (`MLFLOW_TRACKING_USERNAME` / `PASSWORD`),
//!   checked against an argon2id hash; a verified pair is remembered for a minute (keyed by its
//!   hash, and only while the stored password hash is unchanged), so a client sending it on every
//!   request does not pay argon2 each time;
//! - the `cairn_session` cookie of a browser that signed in (`POST /api/v1/session`): HttpOnly,
//!   SameSite=Strict, and every cookie-authenticated write (anything but a GET or a searching
//!   POST) must echo the session's CSRF token in `X-Cairn-CSRF`.
//!
//! A missing or wrong credential is a 401 (`UNAUTHENTICATED`), a read-only token on a write a 403
//! (`PERMISSION_DENIED`). Five failed password checks for one username within 15 minutes refuse
//! further attempts for that username (429 with `Retry-After`) until the window passes. The
//! health, readiness and Prometheus routes and the UI's files stay open (the UI signs in itself).
//! Each credential (a token, or a user's password and sessions) may make `--rate-limit`
//! requests a second in bursts of twice that; past it the answer is 429 with `Retry-After`.
//!
//! With authentication on, every write (anything but a GET or a searching POST), every refused
//! request and every sign-in and sign-out goes into the append-only audit log (who, action,
//! target, status, when, source address, user agent), written in batches by one task every
//! 100 ms — so the last tenth of a second before a crash can be missing from it — and pruned
//! after the retention period.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use cairn_core::access::Viewer;
use cairn_core::auth::{self, AuditEntry, AuditQuery, Scope, Session, Token, User};
use cairn_store::{NewToken, NewUser, Store};
use sha2::{Digest, Sha256};

use crate::AppState;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::tracking::now_ms;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "cairn_session";
/// The header cookie-authenticated writes carry.
pub const CSRF_HEADER: &str = "x-cairn-csrf";
/// How long a browser session lasts.
pub const SESSION_DAYS: i64 = 7;
/// How long a verified username and password are remembered.
const BASIC_CACHE_TTL: Duration = Duration::from_secs(60);
const BASIC_CACHE_MAX: usize = 10_000;
/// Failed password checks per username before further attempts are refused, and for how long.
const MAX_FAILURES: u32 = 5;
const FAILURE_WINDOW: Duration = Duration::from_secs(15 * 60);

/// The signed-in caller of a request, as the services see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub username: String,
    /// Their id, site-admin flag and team roles, for `cairn_core::access::permission`.
    pub viewer: Viewer,
}

tokio::task_local! {
    /// The signed-in caller of the request being handled (set by [`require`]), so that the
    /// services can authorise and attribute changes without every call carrying it.
    static CALLER: Arc<Caller>;
}

/// The signed-in user of the request being handled; `None` without authentication.
pub fn caller() -> Option<String> {
    CALLER.try_with(|caller| caller.username.clone()).ok()
}

/// The signed-in caller of the request being handled; `None` without authentication (the
/// server's own work, the CLI, or authentication off), which the services trust.
pub fn current() -> Option<Arc<Caller>> {
    CALLER.try_with(Arc::clone).ok()
}

/// Runs `work` as `caller` — for tasks a request spawns (a WebSocket's), which do not inherit
/// the request's caller.
pub async fn acting_as<F: std::future::Future>(caller: Option<Arc<Caller>>, work: F) -> F::Output {
    match caller {
        Some(caller) => CALLER.scope(caller, work).await,
        None => work.await,
    }
}

/// Who a request comes from.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user: User,
    pub scope: Scope,
    /// What rate limits count against: `token:<id>` or `user:<id>`.
    pub credential: String,
    /// The session's id hash when the browser cookie authenticated the request.
    pub session: Option<String>,
}

/// SHA-256 of `username \0 password` → (the password hash it was checked against, until when).
type Verified = HashMap<[u8; 32], (String, Instant)>;

/// Audit entries are written in batches of at most this many, at least this often.
const AUDIT_BATCH: usize = 500;
const AUDIT_INTERVAL: Duration = Duration::from_millis(100);
/// Entries waiting to be written before recording blocks the request (backpressure).
const AUDIT_QUEUE: usize = 10_000;
/// Default retention of audit entries.
pub const DEFAULT_AUDIT_RETENTION_DAYS: i64 = 365;

/// The authentication service: credentials in, a [`Principal`] out; and the audit log.
#[derive(Clone)]
pub struct Auth {
    store: Arc<dyn Store>,
    enabled: bool,
    /// Where the middleware sends audit entries (a task writes them in batches); `None` while
    /// authentication is off.
    audit: Option<tokio::sync::mpsc::Sender<AuditEntry>>,
    verified: Arc<Mutex<Verified>>,
    /// Username → (failures in the current window, window start).
    failures: Arc<Mutex<HashMap<String, (u32, Instant)>>>,
    /// Requests per second one credential may make (bursts of twice that); 0: no limit.
    rate_limit: f64,
    /// Credential → (requests it may still make now, when that was computed).
    buckets: Arc<Mutex<HashMap<String, (f64, Instant)>>>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("enabled", &self.enabled)
            .finish()
    }
}

/// Hex SHA-256 of a secret (how tokens and sessions are stored).
pub fn secret_hash(secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// 256 random bits, URL-safe base64.
fn random_secret() -> String {
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// An argon2id PHC string for `password` (argon2's default cost: 19 MiB, 2 passes).
pub fn hash_password(password: &str) -> ApiResult<String> {
    let salt_bytes: [u8; 16] = rand::random();
    let salt = SaltString::encode_b64(&salt_bytes)
        .map_err(|e| ApiError::internal(format!("cannot make a salt: {e}")))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| ApiError::internal(format!("cannot hash the password: {e}")))
}

fn password_matches(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

fn unauthenticated(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::Unauthenticated, message)
}

fn denied(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::PermissionDenied, message)
}

/// Whether a path is behind authentication (the API), rather than open (health, metrics, the
/// UI's files, signing in).
pub fn protected(path: &str) -> bool {
    if path == "/api/v1/session" || path == "/api/v1/openapi.yaml" {
        return false;
    }
    path.starts_with("/api/") || path.starts_with("/ajax-api/") || path == "/get-artifact"
}

/// POST routes that only read (searches and views).
fn reads_only(method: &Method, path: &str) -> bool {
    if method == Method::GET || method == Method::HEAD || method == Method::OPTIONS {
        return true;
    }
    method == Method::POST
        && (path.ends_with("/runs/search")
            || path.ends_with("/experiments/search")
            || path.ends_with("/logged-models/search")
            || path == "/api/v1/compare"
            || path == "/api/v1/series"
            || path == "/api/v1/summaries")
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

impl Auth {
    /// The service without an audit writer (the CLI, tests; `record` writes at once).
    pub fn new(store: Arc<dyn Store>, enabled: bool) -> Self {
        Auth {
            store,
            enabled,
            audit: None,
            verified: Arc::default(),
            failures: Arc::default(),
            rate_limit: 0.0,
            buckets: Arc::default(),
        }
    }

    /// Limits each credential (token, user) to `per_second` requests a second, in bursts of up
    /// to twice that; 0 lifts the limit.
    pub fn with_rate_limit(mut self, per_second: f64) -> Self {
        self.rate_limit = per_second.max(0.0);
        self
    }

    /// Takes one request from the credential's bucket; `Err(seconds)` when it is empty.
    fn take(&self, credential: &str) -> Result<(), u64> {
        if self.rate_limit <= 0.0 {
            return Ok(());
        }
        let burst = (self.rate_limit * 2.0).max(1.0);
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() > BASIC_CACHE_MAX {
            buckets.retain(|_, (_, at)| at.elapsed() < Duration::from_secs(60));
        }
        let now = Instant::now();
        let (tokens, at) = buckets
            .entry(credential.to_string())
            .or_insert((burst, now));
        *tokens = (*tokens + at.elapsed().as_secs_f64() * self.rate_limit).min(burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - *tokens) / self.rate_limit).ceil().max(1.0) as u64)
        }
    }

    /// The server's service: with authentication on, a task writes audit entries in batches and
    /// prunes those older than `retention_days` every hour. Must be called inside a runtime.
    pub fn serving(store: Arc<dyn Store>, enabled: bool, retention_days: i64) -> Self {
        let mut auth = Auth::new(Arc::clone(&store), enabled);
        if enabled {
            let (sender, receiver) = tokio::sync::mpsc::channel(AUDIT_QUEUE);
            tokio::spawn(write_audit(store, receiver, retention_days));
            auth.audit = Some(sender);
        }
        auth
    }

    /// Records an audit entry: queued for the batch writer when serving, written now otherwise.
    pub async fn record(&self, entry: AuditEntry) {
        match &self.audit {
            Some(sender) => {
                let _ = sender.send(entry).await;
            }
            None => {
                if let Err(error) = self.store.append_audit(vec![entry]).await {
                    tracing::error!(%error, "cannot write an audit entry");
                }
            }
        }
    }

    /// Audit entries, newest first (admins only; the caller checks).
    pub async fn search_audit(&self, query: AuditQuery) -> ApiResult<Vec<AuditEntry>> {
        if !(1..=10_000).contains(&query.limit) {
            return Err(ApiError::invalid("limit must be between 1 and 10000"));
        }
        Ok(self.store.search_audit(query).await?)
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Creates a user (the first admin, or any user by an admin or the CLI).
    pub async fn create_user(
        &self,
        username: &str,
        password: &str,
        is_admin: bool,
    ) -> ApiResult<User> {
        auth::check_username(username)?;
        auth::check_password(password)?;
        let password_hash = hash_password(password)?;
        let user = self
            .store
            .create_user(NewUser {
                username: username.to_string(),
                password_hash,
                is_admin,
                now: now_ms(),
            })
            .await?;
        // Their personal team, where their experiments go unless they name another.
        let personal = cairn_core::access::personal_team_name(username);
        self.store
            .create_team(&personal, user.id, true, now_ms())
            .await?;
        Ok(user)
    }

    pub async fn list_users(&self) -> ApiResult<Vec<User>> {
        Ok(self.store.list_users().await?)
    }

    pub async fn user(&self, username: &str) -> ApiResult<Option<User>> {
        Ok(self
            .store
            .user_by_name(username)
            .await?
            .map(|(user, _)| user))
    }

    pub async fn set_password(&self, username: &str, password: &str) -> ApiResult<()> {
        auth::check_password(password)?;
        let hash = hash_password(password)?;
        self.store.set_password(username, &hash).await?;
        self.forget_verified();
        Ok(())
    }

    pub async fn set_disabled(&self, username: &str, disabled: bool) -> ApiResult<User> {
        let user = self.store.set_user_disabled(username, disabled).await?;
        self.forget_verified();
        Ok(user)
    }

    fn forget_verified(&self) {
        self.verified
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// Refuses a username with too many recent failures (429 with the seconds left).
    fn check_throttle(&self, username: &str) -> ApiResult<()> {
        let failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((count, since)) = failures.get(username)
            && *count >= MAX_FAILURES
        {
            let left = FAILURE_WINDOW.saturating_sub(since.elapsed());
            if !left.is_zero() {
                let seconds = left.as_secs().max(1);
                let mut error = ApiError::new(
                    ErrorCode::RequestLimitExceeded,
                    format!(
                        "Too many failed sign-ins for '{username}': try again in {seconds} seconds"
                    ),
                );
                error.retry_after = Some(seconds);
                return Err(error);
            }
        }
        Ok(())
    }

    fn record_failure(&self, username: &str) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let entry = failures
            .entry(username.to_string())
            .or_insert((0, Instant::now()));
        if entry.1.elapsed() > FAILURE_WINDOW {
            *entry = (0, Instant::now());
        }
        entry.0 += 1;
        if failures.len() > BASIC_CACHE_MAX {
            failures.retain(|_, (_, since)| since.elapsed() <= FAILURE_WINDOW);
        }
    }

    /// Checks a username and password; the same answer for an unknown user and a wrong password.
    pub async fn check_password(&self, username: &str, password: &str) -> ApiResult<User> {
        self.check_throttle(username)?;
        let wrong = || unauthenticated("Wrong username or password");
        let Some((user, hash)) = self.store.user_by_name(username).await? else {
            // Spend the same time as a real check, so timing does not reveal usernames.
            let _ = password_matches(DUMMY_HASH, password);
            self.record_failure(username);
            return Err(wrong());
        };
        let key: [u8; 32] = Sha256::digest(format!("{username}\0{password}").as_bytes()).into();
        let cached = {
            let verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
            verified
                .get(&key)
                .is_some_and(|(checked, until)| *checked == hash && Instant::now() < *until)
        };
        if !cached {
            let (hash_for_check, password) = (hash.clone(), password.to_string());
            let matches =
                tokio::task::spawn_blocking(move || password_matches(&hash_for_check, &password))
                    .await
                    .unwrap_or(false);
            if !matches {
                self.record_failure(username);
                return Err(wrong());
            }
            let mut verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
            if verified.len() >= BASIC_CACHE_MAX {
                verified.clear();
            }
            verified.insert(key, (hash, Instant::now() + BASIC_CACHE_TTL));
        }
        if user.disabled {
            return Err(unauthenticated(format!(
                "The user '{username}' is disabled"
            )));
        }
        Ok(user)
    }

    /// Signs a browser in: answers the session cookie's secret and the CSRF token.
    pub async fn sign_in(
        &self,
        username: &str,
        password: &str,
    ) -> ApiResult<(User, String, String)> {
        let user = self.check_password(username, password).await?;
        let secret = random_secret();
        let csrf = random_secret();
        let expires = now_ms() + SESSION_DAYS * 24 * 3600 * 1000;
        self.store
            .create_session(
                &secret_hash(&secret),
                Session {
                    user_id: user.id,
                    csrf: csrf.clone(),
                    expires,
                },
            )
            .await?;
        Ok((user, secret, csrf))
    }

    pub async fn sign_out(&self, headers: &HeaderMap) -> ApiResult<()> {
        if let Some(secret) = cookie(headers, SESSION_COOKIE) {
            self.store.delete_session(&secret_hash(secret)).await?;
        }
        Ok(())
    }

    /// The signed-in browser's user and CSRF token, if the cookie names a live session.
    pub async fn session(&self, headers: &HeaderMap) -> ApiResult<Option<(User, String)>> {
        let Some(secret) = cookie(headers, SESSION_COOKIE) else {
            return Ok(None);
        };
        Ok(self
            .store
            .session_by_hash(&secret_hash(secret), now_ms())
            .await?
            .filter(|(_, user)| !user.disabled)
            .map(|(session, user)| (user, session.csrf)))
    }

    /// Makes a token for `user`; answers its record and its secret (shown once).
    pub async fn create_token(
        &self,
        user: &User,
        name: &str,
        scope: Scope,
        expires_in_days: Option<i64>,
    ) -> ApiResult<(Token, String)> {
        auth::check_token_name(name)?;
        if let Some(days) = expires_in_days
            && !(1..=3650).contains(&days)
        {
            return Err(ApiError::invalid(
                "expires_in_days must be between 1 and 3650 (or absent: no expiry)",
            ));
        }
        let now = now_ms();
        let secret = format!("cairn_{}", random_secret());
        let token = self
            .store
            .create_token(NewToken {
                user_id: user.id,
                name: name.to_string(),
                secret_hash: secret_hash(&secret),
                scope,
                expires: expires_in_days.map(|days| now + days * 24 * 3600 * 1000),
                now,
            })
            .await?;
        Ok((token, secret))
    }

    pub async fn list_tokens(&self, user: &User) -> ApiResult<Vec<Token>> {
        Ok(self.store.list_tokens(user.id).await?)
    }

    /// Revokes one of `user`'s tokens (any token, for an admin).
    pub async fn revoke_token(&self, user: &User, token_id: i64) -> ApiResult<Token> {
        let owner = (!user.is_admin).then_some(user.id);
        Ok(self.store.revoke_token(token_id, owner).await?)
    }

    /// Who sent this request, from its credentials; `Ok(None)` when it carries none.
    async fn principal(
        &self,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
    ) -> ApiResult<Option<Principal>> {
        if let Some(value) = headers.get(header::AUTHORIZATION) {
            let value = value
                .to_str()
                .map_err(|_| unauthenticated("Malformed Authorization header"))?;
            let (kind, credential) = value.split_once(' ').unwrap_or((value, ""));
            return if kind.eq_ignore_ascii_case("bearer") {
                let found = self
                    .store
                    .token_by_hash(&secret_hash(credential.trim()))
                    .await?;
                match found {
                    Some((token, user)) if token.usable(now_ms()) && !user.disabled => {
                        Ok(Some(Principal {
                            credential: format!("token:{}", token.id),
                            user,
                            scope: token.scope,
                            session: None,
                        }))
                    }
                    Some((token, _)) if token.revoked => {
                        Err(unauthenticated("The token was revoked"))
                    }
                    Some((token, user)) if !token.usable(now_ms()) || user.disabled => Err(
                        unauthenticated("The token has expired or its user is disabled"),
                    ),
                    _ => Err(unauthenticated("Unknown token")),
                }
            } else if kind.eq_ignore_ascii_case("basic") {
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(credential.trim())
                    .ok()
                    .and_then(|bytes| String::from_utf8(bytes).ok())
                    .ok_or_else(|| unauthenticated("Malformed Basic credentials"))?;
                let (username, password) = decoded
                    .split_once(':')
                    .ok_or_else(|| unauthenticated("Malformed Basic credentials"))?;
                let user = self.check_password(username, password).await?;
                Ok(Some(Principal {
                    credential: format!("user:{}", user.id),
                    user,
                    scope: Scope::Write,
                    session: None,
                }))
            } else {
                Err(unauthenticated(format!(
                    "Unsupported authorization scheme '{kind}': use Bearer <token> or Basic"
                )))
            };
        }
        let Some(secret) = cookie(headers, SESSION_COOKIE) else {
            return Ok(None);
        };
        let hash = secret_hash(secret);
        let Some((session, user)) = self.store.session_by_hash(&hash, now_ms()).await? else {
            return Err(unauthenticated("The session has ended: sign in again"));
        };
        if user.disabled {
            return Err(unauthenticated("The user is disabled"));
        }
        // Reads (GETs and searching POSTs) change nothing a forged request could abuse; their
        // answers are not readable across origins.
        if !reads_only(method, path) {
            let echoed = headers
                .get(CSRF_HEADER)
                .and_then(|value| value.to_str().ok());
            if echoed != Some(session.csrf.as_str()) {
                return Err(denied(
                    "Missing or wrong X-Cairn-CSRF header on a cookie-authenticated request",
                ));
            }
        }
        Ok(Some(Principal {
            credential: format!("user:{}", user.id),
            user,
            scope: Scope::Write,
            session: Some(hash),
        }))
    }
}

/// The audit writer: batches entries (at most [`AUDIT_BATCH`], every [`AUDIT_INTERVAL`]) and
/// prunes old ones hourly. Ends when every sender is gone, after writing what it holds.
async fn write_audit(
    store: Arc<dyn Store>,
    mut receiver: tokio::sync::mpsc::Receiver<AuditEntry>,
    retention_days: i64,
) {
    let mut pruned = Instant::now() - Duration::from_secs(3600);
    loop {
        let Some(first) = receiver.recv().await else {
            return;
        };
        let mut batch = vec![first];
        let deadline = tokio::time::Instant::now() + AUDIT_INTERVAL;
        while batch.len() < AUDIT_BATCH {
            match tokio::time::timeout_at(deadline, receiver.recv()).await {
                Ok(Some(entry)) => batch.push(entry),
                Ok(None) | Err(_) => break,
            }
        }
        if let Err(error) = store.append_audit(batch).await {
            tracing::error!(%error, "cannot write audit entries");
        }
        if pruned.elapsed() >= Duration::from_secs(3600) {
            pruned = Instant::now();
            let cutoff = now_ms() - retention_days * 24 * 3600 * 1000;
            match store.prune_audit(cutoff).await {
                Ok(0) => {}
                Ok(removed) => tracing::info!(removed, "pruned old audit entries"),
                Err(error) => tracing::error!(%error, "cannot prune the audit log"),
            }
        }
    }
}

/// Where a request came from, for the audit log.
fn source_of(request: &Request) -> Option<String> {
    request
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|info| info.0.ip().to_string())
}

fn user_agent(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::USER_AGENT)
        .and_then(|value| value.to_str().ok())
        .map(|value| value.chars().take(300).collect())
}

/// An audit entry for an auth event about `target` (a username), from a handler.
pub fn auth_event(
    action: &str,
    target: &str,
    status: u16,
    username: Option<String>,
    source: Option<String>,
    headers: &HeaderMap,
) -> AuditEntry {
    AuditEntry {
        id: 0,
        time: now_ms(),
        username,
        action: action.to_string(),
        target: target.to_string(),
        status,
        source,
        user_agent: user_agent(headers),
    }
}

/// A well-formed argon2id hash of a random password, for spending a check's time on unknown
/// usernames.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$3jZ6A1yVxZq9l8j0b5kI9jzX1Nn7r7f1oJ2b0s9d6mA";

/// The middleware: authenticates protected routes when authentication is on and puts the
/// [`Principal`] in the request's extensions.
pub async fn require(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let auth = &state.auth;
    if !auth.enabled() || !protected(request.uri().path()) {
        return next.run(request).await;
    }
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| path.clone(), |p| p.as_str().to_string());
    let mutation = !reads_only(&method, &path);
    let (source, agent) = (source_of(&request), user_agent(request.headers()));
    let entry = |username: Option<String>, action: String, status: u16| AuditEntry {
        id: 0,
        time: now_ms(),
        username,
        action,
        target: path.clone(),
        status,
        source: source.clone(),
        user_agent: agent.clone(),
    };
    let refusal = match auth.principal(&method, &path, request.headers()).await {
        Ok(Some(principal)) if principal.scope == Scope::Read && mutation => Err((
            Some(principal.user.username.clone()),
            denied("This token may only read: use a write token for changes"),
        )),
        Ok(Some(principal)) => Ok(principal),
        Ok(None) => Err((
            None,
            unauthenticated(
                "Authentication required: send a token (Authorization: Bearer …, \
                 MLFLOW_TRACKING_TOKEN or CAIRN_TOKEN), a username and password (Basic), or sign in",
            ),
        )),
        Err(error) => Err((None, error)),
    };
    if let Ok(principal) = &refusal
        && let Err(wait) = auth.take(&principal.credential)
    {
        // Not audited: a runaway script would flood the log with its refusals.
        let mut error = ApiError::new(
            ErrorCode::RequestLimitExceeded,
            format!(
                "Too many requests with this credential (at most {} a second): retry in {wait} s",
                auth.rate_limit
            ),
        );
        error.retry_after = Some(wait);
        return error.into_response();
    }
    let refusal = match refusal {
        Ok(principal) => match auth.store.memberships(principal.user.id).await {
            Ok(teams) => Ok((principal, teams)),
            Err(error) => return ApiError::from(error).into_response(),
        },
        Err(refused) => Err(refused),
    };
    match refusal {
        Ok((principal, teams)) => {
            let username = principal.user.username.clone();
            let caller = Arc::new(Caller {
                username: username.clone(),
                viewer: Viewer {
                    user_id: principal.user.id,
                    is_admin: principal.user.is_admin,
                    teams: teams.into_iter().collect(),
                },
            });
            let pending =
                mutation.then(|| entry(Some(username.clone()), format!("{method} {route}"), 0));
            request.extensions_mut().insert(principal);
            let response = CALLER.scope(caller, next.run(request)).await;
            if let Some(mut pending) = pending {
                pending.status = response.status().as_u16();
                auth.record(pending).await;
            }
            response
        }
        Err((username, error)) => {
            let response = error.into_response();
            let denied = entry(username, "auth.denied".into(), response.status().as_u16());
            auth.record(denied).await;
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_and_verify() {
        let hash = hash_password("correct horse").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(password_matches(&hash, "correct horse"));
        assert!(!password_matches(&hash, "wrong horse"));
        assert!(!password_matches("not a hash", "x"));
        assert!(
            PasswordHash::new(DUMMY_HASH).is_ok(),
            "the dummy hash must cost a real check"
        );
        assert!(!password_matches(DUMMY_HASH, "anything"));
    }

    #[test]
    fn protected_paths_and_read_routes() {
        assert!(protected("/api/2.0/mlflow/runs/create"));
        assert!(protected("/ajax-api/2.0/mlflow/runs/get"));
        assert!(protected("/api/v1/runs/x"));
        assert!(protected("/get-artifact"));
        for open in [
            "/",
            "/health",
            "/metrics",
            "/runs/x",
            "/assets/a.js",
            "/api/v1/session",
        ] {
            assert!(!protected(open), "{open}");
        }
        assert!(reads_only(&Method::GET, "/api/v1/runs/x"));
        assert!(reads_only(&Method::POST, "/api/2.0/mlflow/runs/search"));
        assert!(reads_only(&Method::POST, "/api/v1/compare"));
        assert!(!reads_only(&Method::POST, "/api/2.0/mlflow/runs/create"));
        assert!(!reads_only(&Method::DELETE, "/api/v1/tokens/1"));
    }

    #[tokio::test]
    async fn rate_limits_refill_over_time() {
        let dir = tempfile::tempdir().unwrap();
        let store = cairn_store::sqlite::SqliteStore::open(&dir.path().join("cairn.db")).unwrap();
        let auth = Auth::new(Arc::new(store), true).with_rate_limit(10.0);
        for _ in 0..20 {
            assert!(auth.take("token:1").is_ok(), "a burst of twice the rate");
        }
        assert_eq!(auth.take("token:1"), Err(1));
        assert!(
            auth.take("token:2").is_ok(),
            "other credentials are not affected"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert!(auth.take("token:1").is_ok(), "refilled at 10 a second");
        let unlimited = Auth::new(auth.store.clone(), true);
        assert!((0..10_000).all(|_| unlimited.take("token:1").is_ok()));
    }

    #[test]
    fn cookies_and_secrets() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            "a=1; cairn_session=xyz; b=2".parse().unwrap(),
        );
        assert_eq!(cookie(&headers, SESSION_COOKIE), Some("xyz"));
        assert_eq!(cookie(&headers, "c"), None);
        assert_eq!(secret_hash("abc").len(), 64);
        assert_ne!(random_secret(), random_secret());
    }
}
