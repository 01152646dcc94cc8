//! Test support (feature `testing`): a real S3-compatible server, `s3s-fs`, started on loopback.
//!
//! ```ignore
//! let server = cairn_blob::testing::S3Server::start().await; // panics when s3s-fs is missing
//! let store = server.blob_store("some/prefix");              // an ObjectBlobStore over it
//! // or: ObjectBlobStore::from_url(&server.url("prefix"), server.options())
//! drop(server);                                               // kills it, removes its files
//! ```
//!
//! The binary is found through `CAIRN_S3S_FS`, else at
//! `$HOME/.cache/cairn/s3s-fs-<S3S_FS_VERSION>/bin/s3s-fs` (where `scripts/lib.sh`'s
//! `ensure_s3s_fs` installs it).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::ObjectBlobStore;

/// The `s3s-fs` version the tests are written against.
pub const S3S_FS_VERSION: &str = "0.14.1";

/// The command that installs the binary where [`s3s_fs_binary`] looks by default.
pub fn install_command() -> String {
    format!(
        "cargo install s3s-fs --version {S3S_FS_VERSION} --features binary --locked \
         --root $HOME/.cache/cairn/s3s-fs-{S3S_FS_VERSION}"
    )
}

/// Where the `s3s-fs` binary is: `CAIRN_S3S_FS`, else the default install path. `Err` says how
/// to install it when it is missing.
pub fn s3s_fs_binary() -> Result<PathBuf, String> {
    let path = match std::env::var_os("CAIRN_S3S_FS") {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => {
            let home = std::env::var_os("HOME").unwrap_or_default();
            PathBuf::from(home).join(format!(".cache/cairn/s3s-fs-{S3S_FS_VERSION}/bin/s3s-fs"))
        }
    };
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "the S3-compatible test server s3s-fs was not found at {} (set CAIRN_S3S_FS to its \
             path). Install it with `source scripts/lib.sh && ensure_s3s_fs` from the repository \
             root (scripts/test does this), or directly: {}",
            path.display(),
            install_command()
        ))
    }
}

/// A running `s3s-fs` on `127.0.0.1`, with one bucket, stopped and deleted on drop.
#[derive(Debug)]
pub struct S3Server {
    child: Child,
    dir: PathBuf,
    endpoint: String,
}

impl S3Server {
    pub const BUCKET: &'static str = "cairn";
    pub const ACCESS_KEY: &'static str = "cairn-test-access";
    pub const SECRET_KEY: &'static str = "cairn-test-secret";
    pub const REGION: &'static str = "us-east-1";

    /// Starts a server on a free port with an empty bucket [`S3Server::BUCKET`] and waits until it
    /// accepts connections. Panics when the binary is missing (saying how to install it) or the
    /// server does not come up.
    pub async fn start() -> S3Server {
        let binary = s3s_fs_binary().unwrap_or_else(|message| panic!("{message}"));
        let dir =
            std::env::temp_dir().join(format!("cairn-s3s-fs-{}", uuid::Uuid::new_v4().simple()));
        let root = dir.join("data");
        std::fs::create_dir_all(root.join(Self::BUCKET)).expect("create the server's root");
        let mut last_error = String::new();
        // A port found free may be taken before the server binds it: try a few.
        for _ in 0..5 {
            let port = free_port();
            let (mut child, log_path) = spawn(&binary, &dir, port);
            match wait_ready(&mut child, port).await {
                Ok(()) => {
                    return S3Server {
                        child,
                        dir,
                        endpoint: format!("http://127.0.0.1:{port}"),
                    };
                }
                Err(error) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                    last_error = format!("{error}; its log:\n{log}");
                }
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
        panic!("s3s-fs did not start: {last_error}");
    }

    /// Stops the server (an outage); its data stays for [`S3Server::restart`].
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the server again on the same port and data, after [`S3Server::stop`].
    pub async fn restart(&mut self) {
        let binary = s3s_fs_binary().unwrap_or_else(|message| panic!("{message}"));
        let port: u16 = self
            .endpoint
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("the endpoint names a port");
        let (mut child, log_path) = spawn(&binary, &self.dir, port);
        if let Err(error) = wait_ready(&mut child, port).await {
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            panic!("s3s-fs did not restart: {error}; its log:\n{log}");
        }
        self.child = child;
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The folder that holds the server's data (buckets are its subfolders) and logs.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `s3://cairn/<prefix>`.
    pub fn url(&self, prefix: &str) -> String {
        format!("s3://{}/{}", Self::BUCKET, prefix.trim_matches('/'))
    }

    /// The options [`ObjectBlobStore::from_url`] needs for this server (endpoint, region, keys,
    /// plain HTTP).
    pub fn options(&self) -> Vec<(String, String)> {
        [
            ("endpoint", self.endpoint.as_str()),
            ("region", Self::REGION),
            ("access_key_id", Self::ACCESS_KEY),
            ("secret_access_key", Self::SECRET_KEY),
            ("allow_http", "true"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    /// A blob store over this server's bucket, under `prefix` (may be empty).
    pub fn blob_store(&self, prefix: &str) -> ObjectBlobStore {
        ObjectBlobStore::from_url(&self.url(prefix), self.options())
            .expect("open the test server's bucket")
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Starts `s3s-fs` on `port` over `dir/data`, logging to `dir/s3s-fs-<port>.log` (appended).
fn spawn(binary: &Path, dir: &Path, port: u16) -> (Child, PathBuf) {
    let log_path = dir.join(format!("s3s-fs-{port}.log"));
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .expect("open the server's log");
    let child = Command::new(binary)
        .arg("--host")
        .arg("127.0.0.1")
        .arg("--port")
        .arg(port.to_string())
        .arg("--access-key")
        .arg(S3Server::ACCESS_KEY)
        .arg("--secret-key")
        .arg(S3Server::SECRET_KEY)
        .arg(dir.join("data"))
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("clone the log handle"))
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
    (child, log_path)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("find a free port")
        .port()
}

async fn wait_ready(child: &mut Child, port: u16) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            return Err(format!("s3s-fs exited with {status}"));
        }
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            // Another process may hold the port: make sure ours is still running.
            tokio::time::sleep(Duration::from_millis(50)).await;
            return match child.try_wait().map_err(|e| e.to_string())? {
                Some(status) => Err(format!("s3s-fs exited with {status}")),
                None => Ok(()),
            };
        }
        if Instant::now() > deadline {
            return Err(format!("s3s-fs did not listen on port {port} within 20 s"));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
