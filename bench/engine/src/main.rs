//! `cairn-bench`: the metric engine's benchmark (run through `bench/metrics`).
//!
//! It starts `cairn server` in a fresh temp data folder for each bench (or targets `--url`), drives
//! it over loopback HTTP and prints one markdown table per bench:
//!
//! - `ingest` ([`ingest`]): points/s and request latency of the native ingest API, from a
//!   generator that pre-encodes its requests; CPU time of generator and server.
//! - `size` ([`size`]): bytes per point on disk for a 1M-point series (f32-exact and full-f64
//!   values), from the SQLite files after a clean shutdown minus an empty server's.
//! - `reads` ([`reads`]): median/p90 latency of a full read, downsampled views, a 100-run compare
//!   view and summaries.
//! - `stream` ([`stream`]): WebSocket subscribers following a run while it logs — delivery
//!   latency, and the ingest rate with and without them.
//! - `load` ([`load`]): 200 paced training clients plus 50 live viewers for 5 minutes — ingest
//!   latency percentiles, errors, live delivery latency, server memory over time (not part of
//!   `all`). With several `--url`s (replicas of one PostgreSQL database, as `bench/replicas`
//!   starts them) the clients are spread over the servers and every viewer watches through
//!   another server than the one its run is written through.
//! - `all` (the default): the first four in that order.
//!
//! `--quick` runs everything at reduced scale (about a minute). The top of the output records the
//! machine (CPU model, cores, load average) and the git commit. Any non-2xx answer stops the bench
//! with the answer's body; the server's log is scanned for errors after each bench.

mod data;
mod http;
mod ingest;
mod load;
mod reads;
mod server;
mod size;
mod stats;
mod stream;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};

use crate::server::{Scratch, Server, Target};

/// Benchmark of Cairn's metric engine: ingest rate, bytes per point, read latency, live stream.
#[derive(Debug, Parser)]
#[command(name = "cairn-bench", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Bench>,
    #[command(flatten)]
    options: Options,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Subcommand)]
enum Bench {
    /// ingest, size, reads and stream, in that order (the default).
    All,
    /// Points/s and latency of POST /api/v1/runs/{id}/metrics with pre-encoded bodies.
    Ingest,
    /// Bytes per point on disk for a 1M-point series (needs its own servers: not with --url).
    Size,
    /// Latency of full reads, views, compare views and summaries.
    Reads,
    /// WebSocket subscribers on a run that logs: delivery latency, ingest rate with/without them.
    Stream,
    /// Paced training clients plus live viewers for minutes: latency percentiles, errors, memory.
    Load,
}

#[derive(Debug, Clone, clap::Args)]
struct Options {
    /// Reduced scale: ingest 3 s per shape, 100k-point size rows, reads over 100k/1M/10×100k,
    /// stream 3 s per phase with 100 subscribers.
    #[arg(long, global = true)]
    quick: bool,
    /// Target a running server instead of starting one (the size bench is skipped; runs are
    /// added to its default experiment). The load bench takes several (repeated, or `--urls
    /// a,b`): replicas sharing one database.
    #[arg(long, visible_alias = "urls", value_delimiter = ',', global = true)]
    url: Vec<String>,
    /// With --url: the server's process id, to report its CPU time and memory and wait for it to
    /// idle; one per --url, in the same order.
    #[arg(long, value_delimiter = ',', global = true, requires = "url")]
    server_pid: Vec<u32>,
    /// Load bench: the process id of PostgreSQL's postmaster, to report the CPU time of the
    /// database (the postmaster and its backends) beside the servers'.
    #[arg(long, global = true)]
    db_pid: Option<u32>,
    /// The cairn binary (default: `cairn` next to this program, i.e. target/release/cairn).
    #[arg(long, env = "CAIRN_BIN", global = true)]
    cairn_bin: Option<PathBuf>,
    /// Worker threads of the generator's tokio runtime.
    #[arg(long, default_value_t = 1, global = true)]
    threads: usize,
    /// Requests in flight (ingest workers; also series built at once for the reads dataset).
    #[arg(long, default_value_t = 4, global = true)]
    concurrency: usize,
    /// Runs written by each ingest shape.
    #[arg(long, default_value_t = 8, global = true)]
    runs: usize,
    /// Keys per ingest request (a second shape sends 1 key with keys × points points).
    #[arg(long, default_value_t = 10, global = true)]
    keys: usize,
    /// Points per key per ingest request.
    #[arg(long, default_value_t = 1_000, global = true)]
    points: usize,
    /// Seconds of ingest per shape, and of logging per stream phase (default 10; 3 with --quick).
    #[arg(long, global = true)]
    duration: Option<f64>,
    /// Size the pre-encoded body pool for this many points/s over the duration.
    #[arg(long, default_value_t = 3_000_000.0, global = true)]
    pool_rate: f64,
    /// Send an Idempotency-Key header with every ingest request.
    #[arg(long, global = true)]
    idempotency_keys: bool,
    /// Stream bench: WebSocket subscribers (default 500; 100 with --quick).
    #[arg(long, global = true)]
    subscribers: Option<usize>,
    /// Stream bench: points/s of the paced logger.
    #[arg(long, default_value_t = 10_000.0, global = true)]
    stream_rate: f64,
    /// Stream bench: points per ingest request (one key).
    #[arg(long, default_value_t = 100, global = true)]
    stream_batch: usize,
    /// Stream bench: worker threads of the subscribers' own tokio runtime (one thread cannot
    /// parse 500 subscribers' frames at 10,000 points/s on the 2-core reference machine).
    #[arg(long, default_value_t = 2, global = true)]
    stream_threads: usize,
    /// Load bench: concurrent training clients (one run each).
    #[arg(long, default_value_t = 200, global = true)]
    clients: usize,
    /// Load bench: WebSocket viewers, each following one client's run.
    #[arg(long, default_value_t = 50, global = true)]
    viewers: usize,
    /// Load bench: milliseconds between one client's requests.
    #[arg(long, default_value_t = 1_000, global = true)]
    load_interval_ms: u64,
    /// Load bench: keys per request.
    #[arg(long, default_value_t = 10, global = true)]
    load_keys: usize,
    /// Load bench: points per key per request.
    #[arg(long, default_value_t = 10, global = true)]
    load_points: usize,
    /// Keep the temp data folders and server logs (their paths are printed).
    #[arg(long, global = true)]
    keep: bool,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    if cli.options.threads == 0 || cli.options.concurrency == 0 {
        bail!("--threads and --concurrency must be at least 1");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cli.options.threads)
        .enable_all()
        .build()
        .context("building the tokio runtime")?;
    runtime.block_on(run(cli.command.unwrap_or(Bench::All), cli.options))
}

