//! The `cairn` binary: parses the command line, sets up logging, opens the stores and hands a bound
//! listener to [`cairn_server::run`]. Everything else lives in the library crates.
//!
//! Commands besides `server` live in their own modules:
//! - [`gc`]: `cairn gc`, artifact garbage collection against the stores directly.
//! - [`backup`]: `cairn backup` and `cairn restore`, online snapshots of an embedded install.
//! - [`migrate`]: `cairn migrate`, an embedded install's metadata moved into PostgreSQL.
//! - [`import`] and [`export`]: `cairn import mlflow|tensorboard|wandb` and `cairn export`,
//!   clients of a running server.
//! - [`artifacts`]: `cairn artifacts upload|download`, a client of a running server.
//! - [`legacy`]: the server's start-up import of artifacts stored by older versions.
//! - [`storage`]: opening the blob store `--artifacts` names; duration and size parsers.
//! - [`config`]: `cairn server --config FILE`, settings in TOML beside flags and variables.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

mod artifacts;
mod backup;
mod config;
mod export;
mod gc;
mod import;
mod legacy;
mod migrate;
mod reproduce;
mod storage;
mod users;

/// mimalloc: request handling allocates many small, short-lived objects (JSON values, rows);
/// measured faster than the system allocator on search and batch ingest (see bench/).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Cairn: a fast, self-hosted ML experiment tracker that speaks MLflow's API.
#[derive(Debug, Parser)]
#[command(name = "cairn", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the tracking server (MLflow-compatible REST API and artifact proxy).
    ///
    /// Point the official mlflow client at it with MLFLOW_TRACKING_URI=http://HOST:PORT.
    Server(ServerArgs),
    /// Delete artifact bytes nothing uses any more, and purge the files of deleted runs.
    ///
    /// Safe to run while a server uses the same data. Pass the same --data and --artifacts as the
    /// server.
    Gc(gc::GcArgs),
    /// Upload and download a run's files through a running server (resumable, verified).
    Artifacts(artifacts::ArtifactsArgs),
    /// Bring history from another tracker into a running server (MLflow, TensorBoard, W&B).
    Import(import::ImportArgs),
    /// Write the runs of experiments (optionally filtered) from a running server to CSV or
    /// Parquet files: runs (params and metric summaries, one row per run) and metrics (every
    /// point).
    Export(export::ExportArgs),
    /// Copy an embedded install (database and artifact bytes) into a backup folder, consistent
    /// as of one moment, while a server keeps running on it.
    Backup(backup::BackupArgs),
    /// Bring a backup folder back as a new embedded install, checking it holds everything the
    /// backup recorded.
    Restore(backup::RestoreArgs),
    /// Move an embedded install's metadata (runs, metrics, registry, users...) into an empty
    /// PostgreSQL database, verified table by table; artifact bytes stay where they are.
    Migrate(migrate::MigrateArgs),
    /// Rebuild a run's code and environment from what the SDK recorded (git commit and diff,
    /// Python packages, command, environment variables); with --run, run it again as a new run
    /// linked to the original.
    Reproduce(reproduce::ReproduceArgs),
    /// Manage accounts (used when the server runs with --auth): create, list, disable, enable,
    /// reset-password.
    User(users::UserArgs),
    /// Make API tokens for users (used as CAIRN_TOKEN or MLFLOW_TRACKING_TOKEN).
    Token(users::TokenArgs),
    /// Read the audit log (kept while the server runs with authentication): who changed what,
    /// sign-ins, refused requests. Newest first.
    Audit(users::AuditArgs),
}

