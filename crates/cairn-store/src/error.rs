//! Errors of the storage layer. Each carries a [`ErrorKind`] that the API layer maps to a status
//! code in one place; messages are written for the person who made the request.

/// What went wrong, in terms a caller can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The named entity does not exist.
    NotFound,
    /// A unique name is taken.
    AlreadyExists,
    /// The request is wrong given what is stored (deleted run, changed param, bad page token).
    InvalidArgument,
    /// The store is shutting down or cannot be reached; retrying later may succeed.
    Unavailable,
    /// The write queue stayed full: the caller should slow down and retry.
    Busy,
    /// A fault of the backend itself (I/O error, corrupt data). Never the caller's fault.
    Internal,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Busy(String),
    #[error("storage failure: {0}")]
    Internal(String),
}

impl StoreError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            StoreError::NotFound(_) => ErrorKind::NotFound,
            StoreError::AlreadyExists(_) => ErrorKind::AlreadyExists,
            StoreError::InvalidArgument(_) => ErrorKind::InvalidArgument,
            StoreError::Unavailable(_) => ErrorKind::Unavailable,
            StoreError::Busy(_) => ErrorKind::Busy,
            StoreError::Internal(_) => ErrorKind::Internal,
        }
    }

    pub fn run_not_found(run_id: &str) -> Self {
        StoreError::NotFound(format!("Run with id={run_id} not found"))
    }

    pub fn experiment_not_found(experiment_id: &str) -> Self {
        StoreError::NotFound(format!("No Experiment with id={experiment_id} exists"))
    }

    pub fn logged_model_not_found(model_id: &str) -> Self {
        StoreError::NotFound(format!("Logged model with ID '{model_id}' not found."))
    }

    pub fn invalid_page_token() -> Self {
        StoreError::InvalidArgument("Invalid page token".to_string())
    }
}
