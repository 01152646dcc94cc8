//! [`ObjectBlobStore`]: blobs in any `object_store` backend (S3 and S3-compatible servers, Google
//! Cloud Storage, Azure Blob Storage, in memory).
//!
//! Layout under the store's prefix (the path of the URL it was opened with):
//! - `blake3/ab/cd/<hex>`: stored blobs ([`Digest::object_key`]).
//! - `staging/<uuid>`: bodies written by [`BlobStore::stage`], waiting for
//!   [`BlobStore::commit`].
//! - `uploads/<id>`: uploads in parts. While the upload runs this key is a multipart upload of the
//!   backend (invisible to listings); once completed it is an object that waits for
//!   [`BlobStore::commit`] like a staged body. [`Staged::token`] is the key (`staging/<uuid>` or
//!   `uploads/<id>`).
//!
//! **Streaming.** [`BlobStore::stage`] never holds a whole body: a body that fits in one buffer
//! ([`PART_SIZE`]) is written with one `PUT`, a longer one as a multipart upload whose parts
//! (at most [`PARTS_IN_FLIGHT`] of them being sent while the next fills) are sent as they fill,
//! hashed on the way. [`BlobStore::put_part`] is the one place where a whole part is in memory,
//! because `MultipartStore::put_part` takes the part's bytes as one payload: the caller chooses
//! the part size, so it bounds that memory.
//!
//! **Committing** is `HEAD` on the final key, then a copy from staging and `DELETE` of the staged
//! object. Two concurrent commits of one digest may both copy; the bytes are identical, so the
//! result is the same. The copy is the backend's own (`CopyObject` on S3, no bytes through Cairn)
//! up to the store's copy limit. AWS S3's `CopyObject` copies at most 5 GiB and `object_store` does
//! not expose the multipart `UploadPartCopy`, so on `s3://` stores a larger blob is copied by
//! streaming the staged object into a multipart upload at the final key ([`S3_COPY_LIMIT`],
//! [`ObjectBlobStore::with_copy_limit`]): its bytes pass through Cairn once more, are hashed on the
//! way and must match the digest, and the final key appears only when the upload completes, so a
//! failed copy leaves nothing behind at it.
//!
//! **Uploads in parts** map to the backend's multipart uploads (`MultipartStore`): the state kept by
//! the caller is the backend's upload id, a part's receipt holds the part's ETag (`content_id`) and
//! its [`PartHashes`]. The backend joins parts by part number, so the parts of one upload must be
//! numbered `1..=n` in file order (part `k` covers the `k`-th range of the file); on AWS S3 every
//! part but the last must be at least 5 MiB. When every part could be hashed on its own the digest
//! is known, and checked, before the upload is completed, so a mismatch leaves the upload as it
//! was. When a part starts at an offset that is not a multiple of 1 KiB the upload is completed
//! first and the joined object read once to hash it; a mismatch then deletes that object, and the
//! caller must start a new upload.
//!
//! **Parts sent straight to the backend** ([`BlobStore::presign_part`]): the same multipart upload
//! at `uploads/<id>`, but each part is PUT by the client at a URL whose signature covers its
//! `partNumber` and `uploadId`. Cairn never sees those parts, so completion takes the ETags the
//! client reports and then reads the joined object once to hash it.
//!
//! **Sweeping** deletes `staging/` and completed-but-uncommitted `uploads/` objects older than the
//! cutoff. Multipart uploads that were never completed nor aborted are invisible to listings; on
//! S3 a bucket lifecycle rule (`AbortIncompleteMultipartUpload`) is what reclaims them.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
use object_store::memory::InMemory;
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::signer::{Method, SignedUrlOptions, Signer, Url};
use object_store::{BackoffConfig, RetryConfig};
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};

use crate::hash::{PartHasher, PartHashes, StreamHasher, combine};
use crate::shared::{check_name, check_tiling, clamp_range};
use crate::{
    Blob, BlobError, BlobStore, ByteStream, Digest, PartReceipt, Presigned, Result, Staged,
    StoredBlob,
};

/// Size of the buffers [`BlobStore::stage`] sends: one `PUT` for a body that fits in one, the part
/// size of a multipart upload otherwise (S3 needs parts of at least 5 MiB).
pub const PART_SIZE: usize = 8 << 20;
/// Parts of a staged body being sent at once (memory is bounded by about
/// `(PARTS_IN_FLIGHT + 1) * PART_SIZE`).
pub const PARTS_IN_FLIGHT: usize = 2;
/// The largest object AWS S3 copies with one `CopyObject`: larger blobs are committed by a
/// streamed copy (see the module's docs). The default copy limit of `s3://` stores.
pub const S3_COPY_LIMIT: u64 = 5 << 30;
/// Most parts in one S3 multipart upload: a streamed copy's parts grow beyond [`PART_SIZE`] for
/// objects larger than this many parts of it.
const MAX_PARTS: u64 = 10_000;

