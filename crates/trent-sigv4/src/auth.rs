//! Parsing the `Authorization` header
//! (`AWS4-HMAC-SHA256 Credential=AKID/YYYYMMDD/region/service/aws4_request, SignedHeaders=a;b, Signature=hex`,
//! <https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html#add-signature-to-request>).
//!
//! AWS splits the parameters on commas *and* whitespace, so a stray space inside
//! a value (a pasted access key with a trailing blank, say) is reported as a
//! token without `=`; later duplicates win. Errors never quote the header: it
//! may hold another scheme's credential (`Bearer ...`). The algorithm name is only checked
//! after the parameters, the date and the skew, which is why a `Basic ...`
//! header is answered with the list of missing parameters.

use crate::SigV4Error;

/// The three parameters of the header, borrowed from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Params<'a> {
    pub(crate) algorithm: &'a str,
    pub(crate) credential: Option<&'a str>,
    pub(crate) signed_headers: Option<&'a str>,
    pub(crate) signature: Option<&'a str>,
}

pub(crate) fn parse_params(header: &str) -> Result<Params<'_>, SigV4Error> {
    let trimmed = header.trim();
    let (algorithm, rest) = trimmed
        .split_once(|c: char| c.is_ascii_whitespace())
        .unwrap_or((trimmed, ""));
    let mut params = Params {
        algorithm,
        credential: None,
        signed_headers: None,
        signature: None,
    };
    for token in rest
        .split(|c: char| c == ',' || c.is_ascii_whitespace())
        .filter(|t| !t.is_empty())
    {
        let Some((key, value)) = token.split_once('=') else {
            return Err(SigV4Error::MalformedParameter {});
        };
        match key {
            "Credential" => params.credential = Some(value),
            "SignedHeaders" => params.signed_headers = Some(value),
            "Signature" => params.signature = Some(value),
            _ => {}
        }
    }
    Ok(params)
}

/// The five elements of `Credential`, borrowed from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CredentialParts<'a> {
    pub(crate) access_key_id: &'a str,
    pub(crate) date: &'a str,
    pub(crate) region: &'a str,
    pub(crate) service: &'a str,
    pub(crate) terminator: &'a str,
    /// `keyid/date/region/service`: the identity of a derived signing key.
    pub(crate) key_scope: &'a str,
}

/// Splits `keyid/date/region/service/term`; trailing slashes are ignored, as
/// AWS does.
pub(crate) fn split_credential(credential: &str) -> Result<CredentialParts<'_>, SigV4Error> {
    let malformed = || SigV4Error::MalformedCredential {};
    let body = credential.trim_end_matches('/');
    let mut it = body.split('/');
    let (Some(access_key_id), Some(date), Some(region), Some(service), Some(terminator), None) = (
        it.next(),
        it.next(),
        it.next(),
        it.next(),
        it.next(),
        it.next(),
    ) else {
        return Err(malformed());
    };
    let key_scope_len = access_key_id.len() + date.len() + region.len() + service.len() + 3;
    let key_scope = body.get(..key_scope_len).ok_or_else(malformed)?;
    Ok(CredentialParts {
        access_key_id,
        date,
        region,
        service,
        terminator,
        key_scope,
    })
}

/// Whether `region` can name a region: 1 to 64 lower-case letters, digits and
/// hyphens, starting and ending with a letter or digit (`us-east-1`,
/// `eu-central-2`, or a private name such as `local`). The server serves every
/// region, so any such name is accepted; it is the rule of the key service's
/// `Region` ([`trent_wire::ids::is_region_name`]), so that every region a
/// signature is accepted for is one the key service can hold.
pub(crate) fn is_valid_region(region: &str) -> bool {
    trent_wire::ids::is_region_name(region)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_parameters() {
        let p = parse_params(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
             SignedHeaders=host;x-amz-date, Signature=5fa0",
        )
        .unwrap();
        assert_eq!(p.algorithm, "AWS4-HMAC-SHA256");
        assert_eq!(
            p.credential,
            Some("AKIDEXAMPLE/20150830/us-east-1/service/aws4_request")
        );
        assert_eq!(p.signed_headers, Some("host;x-amz-date"));
        assert_eq!(p.signature, Some("5fa0"));
        // No spaces after the commas, extra blanks, a later duplicate.
        let p = parse_params(
            "  AWS4-HMAC-SHA256   Credential=a/b/c/d/e,SignedHeaders=host,Signature=1 ,Signature=2 ",
        )
        .unwrap();
        assert_eq!(p.credential, Some("a/b/c/d/e"));
        assert_eq!(p.signature, Some("2"));
    }

    #[test]
    fn a_token_without_equal_sign_is_reported_without_quoting_the_header() {
        let header = "AWS4-HMAC-SHA256 Credential=AKIAXXXXXXXXXX /20150620/us-east-1/cloudformation/aws4_request, SignedHeaders=host;x-amz-date, Signature=240c";
        let message = parse_params(header).unwrap_err().message();
        assert_eq!(
            message,
            "A parameter of the Authorization header is not a valid key=value pair \
             (missing equal-sign)."
        );
        // A bearer token is not answered back.
        let e = parse_params("Bearer SomeSecretBearerToken").unwrap_err();
        assert!(!e.message().contains("SomeSecretBearerToken"));
        assert!(!format!("{e:?}").contains("SomeSecretBearerToken"));
        assert_eq!(e.code(), "IncompleteSignatureException");
    }

    #[test]
    fn other_schemes_parse_into_missing_parameters() {
        let p = parse_params("Basic dXNlcjpwYXNzd29yZA==").unwrap();
        assert_eq!(p.algorithm, "Basic");
        assert_eq!(
            (p.credential, p.signed_headers, p.signature),
            (None, None, None)
        );
        let p = parse_params("").unwrap();
        assert_eq!(p.algorithm, "");
    }

    #[test]
    fn splits_credentials() {
        let c = split_credential("AKID/20150830/us-east-1/kms/aws4_request").unwrap();
        assert_eq!(c.access_key_id, "AKID");
        assert_eq!(c.date, "20150830");
        assert_eq!(c.region, "us-east-1");
        assert_eq!(c.service, "kms");
        assert_eq!(c.terminator, "aws4_request");
        assert_eq!(c.key_scope, "AKID/20150830/us-east-1/kms");
        assert_eq!(
            split_credential("AKID/20150830/us-east-1/kms/aws4_request//").unwrap(),
            c
        );
        for bad in ["", "a/b/c/d", "a/b/c/d/e/f", "a/b/c/d/e/f/"] {
            assert_eq!(
                split_credential(bad).unwrap_err().message(),
                "Credential must have exactly 5 slash-delimited elements, e.g. \
                 keyid/date/region/service/term"
            );
        }
    }

    #[test]
    fn region_names() {
        for ok in ["us-east-1", "eu-central-2", "local", "us-gov-west-1", "a"] {
            assert!(is_valid_region(ok), "{ok}");
        }
        for bad in [
            "",
            "US-EAST-1",
            "us_east_1",
            "-us",
            "us-",
            "us east",
            &"a".repeat(65),
        ] {
            assert!(!is_valid_region(bad), "{bad}");
        }
    }
}
