//! The AWS KMS wire contract, generated from AWS's service model.
//!
//! This crate is the single source of truth for what crosses the wire: one Rust type per
//! structure of the KMS API (`EncryptRequest`, `KeyMetadata`, ...) named and shaped as in
//! `service-2.json`, one enum per enumerated string, the [`Operation`] table
//! (`X-Amz-Target` → operation → IAM action, whether it carries grant tokens, and the
//! dispatch to its handler, `match_operation!`), the [`ErrorCode`] table (`__type` and
//! HTTP status), and the decoder that turns a request body into a typed request with the exact
//! `SerializationException` / `ValidationException` messages AWS produces. Everything in
//! `generated.rs` comes from `tools/gen_wire.py`; edit the generator, not the output.
//!
//! It must never do I/O, know about HTTP, storage or keys, or let a secret out: sensitive
//! members (`Plaintext`, XKS credentials, ...) are [`SensitiveBlob`] / [`SensitiveString`],
//! zeroized on drop, redacted in `Debug`, and never echoed in an error message.

mod error;
mod generated;
pub mod ids;
mod raw;
pub mod support;
mod validate;

#[cfg(test)]
mod tests;

pub use error::{ValidationErrors, Violation, ViolationValue, WireError};
pub use generated::*;
pub use ids::{AccountId, InvalidId, KeyArn, KeyId, Region};
pub use support::{ParseEnumError, SensitiveBlob, SensitiveString, Timestamp};

/// The `X-Amz-Target` prefix of every KMS operation (`TrentService.Encrypt`).
pub const TARGET_PREFIX: &str = "TrentService";

/// A request of one operation, decoded from its JSON body the way AWS decodes it.
///
/// Decoding distinguishes the two failures AWS distinguishes: a body that is not the
/// right JSON (syntax, JSON types, base64) is [`WireError::Serialization`]; a body that
/// breaks the model's constraints (required members, lengths, ranges, patterns, enums) is
/// [`WireError::Validation`] with every violation, in member order. Unknown members are
/// ignored and `null` counts as absent, as on AWS.
pub trait Input: Sized {
    /// The operation this is the request of.
    const OPERATION: Operation;

    /// Decodes and validates a request body (an empty body reads as `{}`).
    fn from_json(body: &[u8]) -> Result<Self, WireError>;

    /// The request's `GrantTokens`, for an operation whose input carries them in the
    /// model ([`Operation::takes_grant_tokens`]); `None` for every other operation.
    fn grant_tokens(&self) -> Option<&[String]> {
        None
    }
}

/// A response of one operation, serialized as AWS does (`None` members omitted).
pub trait Output: serde::Serialize {
    /// The operation this is the response of. `ListGrantsResponse` answers both
    /// `ListGrants` and `ListRetirableGrants` in the model; it names `ListGrants`.
    const OPERATION: Operation;
}
