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
//! Bodies of a known length of at least [`DIRECT_FROM`] that start at an offset aligned to
//! [`ALIGN`] (every part of a large upload, a large `PUT`) are written with `O_DIRECT`, from one
//! aligned buffer per body, bypassing the page cache: a 10 GB upload then costs neither a copy
//! into the cache nor the kernel's work of allocating, dirtying, flushing and reclaiming 10 GB of
//! cache pages, which measured as most of the server's CPU time on the reference VM (see
//! [`DirectWriter`]). Such a body is hashed from the aligned buffer, slice by slice right after
//! each slice is copied there, so its bytes come from memory once. The last bytes (less than one
//! aligned block) go through the cache. A filesystem without `O_DIRECT` gets buffered writes.
//! Reads of at least [`DIRECT_READ_FROM`] bytes of a blob go straight from the disk into aligned
//! buffers with `O_DIRECT` as well (see [`read_direct`]); shorter ones use the page cache.
//!
//! This backend is written against the filesystem directly rather than through `object_store`'s
//! `LocalFileSystem`: parts written in place at their offsets, no-clobber linking and control over
//! fsync are what make a 10 GB upload one pass over the disk.

use std::fs::File;
use std::io::{IoSlice, Read, Seek, SeekFrom, Write};
use std::ops::Range;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
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

/// Bytes hashed and written per blocking call. (2 MiB measured about 3% less server CPU on the
/// reference VM, within noise in throughput, and raised the server's memory during a 10 GB
/// upload through the mlflow client from +66 to +95 MB.)
const BATCH: usize = 1 << 20;
/// Offset, length and address alignment of `O_DIRECT` writes (the largest logical block size of
/// common disks).
const ALIGN: usize = 4096;
/// Bytes an `O_DIRECT` body copies into its buffer before hashing them there (fits the L2 cache;
/// divides [`DIRECT_BUFFER`]).
const FEED_SLICE: usize = 64 << 10;
/// Size of the aligned buffer of an `O_DIRECT` body: one write per this many bytes.
const DIRECT_BUFFER: usize = 2 << 20;
/// Buffers of finished `O_DIRECT` bodies kept for the next ones.
const SPARE_BUFFERS: usize = 8;
/// Bodies shorter than this are written through the page cache.
pub const DIRECT_FROM: u64 = 1 << 20;
/// Chunk size of streamed reads.
const READ_CHUNK: usize = 1 << 20;
/// Reads of at least this many bytes of a blob go straight from the disk (`O_DIRECT`); shorter
/// ones, likelier to be read again soon, through the page cache.
const DIRECT_READ_FROM: u64 = 64 << 20;
/// Bytes written between two flushes of an upload's file (see [`WriteBehind`]).
const WRITE_BEHIND: u64 = 64 << 20;
/// Chunks a streamed read may have ready before the consumer takes them.
const READ_AHEAD: usize = 4;
/// The same for a direct read, whose chunks are up to [`DIRECT_BUFFER`] bytes: about as many bytes
/// ahead as [`READ_AHEAD`] chunks of [`READ_CHUNK`].
const DIRECT_READ_AHEAD: usize = 2;
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

impl Feed for blake3::Hasher {
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

/// Writes `body` through `sink` from `offset` on, feeding every byte to `feed`. At most `limit`
/// bytes are accepted. Chunks are gathered (not copied) into batches of about [`BATCH`] bytes;
/// each batch is hashed and written on the blocking pool while the next one is being received.
async fn pump<F: Feed>(
    mut body: ByteStream,
    sink: Sink,
    offset: u64,
    limit: Option<u64>,
    feed: F,
) -> Result<(u64, F)> {
    let mut written = 0u64;
    let mut batch: Vec<Bytes> = Vec::new();
    let mut batch_len = 0usize;
    let mut in_flight: Option<tokio::task::JoinHandle<Result<(F, Sink)>>> = None;
    let mut feed_slot = Some((feed, sink));
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
        let (mut current, mut sink) = match in_flight.take() {
            Some(job) => job
                .await
                .map_err(|e| BlobError::Io(std::io::Error::other(e)))??,
            None => feed_slot.take().expect("feed is either here or in flight"),
        };
        let at = offset + written;
        written += batch_len as u64;
        batch_len = 0;
        in_flight = Some(tokio::task::spawn_blocking(move || {
            sink.write(&chunks, at, &mut current)?;
            Ok((current, sink))
        }));
    }
    let (feed, sink) = match in_flight {
        Some(job) => job
            .await
            .map_err(|e| BlobError::Io(std::io::Error::other(e)))??,
        None => feed_slot.take().expect("feed not sent"),
    };
    blocking(move || Ok(sink.finish()?)).await?;
    Ok((written, feed))
}

