//! The server under test: starting `cairn server` on a free loopback port in a temp data folder,
//! stopping it with SIGTERM (a clean shutdown, as an operator would), and the process facts the
//! bench reads from `/proc`: CPU time of a process (utime + stime, all threads; with its children
//! for PostgreSQL), memory, the load average, and the size of the SQLite files.
//!
//! The server's stderr (its log) goes to `server.log` beside the data folder; after each bench the
//! log is scanned for ERROR/WARN lines and panics, which are reported under the tables.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use tempfile::TempDir;

/// A server the bench talks to: its base URL and, when known, its process id (for CPU time).
#[derive(Debug, Clone)]
pub struct Target {
    pub url: String,
    pub pid: Option<u32>,
}

impl Target {
    /// The servers `--url` names, each with the `--server-pid` at the same position (none given:
    /// no pids; otherwise one per URL).
    pub fn existing(urls: &[String], pids: &[u32]) -> Result<Vec<Target>> {
        if !pids.is_empty() && pids.len() != urls.len() {
            bail!(
                "{} --server-pid for {} --url: give one per server, in the same order",
                pids.len(),
                urls.len()
            );
        }
        Ok(urls
            .iter()
            .enumerate()
            .map(|(index, url)| Target {
                url: url.trim_end_matches('/').to_string(),
                pid: pids.get(index).copied(),
            })
            .collect())
    }
}

/// A temp folder holding `data/` (the server's `--data`) and `server.log`.
#[derive(Debug)]
pub struct Scratch {
    root: TempDir,
}

impl Scratch {
    pub fn new(label: &str) -> Result<Scratch> {
        let root = tempfile::Builder::new()
            .prefix(&format!("cairn-bench-{label}-"))
            .tempdir()
            .context("creating a temp folder")?;
        Ok(Scratch { root })
    }
    pub fn data(&self) -> PathBuf {
        self.root.path().join("data")
    }
    pub fn log(&self) -> PathBuf {
        self.root.path().join("server.log")
    }
    /// Keeps the folder after the bench (prints where).
    pub fn keep(self) {
        let path = self.root.keep();
        eprintln!("   (kept {})", path.display());
    }
}

/// A running `cairn server` child process.
#[derive(Debug)]
pub struct Server {
    child: Option<Child>,
    pub target: Target,
    log: PathBuf,
}

impl Server {
    /// Starts `bin server --port 0 --data data`, reads the bound address from its first stdout
    /// line and waits until `GET /health` answers `OK`.
    pub async fn start(bin: &Path, data: &Path, log: &Path) -> Result<Server> {
        let log_file = File::options()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("opening {}", log.display()))?;
        let mut child = Command::new(bin)
            .arg("server")
            .args(["--host", "127.0.0.1", "--port", "0", "--data"])
            .arg(data)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log_file)
            .spawn()
            .with_context(|| {
                format!(
                    "starting {} (build it with cargo build --release -p cairn)",
                    bin.display()
                )
            })?;
        let pid = child.id();
        let stdout = child.stdout.take().context("server stdout")?;
        let (first_tx, first_rx) = tokio::sync::oneshot::channel::<String>();
        let log_copy = log.to_path_buf();
        std::thread::spawn(move || {
            // First line: "Cairn X listening on http://127.0.0.1:PORT (data in ...)"; anything
            // after it is appended to the log.
            let mut lines = BufReader::new(stdout).lines();
            if let Some(Ok(line)) = lines.next() {
                let _ = first_tx.send(line);
            }
            if let Ok(mut file) = File::options().append(true).open(&log_copy) {
                for line in lines.map_while(std::result::Result::ok) {
                    let _ = writeln!(file, "[stdout] {line}");
                }
            }
        });
        let mut server = Server {
            child: Some(child),
            target: Target {
                url: String::new(),
                pid: Some(pid),
            },
            log: log.to_path_buf(),
        };
        let first = match tokio::time::timeout(Duration::from_secs(60), first_rx).await {
            Ok(Ok(line)) => line,
            _ => bail!(
                "the server did not report its address within 60 s\n{}",
                server.log_tail(30)
            ),
        };
        let url = first
            .split_whitespace()
            .find(|word| word.starts_with("http://"))
            .ok_or_else(|| anyhow!("no address in the server's first line: {first}"))?
            .trim_end_matches('/')
            .to_string();
        server.target.url = url;
        server.wait_healthy().await?;
        Ok(server)
    }

    async fn wait_healthy(&mut self) -> Result<()> {
        let client = crate::http::client(1)?;
        let health = format!("{}/health", self.target.url);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                bail!(
                    "the server exited with {status} while starting\n{}",
                    self.log_tail(30)
                );
            }
            if let Ok(response) = client.get(&health).send().await
                && response.status().is_success()
                && response.text().await.unwrap_or_default().trim() == "OK"
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "GET /health did not answer OK within 60 s\n{}",
                    self.log_tail(30)
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGTERM, then waits for the process to exit (SIGKILL after 120 s). Returns how long the
    /// shutdown took.
    pub async fn stop(mut self) -> Result<Duration> {
        let Some(mut child) = self.child.take() else {
            return Ok(Duration::ZERO);
        };
        let started = Instant::now();
        let pid = child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status();
        if !matches!(sent, Ok(status) if status.success()) {
            child.kill().ok();
        }
        let deadline = started + Duration::from_secs(120);
        loop {
            if let Some(status) = child.try_wait()? {
                if !status.success() {
                    bail!(
                        "the server exited with {status} on SIGTERM\n{}",
                        self.log_tail(30)
                    );
                }
                return Ok(started.elapsed());
            }
            if Instant::now() > deadline {
                child.kill().ok();
                child.wait().ok();
                bail!("the server did not stop within 120 s of SIGTERM (killed)");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The last `lines` lines of the server log.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        let tail = &all[all.len().saturating_sub(lines)..];
        format!(
            "--- last lines of {} ---\n{}",
            self.log.display(),
            tail.join("\n")
        )
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().ok();
            child.wait().ok();
        }
    }
}

