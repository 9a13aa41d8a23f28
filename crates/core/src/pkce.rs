//! PKCE (RFC 7636): code verifiers and their S256 challenges.

#[allow(unused_imports, reason = "the alloc prelude, as std would give it")]
use crate::prelude::*;

#[cfg(feature = "sha2")]
use sha2::{Digest, Sha256};

use crate::encode::{base64url, decimal};
use crate::error::{Error, ErrorCode};
use crate::random::random_token;
use crate::secret::PkceVerifier;

/// The S256 code challenge sent on the authorize request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PkceChallenge(String);

impl PkceChallenge {
    /// `BASE64URL(SHA256(verifier))`, the `code_challenge` for method `S256`.
    #[cfg(feature = "sha2")]
    pub fn s256(verifier: &PkceVerifier) -> Self {
        Self(s256(verifier.expose_secret()))
    }

    /// The challenge from a SHA-256 digest of the verifier computed elsewhere (Web Crypto's
    /// `crypto.subtle.digest` in a browser).
    pub fn from_sha256_digest(digest: &[u8]) -> Self {
        Self(base64url(digest))
    }

    /// Checks a challenge received from elsewhere (the proxy that keeps its verifier): the
    /// base64url of a SHA-256 digest, 43 characters.
    pub fn parse(value: &str) -> Result<Self, Error> {
        let ok = value.len() == 43 && value.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'));
        if ok {
            Ok(Self(value.into()))
        } else {
            Err(Error::new(ErrorCode::PkceInvalid, "an S256 code challenge is 43 characters of base64url"))
        }
    }

    /// The challenge value.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The `code_challenge_method`: always `S256`.
    pub fn method(&self) -> &'static str {
        "S256"
    }
}

/// `BASE64URL(SHA256(input))` without padding.
#[cfg(feature = "sha2")]
pub(crate) fn s256(input: &str) -> String {
    base64url(&Sha256::digest(input.as_bytes()))
}

impl PkceVerifier {
    /// A fresh verifier: 32 random bytes, base64url-encoded (43 characters).
    pub fn random() -> Result<Self, Error> {
        random_token(32).map(Self::new)
    }

    /// Checks a verifier received from elsewhere: 43–128 characters from `A–Z a–z 0–9 - . _ ~`.
    pub fn parse(value: &str) -> Result<Self, Error> {
        let ok = (43..=128).contains(&value.len())
            && value.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
        if ok {
            Ok(Self::new(value))
        } else {
            Err(Error::new(
                ErrorCode::PkceInvalid,
                [
                    "a code verifier is 43 to 128 characters from A-Z a-z 0-9 - . _ ~ (got ",
                    &decimal(value.len()),
                    " characters)",
                ]
                .concat(),
            ))
        }
    }

    /// The S256 challenge of this verifier.
    #[cfg(feature = "sha2")]
    pub fn challenge(&self) -> PkceChallenge {
        PkceChallenge::s256(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    #[test]
    fn a_digest_computed_elsewhere_gives_the_same_challenge() {
        // SHA-256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"), as Web Crypto would return it.
        let digest = URL_SAFE_NO_PAD.decode("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM").expect("base64url");
        assert_eq!(PkceChallenge::from_sha256_digest(&digest).as_str(), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    }

    #[cfg(feature = "sha2")]
    #[test]
    fn rfc7636_appendix_b_vector() {
        let verifier = PkceVerifier::parse("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk").expect("valid");
        assert_eq!(verifier.challenge().as_str(), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
        assert_eq!(verifier.challenge().method(), "S256");
    }

    #[test]
    fn random_verifiers_are_valid_and_distinct() {
        let a = PkceVerifier::random().expect("random");
        let b = PkceVerifier::random().expect("random");
        assert!(PkceVerifier::parse(a.expose_secret()).is_ok());
        assert_ne!(a, b);
    }

    #[test]
    fn verifier_length_and_alphabet_are_checked() {
        assert!(PkceVerifier::parse(&"a".repeat(42)).is_err());
        assert!(PkceVerifier::parse(&"a".repeat(43)).is_ok());
        assert!(PkceVerifier::parse(&"a".repeat(128)).is_ok());
        assert!(PkceVerifier::parse(&"a".repeat(129)).is_err());
        let err = PkceVerifier::parse(&format!("{}+", "a".repeat(50))).expect_err("plus sign");
        assert_eq!(err.code(), ErrorCode::PkceInvalid);
    }
}
