//! The artifact catalogue on SQLite: manifests, blob rows, leases, uploads in parts and the
//! bookkeeping of garbage collection. [`crate::artifacts`] is the contract; this is its SQL.
//!
//! Every function runs inside one transaction: writes on the writer thread (one savepoint per
//! job), reads on a pooled connection inside one read transaction. Writes are serialised by the
//! writer, so a check followed by a write in the same function sees no interleaved change: that
//! is what makes the lease / claim protocol safe.
//!
//! Paths compare with SQLite's binary collation, byte for byte like Rust's `str` ordering. Every
//! entry below directory `d` lies in the primary-key range `d/ < path < d0` (`'0'` is the byte
//! after `'/'`), so directory questions are index range scans, never `LIKE` (whose `%` and `_`
//! may occur in paths). The root `""` is the unbounded range.

use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter};

use crate::{
    BlobInfo, Garbage, Lease, Listed, ManifestEntry, Result, StoreError, Upload, UploadPart,
};

pub(crate) const ENTRY_COLUMNS: &str = "path, digest, size, content_type, created";
pub(crate) const UPLOAD_COLUMNS: &str = "id, path, run_id, size, part_size, parts, expected_digest, \
    content_type, backend_state, created";
/// Rows read per step of a directory listing.
pub(crate) const LIST_BATCH: usize = 256;

pub(crate) const COLLECTING: &str = "collecting";

// ---------------------------------------------------------------------------------------------
// Conversions

/// A `u64` as SQLite's signed integer; larger values are refused rather than wrapped.
pub(crate) fn signed(value: u64, what: &str) -> Result<i64> {
    i64::try_from(value)
        .map_err(|_| StoreError::InvalidArgument(format!("{what} {value} is too large")))
}

pub(crate) fn unsigned(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// A `LIMIT` value (`usize::MAX` means no limit).
pub(crate) fn limit_value(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

fn entry_from_row(row: &Row<'_>) -> rusqlite::Result<ManifestEntry> {
    Ok(ManifestEntry {
        path: row.get(0)?,
        digest: row.get(1)?,
        size: unsigned(row.get(2)?),
        content_type: row.get(3)?,
        created: row.get(4)?,
    })
}

/// The exclusive key range strictly below directory `dir`: `lower < path < upper`; the root has
/// no upper bound.
pub(crate) fn below(dir: &str) -> (String, Option<String>) {
    if dir.is_empty() {
        (String::new(), None)
    } else {
        (format!("{dir}/"), Some(format!("{dir}0")))
    }
}

/// Up to `limit` entries with `lower < path` (or `lower <= path` when `inclusive`) and
/// `path < upper`, by path.
fn entries_in_range(
    conn: &Connection,
    lower: &str,
    inclusive: bool,
    upper: Option<&str>,
    limit: usize,
) -> Result<Vec<ManifestEntry>> {
    let op = if inclusive { ">=" } else { ">" };
    let mut binds = vec![Value::Text(lower.to_string())];
    let upper_clause = match upper {
        Some(upper) => {
            binds.push(Value::Text(upper.to_string()));
            "AND path < ?2"
        }
        None => "",
    };
    binds.push(Value::Integer(limit_value(limit)));
    let limit_placeholder = binds.len();
    let sql = format!(
        "SELECT {ENTRY_COLUMNS} FROM artifacts WHERE path {op} ?1 {upper_clause}
         ORDER BY path LIMIT ?{limit_placeholder}"
    );
    Ok(conn
        .prepare_cached(&sql)?
        .query_map(params_from_iter(binds), entry_from_row)?
        .collect::<rusqlite::Result<_>>()?)
}

fn is_file(conn: &Connection, path: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM artifacts WHERE path = ?1")?
        .exists(params![path])?)
}

/// Whether anything is stored below directory `dir` (not the root).
fn has_children(conn: &Connection, dir: &str) -> Result<bool> {
    let (lower, upper) = below(dir);
    Ok(conn
        .prepare_cached("SELECT 1 FROM artifacts WHERE path > ?1 AND path < ?2 LIMIT 1")?
        .exists(params![lower, upper])?)
}

// ---------------------------------------------------------------------------------------------
// Manifests

pub fn get(conn: &Connection, path: &str) -> Result<Option<ManifestEntry>> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {ENTRY_COLUMNS} FROM artifacts WHERE path = ?1"
        ))?
        .query_row(params![path], entry_from_row)
        .optional()?)
}

