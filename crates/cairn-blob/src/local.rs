//! [`LocalBlobStore`]: blobs as files under one folder.
//!
//! Layout under the root:
//! - `blake3/ab/cd/<hex>`: stored blobs, one file each.
//! - `.staging/<uuid>`: bodies being written or waiting for [`BlobStore::commit`].
//! - `.uploads/<id>/data`: an upload in parts; each part is written at its offset, so completing
//!   the upload moves one file and copies nothing.
//!
//! Bytes are hashed and written on the blocking pool in batches of [`BATCH`], while the next
//! batch is being received, so the network, the hash and the disk overlap. Files are fsynced
//! before they become visible; a blob appears by `link(2)` from staging, which never replaces an
//! existing blob, so concurrent commits of one digest are safe.
//!
//! This backend is written against the filesystem directly rather than through `object_store`'s
//! `LocalFileSystem`: parts written in place at their offsets, no-clobber linking and control over
//! fsync are what make a 10 GB upload one pass over the disk.

use std::fs::File;
use std::io::{IoSlice, Read, Seek, SeekFrom, Write};
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;

use crate::hash::{PartHasher, PartHashes, StreamHasher, combine};
use crate::shared::{check_name, check_tiling, clamp_range};
use crate::{
    Blob, BlobError, BlobStore, ByteStream, Digest, PartReceipt, Presigned, Result, Staged,
    StoredBlob,
};

/// Bytes hashed and written per blocking call.
const BATCH: usize = 1 << 20;
/// Chunk size of streamed reads.
const READ_CHUNK: usize = 1 << 20;
/// Bytes written between two flushes of an upload's file (see [`WriteBehind`]).
const WRITE_BEHIND: u64 = 64 << 20;
/// Chunks a streamed read may have ready before the consumer takes them.
const READ_AHEAD: usize = 4;
const STAGING: &str = ".staging";
const UPLOADS: &str = ".uploads";

#[derive(Debug, Clone)]
pub struct LocalBlobStore {
    root: PathBuf,
}

impl LocalBlobStore {
    /// Opens (and creates if needed) a store rooted at `root`.
    pub fn open(root: impl Into<PathBuf>) -> std::io::Result<Self> {
        let root = root.into();
        std::fs::create_dir_all(root.join(STAGING))?;
        std::fs::create_dir_all(root.join(UPLOADS))?;
        Ok(LocalBlobStore { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root.join(digest.object_key())
    }

    fn staging_path(&self, token: &str) -> Result<PathBuf> {
        check_name(token)?;
        Ok(self.root.join(STAGING).join(token))
    }

    fn upload_dir(&self, id: &str) -> Result<PathBuf> {
        check_name(id)?;
        Ok(self.root.join(UPLOADS).join(id))
    }
}

async fn blocking<T: Send + 'static>(
    job: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(job)
        .await
        .map_err(|e| BlobError::Io(std::io::Error::other(e)))?
}

/// Something that sees every byte written, in order.
trait Feed: Send + 'static {
    fn feed(&mut self, data: &[u8]) -> Result<()>;
}

impl Feed for StreamHasher {
    fn feed(&mut self, data: &[u8]) -> Result<()> {
        self.update(data);
        Ok(())
    }
}

impl Feed for Option<PartHasher> {
    fn feed(&mut self, data: &[u8]) -> Result<()> {
        match self {
            Some(hasher) => hasher.update(data),
            None => Ok(()),
        }
    }
}

