//! `cairn artifacts download`: verified, resumable downloads over the native API.
//!
//! The run's listing (`GET /api/v1/runs/{run}/artifacts?path=PATH&recursive=true`) says whether
//! PATH is a file or a folder and gives each file's size and BLAKE3 digest. Each file is fetched
//! with `GET /api/v1/runs/{run}/files/{path}` into `<name>.cairn-partial` beside its destination.
//! When that file already exists (an earlier download stopped), only the rest is asked for
//! (`Range: bytes=N-`); the bytes already there are hashed from disk and the new ones as they
//! arrive. The digest the response's `ETag` names (else the listing's) must match before the
//! partial file is renamed into place; a resumed download that does not match (the file changed
//! on the server meanwhile) is fetched again from the start once. A destination that already holds
//! the right bytes is left alone.
//!
//! **In ranges.** A file of at least four ranges (`--range-size`, [`RANGE_SIZE`] by default) whose
//! digest the listing gives is fetched in ranges, `--parallel` at a time (`Range: bytes=A-B`,
//! each answer's `ETag` checked against the listing), each written at its place in the partial
//! file and hashed on its own into BLAKE3 subtree chaining values; these join into the file's digest
//! (`cairn_blob::hash::combine`), so no byte is read twice. The ranges done are kept beside the
//! partial file (`<name>.cairn-partial.ranges`, JSON: `size`, `digest`, `range_size`, `done`:
//! range indexes), written as each range lands; running the command again hashes those ranges
//! from the partial file (as a download in one stream hashes what it resumes from) and fetches
//! only the others. A partial file without that record (a download in one stream) is resumed in
//! one stream as above.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::Context;
use cairn_blob::hash::PartHashes;
use cairn_blob::{ArtifactPath, Digest};
use futures::{StreamExt, TryStreamExt};
use indicatif::{HumanBytes, ProgressBar};
use reqwest::StatusCode;
use reqwest::header::{ETAG, RANGE};
use serde::{Deserialize, Serialize};

use super::client::{Api, RemoteFile};
use super::progress;

/// The suffix of a download in progress, beside its destination.
pub const PARTIAL_SUFFIX: &str = ".cairn-partial";
/// The default size of each range of a download in ranges: large enough for the server to read
/// it with `O_DIRECT`.
pub const RANGE_SIZE: u64 = 64 << 20;

/// The smallest range (a record of ranges done that names a smaller one is not trusted).
const MIN_RANGE_SIZE: u64 = 64 << 10;

/// Whether ranges of `size` bytes can be fetched (and hashed on their own).
pub fn valid_range_size(size: u64) -> bool {
    size >= MIN_RANGE_SIZE && size.is_multiple_of(1024)
}

/// How downloads are made.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Ranges of one large file fetched at once (1: one stream).
    pub parallel: usize,
    /// Size of each range, a multiple of 1 KiB (so each range can be hashed on its own); files
    /// of four ranges or more are fetched in ranges.
    pub range_size: u64,
}

/// The temporary file a download of `output` writes to.
pub fn partial_path(output: &Path) -> PathBuf {
    let mut name = output.file_name().unwrap_or_default().to_os_string();
    name.push(PARTIAL_SUFFIX);
    output.with_file_name(name)
}

