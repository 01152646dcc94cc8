//! The behaviour every [`BlobStore`] backend must show, written once and run against each one.
//!
//! Each check is a plain `pub async fn name(store: &dyn BlobStore)` that starts from a fresh,
//! empty store and panics on a violation. The
//! [`blob_conformance_tests!`](crate::blob_conformance_tests) macro expands to one
//! `#[tokio::test]` per check, given an expression that makes a fresh `(store, guard)` pair (the
//! guard keeps e.g. a temporary directory or a server process alive for the test):
//!
//! ```ignore
//! cairn_blob::blob_conformance_tests!(make_local_store());          // a sync expression
//! cairn_blob::blob_conformance_tests!(async make_s3_store());       // a future
//! ```
//!
//! The test crate must depend on `tokio` (with `macros` and `rt-multi-thread`).
//!
//! Uploads in parts use parts of [`PART`] (5 MiB, the smallest part S3 accepts except for the
//! last one); the whole suite writes a few tens of megabytes.

use std::ops::Range;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures::StreamExt;

use crate::{BlobStore, ByteStream, Digest, ErrorKind, PartReceipt, Staged};

/// Expands to one `#[tokio::test]` per conformance check. `$make` makes a fresh
/// `(impl BlobStore, guard)`; prefix it with `async` when it is a future. A backend that cannot
/// pass a check for a reason outside this crate (a test server's deviation from the service it
/// stands for) may name it after `; skip:`, with that reason in a comment; a skipped test passes
/// and says so on stderr.
#[macro_export]
macro_rules! blob_conformance_tests {
    (async $make:expr $(; skip: [$($skip:ident),* $(,)?])?) => {
        $crate::blob_conformance_tests!(@each (async $make) [$($($skip),*)?]);
    };
    ($make:expr $(; skip: [$($skip:ident),* $(,)?])?) => {
        $crate::blob_conformance_tests!(@each (sync $make) [$($($skip),*)?]);
    };
    (@make (async $make:expr)) => { $make.await };
    (@make (sync $make:expr)) => { $make };
    (@each $maker:tt $skip:tt) => {
        $crate::blob_conformance_tests!(@tests $maker $skip;
            stage_commit_get,
            stage_long_body,
            same_bytes_are_stored_once,
            discard_leaves_nothing,
            failing_body_leaves_nothing,
            expected_size_is_enforced,
            range_reads,
            absent_blobs,
            delete_is_idempotent,
            zero_byte_blob,
            list_reports_blobs_with_sizes,
            sweep_removes_old_staging_only,
            upload_parts_out_of_order,
            upload_resent_part_replaces_it,
            upload_missing_part_then_complete,
            upload_expected_digest_mismatch,
            upload_unaligned_parts,
            upload_abort_drops_everything,
            upload_abort_of_unknown_upload_is_fine,
        );
    };
    (@skipped [$($skip:ident),*]) => { &[$(stringify!($skip)),*] };
    (@tests $maker:tt $skip:tt; $($name:ident),* $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let skipped: &[&str] = $crate::blob_conformance_tests!(@skipped $skip);
                if skipped.contains(&stringify!($name)) {
                    eprintln!("conformance check {} skipped for this backend", stringify!($name));
                    return;
                }
                let (store, guard) = $crate::blob_conformance_tests!(@make $maker);
                $crate::conformance::$name(&store).await;
                drop(store);
                drop(guard);
            }
        )*
    };
}

// ---------------------------------------------------------------------------------------------
// Helpers

/// The part size of uploads in parts (S3's minimum for every part but the last).
pub const PART: usize = 5 << 20;
/// Chunk size of the bodies the checks send.
const CHUNK: usize = 64 << 10;

/// `len` deterministic pseudo-random bytes (BLAKE3's output stream, fast even in debug builds).
pub fn data(len: usize, seed: u8) -> Vec<u8> {
    let mut out = vec![0u8; len];
    blake3::Hasher::new()
        .update(&[seed])
        .finalize_xof()
        .fill(&mut out);
    out
}

/// `data` as a stream of `CHUNK`-byte chunks.
pub fn body(data: &[u8]) -> ByteStream {
    let chunks: Vec<Result<Bytes, std::io::Error>> = data
        .chunks(CHUNK)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    Box::pin(futures::stream::iter(chunks))
}

