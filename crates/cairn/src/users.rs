//! `cairn user …`, `cairn token create` and `cairn audit`: accounts and API tokens, managed against the data
//! folder directly (like `cairn gc`), so the first admin can be made before any server runs and
//! while one does. Passwords come from standard input (`--password-stdin`) or `CAIRN_PASSWORD`,
//! never from the command line. What these commands change goes into the audit log as `cli.*`
//! actions by `cli:<login name>`.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use cairn_core::auth::{AuditQuery, Scope};
use cairn_server::auth::{Auth, auth_event};

use crate::storage::StoreTarget;

#[derive(Debug, clap::Args)]
pub struct UserArgs {
    #[command(subcommand)]
    command: UserCommand,
    /// The server's data folder.
    #[arg(
        long,
        env = "CAIRN_DATA",
        default_value = "./cairn-data",
        global = true
    )]
    data: PathBuf,
    /// The server's --store (a postgres:// URL; default: the embedded database in --data).
    #[arg(long, env = "CAIRN_STORE", value_name = "URL", global = true)]
    store: Option<String>,
}

#[derive(Debug, clap::Subcommand)]
enum UserCommand {
    /// Create a user (`--admin` for the first one).
    Create {
        username: String,
        #[arg(long)]
        admin: bool,
        /// Read the password from the first line of standard input (else CAIRN_PASSWORD).
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users.
    List,
    /// Stop a user from signing in (their sessions end; their tokens stop working).
    Disable { username: String },
    /// Let a disabled user sign in again.
    Enable { username: String },
    /// Set a new password (the user's sessions end).
    ResetPassword {
        username: String,
        #[arg(long)]
        password_stdin: bool,
    },
}

#[derive(Debug, clap::Args)]
pub struct TokenArgs {
    #[command(subcommand)]
    command: TokenCommand,
    /// The server's data folder.
    #[arg(
        long,
        env = "CAIRN_DATA",
        default_value = "./cairn-data",
        global = true
    )]
    data: PathBuf,
    /// The server's --store (a postgres:// URL; default: the embedded database in --data).
    #[arg(long, env = "CAIRN_STORE", value_name = "URL", global = true)]
    store: Option<String>,
}

#[derive(Debug, clap::Subcommand)]
enum TokenCommand {
    /// Make an API token for a user; prints its secret once (use it as CAIRN_TOKEN or
    /// MLFLOW_TRACKING_TOKEN).
    Create {
        #[arg(long)]
        user: String,
        #[arg(long, default_value = "cli")]
        name: String,
        /// `read` tokens may only read.
        #[arg(long, default_value = "write")]
        scope: String,
        /// Days until the token stops working (default: never).
        #[arg(long)]
        expires_days: Option<i64>,
    },
}

#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    /// Only this user's entries.
    #[arg(long)]
    user: Option<String>,
    /// Only actions starting with this (`auth.`, `POST /api/2.0/mlflow/runs`, `cli.`).
    #[arg(long)]
    action: Option<String>,
    /// Only entries of the last this many hours.
    #[arg(long)]
    since_hours: Option<i64>,
    #[arg(long, default_value_t = 100)]
    limit: usize,
    /// One JSON object per line instead of columns.
    #[arg(long)]
    json: bool,
    /// The server's data folder.
    #[arg(long, env = "CAIRN_DATA", default_value = "./cairn-data")]
    data: PathBuf,
    /// The server's --store (a postgres:// URL; default: the embedded database in --data).
    #[arg(long, env = "CAIRN_STORE", value_name = "URL", global = true)]
    store: Option<String>,
}

/// Who ran a command, for the audit log.
fn operator() -> String {
    format!(
        "cli:{}",
        std::env::var("USER")
            .or_else(|_| std::env::var("LOGNAME"))
            .unwrap_or_else(|_| "unknown".into())
    )
}

async fn audited(auth: &Auth, action: &str, target: &str) {
    let event = auth_event(
        action,
        target,
        200,
        Some(operator()),
        None,
        &reqwest::header::HeaderMap::new(),
    );
    auth.record(event).await;
}

async fn auth(store: Option<&str>, data: &Path) -> anyhow::Result<Auth> {
    let store = StoreTarget::parse(store, data)?.open().await?;
    Ok(Auth::new(store, true))
}

fn password(from_stdin: bool) -> anyhow::Result<String> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("cannot read the password from standard input")?;
        return Ok(line.trim_end_matches(['\r', '\n']).to_string());
    }
    std::env::var("CAIRN_PASSWORD").map_err(|_| {
        anyhow::anyhow!(
            "give the password on standard input with --password-stdin, or in CAIRN_PASSWORD"
        )
    })
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

