//! The first of the two decoding passes: JSON → "raw" mirrors of the input structures.
//!
//! The generated raw structs hold every member as `Option<raw::X>`; the types here accept
//! exactly the JSON types AWS accepts for a member and, for anything else, fail with the
//! message AWS's JSON deserializer gives (`NUMBER_VALUE can not be converted to a String`,
//! `Start of list found where not expected`, ...). Where AWS's wording for a combination
//! is not known, the error carries no message, as AWS sends none for a body that is not
//! JSON: better silent than invented. Constraints are the second pass (`validate.rs`).
//!
//! serde_json appends "at line L column C" to an error; [`serialization_message`] takes
//! back the AWS text, which is tagged with [`MARK`] to tell it from serde's own errors.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use serde::de::value::MapAccessDeserializer;
use serde::de::{self, DeserializeOwned, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use crate::support::{decode_base64, SensitiveBlob, SensitiveString, Timestamp};
use crate::WireError;

/// Tags an error message as AWS's text (as opposed to one of serde's).
const MARK: &str = "\u{1}aws\u{1}";

const LIST_START: &str = "Start of list found where not expected";
const MAP_START: &str = "Start of structure or map found where not expected.";

/// An error with AWS's message.
fn aws<E: de::Error>(message: &str) -> E {
    E::custom(format_args!("{MARK}{message}"))
}

/// An error for which AWS's message is not known: sent without one.
fn silent<E: de::Error>() -> E {
    E::custom(MARK)
}

/// `TRUE_VALUE` / `FALSE_VALUE`, AWS's names of the JSON literals.
fn bool_token(v: bool) -> &'static str {
    if v {
        "TRUE_VALUE"
    } else {
        "FALSE_VALUE"
    }
}

/// Decodes a whole request body into its raw struct.
pub(crate) fn decode_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, WireError> {
    // AWS JSON 1.1 services accept an empty body as `{}`: Smithy's awsJson1_1 protocol
    // tests require it (https://smithy.io/2.0/aws/protocols/aws-json-1_1-protocol.html).
    let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        body
    };
    serde_json::from_slice::<Body<T>>(body)
        .map(|b| b.0)
        .map_err(|e| WireError::Serialization(serialization_message(&e)))
}

/// AWS's message inside a serde_json error, or empty when there is none.
fn serialization_message(e: &serde_json::Error) -> String {
    if !e.is_data() {
        return String::new(); // not JSON: AWS sends no message
    }
    let text = e.to_string();
    match text.strip_prefix(MARK) {
        Some(rest) => match rest.rfind(" at line ") {
            Some(i) => rest[..i].to_owned(),
            None => rest.to_owned(),
        },
        None => String::new(),
    }
}

