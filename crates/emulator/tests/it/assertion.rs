//! Certificate credentials: client assertions signed PS256 (`x5t#S256`) or RS256 (`x5t`) with
//! a registered certificate, and every check that gives AADSTS700027.

use crate::support::*;
use graphgate_core::ClientId;
use graphgate_core::assertion::{AssertionAlg, AssertionParts};
use graphgate_emulator::{Config, Seed};
use rsa::pkcs8::EncodePrivateKey;
use rsa::signature::{SignatureEncoding, Signer};

struct Credential {
    key: rsa::PrivateKey,
    cert_der: Vec<u8>,
    cert_pem: String,
}

fn credential() -> Credential {
    let key = rsa::PrivateKey::new(&mut getrandom::SysRng, 2048).unwrap();
    let der = key.to_pkcs8_der().unwrap();
    let pair =
        rcgen::KeyPair::from_pkcs8_der_and_sign_algo(&der.as_bytes().to_vec().into(), &rcgen::PKCS_RSA_SHA256).unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(rcgen::DnType::CommonName, "graphgate test credential");
    let cert = params.self_signed(&pair).unwrap();
    Credential { key, cert_der: cert.der().to_vec(), cert_pem: cert.pem() }
}

fn sign(c: &Credential, alg: AssertionAlg, aud: &str, now: u64, jti: &str) -> String {
    let parts = AssertionParts::new(alg, &c.cert_der, &ClientId::parse(APP).unwrap(), aud, now, jti);
    let sig = match alg {
        AssertionAlg::Ps256 => {
            rsa::pss::SigningKey::<rsa::sha2::Sha256>::new(c.key.clone()).sign(parts.signing_input.as_bytes()).to_vec()
        }
        AssertionAlg::Rs256 => rsa::pkcs1v15::SigningKey::<rsa::sha2::Sha256>::new(c.key.clone())
            .sign(parts.signing_input.as_bytes())
            .to_vec(),
    };
    parts.finish(&sig).into_exposed_secret()
}

/// Client credentials against Contoso, authenticated by `assertion`.
async fn with_assertion(emu: &Emu, assertion: &str) -> (u16, serde_json::Value) {
    let scope = format!("{}/.default", emu.base());
    token(
        emu,
        CONTOSO,
        &[
            ("client_id", APP),
            ("grant_type", "client_credentials"),
            ("scope", &scope),
            ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
            ("client_assertion", assertion),
        ],
    )
    .await
}

#[tokio::test]
async fn client_assertions_are_verified_with_the_registered_certificate() {
    let registered = credential();
    let stranger = credential();
    let mut seed = Seed::sandbox();
    seed.apps[0].certificates.push(registered.cert_pem.clone());
    let emu = start_with(Config { seed, ..Config::default() }).await;
    let aud = format!("{}/{CONTOSO}/oauth2/v2.0/token", emu.base());
    let now = emu.handle.now();
    let attempt = |assertion: String| {
        let emu = &emu;
        async move { with_assertion(emu, &assertion).await }
    };
    let (status, body) = attempt(sign(&registered, AssertionAlg::Ps256, &aud, now, "j-1")).await;
    assert_eq!(status, 200, "PS256 with x5t#S256: {body}");
    let (status, body) = attempt(sign(&registered, AssertionAlg::Rs256, &aud, now, "j-2")).await;
    assert_eq!(status, 200, "RS256 with x5t: {body}");

    let failures = [
        ("replayed jti", sign(&registered, AssertionAlg::Ps256, &aud, now, "j-1")),
        ("wrong audience", sign(&registered, AssertionAlg::Ps256, "https://elsewhere.example/token", now, "j-3")),
        ("expired", sign(&registered, AssertionAlg::Ps256, &aud, now - 3600, "j-4")),
        ("unregistered certificate", sign(&stranger, AssertionAlg::Ps256, &aud, now, "j-5")),
        ("not a JWS", "abc.def".to_owned()),
    ];
    for (what, assertion) in failures {
        let (status, body) = attempt(assertion).await;
        assert_eq!((status, body["error_codes"][0].as_u64()), (401, Some(700027)), "{what}: {body}");
    }
    // A signature by another key over the registered certificate's thumbprint.
    let mut forged = sign(&registered, AssertionAlg::Ps256, &aud, now, "j-6");
    let other = sign(&stranger, AssertionAlg::Ps256, &aud, now, "j-6");
    let sig_start = forged.rfind('.').unwrap();
    forged.replace_range(sig_start.., &other[other.rfind('.').unwrap()..]);
    let (_, body) = attempt(forged).await;
    assert_eq!(body["error_codes"][0], 700027, "forged signature");
}

#[tokio::test]
async fn the_sandbox_certificate_credential_works_out_of_the_box() {
    use rsa::pkcs8::DecodePrivateKey;
    let key = rsa::PrivateKey::from_pkcs8_pem(graphgate_emulator::SANDBOX_KEY_PEM).unwrap();
    let cert_der = {
        use rustls::pki_types::pem::PemObject;
        rustls::pki_types::CertificateDer::from_pem_slice(graphgate_emulator::SANDBOX_CERTIFICATE_PEM.as_bytes())
            .unwrap()
            .to_vec()
    };
    let sandbox = Credential { key, cert_der, cert_pem: graphgate_emulator::SANDBOX_CERTIFICATE_PEM.to_owned() };
    let emu = start().await;
    let aud = format!("{}/{CONTOSO}/oauth2/v2.0/token", emu.base());
    let assertion = sign(&sandbox, AssertionAlg::Ps256, &aud, emu.handle.now(), "sandbox-1");
    let (status, body) = with_assertion(&emu, &assertion).await;
    assert_eq!(status, 200, "{body}");
}
