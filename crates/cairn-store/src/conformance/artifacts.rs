//! Conformance checks of the artifact catalogue ([`crate::ArtifactStore`]): manifests as a file
//! tree (files never where directories are, listings of direct children, recursive walks,
//! deletes of whole directories), blob rows and their references, the lease / claim protocol of
//! garbage collection (also under concurrency), the roots of deleted runs, experiments and
//! models, and uploads in parts.

use std::sync::atomic::{AtomicUsize, Ordering};

use cairn_core::model::LifecycleStage;

use super::{T0, assert_kind, experiment, join_all, new_model, run_at};
use crate::{ErrorKind, Lease, Listed, ManifestEntry, Store, Upload, UploadPart};

const HOUR: i64 = 60 * 60 * 1000;

fn digest(n: u64) -> String {
    format!("blake3:{n:064x}")
}

fn entry(path: &str, n: u64) -> ManifestEntry {
    ManifestEntry {
        path: path.to_string(),
        digest: digest(n),
        size: 100 + n,
        content_type: "application/octet-stream".to_string(),
        created: T0,
    }
}

/// Leases the entry's digest and records it, as an upload does.
async fn upload(store: &dyn Store, path: &str, n: u64) {
    let lease = format!("lease-{path}");
    let found = store
        .lease_blob(&lease, &digest(n), T0, T0 + HOUR)
        .await
        .expect("lease");
    assert_ne!(found, Lease::Collecting, "{path}");
    store
        .put_artifact(entry(path, n), Some(&lease))
        .await
        .unwrap_or_else(|e| panic!("put {path}: {e}"));
}

fn file(path: &str, n: u64) -> Listed {
    Listed::File(entry(path, n))
}

fn dir(path: &str) -> Listed {
    Listed::Dir(path.to_string())
}

fn paths(entries: &[ManifestEntry]) -> Vec<&str> {
    entries.iter().map(|e| e.path.as_str()).collect()
}

pub async fn artifacts_put_get_and_replace(store: &dyn Store) {
    assert_eq!(store.get_artifact("1/r/artifacts/a").await.unwrap(), None);
    let lease = store
        .lease_blob("l1", &digest(1), T0, T0 + HOUR)
        .await
        .unwrap();
    assert_eq!(lease, Lease::Absent);
    store
        .put_artifact(entry("1/r/artifacts/a", 1), Some("l1"))
        .await
        .unwrap();
    assert_eq!(
        store.get_artifact("1/r/artifacts/a").await.unwrap(),
        Some(entry("1/r/artifacts/a", 1))
    );
    let info = store.blob_info(&digest(1)).await.unwrap().unwrap();
    assert_eq!(
        (
            info.digest.as_str(),
            info.size,
            info.created,
            info.references
        ),
        (digest(1).as_str(), 101, T0, 1)
    );
    // The blob row exists now: a second lease finds it stored.
    assert_eq!(
        store
            .lease_blob("l2", &digest(1), T0, T0 + HOUR)
            .await
            .unwrap(),
        Lease::Stored
    );
    store.release_lease("l2").await.unwrap();
    store.release_lease("never-taken").await.unwrap();

    // Replacing the entry moves the reference; the blob row keeps its first creation time.
    let mut replacement = entry("1/r/artifacts/a", 2);
    replacement.created = T0 + 5;
    replacement.content_type = "text/plain".to_string();
    store.put_artifact(replacement.clone(), None).await.unwrap();
    assert_eq!(
        store.get_artifact("1/r/artifacts/a").await.unwrap(),
        Some(replacement.clone())
    );
    assert_eq!(
        store
            .blob_info(&digest(1))
            .await
            .unwrap()
            .unwrap()
            .references,
        0
    );
    let second = store.blob_info(&digest(2)).await.unwrap().unwrap();
    assert_eq!(
        (second.size, second.created, second.references),
        (102, T0 + 5, 1)
    );
    let mut again = entry("1/r/artifacts/b", 2);
    again.created = T0 + 9;
    store.put_artifact(again, None).await.unwrap();
    assert_eq!(
        store.blob_info(&digest(2)).await.unwrap().unwrap().created,
        T0 + 5
    );

    // A digest always has one size.
    let mut wrong = entry("1/r/artifacts/c", 2);
    wrong.size = 7;
    assert_kind(
        store.put_artifact(wrong, None).await,
        ErrorKind::InvalidArgument,
        "size differs from the blob's",
    );
    assert_eq!(store.get_artifact("1/r/artifacts/c").await.unwrap(), None);

    // Every lease was dropped or released: the unreferenced blob is garbage right away.
    let garbage = store.garbage(T0, T0 + 1, 10).await.unwrap();
    assert_eq!(
        garbage
            .iter()
            .map(|g| (g.digest.clone(), g.size))
            .collect::<Vec<_>>(),
        vec![(digest(1), 101)]
    );
    assert_eq!(store.blob_info(&digest(404)).await.unwrap(), None);
}

