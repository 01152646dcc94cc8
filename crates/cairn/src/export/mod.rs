//! `cairn export`: the runs of experiments (optionally filtered) from a running server into CSV
//! or Parquet files for pandas, polars and DuckDB.
//!
//! - `runs.csv` / `runs.parquet`, one row per run, wide: the run's attributes, then
//!   `params.<key>`, then per metric key `metrics.<key>` (the latest value) and
//!   `metrics.<key>.min|max|mean|count`, then `tags.<key>`; columns sorted by key, empty where a
//!   run lacks the value.
//! - `metrics.csv` / `metrics.parquet`, one row per point, long:
//!   `run_id,key,step,timestamp,value` (timestamps in milliseconds since the epoch; a UTC
//!   timestamp type in Parquet), every point of every key, read through the binary points route.
//!
//! Both formats write the same typed tables ([`table`]); [`parquet`] writes them as row groups.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, bail};
use serde_json::{Value, json};

use crate::artifacts::client::{Api, is_not_found};

mod parquet;
pub mod table;

use table::{Cells, IntKind, Table, field, number};

/// The files' format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Csv,
    Parquet,
}

#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// Experiments to export, by name or id (repeat the option for several).
    #[arg(long = "experiment", required = true, value_name = "NAME_OR_ID")]
    experiments: Vec<String>,
    /// Only the runs this filter selects (MLflow's run filter language, e.g.
    /// `params.lr = '0.01' and metrics.loss < 0.5`).
    #[arg(long)]
    filter: Option<String>,
    /// The files' format: `runs.csv` and `metrics.csv`, or `runs.parquet` and
    /// `metrics.parquet` (Snappy-compressed; timestamps as UTC timestamps).
    #[arg(long, value_enum, default_value = "csv")]
    format: Format,
    /// The folder to write the files into (created when missing).
    #[arg(long, short, default_value = "cairn-export")]
    out: PathBuf,
    /// Write the runs table only, not every point of every metric.
    #[arg(long)]
    no_history: bool,
    /// The Cairn server.
    #[arg(long, env = "CAIRN_URL", default_value = "http://127.0.0.1:5000")]
    server: String,
}

/// Runs asked for per search request, and per summaries request (the route's limit).
const PAGE: usize = 1000;

pub fn run(args: ExportArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(export(args))
}

/// A JSON number or one of the API's strings for non-finite doubles.
fn json_number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => match s.as_str() {
            "NaN" => Some(f64::NAN),
            "Infinity" => Some(f64::INFINITY),
            "-Infinity" => Some(f64::NEG_INFINITY),
            other => other.parse().ok(),
        },
        _ => None,
    }
}

/// The experiment's id: `name_or_id` as an id when one exists, else as a name.
async fn experiment_id(api: &Api, name_or_id: &str) -> anyhow::Result<String> {
    let by_id = api
        .http()
        .get(api.url(&["api", "2.0", "mlflow", "experiments", "get"]))
        .query(&[("experiment_id", name_or_id)])
        .send()
        .await?;
    if by_id.status().is_success() {
        return Ok(name_or_id.to_string());
    }
    let by_name = api
        .http()
        .get(api.url(&["api", "2.0", "mlflow", "experiments", "get-by-name"]))
        .query(&[("experiment_name", name_or_id)])
        .send()
        .await?;
    match Api::json::<Value>(by_name).await {
        Ok(answer) => answer["experiment"]["experiment_id"]
            .as_str()
            .map(str::to_string)
            .context("the server's answer has no experiment id"),
        Err(error) if is_not_found(&error) => {
            bail!("no experiment with the id or name '{name_or_id}'")
        }
        Err(error) => Err(error),
    }
}

/// Every run the search selects (all pages).
async fn search(
    api: &Api,
    experiment_ids: &[String],
    filter: Option<&str>,
) -> anyhow::Result<Vec<Value>> {
    let mut runs = Vec::new();
    loop {
        let mut body = json!({
            "experiment_ids": experiment_ids,
            "order_by": ["attributes.start_time ASC", "attributes.run_id ASC"],
            "offset": runs.len(),
            "limit": PAGE,
        });
        if let Some(filter) = filter {
            body["filter"] = json!(filter);
        }
        let response = api
            .http()
            .post(api.url(&["api", "v1", "runs", "search"]))
            .json(&body)
            .send()
            .await
            .context("searching runs")?;
        let page: Value = Api::json(response).await?;
        let rows = page["runs"].as_array().cloned().unwrap_or_default();
        let total = page["total"].as_u64().unwrap_or(0) as usize;
        let done = rows.is_empty();
        runs.extend(rows);
        if done || runs.len() >= total {
            return Ok(runs);
        }
    }
}

