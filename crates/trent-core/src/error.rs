//! The errors of the key service, each with the AWS error type and message it renders as.
//! Messages follow AWS's wording where it is known (the AWS KMS API reference and
//! observed AWS responses); the server maps `code()`/`message()` onto the wire.

use trent_wire::{ErrorCode, WireError};

#[derive(Debug, thiserror::Error)]
pub enum KmsError {
    /// Malformed JSON or a constraint of the service model violated.
    #[error(transparent)]
    Wire(#[from] WireError),
    /// A ValidationException whose message is not a model constraint.
    #[error("{message}")]
    Validation { message: String },
    #[error("Invalid keyId '{key_id}'")]
    InvalidKeyId { key_id: String },
    #[error("Key '{arn}' does not exist")]
    KeyNotFound { arn: String },
    #[error("Alias {alias_arn} is not found.")]
    AliasNotFound { alias_arn: String },
    /// A key ARN naming another region than the request's.
    #[error("Invalid arn {region}")]
    ArnInOtherRegion { region: String },
    #[error("{arn} is disabled.")]
    Disabled { arn: String },
    #[error("{arn} is pending deletion.")]
    PendingDeletion { arn: String },
    #[error("{arn} is not pending deletion.")]
    NotPendingDeletion { arn: String },
    #[error("{arn} is {state}.")]
    InvalidState { arn: String, state: String },
    /// ImportKeyMaterial of new key material while another waits for RotateKeyOnDemand.
    #[error("New key material (id: {material_id}) cannot be imported into KMS key {arn}, because another key material (id: {pending_id}) is pending rotation.")]
    AnotherMaterialPendingRotation {
        material_id: String,
        arn: String,
        pending_id: String,
    },
    /// RotateKeyOnDemand of a key with imported key material and none pending rotation.
    #[error("No available key material pending rotation for the key: {arn}.")]
    NoMaterialPendingRotation { arn: String },
    /// A custom key store operation's refusal (`CustomKeyStore*`, `CloudHsmCluster*`,
    /// `IncorrectTrustAnchor`, its `LimitExceeded`), in AWS's terms.
    #[error("{message}")]
    CustomKeyStore { code: ErrorCode, message: String },
    #[error("The key ID in the request does not identify a CMK that can perform this operation.")]
    IncorrectKey,
    #[error("")]
    InvalidCiphertext,
    #[error("{arn} key usage is {usage} which is not valid for {operation}.")]
    InvalidKeyUsage {
        arn: String,
        usage: String,
        operation: &'static str,
    },
    /// An encryption, signing or MAC algorithm the key's spec does not support (AWS's
    /// wording, e.g. Encrypt with an RSA key and the default SYMMETRIC_DEFAULT algorithm).
    #[error("Algorithm {algorithm} is incompatible with key spec {key_spec}.")]
    IncompatibleAlgorithm { algorithm: String, key_spec: String },
    /// GenerateDataKey* with an asymmetric ENCRYPT_DECRYPT key.
    #[error("You cannot generate a data key with an asymmetric CMK")]
    AsymmetricDataKey,
    /// Verify of a signature that does not verify; AWS sends no message.
    #[error("")]
    InvalidSignature,
    /// VerifyMac of a MAC that does not verify; AWS sends no message.
    #[error("")]
    InvalidMac,
    /// DeriveSharedSecret with a PublicKey that is not a public key on the KMS key's curve:
    /// a ValidationException, and AWS sends no message.
    #[error("")]
    InvalidPeerPublicKey,
    /// GetPublicKey of a symmetric or HMAC key; AWS sends no message.
    #[error("")]
    NoPublicKey,
    #[error("An alias with the name {alias_arn} already exists")]
    AliasAlreadyExists { alias_arn: String },
    #[error("Alias must start with the prefix \"alias/\". Please see https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html")]
    AliasPrefix,
    /// CreateAlias, UpdateAlias or DeleteAlias of an `alias/aws/` name: AWS answers
    /// NotAuthorizedException (an exception of no operation in the model) with no message
    /// (as recorded by local-kms; moto answers the same type).
    #[error("")]
    ReservedAlias,
    #[error("Aliases must refer to keys. Not aliases")]
    AliasTargetIsAlias,
    #[error("Invalid marker")]
    InvalidMarker,
    #[error("Tags beginning with aws: are reserved")]
    ReservedTag,
    /// One tag key twice in a request (AWS's wording, as LocalStack records it).
    #[error("Duplicate tag keys")]
    DuplicateTagKey,
    /// More than 50 tags in a request or on the key (AWS's wording, as LocalStack records
    /// it).
    #[error("Too many tags")]
    TooManyTags,
    #[error("{what} is not supported.")]
    Unsupported { what: String },
    /// Rotation of a key that is not a symmetric encryption key with AWS-made material
    /// (asymmetric, HMAC, imported): AWS's documented restriction, as the operation says it.
    #[error("{message}")]
    RotationUnsupported { message: String },
    /// RotateKeyOnDemand of an asymmetric or HMAC key; AWS sends no message.
    #[error("")]
    OnDemandRotationKeyType,
    /// RotateKeyOnDemand beyond AWS's quota of on-demand rotations per key (AWS's wording,
    /// as LocalStack records it).
    #[error("The on-demand rotations limit has been reached for the given keyId. No more on-demand rotations can be performed for this key: {arn}")]
    OnDemandRotationLimit { arn: String },
    /// RotateKeyOnDemand while an automatic rotation is due within 20 minutes (the model's
    /// description of `ConflictException`).
    #[error("An automatic rotation of {arn} is in progress or scheduled to begin within the next 20 minutes.")]
    RotationConflict { arn: String },
    /// A multi-Region operation on a key that cannot take it (a single-Region key, a
    /// replica where the primary is needed): UnsupportedOperationException.
    #[error("{message}")]
    MultiRegionUnsupported { message: String },
    /// ReplicateKey into a region that already has a region-key of the multi-Region key.
    #[error("{message}")]
    ReplicaAlreadyExists { message: String },
    #[error("The request would have succeeded, but the DryRun option is set.")]
    DryRun,
    /// AWS's message, who/what/which resource/why, from the policy evaluation.
    #[error("{message}")]
    AccessDenied { message: String },
    /// A key policy refused by the parser or the lockout safety check:
    /// `MalformedPolicyDocumentException`, or `LimitExceededException` for one over 32 KiB.
    #[error(transparent)]
    Policy(#[from] trent_policy::PolicyError),
    /// PutKeyPolicy/GetKeyPolicy with another PolicyName than `default`. (AWS answers a
    /// NotFoundException naming the policy.)
    #[error("Policy {name} not found")]
    PolicyNotFound { name: String },
    /// A grant token that Trent did not issue (or that was altered).
    #[error("The request was rejected because the specified grant token is not valid.")]
    InvalidGrantToken,
    /// A GrantId that names no grant of the key.
    #[error("The request was rejected because the specified GrantId is not valid.")]
    InvalidGrantId,
    /// A grantee or retiring principal that is not a principal ARN.
    #[error("{arn} is not a valid principal ARN")]
    InvalidArn { arn: String },
    /// A request-rate quota (`rates.rs`).
    #[error(
        "You have exceeded the rate at which you may call KMS. Reduce the frequency of your calls."
    )]
    Throttled,
    /// A resource quota (`quotas.rs`).
    #[error("{message}")]
    QuotaExceeded { message: String },
    /// An import operation on a key whose material KMS made (AWS's wording for a key
    /// property that does not fit the operation, as for key usages).
    #[error("{arn} origin is {origin} which is not valid for this operation.")]
    UnsupportedOrigin { arn: String, origin: String },
    /// An import token Trent did not issue, altered, or issued for another KMS key (the
    /// service model's description of `InvalidImportTokenException`).
    #[error("The request was rejected because the provided import token is invalid or is associated with a different KMS key.")]
    InvalidImportToken,
    /// An import token past its ParametersValidTo (the model's description).
    #[error("The request was rejected because the specified import token is expired. Use GetParametersForImport to get a new import token and public key, use the new public key to encrypt the key material, and then try the request again.")]
    ExpiredImportToken,
    /// Imported material that does not fit the key (wrong size or spec, not the material
    /// imported before, new material where the same was expected).
    #[error("{message}")]
    IncorrectKeyMaterial { message: String },
    /// Anything that went wrong inside (store, sealing). The detail is logged, never sent.
    #[error("An internal error occurred.")]
    Internal,
    /// The store did not answer in time (e.g. the database is restarting). The message is
    /// the service model's description of `DependencyTimeoutException`.
    #[error(
        "The system timed out while trying to fulfill the request. You can retry the request."
    )]
    DependencyTimeout,
}

