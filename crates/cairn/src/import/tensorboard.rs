//! `cairn import tensorboard LOGDIR`: TensorBoard logs into a running Cairn server.
//!
//! Every folder below LOGDIR that holds `*tfevents*` files is one run (named by its path under
//! LOGDIR, `.` for LOGDIR itself), in one experiment (LOGDIR's name unless `--experiment` says
//! otherwise). Its scalars become metrics: each summary tag a key (see
//! `cairn_import::tfevent::metric_key`), each record's step and wall time the points' step and
//! timestamp. Event files are read in order of name, a bounded buffer at a time; a file cut off
//! mid-record (a writer still writing, or killed) is imported up to its last whole record, and a
//! record failing its CRC ends that file with a warning. Images become artifacts
//! (`tensorboard/images/<tag>/step-<step>.<png|jpg|gif>`, a `-<n>` suffix for the n-th of one
//! step) and histograms one JSON-lines artifact per tag (`tensorboard/histograms/<tag>.jsonl`:
//! step, wall time, min, max, count, sum, bucket limits and counts), uploaded once the run's
//! points are in (`--no-media` leaves them out); audio, text and other plugins' tensors are
//! counted in the summary, not imported. Points go to the server in its
//! binary ingest layout, a request once `--batch` points are waiting (checked after each read of
//! the file) and one at the end of each file. A run is created with its first request, starting
//! at the earliest point read by then.
//!
//! Importing twice imports nothing twice: a run's id is derived from the experiment name and
//! the run's path (`PUT /api/v1/runs/{id}` finds it again), every ingest request carries an
//! `Idempotency-Key` naming its file and byte range, and the server stores an exact duplicate
//! point once.

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use cairn_import::tfevent::{self, Event};
use cairn_import::tfrecord::{self, Frame};
use serde_json::json;

use crate::artifacts::client::Api;
use crate::artifacts::progress;

use super::{Columns, binary_body, post_points, present_artifacts, put_run, upload_artifact};

#[derive(Debug, clap::Args)]
pub struct TensorboardArgs {
    /// The log dir (the folder given to `tensorboard --logdir`).
    logdir: PathBuf,
    /// The experiment to import into, created when missing (default: the log dir's name).
    #[arg(long)]
    experiment: Option<String>,
    /// The Cairn server.
    #[arg(long, env = "CAIRN_URL", default_value = "http://127.0.0.1:5000")]
    server: String,
    /// Points gathered before an ingest request is sent (checked after each 8 MiB read).
    #[arg(long, default_value_t = 200_000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    batch: u64,
    /// Leave images and histograms out (they become artifacts otherwise).
    #[arg(long)]
    no_media: bool,
    /// Print each run and file as it is read (on stderr).
    #[arg(long, short)]
    verbose: bool,
}

/// Bytes read from an event file at a time.
const READ_BYTES: usize = 8 << 20;

/// What an import did, printed at the end.
#[derive(Debug, Default)]
struct Tally {
    runs_created: usize,
    runs_existing: usize,
    files: usize,
    records: u64,
    points: u64,
    keys: usize,
    truncated: Vec<String>,
    corrupt: Vec<String>,
    undecodable: u64,
    /// Values not imported, by kind (`image`, `histogram`, …).
    skipped: BTreeMap<String, u64>,
    /// Tags renamed to be valid metric keys.
    renamed: BTreeMap<String, String>,
    images: u64,
    histograms: u64,
    media_files_sent: usize,
}

/// A run's images and histograms, gathered in a scratch folder until its points are in.
struct Media {
    dir: PathBuf,
    /// Artifact path and local file of each image.
    images: Vec<(String, PathBuf)>,
    /// Images so far per (tag, step), for the suffix of a step's second and later images.
    per_step: HashMap<(String, i64), usize>,
    /// One JSON-lines file per histogram tag.
    histograms: BTreeMap<String, (PathBuf, std::io::BufWriter<std::fs::File>)>,
}

/// The extension an encoded image's first bytes call for.
fn image_extension(bytes: &[u8]) -> &'static str {
    if bytes.starts_with(b"\x89PNG") {
        "png"
    } else if bytes.starts_with(&[0xFF, 0xD8]) {
        "jpg"
    } else if bytes.starts_with(b"GIF8") {
        "gif"
    } else {
        "bin"
    }
}

