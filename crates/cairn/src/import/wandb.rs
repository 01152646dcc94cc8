//! `cairn import wandb PATH`: W&B offline runs into a running Cairn server.
//!
//! PATH is a `wandb/` folder (its `offline-run-*` and `run-*` folders), one run's folder, or one
//! `run-<id>.wandb` file. Files of one run id (a run resumed writes a new folder) are one run,
//! read in folder order, which keeps the run's W&B id. Each file is read in 8 MiB chunks of
//! whole log blocks ([`cairn_import::wandb::Reader`]); what its records say becomes:
//!
//! - the experiment: `--experiment`, else the run's project, else `wandb`;
//! - the run: name, start time, notes (`mlflow.note.content`), group (`cairn.group`), tags
//!   (`cairn.tags`, comma-separated), entity and job type (`cairn.entity`, `cairn.job_type`),
//!   git remote and commit (`mlflow.source.git.*`), host and sweep (`wandb.host`,
//!   `wandb.sweep_id`) — the tags the SDK's W&B shim writes;
//! - config → params (nested keys joined with `.`; strings as they are, other values as JSON;
//!   W&B's own `_wandb` entry left out);
//! - history → metrics (nested keys joined with `/`; each row's `_step` and `_timestamp`; numbers
//!   and booleans; media and text counted, not imported);
//! - system stats → `system/<key>` metrics, one step per sample;
//! - summary → `summary.<key>` tags (JSON) where it differs from the last history value, as the
//!   SDK stores a summary set by hand;
//! - the exit record → status `FINISHED` (exit code 0) or `FAILED`, and the end time; a run with
//!   no exit record (killed, or still running) is `FAILED`;
//! - the run folder's `files/` (output.log, requirements.txt, media…) → artifacts.
//!
//! Running it again imports nothing twice: the run keeps its id, points go in requests whose
//! `Idempotency-Key` names the file and byte range (and the server stores an exact duplicate
//! point once), params are write-once, tags overwrite, files already there are not sent, and a
//! run whose files have not changed since its last import (`cairn.import.fingerprint`) is
//! skipped.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use cairn_import::tfevent::metric_key;
use cairn_import::wandb::{self, Frame, Item, ItemValue, Record, RunInfo};
use serde_json::{Value, json};

use crate::artifacts::client::Api;
use crate::artifacts::progress;

use super::mlflow::FINGERPRINT_TAG;
use super::{
    Columns, binary_body, get_run, log_batch, mlflow_post, post_points, present_artifacts, put_run,
    run_tag, upload_artifact, walk_files,
};

#[derive(Debug, clap::Args)]
pub struct WandbArgs {
    /// A `wandb` folder, one run's folder (`offline-run-…`), or one `run-<id>.wandb` file.
    path: PathBuf,
    /// The experiment to import into, created when missing (default: each run's W&B project).
    #[arg(long)]
    experiment: Option<String>,
    /// The Cairn server.
    #[arg(long, env = "CAIRN_URL", default_value = "http://127.0.0.1:5000")]
    server: String,
    /// Leave the run folders' `files/` (logs, media) out.
    #[arg(long)]
    no_files: bool,
    /// Points gathered before an ingest request is sent.
    #[arg(long, default_value_t = 200_000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    batch: u64,
    /// Print each run and file as it is read (on stderr).
    #[arg(long, short)]
    verbose: bool,
}

/// Bytes read at a time: whole log blocks.
const READ_BYTES: usize = 256 * wandb::BLOCK;

/// What an import did, printed at the end.
#[derive(Debug, Default)]
struct Tally {
    runs_created: usize,
    runs_existing: usize,
    runs_unchanged: usize,
    files: usize,
    records: u64,
    points: u64,
    params: usize,
    artifacts: usize,
    /// Values not imported, by kind.
    skipped: BTreeMap<String, u64>,
    long_params: Vec<String>,
    truncated: Vec<String>,
    corrupt: Vec<String>,
}

