//! The artifact catalogue on PostgreSQL: manifests, blob rows, leases, uploads in parts and the
//! bookkeeping of garbage collection. [`crate::artifacts`] is the contract; the embedded
//! store's module (`sqlite::artifacts`) is the original, whose path ranges (`d/ < path < d0`,
//! byte order under `COLLATE "C"`) and conversions this one shares.
//!
//! What differs is concurrency. SQLite's single writer made every check-then-write safe; here
//! several servers write at once, so what a write checks is locked first:
//!
//! - A blob row is locked `FOR SHARE` by a lease and by a manifest write that relies on it, and
//!   `FOR UPDATE SKIP LOCKED` by [`claim_garbage`], which then checks references and leases again
//!   in a fresh statement (one that sees every transaction finished before the lock was taken).
//!   So a claim never takes a blob a lease or a manifest entry is being written for, and a lease
//!   or put that waited on a claim sees the row collecting.
//! - A digest without a row has nothing to lock: [`lease_blob`] holds a shared advisory lock on
//!   the digest and [`claim_orphan`] an exclusive one, so an orphan claim never drops a lease
//!   being taken. A manifest write and an orphan claim that both insert the row meet on its key
//!   (`ON CONFLICT DO NOTHING`, then the row is read again).
//! - [`put`] holds shared advisory locks on the ancestors of its path and an exclusive one on the
//!   path, so two concurrent writes can never put a file where the other puts a directory.
//! - An upload's row is locked while its parts change, so a part never outlives its upload.
//!
//! Advisory locks use the two-key form (a namespace, the text's hash), a key space apart from
//! the single-key lock the schema migration takes; a hash collision only serialises two writes.

use async_trait::async_trait;
use postgres::{Row, Transaction};

use super::PgStore;
use crate::sqlite::artifacts::{
    COLLECTING, ENTRY_COLUMNS, LIST_BATCH, UPLOAD_COLUMNS, below, limit_value, listed_path, signed,
    unsigned,
};
use crate::{
    ArtifactStore, BlobInfo, Garbage, Lease, Listed, ManifestEntry, Result, StoreError, Upload,
    UploadPart,
};

/// Advisory-lock namespace of blob digests (`blob` in ASCII).
const DIGEST_LOCKS: i32 = 0x626c_6f62;
/// Advisory-lock namespace of artifact paths (`path` in ASCII).
const PATH_LOCKS: i32 = 0x7061_7468;

// ---------------------------------------------------------------------------------------------
// Conversions

fn entry_from_row(row: &Row) -> Result<ManifestEntry> {
    Ok(ManifestEntry {
        path: row.try_get(0)?,
        digest: row.try_get(1)?,
        size: unsigned(row.try_get(2)?),
        content_type: row.try_get(3)?,
        created: row.try_get(4)?,
    })
}

fn entries(rows: Vec<Row>) -> Result<Vec<ManifestEntry>> {
    rows.iter().map(entry_from_row).collect()
}

fn garbage_from_row(row: &Row) -> Result<Garbage> {
    Ok(Garbage {
        digest: row.try_get(0)?,
        size: unsigned(row.try_get(1)?),
    })
}

/// Up to `limit` entries with `lower < path` (or `lower <= path` when `inclusive`) and
/// `path < upper`, by path.
fn entries_in_range(
    tx: &mut Transaction<'_>,
    lower: &str,
    inclusive: bool,
    upper: Option<&str>,
    limit: usize,
) -> Result<Vec<ManifestEntry>> {
    let op = if inclusive { ">=" } else { ">" };
    let limit = limit_value(limit);
    let rows = match upper {
        Some(upper) => tx.query(
            &format!(
                "SELECT {ENTRY_COLUMNS} FROM artifacts WHERE path {op} $1 AND path < $2
                 ORDER BY path LIMIT $3"
            ),
            &[&lower, &upper, &limit],
        )?,
        None => tx.query(
            &format!(
                "SELECT {ENTRY_COLUMNS} FROM artifacts WHERE path {op} $1 ORDER BY path LIMIT $2"
            ),
            &[&lower, &limit],
        )?,
    };
    entries(rows)
}

