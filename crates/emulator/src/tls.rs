//! HTTPS like the real service: a local CA made at start-up and a server certificate it signs
//! for `127.0.0.1`, `localhost` and `::1`. Clients trust the CA file the emulator writes.

use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::ServerConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// The emulator's TLS material.
pub(crate) struct Tls {
    /// The CA certificate, PEM: what clients must trust.
    pub ca_pem: String,
    /// The server configuration (HTTP/1.1).
    pub config: Arc<ServerConfig>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls").finish_non_exhaustive()
    }
}

impl Tls {
    /// Makes a fresh CA and a server certificate for the loopback names.
    pub(crate) fn generate() -> Result<Self, String> {
        let err = |e: rcgen::Error| format!("certificate generation failed: {e}");
        let ca_key = KeyPair::generate().map_err(err)?;
        let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name.push(DnType::CommonName, "graphgate-emulator local CA");
        ca.distinguished_name.push(DnType::OrganizationName, "graphgate sandbox");
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        let ca_cert = ca.self_signed(&ca_key).map_err(err)?;
        let issuer = Issuer::new(ca, ca_key);

        let leaf_key = KeyPair::generate().map_err(err)?;
        let mut leaf = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned(), "::1".to_owned()])
            .map_err(err)?;
        leaf.distinguished_name.push(DnType::CommonName, "graphgate-emulator");
        let leaf_cert = leaf.signed_by(&leaf_key, &issuer).map_err(err)?;

        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS setup failed: {e}"))?
            .with_no_client_auth()
            .with_single_cert(
                vec![leaf_cert.der().clone(), CertificateDer::from(ca_cert.der().to_vec())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
            )
            .map_err(|e| format!("TLS setup failed: {e}"))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self { ca_pem: ca_cert.pem(), config: Arc::new(config) })
    }
}
