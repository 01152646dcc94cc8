//! [`ArtifactPath`]: the only way to name a stored artifact, checked so that it cannot point
//! outside the store.

use crate::BlobError;

/// A normalised relative path: segments joined by `/`, none empty, `.` or `..`. The empty path is
/// the root of the store.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct ArtifactPath {
    segments: Vec<String>,
}

impl ArtifactPath {
    /// The root of the store.
    pub fn root() -> Self {
        ArtifactPath::default()
    }

    /// Parses a path as it arrives from a client. Rejects absolute paths, `..` and `.` segments
    /// (also percent-encoded), empty segments (`a//b`), a trailing `/`, backslashes and NUL bytes.
    pub fn parse(text: &str) -> Result<Self, BlobError> {
        if text.is_empty() {
            return Ok(ArtifactPath::root());
        }
        let invalid = || BlobError::InvalidPath(text.to_string());
        if text.starts_with('/') || text.contains('\\') || text.contains('\0') {
            return Err(invalid());
        }
        let lowered = text.to_ascii_lowercase();
        if lowered.contains("%2e") || lowered.contains("%2f") || lowered.contains("%5c") {
            return Err(invalid());
        }
        let mut segments = Vec::new();
        for segment in text.split('/') {
            if segment.is_empty() || segment == "." || segment == ".." {
                return Err(invalid());
            }
            // A Windows drive prefix such as `C:` would make the path absolute on such hosts.
            if segments.is_empty() && segment.len() == 2 && segment.ends_with(':') {
                return Err(invalid());
            }
            segments.push(segment.to_string());
        }
        Ok(ArtifactPath { segments })
    }

    pub fn is_root(&self) -> bool {
        self.segments.is_empty()
    }

    pub fn segments(&self) -> &[String] {
        &self.segments
    }

    /// The last segment (`None` for the root).
    pub fn file_name(&self) -> Option<&str> {
        self.segments.last().map(String::as_str)
    }

    /// This path with `other` appended.
    pub fn join(&self, other: &ArtifactPath) -> ArtifactPath {
        let mut segments = self.segments.clone();
        segments.extend(other.segments.iter().cloned());
        ArtifactPath { segments }
    }

    /// The path below `prefix`, if this path starts with it.
    pub fn strip_prefix(&self, prefix: &ArtifactPath) -> Option<ArtifactPath> {
        self.segments
            .starts_with(&prefix.segments)
            .then(|| ArtifactPath {
                segments: self.segments[prefix.segments.len()..].to_vec(),
            })
    }

    pub fn as_string(&self) -> String {
        self.segments.join("/")
    }
}

impl std::fmt::Display for ArtifactPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.as_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_relative_paths() {
        let path = ArtifactPath::parse("1/abc/artifacts/model/MLmodel").unwrap();
        assert_eq!(path.segments().len(), 5);
        assert_eq!(path.file_name(), Some("MLmodel"));
        assert_eq!(path.as_string(), "1/abc/artifacts/model/MLmodel");
        assert!(ArtifactPath::parse("").unwrap().is_root());
        assert!(ArtifactPath::parse("a b/c.d-e").is_ok());
    }

    #[test]
    fn rejects_escapes() {
        for bad in [
            "/etc/passwd",
            "../x",
            "a/../b",
            "a/./b",
            "a//b",
            "a/",
            "%2E%2E/x",
            "a/%2e%2e",
            "a\\b",
            "C:/x",
            "..",
            ".",
            "a/%2F",
        ] {
            assert!(ArtifactPath::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn prefix_arithmetic() {
        let base = ArtifactPath::parse("1/r/artifacts").unwrap();
        let full = ArtifactPath::parse("1/r/artifacts/x/y").unwrap();
        assert_eq!(full.strip_prefix(&base).unwrap().as_string(), "x/y");
        assert_eq!(base.join(&ArtifactPath::parse("x/y").unwrap()), full);
        assert!(base.strip_prefix(&full).is_none());
    }
}
