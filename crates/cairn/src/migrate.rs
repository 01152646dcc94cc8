//! `cairn migrate`: moves an embedded install's metadata into PostgreSQL.
//!
//! Copies the SQLite database of a data folder into an empty PostgreSQL database with
//! `cairn_store::migrate` (one transaction, verified table by table before it commits, so the
//! target is either complete or untouched), drawing progress on a terminal and printing one
//! verification line per table, then a summary (text, or one JSON object with `--json`).
//! Artifact bytes are not copied: the server started on the new database keeps using the blob
//! store it used before, which the closing note says how to name.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{Context, bail};
use cairn_store::migrate::{Progress, Report};
use indicatif::{HumanBytes, ProgressBar};
use serde_json::json;

use crate::artifacts::progress;
use crate::storage::{StoreTarget, redact_connection};

#[derive(Debug, clap::Args)]
pub struct MigrateArgs {
    /// The embedded install to move: its data folder (as given to `cairn server --data`), or the
    /// `cairn.db` in it. Stop the server first: what it writes during the copy is not moved.
    #[arg(long, value_name = "DIR")]
    from: PathBuf,
    /// The PostgreSQL database to fill (postgres://user:password@host:port/database, or libpq's
    /// `key=value` form). It must exist and be empty; Cairn creates its tables.
    #[arg(long, value_name = "URL")]
    to: String,
    /// Print the summary as one JSON object instead of text (progress stays on stderr).
    #[arg(long)]
    json: bool,
}

pub fn run(args: MigrateArgs) -> anyhow::Result<()> {
    let (database, data) = if args.from.is_file() {
        let data = args
            .from
            .parent()
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        (args.from.clone(), data)
    } else {
        (args.from.join("cairn.db"), args.from.clone())
    };
    if !database.is_file() {
        bail!(
            "no Cairn database at {} (pass the folder the server was started with as --data)",
            database.display()
        );
    }
    let url = match StoreTarget::parse(Some(&args.to), &data) {
        Ok(StoreTarget::Postgres(url)) => url,
        _ => bail!(
            "--to must name a PostgreSQL database (postgres://user@host/database), not '{}'",
            redact_connection(&args.to)
        ),
    };
    let shown = redact_connection(&url);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let started = Instant::now();
    let reporter = Arc::new(Reporter::new(args.json));
    let events = Arc::clone(&reporter);
    let result = runtime.block_on(cairn_store::migrate::migrate(
        &database,
        &url,
        move |event| events.update(event),
    ));
    reporter.finish();
    let report = result
        .map_err(|e| anyhow::anyhow!("{e}"))
        .with_context(|| {
            format!(
                "cannot migrate {} into {shown}; the target database was left as it was",
                database.display()
            )
        })?;
    let seconds = started.elapsed().as_secs_f64();

    if args.json {
        let tables: Vec<_> = report
            .tables
            .iter()
            .map(|t| json!({"name": t.name, "rows": t.rows, "digest": t.digest, "verified": true}))
            .collect();
        let summary = json!({
            "from": database,
            "to": shown,
            "tables": tables,
            "table_count": report.tables.len(),
            "rows": report.rows,
            "metric_bytes": report.metric_bytes,
            "seconds": seconds,
        });
        println!("{summary}");
    } else {
        print!("{}", summary(&report, &database, &data, &shown, seconds));
    }
    Ok(())
}

/// Draws progress: a bar over all rows on a terminal, a line per copied table on stderr, and a
/// verification line per table (on stdout, or stderr when stdout carries JSON).
struct Reporter {
    bar: ProgressBar,
    json: bool,
    /// Rows of the tables copied before the current one.
    done: Mutex<u64>,
}

impl Reporter {
    fn new(json: bool) -> Self {
        Reporter {
            bar: progress::count(0, "reading the database"),
            json,
            done: Mutex::new(0),
        }
    }

    fn update(&self, event: Progress<'_>) {
        let mut done = self.done.lock().unwrap_or_else(|e| e.into_inner());
        match event {
            Progress::Started { tables, rows } => {
                self.bar.set_length(rows);
                progress::note(&self.bar, &format!("copying {tables} tables ({rows} rows)"));
            }
            Progress::Table { table, .. } => self.bar.set_message(table.to_string()),
            Progress::Rows { copied, .. } => self.bar.set_position(*done + copied),
            Progress::Copied { table, rows } => {
                *done += rows;
                self.bar.set_position(*done);
                progress::note(&self.bar, &format!("copied {table}: {rows} rows"));
            }
            Progress::Verified { table, rows, ok } => {
                self.bar.set_message("verifying");
                let line = format!(
                    "verified {table:<26} {rows:>10} rows  {}",
                    if ok { "ok" } else { "MISMATCH" }
                );
                if self.json {
                    progress::note(&self.bar, &line);
                } else {
                    self.bar.suspend(|| println!("{line}"));
                }
            }
        }
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// The closing summary and how to start a server on the new database.
fn summary(report: &Report, database: &Path, data: &Path, url: &str, seconds: f64) -> String {
    let mut out = format!(
        "migrated {} into {url} in {seconds:.1} s: {} tables, {} rows, {} of metric data; every \
         table verified\n",
        database.display(),
        report.tables.len(),
        report.rows,
        HumanBytes(report.metric_bytes),
    );
    out.push_str(&format!(
        "Artifact bytes were not moved. Start the server on the new database with the same data \
         folder (or the same --artifacts) so that it finds them:\n  cairn server --store '{url}' \
         --data {}\n",
        data.display()
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_store::migrate::TableReport;

    #[test]
    fn summary_names_the_tables_rows_and_how_to_serve() {
        let report = Report {
            tables: vec![TableReport {
                name: "runs".to_string(),
                rows: 3,
                digest: "00".to_string(),
            }],
            rows: 3,
            metric_bytes: 2048,
        };
        let text = summary(
            &report,
            Path::new("d/cairn.db"),
            Path::new("d"),
            "postgres://[REDACTED]@h/db",
            1.25,
        );
        assert!(text.contains("1 tables, 3 rows, 2.00 KiB"), "{text}");
        assert!(
            text.contains("cairn server --store 'postgres://[REDACTED]@h/db' --data d"),
            "{text}"
        );
    }
}
