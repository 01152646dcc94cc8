//! Server-side redaction: param and tag values whose keys name a secret are stored as
//! `[REDACTED]`, and credentials inside URLs (`postgres://user:pw@host`) are cut out of every
//! other value — defence in depth beside the SDK's own redaction, for clients that send secrets
//! as they are (the mlflow client does).
//!
//! Keys are compared by words, not substrings: a key is split into lower-case words at every
//! character that is not a letter or digit and at each lower-to-upper case change
//! (`openaiApiKey` → `openai api key`), and it is secret when its words contain a marker's words
//! in a row. So `db_password`, `HF_TOKEN`, `AWS_SECRET_ACCESS_KEY` and `apiKey` are secret, while
//! `max_tokens`, `tokenizer` and `key_size` are not.

/// What a redacted value becomes.
pub const REDACTED: &str = "[REDACTED]";

/// The markers used unless configured otherwise.
pub const DEFAULT_MARKERS: &[&str] = &[
    "password",
    "passwd",
    "secret",
    "token",
    "api_key",
    "apikey",
    "access_key",
    "private_key",
    "credential",
    "credentials",
];

/// Splits a key into lower-case words.
fn words(key: &str) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut previous_lower = false;
    for c in key.chars() {
        if !c.is_alphanumeric() {
            if !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
            previous_lower = false;
            continue;
        }
        if c.is_uppercase() && previous_lower && !current.is_empty() {
            words.push(std::mem::take(&mut current));
        }
        previous_lower = c.is_lowercase() || c.is_ascii_digit();
        current.extend(c.to_lowercase());
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

/// Which keys are secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redactor {
    markers: Vec<Vec<String>>,
}

impl Default for Redactor {
    fn default() -> Self {
        Redactor::new(DEFAULT_MARKERS.iter().copied())
    }
}

impl Redactor {
    /// A redactor with these markers (each split into words like keys are); none: values are
    /// kept, except for credentials in URLs.
    pub fn new<'a>(markers: impl IntoIterator<Item = &'a str>) -> Self {
        Redactor {
            markers: markers
                .into_iter()
                .map(words)
                .filter(|w| !w.is_empty())
                .collect(),
        }
    }

    pub fn is_secret(&self, key: &str) -> bool {
        let key = words(key);
        self.markers.iter().any(|marker| {
            key.windows(marker.len())
                .any(|window| window == marker.as_slice())
        })
    }

    /// The value to store for `key`.
    pub fn value(&self, key: &str, value: String) -> String {
        if self.is_secret(key) && !value.is_empty() {
            REDACTED.to_string()
        } else {
            strip_url_credentials(value)
        }
    }
}

/// Replaces `user:password@` after `scheme://` with `[REDACTED]@`, wherever it appears.
pub fn strip_url_credentials(value: String) -> String {
    if !value.contains("://") || !value.contains('@') {
        return value;
    }
    let mut out = String::with_capacity(value.len());
    let mut rest = value.as_str();
    while let Some(at) = rest.find("://") {
        let (head, tail) = rest.split_at(at + 3);
        out.push_str(head);
        // The authority ends at the first '/', '?', '#' or whitespace.
        let end = tail
            .find(|c: char| c == '/' || c == '?' || c == '#' || c.is_whitespace())
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        match authority.rfind('@') {
            Some(at) if authority[..at].contains(':') => {
                out.push_str(REDACTED);
                out.push_str(&authority[at..]);
            }
            _ => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_matched_by_words() {
        let r = Redactor::default();
        for secret in [
            "db_password",
            "HF_TOKEN",
            "AWS_SECRET_ACCESS_KEY",
            "openaiApiKey",
            "api-key",
            "my.credentials",
            "Password",
        ] {
            assert!(r.is_secret(secret), "{secret}");
        }
        for plain in [
            "max_tokens",
            "tokenizer",
            "key_size",
            "lr",
            "mlflow.runName",
            "passage",
        ] {
            assert!(!r.is_secret(plain), "{plain}");
        }
        assert!(!Redactor::new([]).is_secret("password"));
        assert!(Redactor::new(["wandb key"]).is_secret("WANDB_KEY"));
    }

    #[test]
    fn values() {
        let r = Redactor::default();
        assert_eq!(r.value("db_password", "hunter2".into()), REDACTED);
        assert_eq!(r.value("db_password", String::new()), "");
        assert_eq!(r.value("lr", "0.1".into()), "0.1");
        assert_eq!(
            r.value("db", "postgres://ada:pw@db:5432/x".into()),
            "postgres://[REDACTED]@db:5432/x"
        );
    }

    #[test]
    fn url_credentials() {
        for (given, kept) in [
            ("https://example.invalid/a@b", "https://example.invalid/a@b"),
            ("ssh://git@host/repo", "ssh://git@host/repo"),
            (
                "a https://u:p@h/x and s3://k:s@b/c",
                "a https://[REDACTED]@h/x and s3://[REDACTED]@b/c",
            ),
            ("no url", "no url"),
            ("x://", "x://"),
        ] {
            assert_eq!(strip_url_credentials(given.to_string()), kept, "{given}");
        }
    }
}
