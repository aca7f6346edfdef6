//! What of a request and a response the trail records.
//!
//! CloudTrail records a KMS call's parameters and (for operations that change something)
//! its response elements, never plaintexts, ciphertext blobs, data keys, private keys,
//! signatures, MACs, messages or credentials
//! (<https://docs.aws.amazon.com/kms/latest/developerguide/logging-using-cloudtrail.html>).
//! This module walks the *model* of each operation (`fields.rs`, generated from
//! `service-2.json`), not the request: a member the model does not list is dropped, and a
//! member whose shape is a blob or marked sensitive is dropped, so an operation added
//! later is redacted correctly without anyone touching this code.

use serde_json::{Map, Value};

use crate::fields::{operation, NODES};

/// A shape of the model, reduced to what redaction needs.
#[derive(Debug)]
pub(crate) enum Node {
    /// Strings, numbers, booleans: recorded as they are.
    Scalar,
    /// Timestamps: recorded as CloudTrail does (`Aug 10, 2022, 10:38:27 PM`).
    Timestamp,
    /// Blobs, sensitive members, grant tokens: never recorded.
    Hidden,
    Struct(&'static [(&'static str, usize)]),
    List(usize),
    Map(usize),
}

/// Operations whose response CloudTrail records as `null` although they are not
/// read-only: they return cryptographic payloads only.
const PAYLOAD_ONLY: &[&str] = &["ReEncrypt"];

/// The `requestParameters` of a call, or `None` (`null`) if nothing is loggable.
pub fn request_parameters(operation_name: &str, request: &Value) -> Option<Value> {
    let (input, _) = operation(operation_name)?;
    non_empty(redact(input?, request))
}

/// [`request_parameters`] straight from the request body: hidden members are skipped by
/// the parser (never copied out of the body), so a plaintext is not even duplicated in
/// memory. A body that is not JSON has no parameters.
pub fn request_parameters_from_json(operation_name: &str, body: &[u8]) -> Option<Value> {
    let (input, _) = operation(operation_name)?;
    let mut de = serde_json::Deserializer::from_slice(body);
    let v = serde::de::DeserializeSeed::deserialize(Seed(input?), &mut de).ok()?;
    de.end().ok()?;
    non_empty(v)
}

/// Deserializes a JSON value along a model node, skipping what the node hides.
#[derive(Clone, Copy)]
struct Seed(usize);

impl<'de> serde::de::DeserializeSeed<'de> for Seed {
    type Value = Option<Value>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        match NODES.get(self.0) {
            None | Some(Node::Hidden) => {
                serde::de::IgnoredAny::deserialize(d)?;
                Ok(None)
            }
            Some(_) => d.deserialize_any(self),
        }
    }
}

use serde::Deserialize as _;

