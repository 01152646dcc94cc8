//! `cairn gc`: artifact garbage collection from the command line.
//!
//! Opens the metadata store (`--store`, or the embedded SQLite file in `--data`) and the blob
//! store directly and runs
//! `cairn_server::tracking::artifacts::Artifacts::gc`: purges the files of runs, experiments and
//! models deleted longer ago than `--retention`, deletes blobs that nothing references any more
//! (sparing those younger than `--grace`), deletes orphaned bytes and aborts abandoned uploads.
//! It is safe to run while a server uses the same data: the catalogue's lease and claim protocol
//! (see `cairn_store::artifacts`) keeps a blob that a writer is about to reference from being
//! deleted, and the database serialises the two processes' conflicting writes.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use cairn_server::tracking::artifacts::{Artifacts, GcOptions, GcProgress, GcReport};
use indicatif::{HumanBytes, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::storage::{ARTIFACTS_HELP, STORE_HELP, StoreTarget, open_blobs, parse_duration};

#[derive(Debug, clap::Args)]
pub struct GcArgs {
    /// Folder of the embedded store (as given to `cairn server --data`).
    #[arg(long, env = "CAIRN_DATA", default_value = "./cairn-data")]
    data: PathBuf,
    /// The server's --store (a postgres:// URL; default: the embedded database in --data).
    #[arg(long, env = "CAIRN_STORE", value_name = "URL", long_help = STORE_HELP)]
    store: Option<String>,
    /// Where artifact bytes are stored (as given to `cairn server --artifacts`).
    #[arg(long, env = "CAIRN_ARTIFACTS", value_name = "URL", long_help = ARTIFACTS_HELP)]
    artifacts: Option<String>,
    /// Purge the files of runs, experiments and models deleted at least this long ago
    /// (`0`, `30s`, `15m`, `1h`, `7d`, `2w`).
    #[arg(long, default_value = "7d", value_parser = parse_duration)]
    retention: Duration,
    /// Never delete blobs stored less than this long ago (a client may be about to use them).
    #[arg(long, default_value = "1h", value_parser = parse_duration)]
    grace: Duration,
    /// Abort uploads in parts untouched for this long.
    #[arg(long, default_value = "7d", value_parser = parse_duration)]
    stale_uploads: Duration,
    /// Report what would be deleted, delete nothing.
    #[arg(long)]
    dry_run: bool,
    /// Print the report as one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

pub fn run(args: GcArgs) -> anyhow::Result<()> {
    let target = StoreTarget::parse(args.store.as_deref(), &args.data)?;
    if let StoreTarget::Embedded(database) = &target
        && !database.exists()
    {
        anyhow::bail!(
            "no Cairn database at {} (pass the server's --data folder)",
            database.display()
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let report = runtime.block_on(async {
        let store = target.open().await?;
        let blobs = open_blobs(args.artifacts.as_deref(), &args.data)?;
        // The CLI acts for the operator: no caller, so nothing is refused.
        let access = cairn_server::access::Access::new(Arc::clone(&store));
        let artifacts = Artifacts::new(store, blobs, access);
        let options = GcOptions {
            retention: args.retention,
            grace: args.grace,
            stale_uploads: args.stale_uploads,
            dry_run: args.dry_run,
        };
        let progress = Progress::new();
        let result = artifacts.gc(options, &|event| progress.update(event)).await;
        progress.finish();
        result.map_err(|e| anyhow::anyhow!("garbage collection failed: {}", e.message))
    })?;
    if args.json {
        // The same shape as `POST /api/v1/admin/gc` answers.
        println!("{}", cairn_server::v1::artifacts::gc_json(&report));
    } else {
        print!("{}", summary(&report));
    }
    Ok(())
}

/// A progress bar on a terminal, plain lines on stderr otherwise.
struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    fn new() -> Self {
        let bar = std::io::IsTerminal::is_terminal(&std::io::stderr()).then(|| {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("{spinner} {msg} [{elapsed}]")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.set_message("scanning deleted runs and models");
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Progress { bar }
    }

    fn update(&self, event: GcProgress) {
        let line = match event {
            GcProgress::Purged { roots, total } => {
                if let Some(bar) = &self.bar {
                    bar.set_style(
                        ProgressStyle::with_template(
                            "{bar:30} {pos}/{len} deleted artifact roots purged [{elapsed}]",
                        )
                        .unwrap_or_else(|_| ProgressStyle::default_bar()),
                    );
                    bar.set_length(total);
                    bar.set_position(roots);
                }
                format!("purged {roots}/{total} artifact roots")
            }
            GcProgress::Deleted { blobs, bytes } => {
                let line = format!("deleted {blobs} blobs ({})", HumanBytes(bytes));
                if let Some(bar) = &self.bar {
                    bar.set_style(
                        ProgressStyle::with_template("{spinner} {msg} [{elapsed}]")
                            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                    );
                    bar.set_message(line.clone());
                }
                line
            }
        };
        if self.bar.is_none() {
            eprintln!("{line}");
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

fn bytes(count: u64) -> String {
    format!("{} ({count} bytes)", HumanBytes(count))
}

/// The human summary of a report.
pub fn summary(report: &GcReport) -> String {
    let title = if report.dry_run {
        "Garbage collection (dry run: nothing was deleted; numbers are what a real run would do)"
    } else {
        "Garbage collection done"
    };
    let rows = [
        ("artifact roots purged", report.purged_roots.to_string()),
        ("file entries purged", report.purged_entries.to_string()),
        ("blobs deleted", report.blobs_deleted.to_string()),
        ("orphaned blobs deleted", report.orphans_deleted.to_string()),
        ("bytes reclaimed", bytes(report.bytes_reclaimed)),
        ("uploads aborted", report.uploads_aborted.to_string()),
        (
            "staging bytes reclaimed",
            bytes(report.staging_bytes_reclaimed),
        ),
    ];
    let mut out = format!("{title}\n");
    for (name, value) in rows {
        out.push_str(&format!("  {:<24} {value}\n", format!("{name}:")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_shows_exact_and_human_bytes() {
        let report = GcReport {
            dry_run: true,
            purged_roots: 1,
            purged_entries: 2,
            blobs_deleted: 1,
            bytes_reclaimed: 12 << 20,
            ..GcReport::default()
        };
        let text = summary(&report);
        assert!(text.contains("dry run"), "{text}");
        assert!(text.contains("12.00 MiB (12582912 bytes)"), "{text}");
        assert!(text.contains("artifact roots purged:"), "{text}");
    }
}
