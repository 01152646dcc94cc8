//! The artifact service: files at artifact paths, stored once by content.
//!
//! A file is written in three steps: its bytes are staged and hashed by the blob store; a lease on
//! the digest is taken in the catalogue (so garbage collection cannot delete that blob meanwhile);
//! the staged bytes are committed under the digest (a no-op when already stored) and the manifest
//! entry is written, which drops the lease. Uploads in parts (MLflow's multipart upload and the
//! native resumable upload) differ only in how the staged bytes come about. See
//! `cairn_store::artifacts` for the collection protocol this relies on.

use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use cairn_blob::{
    ArtifactPath, Blob, BlobStore, ByteStream, Digest, PartReceipt, Presigned, Staged,
};
use cairn_store::{BlobInfo, Lease, Listed, ManifestEntry, Store, Upload, UploadPart};

use super::{now_ms, proxied_path};
use crate::access::Access;
use crate::error::{ApiError, ApiResult, ErrorCode};
use cairn_core::access::Permission;

/// How long a lease protects a blob between staging and the manifest entry.
const LEASE_MS: i64 = 3600 * 1000;
/// How long a writer waits for a collector that is deleting the same digest.
const COLLECTING_WAIT: Duration = Duration::from_secs(30);
/// Most parts an upload may have (S3's limit).
pub const MAX_PARTS: u64 = 10_000;
/// Smallest part of a native upload (S3 refuses smaller parts except the last).
pub const MIN_PART_SIZE: u64 = 5 << 20;
/// Largest part (S3's limit).
pub const MAX_PART_SIZE: u64 = 5 << 30;
/// Part size of native uploads when the client does not choose one.
pub const DEFAULT_PART_SIZE: u64 = 16 << 20;

/// The part size of a `size`-byte native upload whose client chose none: the smallest multiple of
/// [`DEFAULT_PART_SIZE`] that keeps the file within [`MAX_PARTS`] parts.
pub fn default_part_size(size: u64) -> u64 {
    size.div_ceil(MAX_PARTS).div_ceil(DEFAULT_PART_SIZE).max(1) * DEFAULT_PART_SIZE
}
/// How long the last part of an MLflow multipart upload waits for another part to tell the part
/// size (MLflow does not declare it).
const PART_SIZE_WAIT: Duration = Duration::from_secs(60);

/// What a new upload in parts is for.
#[derive(Debug, Clone, Default)]
pub struct UploadSpec {
    pub path: ArtifactPath,
    pub run_id: Option<String>,
    pub size: Option<u64>,
    pub part_size: Option<u64>,
    pub parts: Option<u32>,
    pub digest: Option<Digest>,
    pub content_type: Option<String>,
    pub delivery: Delivery,
}

/// How an upload's bytes reach the storage backend.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Delivery {
    /// In parts sent to this server.
    #[default]
    Server,
    /// The whole file PUT straight to the backend at one presigned URL (at most
    /// [`MAX_DIRECT_SIZE`]).
    Direct,
    /// Parts PUT straight to the backend at presigned URLs (one per part), their ETags reported
    /// at completion: any size, in parallel.
    DirectParts,
}

/// A part the client PUT straight to storage, as it reports it at completion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportedPart {
    pub number: u32,
    /// The `ETag` storage answered the part's PUT with.
    pub etag: String,
}

/// The answer to [`Artifacts::create_upload`].
#[derive(Debug, Clone)]
pub enum UploadStart {
    /// The bytes were already stored: the file is recorded and nothing needs to be sent.
    Stored(ManifestEntry),
    Started(Upload),
    /// A direct upload: PUT the file to the URL, then complete.
    Direct(Upload, Presigned),
    /// A direct upload in parts: PUT part `k` to URL `k - 1`, then complete with the ETags.
    DirectParts(Upload, Vec<Presigned>),
}

/// `backend_state` of a direct upload: this prefix, then the staging token.
const DIRECT: &str = "direct:";
/// `backend_state` of a direct upload in parts: this prefix, then the backend's upload state.
const DIRECT_PARTS: &str = "direct-parts:";
/// How long a direct upload's URLs stay valid (`GET` on the upload signs them again).
pub const DIRECT_URL_SECONDS: u64 = 3600;
/// Largest body a direct upload takes (one PUT to S3).
pub const MAX_DIRECT_SIZE: u64 = 5 << 30;