impl<'de> serde::de::Visitor<'de> for Seed {
    type Value = Option<Value>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(self.scalar(Value::Bool(v)))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(self.scalar(Value::from(v)))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(self.scalar(Value::from(v)))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(self.scalar(Value::from(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(match NODES.get(self.0) {
            Some(Node::Scalar) => Some(Value::String(v.to_owned())),
            _ => None,
        })
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        match NODES.get(self.0) {
            Some(Node::List(child)) => {
                let mut out = Vec::new();
                while let Some(v) = seq.next_element_seed(Seed(*child))? {
                    out.extend(v);
                }
                Ok(Some(Value::Array(out)))
            }
            _ => {
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(None)
            }
        }
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        match NODES.get(self.0) {
            Some(Node::Struct(members)) => {
                let mut out = Map::new();
                while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    match members.iter().find(|(name, _)| *name == key) {
                        Some((name, child)) => {
                            if let Some(v) = non_empty(map.next_value_seed(Seed(*child))?) {
                                out.insert(camel_case(name), v);
                            }
                        }
                        None => {
                            map.next_value::<serde::de::IgnoredAny>()?;
                        }
                    }
                }
                Ok(Some(Value::Object(out)))
            }
            Some(Node::Map(child)) => {
                let mut out = Map::new();
                while let Some(key) = map.next_key::<String>()? {
                    if let Some(v) = map.next_value_seed(Seed(*child))? {
                        out.insert(key, v);
                    }
                }
                Ok(Some(Value::Object(out)))
            }
            _ => {
                while map
                    .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(None)
            }
        }
    }
}

impl Seed {
    fn scalar(self, v: Value) -> Option<Value> {
        match (NODES.get(self.0), &v) {
            (Some(Node::Scalar), _) => Some(v),
            (Some(Node::Timestamp), Value::Number(n)) => {
                n.as_f64().map(|s| Value::String(cloudtrail_date(s)))
            }
            _ => None,
        }
    }
}

/// The `responseElements` of a successful call. CloudTrail records them for operations
/// that change state (CreateKey's key metadata, ScheduleKeyDeletion's deletion date, ...)
/// and `null` for read-only and cryptographic operations (see the Encrypt, Decrypt and
/// DescribeKey examples).
pub fn response_elements(operation_name: &str, read_only: bool, response: &Value) -> Option<Value> {
    if read_only || PAYLOAD_ONLY.contains(&operation_name) {
        return None;
    }
    let (_, output) = operation(operation_name)?;
    non_empty(redact(output?, response))
}

fn non_empty(v: Option<Value>) -> Option<Value> {
    v.filter(|v| !matches!(v, Value::Object(m) if m.is_empty()))
}

fn redact(node: usize, value: &Value) -> Option<Value> {
    match (NODES.get(node)?, value) {
        (Node::Hidden, _) | (_, Value::Null) => None,
        (Node::Scalar, v @ (Value::String(_) | Value::Number(_) | Value::Bool(_))) => {
            Some(v.clone())
        }
        (Node::Timestamp, Value::Number(n)) => {
            n.as_f64().map(|s| Value::String(cloudtrail_date(s)))
        }
        (Node::Struct(members), Value::Object(object)) => {
            let mut out = Map::new();
            for (name, child) in *members {
                if let Some(v) = non_empty(object.get(*name).and_then(|v| redact(*child, v))) {
                    out.insert(camel_case(name), v);
                }
            }
            Some(Value::Object(out))
        }
        (Node::List(child), Value::Array(items)) => Some(Value::Array(
            items.iter().filter_map(|v| redact(*child, v)).collect(),
        )),
        (Node::Map(child), Value::Object(object)) => Some(Value::Object(
            object
                .iter()
                .filter_map(|(k, v)| redact(*child, v).map(|v| (k.clone(), v)))
                .collect(),
        )),
        _ => None,
    }
}

/// CloudTrail's member names: the API's with a lower-case initial (`KeyId` → `keyId`),
/// except initialisms it keeps (`AWSAccountId`, as in the CreateKey example).
fn camel_case(name: &str) -> String {
    if name.starts_with("AWS") {
        return name.to_owned();
    }
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => first.to_ascii_lowercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}

/// `Aug 10, 2022, 10:38:27 PM`: how CloudTrail renders KMS timestamps in responses.
fn cloudtrail_date(epoch_seconds: f64) -> String {
    let secs = epoch_seconds.floor() as i64;
    let Ok(t) = time::OffsetDateTime::from_unix_timestamp(secs) else {
        return epoch_seconds.to_string();
    };
    let format = time::macros::format_description!(
        "[month repr:short] [day padding:none], [year], [hour repr:12 padding:none]:[minute]:[second] [period]"
    );
    t.format(&format)
        .unwrap_or_else(|_| epoch_seconds.to_string())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn encrypt_logs_key_context_and_algorithm_never_the_plaintext() {
        let request = json!({
            "KeyId": "alias/app",
            "Plaintext": "c2VjcmV0",
            "EncryptionContext": {"Department": "Engineering"},
            "EncryptionAlgorithm": "SYMMETRIC_DEFAULT",
            "GrantTokens": ["token"],
            "Unknown": "x"
        });
        assert_eq!(
            request_parameters_from_json("Encrypt", request.to_string().as_bytes()),
            request_parameters("Encrypt", &request)
        );
        assert_eq!(request_parameters_from_json("Encrypt", b"{not json"), None);
        assert_eq!(
            request_parameters_from_json(
                "Encrypt",
                br#"{"KeyId": {"nested": 1}, "Plaintext": {"x": "y"}}"#
            ),
            None
        );
        assert_eq!(
            request_parameters("Encrypt", &request),
            Some(json!({
                "keyId": "alias/app",
                "encryptionContext": {"Department": "Engineering"},
                "encryptionAlgorithm": "SYMMETRIC_DEFAULT"
            }))
        );
        let response = json!({"CiphertextBlob": "AAAA", "KeyId": "arn", "EncryptionAlgorithm": "SYMMETRIC_DEFAULT"});
        assert_eq!(response_elements("Encrypt", true, &response), None);
    }

    #[test]
    fn every_blob_of_every_operation_is_hidden() {
        // Sign, Verify, GenerateMac, ... are not implemented yet: their redaction comes
        // from the model all the same.
        let sign = json!({"KeyId": "k", "Message": "bXNn", "MessageType": "RAW", "SigningAlgorithm": "ECDSA_SHA_256"});
        assert_eq!(
            request_parameters("Sign", &sign),
            Some(json!({"keyId": "k", "messageType": "RAW", "signingAlgorithm": "ECDSA_SHA_256"}))
        );
        let mac =
            json!({"KeyId": "k", "Message": "bXNn", "Mac": "bWFj", "MacAlgorithm": "HMAC_SHA_256"});
        assert_eq!(
            request_parameters("VerifyMac", &mac),
            Some(json!({"keyId": "k", "macAlgorithm": "HMAC_SHA_256"}))
        );
        let pair = json!({"PrivateKeyCiphertextBlob": "AA", "PrivateKeyPlaintext": "AA", "PublicKey": "AA", "KeyId": "k", "KeyPairSpec": "RSA_2048"});
        assert_eq!(
            response_elements("GenerateDataKeyPair", false, &pair),
            Some(json!({"keyId": "k", "keyPairSpec": "RSA_2048"}))
        );
        let import = json!({"KeyId": "k", "ImportToken": "AA", "EncryptedKeyMaterial": "AA", "ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE"});
        assert_eq!(
            request_parameters("ImportKeyMaterial", &import),
            Some(json!({"keyId": "k", "expirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE"}))
        );
        let store = json!({"CustomKeyStoreName": "s", "KeyStorePassword": "hunter2", "XksProxyAuthenticationCredential": {"AccessKeyId": "AKIA", "RawSecretAccessKey": "secret"}});
        assert_eq!(
            request_parameters("CreateCustomKeyStore", &store),
            Some(json!({"customKeyStoreName": "s"}))
        );
        let grant = json!({"GrantId": "g", "GrantToken": "t"});
        assert_eq!(
            response_elements("CreateGrant", false, &grant),
            Some(json!({"grantId": "g"}))
        );
    }

    #[test]
    fn responses_of_changes_are_recorded_in_cloudtrail_form() {
        let response = json!({"KeyMetadata": {
            "AWSAccountId": "111122223333",
            "KeyId": "1234abcd-12ab-34cd-56ef-1234567890ab",
            "CreationDate": 1660171107.5,
            "Enabled": true,
            "EncryptionAlgorithms": ["SYMMETRIC_DEFAULT"]
        }});
        assert_eq!(
            response_elements("CreateKey", false, &response),
            Some(json!({"keyMetadata": {
                "AWSAccountId": "111122223333",
                "keyId": "1234abcd-12ab-34cd-56ef-1234567890ab",
                "creationDate": "Aug 10, 2022, 10:38:27 PM",
                "enabled": true,
                "encryptionAlgorithms": ["SYMMETRIC_DEFAULT"]
            }}))
        );
        assert_eq!(response_elements("DescribeKey", true, &response), None);
        assert_eq!(
            response_elements("ReEncrypt", false, &json!({"KeyId": "k"})),
            None
        );
        assert_eq!(request_parameters("ListKeys", &json!({})), None);
        assert_eq!(
            request_parameters("NoSuchOperation", &json!({"A": 1})),
            None
        );
    }
}
