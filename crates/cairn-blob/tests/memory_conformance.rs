//! The blob conformance suite against [`ObjectBlobStore::memory`] (`object_store`'s `InMemory`).

use cairn_blob::ObjectBlobStore;

cairn_blob::blob_conformance_tests!((ObjectBlobStore::memory(), ()));