fn is_file(tx: &mut Transaction<'_>, path: &str) -> Result<bool> {
    Ok(tx
        .query_opt("SELECT 1 FROM artifacts WHERE path = $1", &[&path])?
        .is_some())
}

/// Whether anything is stored below directory `dir` (not the root).
fn has_children(tx: &mut Transaction<'_>, dir: &str) -> Result<bool> {
    let (lower, upper) = below(dir);
    Ok(tx
        .query_opt(
            "SELECT 1 FROM artifacts WHERE path > $1 AND path < $2 LIMIT 1",
            &[&lower, &upper],
        )?
        .is_some())
}

// ---------------------------------------------------------------------------------------------
// Manifests

pub fn get(tx: &mut Transaction<'_>, path: &str) -> Result<Option<ManifestEntry>> {
    tx.query_opt(
        &format!("SELECT {ENTRY_COLUMNS} FROM artifacts WHERE path = $1"),
        &[&path],
    )?
    .as_ref()
    .map(entry_from_row)
    .transpose()
}

/// Refuses a blob row that `put` cannot reference: one being collected, or one of another size.
fn check_blob(digest: &str, state: &str, stored: i64, size: i64) -> Result<()> {
    if state == COLLECTING {
        return Err(StoreError::InvalidArgument(format!(
            "blob {digest} is being deleted by garbage collection; upload the file again"
        )));
    }
    if stored != size {
        return Err(StoreError::InvalidArgument(format!(
            "blob {digest} holds {stored} bytes, not {size}"
        )));
    }
    Ok(())
}

/// The blob row of `digest` (state, size), locked against a claim until the transaction ends.
fn locked_blob(tx: &mut Transaction<'_>, digest: &str) -> Result<Option<(String, i64)>> {
    tx.query_opt(
        "SELECT state, size FROM blobs WHERE digest = $1 FOR SHARE",
        &[&digest],
    )?
    .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
    .transpose()
}

pub fn put(tx: &mut Transaction<'_>, entry: &ManifestEntry, lease: Option<&str>) -> Result<()> {
    let size = signed(entry.size, "size")?;
    if entry.path.is_empty() {
        return Err(StoreError::InvalidArgument(
            "an artifact needs a path".to_string(),
        ));
    }
    let ancestors: Vec<String> = entry
        .path
        .match_indices('/')
        .map(|(slash, _)| entry.path[..slash].to_string())
        .collect();
    // Writes below an ancestor share its lock; a write at a path takes it alone. Shallowest
    // first, the order every write takes them in.
    tx.execute(
        "SELECT pg_advisory_xact_lock_shared($1, hashtext(a)) FROM unnest($2::TEXT[]) AS a",
        &[&PATH_LOCKS, &ancestors],
    )?;
    tx.execute(
        "SELECT pg_advisory_xact_lock($1, hashtext($2::TEXT))",
        &[&PATH_LOCKS, &entry.path],
    )?;
    if has_children(tx, &entry.path)? {
        return Err(StoreError::InvalidArgument(format!(
            "cannot store a file at {}: it is a directory",
            entry.path
        )));
    }
    for ancestor in &ancestors {
        if is_file(tx, ancestor)? {
            return Err(StoreError::InvalidArgument(format!(
                "cannot store {}: {ancestor} is a file",
                entry.path
            )));
        }
    }

    // The row is locked against a claim, or inserted (live) by this write. A row inserted by
    // another write meanwhile is judged as if it had been there; one that came and went (an
    // orphan claim, then its collection) sends the write back to the lease check.
    let blob = loop {
        if let Some(blob) = locked_blob(tx, &entry.digest)? {
            break Some(blob);
        }
        // No row: the bytes were stored under the caller's lease. A lease that is gone was
        // dropped when the digest was claimed for collection (it had expired), so the bytes
        // may be gone too: refuse rather than record a file without bytes.
        if let Some(lease) = lease {
            let held = tx
                .query_opt(
                    "SELECT 1 FROM blob_leases WHERE lease = $1 AND digest = $2",
                    &[&lease, &entry.digest],
                )?
                .is_some();
            if !held {
                return Err(StoreError::InvalidArgument(format!(
                    "lease {lease} on blob {} was lost (it expired and the blob was \
                     collected); upload the file again",
                    entry.digest
                )));
            }
        }
        let inserted = tx.execute(
            "INSERT INTO blobs (digest, size, created, state, claimed)
             VALUES ($1, $2, $3, 'live', NULL)
             ON CONFLICT (digest) DO NOTHING",
            &[&entry.digest, &size, &entry.created],
        )?;
        if inserted > 0 {
            break None;
        }
    };
    if let Some((state, stored)) = blob {
        check_blob(&entry.digest, &state, stored, size)?;
    }

    tx.execute(
        "INSERT INTO artifacts (path, digest, size, content_type, created)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (path) DO UPDATE SET digest = excluded.digest, size = excluded.size,
             content_type = excluded.content_type, created = excluded.created",
        &[
            &entry.path,
            &entry.digest,
            &size,
            &entry.content_type,
            &entry.created,
        ],
    )?;
    if let Some(lease) = lease {
        release_lease(tx, lease)?;
    }
    Ok(())
}