pub fn user(args: UserArgs) -> anyhow::Result<()> {
    let runtime = runtime()?;
    runtime.block_on(async {
        let auth = auth(args.store.as_deref(), &args.data).await?;
        match args.command {
            UserCommand::Create {
                username,
                admin,
                password_stdin,
            } => {
                let user = auth
                    .create_user(&username, &password(password_stdin)?, admin)
                    .await
                    .map_err(|e| anyhow::anyhow!(e.message))?;
                audited(&auth, "cli.user_create", &user.username).await;
                println!(
                    "created user {}{}",
                    user.username,
                    if user.is_admin { " (admin)" } else { "" }
                );
            }
            UserCommand::List => {
                let users = auth
                    .list_users()
                    .await
                    .map_err(|e| anyhow::anyhow!(e.message))?;
                for user in users {
                    println!(
                        "{}\t{}{}",
                        user.username,
                        if user.is_admin { "admin" } else { "user" },
                        if user.disabled { "\tdisabled" } else { "" }
                    );
                }
            }
            UserCommand::Disable { username } => {
                auth.set_disabled(&username, true)
                    .await
                    .map_err(|e| anyhow::anyhow!(e.message))?;
                audited(&auth, "cli.user_disable", &username).await;
                println!("disabled {username}");
            }
            UserCommand::Enable { username } => {
                auth.set_disabled(&username, false)
                    .await
                    .map_err(|e| anyhow::anyhow!(e.message))?;
                audited(&auth, "cli.user_enable", &username).await;
                println!("enabled {username}");
            }
            UserCommand::ResetPassword {
                username,
                password_stdin,
            } => {
                auth.set_password(&username, &password(password_stdin)?)
                    .await
                    .map_err(|e| anyhow::anyhow!(e.message))?;
                audited(&auth, "cli.user_reset_password", &username).await;
                println!("new password set for {username}; their sessions ended");
            }
        }
        Ok(())
    })
}

pub fn token(args: TokenArgs) -> anyhow::Result<()> {
    let runtime = runtime()?;
    runtime.block_on(async {
        let TokenCommand::Create {
            user,
            name,
            scope,
            expires_days,
        } = args.command;
        let Some(scope) = Scope::parse(&scope) else {
            bail!("--scope must be read or write, not {scope}");
        };
        let auth = auth(args.store.as_deref(), &args.data).await?;
        let found = auth
            .user(&user)
            .await
            .map_err(|e| anyhow::anyhow!(e.message))?;
        let Some(user) = found else {
            bail!("no user '{user}' (create it with `cairn user create {user}`)");
        };
        let (token, secret) = auth
            .create_token(&user, &name, scope, expires_days)
            .await
            .map_err(|e| anyhow::anyhow!(e.message))?;
        audited(&auth, "cli.token_create", &user.username).await;
        eprintln!(
            "token {} ({}, {}) for {}; this is the only time its secret is shown:",
            token.id,
            token.name,
            token.scope.as_str(),
            user.username
        );
        println!("{secret}");
        Ok(())
    })
}

pub fn audit(args: AuditArgs) -> anyhow::Result<()> {
    let runtime = runtime()?;
    runtime.block_on(async {
        if let StoreTarget::Embedded(database) =
            StoreTarget::parse(args.store.as_deref(), &args.data)?
            && !database.exists()
        {
            bail!(
                "no Cairn database at {} (pass the server's --data folder)",
                database.display()
            );
        }
        let auth = auth(args.store.as_deref(), &args.data).await?;
        let since = args
            .since_hours
            .map(|hours| cairn_server::tracking::now_ms() - hours * 3600 * 1000);
        let entries = auth
            .search_audit(AuditQuery {
                username: args.user,
                action_prefix: args.action,
                since,
                until: None,
                before_id: None,
                limit: args.limit,
            })
            .await
            .map_err(|e| anyhow::anyhow!(e.message))?;
        for e in entries {
            if args.json {
                println!(
                    "{}",
                    serde_json::json!({
                        "id": e.id, "time": e.time, "username": e.username, "action": e.action,
                        "target": e.target, "status": e.status, "source": e.source,
                        "user_agent": e.user_agent,
                    })
                );
            } else {
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}",
                    e.time,
                    e.username.as_deref().unwrap_or("-"),
                    e.action,
                    e.target,
                    e.status,
                    e.source.as_deref().unwrap_or("-")
                );
            }
        }
        Ok(())
    })
}