impl Media {
    fn new(root: &Path, run_id: &str) -> anyhow::Result<Media> {
        let dir = root.join(run_id);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(Media {
            dir,
            images: Vec::new(),
            per_step: HashMap::new(),
            histograms: BTreeMap::new(),
        })
    }

    fn image(&mut self, image: &tfevent::Image, step: i64) -> anyhow::Result<bool> {
        let Some(tag) = tfevent::metric_key(&image.tag) else {
            return Ok(false);
        };
        let seen = self.per_step.entry((tag.clone(), step)).or_default();
        let suffix = if *seen == 0 {
            String::new()
        } else {
            format!("-{seen}")
        };
        *seen += 1;
        let name = format!("step-{step}{suffix}.{}", image_extension(&image.encoded));
        let local = self.dir.join(format!("image-{}", self.images.len()));
        std::fs::write(&local, &image.encoded)
            .with_context(|| format!("writing {}", local.display()))?;
        self.images
            .push((format!("tensorboard/images/{tag}/{name}"), local));
        Ok(true)
    }

    fn histogram(
        &mut self,
        histogram: &tfevent::Histogram,
        step: i64,
        wall_time: f64,
    ) -> anyhow::Result<bool> {
        let Some(tag) = tfevent::metric_key(&histogram.tag) else {
            return Ok(false);
        };
        let count = self.histograms.len();
        let (_, out) = match self.histograms.entry(tag) {
            std::collections::btree_map::Entry::Occupied(entry) => entry.into_mut(),
            std::collections::btree_map::Entry::Vacant(entry) => {
                let local = self.dir.join(format!("histogram-{count}.jsonl"));
                let file = std::fs::File::create(&local)
                    .with_context(|| format!("creating {}", local.display()))?;
                entry.insert((local, std::io::BufWriter::new(file)))
            }
        };
        let line = json!({
            "step": step,
            "wall_time": wall_time,
            "min": histogram.min,
            "max": histogram.max,
            "count": histogram.count,
            "sum": histogram.sum,
            "sum_squares": histogram.sum_squares,
            "bucket_limits": histogram.limits,
            "bucket_counts": histogram.counts,
        });
        serde_json::to_writer(&mut *out, &line)?;
        out.write_all(b"\n")?;
        Ok(true)
    }

    /// Uploads what the run does not have yet (same path and size).
    async fn upload(self, api: &Api, run_id: &str, tally: &mut Tally) -> anyhow::Result<()> {
        let mut files = self.images;
        for (tag, (local, mut out)) in self.histograms {
            out.flush()?;
            files.push((format!("tensorboard/histograms/{tag}.jsonl"), local));
        }
        if files.is_empty() {
            return Ok(());
        }
        let present = present_artifacts(api, run_id).await?;
        for (path, local) in files {
            let size = std::fs::metadata(&local)?.len();
            if present.get(&path) != Some(&size) {
                upload_artifact(api, run_id, &path, &local).await?;
                tally.media_files_sent += 1;
            }
            let _ = std::fs::remove_file(&local);
        }
        Ok(())
    }
}

/// The folders below `logdir` (itself included) holding event files, each with its files in
/// name order.
fn find_runs(logdir: &Path) -> anyhow::Result<Vec<(PathBuf, Vec<PathBuf>)>> {
    let mut runs = Vec::new();
    let mut stack = vec![logdir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let mut files = Vec::new();
        let mut dirs = Vec::new();
        for entry in
            std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))?
        {
            let entry = entry?;
            let kind = entry.file_type()?;
            if kind.is_dir() {
                dirs.push(entry.path());
            } else if kind.is_file() && entry.file_name().to_string_lossy().contains("tfevents") {
                files.push(entry.path());
            }
        }
        files.sort();
        dirs.sort();
        if !files.is_empty() {
            runs.push((dir, files));
        }
        stack.extend(dirs.into_iter().rev());
    }
    runs.sort();
    Ok(runs)
}

/// The run's name: its folder's path under the log dir, `.` for the log dir itself.
fn run_name(logdir: &Path, dir: &Path) -> String {
    let relative = dir.strip_prefix(logdir).unwrap_or(dir);
    let parts: Vec<String> = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.is_empty() {
        ".".to_string()
    } else {
        parts.join("/")
    }
}

