//! `cairn backup` and `cairn restore`: an online, consistent copy of an embedded install.
//!
//! A backup is a folder: `cairn.db`, a snapshot of the database as of one commit (SQLite's
//! backup API; a server may keep writing meanwhile, see `cairn_store::sqlite::snapshot`);
//! `artifacts/`, a local blob store holding every blob the snapshot's artifact manifest refers
//! to, each checked against its digest as it is copied; and `backup.json`, written last, which
//! marks the backup complete and records what it holds. `cairn restore` refuses a folder without
//! it, refuses to overwrite a database, copies the snapshot and the blobs into the new install's
//! stores (skipping blobs already there), opens the database (migrating a backup from an older
//! version) and checks that it holds exactly what the backup recorded.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use cairn_blob::{BlobStore, Digest, LocalBlobStore};
use cairn_store::sqlite::snapshot::{self, Counts};
use serde_json::{Value, json};

use crate::artifacts::progress;
use crate::storage::{ARTIFACTS_HELP, open_blobs};

/// The format of `backup.json`.
const FORMAT: u64 = 1;

#[derive(Debug, clap::Args)]
pub struct BackupArgs {
    /// Folder of the embedded store (as given to `cairn server --data`); a server may be
    /// running on it.
    #[arg(long, env = "CAIRN_DATA", default_value = "./cairn-data")]
    data: PathBuf,
    /// Where artifact bytes are stored (as given to `cairn server --artifacts`).
    #[arg(long, env = "CAIRN_ARTIFACTS", value_name = "URL", long_help = ARTIFACTS_HELP)]
    artifacts: Option<String>,
    /// The backup folder to create (it must not exist, or be empty).
    #[arg(long, value_name = "DIR")]
    to: PathBuf,
}

#[derive(Debug, clap::Args)]
pub struct RestoreArgs {
    /// A backup folder made by `cairn backup`.
    #[arg(long, value_name = "DIR")]
    from: PathBuf,
    /// The new install's data folder (it must not hold a database yet).
    #[arg(long, env = "CAIRN_DATA", default_value = "./cairn-data")]
    data: PathBuf,
    /// Where the new install keeps artifact bytes (as `cairn server --artifacts` will be given).
    #[arg(long, env = "CAIRN_ARTIFACTS", value_name = "URL", long_help = ARTIFACTS_HELP)]
    artifacts: Option<String>,
}

fn counts_json(counts: &Counts) -> Value {
    json!({
        "experiments": counts.experiments,
        "runs": counts.runs,
        "params": counts.params,
        "tags": counts.tags,
        "metric_series": counts.metric_series,
        "logged_models": counts.logged_models,
        "artifact_files": counts.artifact_files,
        "blobs": counts.blobs,
        "blob_bytes": counts.blob_bytes,
    })
}

fn summary(counts: &Counts) -> String {
    format!(
        "{} experiments, {} runs, {} params, {} tags, {} metric series, {} logged models, {} artifact files ({} blobs, {})",
        counts.experiments,
        counts.runs,
        counts.params,
        counts.tags,
        counts.metric_series,
        counts.logged_models,
        counts.artifact_files,
        counts.blobs,
        indicatif::HumanBytes(counts.blob_bytes),
    )
}

/// Copies one blob unless `to` has it, checking the bytes hash to `digest`. Whether bytes were
/// copied.
async fn copy_blob(
    from: &dyn BlobStore,
    to: &dyn BlobStore,
    digest: &Digest,
    size: u64,
) -> anyhow::Result<bool> {
    if to.size(digest).await.map_err(|e| anyhow::anyhow!("{e}"))? == Some(size) {
        return Ok(false);
    }
    let blob = from.get(digest, None).await.map_err(|e| {
        anyhow::anyhow!(
            "blob {digest} ({size} bytes) cannot be read from {}: {e}",
            from.describe()
        )
    })?;
    let staged = to
        .stage(blob.body, Some(size))
        .await
        .map_err(|e| anyhow::anyhow!("copying blob {digest}: {e}"))?;
    if &staged.digest != digest {
        let got = staged.digest;
        to.discard(staged)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        bail!(
            "blob {digest} is damaged in {}: its bytes hash to {got}",
            from.describe()
        );
    }
    to.commit(staged)
        .await
        .map_err(|e| anyhow::anyhow!("storing blob {digest}: {e}"))?;
    Ok(true)
}

/// Copies every blob `database` refers to, with a progress bar. (blobs copied, bytes copied)
async fn copy_blobs(
    database: &Path,
    from: &dyn BlobStore,
    to: &dyn BlobStore,
) -> anyhow::Result<(u64, u64)> {
    let path = database.to_path_buf();
    let blobs = tokio::task::spawn_blocking(move || snapshot::referenced_blobs(&path))
        .await?
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let total: u64 = blobs.iter().map(|(_, size)| size).sum();
    let bar = progress::bytes(total, "artifacts");
    let (mut copied, mut bytes) = (0, 0);
    for (text, size) in &blobs {
        let digest = Digest::parse(text)
            .with_context(|| format!("the manifest names a blob '{text}' that is no digest"))?;
        if copy_blob(from, to, &digest, *size).await? {
            copied += 1;
            bytes += size;
        }
        bar.inc(*size);
    }
    bar.finish_and_clear();
    Ok((copied, bytes))
}