/// What garbage collection should do.
#[derive(Debug, Clone, Copy)]
pub struct GcOptions {
    /// Deleted runs, experiments and models are purged once deleted this long ago.
    pub retention: Duration,
    /// Blobs younger than this are never collected (a client may be about to reference them).
    pub grace: Duration,
    /// Uploads in parts untouched this long are aborted.
    pub stale_uploads: Duration,
    pub dry_run: bool,
}

impl Default for GcOptions {
    fn default() -> Self {
        GcOptions {
            retention: Duration::from_secs(7 * 86_400),
            grace: Duration::from_secs(3600),
            stale_uploads: Duration::from_secs(7 * 86_400),
            dry_run: false,
        }
    }
}

/// What garbage collection did (or, in a dry run, would do).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GcReport {
    pub dry_run: bool,
    /// Artifact roots of deleted runs and models whose entries were purged.
    pub purged_roots: u64,
    pub purged_entries: u64,
    pub blobs_deleted: u64,
    pub bytes_reclaimed: u64,
    /// Blobs found in storage with no catalogue row (an upload died between the two).
    pub orphans_deleted: u64,
    pub uploads_aborted: u64,
    pub staging_bytes_reclaimed: u64,
}

/// Progress of a collection, for progress bars.
#[derive(Debug, Clone, Copy)]
pub enum GcProgress {
    Purged { roots: u64, total: u64 },
    Deleted { blobs: u64, bytes: u64 },
}

#[derive(Clone)]
pub struct Artifacts {
    store: Arc<dyn Store>,
    blobs: Arc<dyn BlobStore>,
    /// Every path is checked against the experiment whose artifact location holds it.
    access: Access,
}

impl std::fmt::Debug for Artifacts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Artifacts")
            .field("blobs", &self.blobs.describe())
            .finish_non_exhaustive()
    }
}

fn file_path(path: &ArtifactPath) -> ApiResult<()> {
    if path.is_root() {
        return Err(ApiError::invalid("Invalid path"));
    }
    Ok(())
}

/// The digest an upload must have: the one given at completion, else the one given at creation.
fn expected_digest(given: Option<Digest>, upload: &Upload) -> ApiResult<Option<Digest>> {
    match (given, upload.expected_digest.as_deref()) {
        (Some(digest), _) => Ok(Some(digest)),
        (None, Some(text)) => Ok(Some(parse_digest(text)?)),
        (None, None) => Ok(None),
    }
}

/// The content type recorded for a file: the client's, else a guess from the name.
pub fn content_type_for(path: &ArtifactPath, given: Option<&str>) -> String {
    match given
        .map(str::trim)
        .filter(|t| !t.is_empty() && t.len() <= 255)
    {
        Some(given) => given.to_string(),
        None => mime_guess::from_path(path.file_name().unwrap_or_default())
            .first_or_octet_stream()
            .essence_str()
            .to_string(),
    }
}

fn parse_digest(text: &str) -> ApiResult<Digest> {
    Digest::parse(text).ok_or_else(|| {
        ApiError::internal(format!("the catalogue holds a malformed digest '{text}'"))
    })
}

impl Artifacts {
    pub fn new(store: Arc<dyn Store>, blobs: Arc<dyn BlobStore>, access: Access) -> Self {
        Artifacts {
            store,
            blobs,
            access,
        }
    }

