//! The artifact commands as a user runs them against a real `cairn server`: `cairn artifacts
//! upload|download` (parts in parallel, deduplication, resuming either way, verification), `cairn
//! gc`, the start-up import of artifacts stored by older versions, and `--artifacts`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use reqwest::blocking::Client;
use serde_json::{Value, json};

const MIB: usize = 1 << 20;

fn cairn() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cairn"));
    command
        .env_remove("CAIRN_URL")
        .env_remove("CAIRN_ARTIFACTS");
    command
}

/// A running `cairn server` on a free port; terminated when dropped.
struct Server {
    child: Child,
    url: String,
    client: Client,
}

impl Server {
    fn start(data: &Path, extra: &[&str]) -> Server {
        Self::start_with_env(data, extra, &[])
    }

    fn start_with_env(data: &Path, extra: &[&str], env: &[(&str, &str)]) -> Server {
        let mut child = cairn()
            .envs(env.iter().copied())
            .args(["server", "--host", "127.0.0.1", "--port", "0", "--data"])
            .arg(data)
            .args(extra)
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
        Server {
            child,
            url,
            client: Client::new(),
        }
    }

    fn post(&self, path: &str, body: Value) -> Value {
        let response = self
            .client
            .post(format!("{}{path}", self.url))
            .json(&body)
            .send()
            .unwrap();
        assert!(response.status().is_success(), "{path}: {response:?}");
        response.json().unwrap()
    }

    /// A new run in a new experiment.
    fn create_run(&self) -> String {
        let name = format!("exp-{}", rand_name());
        let experiment = self.post(
            "/api/2.0/mlflow/experiments/create",
            json!({ "name": name }),
        );
        let run = self.post(
            "/api/2.0/mlflow/runs/create",
            json!({ "experiment_id": experiment["experiment_id"] }),
        );
        run["run"]["info"]["run_id"].as_str().unwrap().to_string()
    }

    fn put_file(&self, run_id: &str, path: &str, bytes: &[u8]) {
        let response = self
            .client
            .put(format!("{}/api/v1/runs/{run_id}/files/{path}", self.url))
            .body(bytes.to_vec())
            .send()
            .unwrap();
        assert_eq!(response.status(), 201, "{:?}", response.text());
    }

    /// `GET /api/v1/blobs/{digest}`: the status and the body.
    fn blob(&self, digest: &str) -> (u16, Value) {
        let response = self
            .client
            .get(format!("{}/api/v1/blobs/{digest}", self.url))
            .send()
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().unwrap_or(Value::Null))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

fn rand_name() -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{nanos:x}")
}

/// `len` pseudo-random bytes (xorshift), different for each `seed`.
fn bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}

fn digest(data: &[u8]) -> String {
    format!("blake3:{}", blake3::hash(data).to_hex())
}