/// Per run id, per metric key: the statistics of every key of `runs` (`POST /api/v1/summaries`,
/// `PAGE` runs a request).
async fn summaries(api: &Api, runs: &[Value]) -> anyhow::Result<BTreeMap<String, Value>> {
    let mut out = BTreeMap::new();
    for page in runs.chunks(PAGE) {
        let run_ids: Vec<&str> = page
            .iter()
            .filter_map(|run| run["info"]["run_id"].as_str())
            .collect();
        let response = api
            .http()
            .post(api.url(&["api", "v1", "summaries"]))
            .json(&json!({ "run_ids": run_ids }))
            .send()
            .await
            .context("reading metric summaries")?;
        let answer: Value = Api::json(response).await?;
        for run in answer["runs"].as_array().into_iter().flatten() {
            let by_key: serde_json::Map<String, Value> = run["metrics"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|s| Some((s["key"].as_str()?.to_string(), s.clone())))
                .collect();
            let id = run["run_id"].as_str().unwrap_or_default().to_string();
            out.insert(id, Value::Object(by_key));
        }
    }
    Ok(out)
}

/// Keys of an object field of every run, sorted.
fn keys_of(runs: &[Value], field: &str) -> Vec<String> {
    let mut keys = BTreeSet::new();
    for run in runs {
        if let Some(object) = run[field].as_object() {
            keys.extend(object.keys().cloned());
        }
    }
    keys.into_iter().collect()
}

const ATTRIBUTES: [&str; 8] = [
    "run_id",
    "run_name",
    "experiment_id",
    "user_id",
    "status",
    "start_time",
    "end_time",
    "lifecycle_stage",
];

/// The runs table: attributes, params, latest metrics with their statistics, tags.
fn runs_table(runs: &[Value], summaries: &BTreeMap<String, Value>) -> Table {
    let params = keys_of(runs, "params");
    let metrics = keys_of(runs, "metrics");
    let tags = keys_of(runs, "tags");
    let text = |get: &dyn Fn(&Value) -> Option<String>| Cells::Text(runs.iter().map(get).collect());
    let mut table = Table::default();
    for attribute in ATTRIBUTES {
        let cells = match attribute {
            "start_time" | "end_time" => Cells::Int(
                IntKind::Millis,
                runs.iter()
                    .map(|run| run["info"][attribute].as_i64())
                    .collect(),
            ),
            _ => text(&|run| match &run["info"][attribute] {
                Value::String(s) => Some(s.clone()),
                Value::Null => None,
                other => Some(other.to_string()),
            }),
        };
        table.push(attribute, cells);
    }
    for key in &params {
        table.push(
            format!("params.{key}"),
            text(&|run| run["params"][key].as_str().map(str::to_string)),
        );
    }
    let summary = |run: &Value, key: &str, field: &str| -> Option<f64> {
        let run_id = run["info"]["run_id"].as_str()?;
        json_number(&summaries.get(run_id)?[key][field])
    };
    for key in &metrics {
        table.push(
            format!("metrics.{key}"),
            Cells::Float(
                runs.iter()
                    .map(|run| json_number(&run["metrics"][key]))
                    .collect(),
            ),
        );
        for field in ["min", "max", "mean"] {
            table.push(
                format!("metrics.{key}.{field}"),
                Cells::Float(runs.iter().map(|run| summary(run, key, field)).collect()),
            );
        }
        table.push(
            format!("metrics.{key}.count"),
            Cells::Int(
                IntKind::Plain,
                runs.iter()
                    .map(|run| summary(run, key, "count").map(|c| c as i64))
                    .collect(),
            ),
        );
    }
    for key in &tags {
        table.push(
            format!("tags.{key}"),
            text(&|run| run["tags"][key].as_str().map(str::to_string)),
        );
    }
    table
}

/// Points gathered per Parquet row group.
const ROW_GROUP: usize = 1 << 20;

/// A batch of points as the metrics table (`run_id,key,step,timestamp,value`).
#[derive(Default)]
struct PointRows {
    run_ids: Vec<Option<String>>,
    keys: Vec<Option<String>>,
    steps: Vec<Option<i64>>,
    times: Vec<Option<i64>>,
    values: Vec<Option<f64>>,
}