/// The first `fail_after` bytes of `data` (rounded up to a chunk), then an error.
fn failing_body(data: &[u8], fail_after: usize) -> ByteStream {
    let mut chunks: Vec<Result<Bytes, std::io::Error>> = data[..fail_after]
        .chunks(CHUNK)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    chunks.push(Err(std::io::Error::new(
        std::io::ErrorKind::ConnectionReset,
        "the client went away",
    )));
    Box::pin(futures::stream::iter(chunks))
}

async fn stage(store: &dyn BlobStore, data: &[u8]) -> Staged {
    store
        .stage(body(data), Some(data.len() as u64))
        .await
        .expect("stage")
}

async fn store_bytes(store: &dyn BlobStore, data: &[u8]) -> Digest {
    let staged = stage(store, data).await;
    let digest = staged.digest;
    store.commit(staged).await.expect("commit");
    digest
}

async fn read(store: &dyn BlobStore, digest: &Digest, range: Option<Range<u64>>) -> Vec<u8> {
    let blob = store.get(digest, range).await.expect("get");
    let mut body = blob.body;
    let mut out = Vec::new();
    while let Some(chunk) = body.next().await {
        out.extend_from_slice(&chunk.expect("read body"));
    }
    assert_eq!(
        out.len() as u64,
        blob.range.end - blob.range.start,
        "the body holds the range"
    );
    out
}

fn kind<T: std::fmt::Debug>(result: crate::Result<T>) -> ErrorKind {
    result.expect_err("expected an error").kind()
}

/// Far enough ahead that everything staged so far counts as old.
fn later() -> SystemTime {
    SystemTime::now() + Duration::from_secs(24 * 3600)
}

/// Nothing is stored and nothing is left in staging (sweeping everything frees no byte).
async fn assert_nothing_left(store: &dyn BlobStore) {
    let listed = store.list().await.expect("list");
    assert!(listed.is_empty(), "nothing is stored: {listed:?}");
    assert_eq!(
        store.sweep(later()).await.expect("sweep"),
        0,
        "nothing is left in staging"
    );
}

async fn put_part(
    store: &dyn BlobStore,
    id: &str,
    state: &str,
    number: u32,
    offset: usize,
    bytes: &[u8],
) -> PartReceipt {
    let receipt = store
        .put_part(
            id,
            state,
            number,
            offset as u64,
            bytes.len() as u64,
            body(bytes),
        )
        .await
        .unwrap_or_else(|e| panic!("put part {number}: {e}"));
    assert_eq!(
        (receipt.number, receipt.offset, receipt.size),
        (number, offset as u64, bytes.len() as u64)
    );
    receipt
}

/// Splits `data` into parts of `part_size` (the last one shorter): (number, offset, bytes).
fn parts(data: &[u8], part_size: usize) -> Vec<(u32, usize, &[u8])> {
    data.chunks(part_size)
        .enumerate()
        .map(|(i, bytes)| (i as u32 + 1, i * part_size, bytes))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Checks

/// Staged bytes become readable under their digest once committed, and only then.
pub async fn stage_commit_get(store: &dyn BlobStore) {
    assert!(!store.describe().is_empty());
    let bytes = data(100_000, 1);
    let staged = stage(store, &bytes).await;
    assert_eq!(staged.digest, Digest::of(&bytes));
    assert_eq!(staged.size, bytes.len() as u64);
    assert_eq!(
        store.size(&staged.digest).await.unwrap(),
        None,
        "not visible yet"
    );
    let digest = staged.digest;
    assert!(store.commit(staged).await.expect("commit"));
    let blob = store.get(&digest, None).await.expect("get");
    assert_eq!(blob.size, bytes.len() as u64);
    assert_eq!(blob.range, 0..bytes.len() as u64);
    assert_eq!(read(store, &digest, None).await, bytes);
    assert_eq!(store.size(&digest).await.unwrap(), Some(bytes.len() as u64));
    // Without a declared size.
    let other = data(3000, 2);
    let staged = store.stage(body(&other), None).await.expect("stage");
    assert_eq!(staged.digest, Digest::of(&other));
    assert_eq!(staged.size, 3000);
    assert!(store.commit(staged).await.unwrap());
    assert_eq!(read(store, &Digest::of(&other), None).await, other);
}

/// A body longer than any single buffer of a backend streams through and hashes right.
pub async fn stage_long_body(store: &dyn BlobStore) {
    let bytes = data(17 * (1 << 20) + 12_345, 3);
    let staged = store.stage(body(&bytes), None).await.expect("stage");
    assert_eq!(staged.digest, Digest::of(&bytes));
    assert_eq!(staged.size, bytes.len() as u64);
    let digest = staged.digest;
    assert!(store.commit(staged).await.unwrap());
    assert!(
        read(store, &digest, None).await == bytes,
        "the bytes read back"
    );
}

/// Committing the same bytes twice stores them once.
pub async fn same_bytes_are_stored_once(store: &dyn BlobStore) {
    let bytes = data(5000, 4);
    let first = stage(store, &bytes).await;
    let second = stage(store, &bytes).await;
    assert_eq!(first.digest, second.digest);
    assert!(store.commit(first).await.unwrap(), "first commit stores");
    assert!(
        !store.commit(second).await.unwrap(),
        "second commit finds it"
    );
    let listed = store.list().await.unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].digest, Digest::of(&bytes));
    assert_eq!(listed[0].size, 5000);
    assert_eq!(
        store.sweep(later()).await.unwrap(),
        0,
        "no staged copy left"
    );
    assert_eq!(read(store, &Digest::of(&bytes), None).await, bytes);
}