pub async fn artifacts_files_and_directories_do_not_overlap(store: &dyn Store) {
    upload(store, "e/r/a/b/c.txt", 1).await;
    // A file where a directory is.
    for path in ["e/r/a/b", "e/r/a", "e/r", "e"] {
        assert_kind(
            store.put_artifact(entry(path, 2), None).await,
            ErrorKind::InvalidArgument,
            &format!("file over directory {path}"),
        );
        assert_eq!(store.get_artifact(path).await.unwrap(), None);
    }
    // A file below a file.
    assert_kind(
        store.put_artifact(entry("e/r/a/b/c.txt/d", 2), None).await,
        ErrorKind::InvalidArgument,
        "file below a file",
    );
    assert_kind(
        store
            .put_artifact(entry("e/r/a/b/c.txt/d/e", 2), None)
            .await,
        ErrorKind::InvalidArgument,
        "file two levels below a file",
    );
    // Siblings that merely share a prefix are fine.
    for path in [
        "e/r/a/bc",
        "e/r/a/b-c",
        "e/r/a/b.txt",
        "e/r/a/b0",
        "e/r/a/b/c.txt2",
    ] {
        store
            .put_artifact(entry(path, 3), None)
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"));
    }
    // The failed puts recorded no blob row.
    assert_eq!(store.blob_info(&digest(2)).await.unwrap(), None);
    // Replacing a file with a file is fine.
    store
        .put_artifact(entry("e/r/a/b/c.txt", 4), None)
        .await
        .unwrap();
    assert_eq!(
        store.get_artifact("e/r/a/b/c.txt").await.unwrap(),
        Some(entry("e/r/a/b/c.txt", 4))
    );
}

pub async fn artifacts_list_direct_children(store: &dyn Store) {
    assert_eq!(store.list_artifacts("").await.unwrap(), None);
    let files = [
        "x/a/b/c",
        "x/a/b/d/e",
        "x/a/b-x",
        "x/a/b0",
        "x/a/b.txt",
        "x/a/f",
        "x/a%/g",
        "x/a_/h",
        "x/ab/i",
        "y/j",
    ];
    for (n, path) in files.iter().enumerate() {
        store
            .put_artifact(entry(path, n as u64), None)
            .await
            .unwrap();
    }
    assert_eq!(
        store.list_artifacts("").await.unwrap(),
        Some(vec![dir("x"), dir("y")])
    );
    // Sorted by path: the directory `x/a/b` sorts before the file `x/a/b-x`.
    assert_eq!(
        store.list_artifacts("x/a").await.unwrap(),
        Some(vec![
            dir("x/a/b"),
            file("x/a/b-x", 2),
            file("x/a/b.txt", 4),
            file("x/a/b0", 3),
            file("x/a/f", 5),
        ])
    );
    assert_eq!(
        store.list_artifacts("x/a/b").await.unwrap(),
        Some(vec![file("x/a/b/c", 0), dir("x/a/b/d")])
    );
    assert_eq!(
        store.list_artifacts("x").await.unwrap(),
        Some(vec![dir("x/a"), dir("x/a%"), dir("x/a_"), dir("x/ab")])
    );
    // `%` and `_` are plain characters.
    assert_eq!(
        store.list_artifacts("x/a_").await.unwrap(),
        Some(vec![file("x/a_/h", 7)])
    );
    assert_eq!(
        store.list_artifacts("x/a%").await.unwrap(),
        Some(vec![file("x/a%/g", 6)])
    );
    // A file lists as empty; nothing there lists as nothing.
    assert_eq!(store.list_artifacts("x/a/f").await.unwrap(), Some(vec![]));
    assert_eq!(
        store.list_artifacts("x/a/b/d/e").await.unwrap(),
        Some(vec![])
    );
    for missing in ["x/a/z", "x/a/b/c/d", "x/", "z", "x/a/b-"] {
        assert_eq!(
            store.list_artifacts(missing).await.unwrap(),
            None,
            "{missing}"
        );
    }

    // A big directory: many files and directories, listed whole.
    let mut expected = Vec::new();
    for i in 0..600u64 {
        if i % 3 == 0 {
            let sub = format!("big/d{i:04}");
            for j in 0..3 {
                store
                    .put_artifact(entry(&format!("{sub}/f{j}"), i), None)
                    .await
                    .unwrap();
            }
            expected.push(dir(&sub));
        } else {
            let path = format!("big/f{i:04}");
            store.put_artifact(entry(&path, i), None).await.unwrap();
            expected.push(file(&path, i));
        }
    }
    expected.sort_by(|a, b| listed_path(a).cmp(listed_path(b)));
    assert_eq!(store.list_artifacts("big").await.unwrap(), Some(expected));
}

