//! `cairn artifacts upload`: resumable uploads in parts over the native API.
//!
//! For each file:
//! 1. hash it (BLAKE3) and take its size;
//! 2. `POST /api/v1/runs/{run}/uploads {path, size, digest, part_size?}`. When the server already
//!    stores those bytes it records the file at once (`{"stored": true}`) and nothing is sent;
//!    otherwise it answers the upload's id, part size and part count;
//! 3. send the parts, `--parallel` at a time, each read from its byte range of the file and
//!    streamed with its `Content-Length` (transient failures are retried);
//! 4. `POST /api/v1/uploads/{id}/complete {digest}`: the server checks the digest and records
//!    the file.
//!
//! **Straight to storage (`--direct`).** With a server whose artifacts are in object storage
//! that signs URLs (S3), step 2 also sends `"direct": true` and a part size, and the server
//! answers a presigned URL per part: each part is PUT there, straight to storage, without Cairn's
//! credentials; the `ETag` storage answers is kept, and step 4 reports every part's ETag. The
//! server then reads the joined file once to hash it. A URL that has expired (403) is signed
//! again (`GET /api/v1/uploads/{id}`).
//!
//! **Resuming.** Between 2 and 4 a state file `{upload_id, digest, size}` (plus fields for
//! people reading it) is kept in the state folder ([`state_dir`]: `$XDG_CACHE_HOME/cairn/uploads`,
//! else `~/.cache/cairn/uploads`) under the name [`state_file_name`]: the first 32 hex digits of
//! the BLAKE3 hash of `"{server}\n{run_id}\n{dest}\n{digest}"` (server as given, without a
//! trailing `/`; dest the full destination path in the run) followed by `.json`. Running the same
//! upload again finds it, asks the server which parts arrived (`GET /api/v1/uploads/{id}`) and
//! sends only the others. For a direct upload the server cannot tell which parts storage holds,
//! so the state file also keeps each sent part's ETag (`etags`, written as parts finish) and only
//! parts without one are sent again. If the server no longer knows the upload (aborted,
//! collected), the upload starts over. The file is removed once the upload completes.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use cairn_blob::{ArtifactPath, Digest};
use cairn_server::tracking::artifacts::default_part_size;
use futures::{StreamExt, TryStreamExt};
use indicatif::{HumanBytes, ProgressBar};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE, ETAG};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::client::{Api, ServerError, is_not_found, is_transient};
use super::progress;

/// How often a part is tried before the upload gives up (transient failures only).
const PART_ATTEMPTS: u32 = 4;

#[derive(Debug, Clone)]
pub struct Options {
    pub dest: Option<String>,
    pub parallel: usize,
    pub part_size: Option<u64>,
    /// Parts go straight to the server's object storage at presigned URLs.
    pub direct: bool,
    /// No line per file on stdout (an import prints its own summary).
    pub quiet: bool,
}

/// What became of one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The server already had the bytes: nothing was sent.
    Deduplicated,
    Uploaded {
        /// Parts sent by this run of the command.
        sent: u32,
        parts: u32,
        resumed: bool,
    },
}

/// What is remembered about an upload in progress.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    pub upload_id: String,
    pub digest: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local: Option<PathBuf>,
    /// A direct upload's parts that storage holds, with the ETag it answered for each.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub etags: BTreeMap<u32, String>,
}

/// The folder of upload state files: `$XDG_CACHE_HOME/cairn/uploads`, else
/// `$HOME/.cache/cairn/uploads`; `None` when neither variable is set.
pub fn state_dir() -> Option<PathBuf> {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|h| !h.is_empty())
                .map(|h| PathBuf::from(h).join(".cache"))
        })?;
    Some(cache.join("cairn").join("uploads"))
}

/// The name of the state file of an upload of `digest` to `dest` in `run_id` on `server`.
pub fn state_file_name(server: &str, run_id: &str, dest: &str, digest: &str) -> String {
    let key = blake3::hash(format!("{server}\n{run_id}\n{dest}\n{digest}").as_bytes());
    format!("{}.json", &key.to_hex()[..32])
}

