//! Identifier newtypes: an AWS account id, a region, a KMS key id and a KMS key ARN, each
//! checked once when it is made ([`AccountId::parse`], ...; the store parses what it reads,
//! the key service what it creates), so that code holding one never re-checks it.
//!
//! Each dereferences to `str` and compares with strings, so reading one is as cheap as
//! reading a `String`; making one from unchecked text goes through `parse`.

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;

/// Text that is not the identifier it was taken for; names the kind, never echoes the
/// text (an id read from the store or a request is shown by whoever has the context).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a valid {0}")]
pub struct InvalidId(pub &'static str);

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident, $what:literal, $check:expr) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// The identifier `text` spells; [`InvalidId`] if it is not one.
            pub fn parse(text: impl Into<String>) -> Result<Self, InvalidId> {
                let text = text.into();
                let check: fn(&str) -> bool = $check;
                if check(&text) {
                    Ok($name(text))
                } else {
                    Err(InvalidId($what))
                }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.0, f)
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                &self.0 == other
            }
        }

        impl PartialEq<$name> for str {
            fn eq(&self, other: &$name) -> bool {
                self == other.0
            }
        }

        impl PartialEq<$name> for &str {
            fn eq(&self, other: &$name) -> bool {
                *self == other.0
            }
        }

        impl PartialEq<$name> for String {
            fn eq(&self, other: &$name) -> bool {
                *self == other.0
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }
    };
}

string_id!(
    /// A 12-digit AWS account id.
    AccountId,
    "account id",
    is_account_id
);

string_id!(
    /// A region name ([`is_region_name`]).
    Region,
    "region",
    is_region_name
);

string_id!(
    /// A KMS key id: a lowercase hyphenated UUID, or a multi-Region key id (`mrk-` and 32
    /// hex digits).
    KeyId,
    "key id",
    is_key_id
);

string_id!(
    /// A KMS key ARN, `arn:PARTITION:kms:REGION:ACCOUNT:key/KEY_ID`, whose partition is the
    /// region's.
    KeyArn,
    "key ARN",
    KeyArn::is_key_arn
);

/// A 12-digit AWS account id.
pub fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// A region name as a request may scope its credentials to (SigV4's rule, which the
/// server applies before anything else): 1 to 64 lower-case letters, digits and hyphens,
/// starting and ending with a letter or digit. Every AWS region (`us-east-1`,
/// `us-gov-west-1`) is one, and so is a private name such as `local`: Trent serves every
/// region it is asked for.
pub fn is_region_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b.first() != Some(&b'-')
        && b.last() != Some(&b'-')
}

/// A key id: a lowercase hyphenated UUID, or a multi-Region key id (`mrk-` + 32 hex).
pub fn is_key_id(s: &str) -> bool {
    if let Some(hex) = s.strip_prefix("mrk-") {
        return hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit());
    }
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// The ARN partition of a region.
pub fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

impl KeyArn {
    /// The ARN of the key `key_id` of `account` in `region`.
    pub fn new(region: &Region, account: &AccountId, key_id: &KeyId) -> KeyArn {
        KeyArn(format!(
            "arn:{}:kms:{region}:{account}:key/{key_id}",
            partition(region)
        ))
    }

    /// Whether `s` is a key ARN: `arn:PARTITION:kms:REGION:ACCOUNT:key/KEY_ID` with the
    /// region's partition.
    fn is_key_arn(s: &str) -> bool {
        let Some(rest) = s.strip_prefix("arn:") else {
            return false;
        };
        let mut parts = rest.splitn(5, ':');
        let (Some(partition_), Some(service), Some(region), Some(account), Some(resource)) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return false;
        };
        service == "kms"
            && is_region_name(region)
            && partition_ == partition(region)
            && is_account_id(account)
            && resource.strip_prefix("key/").is_some_and(is_key_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_what_aws_spells_and_nothing_else() {
        for r in [
            "us-east-1",
            "us-gov-west-1",
            "cn-north-1",
            "eu-central-2",
            "local",
        ] {
            assert!(Region::parse(r).is_ok(), "{r}");
        }
        let long = "a".repeat(65);
        for r in ["", "us-East-1", "us_east_1", "-us", "us-", "us east", &long] {
            assert_eq!(Region::parse(r), Err(InvalidId("region")), "{r}");
        }
        assert!(AccountId::parse("111122223333").is_ok());
        for a in ["11112222333", "1111222233334", "11112222333a"] {
            assert!(AccountId::parse(a).is_err(), "{a}");
        }
        assert!(KeyId::parse("1234abcd-12ab-34cd-56ef-1234567890ab").is_ok());
        assert!(KeyId::parse("mrk-1234abcd12ab34cd56ef1234567890ab").is_ok());
        assert!(KeyId::parse("mrk-1234abcd12ab34cd56ef1234567890ab@us-east-1").is_err());
        assert!(KeyId::parse("alias/x").is_err());
    }

    #[test]
    fn a_key_arn_is_made_and_parsed_back() {
        let arn = KeyArn::new(
            &Region::parse("us-gov-west-1").unwrap(),
            &AccountId::parse("111122223333").unwrap(),
            &KeyId::parse("mrk-1234abcd12ab34cd56ef1234567890ab").unwrap(),
        );
        assert_eq!(
            arn,
            "arn:aws-us-gov:kms:us-gov-west-1:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab"
        );
        assert_eq!(KeyArn::parse(arn.as_str()).as_ref(), Ok(&arn));
        for bad in [
            "arn:aws:kms:us-east-1:111122223333:alias/x",
            "arn:aws-cn:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "arn:aws:s3:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "arn:aws:kms:us-east-1:11112222333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        ] {
            assert!(KeyArn::parse(bad).is_err(), "{bad}");
        }
    }
}
