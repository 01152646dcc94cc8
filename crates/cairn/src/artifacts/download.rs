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

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::Context;
use cairn_blob::{ArtifactPath, Digest};
use futures::StreamExt;
use indicatif::{HumanBytes, ProgressBar};
use reqwest::StatusCode;
use reqwest::header::{ETAG, RANGE};

use super::client::{Api, RemoteFile};
use super::progress;

/// The suffix of a download in progress, beside its destination.
pub const PARTIAL_SUFFIX: &str = ".cairn-partial";

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
        download_file(api, run_id, &files[0], &target).await?;
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
        download_file(api, run_id, file, &target).await?;
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
    let mut fresh = false;
    loop {
        match fetch(api, run_id, file, listed, &partial, fresh).await? {
            Fetched::Verified { digest, resumed_at } => {
                tokio::fs::rename(&partial, target).await.with_context(|| {
                    format!("cannot move the download into {}", target.display())
                })?;
                let resumed = if resumed_at > 0 {
                    format!(", resumed at byte {resumed_at}")
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
        etag = response
            .headers()
            .get(ETAG)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| Digest::parse(v.trim_start_matches("W/").trim_matches('"')));
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
        let progress = bar.clone();
        let body = response.bytes_stream().map(move |chunk| {
            let chunk = chunk.map_err(std::io::Error::other)?;
            progress.inc(chunk.len() as u64);
            Ok(chunk)
        });
        let expected = file.size.checked_sub(written);
        let (_, hashed) =
            cairn_blob::local::write_file(partial, written, expected, Box::pin(body), hasher)
                .await
                .map_err(|error| match error {
                    cairn_blob::BlobError::Aborted(cause) => {
                        anyhow::anyhow!(cause).context(format!(
                            "the download of {} broke off; run the same command again to resume",
                            file.path
                        ))
                    }
                    other => anyhow::anyhow!(other)
                        .context(format!("cannot write {}", partial.display())),
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