/// Discarded bytes are never visible and leave nothing behind.
pub async fn discard_leaves_nothing(store: &dyn BlobStore) {
    let bytes = data(20_000, 5);
    let staged = stage(store, &bytes).await;
    let digest = staged.digest;
    store.discard(staged.clone()).await.expect("discard");
    assert_eq!(store.size(&digest).await.unwrap(), None);
    assert_eq!(kind(store.get(&digest, None).await), ErrorKind::NotFound);
    assert_nothing_left(store).await;
    store
        .discard(staged)
        .await
        .expect("discarding twice is fine");
}

/// A body that fails half-way is `Aborted` and leaves nothing, whether short or long.
pub async fn failing_body_leaves_nothing(store: &dyn BlobStore) {
    let bytes = data(12 << 20, 6);
    for fail_after in [0, 100_000, 10 << 20] {
        let result = store.stage(failing_body(&bytes, fail_after), None).await;
        assert_eq!(
            kind(result),
            ErrorKind::Aborted,
            "failing after {fail_after}"
        );
        let result = store
            .stage(failing_body(&bytes, fail_after), Some(bytes.len() as u64))
            .await;
        assert_eq!(
            kind(result),
            ErrorKind::Aborted,
            "failing after {fail_after}"
        );
    }
    assert_nothing_left(store).await;
}

/// A body of another length than declared is `Invalid` and leaves nothing.
pub async fn expected_size_is_enforced(store: &dyn BlobStore) {
    let bytes = data(10_000, 7);
    for declared in [0, 9_999, 10_001, 1 << 30] {
        let result = store.stage(body(&bytes), Some(declared)).await;
        assert_eq!(kind(result), ErrorKind::Invalid, "declared {declared}");
    }
    // Longer than declared, past a backend's single buffer.
    let long = data(9 << 20, 8);
    let result = store.stage(body(&long), Some((8 << 20) + 1)).await;
    assert_eq!(kind(result), ErrorKind::Invalid);
    let result = store.stage(body(&long), Some((10 << 20) + 1)).await;
    assert_eq!(kind(result), ErrorKind::Invalid);
    assert_nothing_left(store).await;
}

/// Ranges: inside, to the end, clamped past the end; empty or past-the-end ranges are `Invalid`.
pub async fn range_reads(store: &dyn BlobStore) {
    let bytes = data(10_000, 9);
    let digest = store_bytes(store, &bytes).await;
    for (range, expected) in [
        (100..200, 100..200),
        (0..1, 0..1),
        (9_000..10_000, 9_000..10_000),
        (9_000..20_000, 9_000..10_000),
        (9_999..u64::MAX, 9_999..10_000),
        (0..10_000, 0..10_000),
    ] {
        let blob = store.get(&digest, Some(range.clone())).await.expect("get");
        assert_eq!(blob.size, 10_000, "{range:?}");
        assert_eq!(blob.range, expected, "{range:?}");
        let read = read(store, &digest, Some(range.clone())).await;
        assert!(
            read == bytes[expected.start as usize..expected.end as usize],
            "{range:?}"
        );
    }
    #[allow(clippy::reversed_empty_ranges)]
    let refused = [10_000..10_001, 20_000..30_000, 5..5, 7..3];
    for range in refused {
        let result = store.get(&digest, Some(range.clone())).await;
        assert_eq!(kind(result), ErrorKind::Invalid, "{range:?}");
    }
}

