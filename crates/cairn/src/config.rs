//! `cairn server --config FILE`: the server's settings in a TOML file, beside flags and
//! environment variables. A flag or variable that is given wins over the file; the file wins
//! over the built-in defaults. Keys are the flags' names with `_` for `-`:
//!
//! ```toml
//! host = "0.0.0.0"
//! port = 5000
//! data = "/srv/cairn"
//! store = "postgres://cairn@db.internal/cairn"
//! artifacts = "s3://bucket/cairn"
//! web_dir = "/srv/cairn-web"
//! log = "info"
//! log_format = "json"
//! ```
//!
//! An unknown key or a value of the wrong type is an error naming the line, so a typo never
//! silently falls back to a default.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::ArgMatches;
use clap::parser::ValueSource;
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    pub host: Option<String>,
    pub port: Option<u16>,
    pub data: Option<PathBuf>,
    pub store: Option<String>,
    pub artifacts: Option<String>,
    pub web_dir: Option<PathBuf>,
    pub log: Option<String>,
    pub log_format: Option<String>,
    pub auth: Option<bool>,
    pub insecure: Option<bool>,
}

pub fn load(path: &Path) -> anyhow::Result<ServerConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the config file {}", path.display()))?;
    toml::from_str(&text).map_err(|e| anyhow::anyhow!("config file {}: {e}", path.display()))
}

/// Whether the option `id` took its value from the built-in default (neither the command line
/// nor the environment gave one).
pub fn defaulted(matches: &ArgMatches, id: &str) -> bool {
    matches!(
        matches.value_source(id),
        None | Some(ValueSource::DefaultValue)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_errors() {
        let config: ServerConfig = toml::from_str("port = 5001\nlog_format = \"json\"\n").unwrap();
        assert_eq!(config.port, Some(5001));
        assert_eq!(config.log_format.as_deref(), Some("json"));
        assert!(config.host.is_none());
        let unknown = toml::from_str::<ServerConfig>("prot = 5001\n").unwrap_err();
        assert!(unknown.to_string().contains("prot"), "{unknown}");
        let wrong = toml::from_str::<ServerConfig>("port = \"x\"\n").unwrap_err();
        assert!(wrong.to_string().contains("port"), "{wrong}");
    }
}
