//! The API layer's error: an MLflow error code plus a message for the caller. Every lower layer's
//! error converts into it here, in one place, and so does the mapping to HTTP status.
//!
//! 5xx answers are logged with their details and reach the client only as a generic message.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use cairn_blob::BlobError;
use cairn_core::ValidationError;
use cairn_core::filter::FilterError;
use cairn_store::StoreError;

/// MLflow's error codes (the subset Cairn answers with).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidParameterValue,
    BadRequest,
    ResourceAlreadyExists,
    ResourceDoesNotExist,
    EndpointNotFound,
    NotImplemented,
    TemporarilyUnavailable,
    RequestLimitExceeded,
    InternalError,
    /// No valid credentials (401).
    Unauthenticated,
    /// Valid credentials that may not do this (403).
    PermissionDenied,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidParameterValue => "INVALID_PARAMETER_VALUE",
            ErrorCode::BadRequest => "BAD_REQUEST",
            ErrorCode::ResourceAlreadyExists => "RESOURCE_ALREADY_EXISTS",
            ErrorCode::ResourceDoesNotExist => "RESOURCE_DOES_NOT_EXIST",
            ErrorCode::EndpointNotFound => "ENDPOINT_NOT_FOUND",
            ErrorCode::NotImplemented => "NOT_IMPLEMENTED",
            ErrorCode::TemporarilyUnavailable => "TEMPORARILY_UNAVAILABLE",
            ErrorCode::RequestLimitExceeded => "REQUEST_LIMIT_EXCEEDED",
            ErrorCode::InternalError => "INTERNAL_ERROR",
            ErrorCode::Unauthenticated => "UNAUTHENTICATED",
            ErrorCode::PermissionDenied => "PERMISSION_DENIED",
        }
    }

    pub fn status(self) -> StatusCode {
        match self {
            ErrorCode::InvalidParameterValue
            | ErrorCode::BadRequest
            | ErrorCode::ResourceAlreadyExists => StatusCode::BAD_REQUEST,
            ErrorCode::ResourceDoesNotExist | ErrorCode::EndpointNotFound => StatusCode::NOT_FOUND,
            ErrorCode::NotImplemented => StatusCode::NOT_IMPLEMENTED,
            ErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::RequestLimitExceeded => StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::InternalError => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Unauthenticated => StatusCode::UNAUTHORIZED,
            ErrorCode::PermissionDenied => StatusCode::FORBIDDEN,
        }
    }
}

/// An error answered to an API caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    /// Seconds a refused caller should wait (`Retry-After` of a 429; 1 when absent).
    pub retry_after: Option<u64>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        ApiError::new(ErrorCode::InvalidParameterValue, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(ErrorCode::ResourceDoesNotExist, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        ApiError::new(ErrorCode::InternalError, message)
    }

    pub fn missing(field: &str) -> Self {
        ValidationError::missing(field).into()
    }

    pub fn endpoint_not_found(method: &str, path: &str) -> Self {
        ApiError::new(
            ErrorCode::EndpointNotFound,
            format!("No API endpoint found for {method} {path}"),
        )
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl From<ValidationError> for ApiError {
    fn from(error: ValidationError) -> Self {
        ApiError::invalid(error.message())
    }
}

impl From<FilterError> for ApiError {
    fn from(error: FilterError) -> Self {
        ValidationError::from(error).into()
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        let code = match error.kind() {
            cairn_store::ErrorKind::NotFound => ErrorCode::ResourceDoesNotExist,
            cairn_store::ErrorKind::AlreadyExists => ErrorCode::ResourceAlreadyExists,
            cairn_store::ErrorKind::InvalidArgument => ErrorCode::InvalidParameterValue,
            cairn_store::ErrorKind::Unavailable => ErrorCode::TemporarilyUnavailable,
            cairn_store::ErrorKind::Busy => ErrorCode::RequestLimitExceeded,
            cairn_store::ErrorKind::Internal => ErrorCode::InternalError,
        };
        ApiError::new(code, error.to_string())
    }
}

impl From<BlobError> for ApiError {
    fn from(error: BlobError) -> Self {
        let code = match error.kind() {
            cairn_blob::ErrorKind::Invalid => ErrorCode::InvalidParameterValue,
            cairn_blob::ErrorKind::NotFound => ErrorCode::ResourceDoesNotExist,
            // The client went away mid-body; whatever we answer, it is not listening.
            cairn_blob::ErrorKind::Aborted => ErrorCode::BadRequest,
            cairn_blob::ErrorKind::NoSpace | cairn_blob::ErrorKind::Unavailable => {
                ErrorCode::TemporarilyUnavailable
            }
            cairn_blob::ErrorKind::Io => ErrorCode::InternalError,
        };
        if matches!(error, BlobError::InvalidPath(_)) {
            return ApiError::invalid("Invalid path");
        }
        ApiError::new(code, error.to_string())
    }
}
impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.code.status();
        let message = if status.is_server_error() && self.code == ErrorCode::InternalError {
            tracing::error!(error = %self.message, "internal error");
            "internal server error; see the server log for details".to_string()
        } else {
            self.message
        };
        let body = serde_json::json!({ "error_code": self.code.as_str(), "message": message });
        let mut response = (status, axum::Json(body)).into_response();
        if matches!(
            self.code,
            ErrorCode::RequestLimitExceeded | ErrorCode::TemporarilyUnavailable
        ) {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(self.retry_after.unwrap_or(1)),
            );
        }
        if self.code == ErrorCode::Unauthenticated {
            // Bearer, not Basic: a browser would otherwise pop up its own password dialog.
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer realm=\"cairn\""),
            );
        }
        response
    }
}