/// The `.wandb` files below `path`, grouped by run id (from the file name), each group in
/// folder order.
fn find_runs(path: &Path) -> anyhow::Result<BTreeMap<String, Vec<PathBuf>>> {
    let mut files = Vec::new();
    if path.is_file() {
        files.push(path.to_path_buf());
    } else {
        let mut stack = vec![path.to_path_buf()];
        while let Some(dir) = stack.pop() {
            for entry in
                std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))?
            {
                let entry = entry?;
                let kind = entry.file_type()?;
                if kind.is_dir() {
                    stack.push(entry.path());
                } else if kind.is_file() && run_id_of(&entry.path()).is_some() {
                    files.push(entry.path());
                }
            }
        }
    }
    let mut runs: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    for file in files {
        let id = run_id_of(&file)
            .with_context(|| format!("{} is not named run-<id>.wandb", file.display()))?;
        runs.entry(id).or_default().push(file);
    }
    for group in runs.values_mut() {
        group.sort();
    }
    Ok(runs)
}

/// The run id in a `run-<id>.wandb` file name.
fn run_id_of(file: &Path) -> Option<String> {
    let name = file.file_name()?.to_str()?;
    let id = name.strip_prefix("run-")?.strip_suffix(".wandb")?;
    (!id.is_empty()).then(|| id.to_string())
}

/// A config or summary key path as one key (`.`-joined, as W&B shows nested keys).
fn dotted(path: &[String]) -> String {
    path.join(".")
}

/// Flattens a config value into params: objects by `.`-joined keys; strings as they are, other
/// values as JSON.
fn config_params(prefix: &str, value: &Value, out: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (key, inner) in map {
                config_params(&format!("{prefix}.{key}"), inner, out);
            }
        }
        Value::String(text) => out.push((prefix.to_string(), text.clone())),
        other => out.push((prefix.to_string(), other.to_string())),
    }
}

/// The kind of a value that is not a number (`_type` of W&B media, else "text").
fn kind_of(value: &ItemValue) -> String {
    if let ItemValue::Json(text) = value
        && let Ok(Value::Object(map)) = serde_json::from_str::<Value>(text)
    {
        return match map.get("_type").and_then(Value::as_str) {
            Some(kind) => format!("{kind} values"),
            None => "object values".to_string(),
        };
    }
    "non-numeric values".to_string()
}

/// Everything read of one run, across its files.
#[derive(Default)]
struct RunState {
    info: Option<RunInfo>,
    config: BTreeMap<String, ItemValue>,
    summary: BTreeMap<String, ItemValue>,
    /// The last value logged per metric key.
    last: BTreeMap<String, f64>,
    exit: Option<(i64, i64)>,
    last_time: Option<i64>,
    history_rows: i64,
    stats_rows: i64,
    pending: BTreeMap<String, Columns>,
    waiting: u64,
    /// Where the pending points came from: file index and byte offset.
    from: (usize, u64),
    created: bool,
}

impl RunState {
    fn add(&mut self, key: String, step: i64, timestamp: i64, value: f64) {
        let column = self.pending.entry(key.clone()).or_default();
        column.0.push(step);
        column.1.push(timestamp);
        column.2.push(value);
        self.waiting += 1;
        self.last.insert(key, value);
        self.last_time = Some(self.last_time.map_or(timestamp, |t| t.max(timestamp)));
    }

    fn apply(map: &mut BTreeMap<String, ItemValue>, update: Vec<Item>, remove: Vec<Vec<String>>) {
        for item in update {
            map.insert(dotted(&item.path), item.value);
        }
        for path in remove {
            map.remove(&dotted(&path));
        }
    }

    fn record(&mut self, record: Record, tally: &mut Tally) {
        match record {
            Record::Run(info) => {
                let info = *info;
                for item in &info.config {
                    self.config.insert(dotted(&item.path), item.value.clone());
                }
                for item in &info.summary {
                    self.summary.insert(dotted(&item.path), item.value.clone());
                }
                self.info = Some(match self.info.take() {
                    // A resumed run: the first start time stays.
                    Some(first) => RunInfo {
                        start_time: first.start_time.or(info.start_time),
                        ..info
                    },
                    None => info,
                });
            }
            Record::Config { update, remove } => Self::apply(&mut self.config, update, remove),
            Record::Summary { update, remove } => Self::apply(&mut self.summary, update, remove),
            Record::Exit {
                exit_code,
                runtime_s,
            } => self.exit = Some((exit_code, runtime_s)),
            Record::History { items, step } => self.history(items, step, tally),
            Record::Stats { timestamp, items } => {
                let time = timestamp.unwrap_or(0);
                let step = self.stats_rows;
                self.stats_rows += 1;
                for item in items {
                    let Some(value) = item.value.number() else {
                        continue;
                    };
                    if let Some(key) = metric_key(&format!("system/{}", dotted(&item.path))) {
                        self.add(key, step, time, value);
                    }
                }
            }
            Record::Other(_) => {}
        }
    }

