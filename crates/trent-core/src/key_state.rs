//! AWS's key-state table in one place: which operations a key in each [`KeyState`] admits,
//! and the error each refusal is
//! (<https://docs.aws.amazon.com/kms/latest/developerguide/key-state.html>).
//!
//! The operations fall into a few rows of that table; each is a method of
//! [`KeyStateRules`], implemented on the model's `KeyState` (the state a key record holds).
//! A refusal names the key by its ARN, as AWS's messages do.

use trent_wire::KeyState;

use crate::KmsError;

/// The rows of AWS's key-state table, as methods on the state.
pub(crate) trait KeyStateRules: Copy {
    /// Cryptographic operations (Encrypt, Decrypt, GenerateDataKey*, ReEncrypt, Sign,
    /// Verify, GenerateMac, VerifyMac, DeriveSharedSecret) and the rotation and
    /// multi-Region operations AWS allows on enabled keys only: `Enabled`. A disabled key
    /// is `DisabledException`, any other state `KMSInvalidStateException`.
    fn for_cryptographic_operation(self, arn: &str) -> Result<(), KmsError>;

    /// Management operations AWS allows on enabled and disabled keys and on keys pending
    /// import (ScheduleKeyDeletion, UpdateKeyDescription, TagResource, UntagResource,
    /// CreateAlias, CreateGrant, GetParametersForImport, ImportKeyMaterial, ...).
    fn for_management(self, arn: &str) -> Result<(), KmsError>;

    /// Management operations AWS allows on enabled and disabled keys only (EnableKey,
    /// DisableKey, GetPublicKey, ...): `KMSInvalidStateException` in every other state.
    fn for_enabled_or_disabled(self, arn: &str) -> Result<(), KmsError>;

    /// CancelKeyDeletion: a key scheduled for deletion, a multi-Region primary waiting for
    /// its replicas' deletion included; `<arn> is not pending deletion.` otherwise.
    fn for_cancel_key_deletion(self, arn: &str) -> Result<(), KmsError>;

    /// `KMSInvalidStateException` for a key in this state: `<arn> is pending import.`
    fn invalid(self, arn: &str) -> KmsError;

    /// How AWS words the state in a message: `PendingImport` → `pending import`.
    fn message_name(self) -> &'static str;

    /// Scheduled for deletion: `PendingDeletion`, or a multi-Region primary key waiting
    /// for its replicas' deletion (`PendingReplicaDeletion`).
    fn is_pending_deletion(self) -> bool;

    /// A state in which a key has all of its material (`Enabled`, `Disabled`); a key
    /// pending import, or pending deletion after its imported material expired, may lack
    /// some.
    fn has_all_material(self) -> bool;
}

impl KeyStateRules for KeyState {
    fn for_cryptographic_operation(self, arn: &str) -> Result<(), KmsError> {
        match self {
            KeyState::Enabled => Ok(()),
            KeyState::Disabled => Err(KmsError::Disabled {
                arn: arn.to_owned(),
            }),
            KeyState::PendingDeletion => Err(KmsError::PendingDeletion {
                arn: arn.to_owned(),
            }),
            other => Err(other.invalid(arn)),
        }
    }

    fn for_management(self, arn: &str) -> Result<(), KmsError> {
        match self {
            KeyState::PendingImport => Ok(()),
            other => other.for_enabled_or_disabled(arn),
        }
    }

    fn for_enabled_or_disabled(self, arn: &str) -> Result<(), KmsError> {
        match self {
            KeyState::Enabled | KeyState::Disabled => Ok(()),
            KeyState::PendingDeletion => Err(KmsError::PendingDeletion {
                arn: arn.to_owned(),
            }),
            other => Err(other.invalid(arn)),
        }
    }

    fn for_cancel_key_deletion(self, arn: &str) -> Result<(), KmsError> {
        if self.is_pending_deletion() {
            Ok(())
        } else {
            Err(KmsError::NotPendingDeletion {
                arn: arn.to_owned(),
            })
        }
    }

    fn invalid(self, arn: &str) -> KmsError {
        KmsError::InvalidState {
            arn: arn.to_owned(),
            state: self.message_name().to_owned(),
        }
    }

    fn message_name(self) -> &'static str {
        match self {
            KeyState::Creating => "creating",
            KeyState::Enabled => "enabled",
            KeyState::Disabled => "disabled",
            KeyState::PendingDeletion => "pending deletion",
            KeyState::PendingImport => "pending import",
            KeyState::PendingReplicaDeletion => "pending replica deletion",
            KeyState::Unavailable => "unavailable",
            KeyState::Updating => "updating",
        }
    }

    fn is_pending_deletion(self) -> bool {
        matches!(
            self,
            KeyState::PendingDeletion | KeyState::PendingReplicaDeletion
        )
    }

    fn has_all_material(self) -> bool {
        matches!(self, KeyState::Enabled | KeyState::Disabled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

    /// The message name is the wire name split at its capitals, in lower case (how the
    /// string form was derived before the state was typed).
    #[test]
    fn message_names_are_the_wire_names_in_words() {
        for state in KeyState::ALL {
            let mut words = String::new();
            for (i, c) in state.as_str().chars().enumerate() {
                if c.is_uppercase() && i > 0 {
                    words.push(' ');
                }
                words.extend(c.to_lowercase());
            }
            assert_eq!(state.message_name(), words, "{state}");
        }
    }

    #[test]
    fn the_table_admits_and_refuses_as_aws_does() {
        let msg = |r: Result<(), KmsError>| r.map_err(|e| e.to_string());
        for state in KeyState::ALL.iter().copied() {
            let crypto = msg(state.for_cryptographic_operation(ARN));
            let manage = msg(state.for_management(ARN));
            let on_off = msg(state.for_enabled_or_disabled(ARN));
            let cancel = msg(state.for_cancel_key_deletion(ARN));
            if state.is_pending_deletion() {
                assert_eq!(cancel, Ok(()), "{state}");
            } else {
                assert_eq!(cancel, Err(format!("{ARN} is not pending deletion.")));
            }
            let invalid = Err(format!("{ARN} is {}.", state.message_name()));
            match state {
                KeyState::Enabled => {
                    assert_eq!((crypto, manage, on_off), (Ok(()), Ok(()), Ok(())));
                }
                KeyState::Disabled => {
                    assert_eq!(crypto, Err(format!("{ARN} is disabled.")));
                    assert!(matches!(
                        state.for_cryptographic_operation(ARN),
                        Err(KmsError::Disabled { .. })
                    ));
                    assert_eq!((manage, on_off), (Ok(()), Ok(())));
                }
                KeyState::PendingDeletion => {
                    let pending = Err(format!("{ARN} is pending deletion."));
                    assert_eq!(crypto, pending);
                    assert_eq!(manage, pending);
                    assert_eq!(on_off, pending);
                    assert!(matches!(
                        state.for_management(ARN),
                        Err(KmsError::PendingDeletion { .. })
                    ));
                }
                KeyState::PendingImport => {
                    assert_eq!(crypto, invalid);
                    assert_eq!(manage, Ok(()));
                    assert_eq!(on_off, invalid);
                }
                _ => {
                    assert_eq!(crypto, invalid);
                    assert_eq!(manage, invalid);
                    assert_eq!(on_off, invalid);
                    assert!(matches!(
                        state.for_enabled_or_disabled(ARN),
                        Err(KmsError::InvalidState { .. })
                    ));
                }
            }
        }
    }
}