/// Writes `body` into the existing file at `path` from `offset` on, as this store writes its own
/// files (hashing and writing overlapped with receiving; `O_DIRECT` when `len`, the number of
/// bytes expected, is known and large enough and `offset` is aligned), feeding every byte to
/// `hasher`, then fsyncs the file. Returns the number of bytes written and the hasher. An error
/// of the body itself is [`BlobError::Aborted`]. For clients that download large files
/// (`cairn artifacts download`).
pub async fn write_file(
    path: &Path,
    offset: u64,
    len: Option<u64>,
    body: ByteStream,
    hasher: blake3::Hasher,
) -> Result<(u64, blake3::Hasher)> {
    let path = path.to_path_buf();
    let (file, sink) = blocking(move || {
        let file = Arc::new(File::options().write(true).open(&path)?);
        let sink = Sink::open(&path, file.clone(), offset, len);
        Ok((file, sink))
    })
    .await?;
    let (written, hasher) = pump(body, sink, offset, None, hasher).await?;
    blocking(move || Ok(file.sync_all()?)).await?;
    Ok((written, hasher))
}

/// Writes `body`, exactly `len` bytes, into the existing file at `path` from `offset` on (a
/// multiple of 1 KiB), as [`write_file`] does, hashing it on its own into BLAKE3 subtree chaining
/// values ([`PartHasher`]) that [`crate::hash::combine`] joins with those of the file's other
/// ranges; then fsyncs the file. For clients that download a large file in several ranges at once
/// (`cairn artifacts download`). A body that ends early is [`BlobError::Aborted`].
pub async fn write_file_range(
    path: &Path,
    offset: u64,
    len: u64,
    body: ByteStream,
) -> Result<crate::hash::PartHashes> {
    let hasher = range_hasher(offset, len)?;
    let path = path.to_path_buf();
    let (file, sink) = blocking(move || {
        let file = Arc::new(File::options().write(true).open(&path)?);
        let sink = Sink::open(&path, file.clone(), offset, Some(len));
        Ok((file, sink))
    })
    .await?;
    let (written, hasher) = pump(body, sink, offset, Some(len), Some(hasher)).await?;
    if written != len {
        return Err(BlobError::Aborted(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            format!("the range ended after {written} of {len} bytes"),
        )));
    }
    blocking(move || Ok(file.sync_all()?)).await?;
    hasher.expect("made above").finish()
}

/// A hasher of the range `offset..offset + len` of a file, which must start at a multiple of 1 KiB.
fn range_hasher(offset: u64, len: u64) -> Result<PartHasher> {
    PartHasher::new(offset, len).ok_or_else(|| {
        BlobError::invalid(format!(
            "a range starting at {offset} cannot be hashed on its own"
        ))
    })
}

/// Where [`pump`] writes: the file through the page cache (with [`WriteBehind`]), or an
/// `O_DIRECT` [`DirectWriter`] for bodies that qualify (see the module's docs).
struct Sink {
    file: Arc<File>,
    direct: Option<DirectWriter>,
    behind: WriteBehind,
}

impl Sink {
    /// A sink writing into `file` (opened for writing at `path`) from `offset` on; `len`, when
    /// known, is the number of bytes that will be written.
    fn open(path: &Path, file: Arc<File>, offset: u64, len: Option<u64>) -> Self {
        let direct = len
            .filter(|len| *len >= DIRECT_FROM && offset.is_multiple_of(ALIGN as u64))
            .and_then(|_| DirectWriter::open(path, offset));
        Sink {
            file,
            direct,
            behind: WriteBehind::new(offset),
        }
    }

