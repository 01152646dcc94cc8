//! The `cairn` binary as a user runs it: version, start-up line, persistence across restarts,
//! clean shutdown on SIGTERM, and a clear error when the port is taken.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

fn cairn() -> Command {
    Command::new(env!("CARGO_BIN_EXE_cairn"))
}

/// Starts `cairn server` on a free port and returns the child and the URL it printed.
fn start(data: &Path) -> (Child, String) {
    let mut child = cairn()
        .args(["server", "--host", "127.0.0.1", "--port", "0", "--data"])
        .arg(data)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .split_whitespace()
        .find(|word| word.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in start-up line {line:?}"))
        .to_string();
    (child, url)
}

fn terminate(child: &mut Child) -> std::process::ExitStatus {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    child.wait().unwrap()
}

#[test]
fn version_flag() {
    let output = cairn().arg("--version").output().unwrap();
    assert!(output.status.success());
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        format!("cairn {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn data_survives_a_clean_restart() {
    let data = tempfile::tempdir().unwrap();
    let folder = data.path().join("fresh");
    let client = reqwest::blocking::Client::new();

    let (mut child, url) = start(&folder);
    assert!(folder.join("cairn.db").exists() && folder.join("artifacts").is_dir());
    assert_eq!(
        client
            .get(format!("{url}/health"))
            .send()
            .unwrap()
            .text()
            .unwrap(),
        "OK"
    );
    let created: Value = client
        .post(format!("{url}/api/2.0/mlflow/experiments/create"))
        .json(&json!({"name": "kept"}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let id = created["experiment_id"].as_str().unwrap().to_string();
    assert!(
        terminate(&mut child).success(),
        "SIGTERM ends the server cleanly"
    );

    let (mut child, url) = start(&folder);
    let fetched: Value = client
        .get(format!(
            "{url}/api/2.0/mlflow/experiments/get-by-name?experiment_name=kept"
        ))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(fetched["experiment"]["experiment_id"], id.as_str());
    assert!(terminate(&mut child).success());
}

#[test]
fn a_taken_port_is_a_clear_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let data = tempfile::tempdir().unwrap();
    let output = cairn()
        .args(["server", "--host", "127.0.0.1", "--port", &port, "--data"])
        .arg(data.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot listen on"), "{stderr}");
}
