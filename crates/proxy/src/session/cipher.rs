//! AES-256-GCM sealing of secrets at rest, with associated data binding each ciphertext to the
//! record it belongs to.
//!
//! A sealed value is `nonce (12 bytes) ‖ ciphertext ‖ tag (16 bytes)`, with a fresh random nonce
//! for every seal.

use std::fmt;

use aes_gcm::aead::{Aead as _, KeyInit as _, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};

/// Bytes in a nonce.
const NONCE_LEN: usize = 12;
/// Bytes in an authentication tag.
const TAG_LEN: usize = 16;

/// An AES-256-GCM key for sealing secrets at rest. Its `Debug` output is redacted.
#[derive(Clone)]
pub(crate) struct Cipher {
    aead: Aes256Gcm,
}

/// Why a [`Cipher`] could not be built or could not seal or open a value.
///
/// Messages never contain key material, plaintext or associated data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CipherError {
    /// The key is not 32 bytes of base64.
    InvalidKey,
    /// Sealing failed (the secure random source failed, or the input is absurdly long).
    Seal,
    /// The value was tampered with, truncated, sealed under another key, or bound to other
    /// associated data.
    Open,
}

impl fmt::Display for CipherError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::InvalidKey => {
                "the session encryption key must be 32 random bytes, base64-encoded (for example the output of `openssl rand -base64 32`)"
            }
            Self::Seal => "could not encrypt a value (the secure random source failed)",
            Self::Open => "could not decrypt a value: it was altered, or sealed under another key or for another record",
        })
    }
}

impl std::error::Error for CipherError {}

impl Cipher {
    /// A cipher with this 256-bit key.
    pub(crate) fn new(key: [u8; 32]) -> Self {
        Self { aead: Aes256Gcm::new(&Key::<Aes256Gcm>::from(key)) }
    }

    /// A cipher from a base64-encoded 256-bit key (standard or URL-safe alphabet, padded or not;
    /// surrounding whitespace, such as a key file's final newline, is ignored).
    #[cfg(test)]
    pub(crate) fn from_base64(text: &str) -> Result<Self, CipherError> {
        decode_key(text).map(Self::new)
    }

    /// Encrypts `plaintext` and authenticates it together with `aad`, which must be presented
    /// again to [`open`](Self::open) it. Returns `nonce ‖ ciphertext ‖ tag`.
    pub(crate) fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, CipherError> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|_| CipherError::Seal)?;
        let sealed =
            self.aead.encrypt(&Nonce::from(nonce), Payload { msg: plaintext, aad }).map_err(|_| CipherError::Seal)?;
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Decrypts a value made by [`seal`](Self::seal) with the same key and the same `aad`.
    pub(crate) fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>, CipherError> {
        if sealed.len() < NONCE_LEN + TAG_LEN {
            return Err(CipherError::Open);
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| CipherError::Open)?;
        self.aead.decrypt(&Nonce::from(nonce), Payload { msg: ciphertext, aad }).map_err(|_| CipherError::Open)
    }

    /// How many bytes sealing `plaintext_len` bytes produces.
    #[cfg(test)]
    pub(crate) const fn sealed_len(plaintext_len: usize) -> usize {
        NONCE_LEN + plaintext_len + TAG_LEN
    }
}

/// The 256-bit key in `text`: base64 in the standard or URL-safe alphabet, padded or not;
/// surrounding whitespace, such as a key file's final newline, is ignored.
pub(crate) fn decode_key(text: &str) -> Result<[u8; 32], CipherError> {
    let text = text.trim();
    let bytes = [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD]
        .into_iter()
        .find_map(|engine| engine.decode(text).ok())
        .ok_or(CipherError::InvalidKey)?;
    bytes.try_into().map_err(|_| CipherError::InvalidKey)
}