/// The direct children of `dir`. Files are read in batches; each subdirectory costs one index
/// seek (the scan jumps from its first entry to the first path after it), so a listing does not
/// read the files of its subdirectories.
pub fn list(tx: &mut Transaction<'_>, dir: &str) -> Result<Option<Vec<Listed>>> {
    if !dir.is_empty() && is_file(tx, dir)? {
        return Ok(Some(Vec::new()));
    }
    let (prefix, upper) = below(dir);
    let mut listed = Vec::new();
    let mut lower = prefix.clone();
    let mut inclusive = false;
    loop {
        let rows = entries_in_range(tx, &lower, inclusive, upper.as_deref(), LIST_BATCH)?;
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

pub fn walk(
    tx: &mut Transaction<'_>,
    prefix: &str,
    after: Option<&str>,
    limit: usize,
) -> Result<Vec<ManifestEntry>> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    if !prefix.is_empty()
        && let Some(entry) = get(tx, prefix)?
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
    entries_in_range(tx, &lower, false, upper.as_deref(), limit)
}

pub fn delete(tx: &mut Transaction<'_>, path: &str) -> Result<u64> {
    if path.is_empty() {
        return Err(StoreError::InvalidArgument(
            "refusing to delete every artifact (empty path)".to_string(),
        ));
    }
    let (lower, upper) = below(path);
    let file = tx.execute("DELETE FROM artifacts WHERE path = $1", &[&path])?;
    let below = tx.execute(
        "DELETE FROM artifacts WHERE path > $1 AND path < $2",
        &[&lower, &upper],
    )?;
    Ok(file + below)
}

// ---------------------------------------------------------------------------------------------
// Blobs and leases

pub fn lease_blob(
    tx: &mut Transaction<'_>,
    lease: &str,
    digest: &str,
    expires: i64,
) -> Result<Lease> {
    // Leases of one digest share this lock; an orphan claim of the digest takes it alone.
    tx.execute(
        "SELECT pg_advisory_xact_lock_shared($1, hashtext($2::TEXT))",
        &[&DIGEST_LOCKS, &digest],
    )?;
    let state: Option<String> = tx
        .query_opt(
            "SELECT state FROM blobs WHERE digest = $1 FOR SHARE",
            &[&digest],
        )?
        .map(|row| row.try_get(0))
        .transpose()?;
    if state.as_deref() == Some(COLLECTING) {
        return Ok(Lease::Collecting);
    }
    tx.execute(
        "INSERT INTO blob_leases (lease, digest, expires) VALUES ($1, $2, $3)
         ON CONFLICT (lease) DO UPDATE SET digest = excluded.digest, expires = excluded.expires",
        &[&lease, &digest, &expires],
    )?;
    Ok(match state {
        Some(_) => Lease::Stored,
        None => Lease::Absent,
    })
}

pub fn release_lease(tx: &mut Transaction<'_>, lease: &str) -> Result<()> {
    tx.execute("DELETE FROM blob_leases WHERE lease = $1", &[&lease])?;
    Ok(())
}

pub fn blob_info(tx: &mut Transaction<'_>, digest: &str) -> Result<Option<BlobInfo>> {
    tx.query_opt(
        "SELECT b.digest, b.size, b.created,
                (SELECT count(*) FROM artifacts a WHERE a.digest = b.digest)
         FROM blobs b WHERE b.digest = $1",
        &[&digest],
    )?
    .map(|row| {
        Ok(BlobInfo {
            digest: row.try_get(0)?,
            size: unsigned(row.try_get(1)?),
            created: row.try_get(2)?,
            references: unsigned(row.try_get(3)?),
        })
    })
    .transpose()
}

pub fn blob_references(
    tx: &mut Transaction<'_>,
    digest: &str,
    limit: usize,
) -> Result<Vec<ManifestEntry>> {
    let rows = tx.query(
        &format!("SELECT {ENTRY_COLUMNS} FROM artifacts WHERE digest = $1 ORDER BY path LIMIT $2"),
        &[&digest, &limit_value(limit)],
    )?;
    entries(rows)
}

/// Neither referenced by a manifest entry nor leased past `$1`, for blob row `b`.
const UNUSED: &str = "NOT EXISTS (SELECT 1 FROM artifacts a WHERE a.digest = b.digest)
     AND NOT EXISTS (SELECT 1 FROM blob_leases l WHERE l.digest = b.digest AND l.expires > $1)";

/// The re-claims, then the live blobs, that [`garbage`] finds; `lock` is appended to both
/// queries.
fn candidates(
    tx: &mut Transaction<'_>,
    now: i64,
    created_before: i64,
    limit: usize,
    lock: &str,
) -> Result<Vec<Garbage>> {
    let mut found = tx
        .query(
            &format!(
                "SELECT b.digest, b.size FROM blobs b
                 WHERE b.state = 'collecting' AND b.claimed < $2 AND {UNUSED}
                 ORDER BY b.claimed, b.digest LIMIT $3 {lock}"
            ),
            &[&now, &created_before, &limit_value(limit)],
        )?
        .iter()
        .map(garbage_from_row)
        .collect::<Result<Vec<_>>>()?;
    let room = limit.saturating_sub(found.len());
    if room > 0 {
        let live = tx.query(
            &format!(
                "SELECT b.digest, b.size FROM blobs b
                 WHERE b.state = 'live' AND b.created < $2 AND {UNUSED}
                 ORDER BY b.created, b.digest LIMIT $3 {lock}"
            ),
            &[&now, &created_before, &limit_value(room)],
        )?;
        for row in &live {
            found.push(garbage_from_row(row)?);
        }
    }
    Ok(found)
}

/// Blobs that may be claimed now: unreferenced, without an unexpired lease, and either live and
/// created before `created_before`, or left collecting since before `created_before` (a
/// collector that died; the same grace keeps a working collector's claims its own). Re-claims
/// first, then the oldest blobs.
pub fn garbage(
    tx: &mut Transaction<'_>,
    now: i64,
    created_before: i64,
    limit: usize,
) -> Result<Vec<Garbage>> {
    candidates(tx, now, created_before, limit, "")
}

/// Marks the blobs [`garbage`] finds as collecting, and drops their (expired) leases: a lease
/// that was lost this way makes `put_artifact` refuse to record the digest without a row.
///
/// The candidates' rows are locked first (skipping rows a lease, a put or another collector
/// holds), then checked again: a statement that starts after the locks are held sees every
/// lease and manifest entry committed before, and none can be added while they are held.
pub fn claim_garbage(
    tx: &mut Transaction<'_>,
    now: i64,
    created_before: i64,
    limit: usize,
) -> Result<Vec<Garbage>> {
    let locked = candidates(
        tx,
        now,
        created_before,
        limit,
        "FOR UPDATE OF b SKIP LOCKED",
    )?;
    if locked.is_empty() {
        return Ok(locked);
    }
    let digests: Vec<String> = locked.iter().map(|blob| blob.digest.clone()).collect();
    let still: Vec<String> = tx
        .query(
            &format!(
                "SELECT b.digest FROM blobs b
                 WHERE b.digest = ANY($2) AND {UNUSED}
                   AND ((b.state = 'collecting' AND b.claimed < $3)
                        OR (b.state = 'live' AND b.created < $3))"
            ),
            &[&now, &digests, &created_before],
        )?
        .iter()
        .map(|row| row.try_get(0))
        .collect::<std::result::Result<_, _>>()?;
    let claimed: Vec<Garbage> = locked
        .into_iter()
        .filter(|blob| still.contains(&blob.digest))
        .collect();
    let digests: Vec<String> = claimed.iter().map(|blob| blob.digest.clone()).collect();
    tx.execute(
        "UPDATE blobs SET state = 'collecting', claimed = $2 WHERE digest = ANY($1)",
        &[&digests, &now],
    )?;
    tx.execute(
        "DELETE FROM blob_leases WHERE digest = ANY($1)",
        &[&digests],
    )?;
    Ok(claimed)
}

pub fn claim_orphan(tx: &mut Transaction<'_>, digest: &str, size: u64, now: i64) -> Result<bool> {
    let size = signed(size, "size")?;
    // Alone against leases of the digest: none is taken until this claim has committed, and
    // every lease taken before is seen below.
    tx.execute(
        "SELECT pg_advisory_xact_lock($1, hashtext($2::TEXT))",
        &[&DIGEST_LOCKS, &digest],
    )?;
    let has_row = tx
        .query_opt("SELECT 1 FROM blobs WHERE digest = $1", &[&digest])?
        .is_some();
    if has_row {
        return Ok(false);
    }
    let leased = tx
        .query_opt(
            "SELECT 1 FROM blob_leases WHERE digest = $1 AND expires > $2 LIMIT 1",
            &[&digest, &now],
        )?
        .is_some();
    if leased {
        return Ok(false);
    }
    // A put that records the digest meanwhile inserts the row first: then it is no orphan.
    let inserted = tx.execute(
        "INSERT INTO blobs (digest, size, created, state, claimed)
         VALUES ($1, $2, $3, 'collecting', $3)
         ON CONFLICT (digest) DO NOTHING",
        &[&digest, &size, &now],
    )?;
    if inserted == 0 {
        return Ok(false);
    }
    tx.execute("DELETE FROM blob_leases WHERE digest = $1", &[&digest])?;
    Ok(true)
}

pub fn forget_blobs(tx: &mut Transaction<'_>, digests: &[String]) -> Result<()> {
    tx.execute(
        "DELETE FROM blobs WHERE digest = ANY($1) AND state = 'collecting'",
        &[&digests],
    )?;
    Ok(())
}

/// Artifact roots of runs deleted before `cutoff`, of every run of an experiment deleted before
/// it, and of logged models deleted before it; sorted, each once.
pub fn deleted_roots(tx: &mut Transaction<'_>, cutoff: i64) -> Result<Vec<String>> {
    Ok(tx
        .query(
            "SELECT artifact_uri FROM runs
             WHERE lifecycle_stage = 'deleted' AND deleted_time < $1
             UNION
             SELECT r.artifact_uri FROM experiments e
             JOIN runs r ON r.experiment_id = e.experiment_id
             WHERE e.lifecycle_stage = 'deleted' AND e.last_update_time < $1
             UNION
             SELECT artifact_location FROM logged_models
             WHERE lifecycle_stage = 'deleted' AND last_updated_timestamp < $1
             ORDER BY 1",
            &[&cutoff],
        )?
        .iter()
        .map(|row| row.try_get(0))
        .collect::<std::result::Result<_, _>>()?)
}

// ---------------------------------------------------------------------------------------------
// Uploads in parts

fn upload_from_row(row: &Row) -> Result<Upload> {
    let parts: Option<i64> = row.try_get(5)?;
    Ok(Upload {
        id: row.try_get(0)?,
        path: row.try_get(1)?,
        run_id: row.try_get(2)?,
        size: row.try_get::<_, Option<i64>>(3)?.map(unsigned),
        part_size: row.try_get::<_, Option<i64>>(4)?.map(unsigned),
        parts: parts.map(|parts| u32::try_from(parts).unwrap_or(0)),
        expected_digest: row.try_get(6)?,
        content_type: row.try_get(7)?,
        backend_state: row.try_get(8)?,
        created: row.try_get(9)?,
    })
}

pub fn create_upload(tx: &mut Transaction<'_>, upload: &Upload) -> Result<()> {
    let size = upload.size.map(|s| signed(s, "size")).transpose()?;
    let part_size = upload
        .part_size
        .map(|s| signed(s, "part size"))
        .transpose()?;
    let parts = upload.parts.map(i64::from);
    let inserted = tx.execute(
        "INSERT INTO uploads (id, path, run_id, size, part_size, parts, expected_digest,
                              content_type, backend_state, created)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         ON CONFLICT (id) DO NOTHING",
        &[
            &upload.id,
            &upload.path,
            &upload.run_id,
            &size,
            &part_size,
            &parts,
            &upload.expected_digest,
            &upload.content_type,
            &upload.backend_state,
            &upload.created,
        ],
    )?;
    if inserted == 0 {
        return Err(StoreError::AlreadyExists(format!(
            "upload {} already exists",
            upload.id
        )));
    }
    Ok(())
}