pub fn put(conn: &Connection, entry: &ManifestEntry, lease: Option<&str>) -> Result<()> {
    let size = signed(entry.size, "size")?;
    if entry.path.is_empty() {
        return Err(StoreError::InvalidArgument(
            "an artifact needs a path".to_string(),
        ));
    }
    if has_children(conn, &entry.path)? {
        return Err(StoreError::InvalidArgument(format!(
            "cannot store a file at {}: it is a directory",
            entry.path
        )));
    }
    for (slash, _) in entry.path.match_indices('/') {
        let ancestor = &entry.path[..slash];
        if is_file(conn, ancestor)? {
            return Err(StoreError::InvalidArgument(format!(
                "cannot store {}: {ancestor} is a file",
                entry.path
            )));
        }
    }

    let blob: Option<(String, i64)> = conn
        .prepare_cached("SELECT state, size FROM blobs WHERE digest = ?1")?
        .query_row(params![entry.digest], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()?;
    match blob {
        Some((state, _)) if state == COLLECTING => {
            return Err(StoreError::InvalidArgument(format!(
                "blob {} is being deleted by garbage collection; upload the file again",
                entry.digest
            )));
        }
        Some((_, stored)) if stored != size => {
            return Err(StoreError::InvalidArgument(format!(
                "blob {} holds {stored} bytes, not {size}",
                entry.digest
            )));
        }
        Some(_) => {}
        None => {
            // No row: the bytes were stored under the caller's lease. A lease that is gone was
            // dropped when the digest was claimed for collection (it had expired), so the bytes
            // may be gone too: refuse rather than record a file without bytes.
            if let Some(lease) = lease {
                let held = conn
                    .prepare_cached("SELECT 1 FROM blob_leases WHERE lease = ?1 AND digest = ?2")?
                    .exists(params![lease, entry.digest])?;
                if !held {
                    return Err(StoreError::InvalidArgument(format!(
                        "lease {lease} on blob {} was lost (it expired and the blob was \
                         collected); upload the file again",
                        entry.digest
                    )));
                }
            }
            conn.prepare_cached(
                "INSERT INTO blobs (digest, size, created, state, claimed)
                 VALUES (?1, ?2, ?3, 'live', NULL)",
            )?
            .execute(params![entry.digest, size, entry.created])?;
        }
    }

    conn.prepare_cached(
        "INSERT INTO artifacts (path, digest, size, content_type, created)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (path) DO UPDATE SET digest = excluded.digest, size = excluded.size,
             content_type = excluded.content_type, created = excluded.created",
    )?
    .execute(params![
        entry.path,
        entry.digest,
        size,
        entry.content_type,
        entry.created
    ])?;
    if let Some(lease) = lease {
        release_lease(conn, lease)?;
    }
    Ok(())
}

/// The direct children of `dir`. Files are read in batches; each subdirectory costs one index
/// seek (the scan jumps from its first entry to the first path after it), so a listing does not
/// read the files of its subdirectories.
pub fn list(conn: &Connection, dir: &str) -> Result<Option<Vec<Listed>>> {
    if !dir.is_empty() && is_file(conn, dir)? {
        return Ok(Some(Vec::new()));
    }
    let (prefix, upper) = below(dir);
    let mut listed = Vec::new();
    let mut lower = prefix.clone();
    let mut inclusive = false;
    loop {
        let rows = entries_in_range(conn, &lower, inclusive, upper.as_deref(), LIST_BATCH)?;
        let fetched = rows.len();
        let mut jumped = false;
        for entry in rows {
            let rest = &entry.path[prefix.len()..];
            if let Some(slash) = rest.find('/') {
                let sub = entry.path[..prefix.len() + slash].to_string();
                lower = format!("{sub}0");
                inclusive = true;
                listed.push(Listed::Dir(sub));
                jumped = true;
                break;
            }
            lower.clone_from(&entry.path);
            inclusive = false;
            listed.push(Listed::File(entry));
        }
        if !jumped && fetched < LIST_BATCH {
            break;
        }
    }
    if listed.is_empty() {
        return Ok(None);
    }
    // Scan order is by stored path; a directory sorts by its own (shorter) path, which can come
    // before files the scan met first (`a/b` < `a/b-x` < `a/b/c`).
    listed.sort_by(|a, b| listed_path(a).cmp(listed_path(b)));
    Ok(Some(listed))
}

pub(crate) fn listed_path(listed: &Listed) -> &str {
    match listed {
        Listed::File(entry) => &entry.path,
        Listed::Dir(path) => path,
    }
}

pub fn walk(
    conn: &Connection,
    prefix: &str,
    after: Option<&str>,
    limit: usize,
) -> Result<Vec<ManifestEntry>> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    if !prefix.is_empty()
        && let Some(entry) = get(conn, prefix)?
    {
        // A file has nothing below it.
        return Ok(if after.is_none_or(|after| after < prefix) {
            vec![entry]
        } else {
            Vec::new()
        });
    }
    let (lower, upper) = below(prefix);
    let lower = match after {
        Some(after) if after > lower.as_str() => after.to_string(),
        _ => lower,
    };
    entries_in_range(conn, &lower, false, upper.as_deref(), limit)
}