/// The top level of a body: an object, or nothing AWS would decode.
struct Body<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Body<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Body<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Body<T>, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map)).map(Body)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<Body<T>, A::Error> {
                Err(aws(LIST_START))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Body<T>, E> {
                Err(silent())
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Body<T>, E> {
                Err(silent())
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Body<T>, E> {
                Err(silent())
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Body<T>, E> {
                Err(silent())
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Body<T>, E> {
                Err(silent())
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Body<T>, E> {
                Err(silent())
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

/// Implements the visits every scalar rejects the same way: lists, objects, and (unless
/// the type overrides them) the JSON types AWS's wording is unknown for.
macro_rules! reject_containers {
    ($value:ty) => {
        fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<$value, A::Error> {
            Err(aws(LIST_START))
        }
        fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<$value, A::Error> {
            Err(aws(MAP_START))
        }
        fn visit_unit<E: de::Error>(self) -> Result<$value, E> {
            Err(silent())
        }
    };
}

/// A string member (enums included: their values are checked by the validator).
pub(crate) struct Str(pub(crate) String);

impl<'de> Deserialize<'de> for Str {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrVisitor).map(Str)
    }
}

struct StrVisitor;

impl<'de> Visitor<'de> for StrVisitor {
    type Value = String;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_owned())
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<String, E> {
        Ok(v)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<String, E> {
        Err(aws("NUMBER_VALUE can not be converted to a String"))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<String, E> {
        Err(aws("NUMBER_VALUE can not be converted to a String"))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<String, E> {
        Err(aws("NUMBER_VALUE can not be converted to a String"))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<String, E> {
        Err(aws(&format!(
            "{} can not be converted to a String",
            bool_token(v)
        )))
    }
    reject_containers!(String);
}

/// A sensitive string member.
pub(crate) struct SecretStr(pub(crate) SensitiveString);

impl<'de> Deserialize<'de> for SecretStr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrVisitor)
            .map(|s| SecretStr(SensitiveString::from(s)))
    }
}

/// An integer member, kept wide: a number outside the member's range is a constraint
/// violation on AWS, not a serialization error.
pub(crate) struct Int(pub(crate) i64);

impl<'de> Deserialize<'de> for Int {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Int;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an integer")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Int, E> {
                Ok(Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Int, E> {
                Ok(Int(i64::try_from(v).unwrap_or(i64::MAX)))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Int, E> {
                Err(silent())
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Int, E> {
                Err(aws("STRING_VALUE can not be converted to an Integer"))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Int, E> {
                Err(aws(&format!(
                    "{} can not be converted to an Integer",
                    bool_token(v)
                )))
            }
            reject_containers!(Int);
        }
        d.deserialize_any(V)
    }
}

/// A boolean member.
pub(crate) struct Bool(pub(crate) bool);

impl<'de> Deserialize<'de> for Bool {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Bool;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a boolean")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Bool, E> {
                Ok(Bool(v))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Bool, E> {
                Err(aws("NUMBER_VALUE can not be converted to a Boolean"))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Bool, E> {
                Err(aws("NUMBER_VALUE can not be converted to a Boolean"))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Bool, E> {
                Err(aws("NUMBER_VALUE can not be converted to a Boolean"))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Bool, E> {
                Err(aws("STRING_VALUE can not be converted to a Boolean"))
            }
            reject_containers!(Bool);
        }
        d.deserialize_any(V)
    }
}

/// Base64 text of a blob; anything else (or bad base64) fails without a message.
struct BlobVisitor;

impl<'de> Visitor<'de> for BlobVisitor {
    type Value = Vec<u8>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a base64 string")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Vec<u8>, E> {
        decode_base64(v).map_err(|_| silent())
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Vec<u8>, E> {
        Err(silent())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Vec<u8>, E> {
        Err(silent())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Vec<u8>, E> {
        Err(silent())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Vec<u8>, E> {
        Err(silent())
    }
    reject_containers!(Vec<u8>);
}

/// A blob member.
pub(crate) struct Blob(pub(crate) Vec<u8>);

impl<'de> Deserialize<'de> for Blob {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(BlobVisitor).map(Blob)
    }
}

/// A sensitive blob member, wrapped (hence zeroized) as soon as it is decoded.
pub(crate) struct SecretBlob(pub(crate) SensitiveBlob);

impl<'de> Deserialize<'de> for SecretBlob {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(BlobVisitor)
            .map(|b| SecretBlob(SensitiveBlob::from(b)))
    }
}

/// A timestamp member: epoch seconds, integer or fractional.
pub(crate) struct Time(pub(crate) Timestamp);

impl<'de> Deserialize<'de> for Time {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Time;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("epoch seconds")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Time, E> {
                Ok(Time(Timestamp::from_secs(v)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Time, E> {
                i64::try_from(v)
                    .map(|s| Time(Timestamp::from_secs(s)))
                    .map_err(|_| silent())
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Time, E> {
                Timestamp::from_secs_f64(v).map(Time).ok_or_else(silent)
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Time, E> {
                Err(silent())
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Time, E> {
                Err(silent())
            }
            reject_containers!(Time);
        }
        d.deserialize_any(V)
    }
}

/// A list member.
pub(crate) struct List<T>(pub(crate) Vec<T>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for List<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = List<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<List<T>, A::Error> {
                let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
                while let Some(item) = seq.next_element::<T>()? {
                    items.push(item);
                }
                Ok(List(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<List<T>, A::Error> {
                Err(aws(MAP_START))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<List<T>, E> {
                Err(aws("Expected list or null"))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<List<T>, E> {
                Err(aws("Expected list or null"))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<List<T>, E> {
                Err(aws("Expected list or null"))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<List<T>, E> {
                Err(aws("Expected list or null"))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<List<T>, E> {
                Err(aws("Expected list or null"))
            }
            fn visit_unit<E: de::Error>(self) -> Result<List<T>, E> {
                Err(silent()) // a null element of a list
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

/// A string-to-string map member (the encryption context).
pub(crate) struct StrMap(pub(crate) BTreeMap<String, String>);

impl<'de> Deserialize<'de> for StrMap {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = StrMap;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<StrMap, A::Error> {
                let mut entries = BTreeMap::new();
                while let Some((key, value)) = map.next_entry::<String, Str>()? {
                    entries.insert(key, value.0);
                }
                Ok(StrMap(entries))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<StrMap, A::Error> {
                Err(aws(LIST_START))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<StrMap, E> {
                Err(aws("Expected map or null"))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<StrMap, E> {
                Err(aws("Expected map or null"))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<StrMap, E> {
                Err(aws("Expected map or null"))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<StrMap, E> {
                Err(aws("Expected map or null"))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<StrMap, E> {
                Err(aws("Expected map or null"))
            }
            fn visit_unit<E: de::Error>(self) -> Result<StrMap, E> {
                Err(silent())
            }
        }
        d.deserialize_any(V)
    }
}

/// A structure member: `T` is the generated raw struct.
pub(crate) struct Struct<T>(pub(crate) T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Struct<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Struct<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a structure")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Struct<T>, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map)).map(Struct)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<Struct<T>, A::Error> {
                Err(aws(LIST_START))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Struct<T>, E> {
                Err(aws("Expected null"))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Struct<T>, E> {
                Err(aws("Expected null"))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Struct<T>, E> {
                Err(aws("Expected null"))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Struct<T>, E> {
                Err(aws("Expected null"))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Struct<T>, E> {
                Err(aws("Expected null"))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Struct<T>, E> {
                Err(silent())
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}