/// Downloads `path` (a file or a folder of the run's artifacts; `""` for all of them).
pub async fn run(
    api: &Api,
    run_id: &str,
    path: &str,
    output: Option<PathBuf>,
    options: Options,
) -> anyhow::Result<()> {
    let path = path.trim_matches('/');
    let parsed = ArtifactPath::parse(path)
        .map_err(|_| anyhow::anyhow!("'{path}' is not a valid artifact path"))?;
    let files = api.walk(run_id, path).await?;
    if files.is_empty() {
        anyhow::bail!("run {run_id} has no artifact at '{path}'");
    }
    if !parsed.is_root() && files.len() == 1 && files[0].path == path {
        let name = parsed.file_name().unwrap_or("download");
        let target = match output {
            None => PathBuf::from(name),
            Some(dir) if dir.is_dir() => dir.join(name),
            Some(file) => file,
        };
        download_file(api, run_id, &files[0], &target, options).await?;
        return Ok(());
    }
    let base = output.unwrap_or_else(|| PathBuf::from(parsed.file_name().unwrap_or(run_id)));
    let mut total = 0u64;
    for file in &files {
        let full = ArtifactPath::parse(&file.path)
            .map_err(|_| anyhow::anyhow!("the server listed an invalid path '{}'", file.path))?;
        let relative = full.strip_prefix(&parsed).with_context(|| {
            format!(
                "the server listed '{}', which is not below '{path}'",
                file.path
            )
        })?;
        let mut target = base.clone();
        for segment in relative.segments() {
            target.push(segment);
        }
        download_file(api, run_id, file, &target, options).await?;
        total += file.size;
    }
    println!(
        "downloaded {} files ({}) to {}",
        files.len(),
        HumanBytes(total),
        base.display()
    );
    Ok(())
}

/// Hashes a local file, returning the hasher and how many bytes it read.
async fn hash_local(path: &Path) -> anyhow::Result<(blake3::Hasher, u64)> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let mut file = std::fs::File::open(&path)?;
        let mut hasher = blake3::Hasher::new();
        let mut buffer = vec![0u8; 1 << 20];
        let mut total = 0u64;
        loop {
            let read = file.read(&mut buffer)?;
            if read == 0 {
                break;
            }
            hasher.update(&buffer[..read]);
            total += read as u64;
        }
        Ok((hasher, total))
    })
    .await?
}

fn digest_of(hasher: &blake3::Hasher) -> Digest {
    Digest::from_bytes(*hasher.finalize().as_bytes())
}