/// A run id that the same experiment and run path always get (32 hex digits).
fn run_id(experiment: &str, name: &str) -> String {
    let mut hasher = blake3::Hasher::new();
    hasher.update(b"cairn import tensorboard\0");
    hasher.update(experiment.as_bytes());
    hasher.update(b"\0");
    hasher.update(name.as_bytes());
    hasher.finalize().to_hex()[..32].to_string()
}

/// Points waiting to be sent for one run, per metric key.
#[derive(Default)]
struct Pending {
    columns: BTreeMap<String, Columns>,
    points: u64,
}

impl Pending {
    fn add(&mut self, key: &str, step: i64, timestamp: i64, value: f64) {
        let column = self.columns.entry(key.to_string()).or_default();
        column.0.push(step);
        column.1.push(timestamp);
        column.2.push(value);
        self.points += 1;
    }
}

/// One run being imported: where its points go and what it has seen.
struct RunImport<'a> {
    api: &'a Api,
    experiment: &'a str,
    name: &'a str,
    run_id: String,
    /// Whether `PUT /api/v1/runs/{id}` has been sent.
    created: bool,
    pending: Pending,
    /// The byte range (of which file) the pending points came from, for the idempotency key.
    from: (usize, u64),
    first_time: Option<i64>,
    last_time: Option<i64>,
    keys: std::collections::BTreeSet<String>,
    /// Points sent (and acknowledged) so far.
    sent: u64,
    media: Option<Media>,
}

impl RunImport<'_> {
    /// Creates the run unless that was done (an existing run of the same id is taken as is),
    /// starting at the earliest point read so far.
    async fn ensure_created(&mut self, tally: &mut Tally) -> anyhow::Result<()> {
        if self.created {
            return Ok(());
        }
        let mut body = json!({
            "experiment_name": self.experiment,
            "run_name": self.name,
            "tags": [
                {"key": "cairn.import.source", "value": "tensorboard"},
                {"key": "tensorboard.run", "value": self.name},
            ],
        });
        if let Some(start) = self.first_time {
            body["start_time"] = json!(start);
        }
        let (_, created) = put_run(self.api, &self.run_id, &body).await?;
        if created {
            tally.runs_created += 1;
        } else {
            tally.runs_existing += 1;
        }
        self.created = true;
        Ok(())
    }

    /// Sends the pending points (one request; all keys or none are stored).
    async fn flush(&mut self, file: usize, end: u64, tally: &mut Tally) -> anyhow::Result<()> {
        if self.pending.points == 0 {
            self.from = (file, end);
            return Ok(());
        }
        self.ensure_created(tally).await?;
        let body = binary_body(&std::mem::take(&mut self.pending.columns));
        let key = format!(
            "tensorboard:{}:{}:{}-{}:{}",
            self.run_id, self.from.0, self.from.1, file, end
        );
        post_points(self.api, &self.run_id, &key, body).await?;
        self.sent += self.pending.points;
        self.pending.points = 0;
        self.from = (file, end);
        Ok(())
    }

    fn add_event(&mut self, event: &Event, tally: &mut Tally) -> anyhow::Result<()> {
        let timestamp = (event.wall_time * 1000.0).round();
        let timestamp = if timestamp.is_finite() && timestamp >= 0.0 {
            timestamp as i64
        } else {
            0
        };
        if !event.scalars.is_empty() {
            self.first_time = Some(self.first_time.map_or(timestamp, |t| t.min(timestamp)));
            self.last_time = Some(self.last_time.map_or(timestamp, |t| t.max(timestamp)));
        }
        for scalar in &event.scalars {
            let Some(key) = tfevent::metric_key(&scalar.tag) else {
                *tally
                    .skipped
                    .entry("untagged scalar".to_string())
                    .or_default() += 1;
                continue;
            };
            if cairn_core::validation::check_metric_key(&key).is_err() {
                *tally
                    .skipped
                    .entry("scalar with an unusable tag".to_string())
                    .or_default() += 1;
                continue;
            }
            if key != scalar.tag {
                tally.renamed.insert(scalar.tag.clone(), key.clone());
            }
            self.keys.insert(key.clone());
            self.pending.add(&key, event.step, timestamp, scalar.value);
        }
        for other in &event.skipped {
            *tally.skipped.entry(other.kind.clone()).or_default() += 1;
        }
        let unusable = "image or histogram with an unusable tag".to_string();
        match self.media.as_mut() {
            Some(media) => {
                for image in &event.images {
                    if media.image(image, event.step)? {
                        tally.images += 1;
                    } else {
                        *tally.skipped.entry(unusable.clone()).or_default() += 1;
                    }
                }
                for histogram in &event.histograms {
                    if media.histogram(histogram, event.step, event.wall_time)? {
                        tally.histograms += 1;
                    } else {
                        *tally.skipped.entry(unusable.clone()).or_default() += 1;
                    }
                }
            }
            None => {
                let images = event.images.len() as u64;
                let histograms = event.histograms.len() as u64;
                if images > 0 {
                    *tally
                        .skipped
                        .entry("image (--no-media)".to_string())
                        .or_default() += images;
                }
                if histograms > 0 {
                    *tally
                        .skipped
                        .entry("histogram (--no-media)".to_string())
                        .or_default() += histograms;
                }
            }
        }
        Ok(())
    }
}

