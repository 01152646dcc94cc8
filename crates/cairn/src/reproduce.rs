//! `cairn reproduce RUN_ID`: rebuilds a run's code and environment from what the SDK recorded
//! (`environment.json` and `git/diff.patch` among the run's files) and, with `--run`, runs it
//! again as a new run linked to the original.
//!
//! Steps, each failing with a message that says what to do: fetch the record; check out the
//! recorded commit as a git worktree of the recorded repository (or a clone of its remote, or
//! `--repo`); apply the recorded uncommitted diff; build a virtual environment with the recorded
//! Python and package versions (or use `--python`); write `reproduce.sh` with the recorded
//! command, working directory and non-secret environment variables, plus
//! `CAIRN_REPRODUCES=<run id>` so the SDK tags the new run (`cairn.reproduces`) and lineage
//! shows a `reproduced_as` edge.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use serde_json::Value;

use crate::artifacts::client::{Api, is_not_found};

#[derive(Debug, clap::Args)]
pub struct ReproduceArgs {
    /// The run to reproduce.
    run_id: String,
    /// Folder to build the reproduction in (must not exist yet).
    #[arg(long, default_value = "reproduction")]
    dir: PathBuf,
    /// Run the recorded command once everything is ready; the new run is linked to this one.
    #[arg(long)]
    run: bool,
    /// The git repository holding the recorded commit (default: the recorded repository if it
    /// is on this machine, else a clone of its recorded remote).
    #[arg(long, value_name = "PATH_OR_URL")]
    repo: Option<String>,
    /// Use this Python interpreter as it is instead of building a virtual environment with the
    /// recorded packages.
    #[arg(long, value_name = "PATH")]
    python: Option<PathBuf>,
    /// Install the Cairn SDK into the new environment from this folder or file (the recorded
    /// `cairn` distribution is not on any package index).
    #[arg(long, value_name = "PATH")]
    sdk: Option<PathBuf>,
    /// Extra argument for `pip install` (repeatable), e.g. `--pip-arg=--index-url=URL`.
    #[arg(long = "pip-arg", value_name = "ARG", allow_hyphen_values = true)]
    pip_args: Vec<String>,
    /// The Cairn server holding the run (also where the reproduced run is logged).
    #[arg(long, env = "CAIRN_URL", default_value = "http://127.0.0.1:5000")]
    server: String,
}

/// Environment variables that describe the machine or the session rather than the run; they are
/// not restored.
const MACHINE_VARIABLES: &[&str] = &[
    "PATH",
    "HOME",
    "PWD",
    "OLDPWD",
    "SHLVL",
    "_",
    "VIRTUAL_ENV",
    "VIRTUAL_ENV_PROMPT",
    "PYTHONHOME",
    "PYTHONPATH",
    "PS1",
    "TERM",
    "SHELL",
    "USER",
    "LOGNAME",
    "HOSTNAME",
    "DISPLAY",
    "MAIL",
    "TMPDIR",
    "LS_COLORS",
    "CAIRN_URL",
    "CAIRN_DIR",
    "CAIRN_REPRODUCES",
];
const MACHINE_PREFIXES: &[&str] = &["SSH_", "XDG_", "DBUS_", "WAYLAND_", "TERM_", "PYTEST_"];
/// How the SDK writes a value it redacted.
const REDACTED: &str = "[REDACTED]";
/// The SDK's own distribution: installed from `--sdk`, never from an index.
const SDK_DISTRIBUTION: &str = "cairn";

pub fn run(args: ReproduceArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let record = runtime.block_on(fetch(&args))?;
    let plan = Plan::new(&args, &record)?;
    plan.build(&args)?;
    println!(
        "reproduction of run {} ready in {}",
        args.run_id,
        args.dir.display()
    );
    for warning in &plan.warnings {
        eprintln!("warning: {warning}");
    }
    if !args.run {
        println!("run it with: {}", plan.script.display());
        return Ok(());
    }
    println!("running {}", plan.script.display());
    let status = Command::new("sh")
        .arg(&plan.script)
        .status()
        .with_context(|| format!("cannot start {}", plan.script.display()))?;
    if !status.success() {
        bail!("the reproduced command failed ({status})");
    }
    println!(
        "the reproduced run is tagged cairn.reproduces={}",
        args.run_id
    );
    Ok(())
}

/// What the SDK recorded for a run.
struct Record {
    environment: Value,
    diff: Option<Vec<u8>>,
}