/// Runs `cairn artifacts ...` against `server` with its own cache folder.
fn artifacts(server: &Server, cache: &Path, args: &[&str]) -> Output {
    cairn()
        .arg("artifacts")
        .args(args)
        .args(["--server", &server.url])
        .env("XDG_CACHE_HOME", cache)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn ok(output: Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(
        output.status.success(),
        "status {:?}\nstdout: {stdout}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

fn path_str(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// The state file the upload command keeps for an upload (see `artifacts::upload`).
fn state_file(cache: &Path, server: &str, run_id: &str, dest: &str, digest: &str) -> PathBuf {
    let key = blake3::hash(format!("{server}\n{run_id}\n{dest}\n{digest}").as_bytes());
    cache
        .join("cairn")
        .join("uploads")
        .join(format!("{}.json", &key.to_hex()[..32]))
}

#[test]
fn upload_in_parallel_parts_download_identical_and_deduplicate() {
    let data = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let server = Server::start(&data.path().join("store"), &[]);
    let (first, second) = (server.create_run(), server.create_run());

    let content = bytes(12 * MIB + 12_345, 1);
    let local = work.path().join("big.bin");
    std::fs::write(&local, &content).unwrap();
    let out = ok(artifacts(
        &server,
        work.path(),
        &[
            "upload",
            &first,
            path_str(&local),
            "--path",
            "data/big.bin",
            "--part-size",
            "5MiB",
            "--parallel",
            "3",
        ],
    ));
    assert!(out.contains("sent 3 of 3 parts"), "{out}");
    assert!(out.contains(&digest(&content)), "{out}");

    let downloaded = work.path().join("copy.bin");
    let out = ok(artifacts(
        &server,
        work.path(),
        &[
            "download",
            &first,
            "data/big.bin",
            "--output",
            path_str(&downloaded),
        ],
    ));
    assert!(out.contains("verified"), "{out}");
    assert!(std::fs::read(&downloaded).unwrap() == content);
    assert!(!work.path().join("copy.bin.cairn-partial").exists());

    // The same bytes for another run: recorded without sending anything, stored once.
    let out = ok(artifacts(
        &server,
        work.path(),
        &["upload", &second, path_str(&local)],
    ));
    assert!(
        out.contains("deduplicated") && out.contains("nothing sent"),
        "{out}"
    );
    let (status, blob) = server.blob(&digest(&content));
    assert_eq!(status, 200, "{blob}");
    assert_eq!(blob["references"], 2, "{blob}");
    assert_eq!(blob["size"], content.len() as u64);
    let copy = work.path().join("second.bin");
    ok(artifacts(
        &server,
        work.path(),
        &["download", &second, "big.bin", "-o", path_str(&copy)],
    ));
    assert!(std::fs::read(&copy).unwrap() == content);

    // No upload state is left behind once uploads complete.
    let states = work.path().join("cairn").join("uploads");
    assert!(
        std::fs::read_dir(&states).map_or(true, |mut d| d.next().is_none()),
        "state files left in {}",
        states.display()
    );
}

#[test]
fn folders_upload_and_download_recursively() {
    let data = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[]);
    let run = server.create_run();

    let folder = work.path().join("model");
    std::fs::create_dir_all(folder.join("weights/deep")).unwrap();
    let files = [
        ("MLmodel", bytes(100, 2)),
        ("weights/a.bin", bytes(MIB + 3, 3)),
        ("weights/deep/b c.bin", bytes(0, 4)),
    ];
    for (name, content) in &files {
        std::fs::write(folder.join(name), content).unwrap();
    }
    let out = ok(artifacts(
        &server,
        work.path(),
        &["upload", &run, path_str(&folder), "--path", "model"],
    ));
    assert!(out.contains("uploaded 3 files"), "{out}");

    let target = work.path().join("fetched");
    let out = ok(artifacts(
        &server,
        work.path(),
        &["download", &run, "model", "--output", path_str(&target)],
    ));
    assert!(out.contains("downloaded 3 files"), "{out}");
    for (name, content) in &files {
        assert!(
            &std::fs::read(target.join(name)).unwrap() == content,
            "{name}"
        );
    }
    // Downloading again finds every file up to date.
    let out = ok(artifacts(
        &server,
        work.path(),
        &["download", &run, "model", "--output", path_str(&target)],
    ));
    assert_eq!(out.matches("up to date").count(), 3, "{out}");
}

#[test]
fn an_interrupted_upload_sends_only_the_missing_parts() {
    let data = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[]);
    let run = server.create_run();
    let content = bytes(12 * MIB, 5);
    let local = work.path().join("ckpt.bin");
    std::fs::write(&local, &content).unwrap();
    let sum = digest(&content);

    // An earlier upload got as far as its first part.
    let created = server.post(
        &format!("/api/v1/runs/{run}/uploads"),
        json!({ "path": "ckpt.bin", "size": content.len(), "digest": sum, "part_size": 5 * MIB }),
    );
    assert_eq!(created["parts"], 3, "{created}");
    let id = created["upload_id"].as_str().unwrap();
    let response = server
        .client
        .put(format!("{}/api/v1/uploads/{id}/parts/1", server.url))
        .body(content[..5 * MIB].to_vec())
        .send()
        .unwrap();
    assert!(response.status().is_success());
    let state = state_file(work.path(), &server.url, &run, "ckpt.bin", &sum);
    std::fs::create_dir_all(state.parent().unwrap()).unwrap();
    std::fs::write(
        &state,
        json!({ "upload_id": id, "digest": sum, "size": content.len() }).to_string(),
    )
    .unwrap();

    let output = artifacts(
        &server,
        work.path(),
        &["upload", &run, path_str(&local), "-v"],
    );
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    let out = ok(output);
    assert!(out.contains("sent 2 of 3 parts, resumed"), "{out}");
    assert!(stderr.contains("the server has 1 of 3 parts"), "{stderr}");
    assert!(!stderr.contains("sent part 1/"), "{stderr}");
    assert!(!state.exists(), "the state file is dropped on completion");

    let copy = work.path().join("copy.bin");
    ok(artifacts(
        &server,
        work.path(),
        &["download", &run, "ckpt.bin", "-o", path_str(&copy)],
    ));
    assert!(std::fs::read(&copy).unwrap() == content);

    // A remembered upload the server no longer knows: start over.
    let other = bytes(6 * MIB, 6);
    let local = work.path().join("other.bin");
    std::fs::write(&local, &other).unwrap();
    let state = state_file(work.path(), &server.url, &run, "other.bin", &digest(&other));
    std::fs::write(
        &state,
        json!({ "upload_id": "0123456789abcdef0123456789abcdef", "digest": digest(&other), "size": other.len() })
            .to_string(),
    )
    .unwrap();
    let output = artifacts(
        &server,
        work.path(),
        &["upload", &run, path_str(&local), "--part-size", "5MiB"],
    );
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    let out = ok(output);
    assert!(stderr.contains("no longer knows"), "{stderr}");
    assert!(out.contains("sent 2 of 2 parts"), "{out}");
    assert!(!state.exists());
}

#[test]
fn a_download_resumes_from_its_partial_file_and_verifies() {
    let data = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[]);
    let run = server.create_run();
    let content = bytes(3 * MIB + 7, 7);
    server.put_file(&run, "logs/out.bin", &content);

    let target = work.path().join("out.bin");
    let partial = work.path().join("out.bin.cairn-partial");
    std::fs::write(&partial, &content[..MIB]).unwrap();
    let out = ok(artifacts(
        &server,
        work.path(),
        &[
            "download",
            &run,
            "logs/out.bin",
            "-o",
            path_str(&target),
            "-v",
        ],
    ));
    assert!(
        out.contains(&format!("resumed with {MIB} bytes already here")),
        "{out}"
    );
    assert!(std::fs::read(&target).unwrap() == content);
    assert!(!partial.exists());

    // A partial file whose bytes are wrong is caught by the digest and fetched again whole.
    std::fs::remove_file(&target).unwrap();
    let mut wrong = content[..MIB].to_vec();
    wrong[10] ^= 0xff;
    std::fs::write(&partial, &wrong).unwrap();
    let output = artifacts(
        &server,
        work.path(),
        &["download", &run, "logs/out.bin", "-o", path_str(&target)],
    );
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    ok(output);
    assert!(stderr.contains("downloading it again"), "{stderr}");
    assert!(std::fs::read(&target).unwrap() == content);

    // Errors carry the server's message and a non-zero exit.
    let output = artifacts(
        &server,
        work.path(),
        &["download", &run, "logs/missing.bin"],
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with("error:") && stderr.contains("missing.bin"),
        "{stderr}"
    );
    let output = artifacts(
        &server,
        work.path(),
        &["upload", "no-such-run", path_str(&target)],
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no-such-run"), "{stderr}");
}

#[test]
fn gc_reclaims_a_deleted_runs_unique_bytes_and_keeps_shared_ones() {
    let data = tempfile::tempdir().unwrap();
    let store = data.path().join("store");
    let server = Server::start(&store, &[]);
    let (doomed, kept) = (server.create_run(), server.create_run());
    let unique = bytes(MIB + 1, 8);
    let shared = bytes(2 * MIB, 9);
    server.put_file(&doomed, "unique.bin", &unique);
    server.put_file(&doomed, "shared.bin", &shared);
    server.put_file(&kept, "shared.bin", &shared);
    server.post("/api/2.0/mlflow/runs/delete", json!({ "run_id": doomed }));

    let gc = |args: &[&str]| {
        ok(cairn()
            .arg("gc")
            .arg("--data")
            .arg(&store)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap())
    };
    // Within the default retention nothing is purged.
    let out = gc(&["--dry-run"]);
    assert!(out.contains("dry run"), "{out}");
    assert!(out.contains("artifact roots purged:   0"), "{out}");

    let report: Value = serde_json::from_str(&gc(&[
        "--dry-run",
        "--retention",
        "0",
        "--grace",
        "0",
        "--json",
    ]))
    .unwrap();
    assert_eq!(report["dry_run"], true, "{report}");
    assert_eq!(report["purged_roots"], 1, "{report}");
    assert_eq!(report["purged_entries"], 2, "{report}");
    assert_eq!(report["blobs_deleted"], 1, "{report}");
    assert_eq!(report["bytes_reclaimed"], unique.len() as u64, "{report}");
    assert_eq!(
        server.blob(&digest(&unique)).0,
        200,
        "a dry run deletes nothing"
    );

    let out = gc(&["--retention", "0", "--grace", "0s"]);
    assert!(
        out.contains(&format!("({} bytes)", unique.len())),
        "reports the exact bytes reclaimed: {out}"
    );
    assert!(out.contains("1.00 MiB"), "{out}");
    assert_eq!(server.blob(&digest(&unique)).0, 404);
    let (status, blob) = server.blob(&digest(&shared));
    assert_eq!(status, 200);
    assert_eq!(blob["references"], 1, "{blob}");
    let response = server
        .client
        .get(format!(
            "{}/api/v1/runs/{kept}/files/shared.bin",
            server.url
        ))
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.bytes().unwrap() == shared);

    // Bad values are refused clearly.
    let output = cairn()
        .args(["gc", "--retention", "7"])
        .arg("--data")
        .arg(&store)
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("no unit"));
}