/// Downloads one file to `target`.
async fn download_file(
    api: &Api,
    run_id: &str,
    file: &RemoteFile,
    target: &Path,
    options: Options,
) -> anyhow::Result<()> {
    let listed = file.digest.as_deref().and_then(Digest::parse);
    if let Some(parent) = target.parent().filter(|p| !p.as_os_str().is_empty()) {
        tokio::fs::create_dir_all(parent)
            .await
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    if let Some(expected) = listed
        && tokio::fs::metadata(target)
            .await
            .is_ok_and(|m| m.is_file() && m.len() == file.size)
        && let Ok((hasher, _)) = hash_local(target).await
        && digest_of(&hasher) == expected
    {
        println!(
            "{}: {} is up to date ({expected})",
            file.path,
            target.display()
        );
        return Ok(());
    }
    let partial = partial_path(target);
    let record = ranges_path(&partial);
    // In ranges unless a download in one stream is there to resume.
    let ranged = options.parallel > 1
        && valid_range_size(options.range_size)
        && file.size >= 4 * options.range_size
        && (record.exists() || !partial.exists());
    let mut fresh = false;
    loop {
        let fetched = match (ranged, listed) {
            (true, Some(expected)) => {
                fetch_ranges(api, run_id, file, expected, &partial, fresh, options).await?
            }
            _ => fetch(api, run_id, file, listed, &partial, fresh).await?,
        };
        match fetched {
            Fetched::Verified { digest, resumed_at } => {
                tokio::fs::rename(&partial, target).await.with_context(|| {
                    format!("cannot move the download into {}", target.display())
                })?;
                let _ = tokio::fs::remove_file(&record).await;
                let resumed = if resumed_at > 0 {
                    format!(", resumed with {resumed_at} bytes already here")
                } else {
                    String::new()
                };
                println!(
                    "downloaded {} to {} ({}, {digest} verified{resumed})",
                    file.path,
                    target.display(),
                    HumanBytes(file.size)
                );
                return Ok(());
            }
            Fetched::Mismatch { expected, actual } if !fresh => {
                eprintln!(
                    "{}: the download hashes to {actual}, not {expected}; downloading it again from the start",
                    file.path
                );
                fresh = true;
            }
            Fetched::Mismatch { expected, actual } => {
                let _ = tokio::fs::remove_file(&partial).await;
                let _ = tokio::fs::remove_file(&record).await;
                anyhow::bail!(
                    "{}: the downloaded bytes hash to {actual}, not {expected}; nothing was written",
                    file.path
                );
            }
        }
    }
}

enum Fetched {
    Verified { digest: Digest, resumed_at: u64 },
    Mismatch { expected: Digest, actual: Digest },
}

/// Fetches the file into `partial`, resuming from its current length unless `fresh`.
async fn fetch(
    api: &Api,
    run_id: &str,
    file: &RemoteFile,
    listed: Option<Digest>,
    partial: &Path,
    fresh: bool,
) -> anyhow::Result<Fetched> {
    let mut have = if fresh {
        0
    } else {
        tokio::fs::metadata(partial)
            .await
            .map(|m| m.len())
            .unwrap_or(0)
    };
    if have > file.size {
        have = 0;
    }
    let (mut hasher, mut written) = if have > 0 {
        hash_local(partial)
            .await
            .with_context(|| format!("cannot read {}", partial.display()))?
    } else {
        (blake3::Hasher::new(), 0)
    };
    if written != have {
        // The partial file changed under us: start over.
        (hasher, written) = (blake3::Hasher::new(), 0);
    }
    let url = api.url(&["api/v1/runs", run_id, "files", &file.path]);
    let mut request = api.http().get(url);
    if written > 0 && written < file.size {
        request = request.header(RANGE, format!("bytes={written}-"));
    }
    let bar = progress::bytes(file.size, &file.path);
    let mut resumed_at = 0;
    let mut etag: Option<Digest> = None;
    if written < file.size || file.size == 0 {
        let response = request
            .send()
            .await
            .with_context(|| format!("cannot reach {}", api.server()))?;
        let status = response.status();
        let append = written > 0 && status == StatusCode::PARTIAL_CONTENT;
        let response = if written > 0 && status == StatusCode::RANGE_NOT_SATISFIABLE {
            // The file is shorter than what we have: fetch it whole.
            drop(response);
            let url = api.url(&["api/v1/runs", run_id, "files", &file.path]);
            api.http().get(url).send().await?
        } else {
            response
        };
        let response = Api::check(response).await?;
        etag = etag_digest(&response);
        if append {
            resumed_at = written;
            if api.verbose {
                progress::note(&bar, &format!("{}: resuming at byte {written}", file.path));
            }
        } else {
            (hasher, written) = (blake3::Hasher::new(), 0);
            tokio::fs::File::create(partial)
                .await
                .with_context(|| format!("cannot write {}", partial.display()))?;
        }
        bar.set_position(written);
        let expected = file.size.checked_sub(written);
        let body = counted_body(response, &bar);
        let (_, hashed) = cairn_blob::local::write_file(partial, written, expected, body, hasher)
            .await
            .map_err(|error| {
                write_error(error, partial, || {
                    format!(
                        "the download of {} broke off; run the same command again to resume",
                        file.path
                    )
                })
            })?;
        hasher = hashed;
    }
    finish(&bar);
    let actual = digest_of(&hasher);
    let Some(expected) = etag.or(listed) else {
        anyhow::bail!(
            "the server gave no digest for {}: it cannot be verified",
            file.path
        );
    };
    if actual != expected {
        return Ok(Fetched::Mismatch { expected, actual });
    }
    Ok(Fetched::Verified {
        digest: actual,
        resumed_at,
    })
}

/// The record of the ranges a download in ranges has written, beside its partial file.
fn ranges_path(partial: &Path) -> PathBuf {
    let mut name = partial.file_name().unwrap_or_default().to_os_string();
    name.push(".ranges");
    partial.with_file_name(name)
}

/// What [`ranges_path`] holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct RangeRecord {
    size: u64,
    digest: String,
    range_size: u64,
    /// Indexes of the ranges written.
    done: BTreeSet<u64>,
}