const STAGING: &str = "staging";
const UPLOADS: &str = "uploads";

/// A [`BlobStore`] over `object_store`.
#[derive(Clone)]
pub struct ObjectBlobStore {
    /// The backend, wrapped in a `PrefixStore` for the URL's path.
    store: Arc<dyn ObjectStore>,
    /// The same backend (and prefix) for uploads in parts, when it supports them.
    multipart: Option<Arc<dyn MultipartStore>>,
    /// The same backend (and prefix) for presigned URLs, when it can sign them.
    signer: Option<Arc<dyn Signer>>,
    /// Blobs larger than this are committed by a streamed copy instead of the backend's copy.
    copy_limit: Option<u64>,
    description: String,
}

impl fmt::Debug for ObjectBlobStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObjectBlobStore")
            .field("description", &self.description)
            .field("multipart", &self.multipart.is_some())
            .field("signer", &self.signer.is_some())
            .field("copy_limit", &self.copy_limit)
            .finish()
    }
}

impl ObjectBlobStore {
    /// A store from parts already set up. Every part must address the same objects (same
    /// backend, same prefix); `multipart` enables uploads in parts, `signer` presigned URLs.
    pub fn new(
        store: Arc<dyn ObjectStore>,
        multipart: Option<Arc<dyn MultipartStore>>,
        signer: Option<Arc<dyn Signer>>,
        description: impl Into<String>,
    ) -> Self {
        ObjectBlobStore {
            store,
            multipart,
            signer,
            copy_limit: None,
            description: description.into(),
        }
    }

    /// Sets the size above which committing a blob copies it by streaming (GET of the staged
    /// object into a multipart upload at the final key) rather than with the backend's own copy;
    /// `None`: always the backend's copy. `s3://` stores start with [`S3_COPY_LIMIT`]; an
    /// S3-compatible server that copies objects of any size may lift it, tests lower it.
    pub fn with_copy_limit(mut self, limit: Option<u64>) -> Self {
        self.copy_limit = limit;
        self
    }

    /// An empty store in memory (for tests and trials).
    pub fn memory() -> Self {
        let store = Arc::new(InMemory::new());
        ObjectBlobStore::new(store.clone(), Some(store), None, "memory:")
    }

    /// Opens the store a URL names:
    /// - `s3://bucket/prefix` (also `s3a://`): Amazon S3 or an S3-compatible server. Settings
    ///   come from the standard `AWS_*` environment variables (`AWS_ENDPOINT_URL`,
    ///   `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION`,
    ///   `AWS_ALLOW_HTTP`, ...), then from `options`. Requests use path-style addressing
    ///   (`endpoint/bucket/key`) unless `virtual_hosted_style_request` is set, so an S3-compatible
    ///   server at an IP address or on loopback works as is.
    /// - `gs://bucket/prefix`: Google Cloud Storage (`GOOGLE_*` variables, then `options`).
    /// - `az://container/prefix`, `abfs://`, `abfss://`, `azure://`, `adl://`: Azure Blob Storage
    ///   (`AZURE_*` variables, then `options`).
    /// - `memory://`: an empty store in memory.
    ///
    /// `options` are `object_store` configuration keys with or without their `aws_`, `google_` or
    /// `azure_` prefix (`endpoint`, `region`, `access_key_id`, `secret_access_key`, `allow_http`,
    /// ...). Unknown keys are refused (`Invalid`).
    pub fn from_url(url: &str, options: Vec<(String, String)>) -> Result<Self> {
        let parsed = Url::parse(url)
            .map_err(|e| BlobError::invalid(format!("invalid storage URL '{url}': {e}")))?;
        let prefix = Path::from_url_path(parsed.path())
            .map_err(|e| BlobError::invalid(format!("invalid storage URL '{url}': {e}")))?;
        let description = url.trim_end_matches('/').to_string();
        let config = |e: object_store::Error| {
            BlobError::invalid(format!("cannot open artifact storage '{url}': {e}"))
        };
        let key = |store: &str, key: &str| {
            BlobError::invalid(format!("unknown {store} storage option '{key}'"))
        };
        match parsed.scheme() {
            "s3" | "s3a" => {
                let mut builder = AmazonS3Builder::from_env()
                    .with_url(url)
                    .with_retry(retry_config());
                for (name, value) in options {
                    let config_key = name
                        .to_ascii_lowercase()
                        .parse::<AmazonS3ConfigKey>()
                        .map_err(|_| key("S3", &name))?;
                    builder = builder.with_config(config_key, value);
                }
                let store = builder.build().map_err(config)?;
                Ok(Self::cloud(store, prefix, description).with_copy_limit(Some(S3_COPY_LIMIT)))
            }
            "gs" => {
                let mut builder = GoogleCloudStorageBuilder::from_env()
                    .with_url(url)
                    .with_retry(retry_config());
                for (name, value) in options {
                    let config_key = name
                        .to_ascii_lowercase()
                        .parse::<GoogleConfigKey>()
                        .map_err(|_| key("GCS", &name))?;
                    builder = builder.with_config(config_key, value);
                }
                let store = builder.build().map_err(config)?;
                Ok(Self::cloud(store, prefix, description))
            }
            "az" | "abfs" | "abfss" | "azure" | "adl" => {
                let mut builder = MicrosoftAzureBuilder::from_env()
                    .with_url(url)
                    .with_retry(retry_config());
                for (name, value) in options {
                    let config_key = name
                        .to_ascii_lowercase()
                        .parse::<AzureConfigKey>()
                        .map_err(|_| key("Azure", &name))?;
                    builder = builder.with_config(config_key, value);
                }
                let store = builder.build().map_err(config)?;
                Ok(Self::cloud(store, prefix, description))
            }
            "memory" => {
                if let Some((name, _)) = options.first() {
                    return Err(key("memory", name));
                }
                let store = Arc::new(PrefixStore::new(InMemory::new(), prefix));
                Ok(ObjectBlobStore::new(
                    store.clone(),
                    Some(store),
                    None,
                    description,
                ))
            }
            other => Err(BlobError::invalid(format!(
                "unsupported artifact storage scheme '{other}' (expected s3, gs, az, abfs or memory)"
            ))),
        }
    }