async fn fetch(args: &ReproduceArgs) -> anyhow::Result<Record> {
    let api = Api::new(&args.server, false)?;
    let run = crate::import::get_run(&api, &args.run_id)
        .await?
        .with_context(|| format!("no run {} on {}", args.run_id, api.server()))?;
    let experiment = run["info"]["experiment_id"].as_str().unwrap_or("?");
    let file = |path: &'static str| {
        let url = api.url(&["api", "v1", "runs", &args.run_id, "files", path]);
        let http = api.http().clone();
        async move {
            let response = http
                .get(url)
                .send()
                .await
                .context("cannot reach the server")?;
            match Api::check(response).await {
                Ok(response) => Ok(Some(response.bytes().await?.to_vec())),
                Err(error) if is_not_found(&error) => Ok(None),
                Err(error) => Err(error),
            }
        }
    };
    let environment = file("environment.json").await?.with_context(|| {
        format!(
            "run {} (experiment {experiment}) has no recorded environment: it was not logged by \
             the Cairn SDK with environment capture on (environment.json is missing)",
            args.run_id
        )
    })?;
    let environment: Value = serde_json::from_slice(&environment)
        .context("the run's environment.json is not valid JSON")?;
    let diff = file("git/diff.patch").await?;
    Ok(Record { environment, diff })
}

/// Everything decided before anything is written.
struct Plan {
    commit: String,
    repo: String,
    diff: Option<Vec<u8>>,
    /// The working directory, relative to the repository root.
    cwd: PathBuf,
    argv: Vec<String>,
    python_version: Option<String>,
    requirements: Vec<String>,
    variables: BTreeMap<String, String>,
    script: PathBuf,
    warnings: Vec<String>,
}

