//! The client credential: a client secret (form body or Basic), or a certificate whose key signs
//! a fresh client assertion for every token request (PS256 with `x5t#S256`, or RS256 with `x5t`).

use graphgate_core::assertion::{AssertionAlg, AssertionParts};
use graphgate_core::{ClientAuth, ClientId, ClientSecret, Error as CoreError, ErrorCode, random_token};
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::DecodePrivateKey;
use rsa::sha2::Sha256;
use rsa::signature::{SignatureEncoding, Signer};

use crate::config::CredentialSettings;

/// The loaded credential. Its `Debug` output names the kind only.
pub(crate) enum Credential {
    /// A client secret.
    Secret {
        /// The secret's value.
        secret: ClientSecret,
        /// Send it with HTTP Basic.
        basic: bool,
    },
    /// A certificate and its private key.
    Certificate {
        /// The private key.
        key: Box<rsa::PrivateKey>,
        /// The certificate, DER.
        cert_der: Vec<u8>,
        /// The assertion's algorithm.
        alg: AssertionAlg,
    },
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credential::Secret { basic, .. } => {
                write!(f, "Credential::Secret {{ basic: {basic}, secret: <redacted> }}")
            }
            Credential::Certificate { alg, .. } => {
                write!(f, "Credential::Certificate {{ alg: {}, key: <redacted> }}", alg.as_str())
            }
        }
    }
}

impl Credential {
    /// Reads the credential named by the configuration (secret from env or file; certificate and
    /// key from files or env). Errors name the source, never the value.
    pub(crate) fn load(settings: &CredentialSettings) -> Result<Self, String> {
        let (path, key, alg) = match settings {
            CredentialSettings::Certificate { certificate_file, key, alg } => (certificate_file, key, *alg),
            CredentialSettings::Secret { secret, basic } => {
                let secret = secret.read("entra.credential.secret")?;
                if secret.is_empty() {
                    return Err("entra.credential.secret: the secret is empty".to_owned());
                }
                return Ok(Credential::Secret { secret: ClientSecret::new(secret), basic: *basic });
            }
        };
        let pem = std::fs::read(path)
            .map_err(|e| format!("entra.credential.certificate_file: cannot read {}: {e}", path.display()))?;
        let cert_der = {
            use rustls::pki_types::pem::PemObject;
            rustls::pki_types::CertificateDer::from_pem_slice(&pem)
                .map_err(|_| format!("entra.credential.certificate_file: {} holds no PEM certificate", path.display()))?
                .to_vec()
        };
        let key_pem = key.read("entra.credential.key")?;
        let key = rsa::PrivateKey::from_pkcs8_pem(&key_pem)
            .or_else(|_| rsa::PrivateKey::from_pkcs1_pem(&key_pem))
            .map_err(|_| "entra.credential.key: not an RSA private key in PEM (PKCS#8 or PKCS#1)".to_owned())?;
        Ok(Credential::Certificate { key: Box::new(key), cert_der, alg })
    }

    /// The client authentication for one request to `token_url`.
    pub(crate) fn client_auth(&self, client_id: &ClientId, token_url: &str, now: u64) -> Result<ClientAuth, CoreError> {
        Ok(match self {
            Credential::Secret { secret, basic: false } => ClientAuth::SecretPost(secret.clone()),
            Credential::Secret { secret, basic: true } => ClientAuth::SecretBasic(secret.clone()),
            Credential::Certificate { key, cert_der, alg } => {
                let jti = random_token(16)?;
                let parts = AssertionParts::new(*alg, cert_der, client_id, token_url, now, &jti);
                let signature = match alg {
                    AssertionAlg::Ps256 => rsa::pss::SigningKey::<Sha256>::new((**key).clone())
                        .try_sign(parts.signing_input.as_bytes())
                        .map(|s| s.to_vec()),
                    AssertionAlg::Rs256 => rsa::pkcs1v15::SigningKey::<Sha256>::new((**key).clone())
                        .try_sign(parts.signing_input.as_bytes())
                        .map(|s| s.to_vec()),
                }
                .map_err(|_| CoreError::new(ErrorCode::InternalError, "signing the client assertion failed"))?;
                ClientAuth::Assertion(parts.finish(&signature))
            }
        })
    }
}