async fn run(bench: Bench, options: Options) -> Result<()> {
    let started = std::time::Instant::now();
    if options.url.len() > 1 && bench != Bench::Load {
        bail!("several --url are for the load bench only");
    }
    let bin = if options.url.is_empty() {
        Some(cairn_binary(&options)?)
    } else {
        None
    };
    print_facts(bench, &options, bin.as_deref());
    let client = http::client(options.concurrency)?;
    let duration =
        Duration::from_secs_f64(
            options
                .duration
                .unwrap_or(if options.quick { 3.0 } else { 10.0 }),
        );

    if matches!(bench, Bench::All | Bench::Ingest) {
        let ingest_options = ingest::Options {
            duration,
            concurrency: options.concurrency,
            runs: options.runs,
            keys: options.keys,
            points: options.points,
            pool_rate: options.pool_rate,
            idempotency_keys: options.idempotency_keys,
        };
        with_server(&options, bin.as_deref(), "ingest", |target| {
            let client = client.clone();
            let ingest_options = ingest_options.clone();
            async move {
                ingest::run(&client, &target, &ingest_options).await?;
                Ok(())
            }
        })
        .await?;
    }
    if matches!(bench, Bench::All | Bench::Size) {
        match bin.as_deref() {
            Some(bin) => {
                let points = if options.quick { 100_000 } else { 1_000_000 };
                size::run(&client, bin, points, options.keep).await?;
            }
            None => println!("\n## size — skipped: it needs servers of its own (no --url)"),
        }
    }
    if matches!(bench, Bench::All | Bench::Reads) {
        let scale = if options.quick {
            reads::Scale::quick()
        } else {
            reads::Scale::full()
        };
        let concurrency = options.concurrency;
        with_server(&options, bin.as_deref(), "reads", |target| {
            let client = client.clone();
            async move { reads::run(&client, &target, scale, concurrency).await }
        })
        .await?;
    }
    if matches!(bench, Bench::All | Bench::Stream) {
        let stream_options = stream::Options {
            duration,
            subscribers: options
                .subscribers
                .unwrap_or(if options.quick { 100 } else { 500 }),
            rate: options.stream_rate,
            batch: options.stream_batch,
            concurrency: options.concurrency,
            threads: options.stream_threads,
        };
        with_server(&options, bin.as_deref(), "stream", |target| {
            let client = client.clone();
            async move { stream::run(&client, &target, &stream_options).await }
        })
        .await?;
    }
    if bench == Bench::Load {
        let load_options = load::Options {
            duration: Duration::from_secs_f64(options.duration.unwrap_or(if options.quick {
                20.0
            } else {
                300.0
            })),
            clients: options.clients,
            viewers: options.viewers.min(options.clients),
            interval: Duration::from_millis(options.load_interval_ms.max(1)),
            keys: options.load_keys,
            points: options.load_points,
            db_pid: options.db_pid,
        };
        let client = http::client(options.clients)?;
        if bin.is_none() {
            let targets = Target::existing(&options.url, &options.server_pid)?;
            load::run(&client, &targets, &load_options).await?;
        } else {
            with_server(&options, bin.as_deref(), "load", |target| {
                let client = client.clone();
                async move { load::run(&client, &[target], &load_options).await }
            })
            .await?;
        }
    }
    println!(
        "\n(done in {:.0} s; generator CPU {:.1} s in all)",
        started.elapsed().as_secs_f64(),
        server::own_cpu_seconds()
    );
    Ok(())
}