pub fn get_upload(tx: &mut Transaction<'_>, id: &str) -> Result<Option<Upload>> {
    tx.query_opt(
        &format!("SELECT {UPLOAD_COLUMNS} FROM uploads WHERE id = $1"),
        &[&id],
    )?
    .as_ref()
    .map(upload_from_row)
    .transpose()
}

pub fn put_upload_part(tx: &mut Transaction<'_>, id: &str, part: &UploadPart) -> Result<()> {
    // Locked so that the upload is not deleted before the part is in.
    let exists = tx
        .query_opt("SELECT 1 FROM uploads WHERE id = $1 FOR SHARE", &[&id])?
        .is_some();
    if !exists {
        return Err(StoreError::NotFound(format!("upload {id} not found")));
    }
    tx.execute(
        "INSERT INTO upload_parts (upload_id, number, byte_offset, size, receipt)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (upload_id, number) DO UPDATE SET byte_offset = excluded.byte_offset,
             size = excluded.size, receipt = excluded.receipt",
        &[
            &id,
            &i64::from(part.number),
            &signed(part.offset, "offset")?,
            &signed(part.size, "size")?,
            &part.receipt,
        ],
    )?;
    Ok(())
}

pub fn upload_parts(tx: &mut Transaction<'_>, id: &str) -> Result<Vec<UploadPart>> {
    tx.query(
        "SELECT number, byte_offset, size, receipt FROM upload_parts
         WHERE upload_id = $1 ORDER BY number",
        &[&id],
    )?
    .iter()
    .map(|row| {
        Ok(UploadPart {
            number: u32::try_from(row.try_get::<_, i64>(0)?).unwrap_or(0),
            offset: unsigned(row.try_get(1)?),
            size: unsigned(row.try_get(2)?),
            receipt: row.try_get(3)?,
        })
    })
    .collect()
}

