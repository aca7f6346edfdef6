//! Authentication failures, with the error types and messages AWS returns.
//!
//! The wording follows what AWS's JSON-protocol services answer (quoted in the
//! AWS SDK issue trackers, and recorded from the live services by emulators such
//! as dynalite and scratchstack-aws-signature). Where AWS's message quotes what
//! the client sent (the whole `Authorization` header, the credential, the date
//! or region as sent), the quote is left out: a misdirected client's `Basic` or
//! `Bearer` credential would otherwise be answered back and written into the
//! audit trail with the error. Messages name the problem, and carry only what
//! any client may know (the expected service, the server time, the name of a
//! header); never a secret, never a header's value.

use std::fmt::Write as _;
use std::time::Duration;

/// Longest header name quoted in a message; longer ones are cut (a header name
/// is the client's text, and messages go into the audit trail).
const MAX_QUOTED_NAME: usize = 64;

/// Why a request failed SigV4 authentication. `Display` gives AWS's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigV4Error {
    /// No `Authorization` header.
    #[error("Missing Authentication Token")]
    MissingAuthenticationToken,

    /// A parameter of the `Authorization` header without `=`. (AWS quotes the
    /// token and the whole header; the token may be a credential.)
    #[error("A parameter of the Authorization header is not a valid key=value pair (missing equal-sign).")]
    MalformedParameter {},

    /// `Credential`, `Signature` or `SignedHeaders` absent, or no date header.
    /// (AWS ends the message with `Authorization=` and the header as sent.)
    #[error("{}", missing_message(self))]
    MissingParameters {
        credential: bool,
        signature: bool,
        signed_headers: bool,
        date: bool,
    },

    /// `X-Amz-Date` (or `Date`) is not a timestamp in the expected format.
    /// (AWS quotes the value after "Got".)
    #[error("Date must be in ISO-8601 'basic format'. See http://en.wikipedia.org/wiki/ISO_8601")]
    InvalidDate {},

    /// The request time is older than the allowed clock skew.
    #[error("Signature expired: {request_time} is now earlier than {earliest} ({server_time} - {}.)", skew_text(*.skew))]
    SignatureExpired {
        request_time: String,
        earliest: String,
        server_time: String,
        skew: Duration,
    },

    /// The request time is further in the future than the allowed clock skew.
    #[error("Signature not yet current: {request_time} is still later than {latest} ({server_time} + {}.)", skew_text(*.skew))]
    SignatureNotYetCurrent {
        request_time: String,
        latest: String,
        server_time: String,
        skew: Duration,
    },

    /// `SignedHeaders` does not include `host`.
    #[error("'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")]
    HostNotSigned,

    /// A header that must be signed is in the request but not among
    /// `SignedHeaders`: `Content-Type` and every `X-Amz-*` header (the
    /// operation, the session token, the payload hash), so that a captured
    /// request cannot be resent with another operation or token. AWS's wording
    /// for its own required headers (as for `Host` above).
    #[error(
        "'{}' must be a 'SignedHeader' in the AWS Authorization.",
        quoted_name(name)
    )]
    UnsignedHeader {
        /// The header's name (lower case, as the `http` crate keeps it).
        name: String,
    },

    /// A header that the signature or the protocol reads as one value
    /// (`Authorization`, `Host`, `Date`, `Content-Type`, `X-Amz-*`) appears
    /// more than once: which copy counts would be ambiguous.
    #[error("'{}' must appear at most once in the request.", quoted_name(name))]
    DuplicateHeader {
        /// The header's name (lower case).
        name: String,
    },

    /// The algorithm is not `AWS4-HMAC-SHA256`. (AWS quotes the algorithm
    /// sent: the first word of the header, which may be a bare credential.)
    #[error("Unsupported AWS 'algorithm' (only AWS4-HMAC-SHA256 for now).")]
    UnsupportedAlgorithm {},

    /// `Credential` is not `keyid/date/region/service/aws4_request`. (AWS
    /// quotes the credential after "got".)
    #[error("Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term")]
    MalformedCredential {},

    /// One or more elements of the credential scope are wrong.
    #[error("{0}")]
    InvalidScope(Box<ScopeFaults>),

    /// The access key id is unknown or inactive.
    #[error("The security token included in the request is invalid.")]
    UnrecognizedClient,

    /// The signature does not match the request.
    #[error("The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")]
    SignatureMismatch,
}

impl SigV4Error {
    /// The AWS error type (the JSON `__type`).
    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingAuthenticationToken => "MissingAuthenticationTokenException",
            Self::MalformedParameter { .. }
            | Self::MissingParameters { .. }
            | Self::InvalidDate { .. }
            | Self::UnsupportedAlgorithm { .. }
            | Self::MalformedCredential { .. } => "IncompleteSignatureException",
            Self::SignatureExpired { .. }
            | Self::SignatureNotYetCurrent { .. }
            | Self::HostNotSigned
            | Self::UnsignedHeader { .. }
            | Self::DuplicateHeader { .. }
            | Self::InvalidScope(_)
            | Self::SignatureMismatch => "InvalidSignatureException",
            Self::UnrecognizedClient => "UnrecognizedClientException",
        }
    }

    /// The AWS message (`Display` gives the same).
    pub fn message(&self) -> String {
        self.to_string()
    }

    /// The HTTP status: AWS's JSON-protocol services (DynamoDB, KMS) answer
    /// every authentication failure with 400 Bad Request (the REST services
    /// behind API Gateway use 403, which does not apply here).
    pub fn http_status(&self) -> u16 {
        400
    }
}

