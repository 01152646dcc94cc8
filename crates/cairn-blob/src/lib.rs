//! Content-addressed artifact bytes for Cairn behind the [`BlobStore`] trait.
//!
//! Every stored object is named by the BLAKE3 digest of its bytes ([`Digest`], key
//! `blake3/ab/cd/<64 hex>`), so identical files are stored once. Which artifact path maps to which
//! digest is metadata and lives in the tracking store (`cairn-store`'s `ArtifactStore`), not here.
//!
//! Module map:
//! - [`digest`]: [`Digest`], its text form (`blake3:<hex>`) and object key.
//! - [`hash`]: hashing while streaming: [`hash::StreamHasher`] for one pass over a whole body,
//!   [`hash::PartHasher`] for a part at an offset (its BLAKE3 subtree chaining values), and
//!   [`hash::combine`], which joins the parts' subtrees into the whole file's digest, so parts
//!   that arrive in parallel and out of order are hashed as they stream and never read twice.
//! - [`path`]: [`ArtifactPath`], a relative path that cannot escape its root.
//! - [`local`]: [`LocalBlobStore`], files under a folder (the default).
//! - [`object`]: [`ObjectBlobStore`], any `object_store` backend (S3-compatible, GCS, Azure,
//!   in-memory).
//! - [`conformance`]: the behaviour every backend must show, run against each one.
//! - `testing` (feature `testing`): starts a local S3-compatible server (`s3s-fs`) for tests.
//!
//! Writing is two-step: [`BlobStore::stage`] streams a body into a private staging area while
//! hashing it; [`BlobStore::commit`] then makes the staged bytes visible under their digest (or
//! discards them when that digest is already stored). Uploads in parts write each part into the
//! upload's staging area and [`BlobStore::complete_upload`] turns them into one staged blob after
//! checking that they tile the file. A blob is never visible under a digest its bytes do not have,
//! and never visible partially.
//!
//! **Architecture Invariant:** this crate knows nothing of HTTP, runs, experiments or manifests.

use std::io;
use std::ops::Range;
use std::pin::Pin;

use async_trait::async_trait;
use bytes::Bytes;
use futures::Stream;

pub mod conformance;
pub mod digest;
pub mod hash;
pub mod local;
pub mod object;
pub mod path;
mod shared;
#[cfg(feature = "testing")]
pub mod testing;

pub use digest::Digest;
pub use local::LocalBlobStore;
pub use object::ObjectBlobStore;
pub use path::ArtifactPath;

/// A stream of byte chunks, as read from a request body or a stored object.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, io::Error>> + Send>>;

/// What went wrong, in terms a caller can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The caller's request cannot be satisfied as given (bad range, parts that do not tile the
    /// file, a digest that does not match the bytes, a body shorter or longer than declared).
    Invalid,
    NotFound,
    /// The body stream failed (the client went away): nothing was stored.
    Aborted,
    /// The storage is full.
    NoSpace,
    /// The backend is unreachable or failing; retrying later may work.
    Unavailable,
    Io,
}

#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("Invalid path: {0}")]
    InvalidPath(String),
    #[error("{0}")]
    Invalid(String),
    #[error("blob not found: {0}")]
    NotFound(String),
    #[error("upload interrupted: {0}")]
    Aborted(io::Error),
    #[error("artifact storage is full")]
    NoSpace,
    #[error("artifact storage unavailable: {0}")]
    Unavailable(String),
    #[error("artifact storage i/o error: {0}")]
    Io(io::Error),
}

impl From<io::Error> for BlobError {
    fn from(error: io::Error) -> Self {
        if error.kind() == io::ErrorKind::StorageFull || error.raw_os_error() == Some(28) {
            BlobError::NoSpace
        } else {
            BlobError::Io(error)
        }
    }
}

impl BlobError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            BlobError::InvalidPath(_) | BlobError::Invalid(_) => ErrorKind::Invalid,
            BlobError::NotFound(_) => ErrorKind::NotFound,
            BlobError::Aborted(_) => ErrorKind::Aborted,
            BlobError::NoSpace => ErrorKind::NoSpace,
            BlobError::Unavailable(_) => ErrorKind::Unavailable,
            BlobError::Io(_) => ErrorKind::Io,
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        BlobError::Invalid(message.into())
    }
}

pub type Result<T, E = BlobError> = std::result::Result<T, E>;

/// An open stored blob: its full size, the byte range being returned, and those bytes.
pub struct Blob {
    /// Size of the whole blob.
    pub size: u64,
    /// The bytes `body` yields (the whole blob when no range was asked for).
    pub range: Range<u64>,
    pub body: ByteStream,
}

impl std::fmt::Debug for Blob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Blob")
            .field("size", &self.size)
            .field("range", &self.range)
            .finish_non_exhaustive()
    }
}

/// Bytes written to the staging area and hashed, not yet visible under their digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Staged {
    pub digest: Digest,
    pub size: u64,
    /// Backend-specific name of the staged bytes.
    pub token: String,
}

/// A stored blob as listed by [`BlobStore::list`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBlob {
    pub digest: Digest,
    pub size: u64,
    /// Last modification (ms since the epoch).
    pub modified: i64,
}

