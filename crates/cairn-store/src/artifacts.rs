//! The artifact catalogue: manifests (artifact path → blob), the blobs they reference, leases
//! that protect blobs an upload is about to reference, in-progress uploads in parts, and the
//! bookkeeping garbage collection needs.
//!
//! The bytes themselves live in a blob store (`cairn-blob`), keyed by their digest; this trait
//! holds everything that must change atomically with other metadata. Digests are opaque strings
//! here (`"blake3:<hex>"`); paths are full artifact paths as the artifact proxy sees them
//! (`"<experiment_id>/<run_id>/artifacts/model/weights.bin"`), already validated by the caller.
//!
//! **Blob lifecycle and the collection protocol.** A blob row is *live* or *collecting*. An
//! upload takes a lease on its digest ([`ArtifactStore::lease_blob`]) before it makes the bytes
//! visible in the blob store and holds it until the manifest entry is written
//! ([`ArtifactStore::put_artifact`] drops it). Garbage collection claims a blob
//! ([`ArtifactStore::claim_garbage`]) only when no manifest entry references it and no unexpired
//! lease names it, and marks the row *collecting* in the same transaction; a lease asked for a
//! collecting blob is refused ([`Lease::Collecting`]) until the collector has deleted the bytes
//! and forgotten the row ([`ArtifactStore::forget_blobs`]). So a blob is never deleted while an
//! upload is about to reference it, and an upload never references bytes being deleted.

use async_trait::async_trait;

use crate::Result;

/// One file of a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestEntry {
    /// Full artifact path (no leading `/`, no empty, `.` or `..` segments).
    pub path: String,
    /// The blob holding the bytes (`"blake3:<64 hex>"`).
    pub digest: String,
    pub size: u64,
    pub content_type: String,
    /// When this entry was written (ms since the epoch).
    pub created: i64,
}

/// One entry of a directory listing built from the manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listed {
    File(ManifestEntry),
    /// A directory: its full path (it holds at least one file somewhere below).
    Dir(String),
}

/// What [`ArtifactStore::lease_blob`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lease {
    /// Lease taken; a live blob row exists, so the bytes are already stored.
    Stored,
    /// Lease taken; no blob row exists: the caller must make sure the bytes are stored.
    Absent,
    /// No lease: the blob is being collected. Retry once the collector has finished.
    Collecting,
}

/// A stored blob and how it is used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobInfo {
    pub digest: String,
    pub size: u64,
    /// When the blob row was first written (ms).
    pub created: i64,
    /// Number of manifest entries that reference it.
    pub references: u64,
}

/// A blob claimed for collection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Garbage {
    pub digest: String,
    pub size: u64,
}

/// An upload in parts (MLflow's multipart upload or the native resumable upload).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    /// Chosen by the caller (unique).
    pub id: String,
    /// The artifact path the upload will be recorded at.
    pub path: String,
    /// The run the path belongs to, when it belongs to one.
    pub run_id: Option<String>,
    /// Declared total size, when known up front.
    pub size: Option<u64>,
    /// Size of every part but the last, when known up front.
    pub part_size: Option<u64>,
    /// Number of parts, when known up front.
    pub parts: Option<u32>,
    /// The digest the client says the whole file has, checked at completion.
    pub expected_digest: Option<String>,
    pub content_type: String,
    /// Backend-specific state (for example an S3 multipart upload id), opaque to the store.
    pub backend_state: String,
    pub created: i64,
}

/// One received part of an [`Upload`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadPart {
    /// 1-based.
    pub number: u32,
    /// Byte offset of the part in the whole file.
    pub offset: u64,
    pub size: u64,
    /// Backend- and hasher-specific receipt (for example an ETag and subtree hashes), opaque.
    pub receipt: Vec<u8>,
}

