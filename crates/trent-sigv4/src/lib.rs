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
//! escape: not into errors, `Debug`/`Display` output or logs; nor echo what
//! the client sent in the `Authorization` header or other header values into
//! its errors (they may be another scheme's credential). It must never compare
//! signatures in variable time. Whether an access key exists is not hidden: as
//! AWS does, an unknown key is answered `UnrecognizedClientException` and a
//! known key with a wrong signature `InvalidSignatureException` (access key
//! ids are identifiers, not secrets). Every header that says what the request
//! is (`Content-Type`, every `X-Amz-*`) must be signed, so that a captured
//! request cannot be resent as another operation. It knows nothing of HTTP frameworks (only the
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
pub use verifier::{Authorization, CredentialLookup, Payload, Verified, Verifier};