pub fn delete_upload(tx: &mut Transaction<'_>, id: &str) -> Result<()> {
    // Locked first, so that a part being recorded now lands before the delete, not after it.
    tx.execute("SELECT 1 FROM uploads WHERE id = $1 FOR UPDATE", &[&id])?;
    tx.execute("DELETE FROM upload_parts WHERE upload_id = $1", &[&id])?;
    tx.execute("DELETE FROM uploads WHERE id = $1", &[&id])?;
    Ok(())
}

pub fn stale_uploads(
    tx: &mut Transaction<'_>,
    created_before: i64,
    limit: usize,
) -> Result<Vec<Upload>> {
    tx.query(
        &format!(
            "SELECT {UPLOAD_COLUMNS} FROM uploads WHERE created < $1
             ORDER BY created, id LIMIT $2"
        ),
        &[&created_before, &limit_value(limit)],
    )?
    .iter()
    .map(upload_from_row)
    .collect()
}

// ---------------------------------------------------------------------------------------------
// The trait

#[async_trait]
impl ArtifactStore for PgStore {
    async fn lease_blob(
        &self,
        lease: &str,
        digest: &str,
        _now: i64,
        expires: i64,
    ) -> Result<Lease> {
        let (lease, digest) = (lease.to_string(), digest.to_string());
        self.write(move |tx| lease_blob(tx, &lease, &digest, expires))
            .await
    }