/// Writes `body` into `file` from `offset` on, feeding every byte to `feed`. At most `limit`
/// bytes are accepted. Chunks are gathered (not copied) into batches of about [`BATCH`] bytes;
/// each batch is hashed and written with one vectored write on the blocking pool while the next
/// one is being received.
async fn pump<F: Feed>(
    mut body: ByteStream,
    file: Arc<File>,
    offset: u64,
    limit: Option<u64>,
    feed: F,
) -> Result<(u64, F)> {
    let mut written = 0u64;
    let mut batch: Vec<Bytes> = Vec::new();
    let mut batch_len = 0usize;
    let mut in_flight: Option<tokio::task::JoinHandle<Result<(F, WriteBehind)>>> = None;
    let mut feed_slot = Some((feed, WriteBehind::new(offset)));
    let mut ended = false;
    while !ended {
        match body.next().await {
            Some(Ok(chunk)) => {
                if limit.is_some_and(|l| written + (batch_len + chunk.len()) as u64 > l) {
                    if let Some(job) = in_flight.take() {
                        let _ = job.await;
                    }
                    return Err(BlobError::invalid("the body is longer than declared"));
                }
                batch_len += chunk.len();
                batch.push(chunk);
                if batch_len < BATCH {
                    continue;
                }
            }
            Some(Err(error)) => {
                if let Some(job) = in_flight.take() {
                    let _ = job.await;
                }
                return Err(BlobError::Aborted(error));
            }
            None => ended = true,
        }
        if batch_len == 0 {
            continue;
        }
        let chunks = std::mem::take(&mut batch);
        let (mut current, mut behind) = match in_flight.take() {
            Some(job) => job
                .await
                .map_err(|e| BlobError::Io(std::io::Error::other(e)))??,
            None => feed_slot.take().expect("feed is either here or in flight"),
        };
        let file = file.clone();
        let at = offset + written;
        written += batch_len as u64;
        batch_len = 0;
        in_flight = Some(tokio::task::spawn_blocking(move || {
            for chunk in &chunks {
                current.feed(chunk)?;
            }
            write_all_at(&file, &chunks, at)?;
            behind.wrote(
                &file,
                at + chunks.iter().map(|c| c.len() as u64).sum::<u64>(),
            )?;
            Ok((current, behind))
        }));
    }
    let (feed, _) = match in_flight {
        Some(job) => job
            .await
            .map_err(|e| BlobError::Io(std::io::Error::other(e)))??,
        None => feed_slot.take().expect("feed not sent"),
    };
    Ok((written, feed))
}

/// Flushes written bytes to disk every [`WRITE_BEHIND`] bytes and drops them from the page
/// cache, so a large upload never leaves gigabytes of dirty pages for the final fsync and does
/// not push the rest of the server's working set out of memory. (Measured on the reference VM:
/// the same throughput as without it, within noise; the bytes are written once either way.)
struct WriteBehind {
    flushed: u64,
}

impl WriteBehind {
    fn new(offset: u64) -> Self {
        WriteBehind { flushed: offset }
    }

    fn wrote(&mut self, file: &File, end: u64) -> Result<()> {
        if end < self.flushed + WRITE_BEHIND {
            return Ok(());
        }
        file.sync_data()?;
        // Advice only: a kernel that ignores it loses nothing.
        let _ = nix::fcntl::posix_fadvise(
            file,
            self.flushed as i64,
            (end - self.flushed) as i64,
            nix::fcntl::PosixFadviseAdvice::POSIX_FADV_DONTNEED,
        );
        self.flushed = end;
        Ok(())
    }
}

/// Writes `chunks` one after another at `at`, with as few system calls as the kernel allows.
fn write_all_at(mut file: &File, chunks: &[Bytes], at: u64) -> std::io::Result<()> {
    file.seek(SeekFrom::Start(at))?;
    let mut slices: Vec<IoSlice<'_>> = chunks.iter().map(|c| IoSlice::new(c)).collect();
    let mut slices = &mut slices[..];
    while !slices.is_empty() {
        let n = file.write_vectored(slices)?;
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        IoSlice::advance_slices(&mut slices, n);
    }
    Ok(())
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)?.sync_all()?;
    Ok(())
}

fn modified_ms(metadata: &std::fs::Metadata) -> i64 {
    metadata
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_millis() as i64)
}

/// Reads `range` of `file` in [`READ_CHUNK`] pieces on one blocking thread that stays up to
/// [`READ_AHEAD`] chunks ahead of the consumer, so reading the disk overlaps with sending. The
/// thread stops as soon as the stream is dropped (the client went away).
fn read_stream(mut file: std::fs::File, range: Range<u64>) -> ByteStream {
    let (sender, receiver) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(READ_AHEAD);
    tokio::task::spawn_blocking(move || {
        if let Err(error) = file_seek(&mut file, range.start) {
            let _ = sender.blocking_send(Err(error));
            return;
        }
        let mut remaining = range.end - range.start;
        while remaining > 0 {
            let want = remaining.min(READ_CHUNK as u64) as usize;
            let mut buffer = vec![0u8; want];
            let chunk = file.read_exact(&mut buffer).map(|()| Bytes::from(buffer));
            let failed = chunk.is_err();
            if sender.blocking_send(chunk).is_err() || failed {
                return;
            }
            remaining -= want as u64;
        }
    });
    Box::pin(futures::stream::unfold(
        receiver,
        |mut receiver| async move { receiver.recv().await.map(|item| (item, receiver)) },
    ))
}

fn file_seek(file: &mut File, at: u64) -> std::io::Result<u64> {
    file.seek(SeekFrom::Start(at))
}

#[async_trait]
impl BlobStore for LocalBlobStore {
    fn describe(&self) -> String {
        format!("local:{}", self.root.display())
    }