    fn cloud<T>(store: T, prefix: Path, description: String) -> Self
    where
        T: ObjectStore + MultipartStore + Signer,
    {
        let store = Arc::new(PrefixStore::new(store, prefix));
        ObjectBlobStore::new(store.clone(), Some(store.clone()), Some(store), description)
    }

    fn multipart(&self) -> Result<&Arc<dyn MultipartStore>> {
        self.multipart
            .as_ref()
            .ok_or_else(|| BlobError::invalid("this backend does not support uploads in parts"))
    }

    /// The key a [`Staged::token`] names, which must be one of ours.
    fn staged_path(token: &str) -> Result<Path> {
        let name = token
            .strip_prefix("staging/")
            .or_else(|| token.strip_prefix("uploads/"))
            .ok_or_else(|| BlobError::invalid(format!("invalid staging token '{token}'")))?;
        check_name(name)?;
        Ok(Path::from(token))
    }

    fn upload_path(id: &str) -> Result<Path> {
        check_name(id)?;
        Ok(Path::from(format!("{UPLOADS}/{id}")))
    }

    async fn delete_quietly(&self, path: &Path) -> Result<()> {
        match self.store.delete(path).await {
            Err(error) if !is_not_found(&error) => Err(map_error(error)),
            _ => Ok(()),
        }
    }

    /// Streams the rest of `body` into a multipart upload at `path`; `first` was read already.
    async fn stage_multipart(
        &self,
        path: &Path,
        first: Vec<Bytes>,
        mut body: ByteStream,
        hasher: &mut StreamHasher,
        limit: Option<u64>,
    ) -> Result<()> {
        let upload = self.store.put_multipart(path).await.map_err(map_error)?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
        let streamed = async {
            for chunk in first {
                writer.put(chunk);
            }
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(BlobError::Aborted)?;
                check_limit(hasher.len() + chunk.len() as u64, limit)?;
                hasher.update(&chunk);
                send_part(&mut writer, chunk).await?;
            }
            check_size(hasher.len(), limit)
        }
        .await;
        finish_or_abort(writer, streamed).await
    }

    /// Copies the staged object `from` to `to` through this process: its bytes are streamed into
    /// a multipart upload at `to`, hashed on the way, and the upload completes only if they are
    /// the `staged` blob's bytes (otherwise it is aborted and `to` never appears).
    async fn stream_copy(&self, from: &Path, to: &Path, staged: &Staged) -> Result<()> {
        let mut stream = self.store.get(from).await.map_err(map_error)?.into_stream();
        let part_size = (PART_SIZE as u64).max(staged.size.div_ceil(MAX_PARTS)) as usize;
        let upload = self.store.put_multipart(to).await.map_err(map_error)?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, part_size);
        let mut hasher = StreamHasher::new();
        let copied = async {
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(map_error)?;
                hasher.update(&chunk);
                send_part(&mut writer, chunk).await?;
            }
            let digest = hasher.finalize();
            if hasher.len() != staged.size || digest != staged.digest {
                return Err(BlobError::Io(std::io::Error::other(format!(
                    "the staged object {from} changed before it was committed: {} bytes hashing \
                     to {digest}, expected {} bytes hashing to {}",
                    hasher.len(),
                    staged.size,
                    staged.digest
                ))));
            }
            Ok(())
        }
        .await;
        finish_or_abort(writer, copied).await
    }

    /// Hashes the object a completed upload joined at `path`, which must be `size` bytes hashing
    /// to `expected` (when given); otherwise it is deleted and the upload refused.
    async fn hash_joined(
        &self,
        path: &Path,
        size: u64,
        expected: Option<&Digest>,
    ) -> Result<Digest> {
        let (digest, len) = self.hash_object(path).await?;
        let refused = if len != size {
            Some(format!("the joined parts hold {len} bytes, not {size}"))
        } else {
            expected
                .filter(|expected| **expected != digest)
                .map(|expected| format!("the uploaded bytes hash to {digest}, not {expected}"))
        };
        if let Some(message) = refused {
            self.delete_quietly(path).await?;
            return Err(BlobError::Invalid(message));
        }
        Ok(digest)
    }

    /// Reads an object once to hash it (uploads whose parts could not be hashed on their own).
    async fn hash_object(&self, path: &Path) -> Result<(Digest, u64)> {
        let mut stream = self.store.get(path).await.map_err(map_error)?.into_stream();
        let mut hasher = StreamHasher::new();
        while let Some(chunk) = stream.next().await {
            hasher.update(&chunk.map_err(map_error)?);
        }
        Ok((hasher.finalize(), hasher.len()))
    }
}