/// Runs `bench` against `--url`, or against a fresh server in a temp folder that is stopped (and
/// its log scanned) afterwards.
async fn with_server<F, Fut>(
    options: &Options,
    bin: Option<&std::path::Path>,
    label: &str,
    bench: F,
) -> Result<()>
where
    F: FnOnce(Target) -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    let Some(bin) = bin else {
        let target = Target::existing(&options.url, &options.server_pid)?
            .into_iter()
            .next()
            .context("no --url")?;
        return bench(target).await;
    };
    let scratch = Scratch::new(label)?;
    let server = Server::start(bin, &scratch.data(), &scratch.log()).await?;
    let target = server.target.clone();
    let outcome = bench(target.clone()).await;
    if let Err(error) = &outcome {
        eprintln!("{label} failed: {error:#}\n{}", server.log_tail(30));
    }
    let peak = target.pid.and_then(peak_rss);
    let stopped = server.stop().await;
    if outcome.is_ok() {
        if let Some(peak) = peak {
            println!(
                "- server peak RSS (VmHWM) during the {label} bench: {}",
                stats::bytes(peak)
            );
        }
        match &stopped {
            Ok(took) => println!("- server stopped {:.1} s after SIGTERM", took.as_secs_f64()),
            Err(error) => println!("- server stop FAILED: {error:#}"),
        }
        server::report_log(&scratch.log());
    }
    if options.keep {
        scratch.keep();
    }
    outcome?;
    stopped.map(|_| ())
}

/// `VmHWM` of a process, in bytes.
fn peak_rss(pid: u32) -> Option<u64> {
    server::status_bytes(pid, "VmHWM")
}

fn cairn_binary(options: &Options) -> Result<PathBuf> {
    let path = match &options.cairn_bin {
        Some(path) => path.clone(),
        None => std::env::current_exe()
            .context("locating cairn-bench")?
            .with_file_name("cairn"),
    };
    if !path.is_file() {
        bail!(
            "no cairn binary at {} (build it with `cargo build --release -p cairn`, or pass --cairn-bin)",
            path.display()
        );
    }
    Ok(path)
}

fn command_output(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn print_facts(bench: Bench, options: &Options, bin: Option<&std::path::Path>) {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown CPU", |(_, m)| m.trim());
    let processors = cpuinfo
        .lines()
        .filter(|l| l.starts_with("processor"))
        .count();
    let usable = std::thread::available_parallelism().map_or(0, |n| n.get());
    let load = server::load_average();
    let commit = command_output("git", &["rev-parse", "--short", "HEAD"]).map_or_else(
        || "unknown".to_string(),
        |commit| {
            let dirty = command_output("git", &["status", "--porcelain", "--untracked-files=no"])
                .is_some_and(|s| !s.is_empty());
            if dirty {
                format!("{commit} (+ uncommitted changes)")
            } else {
                commit
            }
        },
    );
    let date = command_output("date", &["-u", "+%Y-%m-%dT%H:%M:%SZ"]).unwrap_or_default();
    println!(
        "# cairn-bench {} ({})\n",
        format!("{bench:?}").to_lowercase(),
        if options.quick { "quick" } else { "full" }
    );
    println!("- date: {date}");
    println!(
        "- machine: {model}; {processors} CPUs in /proc/cpuinfo, {usable} usable; load average {load}"
    );
    println!("- commit: {commit}");
    match bin {
        Some(bin) => println!(
            "- server: {} (fresh temp data folder per bench), on the same machine as the generator",
            bin.display()
        ),
        None => println!(
            "- server{}: {} (existing; CPU time {})",
            if options.url.len() > 1 { "s" } else { "" },
            options.url.join(", "),
            if !options.server_pid.is_empty() {
                "from --server-pid"
            } else {
                "not measured"
            }
        ),
    }
    println!(
        "- generator: tokio runtime with {} worker thread{}, {} requests in flight, HTTP/1.1 over loopback",
        options.threads,
        if options.threads == 1 { "" } else { "s" },
        options.concurrency
    );
}