pub async fn import(args: TensorboardArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let logdir = args
        .logdir
        .canonicalize()
        .with_context(|| format!("no log dir at {}", args.logdir.display()))?;
    if !logdir.is_dir() {
        bail!("{} is not a folder", logdir.display());
    }
    let experiment = match args.experiment {
        Some(name) => name,
        None => logdir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "tensorboard".to_string()),
    };
    let api = Api::new(&args.server, args.verbose)?;
    let runs = find_runs(&logdir)?;
    if runs.is_empty() {
        bail!(
            "no TensorBoard event files (*tfevents*) below {}",
            logdir.display()
        );
    }
    let total_bytes: u64 = runs
        .iter()
        .flat_map(|(_, files)| files)
        .filter_map(|f| f.metadata().ok())
        .map(|m| m.len())
        .sum();
    let bar = progress::bytes(total_bytes, "tensorboard");
    let mut tally = Tally::default();
    let scratch = super::tempdir()?;
    let options = RunOptions {
        batch: args.batch,
        verbose: args.verbose,
        media: (!args.no_media).then(|| scratch.0.clone()),
    };
    for (dir, files) in &runs {
        let name = run_name(&logdir, dir);
        let id = run_id(&experiment, &name);
        if args.verbose {
            progress::note(
                &bar,
                &format!("run {name} ({id}): {} event files", files.len()),
            );
        }
        import_run(
            &api,
            &experiment,
            &name,
            &id,
            files,
            &options,
            &bar,
            &mut tally,
        )
        .await
        .with_context(|| format!("importing run {name} from {}", dir.display()))?;
    }
    bar.finish_and_clear();
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "imported {} points of {} keys into {} runs ({} new, {} already there) of experiment '{}' from {} event files ({} records) in {:.1} s ({:.0} points/s)",
        tally.points,
        tally.keys,
        tally.runs_created + tally.runs_existing,
        tally.runs_created,
        tally.runs_existing,
        experiment,
        tally.files,
        tally.records,
        elapsed,
        tally.points as f64 / elapsed.max(1e-9),
    );
    if tally.images + tally.histograms > 0 {
        println!(
            "imported {} images and {} histograms as artifacts ({} files sent)",
            tally.images, tally.histograms, tally.media_files_sent
        );
    }
    for (kind, count) in &tally.skipped {
        println!("not imported: {count} {kind} values");
    }
    for (tag, key) in &tally.renamed {
        println!("renamed tag '{tag}' to metric '{key}'");
    }
    for file in &tally.truncated {
        println!("cut off mid-record (imported up to its last whole record): {file}");
    }
    for file in &tally.corrupt {
        println!("stopped at a record failing its CRC: {file}");
    }
    if tally.undecodable > 0 {
        println!(
            "skipped {} records that are not readable events",
            tally.undecodable
        );
    }
    Ok(())
}

/// How runs are read.
struct RunOptions {
    batch: u64,
    verbose: bool,
    /// Where images and histograms wait for upload; `None` with `--no-media`.
    media: Option<PathBuf>,
}

