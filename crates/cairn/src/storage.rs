//! Opening the stores the server and the commands share: the metadata store named by `--store`
//! (the embedded SQLite file in `--data`, or PostgreSQL), the artifact blob store named by
//! `--artifacts`, and the small value parsers (durations, byte sizes) of the command line.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use cairn_blob::{BlobStore, LocalBlobStore, ObjectBlobStore};
use cairn_store::Store;

/// URL schemes that name an object store (see [`ObjectBlobStore::from_url`]).
const OBJECT_SCHEMES: &[&str] = &[
    "s3", "s3a", "gs", "az", "abfs", "abfss", "azure", "adl", "memory",
];

/// Help text of `--artifacts`, shared by `cairn server` and `cairn gc`.
pub const ARTIFACTS_HELP: &str = "\
Where artifact bytes are stored. Default: the folder `artifacts/` inside --data.

Accepted values:
  s3://bucket/prefix   Amazon S3 or an S3-compatible server (MinIO, Ceph, R2...). Settings come
                       from the standard AWS_* variables: AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID,
                       AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION, AWS_ALLOW_HTTP=true
                       for a plain-http endpoint.
  gs://bucket/prefix   Google Cloud Storage (GOOGLE_* variables, e.g.
                       GOOGLE_SERVICE_ACCOUNT_PATH).
  az://container/prefix
                       Azure Blob Storage (AZURE_* variables, e.g. AZURE_STORAGE_ACCOUNT_NAME,
                       AZURE_STORAGE_ACCOUNT_KEY); abfs://, abfss://, azure://, adl:// too.
  memory://            In memory, lost on exit (for trials).
  file:///path, /path  A local folder.

Every process that serves or collects the same data (`cairn server`, `cairn gc`) must be given the
same value.";

/// Help text of `--store`, shared by every command that opens the store.
pub const STORE_HELP: &str = "\
Where runs, metrics and the rest of the metadata are stored. Default: the embedded SQLite database
`cairn.db` inside --data.

Accepted values:
  postgres://user:password@host:port/database
                       PostgreSQL (also postgresql://, or libpq's `key=value` form). Several
                       servers may share one database (put artifacts in shared object storage
                       with --artifacts then). The database must exist; Cairn creates its tables.
  sqlite               The embedded database in --data (the default).

Every process that serves or manages the same data (`cairn server`, `gc`, `user`, `token`,
`audit`) must be given the same value.";

/// A relay's sending half, what it hears, and the guard that keeps it running.
pub type Relaying = (
    Arc<dyn cairn_store::Relay>,
    tokio::sync::mpsc::Receiver<cairn_store::Relayed>,
    cairn_store::postgres::relay::RelayGuard,
);

/// What `--store` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreTarget {
    /// `cairn.db` in the data folder.
    Embedded(PathBuf),
    /// A PostgreSQL connection string.
    Postgres(String),
}

impl StoreTarget {
    /// Reads `--store` (absent or `sqlite`: the embedded file in `data`).
    pub fn parse(store: Option<&str>, data: &Path) -> anyhow::Result<StoreTarget> {
        let store = store.map(str::trim).filter(|s| !s.is_empty());
        match store {
            None | Some("sqlite") => Ok(StoreTarget::Embedded(data.join("cairn.db"))),
            Some(url)
                if url.starts_with("postgres://")
                    || url.starts_with("postgresql://")
                    || (url.contains('=') && !url.contains("://")) =>
            {
                Ok(StoreTarget::Postgres(url.to_string()))
            }
            Some(other) => anyhow::bail!(
                "unsupported --store '{}': give a postgres:// URL, or `sqlite` for the embedded \
                 database in --data",
                redact_connection(other)
            ),
        }
    }

    /// Where the data is, for logs (credentials cut out).
    pub fn describe(&self) -> String {
        match self {
            StoreTarget::Embedded(path) => path.display().to_string(),
            StoreTarget::Postgres(url) => redact_connection(url),
        }
    }

    /// Opens the store for a server: with PostgreSQL, also the relay that shares live events
    /// with the other servers on the same database.
    pub async fn open_serving(&self) -> anyhow::Result<(Arc<dyn Store>, Option<Relaying>)> {
        match self {
            StoreTarget::Embedded(_) => Ok((self.open().await?, None)),
            StoreTarget::Postgres(url) => {
                let store = cairn_store::postgres::PgStore::connect(url)
                    .await
                    .with_context(|| format!("cannot open the database {}", self.describe()))?;
                let (relay, incoming, guard) = store
                    .start_relay()
                    .context("cannot start relaying live events")?;
                Ok((Arc::new(store), Some((relay, incoming, guard))))
            }
        }
    }

    /// Opens (creating or migrating) the store.
    pub async fn open(&self) -> anyhow::Result<Arc<dyn Store>> {
        match self {
            StoreTarget::Embedded(path) => {
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent).with_context(|| {
                        format!("cannot create data folder {}", parent.display())
                    })?;
                }
                let store = cairn_store::sqlite::SqliteStore::open(path)
                    .with_context(|| format!("cannot open the database {}", path.display()))?;
                Ok(Arc::new(store))
            }
            StoreTarget::Postgres(url) => {
                let store = cairn_store::postgres::PgStore::connect(url)
                    .await
                    .with_context(|| format!("cannot open the database {}", self.describe()))?;
                Ok(Arc::new(store))
            }
        }
    }
}