/// An absent blob is `NotFound` to `get` and has no size.
pub async fn absent_blobs(store: &dyn BlobStore) {
    let digest = Digest::of(b"never stored");
    assert_eq!(kind(store.get(&digest, None).await), ErrorKind::NotFound);
    assert_eq!(
        kind(store.get(&digest, Some(0..10)).await),
        ErrorKind::NotFound
    );
    assert_eq!(store.size(&digest).await.unwrap(), None);
}

/// Deleting removes a blob; deleting again, or deleting what was never stored, is fine.
pub async fn delete_is_idempotent(store: &dyn BlobStore) {
    let bytes = data(4000, 10);
    let keep = data(4000, 11);
    let digest = store_bytes(store, &bytes).await;
    let kept = store_bytes(store, &keep).await;
    store.delete(&digest).await.expect("delete");
    assert_eq!(store.size(&digest).await.unwrap(), None);
    assert_eq!(kind(store.get(&digest, None).await), ErrorKind::NotFound);
    store.delete(&digest).await.expect("delete again");
    store
        .delete(&Digest::of(b"never stored"))
        .await
        .expect("delete absent");
    let listed = store.list().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].digest, kept);
    // Stored again after deletion.
    assert_eq!(store_bytes(store, &bytes).await, digest);
    assert_eq!(read(store, &digest, None).await, bytes);
}

/// The empty blob can be staged, uploaded in (no) parts, stored and read.
pub async fn zero_byte_blob(store: &dyn BlobStore) {
    let empty = Digest::of(b"");
    let staged = store.stage(body(b""), Some(0)).await.expect("stage");
    assert_eq!((staged.digest, staged.size), (empty, 0));
    assert!(store.commit(staged).await.unwrap());
    let blob = store.get(&empty, None).await.expect("get");
    assert_eq!((blob.size, blob.range.clone()), (0, 0..0));
    assert!(read(store, &empty, None).await.is_empty());
    assert_eq!(store.size(&empty).await.unwrap(), Some(0));
    assert_eq!(
        kind(store.get(&empty, Some(0..1)).await),
        ErrorKind::Invalid
    );
    let listed = store.list().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].digest, listed[0].size), (empty, 0));

    let state = store.create_upload("empty").await.expect("create upload");
    let staged = store
        .complete_upload("empty", &state, &[], 0, Some(&empty))
        .await
        .expect("complete an empty upload");
    assert_eq!((staged.digest, staged.size), (empty, 0));
    assert!(!store.commit(staged).await.unwrap(), "already stored");
    assert_eq!(store.sweep(later()).await.unwrap(), 0);
}

/// `list` reports every stored blob with its size and a plausible modification time.
pub async fn list_reports_blobs_with_sizes(store: &dyn BlobStore) {
    assert!(store.list().await.unwrap().is_empty());
    let mut expected = Vec::new();
    for (len, seed) in [(1, 12), (1024, 13), (70_000, 14)] {
        let bytes = data(len, seed);
        expected.push((store_bytes(store, &bytes).await, len as u64));
    }
    // Staged but uncommitted bytes are not listed.
    let _staged = stage(store, &data(500, 15)).await;
    let now_ms = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let mut listed = store.list().await.unwrap();
    listed.sort_by_key(|b| b.digest);
    expected.sort();
    let got: Vec<(Digest, u64)> = listed.iter().map(|b| (b.digest, b.size)).collect();
    assert_eq!(got, expected);
    for blob in &listed {
        assert!(
            (blob.modified - now_ms).abs() < 3_600_000,
            "modified {} is near now {now_ms}",
            blob.modified
        );
    }
}

/// `sweep` drops staged bytes older than the cutoff, never stored blobs or newer staging.
pub async fn sweep_removes_old_staging_only(store: &dyn BlobStore) {
    let stored = data(3000, 16);
    let digest = store_bytes(store, &stored).await;
    let pending = data(7000, 17);
    let staged = stage(store, &pending).await;
    let an_hour_ago = SystemTime::now() - Duration::from_secs(3600);
    assert_eq!(store.sweep(an_hour_ago).await.unwrap(), 0, "nothing is old");
    assert_eq!(
        store.sweep(later()).await.unwrap(),
        7000,
        "the staged bytes"
    );
    assert_eq!(store.sweep(later()).await.unwrap(), 0, "already swept");
    assert!(
        store.commit(staged).await.is_err(),
        "swept bytes cannot be committed"
    );
    assert_eq!(store.size(&Digest::of(&pending)).await.unwrap(), None);
    assert_eq!(
        read(store, &digest, None).await,
        stored,
        "stored blobs stay"
    );
    assert_eq!(store.list().await.unwrap().len(), 1);
}