/// A part received by [`BlobStore::put_part`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartReceipt {
    pub number: u32,
    pub offset: u64,
    pub size: u64,
    /// What [`BlobStore::complete_upload`] needs back about this part (subtree hashes, an ETag),
    /// to be kept by the caller (for example in the tracking store, so uploads survive restarts).
    pub receipt: Vec<u8>,
}

/// A URL a client can use directly against the storage backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presigned {
    pub url: String,
    /// Headers the client must send with the request.
    pub headers: Vec<(String, String)>,
}

/// Content-addressed bytes. Implementations must be safe to share between tasks.
#[async_trait]
pub trait BlobStore: Send + Sync + 'static {
    /// Where the bytes live, for logs and `server-info` (`local:/srv/cairn/artifacts`,
    /// `s3://bucket/prefix`).
    fn describe(&self) -> String;

    /// Streams `body` into the staging area, hashing it as it passes. When `expected_size` is
    /// given, a body of another length is refused (`Invalid`) and nothing is kept.
    async fn stage(&self, body: ByteStream, expected_size: Option<u64>) -> Result<Staged>;
    /// Makes staged bytes visible under their digest. Returns `true` when they were stored,
    /// `false` when the digest was already present (the staged copy is dropped).
    async fn commit(&self, staged: Staged) -> Result<bool>;
    /// Drops staged bytes that will not be committed.
    async fn discard(&self, staged: Staged) -> Result<()>;

    /// The size of the blob, when it is stored.
    async fn size(&self, digest: &Digest) -> Result<Option<u64>>;
    /// Opens a blob, or the byte range `range` of it (`Invalid` when the range is empty or starts
    /// past the end; an end past the end is clamped).
    async fn get(&self, digest: &Digest, range: Option<Range<u64>>) -> Result<Blob>;
    /// Deletes a blob. Deleting an absent blob is not an error.
    async fn delete(&self, digest: &Digest) -> Result<()>;
    /// Every stored blob (order unspecified).
    async fn list(&self) -> Result<Vec<StoredBlob>>;

    /// Starts an upload in parts under the caller's unique `id`. Returns backend state that the
    /// caller keeps and passes back (for example an S3 multipart upload id).
    async fn create_upload(&self, id: &str) -> Result<String>;
    /// Stores part `number` (1-based), which starts at byte `offset` of the file and is `size`
    /// bytes long. Receiving the same part again replaces it.
    async fn put_part(
        &self,
        id: &str,
        state: &str,
        number: u32,
        offset: u64,
        size: u64,
        body: ByteStream,
    ) -> Result<PartReceipt>;
    /// Joins the parts (all of them, in any order) into one staged blob of `size` bytes. Fails
    /// with `Invalid` when they do not tile `0..size` exactly or when `expected` is given and the
    /// bytes hash to something else; the upload is left as it was so the caller may add parts.
    async fn complete_upload(
        &self,
        id: &str,
        state: &str,
        parts: &[PartReceipt],
        size: u64,
        expected: Option<&Digest>,
    ) -> Result<Staged>;
    /// Drops an upload and everything it received. Unknown uploads are fine.
    async fn abort_upload(&self, id: &str, state: &str) -> Result<()>;

    /// A URL that reads the blob directly from the backend, valid for `expires`; `None` when the
    /// backend cannot sign URLs (the server then streams the bytes itself).
    async fn presign_get(
        &self,
        digest: &Digest,
        expires: std::time::Duration,
    ) -> Result<Option<Presigned>>;
    /// A URL the client can PUT a body of at most 5 GiB to directly, and the staging token the
    /// body will be under; `None` when the backend cannot sign URLs.
    async fn presign_stage(
        &self,
        expires: std::time::Duration,
    ) -> Result<Option<(String, Presigned)>>;
    /// A URL the client can PUT part `number` (1-based) of upload `id` to directly, valid for
    /// `expires`; `None` when the backend cannot sign URLs. The backend answers that PUT with an
    /// `ETag`, which the client reports back for [`BlobStore::complete_presigned_upload`].
    async fn presign_part(
        &self,
        id: &str,
        state: &str,
        number: u32,
        expires: std::time::Duration,
    ) -> Result<Option<Presigned>>;
    /// Joins the parts a client PUT at [`BlobStore::presign_part`] URLs into one staged blob of
    /// `size` bytes: `etags[k]` is what the backend answered for part `k + 1`. The joined bytes are
    /// read once to hash them. `Invalid` when the backend refuses an ETag (a part missing or
    /// replaced), when the joined bytes are not `size` long or hash to something other than
    /// `expected` (they are then deleted: the upload is gone and the client starts again).
    async fn complete_presigned_upload(
        &self,
        id: &str,
        state: &str,
        etags: &[String],
        size: u64,
        expected: Option<&Digest>,
    ) -> Result<Staged>;
    /// Adopts bytes a client put at a presigned staging token: reads them once to hash them.
    /// `NotFound` when nothing was put there; `Invalid` when `expected_size` is given and the
    /// bytes have another length (they are then dropped).
    async fn adopt_staged(&self, token: &str, expected_size: Option<u64>) -> Result<Staged>;
    /// Deletes staged bytes older than `older_than` that nobody committed or discarded (a
    /// process died in between). Returns the bytes freed.
    async fn sweep(&self, older_than: std::time::SystemTime) -> Result<u64>;
}
