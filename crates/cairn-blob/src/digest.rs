//! [`Digest`]: the BLAKE3 hash that names a blob.
//!
//! BLAKE3 was chosen over SHA-256 by measurement (`bench/artifacts/hash`): it is several times
//! faster on one core, and its tree structure lets parts of a file that arrive in parallel be
//! hashed as they stream and joined afterwards (see [`crate::hash`]), which SHA-256 cannot do. The
//! algorithm is part of every name (`blake3:<hex>` in text, `blake3/` in object keys), so another
//! one can be added later without ambiguity.

use std::fmt;

/// The algorithm prefix of a digest's text form.
pub const ALGORITHM: &str = "blake3";

#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest([u8; 32]);

impl Digest {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Digest(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The digest of `data` (for small inputs and tests).
    pub fn of(data: &[u8]) -> Self {
        Digest(*blake3::hash(data).as_bytes())
    }

    /// Parses `blake3:<64 lowercase or uppercase hex>`.
    pub fn parse(text: &str) -> Option<Self> {
        let hex = text.strip_prefix(ALGORITHM)?.strip_prefix(':')?;
        Self::from_hex(hex)
    }

    /// Parses 64 hex digits.
    pub fn from_hex(hex: &str) -> Option<Self> {
        if hex.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, pair) in hex.as_bytes().chunks_exact(2).enumerate() {
            let high = (pair[0] as char).to_digit(16)?;
            let low = (pair[1] as char).to_digit(16)?;
            out[i] = (high * 16 + low) as u8;
        }
        Some(Digest(out))
    }

    /// 64 lowercase hex digits.
    pub fn hex(&self) -> String {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut out = String::with_capacity(64);
        for byte in self.0 {
            out.push(DIGITS[(byte >> 4) as usize] as char);
            out.push(DIGITS[(byte & 15) as usize] as char);
        }
        out
    }

    /// The object key, relative to a store's root: `blake3/ab/cd/<hex>` (two levels of fan-out
    /// keep directories small on filesystems).
    pub fn object_key(&self) -> String {
        let hex = self.hex();
        format!("{ALGORITHM}/{}/{}/{hex}", &hex[0..2], &hex[2..4])
    }

    /// The inverse of [`object_key`](Self::object_key) (`None` for any other key).
    pub fn from_object_key(key: &str) -> Option<Self> {
        let rest = key.strip_prefix(ALGORITHM)?.strip_prefix('/')?;
        let mut parts = rest.split('/');
        let (a, b, hex) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || a.len() != 2 || b.len() != 2 {
            return None;
        }
        let digest = Self::from_hex(hex)?;
        let canonical = digest.hex();
        (canonical[0..2] == *a && canonical[2..4] == *b).then_some(digest)
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{ALGORITHM}:{}", self.hex())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_key_round_trip() {
        let digest = Digest::of(b"hello");
        let text = digest.to_string();
        assert!(text.starts_with("blake3:"));
        assert_eq!(text.len(), 7 + 64);
        assert_eq!(Digest::parse(&text), Some(digest));
        assert_eq!(
            Digest::parse(&text.to_uppercase().replace("BLAKE3", "blake3")),
            Some(digest)
        );
        let key = digest.object_key();
        assert_eq!(Digest::from_object_key(&key), Some(digest));
        assert_eq!(
            text,
            "blake3:ea8f163db38682925e4491c5e58d4bb3506ef8c14eb78a86e908c5624a67200f"
        );
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "blake3:",
            "sha256:ea8f163db38682925e4491c5e58d4bb3506ef8c14eb78a86e908c5624a67200f",
            "blake3:ea8f163db38682925e4491c5e58d4bb3506ef8c14eb78a86e908c5624a67200",
            "blake3:za8f163db38682925e4491c5e58d4bb3506ef8c14eb78a86e908c5624a67200f",
            "blake3:ea8f163db38682925e4491c5e58d4bb3506ef8c14eb78a86e908c5624a67200fff",
        ] {
            assert_eq!(Digest::parse(bad), None, "{bad}");
        }
        assert_eq!(Digest::from_object_key("blake3/00/00/x"), None);
        let digest = Digest::of(b"x");
        let wrong_fanout = format!("blake3/00/00/{}", digest.hex());
        assert_eq!(Digest::from_object_key(&wrong_fanout), None);
    }
}