fn empty_or_missing(dir: &Path) -> anyhow::Result<bool> {
    if !dir.exists() {
        return Ok(true);
    }
    if !dir.is_dir() {
        return Ok(false);
    }
    Ok(std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .next()
        .is_none())
}

pub fn backup(args: BackupArgs) -> anyhow::Result<()> {
    let database = args.data.join("cairn.db");
    if !database.exists() {
        bail!(
            "no Cairn database at {} (pass the server's --data folder)",
            database.display()
        );
    }
    if !empty_or_missing(&args.to)? {
        bail!(
            "{} exists and is not empty: back up into a new folder",
            args.to.display()
        );
    }
    std::fs::create_dir_all(&args.to).with_context(|| format!("creating {}", args.to.display()))?;
    let started = std::time::Instant::now();
    let copy = args.to.join("cairn.db");
    snapshot::snapshot(&database, &copy).map_err(|e| anyhow::anyhow!("{e}"))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let (copied, bytes) = runtime.block_on(async {
        let from = open_blobs(args.artifacts.as_deref(), &args.data)?;
        let to: Arc<dyn BlobStore> = Arc::new(
            LocalBlobStore::open(args.to.join("artifacts"))
                .with_context(|| format!("creating {}", args.to.join("artifacts").display()))?,
        );
        copy_blobs(&copy, from.as_ref(), to.as_ref()).await
    })?;
    let counts = snapshot::counts(&copy).map_err(|e| anyhow::anyhow!("{e}"))?;
    let manifest = json!({
        "format": FORMAT,
        "cairn_version": env!("CARGO_PKG_VERSION"),
        "created_ms": std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0),
        "source": std::path::absolute(&args.data).unwrap_or(args.data.clone()),
        "counts": counts_json(&counts),
    });
    std::fs::write(
        args.to.join("backup.json"),
        serde_json::to_vec_pretty(&manifest)?,
    )
    .context("writing backup.json")?;
    println!(
        "backed up {} to {} in {:.1} s: {}; {} blobs copied ({})",
        args.data.display(),
        args.to.display(),
        started.elapsed().as_secs_f64(),
        summary(&counts),
        copied,
        indicatif::HumanBytes(bytes),
    );
    Ok(())
}

pub fn restore(args: RestoreArgs) -> anyhow::Result<()> {
    let manifest_path = args.from.join("backup.json");
    let manifest: Value = match std::fs::read(&manifest_path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .with_context(|| format!("{} is not a backup manifest", manifest_path.display()))?,
        Err(_) => bail!(
            "{} is not a complete backup (no backup.json; was `cairn backup` interrupted?)",
            args.from.display()
        ),
    };
    if manifest["format"].as_u64() != Some(FORMAT) {
        bail!(
            "{} has backup format {}; this cairn reads format {FORMAT}",
            args.from.display(),
            manifest["format"]
        );
    }
    let database = args.data.join("cairn.db");
    if database.exists() {
        bail!(
            "{} holds a database already: restore into a new --data folder",
            args.data.display()
        );
    }
    let started = std::time::Instant::now();
    std::fs::create_dir_all(&args.data)
        .with_context(|| format!("creating {}", args.data.display()))?;
    std::fs::copy(args.from.join("cairn.db"), &database)
        .with_context(|| format!("copying the database into {}", database.display()))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let (copied, bytes) = runtime.block_on(async {
        // Opening migrates a backup made by an older version, as a server start would.
        drop(
            cairn_store::sqlite::SqliteStore::open(&database)
                .with_context(|| format!("cannot open the restored {}", database.display()))?,
        );
        let from: Arc<dyn BlobStore> = Arc::new(
            LocalBlobStore::open(args.from.join("artifacts"))
                .with_context(|| format!("opening {}", args.from.join("artifacts").display()))?,
        );
        let to = open_blobs(args.artifacts.as_deref(), &args.data)?;
        copy_blobs(&database, from.as_ref(), to.as_ref()).await
    })?;
    let counts = snapshot::counts(&database).map_err(|e| anyhow::anyhow!("{e}"))?;
    if counts_json(&counts) != manifest["counts"] {
        bail!(
            "the restored install holds {} but the backup recorded {}",
            counts_json(&counts),
            manifest["counts"]
        );
    }
    println!(
        "restored {} into {} in {:.1} s: {}; {} blobs copied ({}); start it with `cairn server --data {}`",
        args.from.display(),
        args.data.display(),
        started.elapsed().as_secs_f64(),
        summary(&counts),
        copied,
        indicatif::HumanBytes(bytes),
        args.data.display(),
    );
    Ok(())
}