/// Parts sent out of order complete to the right digest and bytes.
pub async fn upload_parts_out_of_order(store: &dyn BlobStore) {
    let bytes = data(2 * PART + 1000, 18);
    let expected = Digest::of(&bytes);
    let state = store
        .create_upload("up-order")
        .await
        .expect("create upload");
    let parts = parts(&bytes, PART);
    let mut receipts = Vec::new();
    for index in [2, 0, 1] {
        let (number, offset, part) = parts[index];
        receipts.push(put_part(store, "up-order", &state, number, offset, part).await);
    }
    let staged = store
        .complete_upload(
            "up-order",
            &state,
            &receipts,
            bytes.len() as u64,
            Some(&expected),
        )
        .await
        .expect("complete");
    assert_eq!((staged.digest, staged.size), (expected, bytes.len() as u64));
    assert_eq!(
        store.size(&expected).await.unwrap(),
        None,
        "not visible yet"
    );
    assert!(store.commit(staged).await.unwrap());
    assert!(
        read(store, &expected, None).await == bytes,
        "the bytes read back"
    );
    assert_eq!(
        read(store, &expected, Some(PART as u64 - 10..PART as u64 + 10)).await,
        bytes[PART - 10..PART + 10]
    );
    assert_eq!(store.sweep(later()).await.unwrap(), 0);
}

/// Sending a part again replaces what was sent before.
pub async fn upload_resent_part_replaces_it(store: &dyn BlobStore) {
    let bytes = data(PART + 5000, 19);
    let expected = Digest::of(&bytes);
    let state = store.create_upload("up-resend").await.unwrap();
    let garbage = data(5000, 20);
    let _stale = put_part(store, "up-resend", &state, 2, PART, &garbage).await;
    let second = put_part(store, "up-resend", &state, 2, PART, &bytes[PART..]).await;
    let first = put_part(store, "up-resend", &state, 1, 0, &bytes[..PART]).await;
    let staged = store
        .complete_upload(
            "up-resend",
            &state,
            &[second, first],
            bytes.len() as u64,
            None,
        )
        .await
        .expect("complete");
    assert_eq!(staged.digest, expected);
    assert!(store.commit(staged).await.unwrap());
    assert!(
        read(store, &expected, None).await == bytes,
        "the bytes read back"
    );
}

/// Parts that do not tile the file are `Invalid`, and the upload can still be completed once the
/// missing part arrives.
pub async fn upload_missing_part_then_complete(store: &dyn BlobStore) {
    let bytes = data(PART + 3000, 21);
    let size = bytes.len() as u64;
    let expected = Digest::of(&bytes);
    let state = store.create_upload("up-missing").await.unwrap();
    let second = put_part(store, "up-missing", &state, 2, PART, &bytes[PART..]).await;
    let result = store
        .complete_upload(
            "up-missing",
            &state,
            std::slice::from_ref(&second),
            size,
            None,
        )
        .await;
    assert_eq!(
        kind(result),
        ErrorKind::Invalid,
        "the first part is missing"
    );
    let first = put_part(store, "up-missing", &state, 1, 0, &bytes[..PART]).await;
    let result = store
        .complete_upload(
            "up-missing",
            &state,
            std::slice::from_ref(&first),
            size,
            None,
        )
        .await;
    assert_eq!(kind(result), ErrorKind::Invalid, "the last part is missing");
    let result = store
        .complete_upload(
            "up-missing",
            &state,
            &[first.clone(), second.clone()],
            size + 1,
            None,
        )
        .await;
    assert_eq!(kind(result), ErrorKind::Invalid, "the file is longer");
    let result = store
        .complete_upload(
            "up-missing",
            &state,
            &[first.clone(), second.clone(), first.clone()],
            size,
            None,
        )
        .await;
    assert_eq!(kind(result), ErrorKind::Invalid, "parts overlap");
    assert!(store.list().await.unwrap().is_empty());
    let staged = store
        .complete_upload(
            "up-missing",
            &state,
            &[first, second],
            size,
            Some(&expected),
        )
        .await
        .expect("complete");
    assert_eq!(staged.digest, expected);
    assert!(store.commit(staged).await.unwrap());
    assert!(
        read(store, &expected, None).await == bytes,
        "the bytes read back"
    );
}