impl RangeRecord {
    /// The record at `path` if it describes this download and its partial file is whole-sized.
    fn load(path: &Path, partial: &Path, size: u64, digest: &Digest) -> Option<RangeRecord> {
        let record: RangeRecord = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
        let fits = record.size == size
            && record.digest == digest.to_string()
            && valid_range_size(record.range_size)
            && std::fs::metadata(partial).is_ok_and(|m| m.len() == size);
        fits.then_some(record)
    }

    fn save(&self, path: &Path) -> anyhow::Result<()> {
        let temporary = path.with_extension("ranges.tmp");
        std::fs::write(&temporary, serde_json::to_vec(self)?)
            .and_then(|()| std::fs::rename(&temporary, path))
            .with_context(|| format!("cannot write {}", path.display()))
    }
}

/// Hashes bytes `offset..offset + len` of the file at `path` on their own (a range written by an
/// earlier run).
async fn hash_range(path: &Path, (offset, len): (u64, u64)) -> anyhow::Result<PartHashes> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || -> anyhow::Result<PartHashes> {
        let file = std::fs::File::open(&path)?;
        Ok(cairn_blob::local::hash_file_range(
            &file,
            offset,
            len,
            &|_| {},
        )?)
    })
    .await?
}

/// Fetches the file into `partial` in ranges, `options.parallel` at a time, resuming from the
/// record of the ranges done (in the range size it was made with) unless `fresh`.
async fn fetch_ranges(
    api: &Api,
    run_id: &str,
    file: &RemoteFile,
    expected: Digest,
    partial: &Path,
    fresh: bool,
    options: Options,
) -> anyhow::Result<Fetched> {
    let size = file.size;
    let record_path = ranges_path(partial);
    let loaded = if fresh {
        None
    } else {
        RangeRecord::load(&record_path, partial, size, &expected)
    };
    let record = match loaded {
        Some(record) => record,
        None => {
            let created = std::fs::File::create(partial)
                .and_then(|f| f.set_len(size))
                .with_context(|| format!("cannot write {}", partial.display()));
            created?;
            let record = RangeRecord {
                size,
                digest: expected.to_string(),
                range_size: options.range_size,
                done: BTreeSet::new(),
            };
            record.save(&record_path)?;
            record
        }
    };
    let range_size = record.range_size;
    let count = size.div_ceil(range_size);
    let mut hashes = BTreeMap::new();
    for index in record.done.iter().copied().filter(|i| *i < count) {
        let range = range_of(index, range_size, size);
        let part = hash_range(partial, range)
            .await
            .with_context(|| format!("cannot read {}", partial.display()))?;
        hashes.insert(index, part);
    }
    let missing: Vec<u64> = (0..count).filter(|i| !hashes.contains_key(i)).collect();
    let bar = progress::bytes(size, &file.path);
    let have: u64 = hashes
        .keys()
        .map(|i| range_of(*i, range_size, size).1)
        .sum();
    bar.set_position(have);
    if api.verbose {
        progress::note(
            &bar,
            &format!(
                "{}: {count} ranges of {range_size} bytes, {} at a time; {} already here",
                file.path,
                options.parallel,
                hashes.len()
            ),
        );
    }
    let record = Mutex::new(record);
    let results = futures::stream::iter(missing)
        .map(|index| {
            let (bar, record, record_path) = (&bar, &record, &record_path);
            async move {
                let range = range_of(index, range_size, size);
                let part = fetch_range(api, run_id, file, &expected, partial, range, bar).await?;
                let mut record = record.lock().unwrap_or_else(|e| e.into_inner());
                record.done.insert(index);
                record.save(record_path)?;
                Ok::<_, anyhow::Error>((index, part))
            }
        })
        .buffer_unordered(options.parallel.max(1))
        .try_collect::<Vec<_>>()
        .await;
    finish(&bar);
    let fetched = results.map_err(|error| {
        error.context(format!(
            "the download of {} stopped; run the same command again to resume",
            file.path
        ))
    })?;
    hashes.extend(fetched);
    let actual = cairn_blob::hash::combine(size, hashes.values())
        .context("the ranges' hashes do not cover the file")?;
    if actual != expected {
        return Ok(Fetched::Mismatch { expected, actual });
    }
    Ok(Fetched::Verified {
        digest: actual,
        resumed_at: have,
    })
}