    /// Writes `chunks`, which follow the bytes written so far, starting at `at`, feeding every
    /// byte to `feed` first.
    fn write<F: Feed>(&mut self, chunks: &[Bytes], at: u64, feed: &mut F) -> Result<()> {
        if let Some(direct) = &mut self.direct {
            for chunk in chunks {
                match direct.put(chunk, feed) {
                    Ok(()) => {}
                    // A filesystem that opens files with O_DIRECT but refuses the writes (other
                    // alignment rules): what the buffer holds (fed already), and the rest, go
                    // through the cache.
                    Err(BlobError::Io(error))
                        if error.raw_os_error() == Some(nix::libc::EINVAL) =>
                    {
                        let (pending, pending_at) = direct.pending();
                        self.file.write_all_at(pending, pending_at)?;
                        let done = pending_at + pending.len() as u64;
                        self.direct = None;
                        return self.write_buffered(chunks, at, done, feed);
                    }
                    Err(error) => return Err(error),
                }
            }
            return Ok(());
        }
        self.write_buffered(chunks, at, at, feed)
    }

    /// Feeds the bytes of `chunks` (which start at `at`) from `from` on to `feed` and writes them
    /// through the page cache.
    fn write_buffered<F: Feed>(
        &mut self,
        chunks: &[Bytes],
        at: u64,
        from: u64,
        feed: &mut F,
    ) -> Result<()> {
        let mut position = at;
        let mut rest: Vec<Bytes> = Vec::with_capacity(chunks.len());
        for chunk in chunks {
            let chunk_end = position + chunk.len() as u64;
            if chunk_end > from {
                let skip = from.saturating_sub(position) as usize;
                let tail = chunk.slice(skip..);
                feed.feed(&tail)?;
                rest.push(tail);
            }
            position = chunk_end;
        }
        write_all_at(&self.file, &rest, from)?;
        Ok(self.behind.wrote(&self.file, position)?)
    }

    /// Writes what is still buffered (an `O_DIRECT` body's last, unaligned bytes).
    fn finish(self) -> std::io::Result<()> {
        if let Some(direct) = self.direct {
            direct.finish(&self.file)?;
        }
        Ok(())
    }
}

/// Writes a body with `O_DIRECT` from an aligned buffer of [`DIRECT_BUFFER`] bytes: whole buffers
/// are written as they fill; the aligned part of the last one at [`finish`](Self::finish), and its
/// remaining bytes (less than [`ALIGN`]) through the page cache. Measured on the reference VM
/// (3 GB written in 8 MiB writes into a preallocated file, then `fdatasync`): 2.9–3.5 GB/s with
/// 0.1 s of system time for `O_DIRECT`, 0.4–1.3 GB/s with 1.9–7.4 s of system time through the
/// page cache.
struct DirectWriter {
    file: File,
    buffer: AlignedBuffer,
    /// Bytes in the buffer.
    len: usize,
    /// Where the window's first byte goes in the file.
    at: u64,
}

impl DirectWriter {
    /// `None` when the filesystem refuses `O_DIRECT` (tmpfs on older kernels, some network
    /// filesystems): the caller writes through the page cache.
    fn open(path: &Path, at: u64) -> Option<Self> {
        let file = File::options()
            .write(true)
            .custom_flags(nix::fcntl::OFlag::O_DIRECT.bits())
            .open(path)
            .ok()?;
        Some(DirectWriter {
            file,
            buffer: AlignedBuffer::take(),
            len: 0,
            at,
        })
    }

