//! Artifact storage for Cairn behind the [`BlobStore`] trait.
//!
//! Module map:
//! - [`path`]: [`ArtifactPath`], a relative path that cannot escape the store (no `..`, no
//!   absolute paths, no empty segments).
//! - [`local`]: [`LocalBlobStore`], files under a folder on the local filesystem.
//!
//! Bodies move as streams of byte chunks in both directions, so no file is ever held whole in
//! memory. Content addressing, object storage (S3 and friends) and multipart uploads come later
//! behind the same trait.
//!
//! **Architecture Invariant:** this crate knows nothing of HTTP, runs or experiments: it stores
//! bytes at paths.

use std::io;
use std::pin::Pin;

use async_trait::async_trait;
use bytes::Bytes;
use futures::Stream;

pub mod local;
pub mod path;

pub use local::LocalBlobStore;
pub use path::ArtifactPath;

/// A stream of byte chunks, as read from a request body or a stored file.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, io::Error>> + Send>>;

/// What went wrong, in terms a caller can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    InvalidPath,
    NotFound,
    IsDirectory,
    Io,
}

#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("Invalid path: {0}")]
    InvalidPath(String),
    #[error("artifact not found: {0}")]
    NotFound(String),
    #[error("'{0}' is a directory")]
    IsDirectory(String),
    #[error("artifact storage i/o error: {0}")]
    Io(#[from] io::Error),
}

impl BlobError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            BlobError::InvalidPath(_) => ErrorKind::InvalidPath,
            BlobError::NotFound(_) => ErrorKind::NotFound,
            BlobError::IsDirectory(_) => ErrorKind::IsDirectory,
            BlobError::Io(_) => ErrorKind::Io,
        }
    }
}

pub type Result<T, E = BlobError> = std::result::Result<T, E>;

/// One entry of a directory listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The entry's name within the listed directory.
    pub name: String,
    pub is_dir: bool,
    /// Size in bytes; `None` for directories.
    pub size: Option<u64>,
}

/// An open stored file: its size and its bytes.
pub struct Blob {
    pub size: u64,
    pub body: ByteStream,
}

impl std::fmt::Debug for Blob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Blob")
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

/// Bytes at paths. Implementations must be safe to share between tasks.
#[async_trait]
pub trait BlobStore: Send + Sync + 'static {
    /// Stores `body` at `path`, replacing what was there. Readers see either the old or the new
    /// file, never a partial one. Returns the number of bytes stored.
    async fn put(&self, path: &ArtifactPath, body: ByteStream) -> Result<u64>;
    /// Opens the file at `path` for streaming.
    async fn get(&self, path: &ArtifactPath) -> Result<Blob>;
    /// Lists a directory, sorted by name. `None` when nothing exists at `path`; a file lists as
    /// `Some(vec![])`.
    async fn list(&self, dir: &ArtifactPath) -> Result<Option<Vec<Entry>>>;
    /// Deletes a file or a whole directory. Deleting nothing is not an error.
    async fn delete(&self, path: &ArtifactPath) -> Result<()>;
}