    async fn release_lease(&self, lease: &str) -> Result<()> {
        let lease = lease.to_string();
        self.write(move |tx| release_lease(tx, &lease)).await
    }

    async fn put_artifact(&self, entry: ManifestEntry, lease: Option<&str>) -> Result<()> {
        let lease = lease.map(str::to_string);
        self.write(move |tx| put(tx, &entry, lease.as_deref()))
            .await
    }

    async fn get_artifact(&self, path: &str) -> Result<Option<ManifestEntry>> {
        let path = path.to_string();
        self.read(move |tx| get(tx, &path)).await
    }

    async fn list_artifacts(&self, dir: &str) -> Result<Option<Vec<Listed>>> {
        let dir = dir.to_string();
        self.read(move |tx| list(tx, &dir)).await
    }

    async fn walk_artifacts(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ManifestEntry>> {
        let (prefix, after) = (prefix.to_string(), after.map(str::to_string));
        self.read(move |tx| walk(tx, &prefix, after.as_deref(), limit))
            .await
    }

    async fn delete_artifacts(&self, path: &str) -> Result<u64> {
        let path = path.to_string();
        self.write(move |tx| delete(tx, &path)).await
    }

    async fn blob_info(&self, digest: &str) -> Result<Option<BlobInfo>> {
        let digest = digest.to_string();
        self.read(move |tx| blob_info(tx, &digest)).await
    }

    async fn blob_references(&self, digest: &str, limit: usize) -> Result<Vec<ManifestEntry>> {
        let digest = digest.to_string();
        self.read(move |tx| blob_references(tx, &digest, limit))
            .await
    }

    async fn deleted_artifact_roots(&self, cutoff: i64) -> Result<Vec<String>> {
        self.read(move |tx| deleted_roots(tx, cutoff)).await
    }

    async fn garbage(&self, now: i64, created_before: i64, limit: usize) -> Result<Vec<Garbage>> {
        self.read(move |tx| garbage(tx, now, created_before, limit))
            .await
    }

    async fn claim_garbage(
        &self,
        now: i64,
        created_before: i64,
        limit: usize,
    ) -> Result<Vec<Garbage>> {
        self.write(move |tx| claim_garbage(tx, now, created_before, limit))
            .await
    }

    async fn claim_orphan(&self, digest: &str, size: u64, now: i64) -> Result<bool> {
        let digest = digest.to_string();
        self.write(move |tx| claim_orphan(tx, &digest, size, now))
            .await
    }

    async fn forget_blobs(&self, digests: &[String]) -> Result<()> {
        if digests.is_empty() {
            return Ok(());
        }
        let digests = digests.to_vec();
        self.write(move |tx| forget_blobs(tx, &digests)).await
    }

    async fn create_upload(&self, upload: Upload) -> Result<()> {
        self.write(move |tx| create_upload(tx, &upload)).await
    }

    async fn get_upload(&self, id: &str) -> Result<Option<Upload>> {
        let id = id.to_string();
        self.read(move |tx| get_upload(tx, &id)).await
    }

    async fn put_upload_part(&self, id: &str, part: UploadPart) -> Result<()> {
        let id = id.to_string();
        self.write(move |tx| put_upload_part(tx, &id, &part)).await
    }

    async fn upload_parts(&self, id: &str) -> Result<Vec<UploadPart>> {
        let id = id.to_string();
        self.read(move |tx| upload_parts(tx, &id)).await
    }

    async fn delete_upload(&self, id: &str) -> Result<()> {
        let id = id.to_string();
        self.write(move |tx| delete_upload(tx, &id)).await
    }

    async fn stale_uploads(&self, created_before: i64, limit: usize) -> Result<Vec<Upload>> {
        self.read(move |tx| stale_uploads(tx, created_before, limit))
            .await
    }
}