    /// Copies `data` into the buffer, writing it out whenever it is full. Each slice of at most
    /// [`FEED_SLICE`] bytes is fed to `feed` right after it is copied, from the buffer, while it
    /// is still in the CPU's cache: the hash then costs no second trip to memory.
    fn put<F: Feed>(&mut self, mut data: &[u8], feed: &mut F) -> Result<()> {
        while !data.is_empty() {
            // Slices end at multiples of FEED_SLICE in the buffer, which are multiples of the
            // hash's 1 KiB chunks in the body: the slicing splits none of them.
            let take = (FEED_SLICE - self.len % FEED_SLICE).min(data.len());
            let copied = &mut self.buffer.bytes_mut()[self.len..self.len + take];
            copied.copy_from_slice(&data[..take]);
            feed.feed(copied)?;
            self.len += take;
            data = &data[take..];
            if self.len == DIRECT_BUFFER {
                self.write_aligned()?;
            }
        }
        Ok(())
    }

    /// Writes the window's whole aligned blocks and keeps the rest at its start.
    fn write_aligned(&mut self) -> std::io::Result<()> {
        let aligned = self.len / ALIGN * ALIGN;
        if aligned == 0 {
            return Ok(());
        }
        let written = self
            .file
            .write_at(&self.buffer.bytes()[..aligned], self.at)?;
        if written != aligned {
            // Short O_DIRECT writes happen only when the disk is full.
            return Err(std::io::Error::from_raw_os_error(nix::libc::ENOSPC));
        }
        self.buffer.bytes_mut().copy_within(aligned..self.len, 0);
        self.at += aligned as u64;
        self.len -= aligned;
        Ok(())
    }

    /// The bytes not written yet, and where they go.
    fn pending(&self) -> (&[u8], u64) {
        (&self.buffer.bytes()[..self.len], self.at)
    }

    fn finish(mut self, buffered: &File) -> std::io::Result<()> {
        self.write_aligned()?;
        let (rest, at) = self.pending();
        buffered.write_all_at(rest, at)
    }
}

/// [`DIRECT_BUFFER`] bytes at an address aligned to [`ALIGN`], as `O_DIRECT` reads and writes
/// need. Buffers come from a pool of spares and go back to it when dropped: at most
/// [`SPARE_BUFFERS`] are kept, so memory stays bounded by the buffers in use plus that many,
/// whichever threads used them.
struct AlignedBuffer {
    /// Over-allocated by [`ALIGN`] bytes so that the aligned window fits at `start`.
    vec: Vec<u8>,
    start: usize,
}

static SPARE: std::sync::Mutex<Vec<Vec<u8>>> = std::sync::Mutex::new(Vec::new());

impl AlignedBuffer {
    fn take() -> Self {
        let vec = SPARE
            .lock()
            .ok()
            .and_then(|mut spare| spare.pop())
            .unwrap_or_else(|| vec![0u8; DIRECT_BUFFER + ALIGN]);
        let start = vec.as_ptr().align_offset(ALIGN);
        AlignedBuffer { vec, start }
    }

    fn bytes(&self) -> &[u8] {
        &self.vec[self.start..self.start + DIRECT_BUFFER]
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.vec[self.start..self.start + DIRECT_BUFFER]
    }
}

impl Drop for AlignedBuffer {
    fn drop(&mut self) {
        if let Ok(mut spare) = SPARE.lock()
            && spare.len() < SPARE_BUFFERS
        {
            spare.push(std::mem::take(&mut self.vec));
        }
    }
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

