//! An MLflow file store (`mlruns/`) as MLflow's `FileStore` writes it:
//!
//! ```text
//! mlruns/<experiment id>/meta.yaml              name, lifecycle_stage, …
//! mlruns/<experiment id>/tags/<key>             one file per tag, its value the contents
//! mlruns/<experiment id>/<run id>/meta.yaml     run_name, status (a number), start/end, …
//! mlruns/<experiment id>/<run id>/params/<key>  likewise; a key holding `/` is a sub-folder
//! mlruns/<experiment id>/<run id>/tags/<key>
//! mlruns/<experiment id>/<run id>/metrics/<key> a line per point: `timestamp value step`
//! mlruns/<experiment id>/<run id>/inputs/<id>/meta.yaml   a dataset or model input
//! mlruns/<experiment id>/<run id>/artifacts/…   unless meta.yaml's artifact_uri is elsewhere
//! mlruns/<experiment id>/datasets/<id>/meta.yaml
//! mlruns/<experiment id>/models/<model id>/{meta.yaml,params,tags,artifacts}
//! mlruns/.trash/<experiment id>/…               deleted experiments
//! ```
//!
//! A run's fingerprint hashes its `meta.yaml` and the path, size and modification time of
//! every file under its params, tags, metrics and inputs.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use yaml_rust2::{Yaml, YamlLoader};

use super::{DatasetInput, Experiment, Model, Owner, Point, Run, SourceFile};
use crate::import::walk_files;

/// Folders of an experiment that are not runs.
const NOT_RUNS: [&str; 5] = ["tags", "datasets", "models", "traces", ".trash"];

pub struct FileStore {
    root: PathBuf,
}

/// A `meta.yaml` file read as a mapping.
struct Meta(Yaml);

impl Meta {
    fn read(path: &Path) -> anyhow::Result<Meta> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let mut documents = YamlLoader::load_from_str(&text)
            .with_context(|| format!("{} is not YAML", path.display()))?;
        if documents.is_empty() {
            bail!("{} is empty", path.display());
        }
        Ok(Meta(documents.swap_remove(0)))
    }

    /// A scalar as text (`None` for null or absent).
    fn text(&self, key: &str) -> Option<String> {
        scalar(&self.0[key])
    }

    fn int(&self, key: &str) -> Option<i64> {
        match &self.0[key] {
            Yaml::Integer(n) => Some(*n),
            Yaml::String(s) => s.parse().ok(),
            _ => None,
        }
    }

    /// A mapping of scalars (`tags:` of an input), in file order.
    fn pairs(&self, key: &str) -> Vec<(String, String)> {
        match &self.0[key] {
            Yaml::Hash(map) => map
                .iter()
                .filter_map(|(k, v)| Some((scalar(k)?, scalar(v).unwrap_or_default())))
                .collect(),
            _ => Vec::new(),
        }
    }
}