    fn history(&mut self, items: Vec<Item>, step: Option<i64>, tally: &mut Tally) {
        let mut row_step = step;
        let mut timestamp = None;
        // Media logged in a row (`wandb.Image`, tables…) arrive as nested items, one of them
        // `<key>/_type`: everything below such a key is one value, not imported.
        let mut media: Vec<(&[String], String)> = Vec::new();
        for item in &items {
            match item.path.as_slice() {
                [key] if key == "_step" => row_step = item.value.number().map(|s| s as i64),
                [key] if key == "_timestamp" => {
                    timestamp = item.value.number().map(|t| (t * 1000.0).round() as i64)
                }
                [prefix @ .., last] if last == "_type" && !prefix.is_empty() => {
                    let kind = serde_json::from_str::<String>(&item.value.json())
                        .unwrap_or_else(|_| "media".to_string());
                    media.push((prefix, kind));
                }
                _ => {}
            }
        }
        for (_, kind) in &media {
            *tally.skipped.entry(format!("{kind} values")).or_default() += 1;
        }
        let media: Vec<Vec<String>> = media.into_iter().map(|(p, _)| p.to_vec()).collect();
        let step = row_step.unwrap_or(self.history_rows);
        self.history_rows += 1;
        let timestamp = timestamp.or(self.last_time).unwrap_or(0);
        for item in items {
            if item.path.first().is_none_or(|k| k.starts_with('_'))
                || media.iter().any(|p| item.path.starts_with(p))
            {
                continue;
            }
            let Some(value) = item.value.number() else {
                *tally.skipped.entry(kind_of(&item.value)).or_default() += 1;
                continue;
            };
            match metric_key(&item.path.join("/")) {
                Some(key) => self.add(key, step, timestamp, value),
                None => {
                    *tally
                        .skipped
                        .entry("unusable keys".to_string())
                        .or_default() += 1
                }
            }
        }
    }
}

/// One run being imported.
struct RunImport<'a> {
    api: &'a Api,
    args: &'a WandbArgs,
    run_id: String,
    state: RunState,
}

