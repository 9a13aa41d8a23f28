//! Client assertions (certificate credentials): the JOSE header and claims, as pure data.
//!
//! The caller signs [`AssertionParts::signing_input`] with the certificate's private key
//! (RSASSA-PSS for `PS256`, PKCS#1 v1.5 for `RS256`) and hands the signature to
//! [`AssertionParts::finish`]. Entra's current format is `PS256` with `x5t#S256`; the older
//! `RS256` with `x5t` is kept as a fallback.

#[allow(unused_imports, reason = "the alloc prelude, as std would give it")]
use crate::prelude::*;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;
use sha1::Sha1;
use sha2::{Digest, Sha256};

use crate::secret::ClientAssertion;
use crate::url::ClientId;

/// How long an assertion is valid, in seconds.
pub const ASSERTION_LIFETIME_SECS: u64 = 600;

/// The signature algorithm and thumbprint header of an assertion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AssertionAlg {
    /// RSASSA-PSS with SHA-256, thumbprint `x5t#S256` (SHA-256 of the certificate).
    #[default]
    Ps256,
    /// RSASSA-PKCS1-v1_5 with SHA-256, thumbprint `x5t` (SHA-1 of the certificate).
    Rs256,
}

impl AssertionAlg {
    /// The JOSE `alg` value.
    pub fn as_str(self) -> &'static str {
        match self {
            AssertionAlg::Ps256 => "PS256",
            AssertionAlg::Rs256 => "RS256",
        }
    }
}

/// `base64url(SHA-256(cert DER))`: the `x5t#S256` thumbprint.
pub fn thumbprint_s256(cert_der: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(cert_der))
}

/// `base64url(SHA-1(cert DER))`: the `x5t` thumbprint.
pub fn thumbprint_sha1(cert_der: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(Sha1::digest(cert_der))
}

/// An unsigned assertion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssertionParts {
    /// `base64url(header) . base64url(claims)`: the bytes to sign.
    pub signing_input: String,
    /// The algorithm to sign with.
    pub alg: AssertionAlg,
}

impl AssertionParts {
    /// Builds the header and claims: `aud` is the token endpoint, `iss` and `sub` the client ID,
    /// `jti` unique, `nbf`/`iat` now and `exp` ten minutes later.
    pub fn new(alg: AssertionAlg, cert_der: &[u8], client_id: &ClientId, token_url: &str, now: u64, jti: &str) -> Self {
        let header = match alg {
            AssertionAlg::Ps256 => json!({"alg": "PS256", "typ": "JWT", "x5t#S256": thumbprint_s256(cert_der)}),
            AssertionAlg::Rs256 => json!({"alg": "RS256", "typ": "JWT", "x5t": thumbprint_sha1(cert_der)}),
        };
        let claims = json!({
            "aud": token_url,
            "iss": client_id.as_str(),
            "sub": client_id.as_str(),
            "jti": jti,
            "nbf": now,
            "iat": now,
            "exp": now + ASSERTION_LIFETIME_SECS,
        });
        let signing_input =
            format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()));
        Self { signing_input, alg }
    }

    /// Appends the signature, giving the compact JWS to send as `client_assertion`.
    pub fn finish(self, signature: &[u8]) -> ClientAssertion {
        ClientAssertion::new(format!("{}.{}", self.signing_input, URL_SAFE_NO_PAD.encode(signature)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn decode(part: &str) -> Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("base64url")).expect("json")
    }

    #[test]
    fn thumbprints_match_known_digests() {
        // SHA-1("abc") = a9993e36..., SHA-256("abc") = ba7816bf...
        assert_eq!(thumbprint_sha1(b"abc"), "qZk-NkcGgWq6PiVxeFDCbJzQ2J0");
        assert_eq!(thumbprint_s256(b"abc"), "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0");
    }

    #[test]
    fn builds_ps256_and_rs256_assertions() {
        let client = ClientId::parse("6731de76-14a6-49ae-97bc-6eba6914391e").expect("guid");
        let url = "https://login.microsoftonline.com/contoso.com/oauth2/v2.0/token";
        let p = AssertionParts::new(AssertionAlg::Ps256, b"abc", &client, url, 1_000, "j-1");
        let (h, c) = p.signing_input.split_once('.').expect("two parts");
        let (h, c) = (decode(h), decode(c));
        assert_eq!(h["alg"], "PS256");
        assert_eq!(h["x5t#S256"], thumbprint_s256(b"abc"));
        assert_eq!(c["aud"], url);
        assert_eq!(c["iss"], client.as_str());
        assert_eq!(c["sub"], client.as_str());
        assert_eq!(c["jti"], "j-1");
        assert_eq!(c["nbf"], 1_000);
        assert_eq!(c["exp"], 1_600);
        let jws = p.finish(&[1, 2, 3]);
        assert_eq!(jws.expose_secret().split('.').count(), 3);
        assert!(jws.expose_secret().ends_with(".AQID"));
        let r = AssertionParts::new(AssertionAlg::Rs256, b"abc", &client, url, 1_000, "j-2");
        let h = decode(r.signing_input.split('.').next().expect("header"));
        assert_eq!(h["alg"], "RS256");
        assert_eq!(h["x5t"], thumbprint_sha1(b"abc"));
        assert_eq!(r.alg.as_str(), "RS256");
    }
}