/// ERROR/WARN lines and panics found in a server log.
#[derive(Debug, Default)]
pub struct LogFindings {
    pub errors: usize,
    pub warnings: usize,
    pub panics: usize,
    pub samples: Vec<String>,
}

pub fn scan_log(path: &Path) -> LogFindings {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut findings = LogFindings::default();
    for line in text.lines() {
        let interesting = if line.contains("panicked") {
            findings.panics += 1;
            true
        } else if line.contains(" ERROR ") {
            findings.errors += 1;
            true
        } else if line.contains(" WARN ") {
            findings.warnings += 1;
            true
        } else {
            false
        };
        if interesting && findings.samples.len() < 5 {
            findings.samples.push(line.chars().take(400).collect());
        }
    }
    findings
}

/// Prints what [`scan_log`] found, if anything.
pub fn report_log(path: &Path) {
    let found = scan_log(path);
    if found.errors + found.warnings + found.panics == 0 {
        println!("server log: no errors, warnings or panics");
        return;
    }
    println!(
        "server log ({}): {} ERROR, {} WARN, {} panic lines; first ones:",
        path.display(),
        found.errors,
        found.warnings,
        found.panics
    );
    for line in &found.samples {
        println!("    {line}");
    }
}

fn clock_ticks() -> f64 {
    static TICKS: OnceLock<f64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|out| String::from_utf8(out.stdout).ok())
            .and_then(|text| text.trim().parse::<f64>().ok())
            .filter(|ticks| *ticks > 0.0)
            .unwrap_or(100.0)
    })
}

/// The fields of `/proc/<pid>/stat` after the command name: index 0 is field 3 (state), so field
/// `n` of proc(5) is index `n − 3`.
fn stat_fields(pid: &str) -> Result<Vec<String>> {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    // The command name (field 2) is in parentheses and may contain spaces: split after it.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .ok_or_else(|| anyhow!("unexpected {path}: {stat}"))?;
    Ok(rest.split_whitespace().map(str::to_string).collect())
}

/// The sum of some clock-tick fields of [`stat_fields`], in seconds.
fn stat_seconds(fields: &[String], indexes: &[usize]) -> Result<f64> {
    let mut ticks = 0.0;
    for &index in indexes {
        ticks += fields
            .get(index)
            .and_then(|f| f.parse::<f64>().ok())
            .ok_or_else(|| anyhow!("unexpected /proc stat fields: {}", fields.join(" ")))?;
    }
    Ok(ticks / clock_ticks())
}

/// utime (field 14) and stime (15).
const OWN_TIME: [usize; 2] = [11, 12];
/// cutime (16) and cstime (17): the time of children that exited and were waited for.
const CHILDREN_TIME: [usize; 2] = [13, 14];
/// ppid (field 4).
const PPID: usize = 1;

/// User + system CPU seconds of a process (all its threads) from `/proc/<pid>/stat`.
pub fn cpu_seconds(pid: &str) -> Result<f64> {
    stat_seconds(&stat_fields(pid)?, &OWN_TIME)
}

/// CPU seconds of a process and its children: its own time, that of its children that have
/// exited (cutime + cstime), and that of its living children — one level deep, which is all of
/// PostgreSQL: the postmaster and the backends and workers it forks.
pub fn tree_cpu_seconds(pid: u32) -> Option<f64> {
    let parent = stat_fields(&pid.to_string()).ok()?;
    let mut seconds =
        stat_seconds(&parent, &OWN_TIME).ok()? + stat_seconds(&parent, &CHILDREN_TIME).ok()?;
    let parent_pid = pid.to_string();
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        // A process may exit between the listing and the read: skip it.
        if let Ok(fields) = stat_fields(&name)
            && fields.get(PPID) == Some(&parent_pid)
        {
            seconds += stat_seconds(&fields, &OWN_TIME).unwrap_or(0.0);
        }
    }
    Some(seconds)
}