    fn wrote(&mut self, file: &File, end: u64) -> std::io::Result<()> {
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
/// thread stops as soon as the stream is dropped (the client went away). With `direct`, the same
/// file at that path is first opened with `O_DIRECT` and, when the filesystem takes it, the range
/// is read straight from the disk into aligned buffers (see [`read_direct`]), up to
/// [`DIRECT_READ_AHEAD`] chunks ahead.
fn read_stream(mut file: File, range: Range<u64>, direct: Option<PathBuf>) -> ByteStream {
    let ahead = if direct.is_some() {
        DIRECT_READ_AHEAD
    } else {
        READ_AHEAD
    };
    let (sender, receiver) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(ahead);
    tokio::task::spawn_blocking(move || {
        let mut start = range.start;
        let direct = direct.and_then(|path| {
            File::options()
                .read(true)
                .custom_flags(nix::fcntl::OFlag::O_DIRECT.bits())
                .open(path)
                .ok()
        });
        if let Some(direct) = direct {
            match read_direct(&direct, range.clone(), &sender) {
                Ok(Some(refused_at)) => start = refused_at,
                Ok(None) => return,
                Err(error) => {
                    let _ = sender.blocking_send(Err(error));
                    return;
                }
            }
        }
        if let Err(error) = file_seek(&mut file, start) {
            let _ = sender.blocking_send(Err(error));
            return;
        }
        let mut remaining = range.end - start;
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

/// Sends `range` of `file`, opened with `O_DIRECT`, to `sender` in chunks of up to
/// [`DIRECT_BUFFER`] bytes, each read from the disk straight into a pooled [`AlignedBuffer`] that
/// the chunk then owns (no copy out of the page cache: on the reference VM, reading 3 GB through
/// the cache cost 3.3 s of CPU, with `O_DIRECT` 0.2 s, at the same or better speed). Returns
/// `None` when done or when the receiver went away, and `Some(position)` when the filesystem
/// refused the reads (`EINVAL`): the bytes before `position` were sent, the caller sends the rest.
fn read_direct(
    file: &File,
    range: Range<u64>,
    sender: &tokio::sync::mpsc::Sender<std::io::Result<Bytes>>,
) -> std::io::Result<Option<u64>> {
    // Reads start at aligned offsets; the first chunk skips what lies before the range.
    let mut position = range.start - range.start % ALIGN as u64;
    while position < range.end {
        let mut buffer = AlignedBuffer::take();
        let wanted = (range.end - position).min(DIRECT_BUFFER as u64) as usize;
        let length = wanted.next_multiple_of(ALIGN).min(DIRECT_BUFFER);
        let read = match read_at_most(file, &mut buffer.bytes_mut()[..length], position) {
            Ok(read) => read,
            Err(error) if error.raw_os_error() == Some(nix::libc::EINVAL) => {
                return Ok(Some(position.max(range.start)));
            }
            Err(error) => return Err(error),
        };
        if read < wanted {
            // The file ended before the range did: it was truncated underneath the store.
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let skip = range.start.saturating_sub(position) as usize;
        let chunk = Bytes::from_owner(DirectChunk {
            buffer,
            bytes: skip..wanted,
        });
        if sender.blocking_send(Ok(chunk)).is_err() {
            return Ok(None);
        }
        position += wanted as u64;
    }
    Ok(None)
}

/// Reads into `buffer` at `at` until it is full or the file ends; returns the bytes read.
fn read_at_most(file: &File, buffer: &mut [u8], at: u64) -> std::io::Result<usize> {
    let mut read = 0;
    while read < buffer.len() {
        match file.read_at(&mut buffer[read..], at + read as u64) {
            Ok(0) => break,
            Ok(n) => read += n,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(read)
}

/// Part of an [`AlignedBuffer`] handed out as [`Bytes`]; the buffer returns to the pool when the
/// last reference is dropped.
struct DirectChunk {
    buffer: AlignedBuffer,
    bytes: Range<usize>,
}

impl AsRef<[u8]> for DirectChunk {
    fn as_ref(&self) -> &[u8] {
        &self.buffer.bytes()[self.bytes.clone()]
    }
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
        let (file, sink) = {
            let path = path.clone();
            blocking(move || {
                let file = Arc::new(File::create(&path)?);
                let sink = Sink::open(&path, file.clone(), 0, expected_size);
                Ok((file, sink))
            })
            .await?
        };
        let result = async {
            let (size, hasher) = pump(body, sink, 0, expected_size, StreamHasher::new()).await?;
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
        let direct = (range.end - range.start >= DIRECT_READ_FROM).then_some(path);
        Ok(Blob {
            size,
            range: range.clone(),
            body: read_stream(file, range, direct),
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
        let sink = blocking(move || {
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
            Ok(Sink::open(&data, Arc::new(file), offset, Some(size)))
        })
        .await?;
        let (written, hasher) = pump(
            body,
            sink,
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

    async fn presign_part(
        &self,
        _id: &str,
        _state: &str,
        _number: u32,
        _expires: Duration,
    ) -> Result<Option<Presigned>> {
        Ok(None)
    }

    async fn complete_presigned_upload(
        &self,
        id: &str,
        _state: &str,
        _etags: &[String],
        _size: u64,
        _expected: Option<&Digest>,
    ) -> Result<Staged> {
        Err(BlobError::invalid(format!(
            "the local store hands out no part URLs (upload '{id}')"
        )))
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
    hash_file_with_progress(file, size, &|_| {})
}

/// Below this size a file is hashed on one thread.
const PARALLEL_HASH_FROM: u64 = 64 << 20;

/// The digest of the first `size` bytes of `file`, read once. A large file is cut into one range
/// per available core (at multiples of 1 KiB), each read and hashed on its own thread into
/// BLAKE3 subtree chaining values ([`PartHasher`]) and joined with [`combine`], so hashing runs at
/// the speed of all cores rather than one. `progress` is told of every range read (from any of
/// those threads).
pub fn hash_file_with_progress(
    file: &File,
    size: u64,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Digest> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    let ranges = if size < PARALLEL_HASH_FROM || threads < 2 {
        1
    } else {
        threads.min(size / (PARALLEL_HASH_FROM / 2))
    };
    let step = (size / ranges).div_ceil(crate::hash::CHUNK) * crate::hash::CHUNK;
    let hash_range = |start: u64| hash_file_range(file, start, step.min(size - start), progress);
    let starts: Vec<u64> = (0..ranges)
        .map(|i| i * step)
        .filter(|start| *start < size || *start == 0)
        .collect();
    let parts = std::thread::scope(|scope| {
        let handles: Vec<_> = starts[1..]
            .iter()
            .map(|start| scope.spawn(move || hash_range(*start)))
            .collect();
        let mut parts = vec![hash_range(starts[0])];
        for handle in handles {
            parts.push(handle.join().expect("a hashing thread panicked"));
        }
        parts
    });
    let parts = parts.into_iter().collect::<Result<Vec<_>>>()?;
    combine(size, &parts).ok_or_else(|| BlobError::Io(std::io::Error::other("ranges do not tile")))
}

/// Hashes bytes `offset..offset + len` of `file` on their own into BLAKE3 subtree chaining values
/// ([`PartHasher`]; `offset` must be a multiple of 1 KiB, else `Invalid`), for
/// [`crate::hash::combine`]. `progress` is told of every piece read.
pub fn hash_file_range(
    file: &File,
    offset: u64,
    len: u64,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<PartHashes> {
    let mut hasher = range_hasher(offset, len)?;
    let mut buffer = vec![0u8; READ_CHUNK.min(len as usize)];
    let end = offset + len;
    let mut at = offset;
    while at < end {
        let want = (end - at).min(READ_CHUNK as u64) as usize;
        file.read_exact_at(&mut buffer[..want], at)?;
        hasher.update(&buffer[..want])?;
        progress(want as u64);
        at += want as u64;
    }
    hasher.finish()
}

/// Streams `range` of the file at `path`: [`READ_CHUNK`]-byte chunks read on one blocking thread
/// a few chunks ahead of the consumer. For clients that send large files
/// (`cairn artifacts upload`).
pub fn read_file_range(path: &Path, range: Range<u64>) -> std::io::Result<ByteStream> {
    Ok(read_stream(File::open(path)?, range, None))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// `len` pseudo-random bytes.
    fn bytes(len: usize, seed: u8) -> Vec<u8> {
        crate::conformance::data(len, seed)
    }

    /// `data` cut into chunks of the given sizes, cycled.
    fn chunks(data: &[u8], sizes: &[usize]) -> Vec<Bytes> {
        let mut out = Vec::new();
        let mut rest = data;
        for size in sizes.iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let take = (*size).max(1).min(rest.len());
            out.push(Bytes::copy_from_slice(&rest[..take]));
            rest = &rest[take..];
        }
        out
    }

    /// Writes `data` at `offset` of the file at `path` through a sink, in batches of three
    /// chunks, as [`pump`] does, and checks that exactly `data` was fed to the hasher; says
    /// whether the sink wrote with O_DIRECT.
    fn write_through_sink(path: &Path, offset: u64, data: &[u8], sizes: &[usize]) -> bool {
        let file = Arc::new(File::options().write(true).open(path).unwrap());
        let mut sink = Sink::open(path, file, offset, Some(data.len() as u64));
        let direct = sink.direct.is_some();
        let mut hasher = blake3::Hasher::new();
        let mut at = offset;
        for batch in chunks(data, sizes).chunks(3) {
            sink.write(batch, at, &mut hasher).unwrap();
            at += batch.iter().map(|c| c.len() as u64).sum::<u64>();
        }
        sink.finish().unwrap();
        assert_eq!(hasher.count(), data.len() as u64, "bytes fed");
        assert_eq!(hasher.finalize(), blake3::hash(data), "the digest fed");
        direct
    }

    /// A file written in ranges at once (each hashed on its own) reads back byte for byte, and
    /// the ranges' hashes join into the file's digest; a range whose body ends early fails.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn ranges_written_at_once_join_into_the_files_digest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("download");
        let range = 3 << 20;
        let data = bytes(2 * range + 5_000, 9);
        File::create(&path)
            .unwrap()
            .set_len(data.len() as u64)
            .unwrap();
        let body = |from: usize, to: usize| -> ByteStream {
            let pieces: Vec<std::io::Result<Bytes>> = chunks(&data[from..to], &[65_536, 777])
                .into_iter()
                .map(Ok)
                .collect();
            Box::pin(futures::stream::iter(pieces))
        };
        let (last, first, middle) = tokio::join!(
            write_file_range(&path, 2 * range as u64, 5_000, body(2 * range, data.len())),
            write_file_range(&path, 0, range as u64, body(0, range)),
            write_file_range(&path, range as u64, range as u64, body(range, 2 * range)),
        );
        let parts = [first.unwrap(), middle.unwrap(), last.unwrap()];
        assert_eq!(
            crate::hash::combine(data.len() as u64, &parts),
            Some(Digest::of(&data))
        );
        assert!(std::fs::read(&path).unwrap() == data);
        let short = write_file_range(&path, 0, range as u64 + 1, body(0, range)).await;
        assert!(matches!(short, Err(BlobError::Aborted(_))), "{short:?}");
        let unaligned = write_file_range(&path, 100, 10, body(0, 10)).await;
        assert_eq!(unaligned.unwrap_err().kind(), crate::ErrorKind::Invalid);
    }

    #[test]
    fn large_aligned_bodies_are_written_with_o_direct_byte_for_byte() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data");
        File::create(&path).unwrap();
        // Three parts of one file, written out of order: aligned starts, an unaligned length
        // (its last bytes go through the cache), odd chunk sizes straddling the buffer's end.
        let part = DIRECT_BUFFER + 3 * ALIGN;
        let data = bytes(2 * part + 1_234_567, 7);
        let tail = &data[2 * part..];
        let direct = [
            write_through_sink(&path, 2 * part as u64, tail, &[65_536, 1_000, 7]),
            write_through_sink(&path, 0, &data[..part], &[1 << 20, 4095, 333_333]),
            write_through_sink(&path, part as u64, &data[part..2 * part], &[part]),
        ];
        // O_DIRECT is used wherever the filesystem of the temp dir takes it (ext4, xfs, recent
        // tmpfs); elsewhere the same bytes are written through the cache.
        if DirectWriter::open(&path, 0).is_some() {
            assert_eq!(direct, [true; 3]);
        }
        assert!(std::fs::read(&path).unwrap() == data, "the file differs");
    }

    #[test]
    fn small_or_unaligned_bodies_go_through_the_cache() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data");
        File::create(&path).unwrap();
        let file = Arc::new(File::options().write(true).open(&path).unwrap());
        assert!(
            Sink::open(&path, file.clone(), 0, Some(DIRECT_FROM - 1))
                .direct
                .is_none()
        );
        assert!(
            Sink::open(&path, file.clone(), 1024, Some(8 << 20))
                .direct
                .is_none()
        );
        assert!(Sink::open(&path, file, 0, None).direct.is_none());
        let data = bytes(3 << 20, 9);
        assert!(!write_through_sink(&path, 1024, &data, &[100_000]));
        let mut expected = vec![0u8; 1024];
        expected.extend_from_slice(&data);
        assert!(std::fs::read(&path).unwrap() == expected);
    }

    /// Reads `range` of the file at `path` through [`read_stream`], with `O_DIRECT` when `direct`.
    fn read_through_stream(
        path: &Path,
        range: Range<u64>,
        direct: bool,
    ) -> std::io::Result<Vec<u8>> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async {
            let file = File::open(path).unwrap();
            let mut body = read_stream(file, range, direct.then(|| path.to_path_buf()));
            let mut out = Vec::new();
            while let Some(chunk) = body.next().await {
                out.extend_from_slice(&chunk?);
            }
            Ok(out)
        })
    }

    #[test]
    fn direct_reads_return_exactly_the_range() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data");
        let len = 2 * DIRECT_BUFFER + 3 * ALIGN + 123;
        let data = bytes(len, 5);
        std::fs::write(&path, &data).unwrap();
        let len = len as u64;
        let buffer = DIRECT_BUFFER as u64;
        for range in [
            0..len,
            1..len,
            4095..4097,
            4096..buffer + 1,
            buffer - 1..buffer + 1,
            777..2 * buffer + 5000,
            len - 1..len,
        ] {
            let read = read_through_stream(&path, range.clone(), true).unwrap();
            assert!(
                read == data[range.start as usize..range.end as usize],
                "{range:?}"
            );
        }
        // The bytes come from aligned buffers when the filesystem takes O_DIRECT.
        if let Ok(file) = File::options()
            .read(true)
            .custom_flags(nix::fcntl::OFlag::O_DIRECT.bits())
            .open(&path)
        {
            let (sender, mut receiver) = tokio::sync::mpsc::channel(16);
            if read_direct(&file, 10..len, &sender).unwrap().is_none() {
                let mut read = Vec::new();
                while let Ok(chunk) = receiver.try_recv() {
                    let chunk = chunk.unwrap();
                    assert!(chunk.len() <= DIRECT_BUFFER);
                    read.extend_from_slice(&chunk);
                }
                assert!(read == data[10..]);
            }
        }
    }

    #[test]
    fn a_direct_read_past_the_end_of_a_truncated_file_fails() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data");
        let data = bytes(DIRECT_BUFFER + 100, 6);
        std::fs::write(&path, &data).unwrap();
        let error = read_through_stream(&path, 0..DIRECT_BUFFER as u64 + 5000, true).unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn files_are_hashed_on_every_core_to_the_same_digest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data");
        let big = PARALLEL_HASH_FROM as usize * 2 + 3 * 1024 + 7;
        for len in [0, 1, 1024, 1025, 70_000, big] {
            let data = bytes(len, 3);
            std::fs::write(&path, &data).unwrap();
            let file = File::open(&path).unwrap();
            let seen = std::sync::atomic::AtomicU64::new(0);
            let digest = hash_file_with_progress(&file, len as u64, &|n| {
                seen.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
            })
            .unwrap();
            assert_eq!(digest, Digest::of(&data), "{len} bytes");
            assert_eq!(seen.into_inner(), len as u64);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        /// Whatever the chunking and the length, a body written at an aligned offset reads back
        /// exactly, and nothing before it is touched.
        #[test]
        fn any_chunking_reads_back(
            len in 1usize..(DIRECT_BUFFER * 2 + 10_000),
            blocks in 0u64..4,
            sizes in proptest::collection::vec(1usize..700_000, 1..6),
            seed in any::<u8>(),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("data");
            let offset = blocks * ALIGN as u64;
            let before = vec![0xAB; offset as usize];
            std::fs::write(&path, &before).unwrap();
            let data = bytes(len, seed);
            write_through_sink(&path, offset, &data, &sizes);
            let read = std::fs::read(&path).unwrap();
            prop_assert!(read[..offset as usize] == before[..]);
            prop_assert!(read[offset as usize..] == data[..]);
        }
    }
}
