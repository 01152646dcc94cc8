//! The blob conformance suite against [`ObjectBlobStore::memory`] (`object_store`'s `InMemory`).

use cairn_blob::ObjectBlobStore;

cairn_blob::blob_conformance_tests!((ObjectBlobStore::memory(), ()));

/// The same checks with every commit copied by streaming (a copy limit of 0 bytes).
mod streamed_commits {
    use cairn_blob::ObjectBlobStore;

    cairn_blob::blob_conformance_tests!((ObjectBlobStore::memory().with_copy_limit(Some(0)), ()));
}
