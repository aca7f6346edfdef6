//! Authentication failures, with the error types and messages AWS returns.
//!
//! The wording follows what AWS's JSON-protocol services answer (quoted in the
//! AWS SDK issue trackers, and recorded from the live services by emulators such
//! as dynalite and scratchstack-aws-signature). Messages carry only what the
//! client sent or what any client may know (the expected service, the server
//! time); never a secret, never whether an access key exists.

use std::fmt::Write as _;
use std::time::Duration;

/// Why a request failed SigV4 authentication. `Display` gives AWS's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigV4Error {
    /// No `Authorization` header.
    #[error("Missing Authentication Token")]
    MissingAuthenticationToken,

    /// A parameter of the `Authorization` header without `=`.
    #[error("'{pair}' not a valid key=value pair (missing equal-sign) in Authorization header: '{header}'.")]
    MalformedParameter {
        /// The offending token.
        pair: String,
        /// The whole `Authorization` header, as sent.
        header: String,
    },

    /// `Credential`, `Signature` or `SignedHeaders` absent, or no date header.
    #[error("{}", missing_message(self))]
    MissingParameters {
        credential: bool,
        signature: bool,
        signed_headers: bool,
        date: bool,
        /// The whole `Authorization` header, as sent.
        header: String,
    },

    /// `X-Amz-Date` (or `Date`) is not a timestamp in the expected format.
    #[error("Date must be in ISO-8601 'basic format'. Got '{value}'. See http://en.wikipedia.org/wiki/ISO_8601")]
    InvalidDate {
        /// The header value, as sent.
        value: String,
    },

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

    /// The algorithm is not `AWS4-HMAC-SHA256`.
    #[error("Unsupported AWS 'algorithm': '{algorithm}' (only AWS4-HMAC-SHA256 for now). ")]
    UnsupportedAlgorithm { algorithm: String },

    /// `Credential` is not `keyid/date/region/service/aws4_request`.
    #[error("Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '{credential}'")]
    MalformedCredential { credential: String },

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
        header,
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
    m.push_str("Authorization=");
    m.push_str(header);
    m
}

/// What is wrong with a credential scope; each `Some` contributes its
/// sentence to the message, in AWS's order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopeFaults {
    /// The region sent, when it is not a valid region name.
    pub region: Option<String>,
    /// The service expected, when the scope names another.
    pub service: Option<String>,
    /// The terminator sent, when it is not `aws4_request`.
    pub terminator: Option<String>,
    /// `(scope date, request date, request time)` when the scope's date is not
    /// the request's.
    pub date: Option<(String, String, String)>,
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
    if let Some(r) = region {
        let _ = write!(
            m,
            "Credential should be scoped to a valid region, not '{r}'. "
        );
    }
    if let Some(s) = service {
        let _ = write!(m, "Credential should be scoped to correct service: '{s}'. ");
    }
    if let Some(t) = terminator {
        let _ = write!(
            m,
            "Credential should be scoped with a valid terminator: 'aws4_request', not '{t}'. "
        );
    }
    if let Some((scope_date, request_date, request_time)) = date {
        let _ = write!(
            m,
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{scope_date}' != '{request_date}', from '{request_time}'."
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
                header: "Basic dXNlcjpwYXNz".into(),
            }
            .message(),
            "Authorization header requires 'Credential' parameter. Authorization header requires \
             'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. \
             Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. \
             Authorization=Basic dXNlcjpwYXNz"
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
                region: Some("c".into()),
                service: Some("dynamodb".into()),
                terminator: Some("e".into()),
                date: Some(("b".into(), "20130609".into(), "20130609T095204Z".into())),
            }))
            .message(),
            "Credential should be scoped to a valid region, not 'c'. Credential should be scoped \
             to correct service: 'dynamodb'. Credential should be scoped with a valid terminator: \
             'aws4_request', not 'e'. Date in Credential scope does not match YYYYMMDD from \
             ISO-8601 version of date from HTTP: 'b' != '20130609', from '20130609T095204Z'."
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
            SigV4Error::MalformedCredential {
                credential: "a/b/c/d".into()
            }
            .code(),
            "IncompleteSignatureException"
        );
    }
}