fn read_state(path: &Path) -> Option<State> {
    let text = std::fs::read(path).ok()?;
    serde_json::from_slice(&text).ok()
}

fn write_state(path: &Path, state: &State) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the upload state folder {}", dir.display()))?;
    }
    let temporary = path.with_extension("json.tmp");
    std::fs::write(&temporary, serde_json::to_vec_pretty(state)?)
        .and_then(|()| std::fs::rename(&temporary, path))
        .with_context(|| format!("cannot write the upload state file {}", path.display()))
}

fn remove_state(path: Option<&Path>) {
    if let Some(path) = path {
        let _ = std::fs::remove_file(path);
    }
}

/// An upload as the server describes it (creation and `GET /api/v1/uploads/{id}`).
#[derive(Debug, Clone, Deserialize)]
struct UploadInfo {
    upload_id: String,
    size: Option<u64>,
    part_size: Option<u64>,
    parts: Option<u32>,
    digest: Option<String>,
    #[serde(default)]
    received: Vec<ReceivedPart>,
    /// A direct upload in parts: where each part goes.
    #[serde(default)]
    part_urls: Vec<PartUrl>,
}

#[derive(Debug, Clone, Deserialize)]
struct PartUrl {
    number: u32,
    url: String,
    #[serde(default)]
    headers: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
struct ReceivedPart {
    number: u32,
    size: u64,
}

#[derive(Debug, Clone, Deserialize)]
struct Created {
    #[serde(default)]
    stored: bool,
    #[serde(flatten)]
    upload: Option<UploadInfo>,
}

/// The parts of an upload and which of them the server has.
#[derive(Debug, Clone)]
struct Plan {
    id: String,
    size: u64,
    part_size: u64,
    parts: u32,
    received: BTreeSet<u32>,
    resumed: bool,
    /// Presigned URLs of a direct upload, part `k` at index `k - 1`; empty when the parts go
    /// through the server.
    urls: Vec<PartUrl>,
}

impl Plan {
    fn from_info(info: UploadInfo, size: u64, resumed: bool) -> anyhow::Result<Plan> {
        let part_size = info
            .part_size
            .filter(|p| *p > 0)
            .context("the server did not say the upload's part size")?;
        let parts = info
            .parts
            .unwrap_or_else(|| size.div_ceil(part_size).max(1) as u32);
        let mut urls = info.part_urls;
        urls.sort_by_key(|url| url.number);
        if !urls.is_empty() && !urls.iter().map(|u| u.number).eq(1..=parts) {
            anyhow::bail!("the server's answer does not give one URL for each of {parts} parts");
        }
        let mut plan = Plan {
            id: info.upload_id,
            size,
            part_size,
            parts,
            received: BTreeSet::new(),
            resumed,
            urls,
        };
        // A part counts as received only when it has the length it should have.
        plan.received = info
            .received
            .iter()
            .filter(|p| p.number >= 1 && p.number <= parts && p.size == plan.range(p.number).1)
            .map(|p| p.number)
            .collect();
        Ok(plan)
    }

    /// Offset and length of part `number`.
    fn range(&self, number: u32) -> (u64, u64) {
        let offset = u64::from(number - 1) * self.part_size;
        (offset, self.part_size.min(self.size.saturating_sub(offset)))
    }

    fn is_direct(&self) -> bool {
        !self.urls.is_empty()
    }

    /// A direct upload's parts count as received when an ETag was kept for them.
    fn adopt_etags(&mut self, etags: &BTreeMap<u32, String>) {
        if self.is_direct() {
            self.received = etags
                .keys()
                .copied()
                .filter(|n| (1..=self.parts).contains(n))
                .collect();
        }
    }