impl PointRows {
    fn push(&mut self, run_id: &str, key: &str, step: i64, time: i64, value: f64) {
        self.run_ids.push(Some(run_id.to_string()));
        self.keys.push(Some(key.to_string()));
        self.steps.push(Some(step));
        self.times.push(Some(time));
        self.values.push(Some(value));
    }

    fn take(&mut self) -> Table {
        let rows = std::mem::take(self);
        let mut table = Table::default();
        table.push("run_id", Cells::Text(rows.run_ids));
        table.push("key", Cells::Text(rows.keys));
        table.push("step", Cells::Int(IntKind::Plain, rows.steps));
        table.push("timestamp", Cells::Int(IntKind::Millis, rows.times));
        table.push("value", Cells::Float(rows.values));
        table
    }
}

/// Where the points go: a CSV stream or a Parquet file written a row group at a time.
enum PointsOut {
    Csv(std::io::BufWriter<std::fs::File>),
    Parquet(Box<parquet::Writer>, PointRows),
}

impl PointsOut {
    fn create(path: &std::path::Path, format: Format) -> anyhow::Result<PointsOut> {
        Ok(match format {
            Format::Csv => {
                let file = std::fs::File::create(path)
                    .with_context(|| format!("writing {}", path.display()))?;
                let mut out = std::io::BufWriter::new(file);
                out.write_all(b"run_id,key,step,timestamp,value\n")?;
                PointsOut::Csv(out)
            }
            Format::Parquet => {
                let mut rows = PointRows::default();
                let writer = parquet::Writer::create(path, &rows.take())?;
                PointsOut::Parquet(Box::new(writer), rows)
            }
        })
    }

    fn write(
        &mut self,
        run_id: &str,
        key: &str,
        (steps, times, values): &(Vec<i64>, Vec<i64>, Vec<f64>),
    ) -> anyhow::Result<()> {
        match self {
            PointsOut::Csv(out) => {
                let mut prefix = String::new();
                field(&mut prefix, run_id);
                prefix.push(',');
                field(&mut prefix, key);
                for ((step, time), value) in steps.iter().zip(times).zip(values) {
                    writeln!(out, "{prefix},{step},{time},{}", number(*value))?;
                }
            }
            PointsOut::Parquet(writer, rows) => {
                for ((step, time), value) in steps.iter().zip(times).zip(values) {
                    rows.push(run_id, key, *step, *time, *value);
                    if rows.steps.len() >= ROW_GROUP {
                        writer.write(&rows.take())?;
                    }
                }
            }
        }
        Ok(())
    }

    fn finish(self) -> anyhow::Result<()> {
        match self {
            PointsOut::Csv(mut out) => out.flush()?,
            PointsOut::Parquet(writer, mut rows) => {
                let mut writer = *writer;
                writer.write(&rows.take())?;
                writer.finish()?;
            }
        }
        Ok(())
    }
}

/// Every point of `key` of `run_id` through the binary points route: steps, timestamps, values.
async fn points(
    api: &Api,
    run_id: &str,
    key: &str,
) -> anyhow::Result<(Vec<i64>, Vec<i64>, Vec<f64>)> {
    // The key is one path segment (its `/` percent-encoded), unlike `Api::url`'s artifact paths.
    let mut url = api.url(&["api", "v1", "runs", run_id, "metrics"]);
    url.path_segments_mut()
        .map_err(|_| anyhow::anyhow!("the server URL cannot take a path"))?
        .push(key)
        .push("points");
    let response = api
        .http()
        .get(url)
        .query(&[("format", "binary")])
        .send()
        .await?;
    let bytes = Api::check(response).await?.bytes().await?;
    if bytes.get(..8) != Some(b"CAIRNPT1".as_slice()) || bytes.len() < 24 {
        bail!("the points answer is not in the binary layout");
    }
    let word = |chunk: &[u8]| -> [u8; 8] { chunk.try_into().unwrap_or([0; 8]) };
    let count = u64::from_le_bytes(word(&bytes[8..16])) as usize;
    if Some(bytes.len()) != count.checked_mul(24).and_then(|n| n.checked_add(24)) {
        bail!(
            "the points answer has {} bytes for {count} points",
            bytes.len()
        );
    }
    // Three columns of `count` little-endian words after the 24-byte header.
    let column = |n: usize| bytes[24 + n * count * 8..24 + (n + 1) * count * 8].chunks_exact(8);
    let steps = column(0).map(|c| i64::from_le_bytes(word(c))).collect();
    let times = column(1).map(|c| i64::from_le_bytes(word(c))).collect();
    let values = column(2).map(|c| f64::from_le_bytes(word(c))).collect();
    Ok((steps, times, values))
}