impl fmt::Debug for Cipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Cipher(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(text: &str) -> Vec<u8> {
        (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex")).collect()
    }

    #[test]
    fn seals_and_opens_a_round_trip() {
        let cipher = Cipher::new([7; 32]);
        let sealed = cipher.seal(b"refresh-token", b"record-1").expect("seal");
        assert_eq!(sealed.len(), Cipher::sealed_len(13));
        assert!(!sealed.windows(13).any(|w| w == b"refresh-token"));
        assert_eq!(cipher.open(&sealed, b"record-1").expect("open"), b"refresh-token");
        // A fresh nonce every time.
        assert_ne!(sealed, cipher.seal(b"refresh-token", b"record-1").expect("seal"));
        // The empty plaintext works too.
        let empty = cipher.seal(b"", b"").expect("seal");
        assert_eq!(cipher.open(&empty, b"").expect("open"), b"");
    }

    #[test]
    fn any_tampered_byte_fails_to_open() {
        let cipher = Cipher::new([7; 32]);
        let sealed = cipher.seal(b"refresh-token", b"record-1").expect("seal");
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 0x01;
            assert_eq!(cipher.open(&bad, b"record-1"), Err(CipherError::Open), "byte {i}");
        }
        for len in 0..sealed.len() {
            assert_eq!(cipher.open(&sealed[..len], b"record-1"), Err(CipherError::Open), "length {len}");
        }
        let mut longer = sealed.clone();
        longer.push(0);
        assert_eq!(cipher.open(&longer, b"record-1"), Err(CipherError::Open));
    }

    #[test]
    fn wrong_associated_data_or_key_fails_to_open() {
        let cipher = Cipher::new([7; 32]);
        let sealed = cipher.seal(b"refresh-token", b"record-1").expect("seal");
        assert_eq!(cipher.open(&sealed, b"record-2"), Err(CipherError::Open));
        assert_eq!(cipher.open(&sealed, b""), Err(CipherError::Open));
        assert_eq!(Cipher::new([8; 32]).open(&sealed, b"record-1"), Err(CipherError::Open));
    }

    #[test]
    fn opens_the_published_gcm_test_vectors() {
        // McGrew & Viega, "The Galois/Counter Mode of Operation", test cases 13 and 14:
        // a zero 256-bit key and a zero 96-bit IV.
        let cipher = Cipher::new([0; 32]);
        let case13 = [vec![0; 12], hex("530f8afbc74536b9a963b4f1c4cb738b")].concat();
        assert_eq!(cipher.open(&case13, b"").expect("case 13"), b"");
        let case14 =
            [vec![0; 12], hex("cea7403d4d606b6e074ec5d3baf39d18"), hex("d0d1c8a799996bf0265b98b5d48ab919")].concat();
        assert_eq!(cipher.open(&case14, b"").expect("case 14"), [0; 16]);
    }

    #[test]
    fn keys_come_from_base64_of_exactly_32_bytes() {
        let key = [0xfb_u8; 32];
        let cipher = Cipher::from_base64(&format!(" {}\n", STANDARD.encode(key))).expect("standard");
        let sealed = cipher.seal(b"x", b"").expect("seal");
        assert_eq!(Cipher::new(key).open(&sealed, b"").expect("same key"), b"x");
        Cipher::from_base64(&URL_SAFE_NO_PAD.encode(key)).expect("url-safe");
        for bad in [String::new(), "not base64!".into(), STANDARD.encode([1; 31]), STANDARD.encode([1; 33])] {
            assert_eq!(Cipher::from_base64(&bad).map(drop), Err(CipherError::InvalidKey), "{bad}");
        }
        let message = CipherError::InvalidKey.to_string();
        assert!(message.contains("32"), "{message}");
    }

    #[test]
    fn debug_output_is_redacted() {
        let cipher = Cipher::new([0x41; 32]);
        assert_eq!(format!("{cipher:?}"), "Cipher(<redacted>)");
        assert_eq!(format!("{:#?}", Some(cipher)), "Some(\n    Cipher(<redacted>),\n)");
    }
}