/// Hands `chunk` to a multipart upload once fewer than [`PARTS_IN_FLIGHT`] parts are being sent.
async fn send_part(writer: &mut WriteMultipart, chunk: Bytes) -> Result<()> {
    writer
        .wait_for_capacity(PARTS_IN_FLIGHT)
        .await
        .map_err(map_error)?;
    writer.put(chunk);
    Ok(())
}

/// Completes a multipart upload whose body was `sent` whole, or aborts it.
async fn finish_or_abort(mut writer: WriteMultipart, sent: Result<()>) -> Result<()> {
    match sent {
        // `finish` aborts the upload itself when a part or the completion fails.
        Ok(()) => writer.finish().await.map(|_| ()).map_err(map_error),
        Err(error) => {
            // Let the parts in flight land before aborting: a part request cut mid-body can
            // leave the server's temporary file behind, which the abort does not know of.
            let _ = writer.wait_for_capacity(0).await;
            let _ = writer.abort().await;
            Err(error)
        }
    }
}

fn check_limit(len: u64, limit: Option<u64>) -> Result<()> {
    if limit.is_some_and(|limit| len > limit) {
        return Err(BlobError::invalid("the body is longer than declared"));
    }
    Ok(())
}

fn check_size(len: u64, expected: Option<u64>) -> Result<()> {
    match expected {
        Some(expected) if expected != len => Err(BlobError::invalid(format!(
            "the body has {len} bytes, {expected} were declared"
        ))),
        _ => Ok(()),
    }
}

/// Whether an error says that the object or the multipart upload does not exist.
fn is_not_found(error: &object_store::Error) -> bool {
    match error {
        object_store::Error::NotFound { .. } => true,
        // The in-memory store reports unknown multipart uploads as generic errors.
        object_store::Error::Generic { store, source } => {
            *store == "InMemory" && source.to_string().starts_with("MultipartUpload not found")
        }
        _ => false,
    }
}

/// Maps an `object_store` error to what a caller can act on: a missing object is `NotFound`, a
/// request the backend refuses as such is `Invalid`, anything else (network, server errors,
/// credentials) is `Unavailable`.
fn map_error(error: object_store::Error) -> BlobError {
    use object_store::Error as E;
    if is_not_found(&error) {
        return match error {
            E::NotFound { path, .. } => BlobError::NotFound(path),
            other => BlobError::NotFound(other.to_string()),
        };
    }
    match &error {
        E::AlreadyExists { .. }
        | E::Precondition { .. }
        | E::InvalidPath { .. }
        | E::NotSupported { .. }
        | E::NotImplemented { .. }
        | E::UnknownConfigurationKey { .. } => BlobError::Invalid(error.to_string()),
        E::Generic { store, source } if *store == "InMemory" => {
            let message = source.to_string();
            if message.starts_with("Missing part") || message.starts_with("Invalid range") {
                BlobError::Invalid(error.to_string())
            } else {
                BlobError::Unavailable(error.to_string())
            }
        }
        _ => BlobError::Unavailable(error.to_string()),
    }
}

