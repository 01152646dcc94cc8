//! Importing artifacts left by older Cairn versions, at server start.
//!
//! Older versions stored each artifact as a plain file at `<data>/artifacts/<artifact path>`. The
//! content-addressed store keeps its own layout in the same folder (`blake3/`, `.staging/`,
//! `.uploads/`, see `cairn_blob::local`). Every other file below that folder is an artifact of
//! the old layout: it is stored through the artifact service (so it gets a manifest entry and is
//! deduplicated like any upload, whatever the blob backend), then the old file is deleted and
//! directories left empty are removed. A file that cannot be imported stays where it is, with a
//! warning, and is tried again at the next start; one whose relative path is not a valid artifact
//! path is skipped with a warning.

use std::path::{Path, PathBuf};

use cairn_blob::ArtifactPath;
use cairn_server::AppState;
use tokio_util::io::ReaderStream;

/// Top-level entries of the artifact folder that belong to the local blob store.
const STORE_ENTRIES: &[&str] = &["blake3", ".staging", ".uploads"];

/// What an import did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Imported {
    pub files: u64,
    pub bytes: u64,
    /// Files left in place (invalid path or a failed store).
    pub skipped: u64,
}

/// Imports the old-layout files under `folder` (normally `<data>/artifacts`). Logs one line when
/// there was anything to import.
pub async fn import(state: &AppState, folder: &Path) -> anyhow::Result<Imported> {
    let root = folder.to_path_buf();
    let (files, dirs) = tokio::task::spawn_blocking(move || scan(&root)).await??;
    let mut done = Imported::default();
    if files.is_empty() {
        return Ok(done);
    }
    let artifacts = state.tracking.artifacts();
    for file in &files {
        let Some(path) = artifact_path(folder, file) else {
            tracing::warn!(
                file = %file.display(),
                "not importing an old-layout artifact: its path is not a valid artifact path"
            );
            done.skipped += 1;
            continue;
        };
        let opened = match tokio::fs::File::open(file).await {
            Ok(opened) => opened,
            Err(error) => {
                tracing::warn!(file = %file.display(), %error, "cannot read an old-layout artifact");
                done.skipped += 1;
                continue;
            }
        };
        let size = opened.metadata().await?.len();
        let body: cairn_blob::ByteStream = Box::pin(ReaderStream::with_capacity(opened, 1 << 20));
        match artifacts.put(&path, None, Some(size), body).await {
            Ok(_) => {
                if let Err(error) = tokio::fs::remove_file(file).await {
                    tracing::warn!(file = %file.display(), %error, "imported, but cannot delete the old file");
                }
                done.files += 1;
                done.bytes += size;
            }
            Err(error) => {
                tracing::warn!(file = %file.display(), %error, "cannot import an old-layout artifact; it stays in place");
                done.skipped += 1;
            }
        }
    }
    // Deepest first, so a parent is empty once its children are gone.
    for dir in dirs.iter().rev() {
        let _ = std::fs::remove_dir(dir);
    }
    tracing::info!(
        imported = done.files,
        bytes = done.bytes,
        skipped = done.skipped,
        "imported {} artifact files from the old folder layout of {}",
        done.files,
        folder.display()
    );
    Ok(done)
}

/// The artifact path of `file`, relative to `root`.
fn artifact_path(root: &Path, file: &Path) -> Option<ArtifactPath> {
    let relative = file.strip_prefix(root).ok()?;
    let mut segments = Vec::new();
    for component in relative.components() {
        match component {
            std::path::Component::Normal(name) => segments.push(name.to_str()?.to_string()),
            _ => return None,
        }
    }
    let path = ArtifactPath::parse(&segments.join("/")).ok()?;
    (!path.is_root()).then_some(path)
}

/// Regular files below `root` outside the blob store's own entries, and the directories that hold
/// them (parents before children). Symbolic links are neither followed nor imported.
fn scan(root: &Path) -> std::io::Result<(Vec<PathBuf>, Vec<PathBuf>)> {
    let mut files = Vec::new();
    let mut dirs = Vec::new();
    let top = match std::fs::read_dir(root) {
        Ok(top) => top,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok((files, dirs)),
        Err(error) => return Err(error),
    };
    let mut pending: Vec<PathBuf> = Vec::new();
    for entry in top {
        let entry = entry?;
        if STORE_ENTRIES.iter().any(|name| entry.file_name() == *name) {
            continue;
        }
        let kind = entry.file_type()?;
        if kind.is_dir() {
            pending.push(entry.path());
        } else if kind.is_file() {
            files.push(entry.path());
        }
    }
    while let Some(dir) = pending.pop() {
        dirs.push(dir.clone());
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let kind = entry.file_type()?;
            if kind.is_dir() {
                pending.push(entry.path());
            } else if kind.is_file() {
                files.push(entry.path());
            }
        }
    }
    files.sort();
    // A directory always comes after its parent in a depth-first walk; sorting by depth keeps that
    // order explicit for the bottom-up removal.
    dirs.sort_by_key(|d| d.components().count());
    Ok((files, dirs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_skips_the_store_layout() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        for dir in [
            "blake3/ab/cd",
            ".staging",
            ".uploads/x",
            "1/run/artifacts/sub",
        ] {
            std::fs::create_dir_all(r.join(dir)).unwrap();
        }
        std::fs::write(r.join("blake3/ab/cd/blob"), b"x").unwrap();
        std::fs::write(r.join(".staging/tmp"), b"x").unwrap();
        std::fs::write(r.join(".uploads/x/data"), b"x").unwrap();
        std::fs::write(r.join("1/run/artifacts/a.txt"), b"a").unwrap();
        std::fs::write(r.join("1/run/artifacts/sub/b.txt"), b"b").unwrap();
        std::fs::write(r.join("top.txt"), b"t").unwrap();
        let (files, dirs) = scan(r).unwrap();
        let relative: Vec<String> = files
            .iter()
            .map(|f| artifact_path(r, f).unwrap().as_string())
            .collect();
        assert_eq!(
            relative,
            [
                "1/run/artifacts/a.txt",
                "1/run/artifacts/sub/b.txt",
                "top.txt"
            ]
        );
        assert_eq!(dirs.len(), 4);
        assert!(dirs.last().unwrap().ends_with("sub"));
        assert!(scan(&r.join("missing")).unwrap().0.is_empty());
    }
}
