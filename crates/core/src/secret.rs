//! Secret newtypes: values that must never reach a log, an error message or `Debug` output.
//!
//! Each type prints as `Name(<redacted>)`, has no `Display` and no `Serialize`, compares in
//! constant time, and gives its value up only through the deliberately loud `expose_secret()`.

#[allow(unused_imports, reason = "the alloc prelude, as std would give it")]
use crate::prelude::*;

use core::fmt;

/// Compares two byte strings in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

macro_rules! secret_type {
    ($(#[$meta:meta])* $name:ident $(, $derive:ident)*) => {
        $(#[$meta])*
        #[derive($($derive),*)]
        pub struct $name(String);

        impl $name {
            /// Wraps a secret value.
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }

            /// The secret value itself.
            ///
            /// # Security
            /// Whatever receives this string can leak it: never log it, never put it in an
            /// error message, and send it only where the protocol requires it.
            pub fn expose_secret(&self) -> &str {
                &self.0
            }

            /// Consumes the wrapper and returns the secret value (see [`Self::expose_secret`]).
            pub fn into_exposed_secret(self) -> String {
                self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "(<redacted>)"))
            }
        }

        impl PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                constant_time_eq(self.0.as_bytes(), other.0.as_bytes())
            }
        }

        impl Eq for $name {}

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                String::deserialize(d).map(Self)
            }
        }
    };
}

secret_type!(
    /// An application's client secret (the secret's *value*, not its ID).
    ClientSecret, Clone
);
secret_type!(
    /// A signed client assertion JWT, used in place of a client secret.
    ClientAssertion, Clone
);
secret_type!(
    /// An authorization code returned to the redirect URI.
    AuthorizationCode, Clone
);
secret_type!(
    /// An OAuth access token (a bearer credential).
    AccessToken, Clone
);
secret_type!(
    /// An OAuth refresh token.
    RefreshToken, Clone
);
secret_type!(
    /// An OpenID Connect ID token (a JWT describing the signed-in user).
    IdToken, Clone
);
secret_type!(
    /// A PKCE code verifier.
    ///
    /// Deliberately not `Clone`: one verifier belongs to exactly one authorize request.
    PkceVerifier
);
secret_type!(
    /// The `state` value tying a redirect to the request that caused it.
    State, Clone
);
secret_type!(
    /// The `nonce` value tying an ID token to the request that caused it.
    Nonce, Clone
);
secret_type!(
    /// A session identifier carried in the proxy's session cookie.
    SessionId, Clone
);
secret_type!(
    /// A PEM-encoded private key (for example the key of a client certificate).
    PrivateKeyPem, Clone
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_secret_type_redacts_its_debug_output() {
        let value = "s3cr3t-VALUE-that-must-not-leak";
        let printed = [
            format!("{:?}", ClientSecret::new(value)),
            format!("{:?}", ClientAssertion::new(value)),
            format!("{:?}", AuthorizationCode::new(value)),
            format!("{:?}", AccessToken::new(value)),
            format!("{:?}", RefreshToken::new(value)),
            format!("{:?}", IdToken::new(value)),
            format!("{:?}", PkceVerifier::new(value)),
            format!("{:?}", State::new(value)),
            format!("{:?}", Nonce::new(value)),
            format!("{:?}", SessionId::new(value)),
            format!("{:?}", PrivateKeyPem::new(value)),
        ];
        let expected = [
            "ClientSecret(<redacted>)",
            "ClientAssertion(<redacted>)",
            "AuthorizationCode(<redacted>)",
            "AccessToken(<redacted>)",
            "RefreshToken(<redacted>)",
            "IdToken(<redacted>)",
            "PkceVerifier(<redacted>)",
            "State(<redacted>)",
            "Nonce(<redacted>)",
            "SessionId(<redacted>)",
            "PrivateKeyPem(<redacted>)",
        ];
        assert_eq!(printed, expected);
        // Pretty Debug and Debug of containers redact too.
        let nested = format!("{:#?}", Some(vec![RefreshToken::new(value)]));
        assert!(!nested.contains(value), "{nested}");
    }

    #[test]
    fn secrets_compare_by_value() {
        assert_eq!(State::new("abc"), State::new("abc"));
        assert_ne!(State::new("abc"), State::new("abd"));
        assert_ne!(State::new("abc"), State::new("abcd"));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn secrets_deserialize_from_json_strings() {
        let t: AccessToken = serde_json::from_str("\"eyJ0\"").expect("a JSON string");
        assert_eq!(t.expose_secret(), "eyJ0");
    }
}