pub fn delete(conn: &Connection, path: &str) -> Result<u64> {
    if path.is_empty() {
        return Err(StoreError::InvalidArgument(
            "refusing to delete every artifact (empty path)".to_string(),
        ));
    }
    let (lower, upper) = below(path);
    let file = conn
        .prepare_cached("DELETE FROM artifacts WHERE path = ?1")?
        .execute(params![path])?;
    let below = conn
        .prepare_cached("DELETE FROM artifacts WHERE path > ?1 AND path < ?2")?
        .execute(params![lower, upper])?;
    Ok((file + below) as u64)
}

// ---------------------------------------------------------------------------------------------
// Blobs and leases

pub fn lease_blob(conn: &Connection, lease: &str, digest: &str, expires: i64) -> Result<Lease> {
    let state: Option<String> = conn
        .prepare_cached("SELECT state FROM blobs WHERE digest = ?1")?
        .query_row(params![digest], |row| row.get(0))
        .optional()?;
    if state.as_deref() == Some(COLLECTING) {
        return Ok(Lease::Collecting);
    }
    conn.prepare_cached(
        "INSERT INTO blob_leases (lease, digest, expires) VALUES (?1, ?2, ?3)
         ON CONFLICT (lease) DO UPDATE SET digest = excluded.digest, expires = excluded.expires",
    )?
    .execute(params![lease, digest, expires])?;
    Ok(match state {
        Some(_) => Lease::Stored,
        None => Lease::Absent,
    })
}

pub fn release_lease(conn: &Connection, lease: &str) -> Result<()> {
    conn.prepare_cached("DELETE FROM blob_leases WHERE lease = ?1")?
        .execute(params![lease])?;
    Ok(())
}

pub fn blob_info(conn: &Connection, digest: &str) -> Result<Option<BlobInfo>> {
    Ok(conn
        .prepare_cached(
            "SELECT b.digest, b.size, b.created,
                    (SELECT count(*) FROM artifacts a WHERE a.digest = b.digest)
             FROM blobs b WHERE b.digest = ?1",
        )?
        .query_row(params![digest], |row| {
            Ok(BlobInfo {
                digest: row.get(0)?,
                size: unsigned(row.get(1)?),
                created: row.get(2)?,
                references: unsigned(row.get(3)?),
            })
        })
        .optional()?)
}

pub fn blob_references(
    conn: &Connection,
    digest: &str,
    limit: usize,
) -> Result<Vec<ManifestEntry>> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {ENTRY_COLUMNS} FROM artifacts WHERE digest = ?1 ORDER BY path LIMIT ?2"
        ))?
        .query_map(params![digest, limit_value(limit)], entry_from_row)?
        .collect::<rusqlite::Result<_>>()?)
}

