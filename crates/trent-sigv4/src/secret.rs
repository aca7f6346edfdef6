//! Secret access keys and the credentials that carry them.

use std::fmt;

use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// A secret access key: zeroized on drop, `Debug`/`Display` print `[REDACTED]`,
/// compared in constant time.
///
/// Cloning copies the key into a second buffer that is zeroized on its own drop.
#[derive(Clone)]
pub struct SecretKey(String);

impl SecretKey {
    /// Takes ownership of the key; only the buffer handed over is protected
    /// (copies the caller made before are its own to zeroize).
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    /// The secret itself. Callers must not copy it into buffers that outlive
    /// the operation at hand, nor into logs or errors.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl Drop for SecretKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl ZeroizeOnDrop for SecretKey {}

impl PartialEq for SecretKey {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }
}

impl Eq for SecretKey {}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

impl fmt::Display for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

/// An access key pair, optionally with the session token of temporary credentials.
///
/// `Debug` shows the access key id and whether a session token is present, never
/// the secret.
#[derive(Clone)]
pub struct Credentials {
    /// The public half, sent in every request's credential scope.
    pub access_key_id: String,
    /// The secret half, which only ever keys HMACs.
    pub secret_access_key: SecretKey,
    /// Sent as `X-Amz-Security-Token` (and signed) when present.
    pub session_token: Option<String>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &self.secret_access_key)
            // Session tokens are bearer material too: show only their presence.
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "[REDACTED]"),
            )
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_are_redacted() {
        let s = SecretKey::new("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
        assert_eq!(format!("{s:?}"), "[REDACTED]");
        assert_eq!(format!("{s}"), "[REDACTED]");
        let c = Credentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: s,
            session_token: Some("token-value".into()),
        };
        let d = format!("{c:?}");
        assert!(d.contains("AKIDEXAMPLE"));
        assert!(!d.contains("wJalr"));
        assert!(!d.contains("token-value"));
    }

    #[test]
    fn equality_compares_contents() {
        assert_eq!(SecretKey::new("abc"), SecretKey::new("abc"));
        assert_ne!(SecretKey::new("abc"), SecretKey::new("abd"));
        assert_ne!(SecretKey::new("abc"), SecretKey::new("abcd"));
    }
}