    async fn stage(&self, body: ByteStream, expected_size: Option<u64>) -> Result<Staged> {
        let token = uuid::Uuid::new_v4().simple().to_string();
        let path = self.staging_path(&token)?;
        let file = {
            let path = path.clone();
            Arc::new(blocking(move || Ok(File::create(&path)?)).await?)
        };
        let result = async {
            let (size, hasher) =
                pump(body, file.clone(), 0, expected_size, StreamHasher::new()).await?;
            if expected_size.is_some_and(|e| e != size) {
                return Err(BlobError::invalid(format!(
                    "the body has {size} bytes, {} were declared",
                    expected_size.unwrap_or_default()
                )));
            }
            let file = file.clone();
            blocking(move || Ok(file.sync_all()?)).await?;
            Ok(Staged {
                digest: hasher.finalize(),
                size,
                token: token.clone(),
            })
        }
        .await;
        if result.is_err() {
            let _ = tokio::fs::remove_file(&path).await;
        }
        result
    }

    async fn commit(&self, staged: Staged) -> Result<bool> {
        let from = self.staging_path(&staged.token)?;
        let to = self.blob_path(&staged.digest);
        blocking(move || {
            let parent = to.parent().expect("blob paths have parents");
            std::fs::create_dir_all(parent)?;
            let stored = match std::fs::hard_link(&from, &to) {
                Ok(()) => {
                    sync_dir(parent)?;
                    true
                }
                Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => false,
                Err(error) => return Err(error.into()),
            };
            std::fs::remove_file(&from)?;
            Ok(stored)
        })
        .await
    }

    async fn discard(&self, staged: Staged) -> Result<()> {
        let path = self.staging_path(&staged.token)?;
        match tokio::fs::remove_file(&path).await {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(error.into()),
            _ => Ok(()),
        }
    }

    async fn size(&self, digest: &Digest) -> Result<Option<u64>> {
        match tokio::fs::metadata(self.blob_path(digest)).await {
            Ok(metadata) => Ok(Some(metadata.len())),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(error.into()),
        }
    }