#[allow(clippy::too_many_arguments)]
async fn import_run(
    api: &Api,
    experiment: &str,
    name: &str,
    id: &str,
    files: &[PathBuf],
    options: &RunOptions,
    bar: &indicatif::ProgressBar,
    tally: &mut Tally,
) -> anyhow::Result<()> {
    let (batch, verbose) = (options.batch, options.verbose);
    let media = match &options.media {
        Some(root) => Some(Media::new(root, id)?),
        None => None,
    };
    let mut run = RunImport {
        api,
        experiment,
        name,
        run_id: id.to_string(),
        created: false,
        pending: Pending::default(),
        from: (0, 0),
        first_time: None,
        last_time: None,
        keys: Default::default(),
        sent: 0,
        media,
    };
    for (index, path) in files.iter().enumerate() {
        tally.files += 1;
        run.from = (index, 0);
        let label = path.display().to_string();
        let mut file = std::fs::File::open(path).with_context(|| format!("opening {label}"))?;
        let mut buffer: Vec<u8> = Vec::with_capacity(READ_BYTES);
        let mut consumed: u64 = 0;
        let mut eof = false;
        loop {
            let before = buffer.len();
            if !eof {
                buffer.resize(before + READ_BYTES, 0);
                let read = file
                    .read(&mut buffer[before..])
                    .with_context(|| format!("reading {label}"))?;
                buffer.truncate(before + read);
                eof = read == 0;
                bar.inc(read as u64);
            }
            let mut records = tfrecord::records(&buffer);
            let mut stop = None;
            for frame in records.by_ref() {
                match frame {
                    Frame::Record(payload) => {
                        tally.records += 1;
                        match tfevent::decode_event(payload) {
                            Ok(event) => run.add_event(&event, tally)?,
                            Err(error) => {
                                tally.undecodable += 1;
                                if verbose {
                                    progress::note(
                                        bar,
                                        &format!("{label}: a record is not an event: {error}"),
                                    );
                                }
                            }
                        }
                    }
                    Frame::Truncated { .. } => {}
                    Frame::Corrupt { offset, reason } => stop = Some((offset, reason)),
                }
            }
            let used = records.offset();
            consumed += used as u64;
            buffer.drain(..used);
            if run.pending.points >= batch {
                run.flush(index, consumed, tally).await?;
            }
            if let Some((offset, reason)) = stop {
                progress::note(
                    bar,
                    &format!(
                        "warning: {label} at byte {}: {reason}; the rest of the file is skipped",
                        consumed + offset as u64 - used as u64
                    ),
                );
                tally.corrupt.push(label.clone());
                break;
            }
            if eof {
                if !buffer.is_empty() {
                    tally.truncated.push(label.clone());
                }
                break;
            }
        }
        run.flush(index, consumed, tally).await?;
    }
    // A run without a single scalar is still created (it holds the import's tags).
    run.ensure_created(tally).await?;
    tally.points += run.sent;
    tally.keys += run.keys.len();
    if let Some(media) = run.media.take() {
        media.upload(api, &run.run_id, tally).await?;
    }
    finish_run(&run).await?;
    Ok(())
}

/// Marks the run finished at its last point's time.
async fn finish_run(run: &RunImport<'_>) -> anyhow::Result<()> {
    let mut body = json!({"run_id": run.run_id, "status": "FINISHED"});
    if let Some(end) = run.last_time {
        body["end_time"] = json!(end);
    }
    let response = run
        .api
        .http()
        .post(run.api.url(&["api", "2.0", "mlflow", "runs", "update"]))
        .json(&body)
        .send()
        .await
        .context("finishing the run")?;
    Api::check(response).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_names_and_ids() {
        let logdir = Path::new("/logs");
        assert_eq!(run_name(logdir, Path::new("/logs")), ".");
        assert_eq!(run_name(logdir, Path::new("/logs/a/train")), "a/train");
        let id = run_id("exp", "a/train");
        assert_eq!(id.len(), 32);
        assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(id, run_id("exp", "a/train"));
        assert_ne!(id, run_id("exp2", "a/train"));
        assert_ne!(id, run_id("exp", "a/eval"));
    }
}
