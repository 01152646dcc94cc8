//! A throwaway PostgreSQL cluster for tests, made from the machine's own PostgreSQL binaries
//! (Debian's `postgresql` package: `/usr/lib/postgresql/<version>/bin`, or the folder
//! `CAIRN_PG_BIN` names): `initdb` into a temporary folder, the server on a free loopback port
//! with durability switched off (tests do not survive power loss), one fresh database per test.
//!
//! When the process that started it exits, however it exits, a watchdog process stops the
//! cluster and removes its folder. Run as root, the cluster's programs run as the `postgres`
//! user (`runuser`), since PostgreSQL refuses to run as root.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A running throwaway cluster.
#[derive(Debug)]
pub struct TestCluster {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    as_postgres: bool,
    next_database: AtomicUsize,
}

/// The folder holding `initdb` and `pg_ctl`.
fn bin_dir() -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os("CAIRN_PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .map_err(|e| format!("no PostgreSQL under /usr/lib/postgresql ({e}); set CAIRN_PG_BIN"))?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions
        .pop()
        .map(|(_, bin)| bin)
        .ok_or_else(|| "no initdb under /usr/lib/postgresql/*/bin; set CAIRN_PG_BIN".to_string())
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
        .unwrap_or(false)
}

fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .map_err(|e| format!("no free port: {e}"))
}

impl TestCluster {
    /// The cluster every test of this process shares, started on first use.
    pub fn shared() -> &'static TestCluster {
        static SHARED: OnceLock<TestCluster> = OnceLock::new();
        SHARED.get_or_init(|| TestCluster::start().expect("start a throwaway PostgreSQL cluster"))
    }

    /// Initialises and starts a new cluster.
    pub fn start() -> Result<TestCluster, String> {
        let bin = bin_dir()?;
        let as_postgres = running_as_root();
        let base = std::env::temp_dir().join(format!(
            "cairn-pg-{}-{}",
            std::process::id(),
            cairn_core::ids::new_run_id()
        ));
        let dir = base.join("data");
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let mut cluster = TestCluster {
            bin,
            dir,
            port: 0,
            as_postgres,
            next_database: AtomicUsize::new(0),
        };
        if as_postgres {
            cluster.run(
                Command::new("chown")
                    .args(["-R", "postgres:postgres"])
                    .arg(&base),
            )?;
        }
        cluster.watch(&base)?;
        let mut initdb = cluster.command("initdb");
        cluster.run(initdb.arg("-D").arg(&cluster.dir).args([
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
        ]))?;
        let mut last = String::new();
        for _ in 0..5 {
            cluster.port = free_port()?;
            match cluster.start_server() {
                Ok(()) => return Ok(cluster),
                Err(error) => last = error,
            }
        }
        Err(last)
    }

    /// A `postgres://` URL of a new, empty database.
    pub fn fresh_database(&self) -> String {
        let n = self.next_database.fetch_add(1, Ordering::Relaxed);
        let name = format!("cairn_test_{n}");
        let mut admin = postgres::Client::connect(&self.url("postgres"), postgres::NoTls)
            .expect("connect to the test cluster");
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("create a test database");
        self.url(&name)
    }

    /// The URL of database `name` on this cluster.
    pub fn url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the server (fast shutdown: sessions are cut, nothing committed is lost).
    pub fn stop(&self) -> Result<(), String> {
        let mut stop = self.command("pg_ctl");
        stop.arg("-D")
            .arg(&self.dir)
            .args(["-w", "-m", "fast", "stop"]);
        self.run(&mut stop)
    }

    /// Starts the server again on the same port after [`TestCluster::stop`].
    pub fn restart(&self) -> Result<(), String> {
        self.start_server()
    }

    fn start_server(&self) -> Result<(), String> {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off \
             -c full_page_writes=off -c max_connections=400 -c shared_buffers=64MB",
            self.port,
            self.dir.display()
        );
        let mut start = self.command("pg_ctl");
        start
            .arg("-D")
            .arg(&self.dir)
            .args(["-w", "-t", "60", "-l"])
            .arg(self.dir.join("server.log"))
            .args(["-o", &options, "start"]);
        self.run(&mut start)
    }

    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if self.as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(path);
            command
        } else {
            Command::new(path)
        }
    }

    fn run(&self, command: &mut Command) -> Result<(), String> {
        let output = command
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run {command:?}: {e}"))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{command:?} failed: {}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ))
        }
    }

    /// Starts the watchdog: once this process is gone, stop the server and remove `base`.
    fn watch(&self, base: &Path) -> Result<(), String> {
        let pg_ctl = self.bin.join("pg_ctl");
        let stop = if self.as_postgres {
            format!("runuser -u postgres -- '{}'", pg_ctl.display())
        } else {
            format!("'{}'", pg_ctl.display())
        };
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done; \
             {stop} -D '{dir}' -m immediate stop >/dev/null 2>&1; rm -rf '{base}'",
            pid = std::process::id(),
            dir = self.dir.display(),
            base = base.display(),
        );
        Command::new("setsid")
            .args(["sh", "-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map(|_| ())
            .map_err(|e| format!("cannot start the cluster's watchdog: {e}"))
    }
}
