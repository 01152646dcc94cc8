//! `cairn artifacts upload|download`: moving a run's files to and from a Cairn server over the
//! native API.
//!
//! - [`client`]: the HTTP client (URLs, the server's JSON errors, listings).
//! - [`upload`]: resumable uploads in parts, sent in parallel, with deduplication by digest and a
//!   state file that lets an interrupted upload resume.
//! - [`download`]: downloads to a temporary file beside the output, resumed with `Range`,
//!   verified against the BLAKE3 digest before the rename.
//! - [`progress`]: progress bars on a terminal, nothing otherwise.

use std::path::PathBuf;

use crate::storage::parse_size;

pub mod client;
pub mod download;
pub mod progress;
pub mod upload;

#[derive(Debug, clap::Args)]
pub struct ArtifactsArgs {
    #[command(subcommand)]
    command: ArtifactsCommand,
}

#[derive(Debug, clap::Subcommand)]
enum ArtifactsCommand {
    /// Upload a file, or every file below a folder, to a run.
    ///
    /// Each file is hashed (BLAKE3) first: when the server already stores those bytes, the file
    /// is recorded without sending them. Otherwise it is sent in parts, several at a time. An
    /// interrupted upload is remembered (under $XDG_CACHE_HOME/cairn/uploads, else
    /// ~/.cache/cairn/uploads) and running the same command again sends only the missing parts.
    Upload(UploadArgs),
    /// Download a file, or a folder recursively, from a run.
    ///
    /// Each file is written to `<name>.cairn-partial` beside its destination, checked against
    /// its BLAKE3 digest, then renamed. Large files come in ranges, several at once. An
    /// interrupted download resumes where it stopped.
    Download(DownloadArgs),
}

#[derive(Debug, clap::Args)]
struct ServerOption {
    /// The Cairn server.
    #[arg(long, env = "CAIRN_URL", default_value = "http://127.0.0.1:5000")]
    server: String,
    /// Print more about what is sent and resumed (on stderr).
    #[arg(long, short)]
    verbose: bool,
}

#[derive(Debug, clap::Args)]
struct UploadArgs {
    /// The run to upload to.
    run_id: String,
    /// A file, or a folder (every file below it is uploaded).
    local_path: PathBuf,
    /// Destination inside the run's artifacts. For a file: its path (default: the file's name;
    /// a value ending in `/` is a folder the file goes into). For a folder: the folder its files
    /// go under (default: the run's artifact root).
    #[arg(long = "path", value_name = "DEST")]
    dest: Option<String>,
    /// Parts sent at the same time.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=64))]
    parallel: u64,
    /// Size of each part (a multiple of 1 KiB from 5 MiB to 5 GiB, e.g. `8MiB`). Default: the
    /// server's choice (16 MiB, larger for very large files).
    #[arg(long, value_parser = parse_size)]
    part_size: Option<u64>,
    /// Send the parts straight to the server's object storage (S3) at URLs the server signs,
    /// rather than through the server; it then reads the file once to check it. Needs a server
    /// whose `--artifacts` is an object store that signs URLs, reachable from here.
    #[arg(long)]
    direct: bool,
    #[command(flatten)]
    server: ServerOption,
}

#[derive(Debug, clap::Args)]
struct DownloadArgs {
    /// The run to download from.
    run_id: String,
    /// A file or folder inside the run's artifacts (default: all of them).
    #[arg(default_value = "")]
    path: String,
    /// Where to write. For a file: the file (or an existing folder to put it in; default: its
    /// name in the current folder). For a folder: the folder to create (default: its name, or
    /// the run id for the whole run).
    #[arg(long, short)]
    output: Option<PathBuf>,
    /// Ranges of a large file (256 MiB and more) fetched at the same time; 1 fetches each file in
    /// one stream.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=64))]
    parallel: u64,
    /// Size of each range (a multiple of 1 KiB, e.g. `64MiB`; default 64 MiB); files of four
    /// ranges or more are fetched in ranges.
    #[arg(long, value_parser = parse_range_size, default_value_t = download::RANGE_SIZE)]
    range_size: u64,
    #[command(flatten)]
    server: ServerOption,
}

fn parse_range_size(text: &str) -> Result<u64, String> {
    let size = parse_size(text)?;
    if !download::valid_range_size(size) {
        return Err(format!(
            "'{text}': a range is a multiple of 1 KiB, at least 64 KiB"
        ));
    }
    Ok(size)
}

pub fn run(args: ArtifactsArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        match args.command {
            ArtifactsCommand::Upload(args) => {
                let api = client::Api::new(&args.server.server, args.server.verbose)?;
                let options = upload::Options {
                    dest: args.dest,
                    parallel: args.parallel as usize,
                    part_size: args.part_size,
                    direct: args.direct,
                    quiet: false,
                };
                upload::run(&api, &args.run_id, &args.local_path, &options).await
            }
            ArtifactsCommand::Download(args) => {
                let api = client::Api::new(&args.server.server, args.server.verbose)?;
                let options = download::Options {
                    parallel: args.parallel as usize,
                    range_size: args.range_size,
                };
                download::run(&api, &args.run_id, &args.path, args.output, options).await
            }
        }
    })
}
