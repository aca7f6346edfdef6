//! Hand-written types the generated wire types are made of: secrets, timestamps, base64.

use std::fmt;

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::{alphabet, Engine as _};
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

/// The decoder for blobs on the wire: the standard alphabet, padding optional and
/// non-canonical trailing bits tolerated, as Java's `Base64.getDecoder()` (which AWS's
/// JSON stack uses) accepts them. We always encode canonically, with padding.
pub(crate) const BASE64_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// Decodes base64 into a buffer sized up front, so a secret is never left behind in a
/// reallocated (and unzeroized) smaller buffer.
pub(crate) fn decode_base64(encoded: &str) -> Result<Vec<u8>, base64::DecodeError> {
    let mut out = Vec::with_capacity(encoded.len() / 4 * 3 + 3);
    match BASE64_LENIENT.decode_vec(encoded, &mut out) {
        Ok(()) => Ok(out),
        Err(e) => {
            out.zeroize();
            Err(e)
        }
    }
}

const REDACTED: &str = "[REDACTED]";

/// Secret bytes (`Plaintext`, `PrivateKeyPlaintext`, `SharedSecret`, ...): zeroized on
/// drop, compared in constant time, `[REDACTED]` in `Debug`/`Display`. On the wire it is
/// base64 like any blob: it has to reach the client that asked for it.
#[derive(Clone, Default)]
pub struct SensitiveBlob(Vec<u8>);

impl SensitiveBlob {
    pub fn new(bytes: Vec<u8>) -> Self {
        SensitiveBlob(bytes)
    }

    /// The secret itself; keep the borrow short.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Hands the bytes over; from here on zeroizing them is the caller's job.
    pub fn into_inner(mut self) -> Vec<u8> {
        std::mem::take(&mut self.0)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Drop for SensitiveBlob {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl From<Vec<u8>> for SensitiveBlob {
    fn from(bytes: Vec<u8>) -> Self {
        SensitiveBlob(bytes)
    }
}

impl From<&[u8]> for SensitiveBlob {
    fn from(bytes: &[u8]) -> Self {
        SensitiveBlob(bytes.to_vec())
    }
}

impl fmt::Debug for SensitiveBlob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for SensitiveBlob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl PartialEq for SensitiveBlob {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for SensitiveBlob {}

impl Serialize for SensitiveBlob {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut encoded = STANDARD.encode(&self.0);
        let result = serializer.serialize_str(&encoded);
        encoded.zeroize();
        result
    }
}

impl<'de> Deserialize<'de> for SensitiveBlob {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = SensitiveBlob;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a base64 string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<SensitiveBlob, E> {
                decode_base64(v)
                    .map(SensitiveBlob)
                    .map_err(|_| E::custom("invalid base64"))
            }
        }
        deserializer.deserialize_str(V)
    }
}

/// A secret string (XKS proxy credentials, CloudHSM key store password): zeroized on
/// drop, compared in constant time, `[REDACTED]` in `Debug`/`Display`, a plain JSON
/// string on the wire.
#[derive(Clone, Default)]
pub struct SensitiveString(String);

impl SensitiveString {
    pub fn new(value: String) -> Self {
        SensitiveString(value)
    }

    /// The secret itself; keep the borrow short.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Hands the string over; from here on zeroizing it is the caller's job.
    pub fn into_inner(mut self) -> String {
        std::mem::take(&mut self.0)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Drop for SensitiveString {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl From<String> for SensitiveString {
    fn from(value: String) -> Self {
        SensitiveString(value)
    }
}

impl From<&str> for SensitiveString {
    fn from(value: &str) -> Self {
        SensitiveString(value.to_owned())
    }
}

impl fmt::Debug for SensitiveString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for SensitiveString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl PartialEq for SensitiveString {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }
}

impl Eq for SensitiveString {}

impl Serialize for SensitiveString {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for SensitiveString {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(SensitiveString)
    }
}

/// A point in time, in Unix milliseconds.
///
/// On the wire (AWS JSON 1.1, <https://smithy.io/2.0/aws/protocols/aws-json-1_1-protocol.html>)
/// a timestamp is a JSON number of epoch seconds. AWS's Java
/// stack writes it with `Double.toString`, e.g. `"CreationDate":1.700000000123E9`, and so
/// does this type (JSON serializers only: the text is emitted as a raw JSON number).
/// Decoding accepts any JSON number, integer or fractional.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub const fn from_millis(millis: i64) -> Self {
        Timestamp(millis)
    }

    pub const fn from_secs(secs: i64) -> Self {
        Timestamp(secs.saturating_mul(1000))
    }

    pub const fn millis(self) -> i64 {
        self.0
    }

    /// Epoch seconds with the milliseconds as fraction, the value on the wire.
    pub fn as_secs_f64(self) -> f64 {
        // Exact for every millisecond timestamp within ±285 000 years of 1970.
        self.0 as f64 / 1000.0
    }