/// The artifact catalogue. Every method is one transaction.
#[async_trait]
pub trait ArtifactStore: Send + Sync + 'static {
    /// Takes (or renews) lease `lease` on `digest` until `expires` (ms). See the module docs.
    async fn lease_blob(&self, lease: &str, digest: &str, now: i64, expires: i64) -> Result<Lease>;
    /// Drops a lease (an upload that failed or found nothing to record). Unknown leases are fine.
    async fn release_lease(&self, lease: &str) -> Result<()>;
    /// Records `entry`, replacing any entry at the same path, and the blob row (`entry.size`,
    /// created `entry.created`, live) if it has none; drops `lease` if given. Fails with
    /// `InvalidArgument`, recording nothing, when a file would sit where a directory is (an
    /// entry below `path` exists) or a directory where a file is (an ancestor of `path` is a
    /// file); when the blob row is collecting; when the blob row has another size; and when the
    /// digest has no row and `lease` no longer names it (the lease expired and the digest was
    /// claimed, so its bytes may be gone: the upload must store them again).
    async fn put_artifact(&self, entry: ManifestEntry, lease: Option<&str>) -> Result<()>;
    /// The entry at exactly `path`.
    async fn get_artifact(&self, path: &str) -> Result<Option<ManifestEntry>>;
    /// The direct children of directory `dir` (`""` is the root), files and directories sorted
    /// by path. `None` when nothing is stored at or below `dir`; `Some(vec![])` when `dir` is a
    /// file.
    async fn list_artifacts(&self, dir: &str) -> Result<Option<Vec<Listed>>>;
    /// Every file at or below `prefix` (a file, a directory, or `""` for the root), sorted by
    /// path, at most `limit`, starting after path `after`.
    async fn walk_artifacts(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ManifestEntry>>;
    /// Removes the entry at `path`, or every entry below it when it is a directory. Returns how
    /// many entries were removed (0 when nothing was there). Blobs stay until collected. The
    /// empty path (the root) is refused with `InvalidArgument` rather than deleting everything.
    async fn delete_artifacts(&self, path: &str) -> Result<u64>;
    /// A blob row and its reference count.
    async fn blob_info(&self, digest: &str) -> Result<Option<BlobInfo>>;
    /// Manifest entries that reference `digest`, sorted by path, at most `limit`.
    async fn blob_references(&self, digest: &str, limit: usize) -> Result<Vec<ManifestEntry>>;

    /// Artifact URIs of everything deleted before `cutoff` (ms): runs deleted then, every run of
    /// an experiment deleted then, and logged models deleted then. Garbage collection removes
    /// the manifest entries below them.
    async fn deleted_artifact_roots(&self, cutoff: i64) -> Result<Vec<String>>;
    /// Blobs that would be claimed now (no references, no unexpired lease, created before
    /// `created_before`), without claiming them: for `--dry-run`.
    async fn garbage(&self, now: i64, created_before: i64, limit: usize) -> Result<Vec<Garbage>>;
    /// Claims up to `limit` such blobs (and, first, blobs left *collecting* since before
    /// `created_before` by a collector that died: the same grace keeps a working collector's
    /// claims its own) by marking them collecting as of `now`, and drops the (expired) leases
    /// on them. The caller deletes their bytes, then calls [`forget_blobs`](Self::forget_blobs).
    async fn claim_garbage(
        &self,
        now: i64,
        created_before: i64,
        limit: usize,
    ) -> Result<Vec<Garbage>>;
    /// Claims a digest that has bytes in the blob store but no row (an orphan left by an upload
    /// that died between storing bytes and recording them): inserts a collecting row (created
    /// and claimed `now`) unless a row or an unexpired lease exists, and drops the expired
    /// leases on the digest. Returns whether it was claimed.
    async fn claim_orphan(&self, digest: &str, size: u64, now: i64) -> Result<bool>;
    /// Deletes the rows of collected blobs (only rows still marked collecting).
    async fn forget_blobs(&self, digests: &[String]) -> Result<()>;

    /// Starts an upload in parts. Fails with `AlreadyExists` when the id is taken.
    async fn create_upload(&self, upload: Upload) -> Result<()>;
    async fn get_upload(&self, id: &str) -> Result<Option<Upload>>;
    /// Records a received part, replacing an earlier record of the same number. Fails with
    /// `NotFound` when the upload is unknown.
    async fn put_upload_part(&self, id: &str, part: UploadPart) -> Result<()>;
    /// The parts received so far, by number.
    async fn upload_parts(&self, id: &str) -> Result<Vec<UploadPart>>;
    /// Forgets an upload and its parts (completed or aborted).
    async fn delete_upload(&self, id: &str) -> Result<()>;
    /// Uploads created before `created_before`, oldest first, at most `limit`.
    async fn stale_uploads(&self, created_before: i64, limit: usize) -> Result<Vec<Upload>>;
}
