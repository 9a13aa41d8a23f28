//! The emulator's signing key: RS256 JSON Web Tokens, their verification, and the JWKS document.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rsa::pkcs1v15::{Signature, SigningKey, VerifyingKey};
use rsa::sha2::{Digest, Sha256};
use rsa::signature::{SignatureEncoding, Signer, Verifier};
use rsa::traits::PublicKeyParts;
use rsa::{PrivateKey, PublicKey};
use serde_json::{Value, json};

/// An RSA key pair that signs the emulator's tokens.
#[derive(Clone)]
pub(crate) struct Keys {
    kid: String,
    signing: SigningKey<Sha256>,
    public: PublicKey,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys").field("kid", &self.kid).finish_non_exhaustive()
    }
}

impl Keys {
    /// A fresh 2048-bit key.
    pub(crate) fn generate() -> Result<Self, String> {
        let private =
            PrivateKey::new(&mut getrandom::SysRng, 2048).map_err(|e| format!("RSA key generation failed: {e}"))?;
        let public = private.to_public_key();
        let kid = URL_SAFE_NO_PAD.encode(&Sha256::digest(public.n_bytes())[..16]);
        Ok(Self { kid, signing: SigningKey::<Sha256>::new(private), public })
    }

    /// The key ID (`kid`) put in token headers.
    #[cfg(test)]
    pub(crate) fn kid(&self) -> &str {
        &self.kid
    }

    /// Signs `claims` as an RS256 JWT.
    pub(crate) fn sign(&self, claims: &Value) -> String {
        let header = json!({"typ": "JWT", "alg": "RS256", "kid": self.kid});
        let input =
            format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()));
        let sig = self.signing.sign(input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.to_vec()))
    }

    /// Verifies an RS256 JWT signed by this key and returns its claims.
    pub(crate) fn verify(&self, token: &str) -> Option<Value> {
        let (input, sig) = token.rsplit_once('.')?;
        let (header, payload) = input.split_once('.')?;
        let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).ok()?).ok()?;
        if header.get("alg")?.as_str()? != "RS256" || header.get("kid")?.as_str()? != self.kid {
            return None;
        }
        let sig = Signature::try_from(URL_SAFE_NO_PAD.decode(sig).ok()?.as_slice()).ok()?;
        VerifyingKey::<Sha256>::new(self.public.clone()).verify(input.as_bytes(), &sig).ok()?;
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()
    }

    /// The JWKS document (`/discovery/v2.0/keys`).
    pub(crate) fn jwks(&self, issuer: &str) -> Value {
        json!({"keys": [{
            "kty": "RSA",
            "use": "sig",
            "alg": "RS256",
            "kid": self.kid,
            "n": URL_SAFE_NO_PAD.encode(self.public.n_bytes()),
            "e": URL_SAFE_NO_PAD.encode(self.public.e_bytes()),
            "issuer": issuer,
        }]})
    }
}

/// Verifies a client assertion's signature with a certificate's key: `PS256` (RSASSA-PSS) or
/// `RS256` (PKCS#1 v1.5), both with SHA-256.
pub(crate) fn verify_with(key: &PublicKey, alg: &str, input: &[u8], sig: &[u8]) -> bool {
    match alg {
        "RS256" => {
            Signature::try_from(sig).is_ok_and(|s| VerifyingKey::<Sha256>::new(key.clone()).verify(input, &s).is_ok())
        }
        "PS256" => rsa::pss::Signature::try_from(sig)
            .is_ok_and(|s| rsa::pss::VerifyingKey::<Sha256>::new(key.clone()).verify(input, &s).is_ok()),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_and_verifies() {
        let keys = Keys::generate().expect("key");
        let token = keys.sign(&json!({"sub": "x", "exp": 5}));
        assert_eq!(keys.verify(&token).expect("valid")["sub"], "x");
        let mut tampered = token.clone();
        tampered.insert(tampered.find('.').expect("dot") + 2, 'A');
        assert!(keys.verify(&tampered).is_none());
        let other = Keys::generate().expect("key");
        assert!(other.verify(&token).is_none());
        let jwks = keys.jwks("iss");
        assert_eq!(jwks["keys"][0]["kid"], keys.kid());
        assert_eq!(jwks["keys"][0]["e"], "AQAB");
    }
}
