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
use cairn_core::auth::{self, Scope, Session, Token, User};
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

/// Who a request comes from.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user: User,
    pub scope: Scope,
    /// The session's id hash when the browser cookie authenticated the request.
    pub session: Option<String>,
}

/// SHA-256 of `username \0 password` → (the password hash it was checked against, until when).
type Verified = HashMap<[u8; 32], (String, Instant)>;

/// The authentication service: credentials in, a [`Principal`] out.
#[derive(Clone)]
pub struct Auth {
    store: Arc<dyn Store>,
    enabled: bool,
    verified: Arc<Mutex<Verified>>,
    /// Username → (failures in the current window, window start).
    failures: Arc<Mutex<HashMap<String, (u32, Instant)>>>,
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
    pub fn new(store: Arc<dyn Store>, enabled: bool) -> Self {
        Auth {
            store,
            enabled,
            verified: Arc::default(),
            failures: Arc::default(),
        }
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
        Ok(self
            .store
            .create_user(NewUser {
                username: username.to_string(),
                password_hash,
                is_admin,
                now: now_ms(),
            })
            .await?)
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
            user,
            scope: Scope::Write,
            session: Some(hash),
        }))
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
    match auth.principal(&method, &path, request.headers()).await {
        Ok(Some(principal)) => {
            if principal.scope == Scope::Read && !reads_only(&method, &path) {
                return denied("This token may only read: use a write token for changes")
                    .into_response();
            }
            request.extensions_mut().insert(principal);
            next.run(request).await
        }
        Ok(None) => unauthenticated(
            "Authentication required: send a token (Authorization: Bearer …, MLFLOW_TRACKING_TOKEN \
             or CAIRN_TOKEN), a username and password (Basic), or sign in",
        )
        .into_response(),
        Err(error) => error.into_response(),
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