fn listed_path(listed: &Listed) -> &str {
    match listed {
        Listed::File(entry) => &entry.path,
        Listed::Dir(path) => path,
    }
}

pub async fn artifacts_walk_pages_through_a_tree(store: &dyn Store) {
    let files = [
        "w/a/1", "w/a/2/x", "w/a/2/y", "w/a/3", "w/a-b", "w/a0", "w/ab/1", "w/a_/1", "v/1",
    ];
    for (n, path) in files.iter().enumerate() {
        store
            .put_artifact(entry(path, n as u64), None)
            .await
            .unwrap();
    }
    let all = store.walk_artifacts("w/a", None, 100).await.unwrap();
    assert_eq!(paths(&all), vec!["w/a/1", "w/a/2/x", "w/a/2/y", "w/a/3"]);
    assert_eq!(all[0], entry("w/a/1", 0));

    // Paging: every page continues after the last path of the one before.
    let mut walked = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store
            .walk_artifacts("w", after.as_deref(), 2)
            .await
            .unwrap();
        assert!(page.len() <= 2);
        if page.is_empty() {
            break;
        }
        after = Some(page.last().unwrap().path.clone());
        walked.extend(page);
    }
    assert_eq!(
        paths(&walked),
        vec![
            "w/a-b", "w/a/1", "w/a/2/x", "w/a/2/y", "w/a/3", "w/a0", "w/a_/1", "w/ab/1"
        ]
    );
    // `after` before the prefix starts at the prefix; after its end there is nothing.
    assert_eq!(
        paths(&store.walk_artifacts("w/a", Some("a"), 1).await.unwrap()),
        vec!["w/a/1"]
    );
    assert_eq!(
        paths(
            &store
                .walk_artifacts("w/a", Some("w/a/2"), 10)
                .await
                .unwrap()
        ),
        vec!["w/a/2/x", "w/a/2/y", "w/a/3"]
    );
    assert!(
        store
            .walk_artifacts("w/a", Some("w/a/3"), 10)
            .await
            .unwrap()
            .is_empty()
    );
    // A file walks as itself.
    assert_eq!(
        store.walk_artifacts("w/a/3", None, 10).await.unwrap(),
        vec![entry("w/a/3", 3)]
    );
    assert!(
        store
            .walk_artifacts("w/a/3", Some("w/a/3"), 10)
            .await
            .unwrap()
            .is_empty()
    );
    // The root walks everything; nothing there walks as nothing; `%`/`_` are literal.
    assert_eq!(
        store.walk_artifacts("", None, 100).await.unwrap().len(),
        files.len()
    );
    assert!(
        store
            .walk_artifacts("w/z", None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        paths(&store.walk_artifacts("w/a_", None, 10).await.unwrap()),
        vec!["w/a_/1"]
    );
    assert!(store.walk_artifacts("w", None, 0).await.unwrap().is_empty());
}

