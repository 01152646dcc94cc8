//! The blob conformance suite against [`LocalBlobStore`] in a temporary folder.

use cairn_blob::LocalBlobStore;

fn make_store() -> (LocalBlobStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temporary folder");
    let store = LocalBlobStore::open(dir.path().join("artifacts")).expect("open the local store");
    (store, dir)
}

cairn_blob::blob_conformance_tests!(make_store());