/// Offset and length of range `index` (of `range_size` bytes) of a file of `size` bytes.
fn range_of(index: u64, range_size: u64, size: u64) -> (u64, u64) {
    let offset = index * range_size;
    (offset, range_size.min(size - offset))
}

/// Fetches the range (offset, length) into its place in `partial`; its hashes.
async fn fetch_range(
    api: &Api,
    run_id: &str,
    file: &RemoteFile,
    expected: &Digest,
    partial: &Path,
    (offset, len): (u64, u64),
    bar: &ProgressBar,
) -> anyhow::Result<PartHashes> {
    let url = api.url(&["api/v1/runs", run_id, "files", &file.path]);
    let response = api
        .http()
        .get(url)
        .header(RANGE, format!("bytes={offset}-{}", offset + len - 1))
        .send()
        .await
        .with_context(|| format!("cannot reach {}", api.server()))?;
    let response = Api::check(response).await?;
    let whole = response.status() == StatusCode::OK && offset == 0 && len == file.size;
    if response.status() != StatusCode::PARTIAL_CONTENT && !whole {
        anyhow::bail!(
            "the server answered {} to a range request for {}",
            response.status(),
            file.path
        );
    }
    let etag = etag_digest(&response);
    if etag.is_some_and(|etag| etag != *expected) {
        anyhow::bail!(
            "{} changed on the server during the download (now {}); run the command again",
            file.path,
            etag.map(|d| d.to_string()).unwrap_or_default()
        );
    }
    let body = counted_body(response, bar);
    let written = cairn_blob::local::write_file_range(partial, offset, len, body).await;
    written.map_err(|error| {
        write_error(error, partial, || {
            format!("bytes {offset}.. of {} broke off", file.path)
        })
    })
}

/// The digest a response's `ETag` names (the server's downloads carry the blob's digest).
fn etag_digest(response: &reqwest::Response) -> Option<Digest> {
    let value = response.headers().get(ETAG)?.to_str().ok()?;
    Digest::parse(value.trim_start_matches("W/").trim_matches('"'))
}

/// A response's body, counted on `bar` as it arrives.
fn counted_body(response: reqwest::Response, bar: &ProgressBar) -> cairn_blob::ByteStream {
    let progress = bar.clone();
    Box::pin(response.bytes_stream().map(move |chunk| {
        let chunk = chunk.map_err(std::io::Error::other)?;
        progress.inc(chunk.len() as u64);
        Ok(chunk)
    }))
}

/// A failed write of a download into `partial`: the body breaking off (`broke_off` says what
/// stopped), or the local file.
fn write_error(
    error: cairn_blob::BlobError,
    partial: &Path,
    broke_off: impl FnOnce() -> String,
) -> anyhow::Error {
    match error {
        cairn_blob::BlobError::Aborted(cause) => anyhow::anyhow!(cause).context(broke_off()),
        other => anyhow::anyhow!(other).context(format!("cannot write {}", partial.display())),
    }
}

fn finish(bar: &ProgressBar) {
    bar.finish_and_clear();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_files_sit_beside_their_destination() {
        assert_eq!(
            partial_path(Path::new("out/model.bin")),
            PathBuf::from("out/model.bin.cairn-partial")
        );
    }
}