#[derive(Debug, clap::Args)]
struct ServerArgs {
    /// Read settings from this TOML file (keys as the flags, `_` for `-`); flags and
    /// environment variables that are given win over it.
    #[arg(long, env = "CAIRN_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Address to listen on. Use 0.0.0.0 to accept connections from other machines.
    #[arg(long, env = "CAIRN_HOST", default_value = "127.0.0.1")]
    host: String,
    /// TCP port to listen on (0 picks a free port).
    #[arg(long, env = "CAIRN_PORT", default_value_t = 5000)]
    port: u16,
    /// Folder for the embedded store: the SQLite database `cairn.db` and the `artifacts/` folder.
    /// Created on first run.
    #[arg(long, env = "CAIRN_DATA", default_value = "./cairn-data")]
    data: PathBuf,
    /// Where metadata is stored: a postgres:// URL, or the embedded SQLite database in --data
    /// (the default).
    #[arg(long, env = "CAIRN_STORE", value_name = "URL", long_help = storage::STORE_HELP)]
    store: Option<String>,
    /// Where artifact bytes are stored: s3://bucket/prefix, gs://bucket/prefix,
    /// az://container/prefix, memory:// or a local folder (default: `artifacts/` in --data).
    #[arg(long, env = "CAIRN_ARTIFACTS", value_name = "URL", long_help = storage::ARTIFACTS_HELP)]
    artifacts: Option<String>,
    /// Serve the web UI from this folder (a `web/dist` built by `npm run build`) instead of the
    /// copy built into the binary; for working on the UI without rebuilding the server.
    #[arg(long, env = "CAIRN_WEB_DIR", value_name = "DIR")]
    web_dir: Option<PathBuf>,
    /// Log filter, e.g. `info`, `debug` or `cairn_server=debug,info` (RUST_LOG syntax).
    #[arg(long, env = "CAIRN_LOG", default_value = "info")]
    log: String,
    /// Log lines as text, or one JSON object per line (time, level, target, fields) for log
    /// collectors.
    #[arg(long, env = "CAIRN_LOG_FORMAT", value_enum, default_value = "text")]
    log_format: LogFormat,
    /// Require credentials (API tokens, passwords, browser sign-in) on every API route. On by
    /// itself when --host is not a loopback address, unless --insecure.
    #[arg(long, env = "CAIRN_AUTH")]
    auth: bool,
    /// Serve a non-loopback address without authentication (anyone who reaches the port can read
    /// and change everything).
    #[arg(long, env = "CAIRN_INSECURE")]
    insecure: bool,
    /// Requests a second each credential (token, or user) may make, in bursts of twice that;
    /// past it the answer is 429 with Retry-After (with authentication on). 0: no limit.
    #[arg(long, env = "CAIRN_RATE_LIMIT", default_value_t = 1000.0)]
    rate_limit: f64,
    /// Param and tag keys whose values are stored as [REDACTED] (comma-separated words matched
    /// as whole words: `api_key` catches OPENAI_API_KEY and apiKey, not key_size); `none` keeps
    /// every value (credentials inside URLs are always cut out).
    #[arg(long, env = "CAIRN_REDACT_KEYS", default_value_t = cairn_core::redact::DEFAULT_MARKERS.join(","))]
    redact_keys: String,
    /// Days the audit log (kept while authentication is on) keeps an entry.
    #[arg(long, env = "CAIRN_AUDIT_RETENTION_DAYS", default_value_t = cairn_server::auth::DEFAULT_AUDIT_RETENTION_DAYS)]
    audit_retention_days: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

fn main() -> std::process::ExitCode {
    let matches = <Cli as clap::CommandFactory>::command().get_matches();
    let cli = match <Cli as clap::FromArgMatches>::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(error) => error.exit(),
    };
    let result = match cli.command {
        Command::Server(args) => match matches.subcommand_matches("server") {
            Some(server) => with_config(args, server).and_then(serve),
            None => serve(args),
        },
        Command::Gc(args) => gc::run(args),
        Command::Artifacts(args) => artifacts::run(args),
        Command::Import(args) => import::run(args),
        Command::Export(args) => export::run(args),
        Command::Backup(args) => backup::backup(args),
        Command::Restore(args) => backup::restore(args),
        Command::Migrate(args) => migrate::run(args),
        Command::Reproduce(args) => reproduce::run(args),
        Command::User(args) => users::user(args),
        Command::Token(args) => users::token(args),
        Command::Audit(args) => users::audit(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Fills the options the command line and environment left at their defaults from
/// `--config`'s file.
fn with_config(mut args: ServerArgs, matches: &clap::ArgMatches) -> anyhow::Result<ServerArgs> {
    let Some(path) = args.config.clone() else {
        return Ok(args);
    };
    let file = config::load(&path)?;
    let unset = |id: &str| config::defaulted(matches, id);
    if let Some(host) = file.host.filter(|_| unset("host")) {
        args.host = host;
    }
    if let Some(port) = file.port.filter(|_| unset("port")) {
        args.port = port;
    }
    if let Some(data) = file.data.filter(|_| unset("data")) {
        args.data = data;
    }
    if let Some(store) = file.store.filter(|_| unset("store")) {
        args.store = Some(store);
    }
    if let Some(artifacts) = file.artifacts.filter(|_| unset("artifacts")) {
        args.artifacts = Some(artifacts);
    }
    if let Some(web_dir) = file.web_dir.filter(|_| unset("web_dir")) {
        args.web_dir = Some(web_dir);
    }
    if let Some(log) = file.log.filter(|_| unset("log")) {
        args.log = log;
    }
    if let Some(auth) = file.auth.filter(|_| unset("auth")) {
        args.auth = auth;
    }
    if let Some(insecure) = file.insecure.filter(|_| unset("insecure")) {
        args.insecure = insecure;
    }
    if let Some(format) = file.log_format.filter(|_| unset("log_format")) {
        args.log_format =
            <LogFormat as clap::ValueEnum>::from_str(&format, true).map_err(|_| {
                anyhow::anyhow!(
                    "config file {}: log_format must be \"text\" or \"json\", not \"{format}\"",
                    path.display()
                )
            })?;
    }
    Ok(args)
}

fn serve(args: ServerArgs) -> anyhow::Result<()> {
    let filter = EnvFilter::try_new(&args.log).context("invalid --log filter")?;
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match args.log_format {
        LogFormat::Text => logs
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        LogFormat::Json => logs.json().init(),
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        std::fs::create_dir_all(&args.data)
            .with_context(|| format!("cannot create data folder {}", args.data.display()))?;
        let target = storage::StoreTarget::parse(args.store.as_deref(), &args.data)?;
        let (store, relaying) = target.open_serving().await?;
        tracing::info!(store = %target.describe(), "metadata storage");
        let blobs = storage::open_blobs(args.artifacts.as_deref(), &args.data)?;
        tracing::info!(artifacts = %blobs.describe(), "artifact storage");
        if let Some(dir) = &args.web_dir
            && !dir.join("index.html").is_file()
        {
            anyhow::bail!(
                "--web-dir {} has no index.html (build it with `npm run build` in web/)",
                dir.display()
            );
        }
        if args.web_dir.is_none() && !cairn_server::ui::embedded() {
            tracing::warn!("this build has no web UI; `./scripts/run` builds it");
        }
        let loopback = match args.host.as_str() {
            "localhost" => true,
            host => host
                .trim_matches(['[', ']'])
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback()),
        };
        let auth = args.auth || (!loopback && !args.insecure);
        if auth {
            let users = store.list_users().await.context("cannot read the users")?;
            tracing::info!(users = users.len(), "authentication on");
            if users.is_empty() {
                tracing::warn!(
                    "authentication is on and there are no users yet: create the first admin with \
                     `cairn user create NAME --admin --data {}`",
                    args.data.display()
                );
            }
        } else if !loopback {
            tracing::warn!("serving {} without authentication (--insecure)", args.host);
        }
        let markers: Vec<&str> = if args.redact_keys.trim() == "none" {
            Vec::new()
        } else {
            args.redact_keys
                .split(',')
                .map(str::trim)
                .filter(|m| !m.is_empty())
                .collect()
        };
        let state = cairn_server::AppState::new(Arc::clone(&store), blobs)
            .with_redactor(cairn_core::redact::Redactor::new(markers))
            .with_web_dir(args.web_dir.clone())
            .with_auth(
                auth,
                store,
                args.audit_retention_days.max(1),
                args.rate_limit,
            );
        // Kept until the server stops: dropping it stops the relay.
        let mut _relay_guard = None;
        let state = match relaying {
            Some((relay, incoming, guard)) => {
                _relay_guard = Some(guard);
                state.with_relay(relay, incoming)
            }
            None => state,
        };
        legacy::import(&state, &args.data.join("artifacts"))
            .await
            .context("cannot import artifacts of the old folder layout")?;

        let address = format!("{}:{}", args.host, args.port);
        let listener = tokio::net::TcpListener::bind(&address)
            .await
            .with_context(|| {
                format!("cannot listen on {address} (is another server using this port?)")
            })?;
        let local: SocketAddr = listener.local_addr()?;
        println!(
            "Cairn {} listening on http://{local} (data in {})",
            cairn_server::VERSION,
            match &target {
                storage::StoreTarget::Embedded(_) => args.data.display().to_string(),
                storage::StoreTarget::Postgres(_) => target.describe(),
            }
        );
        cairn_server::run(listener, state, shutdown_signal()).await?;
        tracing::info!("server stopped; all acknowledged writes are committed");
        Ok(())
    })
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
