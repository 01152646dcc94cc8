//! `cairn user …` and `cairn token create`: accounts and API tokens, managed against the data
//! folder directly (like `cairn gc`), so the first admin can be made before any server runs and
//! while one does. Passwords come from standard input (`--password-stdin`) or `CAIRN_PASSWORD`,
//! never from the command line.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use cairn_core::auth::Scope;
use cairn_server::auth::Auth;

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

fn auth(data: &Path) -> anyhow::Result<Auth> {
    std::fs::create_dir_all(data)
        .with_context(|| format!("cannot create data folder {}", data.display()))?;
    let store = cairn_store::sqlite::SqliteStore::open(&data.join("cairn.db"))
        .with_context(|| format!("cannot open the database in {}", data.display()))?;
    Ok(Auth::new(Arc::new(store), true))
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
        let auth = auth(&args.data)?;
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
                println!("disabled {username}");
            }
            UserCommand::Enable { username } => {
                auth.set_disabled(&username, false)
                    .await
                    .map_err(|e| anyhow::anyhow!(e.message))?;
                println!("enabled {username}");
            }
            UserCommand::ResetPassword {
                username,
                password_stdin,
            } => {
                auth.set_password(&username, &password(password_stdin)?)
                    .await
                    .map_err(|e| anyhow::anyhow!(e.message))?;
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
        let auth = auth(&args.data)?;
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