impl RunImport<'_> {
    fn experiment(&self) -> String {
        if let Some(name) = &self.args.experiment {
            return name.clone();
        }
        self.state
            .info
            .as_ref()
            .map(|i| i.project.clone())
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| "wandb".to_string())
    }

    /// Creates the run unless that was done (an existing run of the same id is taken as is).
    async fn ensure_created(&mut self, tally: &mut Tally) -> anyhow::Result<()> {
        if self.state.created {
            return Ok(());
        }
        let info = self.state.info.clone().unwrap_or_default();
        let mut body = json!({
            "experiment_name": self.experiment(),
            "tags": [{"key": "cairn.import.source", "value": "wandb"}],
        });
        if !info.display_name.is_empty() {
            body["run_name"] = json!(info.display_name);
        }
        if let Some(start) = info.start_time {
            body["start_time"] = json!(start);
        }
        let (_, created) = put_run(self.api, &self.run_id, &body).await?;
        if created {
            tally.runs_created += 1;
        } else {
            tally.runs_existing += 1;
        }
        self.state.created = true;
        Ok(())
    }

    /// Sends the pending points, once the run's own record has been read (it names the
    /// experiment) or `force`.
    async fn flush(
        &mut self,
        file: usize,
        end: u64,
        force: bool,
        tally: &mut Tally,
    ) -> anyhow::Result<()> {
        if self.state.waiting == 0 {
            self.state.from = (file, end);
            return Ok(());
        }
        if self.state.info.is_none() && !force {
            return Ok(());
        }
        self.ensure_created(tally).await?;
        let body = binary_body(&std::mem::take(&mut self.state.pending));
        let key = format!(
            "wandb:{}:{}:{}-{}:{}",
            self.run_id, self.state.from.0, self.state.from.1, file, end
        );
        post_points(self.api, &self.run_id, &key, body).await?;
        tally.points += self.state.waiting;
        self.state.waiting = 0;
        self.state.from = (file, end);
        Ok(())
    }

    async fn read_file(
        &mut self,
        index: usize,
        path: &Path,
        bar: &indicatif::ProgressBar,
        tally: &mut Tally,
    ) -> anyhow::Result<()> {
        let label = path.display().to_string();
        let mut file = std::fs::File::open(path).with_context(|| format!("opening {label}"))?;
        let mut reader = wandb::Reader::new();
        let mut buffer = vec![0u8; READ_BYTES];
        let mut frames = Vec::new();
        let mut consumed: u64 = 0;
        let mut damaged = false;
        loop {
            // Fill the buffer (whole blocks) unless the file ends first.
            let mut filled = 0;
            while filled < buffer.len() {
                let read = file
                    .read(&mut buffer[filled..])
                    .with_context(|| format!("reading {label}"))?;
                if read == 0 {
                    break;
                }
                filled += read;
            }
            if filled == 0 {
                break;
            }
            bar.inc(filled as u64);
            reader
                .feed(&buffer[..filled], &mut frames)
                .map_err(|e| anyhow::anyhow!("{label}: {e}"))?;
            consumed += filled as u64;
            for frame in frames.drain(..) {
                match frame {
                    Frame::Record(bytes) => {
                        tally.records += 1;
                        match wandb::decode_record(&bytes) {
                            Ok(record) => self.state.record(record, tally),
                            Err(error) => {
                                *tally
                                    .skipped
                                    .entry("unreadable records".to_string())
                                    .or_default() += 1;
                                if self.args.verbose {
                                    progress::note(bar, &format!("{label}: {error}"));
                                }
                            }
                        }
                    }
                    Frame::Corrupt { offset, reason } => {
                        progress::note(
                            bar,
                            &format!(
                                "warning: {label} at byte {offset}: {reason}; skipped to the next block"
                            ),
                        );
                        damaged = true;
                    }
                }
            }
            if self.state.waiting >= self.args.batch {
                self.flush(index, consumed, false, tally).await?;
            }
            if filled < buffer.len() {
                break;
            }
        }
        if reader.truncated() {
            tally.truncated.push(label.clone());
        }
        if damaged {
            tally.corrupt.push(label);
        }
        self.flush(index, consumed, true, tally).await
    }

    /// Params, tags, status and end time, once every file is read.
    async fn finish(&mut self, tally: &mut Tally) -> anyhow::Result<()> {
        self.ensure_created(tally).await?;
        let info = self.state.info.clone().unwrap_or_default();
        let mut params = Vec::new();
        for (key, value) in &self.state.config {
            if key == "_wandb" || key.starts_with("_wandb.") {
                continue;
            }
            let parsed = serde_json::from_str::<Value>(&value.json()).unwrap_or(Value::Null);
            config_params(key, &parsed, &mut params);
        }
        params.retain(|(key, value)| {
            let fits = value.chars().count() <= cairn_core::validation::MAX_PARAM_VAL_LENGTH
                && cairn_core::validation::check_param_key(key).is_ok();
            if !fits {
                tally.long_params.push(format!("{} ({key})", self.run_id));
            }
            fits
        });
        let mut tags: Vec<(String, String)> = Vec::new();
        let mut tag = |key: &str, value: &str| {
            if !value.is_empty() {
                tags.push((key.to_string(), value.to_string()));
            }
        };
        tag("mlflow.note.content", &info.notes);
        tag("cairn.group", &info.group);
        let mut labels = info.tags.clone();
        labels.sort();
        labels.dedup();
        tag("cairn.tags", &labels.join(","));
        tag("cairn.entity", &info.entity);
        tag("cairn.job_type", &info.job_type);
        tag("mlflow.source.git.commit", &info.git_commit);
        tag("mlflow.source.git.repoURL", &info.git_remote);
        tag("wandb.host", &info.host);
        tag("wandb.sweep_id", &info.sweep_id);
        for (key, value) in &self.state.summary {
            if key.starts_with('_') {
                continue;
            }
            let last = self.state.last.get(&key.replace('.', "/"));
            let same = match (value.number(), last) {
                (Some(a), Some(b)) => a == *b || (a.is_nan() && b.is_nan()),
                _ => false,
            };
            if !same {
                let tag_key = format!("summary.{key}");
                if cairn_core::validation::check_tag_key(&tag_key).is_ok() {
                    tag(&tag_key, &value.json());
                }
            }
        }
        log_batch(self.api, &self.run_id, &params, &tags).await?;
        tally.params += params.len();
        let status = match self.state.exit {
            Some((0, _)) => "FINISHED",
            _ => "FAILED",
        };
        let end = match (info.start_time, self.state.exit) {
            (Some(start), Some((_, runtime))) if runtime > 0 => Some(start + runtime * 1000),
            _ => self.state.last_time.or(info.start_time),
        };
        let mut update = json!({"run_id": self.run_id, "status": status});
        if let Some(end) = end {
            update["end_time"] = json!(end);
        }
        mlflow_post(self.api, "runs/update", &update).await?;
        Ok(())
    }

    /// Uploads the files of each run folder's `files/` that Cairn does not have yet.
    async fn upload_files(&self, files: &[PathBuf], tally: &mut Tally) -> anyhow::Result<()> {
        let present = present_artifacts(self.api, &self.run_id).await?;
        for wandb_file in files {
            let Some(folder) = wandb_file.parent().map(|p| p.join("files")) else {
                continue;
            };
            for (path, local) in walk_files(&folder)? {
                let size = std::fs::metadata(&local)?.len();
                if present.get(&path) == Some(&size) {
                    continue;
                }
                upload_artifact(self.api, &self.run_id, &path, &local).await?;
                tally.artifacts += 1;
            }
        }
        Ok(())
    }
}

