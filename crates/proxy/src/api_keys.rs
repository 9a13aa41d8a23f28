//! The bearer API keys of the `admin` invitation policy: read once from their secret source,
//! compared in constant time, never shown.

use std::fmt::Write as _;

use axum::http::{HeaderMap, header};
use graphgate_core::secret::constant_time_eq;
use sha2::{Digest as _, Sha256};

use crate::config::SecretSource;

/// Why a request's API key was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyRefused {
    /// No `Authorization: Bearer …` header.
    Missing,
    /// A key that is none of this proxy's.
    Unknown,
}

/// The keys a site's backend may present. `Debug` shows how many, never a key.
#[derive(Default)]
pub(crate) struct ApiKeys(Vec<String>);

impl std::fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ApiKeys({} <redacted>)", self.0.len())
    }
}

impl ApiKeys {
    /// Reads the comma-separated keys of `source` (none when there is no source). Errors name the
    /// source, never a value.
    pub(crate) fn read(source: Option<&SecretSource>) -> Result<Self, String> {
        let Some(source) = source else {
            return Ok(Self::default());
        };
        let text = source.read("invitations.api_keys")?;
        Ok(Self(text.split(',').map(|k| k.trim().to_owned()).filter(|k| !k.is_empty()).collect()))
    }

    /// The label ([`identify`](Self::identify)) of the key a request presents as
    /// `Authorization: Bearer …`; why not, when it presents none of this proxy's.
    pub(crate) fn presented_in(&self, headers: &HeaderMap) -> Result<String, KeyRefused> {
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or(KeyRefused::Missing)?;
        self.identify(presented).ok_or(KeyRefused::Unknown)
    }

    /// Which key `presented` is, for an audit line: `sha256:` and the first 8 hex digits of the
    /// key's SHA-256 (enough to tell the keys apart, nothing to guess one from); `None` when it is
    /// none of them. Every key is compared, in constant time.
    pub(crate) fn identify(&self, presented: &str) -> Option<String> {
        let presented = presented.trim().as_bytes();
        let mut found = None;
        for k in &self.0 {
            if constant_time_eq(k.as_bytes(), presented) && found.is_none() {
                found = Some(k);
            }
        }
        let digest = Sha256::digest(found?.as_bytes());
        let mut label = String::from("sha256:");
        for byte in digest.iter().take(4) {
            let _ = write!(label, "{byte:02x}");
        }
        Some(label)
    }

    /// How many keys there are.
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// The keys themselves, for removing them from the `check` report's lines.
    pub(crate) fn expose_secrets(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_split_compared_and_never_shown() {
        let var = "GRAPHGATE_TEST_API_KEYS_SPLIT";
        let file = std::env::temp_dir().join(format!("graphgate-api-keys-{}", std::process::id()));
        std::fs::write(&file, " key-one , ,key-two\n").expect("write");
        let source = SecretSource { env: None, file: Some(file.clone()) };
        let keys = ApiKeys::read(Some(&source)).expect("read");
        std::fs::remove_file(&file).expect("cleanup");
        assert_eq!(keys.len(), 2);
        assert!(keys.identify("key-two").is_some() && keys.identify(" key-one ").is_some());
        assert_eq!((keys.identify("key"), keys.identify("")), (None, None));
        assert_eq!(format!("{keys:?}"), "ApiKeys(2 <redacted>)");
        let one = keys.identify("key-one").expect("known");
        assert!(one.starts_with("sha256:") && one.len() == 15 && !one.contains("key-one"), "{one}");
        assert_ne!(keys.identify(" key-two "), Some(one));
        assert_eq!(keys.identify("key-three"), None);
        assert_eq!(ApiKeys::read(None).expect("none").len(), 0);
        let missing = SecretSource { env: Some(var.into()), file: None };
        assert!(ApiKeys::read(Some(&missing)).expect_err("unset").contains(var));
    }
}