/// Maps the backend's answer to completing an upload whose parts a client sent: S3 refuses ETags
/// it does not hold for the upload (`InvalidPart`), parts out of order (`InvalidPartOrder`), parts
/// too small (`EntityTooSmall`) and uploads it no longer knows (`NoSuchUpload`), all the client's
/// doing. `object_store` keeps the HTTP status private, so the S3 error code in the message is
/// what tells them apart from an outage.
fn refused_parts(error: object_store::Error) -> BlobError {
    const CLIENT_CODES: [&str; 4] = [
        "InvalidPart",
        "InvalidPartOrder",
        "EntityTooSmall",
        "NoSuchUpload",
    ];
    let message = error.to_string();
    if is_not_found(&error) || CLIENT_CODES.iter().any(|code| message.contains(code)) {
        return BlobError::Invalid(format!(
            "storage refused the parts as reported (an ETag that is not the part's, a part too \
             small, or an upload already completed or aborted): {message}"
        ));
    }
    map_error(error)
}

fn modified_ms(meta: &object_store::ObjectMeta) -> i64 {
    meta.last_modified.timestamp_millis()
}

/// A part's receipt: the backend's part id and the part's hashes.
///
/// Encoding (version 1): `[1] [content_id length: u32 LE] [content_id] [PartHashes::encode()]`.
struct Receipt {
    content_id: String,
    hashes: PartHashes,
}

impl Receipt {
    const VERSION: u8 = 1;

    fn encode(&self) -> Vec<u8> {
        let hashes = self.hashes.encode();
        let mut out = Vec::with_capacity(5 + self.content_id.len() + hashes.len());
        out.push(Self::VERSION);
        out.extend_from_slice(&(self.content_id.len() as u32).to_le_bytes());
        out.extend_from_slice(self.content_id.as_bytes());
        out.extend_from_slice(&hashes);
        out
    }

    fn decode(bytes: &[u8]) -> Result<Self> {
        let bad = || BlobError::invalid("corrupt part receipt");
        let (&version, rest) = bytes.split_first().ok_or_else(bad)?;
        if version != Self::VERSION || rest.len() < 4 {
            return Err(bad());
        }
        let (len, rest) = rest.split_at(4);
        let len = u32::from_le_bytes(len.try_into().expect("4 bytes")) as usize;
        if rest.len() < len {
            return Err(bad());
        }
        let (content_id, hashes) = rest.split_at(len);
        Ok(Receipt {
            content_id: String::from_utf8(content_id.to_vec()).map_err(|_| bad())?,
            hashes: PartHashes::decode(hashes)?,
        })
    }
}

#[async_trait]
impl BlobStore for ObjectBlobStore {
    fn describe(&self) -> String {
        self.description.clone()
    }

    async fn stage(&self, mut body: ByteStream, expected_size: Option<u64>) -> Result<Staged> {
        let token = format!("{STAGING}/{}", uuid::Uuid::new_v4().simple());
        let path = Path::from(token.as_str());
        let mut hasher = StreamHasher::new();
        // Read up to one buffer: a body that ends within it is sent with one PUT.
        let mut first = Vec::new();
        let mut ended = false;
        while hasher.len() < PART_SIZE as u64 {
            match body.next().await {
                Some(Ok(chunk)) => {
                    check_limit(hasher.len() + chunk.len() as u64, expected_size)?;
                    hasher.update(&chunk);
                    first.push(chunk);
                }
                Some(Err(error)) => return Err(BlobError::Aborted(error)),
                None => {
                    ended = true;
                    break;
                }
            }
        }
        if ended {
            check_size(hasher.len(), expected_size)?;
            let payload: PutPayload = first.into_iter().collect();
            self.store.put(&path, payload).await.map_err(map_error)?;
        } else {
            self.stage_multipart(&path, first, body, &mut hasher, expected_size)
                .await?;
        }
        Ok(Staged {
            digest: hasher.finalize(),
            size: hasher.len(),
            token,
        })
    }

    async fn commit(&self, staged: Staged) -> Result<bool> {
        let from = Self::staged_path(&staged.token)?;
        let to = Path::from(staged.digest.object_key());
        let stored = match self.store.head(&to).await {
            Ok(_) => false,
            Err(error) if is_not_found(&error) => {
                if self.copy_limit.is_some_and(|limit| staged.size > limit) {
                    self.stream_copy(&from, &to, &staged).await?;
                } else {
                    self.store.copy(&from, &to).await.map_err(map_error)?;
                }
                true
            }
            Err(error) => return Err(map_error(error)),
        };
        self.delete_quietly(&from).await?;
        Ok(stored)
    }

    async fn discard(&self, staged: Staged) -> Result<()> {
        let path = Self::staged_path(&staged.token)?;
        self.delete_quietly(&path).await
    }