pub async fn artifacts_delete_files_and_directories(store: &dyn Store) {
    let files = [
        "d/a/b/1",
        "d/a/b/2/3",
        "d/a/bc",
        "d/a/b-c",
        "d/a/b0",
        "d/a/c",
    ];
    for (n, path) in files.iter().enumerate() {
        upload(store, path, n as u64).await;
    }
    assert_eq!(store.delete_artifacts("d/a/b").await.unwrap(), 2);
    assert_eq!(
        paths(&store.walk_artifacts("d", None, 100).await.unwrap()),
        vec!["d/a/b-c", "d/a/b0", "d/a/bc", "d/a/c"]
    );
    assert_eq!(store.delete_artifacts("d/a/b").await.unwrap(), 0);
    assert_eq!(store.delete_artifacts("d/a/c").await.unwrap(), 1);
    assert_eq!(store.delete_artifacts("nowhere").await.unwrap(), 0);
    // Blob rows stay until collected, unreferenced.
    let info = store.blob_info(&digest(0)).await.unwrap().unwrap();
    assert_eq!(info.references, 0);
    assert_eq!(store.delete_artifacts("d").await.unwrap(), 3);
    assert_eq!(store.list_artifacts("d").await.unwrap(), None);
    // A file can now go where the directory was.
    store.put_artifact(entry("d/a", 9), None).await.unwrap();
}