/// Blobs that may be claimed now: unreferenced, without an unexpired lease, and either live and
/// created before `created_before`, or left collecting since before `created_before` (a
/// collector that died; the same grace keeps a working collector's claims its own). Re-claims
/// first, then the oldest blobs.
pub fn garbage(
    conn: &Connection,
    now: i64,
    created_before: i64,
    limit: usize,
) -> Result<Vec<Garbage>> {
    let unused = "NOT EXISTS (SELECT 1 FROM artifacts a WHERE a.digest = b.digest)
         AND NOT EXISTS (SELECT 1 FROM blob_leases l WHERE l.digest = b.digest AND l.expires > ?1)";
    let mut found: Vec<Garbage> = conn
        .prepare_cached(&format!(
            "SELECT b.digest, b.size FROM blobs b
             WHERE b.state = 'collecting' AND b.claimed < ?2 AND {unused}
             ORDER BY b.claimed, b.digest LIMIT ?3"
        ))?
        .query_map(
            params![now, created_before, limit_value(limit)],
            garbage_from_row,
        )?
        .collect::<rusqlite::Result<_>>()?;
    let room = limit.saturating_sub(found.len());
    if room > 0 {
        let live = conn
            .prepare_cached(&format!(
                "SELECT b.digest, b.size FROM blobs b
                 WHERE b.state = 'live' AND b.created < ?2 AND {unused}
                 ORDER BY b.created, b.digest LIMIT ?3"
            ))?
            .query_map(
                params![now, created_before, limit_value(room)],
                garbage_from_row,
            )?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        found.extend(live);
    }
    Ok(found)
}

fn garbage_from_row(row: &Row<'_>) -> rusqlite::Result<Garbage> {
    Ok(Garbage {
        digest: row.get(0)?,
        size: unsigned(row.get(1)?),
    })
}

/// Marks the blobs [`garbage`] finds as collecting, and drops their (expired) leases: a lease
/// that was lost this way makes `put_artifact` refuse to record the digest without a row.
pub fn claim_garbage(
    conn: &Connection,
    now: i64,
    created_before: i64,
    limit: usize,
) -> Result<Vec<Garbage>> {
    let claimed = garbage(conn, now, created_before, limit)?;
    let mut mark = conn
        .prepare_cached("UPDATE blobs SET state = 'collecting', claimed = ?2 WHERE digest = ?1")?;
    let mut drop_leases = conn.prepare_cached("DELETE FROM blob_leases WHERE digest = ?1")?;
    for blob in &claimed {
        mark.execute(params![blob.digest, now])?;
        drop_leases.execute(params![blob.digest])?;
    }
    Ok(claimed)
}

pub fn claim_orphan(conn: &Connection, digest: &str, size: u64, now: i64) -> Result<bool> {
    let size = signed(size, "size")?;
    let has_row = conn
        .prepare_cached("SELECT 1 FROM blobs WHERE digest = ?1")?
        .exists(params![digest])?;
    if has_row {
        return Ok(false);
    }
    let leased = conn
        .prepare_cached("SELECT 1 FROM blob_leases WHERE digest = ?1 AND expires > ?2")?
        .exists(params![digest, now])?;
    if leased {
        return Ok(false);
    }
    conn.prepare_cached("DELETE FROM blob_leases WHERE digest = ?1")?
        .execute(params![digest])?;
    conn.prepare_cached(
        "INSERT INTO blobs (digest, size, created, state, claimed)
         VALUES (?1, ?2, ?3, 'collecting', ?3)",
    )?
    .execute(params![digest, size, now])?;
    Ok(true)
}

pub fn forget_blobs(conn: &Connection, digests: &[String]) -> Result<()> {
    let mut forget =
        conn.prepare_cached("DELETE FROM blobs WHERE digest = ?1 AND state = 'collecting'")?;
    for digest in digests {
        forget.execute(params![digest])?;
    }
    Ok(())
}