impl KmsError {
    pub fn code(&self) -> ErrorCode {
        match self {
            KmsError::Wire(w) => w.code(),
            KmsError::Validation { .. }
            | KmsError::InvalidPeerPublicKey
            | KmsError::AliasPrefix
            | KmsError::AliasTargetIsAlias => ErrorCode::ValidationException,
            KmsError::InvalidKeyId { .. }
            | KmsError::KeyNotFound { .. }
            | KmsError::AliasNotFound { .. }
            | KmsError::ArnInOtherRegion { .. } => ErrorCode::NotFoundException,
            KmsError::Disabled { .. } => ErrorCode::DisabledException,
            KmsError::PendingDeletion { .. }
            | KmsError::NotPendingDeletion { .. }
            | KmsError::InvalidState { .. }
            | KmsError::AnotherMaterialPendingRotation { .. }
            | KmsError::NoMaterialPendingRotation { .. } => ErrorCode::KMSInvalidStateException,
            KmsError::IncorrectKey => ErrorCode::IncorrectKeyException,
            KmsError::InvalidCiphertext => ErrorCode::InvalidCiphertextException,
            KmsError::InvalidKeyUsage { .. }
            | KmsError::IncompatibleAlgorithm { .. }
            | KmsError::AsymmetricDataKey => ErrorCode::InvalidKeyUsageException,
            KmsError::InvalidSignature => ErrorCode::KMSInvalidSignatureException,
            KmsError::InvalidMac => ErrorCode::KMSInvalidMacException,
            KmsError::NoPublicKey | KmsError::OnDemandRotationKeyType => {
                ErrorCode::UnsupportedOperationException
            }
            KmsError::AliasAlreadyExists { .. } => ErrorCode::AlreadyExistsException,
            KmsError::ReservedAlias => ErrorCode::NotAuthorizedException,
            KmsError::InvalidMarker => ErrorCode::InvalidMarkerException,
            KmsError::ReservedTag | KmsError::DuplicateTagKey | KmsError::TooManyTags => {
                ErrorCode::TagException
            }
            KmsError::OnDemandRotationLimit { .. } => ErrorCode::LimitExceededException,
            KmsError::RotationConflict { .. } => ErrorCode::ConflictException,
            KmsError::ReplicaAlreadyExists { .. } => ErrorCode::AlreadyExistsException,
            KmsError::Unsupported { .. }
            | KmsError::MultiRegionUnsupported { .. }
            | KmsError::RotationUnsupported { .. } => ErrorCode::UnsupportedOperationException,
            KmsError::DryRun => ErrorCode::DryRunOperationException,
            KmsError::AccessDenied { .. } => ErrorCode::AccessDeniedException,
            KmsError::Policy(e) => match e.code() {
                trent_policy::PolicyErrorCode::LimitExceeded => ErrorCode::LimitExceededException,
                trent_policy::PolicyErrorCode::MalformedPolicyDocument => {
                    ErrorCode::MalformedPolicyDocumentException
                }
            },
            KmsError::PolicyNotFound { .. } => ErrorCode::NotFoundException,
            KmsError::InvalidGrantToken => ErrorCode::InvalidGrantTokenException,
            KmsError::InvalidGrantId => ErrorCode::InvalidGrantIdException,
            KmsError::InvalidArn { .. } => ErrorCode::InvalidArnException,
            KmsError::Throttled => ErrorCode::ThrottlingException,
            KmsError::QuotaExceeded { .. } => ErrorCode::LimitExceededException,
            KmsError::CustomKeyStore { code, .. } => *code,
            KmsError::UnsupportedOrigin { .. } => ErrorCode::UnsupportedOperationException,
            KmsError::InvalidImportToken => ErrorCode::InvalidImportTokenException,
            KmsError::ExpiredImportToken => ErrorCode::ExpiredImportTokenException,
            KmsError::IncorrectKeyMaterial { .. } => ErrorCode::IncorrectKeyMaterialException,
            KmsError::Internal => ErrorCode::KMSInternalException,
            KmsError::DependencyTimeout => ErrorCode::DependencyTimeoutException,
        }
    }