/// A connection string without its password, in URL or `key=value` form.
pub(crate) fn redact_connection(text: &str) -> String {
    if text.contains("://") {
        return cairn_core::redact::strip_url_credentials(text.to_string());
    }
    text.split_whitespace()
        .map(|pair| match pair.split_once('=') {
            Some((key, _)) if key.eq_ignore_ascii_case("password") => "password=[REDACTED]",
            _ => pair,
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Opens the blob store `url` names, or the local folder `<data>/artifacts` when it is `None`.
pub fn open_blobs(url: Option<&str>, data: &Path) -> anyhow::Result<Arc<dyn BlobStore>> {
    let url = url.map(str::trim).filter(|u| !u.is_empty());
    let folder: PathBuf = match url {
        None => data.join("artifacts"),
        Some(url) => match url.split_once("://") {
            Some(("file", path)) => PathBuf::from(path),
            Some((scheme, _)) if OBJECT_SCHEMES.contains(&scheme.to_ascii_lowercase().as_str()) => {
                let store = ObjectBlobStore::from_url(url, Vec::new())
                    .with_context(|| format!("cannot open artifact storage {url}"))?;
                return Ok(Arc::new(store));
            }
            Some((scheme, _)) => anyhow::bail!(
                "unsupported artifact storage '{url}': the scheme '{scheme}' is none of s3, gs, \
                 az, abfs, abfss, azure, adl, memory or file"
            ),
            None => PathBuf::from(url),
        },
    };
    let store = LocalBlobStore::open(&folder)
        .with_context(|| format!("cannot open the artifact folder {}", folder.display()))?;
    Ok(Arc::new(store))
}

/// Splits `30s` into `(30, "s")`: leading digits, then the rest trimmed. `None` without digits.
fn number_and_unit(text: &str) -> Option<(u64, &str)> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    Some((number.parse().ok()?, unit.trim()))
}

/// Parses a duration written `0`, `30s`, `15m`, `1h`, `7d` or `2w` (a whole number and one unit;
/// only zero may go without one, so that `--retention 7` cannot silently mean seven seconds).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (value, unit) = number_and_unit(text)
        .ok_or_else(|| format!("'{text}' is not a duration: write it like 30s, 15m, 1h or 7d"))?;
    let seconds = match unit {
        "" if value == 0 => 0,
        "" => {
            return Err(format!(
                "'{text}' has no unit: write {value}s, {value}m, {value}h or {value}d"
            ));
        }
        "s" | "sec" | "secs" => value,
        "m" | "min" | "mins" => value.saturating_mul(60),
        "h" | "hour" | "hours" => value.saturating_mul(3600),
        "d" | "day" | "days" => value.saturating_mul(86_400),
        "w" | "week" | "weeks" => value.saturating_mul(7 * 86_400),
        other => {
            return Err(format!(
                "unknown unit '{other}' in '{text}': use s, m, h, d or w"
            ));
        }
    };
    Ok(Duration::from_secs(seconds))
}

/// Parses a byte size: `5242880`, `8KiB`, `16MiB`, `1GiB` (also `K`/`M`/`G` and `KB`/`MB`/`GB`,
/// all taken as powers of 1024 since part sizes must be multiples of 1 KiB).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (value, unit) = number_and_unit(text)
        .ok_or_else(|| format!("'{text}' is not a size: write it like 8MiB or 5242880"))?;
    let factor: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        other => {
            return Err(format!(
                "unknown unit '{other}' in '{text}': use KiB, MiB or GiB"
            ));
        }
    };
    value
        .checked_mul(factor)
        .ok_or_else(|| format!("'{text}' is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(7 * 86_400)));
        assert_eq!(parse_duration("2w"), Ok(Duration::from_secs(14 * 86_400)));
        for bad in ["", "7", "h", "1.5h", "-1d", "3y", "1h30m"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("5242880"), Ok(5 << 20));
        assert_eq!(parse_size("8MiB"), Ok(8 << 20));
        assert_eq!(parse_size("8M"), Ok(8 << 20));
        assert_eq!(parse_size("1gib"), Ok(1 << 30));
        assert_eq!(parse_size("16 KiB"), Ok(16 << 10));
        for bad in ["", "MiB", "1.5MiB", "3TiB", "-1"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn local_and_memory_stores() {
        let data = tempfile::tempdir().unwrap();
        let store = open_blobs(None, data.path()).unwrap();
        assert!(
            data.path().join("artifacts").is_dir(),
            "{}",
            store.describe()
        );
        let other = data.path().join("elsewhere");
        open_blobs(Some(other.to_str().unwrap()), data.path()).unwrap();
        assert!(other.is_dir());
        let url = format!("file://{}", data.path().join("third").display());
        open_blobs(Some(&url), data.path()).unwrap();
        assert!(data.path().join("third").is_dir());
        open_blobs(Some("memory://"), data.path()).unwrap();
        assert!(open_blobs(Some("ftp://host/x"), data.path()).is_err());
    }
}