/// An expected digest the bytes do not have is `Invalid`; the upload stays completable.
pub async fn upload_expected_digest_mismatch(store: &dyn BlobStore) {
    let bytes = data(PART + 2048, 22);
    let size = bytes.len() as u64;
    let state = store.create_upload("up-digest").await.unwrap();
    let receipts = vec![
        put_part(store, "up-digest", &state, 1, 0, &bytes[..PART]).await,
        put_part(store, "up-digest", &state, 2, PART, &bytes[PART..]).await,
    ];
    let wrong = Digest::of(b"something else");
    let result = store
        .complete_upload("up-digest", &state, &receipts, size, Some(&wrong))
        .await;
    assert_eq!(kind(result), ErrorKind::Invalid);
    assert_nothing_left(store).await;
    let expected = Digest::of(&bytes);
    let staged = store
        .complete_upload("up-digest", &state, &receipts, size, Some(&expected))
        .await
        .expect("the upload is still completable");
    assert_eq!(staged.digest, expected);
    assert!(store.commit(staged).await.unwrap());
    assert!(
        read(store, &expected, None).await == bytes,
        "the bytes read back"
    );
}

/// Parts that start at offsets that are not multiples of 1 KiB still give the right digest, and a
/// wrong expected digest is still refused (nothing becomes visible).
pub async fn upload_unaligned_parts(store: &dyn BlobStore) {
    let part = PART + 1;
    // A wrong expected digest: refused, nothing visible.
    let small = data(part + 10, 23);
    let state = store.create_upload("up-unaligned-1").await.unwrap();
    let mut receipts = Vec::new();
    for (number, offset, bytes) in parts(&small, part) {
        receipts.push(put_part(store, "up-unaligned-1", &state, number, offset, bytes).await);
    }
    let wrong = Digest::of(b"something else");
    let result = store
        .complete_upload(
            "up-unaligned-1",
            &state,
            &receipts,
            small.len() as u64,
            Some(&wrong),
        )
        .await;
    assert_eq!(kind(result), ErrorKind::Invalid);
    assert_nothing_left(store).await;
    let _ = store.abort_upload("up-unaligned-1", &state).await;

    let bytes = data(2 * part + 777, 24);
    let expected = Digest::of(&bytes);
    let state = store.create_upload("up-unaligned-2").await.unwrap();
    let mut receipts = Vec::new();
    for (number, offset, bytes) in parts(&bytes, part).into_iter().rev() {
        receipts.push(put_part(store, "up-unaligned-2", &state, number, offset, bytes).await);
    }
    let staged = store
        .complete_upload(
            "up-unaligned-2",
            &state,
            &receipts,
            bytes.len() as u64,
            Some(&expected),
        )
        .await
        .expect("complete");
    assert_eq!((staged.digest, staged.size), (expected, bytes.len() as u64));
    assert!(store.commit(staged).await.unwrap());
    assert!(
        read(store, &expected, None).await == bytes,
        "the bytes read back"
    );
}

/// Aborting drops the upload and everything it received.
pub async fn upload_abort_drops_everything(store: &dyn BlobStore) {
    let bytes = data(PART + 100, 25);
    let state = store.create_upload("up-abort").await.unwrap();
    let receipts = vec![
        put_part(store, "up-abort", &state, 1, 0, &bytes[..PART]).await,
        put_part(store, "up-abort", &state, 2, PART, &bytes[PART..]).await,
    ];
    store.abort_upload("up-abort", &state).await.expect("abort");
    let result = store
        .complete_upload("up-abort", &state, &receipts, bytes.len() as u64, None)
        .await;
    assert!(result.is_err(), "an aborted upload cannot be completed");
    assert_nothing_left(store).await;
    // An id can be used again after an abort.
    let state = store.create_upload("up-abort").await.unwrap();
    let receipt = put_part(store, "up-abort", &state, 1, 0, &bytes[..100]).await;
    let staged = store
        .complete_upload("up-abort", &state, &[receipt], 100, None)
        .await
        .expect("complete");
    assert_eq!(staged.digest, Digest::of(&bytes[..100]));
    store.discard(staged).await.unwrap();
    assert_nothing_left(store).await;
}

/// Aborting an upload that is already gone (aborted before) is fine.
pub async fn upload_abort_of_unknown_upload_is_fine(store: &dyn BlobStore) {
    let state = store.create_upload("up-gone").await.unwrap();
    let _receipt = put_part(store, "up-gone", &state, 1, 0, &data(1000, 26)).await;
    store.abort_upload("up-gone", &state).await.expect("abort");
    store
        .abort_upload("up-gone", &state)
        .await
        .expect("abort again");
    assert_nothing_left(store).await;
}