    /// The message sent to the client (`None`: AWS sends none for this error).
    pub fn message(&self) -> Option<String> {
        match self {
            KmsError::InvalidCiphertext
            | KmsError::InvalidSignature
            | KmsError::InvalidMac
            | KmsError::NoPublicKey
            | KmsError::ReservedAlias
            | KmsError::InvalidPeerPublicKey
            | KmsError::OnDemandRotationKeyType => None,
            // An empty message: AWS sends no `message` member for this input error.
            KmsError::Wire(w) => Some(w.message()).filter(|m| !m.is_empty()),
            other => Some(other.to_string()),
        }
    }
}

/// Store and crypto failures are internal: log the detail, answer generically. A store
/// that timed out is AWS's `DependencyTimeoutException` (retryable); an unreachable one is
/// `KMSInternalException`, as AWS answers when a dependency fails.
pub(crate) fn internal<E: Dependency>(context: &'static str) -> impl FnOnce(E) -> KmsError {
    move |e| {
        tracing::error!(error = %e, "{context}");
        if e.timed_out() {
            KmsError::DependencyTimeout
        } else {
            KmsError::Internal
        }
    }
}

/// The failure of something the key service depends on (the store, the crypto library, the
/// audit trail, ...), as [`internal`] answers it.
pub(crate) trait Dependency: std::fmt::Display {
    /// Whether the dependency did not answer in time (retryable for the caller).
    fn timed_out(&self) -> bool {
        false
    }
}

impl Dependency for trent_store::StoreError {
    fn timed_out(&self) -> bool {
        matches!(self, trent_store::StoreError::Timeout(_))
    }
}

impl Dependency for trent_crypto::CryptoError {}

impl Dependency for trent_crypto::TokenError {}

/// A blocking task (a private-key operation on the blocking pool) that panicked or was
/// cancelled.
impl Dependency for tokio::task::JoinError {}

/// A failure described only by its message.
impl Dependency for String {}

impl Dependency for trent_wire::InvalidId {}