    fn missing(&self) -> Vec<u32> {
        (1..=self.parts)
            .filter(|n| !self.received.contains(n))
            .collect()
    }
}

/// Uploads `local` (a file or a folder) to `run_id`.
pub async fn run(api: &Api, run_id: &str, local: &Path, options: &Options) -> anyhow::Result<()> {
    let metadata = tokio::fs::metadata(local)
        .await
        .with_context(|| format!("cannot read {}", local.display()))?;
    if !metadata.is_dir() {
        let dest = file_dest(local, options.dest.as_deref())?;
        upload_file(api, run_id, local, &dest, options).await?;
        return Ok(());
    }
    let base = match options.dest.as_deref().map(|d| d.trim_matches('/')) {
        Some(dest) => ArtifactPath::parse(dest)
            .map_err(|_| anyhow::anyhow!("'{dest}' is not a valid artifact path"))?,
        None => ArtifactPath::root(),
    };
    let root = local.to_path_buf();
    let files = tokio::task::spawn_blocking(move || local_files(&root)).await??;
    if files.is_empty() {
        println!("nothing to upload: {} holds no files", local.display());
        return Ok(());
    }
    let (mut deduplicated, mut bytes) = (0u64, 0u64);
    for (file, relative) in &files {
        let dest = base.join(relative);
        if upload_file(api, run_id, file, &dest, options).await? == Outcome::Deduplicated {
            deduplicated += 1;
        }
        bytes += std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);
    }
    println!(
        "uploaded {} files ({}) to run {run_id}, {deduplicated} of them already stored",
        files.len(),
        HumanBytes(bytes)
    );
    Ok(())
}

/// The destination of a single file: `--path` as given, `--path` ending in `/` plus the file's
/// name, or the file's name.
fn file_dest(local: &Path, dest: Option<&str>) -> anyhow::Result<ArtifactPath> {
    let name = || {
        local
            .file_name()
            .and_then(|n| n.to_str())
            .map(str::to_owned)
            .with_context(|| format!("{} has no usable file name: pass --path", local.display()))
    };
    let text = match dest {
        None => name()?,
        Some(dir) if dir.ends_with('/') => {
            let dir = dir.trim_matches('/');
            if dir.is_empty() {
                name()?
            } else {
                format!("{dir}/{}", name()?)
            }
        }
        Some(path) => path.trim_start_matches('/').to_string(),
    };
    let path = ArtifactPath::parse(&text)
        .map_err(|_| anyhow::anyhow!("'{text}' is not a valid artifact path"))?;
    if path.is_root() {
        anyhow::bail!("the destination of a file cannot be the run's artifact root");
    }
    Ok(path)
}

/// Regular files below `root` (symbolic links to files included), sorted, with their paths
/// relative to `root`.
fn local_files(root: &Path) -> anyhow::Result<Vec<(PathBuf, ArtifactPath)>> {
    let mut files = Vec::new();
    let mut pending = vec![(root.to_path_buf(), Vec::<String>::new())];
    while let Some((dir, segments)) = pending.pop() {
        let entries =
            std::fs::read_dir(&dir).with_context(|| format!("cannot read {}", dir.display()))?;
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name();
            let name = name
                .to_str()
                .with_context(|| format!("{} is not valid UTF-8", entry.path().display()))?;
            let mut below = segments.clone();
            below.push(name.to_string());
            let kind = entry.file_type()?;
            if kind.is_dir() {
                pending.push((entry.path(), below));
            } else if kind.is_file() || (kind.is_symlink() && entry.path().is_file()) {
                let relative = ArtifactPath::parse(&below.join("/")).map_err(|_| {
                    anyhow::anyhow!(
                        "{} cannot be an artifact path (rename it)",
                        entry.path().display()
                    )
                })?;
                files.push((entry.path(), relative));
            }
        }
    }
    files.sort_by_key(|a| a.1.as_string());
    Ok(files)
}