    /// From epoch seconds as read off the wire, rounded to the millisecond.
    pub fn from_secs_f64(secs: f64) -> Option<Self> {
        let millis = (secs * 1000.0).round();
        // The range check makes the cast exact (and rejects NaN and infinities).
        (millis.is_finite() && millis.abs() < 9.0e15).then_some(Timestamp(millis as i64))
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let text = java_double(self.as_secs_f64());
        let raw =
            serde_json::value::RawValue::from_string(text).map_err(serde::ser::Error::custom)?;
        raw.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Timestamp;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("epoch seconds")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Timestamp, E> {
                Ok(Timestamp::from_secs(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Timestamp, E> {
                i64::try_from(v)
                    .map(Timestamp::from_secs)
                    .map_err(|_| E::custom("timestamp out of range"))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Timestamp, E> {
                Timestamp::from_secs_f64(v).ok_or_else(|| E::custom("timestamp out of range"))
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// Formats a double the way Java's `Double.toString` does: plain decimal with at least
/// one fractional digit for magnitudes in [10⁻³, 10⁷), otherwise computerized scientific
/// notation (`1.7E9`, `1.0E-4`). Digits are the shortest that round-trip, as in Java 19+.
pub(crate) fn java_double(v: f64) -> String {
    if v == 0.0 {
        return if v.is_sign_negative() {
            "-0.0".to_owned()
        } else {
            "0.0".to_owned()
        };
    }
    let magnitude = v.abs();
    if (1e-3..1e7).contains(&magnitude) {
        let mut s = format!("{v}");
        if !s.contains('.') {
            s.push_str(".0");
        }
        return s;
    }
    let s = format!("{v:e}");
    let (mantissa, exponent) = s.split_once('e').unwrap_or((s.as_str(), "0"));
    let mut out = String::with_capacity(s.len() + 3);
    out.push_str(mantissa);
    if !mantissa.contains('.') {
        out.push_str(".0");
    }
    out.push('E');
    out.push_str(exponent);
    out
}

/// `#[serde(with = "crate::support::b64")]` for `Vec<u8>` members: standard base64 with
/// padding on output, leniently decoded on input.
pub mod b64 {
    use super::*;

    pub fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Vec<u8>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a base64 string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Vec<u8>, E> {
                decode_base64(v).map_err(|_| E::custom("invalid base64"))
            }
        }
        deserializer.deserialize_str(V)
    }
}

/// `#[serde(with = "crate::support::b64_opt")]` for `Option<Vec<u8>>` members.
pub mod b64_opt {
    use super::*;

    pub fn serialize<S: Serializer>(
        bytes: &Option<Vec<u8>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match bytes {
            Some(b) => super::b64::serialize(b, serializer),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Vec<u8>>, D::Error> {
        #[derive(Deserialize)]
        struct Wrapped(#[serde(with = "super::b64")] Vec<u8>);
        Option::<Wrapped>::deserialize(deserializer).map(|w| w.map(|w| w.0))
    }
}

/// A string that is not a value of the enumerated shape it was parsed as.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a value of the {shape} enumeration")]
pub struct ParseEnumError {
    shape: &'static str,
}

impl ParseEnumError {
    pub const fn new(shape: &'static str) -> Self {
        ParseEnumError { shape }
    }

    /// The model's name of the enumerated shape (`KeySpec`).
    pub const fn shape(&self) -> &'static str {
        self.shape
    }
}

/// What the validator needs of a generated enum.
pub(crate) trait WireEnum: Sized + Copy {
    /// The allowed values as AWS prints them in a violation: `[RSA_2048, RSA_3072]`, in
    /// AWS's order where it is known (`AWS_VALUE_SET_ORDER` in tools/gen_wire.py), else
    /// the model's.
    const VALUE_SET: &'static str;
    fn from_wire(value: &str) -> Option<Self>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_double_matches_java() {
        assert_eq!(java_double(1_759_334_400.0), "1.7593344E9");
        assert_eq!(java_double(1_700_000_000.123), "1.700000000123E9");
        assert_eq!(java_double(1.0e9), "1.0E9");
        assert_eq!(java_double(1234.5), "1234.5");
        assert_eq!(java_double(100.0), "100.0");
        assert_eq!(java_double(0.001), "0.001");
        assert_eq!(java_double(0.0001), "1.0E-4");
        assert_eq!(java_double(1.0e7), "1.0E7");
        assert_eq!(java_double(0.0), "0.0");
        assert_eq!(java_double(-2.5e10), "-2.5E10");
    }

    #[test]
    fn timestamp_round_trips_through_json() {
        let t = Timestamp::from_millis(1_700_000_000_123);
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(json, "1.700000000123E9");
        assert_eq!(serde_json::from_str::<Timestamp>(&json).unwrap(), t);
        assert_eq!(
            serde_json::from_str::<Timestamp>("1700000000").unwrap(),
            Timestamp::from_secs(1_700_000_000)
        );
        assert_eq!(
            serde_json::from_str::<Timestamp>("1700000000.5")
                .unwrap()
                .millis(),
            1_700_000_000_500
        );
    }

    #[test]
    fn secrets_are_redacted_and_base64_on_the_wire() {
        let blob = SensitiveBlob::from(b"hunter2".to_vec());
        assert_eq!(format!("{blob:?} {blob}"), "[REDACTED] [REDACTED]");
        let json = serde_json::to_string(&blob).unwrap();
        assert_eq!(json, "\"aHVudGVyMg==\"");
        assert_eq!(serde_json::from_str::<SensitiveBlob>(&json).unwrap(), blob);
        // Padding is optional on input, as for Java's decoder.
        assert_eq!(
            serde_json::from_str::<SensitiveBlob>("\"aHVudGVyMg\"").unwrap(),
            blob
        );
        assert_ne!(blob, SensitiveBlob::from(b"hunter3".to_vec()));

        let secret = SensitiveString::from("s3cret");
        assert_eq!(format!("{secret:?} {secret}"), "[REDACTED] [REDACTED]");
        assert_eq!(serde_json::to_string(&secret).unwrap(), "\"s3cret\"");
        assert_eq!(secret.clone().into_inner(), "s3cret");
    }
}
