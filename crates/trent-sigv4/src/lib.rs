//! AWS Signature Version 4 for Trent: the server verifies every request with a
//! [`Verifier`], and clients (the load generator, raw-request tests) sign with a
//! [`Signer`]. Both follow
//! <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv.html> and
//! share one canonicalization, checked against AWS's published SigV4 test
//! suite; the verifier answers with the error types and messages AWS's
//! JSON-protocol services use (`MissingAuthenticationTokenException`,
//! `IncompleteSignatureException`, `InvalidSignatureException`,
//! `UnrecognizedClientException`).
//!
//! This crate must never let a secret access key or a derived signing key
//! escape: not into errors, `Debug`/`Display` output or logs. It must never
//! compare signatures in variable time, nor let response time or errors tell
//! whether an access key exists. It knows nothing of HTTP frameworks (only the
//! `http` crate's request types), of storage or of policy: where secrets come
//! from is the [`CredentialLookup`]'s business.

mod amzdate;
mod auth;
mod canonical;
mod error;
mod key;
mod secret;
mod signer;
mod verifier;

#[cfg(test)]
mod suite_tests;

pub use error::{ScopeFaults, SigV4Error};
pub use secret::{Credentials, SecretKey};
pub use signer::Signer;
pub use verifier::{Authorization, CredentialLookup, Verified, Verifier};
