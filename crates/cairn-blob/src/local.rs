//! [`LocalBlobStore`]: artifacts as plain files under one folder.
//!
//! Writes go to a temporary file beside the target, are flushed to disk, then renamed over it, so
//! a reader never sees a half-written file and a crash leaves no partial artifact behind.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use futures::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio_util::io::ReaderStream;

use crate::{ArtifactPath, Blob, BlobError, BlobStore, ByteStream, Entry, Result};

/// Chunk size for streaming reads.
const READ_CHUNK: usize = 256 * 1024;
/// Prefix of in-progress uploads; such files are hidden from listings.
const TEMP_PREFIX: &str = ".cairn-upload-";

#[derive(Debug, Clone)]
pub struct LocalBlobStore {
    root: PathBuf,
}

impl LocalBlobStore {
    /// Opens (and creates if needed) a store rooted at `root`.
    pub fn open(root: impl Into<PathBuf>) -> std::io::Result<Self> {
        let root = root.into();
        std::fs::create_dir_all(&root)?;
        Ok(LocalBlobStore { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn fs_path(&self, path: &ArtifactPath) -> PathBuf {
        let mut full = self.root.clone();
        for segment in path.segments() {
            full.push(segment);
        }
        full
    }
}

fn not_found(path: &ArtifactPath) -> BlobError {
    BlobError::NotFound(path.as_string())
}

#[async_trait]
impl BlobStore for LocalBlobStore {
    async fn put(&self, path: &ArtifactPath, mut body: ByteStream) -> Result<u64> {
        if path.is_root() {
            return Err(BlobError::InvalidPath(String::new()));
        }
        let target = self.fs_path(path);
        let parent = target.parent().unwrap_or(&self.root).to_path_buf();
        if let Err(error) = tokio::fs::create_dir_all(&parent).await {
            // A file where a directory is needed is the caller's mistake, not an I/O fault.
            if parent.is_file() || error.kind() == std::io::ErrorKind::NotADirectory {
                return Err(BlobError::InvalidPath(path.as_string()));
            }
            return Err(error.into());
        }
        if tokio::fs::metadata(&target).await.is_ok_and(|m| m.is_dir()) {
            return Err(BlobError::IsDirectory(path.as_string()));
        }
        let temp = parent.join(format!("{TEMP_PREFIX}{}", uuid::Uuid::new_v4().simple()));
        let result = async {
            let mut file = tokio::fs::File::create(&temp).await?;
            let mut written = 0u64;
            while let Some(chunk) = body.next().await {
                let chunk = chunk?;
                written += chunk.len() as u64;
                file.write_all(&chunk).await?;
            }
            file.flush().await?;
            file.sync_all().await?;
            tokio::fs::rename(&temp, &target).await?;
            Ok::<u64, std::io::Error>(written)
        }
        .await;
        match result {
            Ok(written) => Ok(written),
            Err(error) => {
                let _ = tokio::fs::remove_file(&temp).await;
                Err(error.into())
            }
        }
    }

    async fn get(&self, path: &ArtifactPath) -> Result<Blob> {
        let full = self.fs_path(path);
        let metadata = match tokio::fs::metadata(&full).await {
            Ok(metadata) => metadata,
            Err(error) if is_missing(&error) => return Err(not_found(path)),
            Err(error) => return Err(error.into()),
        };
        if metadata.is_dir() {
            return Err(BlobError::IsDirectory(path.as_string()));
        }
        let file = tokio::fs::File::open(&full).await?;
        Ok(Blob {
            size: metadata.len(),
            body: Box::pin(ReaderStream::with_capacity(file, READ_CHUNK)),
        })
    }

    async fn list(&self, dir: &ArtifactPath) -> Result<Option<Vec<Entry>>> {
        let full = self.fs_path(dir);
        let metadata = match tokio::fs::metadata(&full).await {
            Ok(metadata) => metadata,
            Err(error) if is_missing(&error) => return Ok(None),
            Err(error) => return Err(error.into()),
        };
        if !metadata.is_dir() {
            return Ok(Some(Vec::new()));
        }
        let mut entries = Vec::new();
        let mut reader = tokio::fs::read_dir(&full).await?;
        while let Some(item) = reader.next_entry().await? {
            let name = item.file_name().to_string_lossy().into_owned();
            if name.starts_with(TEMP_PREFIX) {
                continue;
            }
            let metadata = item.metadata().await?;
            entries.push(Entry {
                name,
                is_dir: metadata.is_dir(),
                size: (!metadata.is_dir()).then_some(metadata.len()),
            });
        }
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Some(entries))
    }

    async fn delete(&self, path: &ArtifactPath) -> Result<()> {
        let full = self.fs_path(path);
        let metadata = match tokio::fs::metadata(&full).await {
            Ok(metadata) => metadata,
            Err(error) if is_missing(&error) => return Ok(()),
            Err(error) => return Err(error.into()),
        };
        let result = if metadata.is_dir() {
            tokio::fs::remove_dir_all(&full).await
        } else {
            tokio::fs::remove_file(&full).await
        };
        match result {
            Err(error) if !is_missing(&error) => Err(error.into()),
            _ => Ok(()),
        }
    }
}

fn is_missing(error: &std::io::Error) -> bool {
    matches!(
        error.kind(),
        std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn body(parts: &[&'static [u8]]) -> ByteStream {
        let chunks: Vec<std::io::Result<Bytes>> =
            parts.iter().map(|p| Ok(Bytes::from_static(p))).collect();
        Box::pin(futures::stream::iter(chunks))
    }

    async fn read_all(blob: Blob) -> Vec<u8> {
        let mut out = Vec::new();
        let mut stream = blob.body;
        while let Some(chunk) = stream.next().await {
            out.extend_from_slice(&chunk.unwrap());
        }
        out
    }

    fn p(text: &str) -> ArtifactPath {
        ArtifactPath::parse(text).unwrap()
    }

    #[tokio::test]
    async fn put_get_list_delete() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalBlobStore::open(dir.path()).unwrap();
        assert_eq!(
            store
                .put(&p("a/b/c.txt"), body(&[b"hello ", b"world"]))
                .await
                .unwrap(),
            11
        );
        store.put(&p("a/top.bin"), body(&[b"x"])).await.unwrap();
        let blob = store.get(&p("a/b/c.txt")).await.unwrap();
        assert_eq!(blob.size, 11);
        assert_eq!(read_all(blob).await, b"hello world");

        let listing = store.list(&p("a")).await.unwrap().unwrap();
        assert_eq!(
            listing,
            vec![
                Entry {
                    name: "b".into(),
                    is_dir: true,
                    size: None
                },
                Entry {
                    name: "top.bin".into(),
                    is_dir: false,
                    size: Some(1)
                },
            ]
        );
        assert_eq!(store.list(&p("missing")).await.unwrap(), None);
        assert!(matches!(
            store.get(&p("a/b")).await,
            Err(BlobError::IsDirectory(_))
        ));
        assert!(matches!(
            store.get(&p("nope")).await,
            Err(BlobError::NotFound(_))
        ));

        store.put(&p("a/b/c.txt"), body(&[b"new"])).await.unwrap();
        assert_eq!(
            read_all(store.get(&p("a/b/c.txt")).await.unwrap()).await,
            b"new"
        );

        store.delete(&p("a/b")).await.unwrap();
        assert_eq!(store.list(&p("a/b")).await.unwrap(), None);
        store.delete(&p("a/b")).await.unwrap();
    }

    #[tokio::test]
    async fn failed_upload_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalBlobStore::open(dir.path()).unwrap();
        let failing: ByteStream = Box::pin(futures::stream::iter(vec![
            Ok(Bytes::from_static(b"partial")),
            Err(std::io::Error::other("client went away")),
        ]));
        assert!(store.put(&p("x/y.txt"), failing).await.is_err());
        assert_eq!(store.list(&p("x")).await.unwrap(), Some(vec![]));
    }

    #[tokio::test]
    async fn file_in_place_of_directory_is_invalid() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalBlobStore::open(dir.path()).unwrap();
        store.put(&p("f"), body(&[b"1"])).await.unwrap();
        assert!(matches!(
            store.put(&p("f/g"), body(&[b"2"])).await,
            Err(BlobError::InvalidPath(_))
        ));
    }
}
