//! Why a request body was refused, rendered exactly as AWS renders it.
//!
//! The table of error codes ([`crate::ErrorCode`]: `__type` and HTTP status) is generated
//! with the rest of the model, in `generated.rs`.

use std::fmt;

use crate::ErrorCode;

/// A request body that could not be turned into a typed request.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WireError {
    /// The body is not the JSON the operation takes: not JSON at all, a member of the wrong
    /// JSON type, bad base64. The text is AWS's (`STRING_VALUE can not be converted to an
    /// Integer`); it is empty where AWS sends no message at all.
    #[error("SerializationException: {0}")]
    Serialization(String),
    /// The body breaks constraints of the service model.
    #[error("ValidationException: {0}")]
    Validation(ValidationErrors),
}

impl WireError {
    pub fn code(&self) -> ErrorCode {
        match self {
            WireError::Serialization(_) => ErrorCode::SerializationException,
            WireError::Validation(_) => ErrorCode::ValidationException,
        }
    }

    /// The `message` of the error response. Empty means AWS sends the error with no
    /// message member at all (a body that is not JSON, for instance).
    pub fn message(&self) -> String {
        match self {
            WireError::Serialization(m) => m.clone(),
            WireError::Validation(v) => v.message(),
        }
    }
}

/// Every constraint violation of one request, in the order AWS reports them (members in
/// model order, depth first).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ValidationErrors {
    violations: Vec<Violation>,
}

impl ValidationErrors {
    pub fn new(violations: Vec<Violation>) -> Self {
        ValidationErrors { violations }
    }

    pub fn violations(&self) -> &[Violation] {
        &self.violations
    }

    pub fn push(&mut self, violation: Violation) {
        self.violations.push(violation);
    }

    pub fn len(&self) -> usize {
        self.violations.len()
    }

    pub fn is_empty(&self) -> bool {
        self.violations.is_empty()
    }

    /// AWS's message: `2 validation errors detected: <first>; <second>`.
    pub fn message(&self) -> String {
        self.to_string()
    }
}

impl From<Vec<Violation>> for ValidationErrors {
    fn from(violations: Vec<Violation>) -> Self {
        ValidationErrors { violations }
    }
}

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.violations.len();
        write!(
            f,
            "{n} validation error{} detected: ",
            if n == 1 { "" } else { "s" }
        )?;
        for (i, v) in self.violations.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{v}")?;
        }
        Ok(())
    }
}

/// How the offending value appears in a violation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ViolationValue {
    /// `Value null at 'keyId'`: the member is absent.
    Null,
    /// `Value at 'plaintext'`: AWS never prints sensitive members nor blobs, and omits
    /// the value of numbers it could not hold.
    Hidden,
    /// `Value 'FOO' at 'keySpec'`: the value as AWS prints it (lists as `[a, b]`).
    Shown(String),
}

/// One failed constraint: `Value 'x' at 'path' failed to satisfy constraint: <constraint>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    path: String,
    value: ViolationValue,
    constraint: String,
}

impl Violation {
    /// `path` is AWS's: camelCase member names, `tags.1.member.tagKey` inside lists.
    pub fn new(
        path: impl Into<String>,
        value: ViolationValue,
        constraint: impl Into<String>,
    ) -> Self {
        Violation {
            path: path.into(),
            value,
            constraint: constraint.into(),
        }
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn value(&self) -> &ViolationValue {
        &self.value
    }

    /// `Member must have length less than or equal to 2048`.
    pub fn constraint(&self) -> &str {
        &self.constraint
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.value {
            ViolationValue::Null => f.write_str("Value null")?,
            ViolationValue::Hidden => f.write_str("Value")?,
            ViolationValue::Shown(v) => write!(f, "Value '{v}'")?,
        }
        write!(
            f,
            " at '{}' failed to satisfy constraint: {}",
            self.path, self.constraint
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_like_aws() {
        let one = ValidationErrors::new(vec![Violation::new(
            "keyId",
            ViolationValue::Null,
            "Member must not be null",
        )]);
        assert_eq!(
            one.message(),
            "1 validation error detected: Value null at 'keyId' failed to satisfy constraint: Member must not be null"
        );
        let two = ValidationErrors::new(vec![
            Violation::new(
                "keyId",
                ViolationValue::Shown(String::new()),
                "Member must have length greater than or equal to 1",
            ),
            Violation::new(
                "plaintext",
                ViolationValue::Hidden,
                "Member must not be null",
            ),
        ]);
        assert_eq!(
            two.message(),
            "2 validation errors detected: Value '' at 'keyId' failed to satisfy constraint: Member must have length \
             greater than or equal to 1; Value at 'plaintext' failed to satisfy constraint: Member must not be null"
        );
        let err = WireError::Validation(two);
        assert_eq!(err.code(), ErrorCode::ValidationException);
        assert_eq!(
            WireError::Serialization(String::new()).code(),
            ErrorCode::SerializationException
        );
    }
}