async fn export(args: ExportArgs) -> anyhow::Result<()> {
    let api = Api::new(&args.server, false)?;
    let mut experiment_ids = Vec::new();
    for name_or_id in &args.experiments {
        experiment_ids.push(experiment_id(&api, name_or_id).await?);
    }
    let runs = search(&api, &experiment_ids, args.filter.as_deref()).await?;
    let metric_keys = keys_of(&runs, "metrics");
    let summaries = summaries(&api, &runs).await?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let extension = match args.format {
        Format::Csv => "csv",
        Format::Parquet => "parquet",
    };
    let runs_path = args.out.join(format!("runs.{extension}"));
    let table = runs_table(&runs, &summaries);
    match args.format {
        Format::Csv => std::fs::write(&runs_path, table.csv())
            .with_context(|| format!("writing {}", runs_path.display()))?,
        Format::Parquet => {
            let mut writer = parquet::Writer::create(&runs_path, &table)?;
            writer.write(&table)?;
            writer.finish()?;
        }
    }
    let metrics_path = args.out.join(format!("metrics.{extension}"));
    let mut points_written = 0u64;
    if !args.no_history {
        let mut out = PointsOut::create(&metrics_path, args.format)?;
        for run in &runs {
            let run_id = run["info"]["run_id"].as_str().unwrap_or_default();
            let mut keys: Vec<&String> = run["metrics"]
                .as_object()
                .map(|m| m.keys().collect())
                .unwrap_or_default();
            keys.sort();
            for key in keys {
                let columns = points(&api, run_id, key)
                    .await
                    .with_context(|| format!("reading {key} of run {run_id}"))?;
                out.write(run_id, key, &columns)?;
                points_written += columns.0.len() as u64;
            }
        }
        out.finish()?;
    }
    println!(
        "exported {} runs ({} metric keys) to {}{}",
        runs.len(),
        metric_keys.len(),
        runs_path.display(),
        if args.no_history {
            String::new()
        } else {
            format!(" and {points_written} points to {}", metrics_path.display())
        }
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_numbers() {
        assert!(json_number(&json!("NaN")).unwrap().is_nan());
        assert_eq!(json_number(&json!("Infinity")), Some(f64::INFINITY));
        assert_eq!(json_number(&json!(0.25)), Some(0.25));
        assert_eq!(json_number(&json!(7)), Some(7.0));
        assert_eq!(json_number(&Value::Null), None);
    }

    #[test]
    fn the_runs_table_is_wide_and_sorted() {
        let runs = vec![
            json!({"info": {"run_id": "r1", "run_name": "a", "experiment_id": "1", "user_id": "u",
                    "status": "FINISHED", "start_time": 5, "end_time": 9, "lifecycle_stage": "active"},
                   "params": {"lr": "0.1"}, "tags": {"team": "x"}, "metrics": {"loss": 0.5}}),
            json!({"info": {"run_id": "r2", "run_name": "b, c", "experiment_id": "1", "user_id": "u",
                    "status": "RUNNING", "start_time": 6, "lifecycle_stage": "active"},
                   "params": {"bs": "32"}, "tags": {}, "metrics": {"loss": "NaN", "acc": 1}}),
        ];
        let mut summaries = BTreeMap::new();
        summaries.insert(
            "r1".to_string(),
            json!({"loss": {"min": 0.5, "max": 2, "mean": 1.25, "count": 2}}),
        );
        let csv = runs_table(&runs, &summaries).csv();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(
            lines[0],
            "run_id,run_name,experiment_id,user_id,status,start_time,end_time,lifecycle_stage,\
             params.bs,params.lr,metrics.acc,metrics.acc.min,metrics.acc.max,metrics.acc.mean,\
             metrics.acc.count,metrics.loss,metrics.loss.min,metrics.loss.max,metrics.loss.mean,\
             metrics.loss.count,tags.team"
        );
        assert_eq!(
            lines[1],
            "r1,a,1,u,FINISHED,5,9,active,,0.1,,,,,,0.5,0.5,2,1.25,2,x"
        );
        assert_eq!(
            lines[2],
            "r2,\"b, c\",1,u,RUNNING,6,,active,32,,1,,,,,NaN,,,,,"
        );
    }
}