fn missing_message(e: &SigV4Error) -> String {
    let SigV4Error::MissingParameters {
        credential,
        signature,
        signed_headers,
        date,
    } = e
    else {
        return String::new();
    };
    let mut m = String::new();
    for (missing, name) in [
        (*credential, "Credential"),
        (*signature, "Signature"),
        (*signed_headers, "SignedHeaders"),
    ] {
        if missing {
            let _ = write!(m, "Authorization header requires '{name}' parameter. ");
        }
    }
    if *date {
        m.push_str(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. ",
        );
    }
    m.truncate(m.trim_end().len());
    m
}

/// A header name for a message, cut to [`MAX_QUOTED_NAME`] bytes.
fn quoted_name(name: &str) -> String {
    if name.len() <= MAX_QUOTED_NAME {
        return name.to_owned();
    }
    let mut end = MAX_QUOTED_NAME;
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &name[..end])
}

/// What is wrong with a credential scope; each fault contributes its
/// sentence to the message, in AWS's order. Only what the server knows is
/// quoted (the expected service, the request's date); AWS also quotes the
/// region, terminator and date sent, which are left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopeFaults {
    /// The region sent is not a valid region name.
    pub region: bool,
    /// The service expected, when the scope names another.
    pub service: Option<String>,
    /// The terminator sent is not `aws4_request`.
    pub terminator: bool,
    /// `(request date, request time)` when the scope's date is not the
    /// request's.
    pub date: Option<(String, String)>,
}

impl std::fmt::Display for ScopeFaults {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&scope_message(self))
    }
}

fn scope_message(faults: &ScopeFaults) -> String {
    let ScopeFaults {
        region,
        service,
        terminator,
        date,
    } = faults;
    let mut m = String::new();
    if *region {
        m.push_str("Credential should be scoped to a valid region. ");
    }
    if let Some(s) = service {
        let _ = write!(m, "Credential should be scoped to correct service: '{s}'. ");
    }
    if *terminator {
        m.push_str("Credential should be scoped with a valid terminator: 'aws4_request'. ");
    }
    if let Some((request_date, request_time)) = date {
        let _ = write!(
            m,
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{request_date}', from '{request_time}'."
        );
    }
    m
}

/// "5 min" for whole minutes (AWS's default window), seconds otherwise.
fn skew_text(skew: Duration) -> String {
    let secs = skew.as_secs();
    let (minutes, rest) = (secs / 60, secs % 60);
    if rest == 0 {
        format!("{minutes} min")
    } else {
        format!("{secs} sec")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_match_aws() {
        assert_eq!(
            SigV4Error::MissingParameters {
                credential: true,
                signature: true,
                signed_headers: true,
                date: true,
            }
            .message(),
            "Authorization header requires 'Credential' parameter. Authorization header requires \
             'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. \
             Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
        );
        assert_eq!(
            SigV4Error::SignatureExpired {
                request_time: "20150830T123600Z".into(),
                earliest: "20150830T124100Z".into(),
                server_time: "20150830T124600Z".into(),
                skew: Duration::from_secs(300),
            }
            .message(),
            "Signature expired: 20150830T123600Z is now earlier than 20150830T124100Z \
             (20150830T124600Z - 5 min.)"
        );
        assert_eq!(
            SigV4Error::SignatureNotYetCurrent {
                request_time: "20150830T130600Z".into(),
                latest: "20150830T125600Z".into(),
                server_time: "20150830T125100Z".into(),
                skew: Duration::from_secs(300),
            }
            .message(),
            "Signature not yet current: 20150830T130600Z is still later than 20150830T125600Z \
             (20150830T125100Z + 5 min.)"
        );
        assert_eq!(
            SigV4Error::InvalidScope(Box::new(ScopeFaults {
                service: Some("kms".into()),
                ..ScopeFaults::default()
            }))
            .message(),
            "Credential should be scoped to correct service: 'kms'. "
        );
        assert_eq!(
            SigV4Error::InvalidScope(Box::new(ScopeFaults {
                region: true,
                service: Some("dynamodb".into()),
                terminator: true,
                date: Some(("20130609".into(), "20130609T095204Z".into())),
            }))
            .message(),
            "Credential should be scoped to a valid region. Credential should be scoped \
             to correct service: 'dynamodb'. Credential should be scoped with a valid terminator: \
             'aws4_request'. Date in Credential scope does not match YYYYMMDD from \
             ISO-8601 version of date from HTTP: '20130609', from '20130609T095204Z'."
        );
        assert_eq!(
            SigV4Error::UnrecognizedClient.code(),
            "UnrecognizedClientException"
        );
        assert_eq!(
            SigV4Error::MissingAuthenticationToken.code(),
            "MissingAuthenticationTokenException"
        );
        assert_eq!(
            SigV4Error::HostNotSigned.code(),
            "InvalidSignatureException"
        );
        assert_eq!(
            SigV4Error::MalformedCredential {}.code(),
            "IncompleteSignatureException"
        );
    }

    #[test]
    fn unsigned_and_duplicated_headers_are_named() {
        let e = SigV4Error::UnsignedHeader {
            name: "x-amz-target".into(),
        };
        assert_eq!(e.code(), "InvalidSignatureException");
        assert_eq!(
            e.message(),
            "'x-amz-target' must be a 'SignedHeader' in the AWS Authorization."
        );
        let e = SigV4Error::DuplicateHeader {
            name: "content-type".into(),
        };
        assert_eq!(e.code(), "InvalidSignatureException");
        assert_eq!(
            e.message(),
            "'content-type' must appear at most once in the request."
        );
        // A long name is cut.
        let long = format!("x-amz-{}", "a".repeat(10_000));
        let m = SigV4Error::UnsignedHeader { name: long.clone() }.message();
        assert!(m.len() < 200, "{m}");
        assert!(m.starts_with(&format!("'{}...'", &long[..MAX_QUOTED_NAME])));
    }
}