impl Plan {
    fn new(args: &ReproduceArgs, record: &Record) -> anyhow::Result<Self> {
        let env = &record.environment;
        let git = &env["git"];
        let commit = git["commit"].as_str().with_context(|| {
            "the run recorded no git commit (its script did not run inside a git work tree), \
             so its code cannot be restored"
        })?;
        let mut warnings = Vec::new();
        if git["diff_truncated"].as_bool() == Some(true) {
            bail!(
                "the run's uncommitted changes were recorded only in part (the diff was cut off \
                 at the SDK's limit), so its code cannot be restored exactly"
            );
        }
        if git["untracked_count"].as_u64().unwrap_or(0) > 0 {
            warnings.push(format!(
                "the run had {} untracked file(s) in its work tree (e.g. {}); their contents were \
                 not recorded",
                git["untracked_count"],
                git["untracked"]
                    .as_array()
                    .and_then(|files| files.first())
                    .and_then(Value::as_str)
                    .unwrap_or("?")
            ));
        }
        let root = git["root"].as_str().map(PathBuf::from);
        let repo = match (&args.repo, &root, git["remote"].as_str()) {
            (Some(repo), _, _) => repo.clone(),
            (None, Some(root), _) if root.join(".git").exists() => root.display().to_string(),
            (None, _, Some(remote)) => remote.to_string(),
            _ => bail!(
                "the recorded repository ({}) is not on this machine and no remote was recorded: \
                 pass --repo with a clone that has commit {commit}",
                root.as_ref()
                    .map_or("unknown".into(), |r| r.display().to_string())
            ),
        };
        let cwd = match (env["cwd"].as_str(), &root) {
            (Some(cwd), Some(root)) => Path::new(cwd)
                .strip_prefix(root)
                .map(Path::to_path_buf)
                .unwrap_or_default(),
            _ => PathBuf::new(),
        };
        let argv: Vec<String> = env["command"]["argv"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(|item| item.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        if argv.is_empty() {
            bail!("the run recorded no command line");
        }
        let distributions = env["distributions"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        let has_sdk = distributions.contains_key(SDK_DISTRIBUTION);
        let requirements = distributions
            .iter()
            .filter(|(name, _)| name.as_str() != SDK_DISTRIBUTION)
            .filter_map(|(name, version)| Some(format!("{name}=={}", version.as_str()?)))
            .collect();
        if has_sdk && args.sdk.is_none() && args.python.is_none() {
            warnings.push(
                "the run used the Cairn SDK, which is not on any package index: pass --sdk PATH \
                 (the SDK's folder) to install it, or the reproduced command may fail to import it"
                    .into(),
            );
        }
        let variables = env["environment"]
            .as_object()
            .map(|vars| {
                vars.iter()
                    .filter(|(name, value)| {
                        !MACHINE_VARIABLES.contains(&name.as_str())
                            && !MACHINE_PREFIXES.iter().any(|p| name.starts_with(p))
                            && value.as_str().is_some_and(|v| v != REDACTED)
                    })
                    .map(|(name, value)| (name.clone(), value.as_str().unwrap_or("").to_string()))
                    .collect()
            })
            .unwrap_or_default();
        Ok(Plan {
            commit: commit.to_string(),
            repo,
            diff: record.diff.clone(),
            cwd,
            argv,
            python_version: env["python"]["version"].as_str().map(str::to_string),
            requirements,
            variables,
            script: args.dir.join("reproduce.sh"),
            warnings,
        })
    }

    fn build(&self, args: &ReproduceArgs) -> anyhow::Result<()> {
        if args.dir.exists() {
            bail!(
                "{} exists already: give a new folder with --dir",
                args.dir.display()
            );
        }
        let code = args.dir.join("code");
        std::fs::create_dir_all(&args.dir)
            .with_context(|| format!("cannot create {}", args.dir.display()))?;
        self.checkout(&code)?;
        if let Some(diff) = &self.diff {
            let patch = args.dir.join("diff.patch");
            std::fs::write(&patch, diff)?;
            let patch = std::fs::canonicalize(&patch)?;
            git(
                Some(&code),
                &["apply", "--whitespace=nowarn", &patch.display().to_string()],
            )
            .context("the recorded uncommitted changes do not apply to the recorded commit")?;
        }
        let python = match &args.python {
            Some(python) => python.clone(),
            None => self.environment(args)?,
        };
        // Absolute but not resolved: a virtual environment's `python` is a link whose target
        // would leave the environment.
        if !python.exists() {
            bail!("no Python interpreter at {}", python.display());
        }
        let python = std::path::absolute(&python)?;
        self.write_script(args, &code, &python)
    }

    fn checkout(&self, code: &Path) -> anyhow::Result<()> {
        let target = code.display().to_string();
        let local = Path::new(&self.repo).join(".git").exists();
        if local {
            let has_commit = git(
                Some(Path::new(&self.repo)),
                &["cat-file", "-e", &format!("{}^{{commit}}", self.commit)],
            )
            .is_ok();
            if !has_commit {
                bail!(
                    "commit {} is not in the repository at {} (fetch it there, or pass --repo \
                     with a clone that has it)",
                    self.commit,
                    self.repo
                );
            }
            git(
                Some(Path::new(&self.repo)),
                &["worktree", "add", "--detach", &target, &self.commit],
            )
            .context("cannot create a git worktree at the recorded commit")?;
        } else {
            git(None, &["clone", "--quiet", &self.repo, &target])
                .with_context(|| format!("cannot clone {}", self.repo))?;
            git(
                Some(code),
                &["checkout", "--quiet", "--detach", &self.commit],
            )
            .with_context(|| {
                format!(
                    "commit {} is not in {} (it may have been rewritten or never pushed)",
                    self.commit, self.repo
                )
            })?;
        }
        Ok(())
    }

    /// A virtual environment with the recorded packages; answers its interpreter.
    fn environment(&self, args: &ReproduceArgs) -> anyhow::Result<PathBuf> {
        let venv = args.dir.join("venv");
        let wanted = self
            .python_version
            .as_deref()
            .and_then(|v| {
                let mut parts = v.split('.');
                Some(format!("python{}.{}", parts.next()?, parts.next()?))
            })
            .unwrap_or_else(|| "python3".into());
        let base = if Command::new(&wanted).arg("--version").output().is_ok() {
            wanted
        } else {
            eprintln!("warning: {wanted} (the run's Python) is not installed here; using python3");
            "python3".into()
        };
        let status = Command::new(&base)
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .with_context(|| format!("cannot start {base}"))?;
        if !status.success() {
            bail!("{base} -m venv {} failed ({status})", venv.display());
        }
        let python = venv.join("bin").join("python");
        let requirements = args.dir.join("requirements.txt");
        std::fs::write(&requirements, self.requirements.join("\n") + "\n")?;
        if !self.requirements.is_empty() {
            let output = Command::new(&python)
                .args(["-m", "pip", "install", "--disable-pip-version-check", "-r"])
                .arg(&requirements)
                .args(&args.pip_args)
                .output()
                .context("cannot start pip")?;
            if !output.status.success() {
                let text = String::from_utf8_lossy(&output.stderr);
                let reason: Vec<&str> = text
                    .lines()
                    .filter(|line| line.contains("ERROR"))
                    .take(5)
                    .collect();
                bail!(
                    "could not install the recorded packages ({}): {}",
                    requirements.display(),
                    if reason.is_empty() {
                        text.trim().to_string()
                    } else {
                        reason.join(" | ")
                    }
                );
            }
        }
        if let Some(sdk) = &args.sdk {
            let output = Command::new(&python)
                .args(["-m", "pip", "install", "--disable-pip-version-check"])
                .arg(sdk)
                .args(&args.pip_args)
                .output()
                .context("cannot start pip")?;
            if !output.status.success() {
                bail!(
                    "could not install the Cairn SDK from {}: {}",
                    sdk.display(),
                    String::from_utf8_lossy(&output.stderr).trim()
                );
            }
        }
        Ok(python)
    }

    fn write_script(&self, args: &ReproduceArgs, code: &Path, python: &Path) -> anyhow::Result<()> {
        let code = std::fs::canonicalize(code)?;
        let mut text = String::from("#!/bin/sh\n");
        text.push_str(&format!(
            "# Reproduces run {} (commit {}).\nset -e\n",
            args.run_id, self.commit
        ));
        text.push_str(&format!(
            "cd {}\n",
            quote(&code.join(&self.cwd).display().to_string())
        ));
        for (name, value) in &self.variables {
            if is_shell_name(name) {
                text.push_str(&format!("export {name}={}\n", quote(value)));
            }
        }
        text.push_str(&format!("export CAIRN_URL={}\n", quote(&args.server)));
        text.push_str(&format!(
            "export CAIRN_REPRODUCES={}\n",
            quote(&args.run_id)
        ));
        let mut command = vec![python.display().to_string()];
        command.extend(self.argv.iter().cloned());
        let command: Vec<String> = command.iter().map(|part| quote(part)).collect();
        text.push_str(&format!("exec {}\n", command.join(" ")));
        std::fs::write(&self.script, text)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&self.script, std::fs::Permissions::from_mode(0o755))?;
        }
        Ok(())
    }
}

fn git(dir: Option<&Path>, args: &[&str]) -> anyhow::Result<()> {
    let mut command = Command::new("git");
    if let Some(dir) = dir {
        command.arg("-C").arg(dir);
    }
    let output = command
        .args(args)
        .output()
        .context("cannot run git (is it installed?)")?;
    if !output.status.success() {
        bail!(
            "git {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

fn is_shell_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Single-quotes a word for `sh`.
fn quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert!(is_shell_name("LR_2"));
        assert!(!is_shell_name("2LR"));
        assert!(!is_shell_name("A-B"));
        assert!(!is_shell_name(""));
    }

    fn args(dir: &str) -> ReproduceArgs {
        ReproduceArgs {
            run_id: "r1".into(),
            dir: dir.into(),
            run: false,
            repo: Some("/repo".into()),
            python: None,
            sdk: None,
            pip_args: vec![],
            server: "http://127.0.0.1:5000".into(),
        }
    }

    #[test]
    fn plans_from_a_record() {
        let environment = serde_json::json!({
            "git": {"root": "/work/proj", "commit": "abc", "untracked_count": 0},
            "cwd": "/work/proj/src",
            "command": {"argv": ["train.py", "--lr", "0.1"]},
            "python": {"version": "3.11.2"},
            "distributions": {"numpy": "2.0.0", "cairn": "0.1.0"},
            "environment": {"SEED": "7", "API_KEY": "[REDACTED]", "PATH": "/x", "SSH_AUTH_SOCK": "s"}
        });
        let plan = Plan::new(
            &args("out"),
            &Record {
                environment,
                diff: None,
            },
        )
        .unwrap();
        assert_eq!(plan.commit, "abc");
        assert_eq!(plan.repo, "/repo");
        assert_eq!(plan.cwd, PathBuf::from("src"));
        assert_eq!(plan.argv, vec!["train.py", "--lr", "0.1"]);
        assert_eq!(plan.requirements, vec!["numpy==2.0.0"]);
        assert_eq!(
            plan.variables.into_iter().collect::<Vec<_>>(),
            vec![("SEED".to_string(), "7".to_string())]
        );
        assert_eq!(
            plan.warnings.len(),
            1,
            "the SDK is not installable from an index"
        );
    }

    #[test]
    fn refuses_what_cannot_be_restored() {
        let no_git = serde_json::json!({"command": {"argv": ["x.py"]}});
        let error = Plan::new(
            &args("out"),
            &Record {
                environment: no_git,
                diff: None,
            },
        )
        .err()
        .unwrap();
        assert!(error.to_string().contains("no git commit"), "{error}");
        let cut = serde_json::json!({
            "git": {"commit": "abc", "diff_truncated": true},
            "command": {"argv": ["x.py"]}
        });
        let error = Plan::new(
            &args("out"),
            &Record {
                environment: cut,
                diff: None,
            },
        )
        .err()
        .unwrap();
        assert!(error.to_string().contains("only in part"), "{error}");
    }
}