    async fn size(&self, digest: &Digest) -> Result<Option<u64>> {
        match self.store.head(&Path::from(digest.object_key())).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(error) if is_not_found(&error) => Ok(None),
            Err(error) => Err(map_error(error)),
        }
    }

    async fn get(&self, digest: &Digest, range: Option<Range<u64>>) -> Result<Blob> {
        let path = Path::from(digest.object_key());
        let not_found = |error: object_store::Error| {
            if is_not_found(&error) {
                BlobError::NotFound(digest.to_string())
            } else {
                map_error(error)
            }
        };
        let (size, range, result) = match range {
            None => {
                let result = self.store.get(&path).await.map_err(not_found)?;
                let size = result.meta.size;
                (size, 0..size, result)
            }
            Some(requested) => {
                let size = self.store.head(&path).await.map_err(not_found)?.size;
                let range = clamp_range(Some(requested), size)?;
                let options = GetOptions::new().with_range(Some(GetRange::Bounded(range.clone())));
                let result = self
                    .store
                    .get_opts(&path, options)
                    .await
                    .map_err(not_found)?;
                (size, range, result)
            }
        };
        let body = result.into_stream().map_err(std::io::Error::from).boxed();
        Ok(Blob { size, range, body })
    }

    async fn delete(&self, digest: &Digest) -> Result<()> {
        self.delete_quietly(&Path::from(digest.object_key())).await
    }

    async fn list(&self) -> Result<Vec<StoredBlob>> {
        let prefix = Path::from(crate::digest::ALGORITHM);
        let metas: Vec<_> = self
            .store
            .list(Some(&prefix))
            .try_collect()
            .await
            .map_err(map_error)?;
        Ok(metas
            .into_iter()
            .filter_map(|meta| {
                Some(StoredBlob {
                    digest: Digest::from_object_key(meta.location.as_ref())?,
                    size: meta.size,
                    modified: modified_ms(&meta),
                })
            })
            .collect())
    }

    async fn create_upload(&self, id: &str) -> Result<String> {
        let path = Self::upload_path(id)?;
        self.multipart()?
            .create_multipart(&path)
            .await
            .map_err(map_error)
    }

    /// The part's bytes are gathered in memory (hashed as they arrive) and sent in one request:
    /// `MultipartStore::put_part` takes one payload. The caller's part size bounds that memory.
    async fn put_part(
        &self,
        id: &str,
        state: &str,
        number: u32,
        offset: u64,
        size: u64,
        mut body: ByteStream,
    ) -> Result<PartReceipt> {
        let path = Self::upload_path(id)?;
        let multipart = self.multipart()?;
        if number == 0 {
            return Err(BlobError::invalid("part numbers start at 1"));
        }
        let mut hasher = PartHasher::new(offset, size);
        let mut chunks = Vec::new();
        let mut received = 0u64;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(BlobError::Aborted)?;
            received += chunk.len() as u64;
            if received > size {
                return Err(BlobError::invalid(format!(
                    "part {number} is longer than the {size} bytes declared"
                )));
            }
            if let Some(hasher) = &mut hasher {
                hasher.update(&chunk)?;
            }
            chunks.push(chunk);
        }
        if received != size {
            return Err(BlobError::invalid(format!(
                "part {number} has {received} bytes, {size} were declared"
            )));
        }
        let hashes = match hasher {
            Some(hasher) => hasher.finish()?,
            None => PartHashes::unhashed(),
        };
        let payload: PutPayload = chunks.into_iter().collect();
        let part = multipart
            .put_part(&path, &state.to_string(), number as usize - 1, payload)
            .await
            .map_err(map_error)?;
        let receipt = Receipt {
            content_id: part.content_id,
            hashes,
        };
        Ok(PartReceipt {
            number,
            offset,
            size,
            receipt: receipt.encode(),
        })
    }

    async fn complete_upload(
        &self,
        id: &str,
        state: &str,
        parts: &[PartReceipt],
        size: u64,
        expected: Option<&Digest>,
    ) -> Result<Staged> {
        let path = Self::upload_path(id)?;
        let multipart = self.multipart()?;
        let receipts = check_tiling(parts, size, |part| {
            Ok((part.number, Receipt::decode(&part.receipt)?))
        })?;
        // The backend joins parts by number: they must be 1..=n in file order.
        for (index, (number, _)) in receipts.iter().enumerate() {
            if *number as usize != index + 1 {
                return Err(BlobError::invalid(format!(
                    "part {number} is part {} of the file: parts must be numbered 1..{} in file \
                     order",
                    index + 1,
                    receipts.len()
                )));
            }
        }
        let known = combine(size, receipts.iter().map(|(_, receipt)| &receipt.hashes));
        if let (Some(digest), Some(expected)) = (known, expected)
            && digest != *expected
        {
            return Err(BlobError::invalid(format!(
                "the uploaded bytes hash to {digest}, not {expected}"
            )));
        }
        let part_ids = receipts
            .into_iter()
            .map(|(_, receipt)| PartId {
                content_id: receipt.content_id,
            })
            .collect();
        multipart
            .complete_multipart(&path, &state.to_string(), part_ids)
            .await
            .map_err(map_error)?;
        let digest = match known {
            Some(digest) => digest,
            None => self.hash_joined(&path, size, expected).await?,
        };
        Ok(Staged {
            digest,
            size,
            token: path.to_string(),
        })
    }

    async fn abort_upload(&self, id: &str, state: &str) -> Result<()> {
        let path = Self::upload_path(id)?;
        match self
            .multipart()?
            .abort_multipart(&path, &state.to_string())
            .await
        {
            Err(error) if !is_not_found(&error) => Err(map_error(error)),
            _ => Ok(()),
        }
    }

    async fn presign_part(
        &self,
        id: &str,
        state: &str,
        number: u32,
        expires: Duration,
    ) -> Result<Option<Presigned>> {
        let Some(signer) = &self.signer else {
            return Ok(None);
        };
        let path = Self::upload_path(id)?;
        if number == 0 || u64::from(number) > MAX_PARTS {
            return Err(BlobError::invalid(format!(
                "part numbers go from 1 to {MAX_PARTS}, not {number}"
            )));
        }
        let options = SignedUrlOptions::default().with_query([
            ("partNumber", number.to_string()),
            ("uploadId", state.to_string()),
        ]);
        match signer
            .signed_url_opts(Method::PUT, &path, expires, &options)
            .await
        {
            Ok(url) => Ok(Some(Presigned {
                url: url.to_string(),
                headers: Vec::new(),
            })),
            // Azure signs no query parameters: its parts go through the server.
            Err(object_store::Error::NotSupported { .. }) => Ok(None),
            Err(error) => Err(map_error(error)),
        }
    }

    async fn complete_presigned_upload(
        &self,
        id: &str,
        state: &str,
        etags: &[String],
        size: u64,
        expected: Option<&Digest>,
    ) -> Result<Staged> {
        let path = Self::upload_path(id)?;
        let multipart = self.multipart()?;
        if etags.is_empty() || etags.len() as u64 > MAX_PARTS {
            return Err(BlobError::invalid(format!(
                "an upload has 1 to {MAX_PARTS} parts, not {}",
                etags.len()
            )));
        }
        let part_ids = etags
            .iter()
            .map(|etag| PartId {
                content_id: etag.clone(),
            })
            .collect();
        multipart
            .complete_multipart(&path, &state.to_string(), part_ids)
            .await
            .map_err(refused_parts)?;
        let digest = self.hash_joined(&path, size, expected).await?;
        Ok(Staged {
            digest,
            size,
            token: path.to_string(),
        })
    }

    async fn presign_get(&self, digest: &Digest, expires: Duration) -> Result<Option<Presigned>> {
        let Some(signer) = &self.signer else {
            return Ok(None);
        };
        let url = signer
            .signed_url(Method::GET, &Path::from(digest.object_key()), expires)
            .await
            .map_err(map_error)?;
        Ok(Some(Presigned {
            url: url.to_string(),
            headers: Vec::new(),
        }))
    }

    async fn presign_stage(&self, expires: Duration) -> Result<Option<(String, Presigned)>> {
        let Some(signer) = &self.signer else {
            return Ok(None);
        };
        let token = format!("{STAGING}/{}", uuid::Uuid::new_v4().simple());
        let url = signer
            .signed_url(Method::PUT, &Path::from(token.as_str()), expires)
            .await
            .map_err(map_error)?;
        Ok(Some((
            token,
            Presigned {
                url: url.to_string(),
                headers: Vec::new(),
            },
        )))
    }

    async fn adopt_staged(&self, token: &str, expected_size: Option<u64>) -> Result<Staged> {
        let path = Self::staged_path(token)?;
        let (digest, size) = self.hash_object(&path).await?;
        if let Some(expected) = expected_size
            && expected != size
        {
            self.delete_quietly(&path).await?;
            return Err(BlobError::invalid(format!(
                "the uploaded object has {size} bytes, {expected} were declared"
            )));
        }
        Ok(Staged {
            digest,
            size,
            token: token.to_string(),
        })
    }

    async fn sweep(&self, older_than: SystemTime) -> Result<u64> {
        let cutoff = older_than
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let mut freed = 0;
        for prefix in [STAGING, UPLOADS] {
            let metas: Vec<_> = self
                .store
                .list(Some(&Path::from(prefix)))
                .try_collect()
                .await
                .map_err(map_error)?;
            for meta in metas {
                if modified_ms(&meta) < cutoff {
                    self.delete_quietly(&meta.location).await?;
                    freed += meta.size;
                }
            }
        }
        Ok(freed)
    }
}