/// Hashes a file, returning its digest and size.
async fn hash_file(path: &Path, label: &str) -> anyhow::Result<(Digest, u64)> {
    let size = tokio::fs::metadata(path).await?.len();
    let bar = progress::bytes(size, &format!("hashing {label}"));
    let path = path.to_path_buf();
    let counter = bar.clone();
    let result = tokio::task::spawn_blocking(move || -> anyhow::Result<(Digest, u64)> {
        let file = std::fs::File::open(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let size = file.metadata()?.len();
        let digest = cairn_blob::local::hash_file_with_progress(&file, size, &|n| counter.inc(n))
            .with_context(|| format!("cannot read {}", path.display()))?;
        Ok((digest, size))
    })
    .await?;
    bar.finish_and_clear();
    result
}

/// The state file of an upload in progress. A direct upload's ETags are added as its parts
/// land and written at most once a second (and when sending stops), so that a file of thousands
/// of parts is not rewritten for each.
struct StateFile {
    path: Option<PathBuf>,
    inner: Mutex<(State, std::time::Instant)>,
}

impl StateFile {
    fn new(path: Option<PathBuf>, state: State) -> Self {
        StateFile {
            path,
            inner: Mutex::new((state, std::time::Instant::now())),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (State, std::time::Instant)> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn save(&self) {
        let Some(path) = &self.path else { return };
        let mut inner = self.lock();
        inner.1 = std::time::Instant::now();
        if let Err(error) = write_state(path, &inner.0) {
            eprintln!("warning: {error:#}; this upload cannot be resumed");
        }
    }

    fn record_etag(&self, number: u32, etag: String) {
        let due = {
            let mut inner = self.lock();
            inner.0.etags.insert(number, etag);
            inner.1.elapsed() >= Duration::from_secs(1)
        };
        if due {
            self.save();
        }
    }

    fn etags(&self) -> BTreeMap<u32, String> {
        self.lock().0.etags.clone()
    }

    fn remove(&self) {
        remove_state(self.path.as_deref());
    }
}

/// Uploads one file to `dest` (a path in the run's artifacts).
pub async fn upload_file(
    api: &Api,
    run_id: &str,
    local: &Path,
    dest: &ArtifactPath,
    options: &Options,
) -> anyhow::Result<Outcome> {
    let label = dest.file_name().unwrap_or_default().to_string();
    let (digest, size) = hash_file(local, &label).await?;
    let digest_text = digest.to_string();
    let dest_text = dest.as_string();
    let state_path = state_dir().map(|dir| {
        dir.join(state_file_name(
            api.server(),
            run_id,
            &dest_text,
            &digest_text,
        ))
    });
    let new_state = |upload_id: &str, etags: BTreeMap<u32, String>| State {
        upload_id: upload_id.to_string(),
        digest: digest_text.clone(),
        size,
        server: Some(api.server().to_string()),
        run_id: Some(run_id.to_string()),
        path: Some(dest_text.clone()),
        local: std::path::absolute(local).ok(),
        etags,
    };

    let mut plan: Option<(Plan, BTreeMap<u32, String>)> = None;
    if let Some(state) = state_path.as_deref().and_then(read_state)
        && state.digest == digest_text
        && state.size == size
    {
        match get_upload(api, &state.upload_id).await {
            Ok(info)
                if info.size == Some(size)
                    && info.digest.as_deref().is_none_or(|d| d == digest_text) =>
            {
                let mut resumed = Plan::from_info(info, size, true)?;
                resumed.adopt_etags(&state.etags);
                if api.verbose {
                    eprintln!(
                        "resuming upload {} of {dest_text}: the server has {} of {} parts",
                        resumed.id,
                        resumed.received.len(),
                        resumed.parts
                    );
                }
                plan = Some((resumed, state.etags));
            }
            Ok(_) => {
                eprintln!(
                    "upload {} does not match {} any more; starting over",
                    state.upload_id,
                    local.display()
                );
                remove_state(state_path.as_deref());
            }
            Err(error) if is_not_found(&error) => {
                eprintln!(
                    "the server no longer knows upload {}; starting over",
                    state.upload_id
                );
                remove_state(state_path.as_deref());
            }
            Err(error) => return Err(error.context("cannot resume the upload")),
        }
    }

    let mut restarted = false;
    loop {
        let (plan_now, state_file) = match plan.take() {
            Some((plan, etags)) => {
                let state = StateFile::new(state_path.clone(), new_state(&plan.id, etags));
                (plan, state)
            }
            None => {
                let created = create_upload(api, run_id, &dest_text, size, &digest_text, options)
                    .await
                    .with_context(|| format!("cannot upload {}", local.display()))?;
                let Some(created) = created else {
                    if !options.quiet {
                        println!(
                            "{dest_text}: already stored on the server (deduplicated, {digest_text}); nothing sent"
                        );
                    }
                    return Ok(Outcome::Deduplicated);
                };
                let plan = Plan::from_info(created, size, false)?;
                let state =
                    StateFile::new(state_path.clone(), new_state(&plan.id, BTreeMap::new()));
                state.save();
                (plan, state)
            }
        };
        let result = async {
            let sent =
                send_parts(api, local, &plan_now, options.parallel, &label, &state_file).await;
            if plan_now.is_direct() {
                state_file.save();
            }
            let sent = sent?;
            let etags = plan_now.is_direct().then(|| state_file.etags());
            complete_upload(api, &plan_now.id, &digest_text, etags).await?;
            Ok::<u32, anyhow::Error>(sent)
        }
        .await;
        match result {
            Ok(sent) => {
                state_file.remove();
                let how = if plan_now.resumed { ", resumed" } else { "" };
                let direct = if plan_now.is_direct() {
                    " straight to storage"
                } else {
                    ""
                };
                if !options.quiet {
                    println!(
                        "uploaded {dest_text} ({}, {digest_text}): sent {sent} of {} parts{direct}{how}",
                        HumanBytes(size),
                        plan_now.parts
                    );
                }
                return Ok(Outcome::Uploaded {
                    sent,
                    parts: plan_now.parts,
                    resumed: plan_now.resumed,
                });
            }
            Err(error) if is_not_found(&error) && !restarted => {
                // The upload went away while we were sending (aborted or collected).
                eprintln!(
                    "the server no longer knows upload {}; starting over",
                    plan_now.id
                );
                state_file.remove();
                restarted = true;
            }
            Err(error) => {
                return Err(error.context(format!(
                    "upload of {} stopped; run the same command again to resume",
                    local.display()
                )));
            }
        }
    }
}

async fn get_upload(api: &Api, id: &str) -> anyhow::Result<UploadInfo> {
    let response = api
        .http()
        .get(api.url(&["api/v1/uploads", id]))
        .send()
        .await
        .with_context(|| format!("cannot reach {}", api.server()))?;
    Api::json(response).await
}

/// Starts an upload; `None` when the server already stores the bytes (the file is recorded).
async fn create_upload(
    api: &Api,
    run_id: &str,
    dest: &str,
    size: u64,
    digest: &str,
    options: &Options,
) -> anyhow::Result<Option<UploadInfo>> {
    let mut body = json!({ "path": dest, "size": size, "digest": digest });
    if let Some(part_size) = options.part_size {
        body["part_size"] = json!(part_size);
    }
    if options.direct {
        // Always in parts, even for small files: parts go in parallel and resume.
        body["direct"] = json!(true);
        // Without a part size, what the server picks for uploads through it.
        let part_size = options.part_size.unwrap_or_else(|| default_part_size(size));
        body["part_size"] = json!(part_size);
    }
    let response = api
        .http()
        .post(api.url(&["api/v1/runs", run_id, "uploads"]))
        .json(&body)
        .send()
        .await
        .with_context(|| format!("cannot reach {}", api.server()))?;
    let created: Created = Api::json(response).await?;
    if created.stored {
        return Ok(None);
    }
    created
        .upload
        .map(Some)
        .context("the server's answer names no upload")
}

/// Completes an upload; `etags` are a direct upload's parts.
async fn complete_upload(
    api: &Api,
    id: &str,
    digest: &str,
    etags: Option<BTreeMap<u32, String>>,
) -> anyhow::Result<()> {
    let mut body = json!({ "digest": digest });
    if let Some(etags) = etags {
        body["parts"] = etags
            .into_iter()
            .map(|(number, etag)| json!({ "number": number, "etag": etag }))
            .collect();
    }
    let response = api
        .http()
        .post(api.url(&["api/v1/uploads", id, "complete"]))
        .json(&body)
        .send()
        .await
        .with_context(|| format!("cannot reach {}", api.server()))?;
    Api::check(response).await?;
    Ok(())
}

/// Sends the parts the server does not have, `parallel` at a time. Returns how many were sent.
/// A direct upload's ETags go to `state` as its parts land.
async fn send_parts(
    api: &Api,
    local: &Path,
    plan: &Plan,
    parallel: usize,
    label: &str,
    state: &StateFile,
) -> anyhow::Result<u32> {
    let missing = plan.missing();
    let bar = progress::bytes(plan.size, label);
    let already: u64 = plan.received.iter().map(|n| plan.range(*n).1).sum();
    bar.set_position(already);
    let results = futures::stream::iter(missing.iter().copied())
        .map(|number| send_part(api, local, plan, number, &bar, state))
        .buffer_unordered(parallel.max(1));
    let outcome = results.try_collect::<Vec<()>>().await;
    bar.finish_and_clear();
    outcome?;
    Ok(missing.len() as u32)
}

/// Sends part `number`, retrying transient failures; a direct part whose URL has expired is
/// sent again to a freshly signed one.
async fn send_part(
    api: &Api,
    local: &Path,
    plan: &Plan,
    number: u32,
    bar: &ProgressBar,
    state: &StateFile,
) -> anyhow::Result<()> {
    let (offset, length) = plan.range(number);
    let mut direct = plan.urls.get(number as usize - 1).cloned();
    let mut refreshed = false;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let counted = Arc::new(AtomicU64::new(0));
        let result = async {
            let file = cairn_blob::local::read_file_range(local, offset..offset + length)
                .with_context(|| format!("cannot read {}", local.display()))?;
            let (bar, counted) = (bar.clone(), counted.clone());
            let body = file.inspect_ok(move |chunk| {
                bar.inc(chunk.len() as u64);
                counted.fetch_add(chunk.len() as u64, Ordering::Relaxed);
            });
            let request = match &direct {
                Some(part) => {
                    let mut request = api.storage().put(&part.url);
                    for (name, value) in &part.headers {
                        request = request.header(name, value);
                    }
                    request
                }
                None => api
                    .http()
                    .put(api.url(&["api/v1/uploads", &plan.id, "parts", &number.to_string()]))
                    .header(CONTENT_TYPE, "application/octet-stream"),
            };
            let response = request
                .header(CONTENT_LENGTH, length)
                .body(reqwest::Body::wrap_stream(body))
                .send()
                .await
                .with_context(|| format!("cannot send part {number}"))?;
            let response = Api::check(response).await?;
            let etag = match direct {
                Some(_) => Some(
                    response
                        .headers()
                        .get(ETAG)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned)
                        .with_context(|| {
                            format!("storage answered part {number} without an ETag")
                        })?,
                ),
                None => None,
            };
            Ok::<Option<String>, anyhow::Error>(etag)
        }
        .await;
        match result {
            Ok(etag) => {
                if let Some(etag) = etag {
                    state.record_etag(number, etag);
                }
                if api.verbose {
                    progress::note(
                        bar,
                        &format!("sent part {number}/{} ({length} bytes)", plan.parts),
                    );
                }
                return Ok(());
            }
            Err(error) if direct.is_some() && !refreshed && is_forbidden(&error) => {
                // Presigned URLs expire: ask the server to sign this part's again.
                bar.dec(counted.load(Ordering::Relaxed));
                refreshed = true;
                let info = get_upload(api, &plan.id).await?;
                direct = info.part_urls.into_iter().find(|u| u.number == number);
                if direct.is_none() {
                    anyhow::bail!("the server gave no new URL for part {number}");
                }
            }
            Err(error) if attempt < PART_ATTEMPTS && is_transient(&error) => {
                bar.dec(counted.load(Ordering::Relaxed));
                progress::note(bar, &format!("part {number} failed ({error:#}); retrying"));
                tokio::time::sleep(Duration::from_millis(500 << (attempt - 1))).await;
            }
            Err(error) => return Err(error.context(format!("part {number} failed"))),
        }
    }
}

/// Whether storage refused a request as forbidden (an expired presigned URL).
fn is_forbidden(error: &anyhow::Error) -> bool {
    error
        .downcast_ref::<ServerError>()
        .is_some_and(|e| e.status == StatusCode::FORBIDDEN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_of_a_file() {
        let local = Path::new("/tmp/x/model.bin");
        let dest = |d: Option<&str>| file_dest(local, d).map(|p| p.as_string());
        assert_eq!(dest(None).unwrap(), "model.bin");
        assert_eq!(dest(Some("weights/")).unwrap(), "weights/model.bin");
        assert_eq!(
            dest(Some("weights/final.bin")).unwrap(),
            "weights/final.bin"
        );
        assert_eq!(dest(Some("/")).unwrap(), "model.bin");
        assert!(dest(Some("../x")).is_err());
    }

    #[test]
    fn a_plan_resends_only_missing_or_short_parts() {
        let info = UploadInfo {
            upload_id: "u".into(),
            size: Some(25),
            part_size: Some(10),
            parts: Some(3),
            digest: None,
            received: vec![
                ReceivedPart {
                    number: 1,
                    size: 10,
                },
                ReceivedPart { number: 3, size: 4 },
            ],
            part_urls: Vec::new(),
        };
        let plan = Plan::from_info(info, 25, true).unwrap();
        assert_eq!(plan.range(3), (20, 5));
        assert_eq!(plan.missing(), vec![2, 3]);
    }

    #[test]
    fn a_direct_plan_resends_the_parts_without_an_etag() {
        let url = |number| PartUrl {
            number,
            url: format!("http://127.0.0.1:9/p{number}"),
            headers: BTreeMap::new(),
        };
        let info = |urls: Vec<PartUrl>| UploadInfo {
            upload_id: "u".into(),
            size: Some(25),
            part_size: Some(10),
            parts: Some(3),
            digest: None,
            received: Vec::new(),
            part_urls: urls,
        };
        let mut plan = Plan::from_info(info(vec![url(3), url(1), url(2)]), 25, true).unwrap();
        assert!(plan.is_direct());
        assert_eq!(plan.urls[0].url, "http://127.0.0.1:9/p1");
        let etags = BTreeMap::from([(2, "\"b\"".to_string()), (7, "\"x\"".to_string())]);
        plan.adopt_etags(&etags);
        assert_eq!(plan.missing(), vec![1, 3]);
        // A URL missing or doubled is refused rather than sending a part to the wrong place.
        assert!(Plan::from_info(info(vec![url(1), url(2)]), 25, false).is_err());
        assert!(Plan::from_info(info(vec![url(1), url(1), url(3)]), 25, false).is_err());
        assert_eq!(default_part_size(25), 16 << 20);
        assert_eq!(default_part_size(400 << 30), 48 << 20);
    }

    #[test]
    fn state_names_depend_on_every_part_of_the_key() {
        let a = state_file_name("http://h:1", "r", "a/b", "blake3:00");
        assert!(a.ends_with(".json") && a.len() == 37);
        assert_ne!(a, state_file_name("http://h:2", "r", "a/b", "blake3:00"));
        assert_ne!(a, state_file_name("http://h:1", "s", "a/b", "blake3:00"));
        assert_ne!(a, state_file_name("http://h:1", "r", "a/c", "blake3:00"));
        assert_ne!(a, state_file_name("http://h:1", "r", "a/b", "blake3:01"));
    }
}