#[test]
fn artifacts_of_the_old_layout_are_imported_at_start() {
    let data = tempfile::tempdir().unwrap();
    let folder = data.path().join("artifacts");
    let old = folder.join("1/0123abcd/artifacts/model");
    std::fs::create_dir_all(&old).unwrap();
    let content = bytes(300_000, 10);
    std::fs::write(old.join("weights.bin"), &content).unwrap();
    std::fs::write(folder.join("top.txt"), b"hello").unwrap();
    // Not a valid artifact path: left where it is.
    std::fs::write(folder.join("bad%2e.txt"), b"x").unwrap();

    let server = Server::start(data.path(), &[]);
    let get = |path: &str| {
        server
            .client
            .get(format!(
                "{}/api/2.0/mlflow-artifacts/artifacts/{path}",
                server.url
            ))
            .send()
            .unwrap()
    };
    let response = get("1/0123abcd/artifacts/model/weights.bin");
    assert_eq!(response.status(), 200);
    assert!(response.bytes().unwrap() == content);
    assert_eq!(get("top.txt").text().unwrap(), "hello");
    assert!(
        !folder.join("1").exists(),
        "old files and emptied folders are removed"
    );
    assert!(!folder.join("top.txt").exists());
    assert!(folder.join("bad%2e.txt").exists());
    assert!(folder.join("blake3").is_dir());
    drop(server);

    // Still served after a restart, from the content-addressed store.
    let server = Server::start(data.path(), &[]);
    let response = server
        .client
        .get(format!(
            "{}/api/2.0/mlflow-artifacts/artifacts/1/0123abcd/artifacts/model/weights.bin",
            server.url
        ))
        .send()
        .unwrap();
    assert!(response.bytes().unwrap() == content);
}