/// A fingerprint of a run's files: each `.wandb` file's and `files/` entry's path, size and
/// modification time, and whether files were imported.
fn fingerprint(files: &[PathBuf], with_files: bool) -> anyhow::Result<String> {
    let mut hasher = blake3::Hasher::new();
    hasher.update(if with_files {
        b"files\n"
    } else {
        b"no-files\n"
    });
    let mut stamp = |path: &Path| -> anyhow::Result<()> {
        let info = std::fs::metadata(path)?;
        let modified = info
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        hasher.update(format!("{}\0{}\0{modified}\n", path.display(), info.len()).as_bytes());
        Ok(())
    };
    for file in files {
        stamp(file)?;
        if with_files && let Some(folder) = file.parent() {
            for (_, local) in walk_files(&folder.join("files"))? {
                stamp(&local)?;
            }
        }
    }
    Ok(format!("wandb:{}", &hasher.finalize().to_hex()[..32]))
}

pub async fn import(args: WandbArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    if !args.path.exists() {
        bail!("no W&B folder or run file at {}", args.path.display());
    }
    let runs = find_runs(&args.path)?;
    if runs.is_empty() {
        bail!(
            "no W&B run files (run-<id>.wandb) below {}",
            args.path.display()
        );
    }
    let api = Api::new(&args.server, args.verbose)?;
    let total: u64 = runs
        .values()
        .flatten()
        .filter_map(|f| f.metadata().ok())
        .map(|m| m.len())
        .sum();
    let bar = progress::bytes(total, "wandb");
    let mut tally = Tally::default();
    let mut failures = Vec::new();
    for (run_id, files) in &runs {
        let print = fingerprint(files, !args.no_files)?;
        if let Some(existing) = get_run(&api, run_id).await?
            && run_tag(&existing, FINGERPRINT_TAG) == Some(print.as_str())
        {
            tally.runs_unchanged += 1;
            bar.inc(
                files
                    .iter()
                    .filter_map(|f| f.metadata().ok())
                    .map(|m| m.len())
                    .sum(),
            );
            continue;
        }
        if args.verbose {
            progress::note(&bar, &format!("run {run_id}: {} files", files.len()));
        }
        let mut run = RunImport {
            api: &api,
            args: &args,
            run_id: run_id.clone(),
            state: RunState::default(),
        };
        let result: anyhow::Result<()> = async {
            for (index, file) in files.iter().enumerate() {
                tally.files += 1;
                run.state.from = (index, 0);
                run.read_file(index, file, &bar, &mut tally).await?;
            }
            run.finish(&mut tally).await?;
            if !args.no_files {
                run.upload_files(files, &mut tally).await?;
            }
            mlflow_post(
                &api,
                "runs/set-tag",
                &json!({"run_id": run_id, "key": FINGERPRINT_TAG, "value": print}),
            )
            .await?;
            Ok(())
        }
        .await;
        if let Err(error) = result {
            let line = format!("run {run_id}: {error:#}");
            progress::note(&bar, &format!("failed: {line}"));
            failures.push(line);
        }
    }
    bar.finish_and_clear();
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "imported {} runs ({} new, {} already there, {} unchanged and skipped) from {} files ({} records): {} metric points, {} params, {} files, in {:.1} s ({:.0} points/s)",
        tally.runs_created + tally.runs_existing + tally.runs_unchanged,
        tally.runs_created,
        tally.runs_existing,
        tally.runs_unchanged,
        tally.files,
        tally.records,
        tally.points,
        tally.params,
        tally.artifacts,
        elapsed,
        tally.points as f64 / elapsed.max(1e-9),
    );
    for (kind, count) in &tally.skipped {
        println!("not imported: {count} {kind}");
    }
    for param in &tally.long_params {
        println!("not imported: config value too long or key unusable as a param: {param}");
    }
    for file in &tally.truncated {
        println!("cut off mid-record (imported up to its last whole record): {file}");
    }
    for file in &tally.corrupt {
        println!("damaged records skipped: {file}");
    }
    if !failures.is_empty() {
        for failure in &failures {
            eprintln!("failed: {failure}");
        }
        bail!(
            "{} runs were not imported (see above); run the import again after fixing the cause",
            failures.len()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_from_file_names() {
        assert_eq!(
            run_id_of(Path::new(
                "/w/offline-run-20261127_074037-7l0dlumk/run-7l0dlumk.wandb"
            ))
            .as_deref(),
            Some("7l0dlumk")
        );
        assert_eq!(run_id_of(Path::new("run-.wandb")), None);
        assert_eq!(run_id_of(Path::new("debug.log")), None);
    }

    #[test]
    fn config_values_flatten_into_params() {
        let mut out = Vec::new();
        config_params(
            "opt",
            &json!({"name": "adam", "beta": 0.9, "sched": {"kind": "cos"}}),
            &mut out,
        );
        config_params("layers", &json!([64, 64]), &mut out);
        config_params("flag", &json!(true), &mut out);
        out.sort();
        assert_eq!(
            out,
            vec![
                ("flag".to_string(), "true".to_string()),
                ("layers".to_string(), "[64,64]".to_string()),
                ("opt.beta".to_string(), "0.9".to_string()),
                ("opt.name".to_string(), "adam".to_string()),
                ("opt.sched.kind".to_string(), "cos".to_string()),
            ]
        );
    }

    #[test]
    fn history_rows_take_their_step_and_time() {
        let mut state = RunState::default();
        let mut tally = Tally::default();
        let item = |k: &[&str], v: &str| Item {
            path: k.iter().map(|s| s.to_string()).collect(),
            value: ItemValue::Json(v.to_string()),
        };
        state.record(
            Record::History {
                items: vec![
                    item(&["_step"], "4"),
                    item(&["_timestamp"], "1780000000.5"),
                    item(&["_runtime"], "3"),
                    item(&["loss"], "0.5"),
                    item(&["nested", "x"], "2"),
                    item(&["img"], "{\"_type\": \"table\"}"),
                    item(&["sample", "_type"], "\"image-file\""),
                    item(&["sample", "path"], "\"media/x.png\""),
                    item(&["sample", "width"], "4"),
                ],
                step: None,
            },
            &mut tally,
        );
        assert_eq!(
            state.pending["loss"],
            (vec![4], vec![1_780_000_000_500], vec![0.5])
        );
        assert_eq!(state.pending["nested/x"].2, vec![2.0]);
        assert_eq!(state.pending.len(), 2);
        assert_eq!(tally.skipped["image-file values"], 1);
        assert_eq!(tally.skipped["table values"], 1);
        assert_eq!(tally.skipped.len(), 2);
    }
}