/// Retries of a failing backend: a few, within seconds, so that an outage reaches the client as
/// a 503 it can retry rather than as a request hanging for minutes (object_store's default).
fn retry_config() -> RetryConfig {
    RetryConfig {
        backoff: BackoffConfig::default(),
        max_retries: 3,
        retry_timeout: Duration::from_secs(10),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receipts_round_trip_and_refuse_corruption() {
        let mut hasher = PartHasher::new(0, 3000).unwrap();
        hasher.update(&[7; 3000]).unwrap();
        let receipt = Receipt {
            content_id: "\"etag-1\"".into(),
            hashes: hasher.finish().unwrap(),
        };
        let encoded = receipt.encode();
        let decoded = Receipt::decode(&encoded).unwrap();
        assert_eq!(decoded.content_id, receipt.content_id);
        assert_eq!(decoded.hashes, receipt.hashes);
        for cut in 0..encoded.len() {
            assert!(Receipt::decode(&encoded[..cut]).is_err(), "cut at {cut}");
        }
        let mut other_version = encoded.clone();
        other_version[0] = 2;
        assert!(Receipt::decode(&other_version).is_err());
    }

    #[test]
    fn refused_parts_are_the_clients_doing_and_outages_are_not() {
        let refused = |body: &str| {
            refused_parts(object_store::Error::Generic {
                store: "S3",
                source: format!("Server returned non-2xx status code: 400 Bad Request: {body}")
                    .into(),
            })
        };
        for code in ["InvalidPart", "InvalidPartOrder", "EntityTooSmall"] {
            let error = refused(&format!("<Error><Code>{code}</Code></Error>"));
            assert_eq!(error.kind(), crate::ErrorKind::Invalid, "{code}: {error}");
        }
        let gone = refused_parts(object_store::Error::NotFound {
            path: "uploads/x".into(),
            source: "NoSuchUpload".into(),
        });
        assert_eq!(gone.kind(), crate::ErrorKind::Invalid);
        let outage = refused("<Error><Code>InternalError</Code></Error>");
        assert_eq!(outage.kind(), crate::ErrorKind::Unavailable);
    }

    #[tokio::test]
    async fn stores_that_sign_nothing_give_no_part_urls() {
        let memory = ObjectBlobStore::memory();
        let state = memory.create_upload("u").await.unwrap();
        let url = memory
            .presign_part("u", &state, 1, Duration::from_secs(60))
            .await
            .unwrap();
        assert_eq!(url, None);
    }

    #[test]
    fn urls_are_parsed() {
        let store = ObjectBlobStore::from_url("memory:///some/prefix", vec![]).unwrap();
        assert_eq!(store.describe(), "memory:///some/prefix");
        let s3 = ObjectBlobStore::from_url(
            "s3://bucket/prefix",
            vec![
                ("endpoint".into(), "http://127.0.0.1:9".into()),
                ("region".into(), "us-east-1".into()),
                ("access_key_id".into(), "key".into()),
                ("secret_access_key".into(), "secret".into()),
                ("allow_http".into(), "true".into()),
            ],
        )
        .unwrap();
        assert!(s3.signer.is_some() && s3.multipart.is_some());
        assert_eq!(s3.describe(), "s3://bucket/prefix");
        let bad = ObjectBlobStore::from_url("s3://bucket", vec![("nonsense".into(), "1".into())]);
        assert_eq!(bad.unwrap_err().kind(), crate::ErrorKind::Invalid);
        let scheme = ObjectBlobStore::from_url("ftp://host/x", vec![]);
        assert_eq!(scheme.unwrap_err().kind(), crate::ErrorKind::Invalid);
    }

    #[tokio::test]
    async fn presigned_urls_use_path_style_and_the_prefix() {
        let s3 = ObjectBlobStore::from_url(
            "s3://bucket/some/prefix",
            vec![
                ("endpoint".into(), "http://127.0.0.1:9000".into()),
                ("region".into(), "us-east-1".into()),
                ("access_key_id".into(), "key".into()),
                ("secret_access_key".into(), "secret".into()),
                ("allow_http".into(), "true".into()),
            ],
        )
        .unwrap();
        let digest = Digest::of(b"x");
        let presigned = s3
            .presign_get(&digest, Duration::from_secs(60))
            .await
            .unwrap()
            .unwrap();
        let expected = format!(
            "http://127.0.0.1:9000/bucket/some/prefix/{}?",
            digest.object_key()
        );
        assert!(
            presigned.url.starts_with(&expected),
            "{} does not start with {expected}",
            presigned.url
        );
        assert!(presigned.url.contains("X-Amz-Signature="));
        let memory = ObjectBlobStore::memory();
        assert_eq!(
            memory
                .presign_get(&digest, Duration::from_secs(60))
                .await
                .unwrap(),
            None
        );
    }
}