fn scalar(value: &Yaml) -> Option<String> {
    match value {
        Yaml::String(s) | Yaml::Real(s) => Some(s.clone()),
        Yaml::Integer(n) => Some(n.to_string()),
        Yaml::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

/// MLflow's `RunStatus` numbers as names.
fn run_status(number: Option<i64>) -> String {
    match number {
        Some(1) => "RUNNING",
        Some(2) => "SCHEDULED",
        Some(4) => "FAILED",
        Some(5) => "KILLED",
        _ => "FINISHED",
    }
    .to_string()
}

/// MLflow's `LoggedModelStatus` numbers as names (0, unspecified, as `None`).
fn model_status(number: Option<i64>) -> Option<String> {
    match number {
        Some(1) => Some("LOGGED_MODEL_PENDING".to_string()),
        Some(2) => Some("LOGGED_MODEL_READY".to_string()),
        Some(3) => Some("LOGGED_MODEL_UPLOAD_FAILED".to_string()),
        _ => None,
    }
}

/// A local path from an artifact URI (`file:///x`, or a bare path); `None` for other schemes.
fn local_uri(uri: &str) -> Option<PathBuf> {
    if let Some(path) = uri.strip_prefix("file://") {
        // `file:///abs` and `file://localhost/abs`.
        let path = path.strip_prefix("localhost").unwrap_or(path);
        return Some(PathBuf::from(path));
    }
    (!uri.contains("://") && !uri.is_empty()).then(|| PathBuf::from(uri))
}

/// Every file below `dir` as key → contents (params and tags).
fn key_files(dir: &Path) -> anyhow::Result<Vec<(String, String)>> {
    walk_files(dir)?
        .into_iter()
        .map(|(key, path)| {
            let value = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            Ok((key, value))
        })
        .collect()
}

/// Parses one line of a metric file: `timestamp value step` (older files: no step, which is 0;
/// a logged model's files add the run id).
pub fn parse_point(line: &str) -> Option<Point> {
    let mut fields = line.split_whitespace();
    let timestamp = fields.next()?.parse::<i64>().ok()?;
    let value = fields.next()?.parse::<f64>().ok()?;
    let step = match fields.next() {
        Some(step) => step.parse::<i64>().ok()?,
        None => 0,
    };
    Some(Point {
        step,
        timestamp,
        value,
    })
}

impl FileStore {
    pub fn open(root: &Path) -> anyhow::Result<FileStore> {
        let root = root
            .canonicalize()
            .with_context(|| format!("no MLflow file store at {}", root.display()))?;
        if !root.is_dir() {
            bail!("{} is not a folder", root.display());
        }
        let store = FileStore { root };
        if store.experiment_dirs()?.is_empty() {
            bail!(
                "{} is not an MLflow file store: no <experiment id>/meta.yaml in it",
                store.root.display()
            );
        }
        Ok(store)
    }

    /// (folder, deleted) of every experiment.
    fn experiment_dirs(&self) -> anyhow::Result<Vec<(PathBuf, bool)>> {
        let mut dirs = Vec::new();
        for (folder, deleted) in [(self.root.clone(), false), (self.root.join(".trash"), true)] {
            if !folder.is_dir() {
                continue;
            }
            for entry in std::fs::read_dir(&folder)
                .with_context(|| format!("reading {}", folder.display()))?
            {
                let path = entry?.path();
                if path.join("meta.yaml").is_file() {
                    dirs.push((path, deleted));
                }
            }
        }
        dirs.sort();
        Ok(dirs)
    }

    fn experiment_dir(&self, experiment: &Experiment) -> PathBuf {
        let live = self.root.join(&experiment.id);
        if live.join("meta.yaml").is_file() {
            live
        } else {
            self.root.join(".trash").join(&experiment.id)
        }
    }

    pub fn experiments(&self) -> anyhow::Result<Vec<Experiment>> {
        let mut experiments = Vec::new();
        for (dir, in_trash) in self.experiment_dirs()? {
            let meta = Meta::read(&dir.join("meta.yaml"))?;
            let id = meta.text("experiment_id").unwrap_or_else(|| {
                dir.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            });
            let Some(name) = meta.text("name") else {
                eprintln!(
                    "warning: {} has no experiment name; skipped",
                    dir.join("meta.yaml").display()
                );
                continue;
            };
            experiments.push(Experiment {
                id,
                name,
                deleted: in_trash || meta.text("lifecycle_stage").as_deref() == Some("deleted"),
                tags: key_files(&dir.join("tags"))?,
            });
        }
        Ok(experiments)
    }

    pub fn runs(&self, experiment: &Experiment) -> anyhow::Result<Vec<Run>> {
        let dir = self.experiment_dir(experiment);
        let mut runs = Vec::new();
        let mut folders: Vec<PathBuf> = std::fs::read_dir(&dir)
            .with_context(|| format!("reading {}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.join("meta.yaml").is_file()
                    && p.file_name()
                        .is_some_and(|n| !NOT_RUNS.contains(&n.to_string_lossy().as_ref()))
            })
            .collect();
        folders.sort();
        for folder in folders {
            runs.push(self.run(&dir, &folder)?);
        }
        Ok(runs)
    }

    fn run(&self, experiment_dir: &Path, folder: &Path) -> anyhow::Result<Run> {
        let meta_path = folder.join("meta.yaml");
        let meta = Meta::read(&meta_path)?;
        let run_id = meta
            .text("run_id")
            .or_else(|| meta.text("run_uuid"))
            .with_context(|| format!("{} has no run_id", meta_path.display()))?;
        let params = key_files(&folder.join("params"))?;
        let tags = key_files(&folder.join("tags"))?;
        let metric_keys: Vec<String> = walk_files(&folder.join("metrics"))?
            .into_iter()
            .map(|(key, _)| key)
            .collect();
        let mut datasets = Vec::new();
        let mut model_inputs = Vec::new();
        for (relative, path) in walk_files(&folder.join("inputs"))? {
            if !relative.ends_with("meta.yaml") {
                continue;
            }
            let input = Meta::read(&path)?;
            let Some(source_id) = input.text("source_id") else {
                continue;
            };
            match input.text("source_type").as_deref() {
                Some("DATASET") => {
                    let dataset_path = experiment_dir
                        .join("datasets")
                        .join(&source_id)
                        .join("meta.yaml");
                    let dataset = Meta::read(&dataset_path)?;
                    datasets.push(DatasetInput {
                        name: dataset.text("name").unwrap_or_default(),
                        digest: dataset.text("digest").unwrap_or_default(),
                        source_type: dataset.text("source_type").unwrap_or_default(),
                        source: dataset.text("source").unwrap_or_default(),
                        schema: dataset.text("schema"),
                        profile: dataset.text("profile"),
                        tags: input.pairs("tags"),
                    });
                }
                Some("MODEL") => model_inputs.push(source_id),
                _ => {}
            }
        }
        let mut hasher = blake3::Hasher::new();
        hasher.update(&std::fs::read(&meta_path)?);
        for part in ["params", "tags", "metrics", "inputs"] {
            for (relative, path) in walk_files(&folder.join(part))? {
                let info = std::fs::metadata(&path)?;
                let modified = info
                    .modified()
                    .ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map(|d| d.as_nanos())
                    .unwrap_or(0);
                hasher
                    .update(format!("{part}/{relative}\0{}\0{modified}\n", info.len()).as_bytes());
            }
        }
        let run_name = meta
            .text("run_name")
            .filter(|n| !n.is_empty())
            .or_else(|| {
                tags.iter()
                    .find(|(k, _)| k == "mlflow.runName")
                    .map(|(_, v)| v.clone())
            })
            .unwrap_or_default();
        Ok(Run {
            run_id,
            run_name,
            user_id: meta.text("user_id").unwrap_or_default(),
            status: run_status(meta.int("status")),
            start_time: meta.int("start_time"),
            end_time: meta.int("end_time"),
            deleted: meta.text("lifecycle_stage").as_deref() == Some("deleted"),
            params,
            tags,
            metric_keys,
            datasets,
            model_inputs,
            fingerprint: format!("files:{}", &hasher.finalize().to_hex()[..32]),
            location: Some(folder.to_path_buf()),
        })
    }

    pub fn models(&self, experiment: &Experiment) -> anyhow::Result<Vec<Model>> {
        let dir = self.experiment_dir(experiment).join("models");
        if !dir.is_dir() {
            return Ok(Vec::new());
        }
        let mut folders: Vec<PathBuf> = std::fs::read_dir(&dir)
            .with_context(|| format!("reading {}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.join("meta.yaml").is_file())
            .collect();
        folders.sort();
        let mut models = Vec::new();
        for folder in folders {
            let meta_path = folder.join("meta.yaml");
            let meta = Meta::read(&meta_path)?;
            let model_id = meta
                .text("model_id")
                .with_context(|| format!("{} has no model_id", meta_path.display()))?;
            let stored = meta
                .text("artifact_location")
                .and_then(|uri| local_uri(&uri))
                .filter(|p| p.is_dir());
            models.push(Model {
                name: meta.text("name").unwrap_or_default(),
                model_type: meta.text("model_type").filter(|t| !t.is_empty()),
                source_run_id: meta.text("source_run_id").filter(|r| !r.is_empty()),
                status: model_status(meta.int("status")),
                creation_timestamp: meta.int("creation_timestamp"),
                deleted: meta.text("lifecycle_stage").as_deref() == Some("deleted"),
                params: key_files(&folder.join("params"))?,
                tags: key_files(&folder.join("tags"))?,
                location: stored.or_else(|| Some(folder.join("artifacts"))),
                model_id,
            });
        }
        Ok(models)
    }

    pub fn history(&self, run: &Run, key: &str) -> anyhow::Result<Vec<Point>> {
        let folder = run.location.as_ref().context("a run without a folder")?;
        let path = folder.join("metrics").join(key);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let mut points = Vec::new();
        for (number, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            match parse_point(line) {
                Some(point) => points.push(point),
                None => bail!("{} line {}: not a metric point", path.display(), number + 1),
            }
        }
        Ok(points)
    }

    /// The folder holding the owner's artifacts: where `meta.yaml` says, else the store's own
    /// `artifacts` folder (a store moved from another machine); `None` when they are kept
    /// outside the file system (an `s3://` URI, say).
    fn artifact_root(&self, owner: Owner<'_>) -> anyhow::Result<Option<PathBuf>> {
        match owner {
            Owner::Run(run) => {
                let folder = run.location.as_ref().context("a run without a folder")?;
                let own = folder.join("artifacts");
                let meta = Meta::read(&folder.join("meta.yaml"))?;
                match meta.text("artifact_uri") {
                    Some(uri) => match local_uri(&uri) {
                        Some(path) if path.is_dir() => Ok(Some(path)),
                        Some(_) => Ok(Some(own)),
                        None if own.is_dir() => Ok(Some(own)),
                        None => Ok(None),
                    },
                    None => Ok(Some(own)),
                }
            }
            Owner::Model(model) => Ok(model.location.clone()),
        }
    }

    pub fn artifacts(&self, owner: Owner<'_>) -> anyhow::Result<Option<Vec<SourceFile>>> {
        let Some(root) = self.artifact_root(owner)? else {
            return Ok(None);
        };
        let files = walk_files(&root)?
            .into_iter()
            .map(|(path, full)| {
                let size = std::fs::metadata(&full)?.len();
                Ok(SourceFile { path, size })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Some(files))
    }

    pub fn local(&self, owner: Owner<'_>, file: &SourceFile) -> anyhow::Result<PathBuf> {
        let root = self
            .artifact_root(owner)?
            .context("artifacts outside the file system")?;
        Ok(root.join(&file.path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_lines() {
        assert_eq!(
            parse_point("1795764207794 0.25 3"),
            Some(Point {
                step: 3,
                timestamp: 1795764207794,
                value: 0.25
            })
        );
        assert_eq!(parse_point("17 1.5").map(|p| p.step), Some(0));
        assert_eq!(
            parse_point("17 2.0 4 5f44ee3e52454166b0cebb763dfca129").map(|p| p.step),
            Some(4)
        );
        assert!(parse_point("17 nan 1").is_some_and(|p| p.value.is_nan()));
        assert_eq!(
            parse_point("17 -inf 1").map(|p| p.value),
            Some(f64::NEG_INFINITY)
        );
        assert_eq!(parse_point("x 1 1"), None);
        assert_eq!(parse_point("17"), None);
    }

    #[test]
    fn meta_files_with_quoting_and_folded_values() {
        let dir = std::env::temp_dir().join(format!("cairn-meta-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("meta.yaml");
        std::fs::write(
            &path,
            "experiment_id: '142796625823081860'\nname: 'it''s'\nstatus: 3\nend_time: null\n\
             schema: '{\"mlflow_colspec\": [{\"type\": \"long\", \"name\": \"x\", \"required\":\n  true}]}'\n\
             tags:\n  mlflow.data.context: training\n  n: 1\n",
        )
        .unwrap();
        let meta = Meta::read(&path).unwrap();
        assert_eq!(meta.text("experiment_id").unwrap(), "142796625823081860");
        assert_eq!(meta.text("name").unwrap(), "it's");
        assert_eq!(meta.int("status"), Some(3));
        assert_eq!(meta.int("end_time"), None);
        assert_eq!(
            meta.text("schema").unwrap(),
            "{\"mlflow_colspec\": [{\"type\": \"long\", \"name\": \"x\", \"required\": true}]}"
        );
        assert_eq!(
            meta.pairs("tags"),
            vec![
                ("mlflow.data.context".to_string(), "training".to_string()),
                ("n".to_string(), "1".to_string())
            ]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn artifact_uris() {
        assert_eq!(
            local_uri("file:///tmp/mlruns/1/a/artifacts"),
            Some(PathBuf::from("/tmp/mlruns/1/a/artifacts"))
        );
        assert_eq!(local_uri("file://localhost/x"), Some(PathBuf::from("/x")));
        assert_eq!(local_uri("./mlruns/1"), Some(PathBuf::from("./mlruns/1")));
        assert_eq!(local_uri("s3://bucket/x"), None);
        assert_eq!(run_status(Some(5)), "KILLED");
        assert_eq!(model_status(Some(2)).as_deref(), Some("LOGGED_MODEL_READY"));
        assert_eq!(model_status(Some(0)), None);
    }
}