pub async fn artifacts_blob_references(store: &dyn Store) {
    for path in ["r/c", "r/a", "r/b/x", "s/a"] {
        store.put_artifact(entry(path, 7), None).await.unwrap();
    }
    store.put_artifact(entry("r/other", 8), None).await.unwrap();
    assert_eq!(
        store
            .blob_info(&digest(7))
            .await
            .unwrap()
            .unwrap()
            .references,
        4
    );
    assert_eq!(
        paths(&store.blob_references(&digest(7), 10).await.unwrap()),
        vec!["r/a", "r/b/x", "r/c", "s/a"]
    );
    assert_eq!(
        paths(&store.blob_references(&digest(7), 2).await.unwrap()),
        vec!["r/a", "r/b/x"]
    );
    assert!(
        store
            .blob_references(&digest(9), 10)
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn artifacts_leases_protect_blobs(store: &dyn Store) {
    // Blob 1 is stored and referenced, then unreferenced; its lease decides.
    upload(store, "l/a", 1).await;
    store.delete_artifacts("l/a").await.unwrap();
    let now = T0 + 10;
    let garbage = || async move {
        store
            .garbage(now, now, 100)
            .await
            .unwrap()
            .into_iter()
            .map(|g| g.digest)
            .collect::<Vec<_>>()
    };
    assert_eq!(garbage().await, vec![digest(1)]);
    // garbage() is read-only: asking twice gives the same answer and claims nothing.
    assert_eq!(garbage().await, vec![digest(1)]);
    assert_eq!(
        store
            .lease_blob("probe", &digest(1), now, now + HOUR)
            .await
            .unwrap(),
        Lease::Stored
    );
    assert!(garbage().await.is_empty(), "an unexpired lease protects");
    assert!(store.claim_garbage(now, now, 100).await.unwrap().is_empty());
    // Renewing the same lease with an earlier expiry: expired leases protect nothing.
    store
        .lease_blob("probe", &digest(1), now, now)
        .await
        .unwrap();
    assert_eq!(garbage().await, vec![digest(1)]);
    store
        .lease_blob("probe", &digest(1), now, now + 1)
        .await
        .unwrap();
    assert!(garbage().await.is_empty());
    store.release_lease("probe").await.unwrap();
    assert_eq!(garbage().await, vec![digest(1)]);
    // Moving a lease to another digest stops protecting the first.
    store
        .lease_blob("moving", &digest(1), now, now + HOUR)
        .await
        .unwrap();
    assert_eq!(
        store
            .lease_blob("moving", &digest(2), now, now + HOUR)
            .await
            .unwrap(),
        Lease::Absent
    );
    assert_eq!(garbage().await, vec![digest(1)]);
    // A referenced blob is never garbage, and neither is a young one.
    upload(store, "l/b", 3).await;
    assert_eq!(garbage().await, vec![digest(1)]);
    assert!(
        store.garbage(now, T0, 100).await.unwrap().is_empty(),
        "created before T0: none"
    );
    assert_eq!(store.garbage(now, now, 0).await.unwrap(), vec![], "limit 0");
    // Nothing was claimed by any of this.
    assert_eq!(
        store
            .lease_blob("last", &digest(1), now, now + HOUR)
            .await
            .unwrap(),
        Lease::Stored
    );
}

pub async fn artifacts_claim_and_forget(store: &dyn Store) {
    for n in 1..=4 {
        upload(store, &format!("g/{n}"), n).await;
    }
    let mut young = entry("g/young", 5);
    young.created = T0 + HOUR;
    store.put_artifact(young, None).await.unwrap();
    for path in ["g/1", "g/2", "g/3", "g/young"] {
        store.delete_artifacts(path).await.unwrap();
    }
    let now = T0 + 2 * HOUR;
    let cutoff = T0 + 1;

    // At most `limit`, then the rest; the young blob is left alone.
    let first = store.claim_garbage(now, cutoff, 2).await.unwrap();
    assert_eq!(first.len(), 2);
    let rest = store.claim_garbage(now, cutoff, 10).await.unwrap();
    let mut claimed: Vec<(String, u64)> = first
        .iter()
        .chain(&rest)
        .map(|g| (g.digest.clone(), g.size))
        .collect();
    claimed.sort();
    assert_eq!(
        claimed,
        vec![(digest(1), 101), (digest(2), 102), (digest(3), 103)]
    );

    // A collecting blob refuses leases (and writes none) and cannot be referenced.
    assert_eq!(
        store
            .lease_blob("late", &digest(1), now, now + HOUR)
            .await
            .unwrap(),
        Lease::Collecting
    );
    assert_kind(
        store.put_artifact(entry("g/late", 1), None).await,
        ErrorKind::InvalidArgument,
        "referencing a collecting blob",
    );
    assert_kind(
        store.put_artifact(entry("g/late", 1), Some("late")).await,
        ErrorKind::InvalidArgument,
        "referencing a collecting blob under a refused lease",
    );
    assert_eq!(store.get_artifact("g/late").await.unwrap(), None);

    // A collector that died: its claims are claimed again once they are older than the
    // cutoff, not before (a working collector keeps its own).
    assert!(
        store
            .claim_garbage(now, cutoff, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .garbage(now, now, 10)
            .await
            .unwrap()
            .iter()
            .all(|g| g.digest == digest(5))
    );
    let again = store.claim_garbage(now + 2, now + 1, 10).await.unwrap();
    let mut again: Vec<String> = again.into_iter().map(|g| g.digest).collect();
    again.sort();
    assert_eq!(again, vec![digest(1), digest(2), digest(3), digest(5)]);

    // Forgetting deletes only collecting rows.
    store
        .forget_blobs(&[digest(1), digest(2), digest(4), digest(404)])
        .await
        .unwrap();
    store.forget_blobs(&[]).await.unwrap();
    assert_eq!(store.blob_info(&digest(1)).await.unwrap(), None);
    assert_eq!(store.blob_info(&digest(2)).await.unwrap(), None);
    assert!(store.blob_info(&digest(3)).await.unwrap().is_some());
    let live = store.blob_info(&digest(4)).await.unwrap().unwrap();
    assert_eq!(live.references, 1, "a live row is never forgotten");
    // Once forgotten, the digest can be uploaded again from scratch.
    assert_eq!(
        store
            .lease_blob("new", &digest(1), now, now + HOUR)
            .await
            .unwrap(),
        Lease::Absent
    );
    store
        .put_artifact(entry("g/back", 1), Some("new"))
        .await
        .unwrap();
    assert_eq!(
        store
            .blob_info(&digest(1))
            .await
            .unwrap()
            .unwrap()
            .references,
        1
    );
}

pub async fn artifacts_claim_orphans(store: &dyn Store) {
    let now = T0 + HOUR;
    // Bytes without a row and without a lease: claimed as collecting.
    assert!(store.claim_orphan(&digest(1), 11, now).await.unwrap());
    assert!(!store.claim_orphan(&digest(1), 11, now).await.unwrap());
    assert_eq!(
        store
            .lease_blob("l", &digest(1), now, now + HOUR)
            .await
            .unwrap(),
        Lease::Collecting
    );
    let info = store.blob_info(&digest(1)).await.unwrap().unwrap();
    assert_eq!((info.size, info.references), (11, 0));
    store.forget_blobs(&[digest(1)]).await.unwrap();
    assert_eq!(store.blob_info(&digest(1)).await.unwrap(), None);

    // A live row is not an orphan.
    upload(store, "o/a", 2).await;
    assert!(!store.claim_orphan(&digest(2), 102, now).await.unwrap());
    store.delete_artifacts("o/a").await.unwrap();
    assert!(!store.claim_orphan(&digest(2), 102, now).await.unwrap());

    // An upload between storing the bytes and recording them holds a lease: not an orphan.
    assert_eq!(
        store
            .lease_blob("up", &digest(3), now, now + HOUR)
            .await
            .unwrap(),
        Lease::Absent
    );
    assert!(!store.claim_orphan(&digest(3), 103, now).await.unwrap());
    store
        .put_artifact(entry("o/b", 3), Some("up"))
        .await
        .unwrap();

    // An upload whose lease expired may lose its bytes: recording them then is refused.
    store
        .lease_blob("slow", &digest(4), now, now + 1)
        .await
        .unwrap();
    assert!(store.claim_orphan(&digest(4), 104, now + 1).await.unwrap());
    assert_kind(
        store.put_artifact(entry("o/c", 4), Some("slow")).await,
        ErrorKind::InvalidArgument,
        "the blob is being collected",
    );
    store.forget_blobs(&[digest(4)]).await.unwrap();
    assert_kind(
        store.put_artifact(entry("o/c", 4), Some("slow")).await,
        ErrorKind::InvalidArgument,
        "the lease was lost with the collected bytes",
    );
    assert_eq!(store.get_artifact("o/c").await.unwrap(), None);
    assert_eq!(store.blob_info(&digest(4)).await.unwrap(), None);
}

pub async fn artifacts_deleted_roots(store: &dyn Store) {
    let exp = experiment(store, "roots").await;
    let kept = run_at(store, &exp, "kept", T0).await;
    let early = run_at(store, &exp, "early", T0).await;
    let late = run_at(store, &exp, "late", T0).await;
    let restored = run_at(store, &exp, "restored", T0).await;
    let uri = |run_id: &str| format!("mlflow-artifacts:/{exp}/{run_id}/artifacts");
    store
        .set_run_lifecycle(&early, LifecycleStage::Deleted, T0 + 10)
        .await
        .unwrap();
    store
        .set_run_lifecycle(&late, LifecycleStage::Deleted, T0 + 30)
        .await
        .unwrap();
    store
        .set_run_lifecycle(&restored, LifecycleStage::Deleted, T0 + 10)
        .await
        .unwrap();
    store
        .set_run_lifecycle(&restored, LifecycleStage::Active, T0 + 11)
        .await
        .unwrap();
    assert!(
        store
            .deleted_artifact_roots(T0 + 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.deleted_artifact_roots(T0 + 11).await.unwrap(),
        vec![uri(&early)]
    );
    let mut both = vec![uri(&early), uri(&late)];
    both.sort();
    assert_eq!(store.deleted_artifact_roots(T0 + 31).await.unwrap(), both);

    // A deleted experiment takes all its runs, whenever they were deleted themselves.
    let gone = experiment(store, "gone").await;
    let a = run_at(store, &gone, "a", T0).await;
    let b = run_at(store, &gone, "b", T0).await;
    store
        .set_run_lifecycle(&b, LifecycleStage::Deleted, T0 + 50)
        .await
        .unwrap();
    store
        .set_experiment_lifecycle(&gone, LifecycleStage::Deleted, T0 + 20)
        .await
        .unwrap();
    let gone_uri = |run_id: &str| format!("mlflow-artifacts:/{gone}/{run_id}/artifacts");
    let mut expected = vec![uri(&early), uri(&late), gone_uri(&a), gone_uri(&b)];
    expected.sort();
    assert_eq!(
        store.deleted_artifact_roots(T0 + 31).await.unwrap(),
        expected
    );
    let mut before = vec![uri(&early), gone_uri(&a), gone_uri(&b)];
    before.sort();
    assert_eq!(store.deleted_artifact_roots(T0 + 21).await.unwrap(), before);

    // Logged models deleted before the cutoff.
    let model = new_model(&exp, "m", T0);
    let location = model.artifact_location.clone();
    store.create_logged_model(model.clone()).await.unwrap();
    let live_model = new_model(&exp, "live", T0);
    store.create_logged_model(live_model).await.unwrap();
    store
        .delete_logged_model(&model.model_id, T0 + 40)
        .await
        .unwrap();
    assert!(
        !store
            .deleted_artifact_roots(T0 + 40)
            .await
            .unwrap()
            .contains(&location)
    );
    let roots = store.deleted_artifact_roots(T0 + 41).await.unwrap();
    assert!(roots.contains(&location), "{roots:?}");
    assert_eq!(roots.len(), 5);
    assert!(!roots.contains(&uri(&kept)));
    assert!(!roots.contains(&uri(&restored)));

    // Restoring the experiment restores what its deletion took.
    store
        .set_experiment_lifecycle(&gone, LifecycleStage::Active, T0 + 60)
        .await
        .unwrap();
    let roots = store.deleted_artifact_roots(T0 + 100).await.unwrap();
    assert!(!roots.contains(&gone_uri(&a)), "{roots:?}");
    assert!(
        roots.contains(&gone_uri(&b)),
        "deleted on its own: {roots:?}"
    );
}

fn new_upload(id: &str, created: i64) -> Upload {
    Upload {
        id: id.to_string(),
        path: format!("1/r/artifacts/{id}.bin"),
        run_id: Some("r".to_string()),
        size: Some(10 << 20),
        part_size: Some(5 << 20),
        parts: Some(2),
        expected_digest: Some(digest(1)),
        content_type: "application/octet-stream".to_string(),
        backend_state: "{\"s3\": \"abc\"}".to_string(),
        created,
    }
}

fn part(number: u32, receipt: &[u8]) -> UploadPart {
    UploadPart {
        number,
        offset: u64::from(number - 1) * (5 << 20),
        size: 5 << 20,
        receipt: receipt.to_vec(),
    }
}

pub async fn artifacts_uploads_in_parts(store: &dyn Store) {
    let upload = new_upload("u1", T0 + 5);
    store.create_upload(upload.clone()).await.unwrap();
    assert_kind(
        store.create_upload(new_upload("u1", T0 + 6)).await,
        ErrorKind::AlreadyExists,
        "duplicate upload id",
    );
    assert_eq!(store.get_upload("u1").await.unwrap(), Some(upload.clone()));
    assert_eq!(store.get_upload("nope").await.unwrap(), None);
    let bare = Upload {
        id: "u2".to_string(),
        path: "models/m/artifacts/x".to_string(),
        run_id: None,
        size: None,
        part_size: None,
        parts: None,
        expected_digest: None,
        content_type: "text/plain".to_string(),
        backend_state: String::new(),
        created: T0,
    };
    store.create_upload(bare.clone()).await.unwrap();
    assert_eq!(store.get_upload("u2").await.unwrap(), Some(bare));

    assert!(store.upload_parts("u1").await.unwrap().is_empty());
    store
        .put_upload_part("u1", part(2, b"etag-2"))
        .await
        .unwrap();
    store.put_upload_part("u1", part(1, b"")).await.unwrap();
    store
        .put_upload_part("u1", part(3, &[0, 255, 7]))
        .await
        .unwrap();
    // The same number again replaces the earlier record.
    store
        .put_upload_part("u1", part(2, b"etag-2-again"))
        .await
        .unwrap();
    assert_eq!(
        store.upload_parts("u1").await.unwrap(),
        vec![
            part(1, b""),
            part(2, b"etag-2-again"),
            part(3, &[0, 255, 7])
        ]
    );
    assert_kind(
        store.put_upload_part("nope", part(1, b"x")).await,
        ErrorKind::NotFound,
        "part of an unknown upload",
    );

    store.create_upload(new_upload("u3", T0 - 5)).await.unwrap();
    let stale = |created_before: i64, limit: usize| async move {
        store
            .stale_uploads(created_before, limit)
            .await
            .unwrap()
            .into_iter()
            .map(|u| u.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(stale(T0 + 100, 10).await, vec!["u3", "u2", "u1"]);
    assert_eq!(stale(T0 + 100, 2).await, vec!["u3", "u2"]);
    assert_eq!(stale(T0 + 5, 10).await, vec!["u3", "u2"]);
    assert!(stale(T0 - 5, 10).await.is_empty());

    store.delete_upload("u1").await.unwrap();
    store.delete_upload("u1").await.unwrap();
    assert_eq!(store.get_upload("u1").await.unwrap(), None);
    assert!(store.upload_parts("u1").await.unwrap().is_empty());
    // The id can be used again, without the old parts.
    store.create_upload(new_upload("u1", T0 + 7)).await.unwrap();
    assert!(store.upload_parts("u1").await.unwrap().is_empty());
    assert_eq!(stale(T0 + 100, 10).await, vec!["u3", "u2", "u1"]);
}

/// Uploads (lease, then record) race garbage collection (claim, check, forget) and orphan
/// claims. Whatever the interleaving: no upload fails, a claimed blob is never referenced, and
/// at the end every manifest entry has a live blob row.
pub async fn artifacts_concurrent_uploads_and_collection(store: &dyn Store) {
    const UPLOADERS: usize = 40;
    const ROUNDS: usize = 6;
    const DIGESTS: u64 = 5;
    let now = T0;
    // Only some files of the last round stay, so that blobs are garbage most of the time, and
    // none with digests 3 and 4 (`task % 5` in the last round): once the uploads are over, the
    // collector's last pass finds those unless an earlier pass collected them.
    let kept = |task: usize, round: usize| round == ROUNDS - 1 && task % 5 < 3;
    let finished = AtomicUsize::new(0);
    let finished = &finished;

    let uploaders = join_all((0..UPLOADERS).map(|task| async move {
        for round in 0..ROUNDS {
            let n = ((task + round) as u64) % DIGESTS;
            let path = format!("c/{}/{task}-{round}", task % 4);
            let lease = format!("lease-{task}-{round}");
            let mut attempts = 0;
            while store
                .lease_blob(&lease, &digest(n), now, now + HOUR)
                .await
                .expect("lease")
                == Lease::Collecting
            {
                attempts += 1;
                assert!(attempts < 10_000, "collection never finished");
                tokio::task::yield_now().await;
            }
            store
                .put_artifact(entry(&path, n), Some(&lease))
                .await
                .unwrap_or_else(|e| panic!("put {path}: {e}"));
            // Most files are deleted again, so that there is garbage to collect.
            if !kept(task, round) {
                store.delete_artifacts(&path).await.unwrap();
            }
        }
        finished.fetch_add(1, Ordering::SeqCst);
    }));

    let collector = async move {
        let mut collected = 0usize;
        for pass in 0u64.. {
            let done = finished.load(Ordering::SeqCst) == UPLOADERS;
            let claimed = store.claim_garbage(now, now + 1, 100).await.unwrap();
            for blob in &claimed {
                let references = store.blob_references(&blob.digest, 1).await.unwrap();
                assert!(
                    references.is_empty(),
                    "claimed {} while {:?} references it",
                    blob.digest,
                    references
                );
            }
            // Orphan claims race the uploads too: bytes under an upload's lease are never taken.
            let orphan = digest(pass % DIGESTS);
            let orphaned = store.claim_orphan(&orphan, 1, now).await.unwrap();
            let mut forget: Vec<String> = claimed.into_iter().map(|g| g.digest).collect();
            if orphaned {
                forget.push(orphan);
            }
            collected += forget.len();
            tokio::task::yield_now().await;
            store.forget_blobs(&forget).await.unwrap();
            if done {
                break;
            }
        }
        collected
    };

    let (_, collected) = futures::future::join(uploaders, collector).await;
    assert!(collected > 0, "the collector found garbage");

    let entries = store.walk_artifacts("c", None, usize::MAX).await.unwrap();
    let kept = (0..UPLOADERS)
        .flat_map(|task| (0..ROUNDS).map(move |round| kept(task, round)))
        .filter(|&kept| kept)
        .count();
    assert_eq!(entries.len(), kept);
    for entry in &entries {
        let info = store
            .blob_info(&entry.digest)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{} has no blob row", entry.path));
        assert!(info.references > 0);
        assert_eq!(
            store
                .lease_blob("check", &entry.digest, now, now + HOUR)
                .await
                .unwrap(),
            Lease::Stored,
            "{} references a blob being collected",
            entry.path
        );
    }
    store.release_lease("check").await.unwrap();
}