    /// An upload the caller may write to (its path's experiment).
    async fn writable_upload(&self, id: &str) -> ApiResult<Upload> {
        let upload = self
            .store
            .get_upload(id)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("No upload with id={id}")))?;
        let path = ArtifactPath::parse(&upload.path)?;
        self.access
            .path(&path, Permission::Write)
            .await
            .map_err(|error| match error.code {
                ErrorCode::ResourceDoesNotExist => {
                    ApiError::not_found(format!("No upload with id={id}"))
                }
                _ => error,
            })?;
        Ok(upload)
    }

    /// Fails early (before any byte is received) when `path` is a directory.
    async fn check_not_directory(&self, path: &ArtifactPath) -> ApiResult<()> {
        if let Some(children) = self.store.list_artifacts(&path.as_string()).await?
            && !children.is_empty()
        {
            return Err(ApiError::invalid(format!(
                "'{path}' is a directory: a file cannot replace it"
            )));
        }
        Ok(())
    }

    /// Stores `body` as the file at `path`. `size`, when known, is enforced.
    pub async fn put(
        &self,
        path: &ArtifactPath,
        content_type: Option<&str>,
        size: Option<u64>,
        body: ByteStream,
    ) -> ApiResult<ManifestEntry> {
        self.put_checked(path, content_type, size, None, body).await
    }

    /// [`put`](Self::put), refusing the bytes unless they hash to `expected` (when given).
    pub async fn put_checked(
        &self,
        path: &ArtifactPath,
        content_type: Option<&str>,
        size: Option<u64>,
        expected: Option<Digest>,
        body: ByteStream,
    ) -> ApiResult<ManifestEntry> {
        file_path(path)?;
        self.access.path(path, Permission::Write).await?;
        self.check_not_directory(path).await?;
        let staged = self.blobs.stage(body, size).await?;
        if let Some(expected) = expected
            && expected != staged.digest
        {
            let actual = staged.digest;
            let _ = self.blobs.discard(staged).await;
            return Err(ApiError::invalid(format!(
                "the uploaded bytes hash to {actual}, not {expected}"
            )));
        }
        self.record(path, content_type, staged).await
    }

    /// Takes a lease on `digest`, waiting while a collector deletes it.
    async fn lease(&self, lease: &str, digest: &Digest) -> ApiResult<Lease> {
        let deadline = tokio::time::Instant::now() + COLLECTING_WAIT;
        loop {
            let now = now_ms();
            match self
                .store
                .lease_blob(lease, &digest.to_string(), now, now + LEASE_MS)
                .await?
            {
                Lease::Collecting if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Lease::Collecting => {
                    return Err(ApiError::new(
                        ErrorCode::TemporarilyUnavailable,
                        "garbage collection is deleting these bytes; retry shortly",
                    ));
                }
                found => return Ok(found),
            }
        }
    }

    /// Makes staged bytes the file at `path`.
    async fn record(
        &self,
        path: &ArtifactPath,
        content_type: Option<&str>,
        staged: Staged,
    ) -> ApiResult<ManifestEntry> {
        let lease = uuid::Uuid::new_v4().simple().to_string();
        if let Err(error) = self.lease(&lease, &staged.digest).await {
            let _ = self.blobs.discard(staged).await;
            return Err(error);
        }
        let entry = ManifestEntry {
            path: path.as_string(),
            digest: staged.digest.to_string(),
            size: staged.size,
            content_type: content_type_for(path, content_type),
            created: now_ms(),
        };
        // Commit even when the catalogue says the blob is stored: it costs a stat when the bytes
        // are there, and heals a blob whose bytes went missing.
        let result = async {
            self.blobs.commit(staged).await?;
            self.store.put_artifact(entry.clone(), Some(&lease)).await?;
            Ok(entry)
        }
        .await;
        if result.is_err() {
            let _ = self.store.release_lease(&lease).await;
        }
        result
    }

    /// The entry at `path` (a file), with a clear error for directories and missing files.
    pub async fn entry(&self, path: &ArtifactPath) -> ApiResult<ManifestEntry> {
        file_path(path)?;
        self.access.path(path, Permission::Read).await?;
        if let Some(entry) = self.store.get_artifact(&path.as_string()).await? {
            return Ok(entry);
        }
        if self.check_not_directory(path).await.is_err() {
            return Err(ApiError::invalid(format!(
                "'{path}' is a directory, not a file"
            )));
        }
        Err(ApiError::not_found(format!("No artifact at '{path}'")))
    }

    /// Opens a file's bytes, or a byte range of them.
    pub async fn read(&self, entry: &ManifestEntry, range: Option<Range<u64>>) -> ApiResult<Blob> {
        let digest = parse_digest(&entry.digest)?;
        self.blobs
            .get(&digest, range)
            .await
            .map_err(|e| match e.kind() {
                cairn_blob::ErrorKind::NotFound => ApiError::internal(format!(
                    "the bytes of '{}' ({digest}) are missing from artifact storage",
                    entry.path
                )),
                _ => e.into(),
            })
    }

    /// A URL that reads the file straight from the storage backend, when it can sign one.
    pub async fn presign(
        &self,
        path: &ArtifactPath,
        expires: Duration,
    ) -> ApiResult<(ManifestEntry, Option<Presigned>)> {
        let entry = self.entry(path).await?;
        let digest = parse_digest(&entry.digest)?;
        Ok((entry, self.blobs.presign_get(&digest, expires).await?))
    }

    pub async fn list(&self, dir: &ArtifactPath) -> ApiResult<Option<Vec<Listed>>> {
        self.access.path(dir, Permission::Read).await?;
        Ok(self.store.list_artifacts(&dir.as_string()).await?)
    }

    /// Files at or below `prefix`, sorted, paged by `after`.
    pub async fn walk(
        &self,
        prefix: &ArtifactPath,
        after: Option<&str>,
        limit: usize,
    ) -> ApiResult<Vec<ManifestEntry>> {
        self.access.path(prefix, Permission::Read).await?;
        Ok(self
            .store
            .walk_artifacts(&prefix.as_string(), after, limit)
            .await?)
    }

    /// Deletes the file or directory at `path` (the bytes stay until collected).
    pub async fn delete(&self, path: &ArtifactPath) -> ApiResult<u64> {
        self.access.path(path, Permission::Write).await?;
        Ok(self.store.delete_artifacts(&path.as_string()).await?)
    }

    /// A blob, how many files use it, and up to `limit` of them.
    pub async fn blob(
        &self,
        digest: &Digest,
        limit: usize,
    ) -> ApiResult<(BlobInfo, Vec<ManifestEntry>)> {
        let text = digest.to_string();
        let info = self
            .store
            .blob_info(&text)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("No blob {text}")))?;
        let mut references = self.store.blob_references(&text, limit).await?;
        if crate::auth::current().is_some() {
            // Only the files the caller may read; a blob none of them uses is not theirs to see.
            let mut readable = Vec::with_capacity(references.len());
            for entry in references {
                let path = ArtifactPath::parse(&entry.path)?;
                if self.access.path(&path, Permission::Read).await.is_ok() {
                    readable.push(entry);
                }
            }
            if readable.is_empty() {
                return Err(ApiError::not_found(format!("No blob {text}")));
            }
            references = readable;
        }
        Ok((info, references))
    }

    // ----- uploads in parts -----

    /// Starts an upload in parts, or records the file at once when its digest is already stored.
    pub async fn create_upload(&self, spec: UploadSpec) -> ApiResult<UploadStart> {
        file_path(&spec.path)?;
        self.access.path(&spec.path, Permission::Write).await?;
        self.check_not_directory(&spec.path).await?;
        if let (Some(size), Some(part_size)) = (spec.size, spec.part_size) {
            let parts = size.div_ceil(part_size).max(1);
            if parts > MAX_PARTS {
                return Err(ApiError::invalid(format!(
                    "{parts} parts of {part_size} bytes is more than {MAX_PARTS}: choose larger parts"
                )));
            }
        }
        if let (Some(digest), Some(size)) = (spec.digest, spec.size)
            && let Some(entry) = self.record_known(&spec, &digest, size).await?
        {
            return Ok(UploadStart::Stored(entry));
        }
        let id = uuid::Uuid::new_v4().simple().to_string();
        let no_direct = || {
            ApiError::invalid(format!(
                "this server's artifact storage ({}) takes no direct uploads: send the file in parts",
                self.blobs.describe()
            ))
        };
        let parts = match (spec.size, spec.part_size) {
            (Some(size), Some(part_size)) => Some(size.div_ceil(part_size).max(1) as u32),
            _ => spec.parts,
        };
        let mut direct_url = None;
        let mut part_urls = None;
        let backend_state = match spec.delivery {
            Delivery::Server => self.blobs.create_upload(&id).await?,
            Delivery::Direct => {
                if spec.size.is_some_and(|size| size > MAX_DIRECT_SIZE) {
                    return Err(ApiError::invalid(format!(
                        "a direct upload in one request takes at most {MAX_DIRECT_SIZE} bytes: \
                         send larger files in parts"
                    )));
                }
                let signed = self
                    .blobs
                    .presign_stage(Duration::from_secs(DIRECT_URL_SECONDS))
                    .await?;
                let (token, url) = signed.ok_or_else(no_direct)?;
                direct_url = Some(url);
                format!("{DIRECT}{token}")
            }
            Delivery::DirectParts => {
                let (Some(_), Some(_), Some(count)) = (spec.size, spec.part_size, parts) else {
                    return Err(ApiError::invalid(
                        "a direct upload in parts needs the file's size and part size",
                    ));
                };
                let state = self.blobs.create_upload(&id).await?;
                match self.sign_parts(&id, &state, count).await {
                    Ok(Some(urls)) => part_urls = Some(urls),
                    other => {
                        let _ = self.blobs.abort_upload(&id, &state).await;
                        other?;
                        return Err(no_direct());
                    }
                }
                format!("{DIRECT_PARTS}{state}")
            }
        };
        let upload = Upload {
            id,
            path: spec.path.as_string(),
            run_id: spec.run_id,
            size: spec.size,
            part_size: spec.part_size,
            parts,
            expected_digest: spec.digest.map(|d| d.to_string()),
            content_type: content_type_for(&spec.path, spec.content_type.as_deref()),
            backend_state,
            created: now_ms(),
        };
        self.store.create_upload(upload.clone()).await?;
        Ok(match (direct_url, part_urls) {
            (Some(url), _) => UploadStart::Direct(upload, url),
            (_, Some(urls)) => UploadStart::DirectParts(upload, urls),
            _ => UploadStart::Started(upload),
        })
    }

    /// URLs for parts `1..=count` of a backend upload, part `k` at index `k - 1`; `None` when the
    /// backend signs no part URLs.
    async fn sign_parts(
        &self,
        id: &str,
        state: &str,
        count: u32,
    ) -> ApiResult<Option<Vec<Presigned>>> {
        let expires = Duration::from_secs(DIRECT_URL_SECONDS);
        let mut urls = Vec::with_capacity(count as usize);
        for number in 1..=count {
            match self.blobs.presign_part(id, state, number, expires).await? {
                Some(url) => urls.push(url),
                None => return Ok(None),
            }
        }
        Ok(Some(urls))
    }

    /// Fresh URLs for every part of a direct upload in parts (`None` for other uploads): part
    /// `k` goes to URL `k - 1`.
    pub async fn direct_part_urls(&self, upload: &Upload) -> ApiResult<Option<Vec<Presigned>>> {
        let Some(state) = upload.backend_state.strip_prefix(DIRECT_PARTS) else {
            return Ok(None);
        };
        let urls = self
            .sign_parts(&upload.id, state, upload.parts.unwrap_or(1))
            .await?
            .ok_or_else(|| ApiError::internal("the storage backend stopped signing URLs"))?;
        Ok(Some(urls))
    }

    /// Records `spec.path` as an already stored blob, if it is one of `size` bytes.
    async fn record_known(
        &self,
        spec: &UploadSpec,
        digest: &Digest,
        size: u64,
    ) -> ApiResult<Option<ManifestEntry>> {
        let text = digest.to_string();
        if self
            .store
            .blob_info(&text)
            .await?
            .is_none_or(|b| b.size != size)
        {
            return Ok(None);
        }
        let lease = uuid::Uuid::new_v4().simple().to_string();
        if self.lease(&lease, digest).await? != Lease::Stored
            || self.blobs.size(digest).await? != Some(size)
        {
            self.store.release_lease(&lease).await?;
            return Ok(None);
        }
        let entry = ManifestEntry {
            path: spec.path.as_string(),
            digest: text,
            size,
            content_type: content_type_for(&spec.path, spec.content_type.as_deref()),
            created: now_ms(),
        };
        if let Err(error) = self.store.put_artifact(entry.clone(), Some(&lease)).await {
            let _ = self.store.release_lease(&lease).await;
            return Err(error.into());
        }
        Ok(Some(entry))
    }

    pub async fn upload(&self, id: &str) -> ApiResult<(Upload, Vec<UploadPart>)> {
        let upload = self.writable_upload(id).await?;
        let parts = self.store.upload_parts(id).await?;
        Ok((upload, parts))
    }

    /// Where part `number` goes and how long it is. `content_length` is what the request says.
    async fn place_part(
        &self,
        upload: &Upload,
        number: u32,
        content_length: Option<u64>,
    ) -> ApiResult<(u64, u64)> {
        if number == 0 || u64::from(number) > MAX_PARTS {
            return Err(ApiError::invalid(format!(
                "part numbers go from 1 to {MAX_PARTS}, not {number}"
            )));
        }
        if let Some(parts) = upload.parts
            && number > parts
        {
            return Err(ApiError::invalid(format!(
                "this upload has {parts} parts; there is no part {number}"
            )));
        }
        let last = upload.parts == Some(number);
        let (offset, size) = match (upload.part_size, upload.size) {
            (Some(part_size), Some(total)) => {
                let offset = u64::from(number - 1) * part_size;
                (offset, part_size.min(total.saturating_sub(offset)))
            }
            _ => {
                // MLflow's multipart upload: every part but the last has one size, never declared.
                let length = content_length
                    .ok_or_else(|| ApiError::invalid("a part needs a Content-Length header"))?;
                if !last || number == 1 {
                    // Parts of unequal sizes would overlap or leave gaps: completion refuses
                    // them (the parts must tile the file), so no part is read back here.
                    (u64::from(number - 1) * length, length)
                } else {
                    let deadline = tokio::time::Instant::now() + PART_SIZE_WAIT;
                    loop {
                        if let Some(known) = self.known_part_size(upload, Some(number)).await? {
                            break (u64::from(number - 1) * known, length);
                        }
                        if tokio::time::Instant::now() >= deadline {
                            return Err(ApiError::invalid(
                                "the last part cannot be placed before another part has arrived",
                            ));
                        }
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
            }
        };
        if let Some(length) = content_length
            && length != size
        {
            return Err(ApiError::invalid(format!(
                "part {number} must be {size} bytes, the request has {length}"
            )));
        }
        Ok((offset, size))
    }

    /// The size of the non-last parts of an MLflow multipart upload, once one has arrived.
    async fn known_part_size(
        &self,
        upload: &Upload,
        except: Option<u32>,
    ) -> ApiResult<Option<u64>> {
        let parts = self.store.upload_parts(&upload.id).await?;
        Ok(parts
            .iter()
            .find(|p| Some(p.number) != except && Some(p.number) != upload.parts)
            .map(|p| p.size))
    }

    /// Receives part `number` of an upload.
    pub async fn put_part(
        &self,
        id: &str,
        number: u32,
        content_length: Option<u64>,
        body: ByteStream,
    ) -> ApiResult<UploadPart> {
        // Only the upload's row: reading every received part here made each part cost O(parts).
        let upload = self.writable_upload(id).await?;
        if upload.backend_state.starts_with(DIRECT) {
            return Err(ApiError::invalid(format!(
                "upload {id} goes straight to storage: PUT the file to its URL, then complete"
            )));
        }
        if upload.backend_state.starts_with(DIRECT_PARTS) {
            return Err(ApiError::invalid(format!(
                "the parts of upload {id} go straight to storage: PUT each to its URL, then \
                 complete with their ETags"
            )));
        }
        let (offset, size) = self.place_part(&upload, number, content_length).await?;
        let receipt = self
            .blobs
            .put_part(id, &upload.backend_state, number, offset, size, body)
            .await?;
        let part = UploadPart {
            number,
            offset,
            size,
            receipt: receipt.receipt,
        };
        self.store.put_upload_part(id, part.clone()).await?;
        Ok(part)
    }

    /// Joins the parts, checks the digest, and records the file. `reported` are the parts of a
    /// direct upload in parts (and only of those). The work runs to its end even when the caller
    /// goes away midway (joining moves the parts' bytes, after which only recording the file
    /// leaves the upload consistent).
    pub async fn complete_upload(
        &self,
        id: &str,
        digest: Option<Digest>,
        reported: Option<Vec<ReportedPart>>,
    ) -> ApiResult<ManifestEntry> {
        self.writable_upload(id).await?;
        let this = self.clone();
        let id = id.to_string();
        tokio::spawn(async move { this.complete_upload_now(&id, digest, reported).await })
            .await
            .map_err(|e| ApiError::internal(format!("completing an upload failed: {e}")))?
    }

    async fn complete_upload_now(
        &self,
        id: &str,
        digest: Option<Digest>,
        reported: Option<Vec<ReportedPart>>,
    ) -> ApiResult<ManifestEntry> {
        let (upload, parts) = self.upload(id).await?;
        if let Some(state) = upload.backend_state.strip_prefix(DIRECT_PARTS) {
            let reported = reported.ok_or_else(|| {
                ApiError::invalid(format!(
                    "upload {id} went straight to storage: complete it with its parts' ETags"
                ))
            })?;
            return self
                .complete_direct_parts(&upload, state, reported, digest)
                .await;
        }
        if reported.is_some() {
            return Err(ApiError::invalid(format!(
                "upload {id} received its parts through this server: complete it without parts"
            )));
        }
        if let Some(token) = upload.backend_state.strip_prefix(DIRECT) {
            return self.complete_direct(&upload, token, digest).await;
        }
        if let Some(count) = upload.parts {
            let missing: Vec<String> = (1..=count)
                .filter(|n| !parts.iter().any(|p| p.number == *n))
                .take(20)
                .map(|n| n.to_string())
                .collect();
            if !missing.is_empty() {
                return Err(ApiError::invalid(format!(
                    "the upload is missing parts {}",
                    missing.join(", ")
                )));
            }
        }
        let size = match upload.size {
            Some(size) => size,
            None => parts.iter().map(|p| p.size).sum(),
        };
        let expected = expected_digest(digest, &upload)?;
        let receipts: Vec<PartReceipt> = parts
            .iter()
            .map(|p| PartReceipt {
                number: p.number,
                offset: p.offset,
                size: p.size,
                receipt: p.receipt.clone(),
            })
            .collect();
        let staged = self
            .blobs
            .complete_upload(
                id,
                &upload.backend_state,
                &receipts,
                size,
                expected.as_ref(),
            )
            .await?;
        self.finish_upload(&upload, staged).await
    }

    /// Records the file an upload staged, and forgets the upload.
    async fn finish_upload(&self, upload: &Upload, staged: Staged) -> ApiResult<ManifestEntry> {
        let path = ArtifactPath::parse(&upload.path)?;
        let entry = self
            .record(&path, Some(&upload.content_type), staged)
            .await?;
        self.store.delete_upload(&upload.id).await?;
        Ok(entry)
    }

    /// Records a direct upload's file once the client has put it at its URL.
    async fn complete_direct(
        &self,
        upload: &Upload,
        token: &str,
        digest: Option<Digest>,
    ) -> ApiResult<ManifestEntry> {
        let staged = self
            .blobs
            .adopt_staged(token, upload.size)
            .await
            .map_err(|e| match e.kind() {
                cairn_blob::ErrorKind::NotFound => ApiError::invalid(format!(
                    "nothing has been uploaded to upload {}'s URL yet",
                    upload.id
                )),
                _ => e.into(),
            })?;
        let expected = expected_digest(digest, upload)?;
        if let Some(expected) = expected
            && expected != staged.digest
        {
            let actual = staged.digest;
            let _ = self.blobs.discard(staged).await;
            return Err(ApiError::invalid(format!(
                "the uploaded bytes hash to {actual}, not {expected}"
            )));
        }
        self.finish_upload(upload, staged).await
    }

    /// Records a direct upload in parts once the client has put every part at its URL.
    async fn complete_direct_parts(
        &self,
        upload: &Upload,
        state: &str,
        mut reported: Vec<ReportedPart>,
        digest: Option<Digest>,
    ) -> ApiResult<ManifestEntry> {
        let count = upload.parts.unwrap_or(1);
        reported.sort_by_key(|part| part.number);
        let numbers: Vec<u32> = reported.iter().map(|part| part.number).collect();
        if numbers != (1..=count).collect::<Vec<_>>() {
            let missing: Vec<String> = (1..=count)
                .filter(|n| numbers.binary_search(n).is_err())
                .take(20)
                .map(|n| n.to_string())
                .collect();
            return Err(ApiError::invalid(if missing.is_empty() {
                format!("report each of parts 1 to {count} once, with its ETag")
            } else {
                format!("the upload is missing parts {}", missing.join(", "))
            }));
        }
        if let Some(part) = reported.iter().find(|part| part.etag.trim().is_empty()) {
            return Err(ApiError::invalid(format!(
                "part {} has no ETag",
                part.number
            )));
        }
        let expected = expected_digest(digest, upload)?;
        let etags: Vec<String> = reported.into_iter().map(|part| part.etag).collect();
        let size = upload
            .size
            .ok_or_else(|| ApiError::internal("a direct upload in parts without a size"))?;
        let staged = self
            .blobs
            .complete_presigned_upload(&upload.id, state, &etags, size, expected.as_ref())
            .await;
        let staged = match staged {
            Ok(staged) => staged,
            // A refused completion ends the upload (the backend may have joined the parts and
            // deleted the result already); an outage leaves it to be completed again.
            Err(error) if error.kind() == cairn_blob::ErrorKind::Invalid => {
                let _ = self.blobs.abort_upload(&upload.id, state).await;
                self.store.delete_upload(&upload.id).await?;
                return Err(ApiError::invalid(format!(
                    "{error}; upload {} is dropped: start a new one",
                    upload.id
                )));
            }
            Err(error) => return Err(error.into()),
        };
        self.finish_upload(upload, staged).await
    }

    /// Drops what an upload received, whatever its kind.
    async fn drop_upload_bytes(&self, upload: &Upload) -> ApiResult<()> {
        if let Some(state) = upload.backend_state.strip_prefix(DIRECT_PARTS) {
            return Ok(self.blobs.abort_upload(&upload.id, state).await?);
        }
        match upload.backend_state.strip_prefix(DIRECT) {
            Some(token) => {
                let staged = Staged {
                    digest: Digest::of(b""),
                    size: 0,
                    token: token.to_string(),
                };
                self.blobs.discard(staged).await?;
            }
            None => {
                self.blobs
                    .abort_upload(&upload.id, &upload.backend_state)
                    .await?
            }
        }
        Ok(())
    }

    /// Drops an upload and its parts.
    pub async fn abort_upload(&self, id: &str) -> ApiResult<()> {
        let (upload, _) = self.upload(id).await?;
        self.drop_upload_bytes(&upload).await?;
        self.store.delete_upload(id).await?;
        Ok(())
    }

    // ----- garbage collection -----

    /// Purges the files of runs, experiments and models deleted longer ago than the retention
    /// window, deletes blobs nothing references any more, and clears abandoned uploads.
    pub async fn gc(
        &self,
        options: GcOptions,
        progress: &(dyn Fn(GcProgress) + Send + Sync),
    ) -> ApiResult<GcReport> {
        if crate::auth::current().is_some_and(|caller| !caller.viewer.is_admin) {
            return Err(ApiError::new(
                ErrorCode::PermissionDenied,
                "Only site administrators collect garbage",
            ));
        }
        let now = now_ms();
        let mut report = GcReport {
            dry_run: options.dry_run,
            ..GcReport::default()
        };
        let cutoff = now - options.retention.as_millis() as i64;
        let created_before = now - options.grace.as_millis() as i64;
        let roots: Vec<ArtifactPath> = self
            .store
            .deleted_artifact_roots(cutoff)
            .await?
            .iter()
            .filter_map(|uri| proxied_path(uri))
            .filter(|root| !root.is_root())
            .collect();
        let total = roots.len() as u64;
        let mut doomed: std::collections::BTreeMap<String, u64> = Default::default();
        for root in &roots {
            if options.dry_run {
                let mut after: Option<String> = None;
                loop {
                    let page = self
                        .store
                        .walk_artifacts(&root.as_string(), after.as_deref(), 1000)
                        .await?;
                    report.purged_entries += page.len() as u64;
                    for entry in &page {
                        doomed.insert(entry.digest.clone(), entry.size);
                    }
                    match page.last() {
                        Some(last) if page.len() == 1000 => after = Some(last.path.clone()),
                        _ => break,
                    }
                }
            } else {
                report.purged_entries += self.store.delete_artifacts(&root.as_string()).await?;
            }
            report.purged_roots += 1;
            progress(GcProgress::Purged {
                roots: report.purged_roots,
                total,
            });
        }

        if options.dry_run {
            // Blobs that only purged entries reference would go too.
            for (digest, size) in &doomed {
                let users = self.store.blob_references(digest, 100_000).await?;
                let all_doomed = users.iter().all(|entry| {
                    ArtifactPath::parse(&entry.path)
                        .is_ok_and(|p| roots.iter().any(|root| p.strip_prefix(root).is_some()))
                });
                if all_doomed {
                    report.blobs_deleted += 1;
                    report.bytes_reclaimed += size;
                }
            }
            for garbage in self.store.garbage(now, created_before, usize::MAX).await? {
                if !doomed.contains_key(&garbage.digest) {
                    report.blobs_deleted += 1;
                    report.bytes_reclaimed += garbage.size;
                }
            }
        } else {
            loop {
                let claimed = self.store.claim_garbage(now, created_before, 500).await?;
                if claimed.is_empty() {
                    break;
                }
                let mut done = Vec::with_capacity(claimed.len());
                for garbage in &claimed {
                    let digest = parse_digest(&garbage.digest)?;
                    self.blobs.delete(&digest).await?;
                    report.blobs_deleted += 1;
                    report.bytes_reclaimed += garbage.size;
                    done.push(garbage.digest.clone());
                }
                self.store.forget_blobs(&done).await?;
                progress(GcProgress::Deleted {
                    blobs: report.blobs_deleted,
                    bytes: report.bytes_reclaimed,
                });
            }
        }

        // Bytes in storage that the catalogue never heard of.
        for stored in self.blobs.list().await? {
            if stored.modified >= created_before {
                continue;
            }
            let text = stored.digest.to_string();
            if self.store.blob_info(&text).await?.is_some() {
                continue;
            }
            if options.dry_run {
                report.orphans_deleted += 1;
                report.bytes_reclaimed += stored.size;
            } else if self.store.claim_orphan(&text, stored.size, now).await? {
                self.blobs.delete(&stored.digest).await?;
                self.store.forget_blobs(std::slice::from_ref(&text)).await?;
                report.orphans_deleted += 1;
                report.bytes_reclaimed += stored.size;
            }
        }

        let stale_before = now - options.stale_uploads.as_millis() as i64;
        for upload in self.store.stale_uploads(stale_before, 10_000).await? {
            if !options.dry_run {
                self.drop_upload_bytes(&upload).await?;
                self.store.delete_upload(&upload.id).await?;
            }
            report.uploads_aborted += 1;
        }
        if !options.dry_run {
            let before = SystemTime::now() - options.grace.max(Duration::from_secs(86_400));
            report.staging_bytes_reclaimed = self.blobs.sweep(before).await?;
        }
        Ok(report)
    }
}