#[test]
fn an_object_store_url_holds_the_artifacts() {
    let data = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &["--artifacts", "memory://"]);
    let run = server.create_run();
    let content = bytes(2 * MIB, 11);
    let local = work.path().join("f.bin");
    std::fs::write(&local, &content).unwrap();
    ok(artifacts(
        &server,
        work.path(),
        &["upload", &run, path_str(&local)],
    ));
    let copy = work.path().join("g.bin");
    ok(artifacts(
        &server,
        work.path(),
        &["download", &run, "f.bin", "-o", path_str(&copy)],
    ));
    assert!(std::fs::read(&copy).unwrap() == content);
    assert!(
        !data.path().join("artifacts").join("blake3").exists(),
        "nothing went to the local folder"
    );

    let help = cairn().args(["server", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.contains("s3://bucket/prefix") && help.contains("AWS_"),
        "{help}"
    );
}

/// `--direct` against a server whose artifacts are in S3 (a real s3s-fs): the parts go straight to
/// the store at presigned URLs and the file reads back identical; an interrupted direct upload
/// resumes from the ETags its state file kept, sending only the other parts.
#[test]
fn direct_uploads_send_parts_straight_to_s3_and_resume() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let s3 = runtime.block_on(cairn_blob::testing::S3Server::start());
    let data = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let env = [
        ("AWS_ENDPOINT_URL", s3.endpoint()),
        (
            "AWS_ACCESS_KEY_ID",
            cairn_blob::testing::S3Server::ACCESS_KEY,
        ),
        (
            "AWS_SECRET_ACCESS_KEY",
            cairn_blob::testing::S3Server::SECRET_KEY,
        ),
        ("AWS_REGION", cairn_blob::testing::S3Server::REGION),
        ("AWS_ALLOW_HTTP", "true"),
    ];
    let url = s3.url("cli");
    let server = Server::start_with_env(data.path(), &["--artifacts", &url], &env);
    let run = server.create_run();

    let content = bytes(12 * MIB, 21);
    let local = work.path().join("weights.bin");
    std::fs::write(&local, &content).unwrap();
    let out = ok(artifacts(
        &server,
        work.path(),
        &[
            "upload",
            &run,
            path_str(&local),
            "--direct",
            "--part-size",
            "5MiB",
        ],
    ));
    assert!(
        out.contains("sent 3 of 3 parts straight to storage"),
        "{out}"
    );
    let copy = work.path().join("weights.copy");
    ok(artifacts(
        &server,
        work.path(),
        &["download", &run, "weights.bin", "-o", path_str(&copy)],
    ));
    assert!(std::fs::read(&copy).unwrap() == content);

    // An earlier direct upload got its second part into storage, then stopped.
    let content = bytes(11 * MIB, 22);
    let local = work.path().join("resume.bin");
    std::fs::write(&local, &content).unwrap();
    let sum = digest(&content);
    let created = server.post(
        &format!("/api/v1/runs/{run}/uploads"),
        json!({ "path": "resume.bin", "size": content.len(), "digest": sum,
                "part_size": 5 * MIB, "direct": true }),
    );
    assert_eq!(created["parts"], 3, "{created}");
    let id = created["upload_id"].as_str().unwrap();
    let response = server
        .client
        .put(created["part_urls"][1]["url"].as_str().unwrap())
        .body(content[5 * MIB..10 * MIB].to_vec())
        .send()
        .unwrap();
    assert!(response.status().is_success());
    let etag = response.headers()["etag"].to_str().unwrap().to_string();
    let state = state_file(work.path(), &server.url, &run, "resume.bin", &sum);
    std::fs::write(
        &state,
        json!({ "upload_id": id, "digest": sum, "size": content.len(), "etags": {"2": etag} })
            .to_string(),
    )
    .unwrap();
    let output = artifacts(
        &server,
        work.path(),
        &["upload", &run, path_str(&local), "--direct", "-v"],
    );
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    let out = ok(output);
    assert!(
        out.contains("sent 2 of 3 parts straight to storage, resumed"),
        "{out}"
    );
    assert!(stderr.contains("the server has 1 of 3 parts"), "{stderr}");
    assert!(!stderr.contains("sent part 2/"), "{stderr}");
    assert!(!state.exists(), "the state file is dropped on completion");
    let copy = work.path().join("resume.copy");
    ok(artifacts(
        &server,
        work.path(),
        &["download", &run, "resume.bin", "-o", path_str(&copy)],
    ));
    assert!(std::fs::read(&copy).unwrap() == content);
    // Nothing went to the local folder.
    assert!(!data.path().join("artifacts").join("blake3").exists());
    drop(server);
    drop(s3);
}