/// Artifact roots of runs deleted before `cutoff`, of every run of an experiment deleted before
/// it, and of logged models deleted before it; sorted, each once.
pub fn deleted_roots(conn: &Connection, cutoff: i64) -> Result<Vec<String>> {
    Ok(conn
        .prepare_cached(
            "SELECT artifact_uri FROM runs
             WHERE lifecycle_stage = 'deleted' AND deleted_time < ?1
             UNION
             SELECT r.artifact_uri FROM experiments e
             JOIN runs r ON r.experiment_id = e.experiment_id
             WHERE e.lifecycle_stage = 'deleted' AND e.last_update_time < ?1
             UNION
             SELECT artifact_location FROM logged_models
             WHERE lifecycle_stage = 'deleted' AND last_updated_timestamp < ?1
             ORDER BY 1",
        )?
        .query_map(params![cutoff], |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?)
}

// ---------------------------------------------------------------------------------------------
// Uploads in parts

fn upload_from_row(row: &Row<'_>) -> rusqlite::Result<Upload> {
    let parts: Option<i64> = row.get(5)?;
    Ok(Upload {
        id: row.get(0)?,
        path: row.get(1)?,
        run_id: row.get(2)?,
        size: row.get::<_, Option<i64>>(3)?.map(unsigned),
        part_size: row.get::<_, Option<i64>>(4)?.map(unsigned),
        parts: parts.map(|parts| u32::try_from(parts).unwrap_or(0)),
        expected_digest: row.get(6)?,
        content_type: row.get(7)?,
        backend_state: row.get(8)?,
        created: row.get(9)?,
    })
}

pub fn create_upload(conn: &Connection, upload: &Upload) -> Result<()> {
    let size = upload.size.map(|s| signed(s, "size")).transpose()?;
    let part_size = upload
        .part_size
        .map(|s| signed(s, "part size"))
        .transpose()?;
    let inserted = conn
        .prepare_cached(
            "INSERT INTO uploads (id, path, run_id, size, part_size, parts, expected_digest,
                                  content_type, backend_state, created)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
             ON CONFLICT (id) DO NOTHING",
        )?
        .execute(params![
            upload.id,
            upload.path,
            upload.run_id,
            size,
            part_size,
            upload.parts,
            upload.expected_digest,
            upload.content_type,
            upload.backend_state,
            upload.created
        ])?;
    if inserted == 0 {
        return Err(StoreError::AlreadyExists(format!(
            "upload {} already exists",
            upload.id
        )));
    }
    Ok(())
}

pub fn get_upload(conn: &Connection, id: &str) -> Result<Option<Upload>> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {UPLOAD_COLUMNS} FROM uploads WHERE id = ?1"
        ))?
        .query_row(params![id], upload_from_row)
        .optional()?)
}

pub fn put_upload_part(conn: &Connection, id: &str, part: &UploadPart) -> Result<()> {
    let exists = conn
        .prepare_cached("SELECT 1 FROM uploads WHERE id = ?1")?
        .exists(params![id])?;
    if !exists {
        return Err(StoreError::NotFound(format!("upload {id} not found")));
    }
    conn.prepare_cached(
        "INSERT INTO upload_parts (upload_id, number, byte_offset, size, receipt)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (upload_id, number) DO UPDATE SET byte_offset = excluded.byte_offset,
             size = excluded.size, receipt = excluded.receipt",
    )?
    .execute(params![
        id,
        part.number,
        signed(part.offset, "offset")?,
        signed(part.size, "size")?,
        part.receipt
    ])?;
    Ok(())
}

pub fn upload_parts(conn: &Connection, id: &str) -> Result<Vec<UploadPart>> {
    Ok(conn
        .prepare_cached(
            "SELECT number, byte_offset, size, receipt FROM upload_parts
             WHERE upload_id = ?1 ORDER BY number",
        )?
        .query_map(params![id], |row| {
            Ok(UploadPart {
                number: row.get(0)?,
                offset: unsigned(row.get(1)?),
                size: unsigned(row.get(2)?),
                receipt: row.get(3)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?)
}

pub fn delete_upload(conn: &Connection, id: &str) -> Result<()> {
    conn.prepare_cached("DELETE FROM upload_parts WHERE upload_id = ?1")?
        .execute(params![id])?;
    conn.prepare_cached("DELETE FROM uploads WHERE id = ?1")?
        .execute(params![id])?;
    Ok(())
}

pub fn stale_uploads(conn: &Connection, created_before: i64, limit: usize) -> Result<Vec<Upload>> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {UPLOAD_COLUMNS} FROM uploads WHERE created < ?1
             ORDER BY created, id LIMIT ?2"
        ))?
        .query_map(params![created_before, limit_value(limit)], upload_from_row)?
        .collect::<rusqlite::Result<_>>()?)
}
