//! Random values from the platform's CSPRNG (the operating system, or Web Crypto in a browser).

#[allow(unused_imports, reason = "the alloc prelude, as std would give it")]
use crate::prelude::*;

use crate::encode::base64url;
use crate::error::{Error, ErrorCode};

/// Fills `buf` with cryptographically secure random bytes.
pub(crate) fn fill(buf: &mut [u8]) -> Result<(), Error> {
    getrandom::fill(buf).map_err(|e| Error::new(ErrorCode::InternalError, random_failure(e)))
}

/// What to say when the CSPRNG fails: with std, getrandom's own text of the cause; without it
/// (the browser module) a fixed text, since formatting `e` would bring in the formatting code.
fn random_failure(e: getrandom::Error) -> String {
    #[cfg(feature = "std")]
    return format!("the platform's secure random source failed: {e}");
    #[cfg(not(feature = "std"))]
    {
        let _ = e;
        "the platform's secure random source failed (in a browser: crypto.getRandomValues is unavailable)".into()
    }
}

/// `bytes` random bytes, base64url-encoded without padding (32 bytes give 43 characters, 256 bits).
pub fn random_token(bytes: usize) -> Result<String, Error> {
    let mut buf = vec![0u8; bytes];
    fill(&mut buf)?;
    Ok(base64url(&buf))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_unique_and_url_safe() {
        let a = random_token(32).expect("random");
        let b = random_token(32).expect("random");
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
    }
}