/// A large file (here: with 1 MiB ranges) comes in ranges, several at once, and reads back
/// identical; an interrupted download in ranges fetches only the ranges it lacks, and ranges
/// whose bytes were damaged on disk are caught by the digest and fetched again.
#[test]
fn a_large_download_comes_in_ranges_and_resumes_by_range() {
    let data = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[]);
    let run = server.create_run();
    let content = bytes(6 * MIB + 3 * 1024 + 5, 31);
    server.put_file(&run, "ckpt/model.bin", &content);
    let target = work.path().join("model.bin");
    let download = |extra: &[&str]| {
        let mut args = vec![
            "download",
            &run,
            "ckpt/model.bin",
            "-o",
            path_str(&target),
            "--range-size",
            "1MiB",
            "-v",
        ];
        args.extend_from_slice(extra);
        let output = artifacts(&server, work.path(), &args);
        let stderr = String::from_utf8_lossy(&output.stderr).to_string();
        (ok(output), stderr)
    };
    let (_, stderr) = download(&["--parallel", "3"]);
    assert!(
        stderr.contains("7 ranges of 1048576 bytes, 3 at a time; 0 already here"),
        "{stderr}"
    );
    assert!(std::fs::read(&target).unwrap() == content);
    let partial = work.path().join("model.bin.cairn-partial");
    let record = work.path().join("model.bin.cairn-partial.ranges");
    assert!(!partial.exists() && !record.exists());

    // An earlier run wrote ranges 0 and 2 (the rest of its file is zeros), then stopped.
    std::fs::remove_file(&target).unwrap();
    let mut half = vec![0u8; content.len()];
    for range in [0, 2] {
        half[range * MIB..(range + 1) * MIB]
            .copy_from_slice(&content[range * MIB..(range + 1) * MIB]);
    }
    std::fs::write(&partial, &half).unwrap();
    let sum = digest(&content);
    let note = json!({ "size": content.len(), "digest": sum, "range_size": MIB, "done": [0, 2] });
    std::fs::write(&record, note.to_string()).unwrap();
    let (out, stderr) = download(&[]);
    assert!(
        stderr.contains("7 ranges of 1048576 bytes, 4 at a time; 2 already here"),
        "{stderr}"
    );
    assert!(
        out.contains(&format!("resumed with {} bytes already here", 2 * MIB)),
        "{out}"
    );
    assert!(std::fs::read(&target).unwrap() == content);
    assert!(!partial.exists() && !record.exists());

    // A record that claims a range whose bytes are wrong: the digest catches it and the file
    // is fetched again from the start.
    std::fs::remove_file(&target).unwrap();
    std::fs::write(&partial, &half).unwrap();
    let note = json!({ "size": content.len(), "digest": sum, "range_size": MIB, "done": [0, 1] });
    std::fs::write(&record, note.to_string()).unwrap();
    let (_, stderr) = download(&[]);
    assert!(stderr.contains("downloading it again"), "{stderr}");
    assert!(std::fs::read(&target).unwrap() == content);
    assert!(!partial.exists() && !record.exists());

    // A record naming ranges too small to trust is not resumed: the download starts over.
    std::fs::remove_file(&target).unwrap();
    std::fs::write(&partial, &half).unwrap();
    let note = json!({ "size": content.len(), "digest": sum, "range_size": 1024, "done": [0] });
    std::fs::write(&record, note.to_string()).unwrap();
    let (_, stderr) = download(&[]);
    assert!(stderr.contains("4 at a time; 0 already here"), "{stderr}");
    assert!(std::fs::read(&target).unwrap() == content);

    // `--parallel 1` fetches in one stream, and a bad range size is refused before anything runs.
    std::fs::remove_file(&target).unwrap();
    let (_, stderr) = download(&["--parallel", "1"]);
    assert!(!stderr.contains("ranges of"), "{stderr}");
    assert!(std::fs::read(&target).unwrap() == content);
    let output = artifacts(
        &server,
        work.path(),
        &["download", &run, "ckpt/model.bin", "--range-size", "1000"],
    );
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("multiple of 1 KiB"));
}
