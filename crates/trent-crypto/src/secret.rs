//! [`SecretBytes`]: the one container for secret byte strings (key material,
//! plaintexts, data keys) in Trent.

use std::fmt;

use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Secret bytes: zeroized on drop, redacted in `Debug`/`Display`, compared in
/// constant time.
///
/// Cloning copies the bytes into a second buffer that is zeroized on its own drop.
#[derive(Clone, Default)]
pub struct SecretBytes(Vec<u8>);

impl SecretBytes {
    /// Takes ownership of `v`; the bytes are zeroized when the value is dropped.
    ///
    /// Only the buffer handed over is protected: copies the caller made before
    /// (or reallocations it caused while building `v`) are not.
    pub fn new(v: Vec<u8>) -> Self {
        Self(v)
    }

    /// Copies `s` into a new secret buffer (the caller still owns, and should
    /// zeroize, its own copy).
    pub fn from_slice(s: &[u8]) -> Self {
        Self(s.to_vec())
    }

    /// A zero-filled secret buffer of `len` bytes, to be filled in place.
    pub(crate) fn zeroed(len: usize) -> Self {
        Self(vec![0; len])
    }

    /// The secret bytes. Callers must not copy them into unprotected buffers
    /// that outlive the operation at hand.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Mutable access, for filling a buffer in place (random bytes, decryption).
    pub(crate) fn expose_mut(&mut self) -> &mut [u8] {
        &mut self.0
    }

    /// Number of secret bytes (the length is not considered secret).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no secret bytes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Hands the raw buffer over, e.g. to a serializer that needs a `Vec<u8>`.
    ///
    /// The returned vector is no longer zeroized automatically: the caller takes
    /// over the responsibility to zeroize it (e.g. with
    /// [`zeroize::Zeroizing`](https://docs.rs/zeroize)) once done.
    pub fn into_vec(mut self) -> Vec<u8> {
        // `Drop` then zeroizes the empty vector left behind.
        std::mem::take(&mut self.0)
    }
}

impl Drop for SecretBytes {
    fn drop(&mut self) {
        // Zeroizes the whole capacity, not only the initialized length.
        self.0.zeroize();
    }
}

impl ZeroizeOnDrop for SecretBytes {}

impl From<Vec<u8>> for SecretBytes {
    fn from(v: Vec<u8>) -> Self {
        Self::new(v)
    }
}

impl PartialEq for SecretBytes {
    /// Constant time in the contents; only the lengths may leak through timing.
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for SecretBytes {}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

impl fmt::Display for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_are_redacted() {
        let s = SecretBytes::from_slice(b"hunter2-very-secret");
        assert_eq!(format!("{s:?}"), "[REDACTED]");
        assert_eq!(format!("{s}"), "[REDACTED]");
        assert_eq!(format!("{:?}", Some(&s)), "Some([REDACTED])");
        assert!(!format!("{s:#?}").contains("hunter2"));
    }

    #[test]
    fn equality_compares_contents() {
        let a = SecretBytes::from_slice(&[1, 2, 3]);
        assert_eq!(a, SecretBytes::new(vec![1, 2, 3]));
        assert_ne!(a, SecretBytes::new(vec![1, 2, 4]));
        assert_ne!(a, SecretBytes::new(vec![1, 2]));
        assert_eq!(SecretBytes::default(), SecretBytes::new(Vec::new()));
    }

    #[test]
    fn accessors() {
        let a = SecretBytes::new(vec![9; 5]);
        assert_eq!(a.len(), 5);
        assert!(!a.is_empty());
        assert!(SecretBytes::default().is_empty());
        let b = a.clone();
        assert_eq!(a.expose(), b.expose());
        assert_eq!(b.into_vec(), vec![9; 5]);
    }
}