    async fn get(&self, digest: &Digest, range: Option<Range<u64>>) -> Result<Blob> {
        let path = self.blob_path(digest);
        let file = match tokio::fs::File::open(&path).await {
            Ok(file) => file.into_std().await,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Err(BlobError::NotFound(digest.to_string()));
            }
            Err(error) => return Err(error.into()),
        };
        let size = file.metadata()?.len();
        let range = clamp_range(range, size)?;
        Ok(Blob {
            size,
            range: range.clone(),
            body: read_stream(file, range),
        })
    }

    async fn delete(&self, digest: &Digest) -> Result<()> {
        match tokio::fs::remove_file(self.blob_path(digest)).await {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(error.into()),
            _ => Ok(()),
        }
    }

    async fn list(&self) -> Result<Vec<StoredBlob>> {
        let root = self.root.join(crate::digest::ALGORITHM);
        let base = self.root.clone();
        blocking(move || {
            let mut out = Vec::new();
            let Ok(level1) = std::fs::read_dir(&root) else {
                return Ok(out);
            };
            for a in level1 {
                let a = a?;
                if !a.file_type()?.is_dir() {
                    continue;
                }
                for b in std::fs::read_dir(a.path())? {
                    let b = b?;
                    if !b.file_type()?.is_dir() {
                        continue;
                    }
                    for file in std::fs::read_dir(b.path())? {
                        let file = file?;
                        let path = file.path();
                        let key = path
                            .strip_prefix(&base)
                            .ok()
                            .and_then(|p| p.to_str())
                            .map(str::to_owned);
                        if let Some(digest) = key.as_deref().and_then(Digest::from_object_key) {
                            // A blob deleted while we list is simply not listed.
                            let metadata = match file.metadata() {
                                Ok(metadata) => metadata,
                                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                                Err(e) => return Err(e.into()),
                            };
                            out.push(StoredBlob {
                                digest,
                                size: metadata.len(),
                                modified: modified_ms(&metadata),
                            });
                        }
                    }
                }
            }
            Ok(out)
        })
        .await
    }

    async fn create_upload(&self, id: &str) -> Result<String> {
        let dir = self.upload_dir(id)?;
        blocking(move || {
            std::fs::create_dir_all(&dir)?;
            File::options()
                .create(true)
                .truncate(false)
                .write(true)
                .open(dir.join("data"))?;
            Ok(String::new())
        })
        .await
    }

    async fn put_part(
        &self,
        id: &str,
        _state: &str,
        number: u32,
        offset: u64,
        size: u64,
        body: ByteStream,
    ) -> Result<PartReceipt> {
        let data = self.upload_dir(id)?.join("data");
        let file = blocking(move || {
            let file = match File::options().write(true).open(&data) {
                Ok(file) => file,
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                    return Err(BlobError::NotFound("upload".into()));
                }
                Err(error) => return Err(error.into()),
            };
            // Reserve the part's blocks before receiving it: parts arriving in parallel then
            // land in extents allocated in one go, and a full disk is known before the body.
            // Filesystems without fallocate lose only the reservation.
            if size > 0
                && let Err(nix::errno::Errno::ENOSPC) =
                    nix::fcntl::posix_fallocate(&file, offset as i64, size as i64)
            {
                return Err(BlobError::NoSpace);
            }
            Ok(file)
        })
        .await?;
        let (written, hasher) = pump(
            body,
            Arc::new(file),
            offset,
            Some(size),
            PartHasher::new(offset, size),
        )
        .await?;
        if written != size {
            return Err(BlobError::invalid(format!(
                "part {number} has {written} bytes, {size} were declared"
            )));
        }
        let hashes = match hasher {
            Some(hasher) => hasher.finish()?,
            None => PartHashes::unhashed(),
        };
        Ok(PartReceipt {
            number,
            offset,
            size,
            receipt: hashes.encode(),
        })
    }

    async fn complete_upload(
        &self,
        id: &str,
        _state: &str,
        parts: &[PartReceipt],
        size: u64,
        expected: Option<&Digest>,
    ) -> Result<Staged> {
        let hashes = check_tiling(parts, size, |part| PartHashes::decode(&part.receipt))?;
        let dir = self.upload_dir(id)?;
        let token = uuid::Uuid::new_v4().simple().to_string();
        let staging = self.staging_path(&token)?;
        let expected = expected.copied();
        blocking(move || {
            let data = dir.join("data");
            let file = match File::options().read(true).write(true).open(&data) {
                Ok(file) => file,
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                    return Err(BlobError::NotFound("upload".into()));
                }
                Err(error) => return Err(error.into()),
            };
            if file.metadata()?.len() < size {
                return Err(BlobError::invalid("the upload's parts are incomplete"));
            }
            file.set_len(size)?;
            let digest = match combine(size, &hashes) {
                Some(digest) => digest,
                None => hash_file(&file, size)?,
            };
            if let Some(expected) = expected
                && expected != digest
            {
                return Err(BlobError::invalid(format!(
                    "the uploaded bytes hash to {digest}, not {expected}"
                )));
            }
            file.sync_all()?;
            std::fs::rename(&data, &staging)?;
            let _ = std::fs::remove_dir_all(&dir);
            Ok(Staged {
                digest,
                size,
                token,
            })
        })
        .await
    }

    async fn abort_upload(&self, id: &str, _state: &str) -> Result<()> {
        let dir = self.upload_dir(id)?;
        match tokio::fs::remove_dir_all(&dir).await {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(error.into()),
            _ => Ok(()),
        }
    }

    async fn presign_get(&self, _digest: &Digest, _expires: Duration) -> Result<Option<Presigned>> {
        Ok(None)
    }

    async fn presign_stage(&self, _expires: Duration) -> Result<Option<(String, Presigned)>> {
        Ok(None)
    }

    async fn adopt_staged(&self, token: &str, _expected_size: Option<u64>) -> Result<Staged> {
        Err(BlobError::invalid(format!(
            "the local store hands out no staging URLs ('{token}')"
        )))
    }

    async fn sweep(&self, older_than: SystemTime) -> Result<u64> {
        let dir = self.root.join(STAGING);
        blocking(move || {
            let mut freed = 0;
            for entry in std::fs::read_dir(&dir)? {
                let entry = entry?;
                // Staged files come and go while we look: one that vanished is not an error.
                let metadata = match entry.metadata() {
                    Ok(metadata) => metadata,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e.into()),
                };
                if metadata.modified().is_ok_and(|m| m < older_than) {
                    match std::fs::remove_file(entry.path()) {
                        Ok(()) => freed += metadata.len(),
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => return Err(e.into()),
                    }
                }
            }
            Ok(freed)
        })
        .await
    }
}

/// One pass over the joined file, for uploads whose parts could not be hashed on their own.
fn hash_file(file: &File, size: u64) -> Result<Digest> {
    let mut hasher = StreamHasher::new();
    let mut buffer = vec![0u8; READ_CHUNK];
    let mut at = 0;
    while at < size {
        let want = (size - at).min(READ_CHUNK as u64) as usize;
        file.read_exact_at(&mut buffer[..want], at)?;
        hasher.update(&buffer[..want]);
        at += want as u64;
    }
    Ok(hasher.finalize())
}
