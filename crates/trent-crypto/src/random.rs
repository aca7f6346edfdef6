//! Cryptographically secure randomness from the operating system, via
//! aws-lc-rs's `SystemRandom`.

use aws_lc_rs::rand::{SecureRandom, SystemRandom};

use crate::{CryptoError, SecretBytes};

/// `n` cryptographically secure random bytes, in a zeroizing buffer (they are
/// usually key material or a data key).
pub fn random_bytes(n: usize) -> Result<SecretBytes, CryptoError> {
    let mut out = SecretBytes::zeroed(n);
    SystemRandom::new()
        .fill(out.expose_mut())
        .map_err(|_| CryptoError::RandomFailure)?;
    Ok(out)
}

/// `N` cryptographically secure random bytes in an array: for non-secret values
/// such as nonces and identifiers. The array is not zeroized on drop.
pub fn random_array<const N: usize>() -> Result<[u8; N], CryptoError> {
    let mut out = [0u8; N];
    SystemRandom::new()
        .fill(&mut out)
        .map_err(|_| CryptoError::RandomFailure)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_and_distinctness() {
        assert!(random_bytes(0).unwrap().is_empty());
        let a = random_bytes(32).unwrap();
        let b = random_bytes(32).unwrap();
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
        let x: [u8; 16] = random_array().unwrap();
        let y: [u8; 16] = random_array().unwrap();
        assert_ne!(x, y);
    }
}
