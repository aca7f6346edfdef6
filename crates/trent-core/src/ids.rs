//! Identifiers: key ids, key and alias ARNs, and the four ways a request may name a key
//! (key id, key ARN, alias name, alias ARN).

pub use trent_wire::ids::is_account_id;
pub(crate) use trent_wire::ids::{is_key_id, partition};
use trent_wire::{AccountId, KeyArn, KeyId, Region};

use crate::error::internal;
use crate::KmsError;

/// A region name as AWS spells them (`us-east-1`, `us-gov-west-1`): the model's pattern
/// `^([a-z]+-){2,3}\d+$`.
pub fn is_region(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    if !(3..=4).contains(&parts.len()) {
        return false;
    }
    let (words, last) = parts.split_at(parts.len() - 1);
    words
        .iter()
        .all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase()))
        && last
            .iter()
            .all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_digit()))
}

pub(crate) fn key_arn(region: &str, account: &str, key_id: &str) -> String {
    format!(
        "arn:{}:kms:{region}:{account}:key/{key_id}",
        partition(region)
    )
}

/// The ARN of a key Trent makes or copies: `key_id` (a generated UUID or `mrk-` id) in
/// `region` of `account`; an id that is not a key id is an internal error (never a record
/// with an unparsable ARN).
pub(crate) fn new_key_arn(
    region: &Region,
    account: &AccountId,
    key_id: &str,
) -> Result<KeyArn, KmsError> {
    let key_id = KeyId::parse(key_id).map_err(internal("naming a new key"))?;
    Ok(KeyArn::new(region, account, &key_id))
}

pub(crate) fn alias_arn(region: &str, account: &str, alias_name: &str) -> String {
    format!(
        "arn:{}:kms:{region}:{account}:{alias_name}",
        partition(region)
    )
}

/// The parts of an ARN `arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE` (an AWS partition,
/// a 12-digit account); `None` if the text is not one.
pub(crate) struct Arn<'a> {
    pub service: &'a str,
    pub region: &'a str,
    pub account: &'a str,
    pub resource: &'a str,
}

pub(crate) fn split_arn(text: &str) -> Option<Arn<'_>> {
    let mut parts = text.strip_prefix("arn:")?.splitn(5, ':');
    let (partition, service, region, account, resource) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    (partition.starts_with("aws") && is_account_id(account)).then_some(Arn {
        service,
        region,
        account,
        resource,
    })
}

/// A key's storage id: the id of its record in the store, unique across regions. A
/// single-Region key's is its key id (a UUID); a multi-Region key has one key id in every
/// region (<https://docs.aws.amazon.com/kms/latest/developerguide/multi-region-keys-overview.html>),
/// so each of its region-keys is stored as `mrk-...@region`. `@` never occurs in a key id,
/// so no storage id of a region-key is ever a public key id.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct StorageKeyId(String);

impl StorageKeyId {
    /// The region-key of the multi-Region key `mrk_id` in `region`.
    pub fn region_key(mrk_id: &str, region: &str) -> Self {
        StorageKeyId(format!("{mrk_id}@{region}"))
    }

    /// The key a request names by its public `key_id` in `region`: the region-key there
    /// of a multi-Region key, else the key of that id.
    pub fn named(key_id: &str, region: &str) -> Self {
        if key_id.starts_with("mrk-") {
            Self::region_key(key_id, region)
        } else {
            StorageKeyId(key_id.to_owned())
        }
    }

    /// A storage id as the store holds it (a record's `key_id`, an alias target).
    pub fn stored(id: impl Into<String>) -> Self {
        StorageKeyId(id.into())
    }

    /// The public key id (the id in the key's ARN).
    pub fn public_id(&self) -> &str {
        Self::public_id_of(&self.0)
    }

    /// The public key id of a storage id as the store holds it.
    pub fn public_id_of(stored: &str) -> &str {
        stored.split_once('@').map_or(stored, |(id, _)| id)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl std::fmt::Display for StorageKeyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// How a request named a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KeyRef {
    /// A bare key id: in the caller's account and region.
    Id(String),
    KeyArn {
        region: String,
        account: String,
        key_id: String,
    },
    /// `alias/...`: in the caller's account and region.
    AliasName(String),
    AliasArn {
        region: String,
        account: String,
        alias_name: String,
    },
}

/// Which forms an operation's key parameter admits (the model's documentation of each
/// operation's `KeyId` says which).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Forms {
    /// Key id or key ARN.
    KeyOnly,
    /// Key id, key ARN, alias name or alias ARN.
    KeyOrAlias,
}

impl KeyRef {
    pub(crate) fn parse(input: &str, forms: Forms) -> Result<KeyRef, KmsError> {
        let invalid = || KmsError::InvalidKeyId {
            key_id: input.to_owned(),
        };
        if input.starts_with("arn:") {
            // arn:PARTITION:kms:REGION:ACCOUNT:key/ID | alias/NAME
            let Some(Arn {
                service: "kms",
                region,
                account,
                resource,
            }) = split_arn(input)
            else {
                return Err(invalid());
            };
            if !is_region(region) {
                return Err(invalid());
            }
            if let Some(key_id) = resource.strip_prefix("key/") {
                if !is_key_id(key_id) {
                    return Err(invalid());
                }
                return Ok(KeyRef::KeyArn {
                    region: region.to_owned(),
                    account: account.to_owned(),
                    key_id: key_id.to_owned(),
                });
            }
            if resource.starts_with("alias/") && forms == Forms::KeyOrAlias {
                return Ok(KeyRef::AliasArn {
                    region: region.to_owned(),
                    account: account.to_owned(),
                    alias_name: resource.to_owned(),
                });
            }
            return Err(invalid());
        }
        if input.starts_with("alias/") {
            return match forms {
                Forms::KeyOrAlias => Ok(KeyRef::AliasName(input.to_owned())),
                Forms::KeyOnly => Err(invalid()),
            };
        }
        if is_key_id(input) {
            return Ok(KeyRef::Id(input.to_owned()));
        }
        Err(invalid())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form() {
        let id = "1234abcd-12ab-34cd-56ef-1234567890ab";
        assert_eq!(
            KeyRef::parse(id, Forms::KeyOnly).unwrap(),
            KeyRef::Id(id.into())
        );
        let arn = format!("arn:aws:kms:us-east-2:111122223333:key/{id}");
        assert!(matches!(
            KeyRef::parse(&arn, Forms::KeyOnly).unwrap(),
            KeyRef::KeyArn { .. }
        ));
        assert!(matches!(
            KeyRef::parse("alias/x", Forms::KeyOrAlias).unwrap(),
            KeyRef::AliasName(_)
        ));
        assert!(KeyRef::parse("alias/x", Forms::KeyOnly).is_err());
        assert!(matches!(
            KeyRef::parse(
                "arn:aws:kms:us-east-2:111122223333:alias/x",
                Forms::KeyOrAlias
            )
            .unwrap(),
            KeyRef::AliasArn { .. }
        ));
        assert!(KeyRef::parse("foo", Forms::KeyOrAlias).is_err());
        assert!(KeyRef::parse("arn:aws:kms:us-east-2:1111:key/x", Forms::KeyOrAlias).is_err());
        assert!(KeyRef::parse("mrk-1234abcd12ab34cd56ef1234567890ab", Forms::KeyOnly).is_ok());
    }

    #[test]
    fn regions() {
        assert!(is_region("us-east-1"));
        assert!(is_region("us-gov-west-1"));
        assert!(!is_region("useast1"));
        assert!(!is_region("us-east-"));
        assert!(!is_region("US-east-1"));
    }
}
