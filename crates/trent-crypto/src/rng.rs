//! The operating system's CSPRNG (through aws-lc-rs's `SystemRandom`) behind
//! the `rand_core` traits, for the RustCrypto crates that take an RNG
//! (SM2 key generation, SM2 signing and encryption, hedged ML-DSA signing on μ).

use std::fmt;

use aws_lc_rs::rand::{SecureRandom, SystemRandom};

/// `rand_core::TryCryptoRng` over aws-lc-rs's `SystemRandom`.
pub(crate) struct SysRng;

/// The system RNG failed.
#[derive(Debug)]
pub(crate) struct RngFailure;

impl fmt::Display for RngFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the system random number generator failed")
    }
}

impl std::error::Error for RngFailure {}

impl rand_core::TryRng for SysRng {
    type Error = RngFailure;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        SystemRandom::new().fill(dst).map_err(|_| RngFailure)
    }
}

impl rand_core::TryCryptoRng for SysRng {}