/// The load average over 1, 5 and 15 minutes, as `/proc/loadavg` gives it.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// CPU seconds of this bench process.
pub fn own_cpu_seconds() -> f64 {
    cpu_seconds("self").unwrap_or(0.0)
}

/// CPU seconds of a server, when its pid is known.
pub fn server_cpu_seconds(pid: Option<u32>) -> Option<f64> {
    pid.and_then(|pid| cpu_seconds(&pid.to_string()).ok())
}

/// CPU seconds of this process's threads whose name (`/proc/self/task/*/comm`) starts with
/// `prefix` (threads that have exited are not counted).
pub fn threads_cpu_seconds(prefix: &str) -> f64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0.0;
    };
    tasks
        .filter_map(std::result::Result::ok)
        .filter(|task| {
            std::fs::read_to_string(task.path().join("comm"))
                .is_ok_and(|name| name.starts_with(prefix))
        })
        .filter_map(|task| {
            let tid = task.file_name().to_string_lossy().into_owned();
            cpu_seconds(&format!("self/task/{tid}")).ok()
        })
        .sum()
}

/// A size field of `/proc/<pid>/status` (`VmRSS`, `VmHWM`, …), in bytes.
pub fn status_bytes(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status
        .lines()
        .find(|l| l.strip_prefix(field).is_some_and(|r| r.starts_with(':')))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// How long [`settle`] waited and how much CPU the server spent meanwhile.
#[derive(Debug, Clone, Copy)]
pub struct Settled {
    pub waited: Duration,
    pub server_cpu: Option<f64>,
}

/// Waits for background compaction to finish: at least `min`, then (when the server's pid is
/// known) until the server used under 4% of a core over half a second. Gives up after 15 min.
pub async fn settle(pid: Option<u32>, min: Duration) -> Settled {
    let started = Instant::now();
    let cpu_before = server_cpu_seconds(pid);
    tokio::time::sleep(min).await;
    if pid.is_some() {
        let window = Duration::from_millis(500);
        while started.elapsed() < Duration::from_secs(900) {
            let before = server_cpu_seconds(pid);
            tokio::time::sleep(window).await;
            let after = server_cpu_seconds(pid);
            match (before, after) {
                (Some(b), Some(a)) if a - b < 0.04 * window.as_secs_f64() => break,
                (Some(_), Some(_)) => continue,
                _ => break,
            }
        }
    }
    let server_cpu = match (cpu_before, server_cpu_seconds(pid)) {
        (Some(before), Some(after)) => Some(after - before),
        _ => None,
    };
    Settled {
        waited: started.elapsed(),
        server_cpu,
    }
}

/// Sizes of the SQLite files in a data folder (0 for a missing file).
#[derive(Debug, Clone, Copy, Default)]
pub struct DbSize {
    pub db: u64,
    pub wal: u64,
}

impl DbSize {
    pub fn of(data: &Path) -> DbSize {
        let size = |name: &str| std::fs::metadata(data.join(name)).map_or(0, |m| m.len());
        DbSize {
            db: size("cairn.db"),
            wal: size("cairn.db-wal"),
        }
    }
    /// Database plus write-ahead log (`cairn.db-shm`, the WAL's shared-memory index, is not data).
    pub fn stored(&self) -> u64 {
        self.db + self.wal
    }
}

/// A stopped server's database after SQLite folded its WAL in.
#[derive(Debug, Clone, Copy, Default)]
pub struct Checkpointed {
    /// Size of `cairn.db` (the WAL is then empty and removed).
    pub file: u64,
    /// Pages in use (`page_count − freelist_count`) × page size: the file minus free pages that
    /// SQLite keeps for reuse.
    pub live: u64,
}

/// Opens the database of a *stopped* server, runs `PRAGMA wal_checkpoint(TRUNCATE)` and closes
/// it (which removes the WAL), then measures the file. This is what the server's own WAL
/// checkpoints would reach; it does not VACUUM.
pub fn checkpoint(data: &Path) -> Result<Checkpointed> {
    let path = data.join("cairn.db");
    let conn = rusqlite::Connection::open(&path)
        .with_context(|| format!("opening {} to checkpoint it", path.display()))?;
    let busy: i64 = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| row.get(0))?;
    if busy != 0 {
        bail!(
            "the WAL checkpoint of {} was blocked (is the server still running?)",
            path.display()
        );
    }
    let pragma = |name: &str| -> Result<u64> {
        let value: i64 = conn.query_row(&format!("PRAGMA {name}"), [], |row| row.get(0))?;
        Ok(value as u64)
    };
    let live = (pragma("page_count")? - pragma("freelist_count")?) * pragma("page_size")?;
    conn.close().map_err(|(_, error)| error)?;
    Ok(Checkpointed {
        file: std::fs::metadata(&path)?.len(),
        live,
    })
}
