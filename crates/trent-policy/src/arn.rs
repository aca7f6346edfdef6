//! Principal ARNs as IAM accepts them in a `Principal` element.
//! <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html>

/// A well-formed IAM/STS principal ARN, split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PrincipalArn<'a> {
    pub account: &'a str,
    /// `root`, `user`, `role`, `assumed-role` or `federated-user`.
    pub resource_type: &'a str,
}

pub(crate) fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

fn is_partition(s: &str) -> bool {
    s.starts_with("aws") && s.bytes().all(|b| b.is_ascii_lowercase() || b == b'-')
}

/// IAM name characters: alphanumerics and `+=,.@_-` (no wildcards).
fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b))
}

/// `PATH/NAME` where PATH is zero or more `segment/`.
fn is_path_and_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= 512 && s.split('/').all(is_name)
}

impl<'a> PrincipalArn<'a> {
    pub(crate) fn parse(arn: &'a str) -> Option<Self> {
        let mut parts = arn.splitn(6, ':');
        let (Some("arn"), Some(partition), Some(service), Some(""), Some(account), Some(res)) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return None;
        };
        if !is_partition(partition) || !is_account_id(account) {
            return None;
        }
        let (rtype, rest) = match res.split_once('/') {
            Some((t, r)) => (t, Some(r)),
            None => (res, None),
        };
        let ok = match (service, rtype, rest) {
            ("iam", "root", None) => true,
            ("iam", "user" | "role", Some(r)) => is_path_and_name(r),
            ("sts", "assumed-role", Some(r)) => {
                matches!(r.split_once('/'), Some((role, session)) if is_name(role) && is_name(session))
            }
            ("sts", "federated-user", Some(r)) => is_name(r),
            _ => false,
        };
        ok.then_some(PrincipalArn {
            account,
            resource_type: rtype,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn principal_arns() {
        fn t(a: &str) -> Option<&str> {
            PrincipalArn::parse(a).map(|p| p.resource_type)
        }
        assert_eq!(t("arn:aws:iam::111122223333:root"), Some("root"));
        assert_eq!(t("arn:aws:iam::111122223333:user/alice"), Some("user"));
        assert_eq!(
            t("arn:aws:iam::111122223333:user/ops/eu/alice"),
            Some("user")
        );
        assert_eq!(t("arn:aws:iam::111122223333:role/app"), Some("role"));
        assert_eq!(
            t("arn:aws:sts::111122223333:assumed-role/app/s-1@x"),
            Some("assumed-role")
        );
        assert_eq!(
            t("arn:aws:sts::111122223333:federated-user/bob"),
            Some("federated-user")
        );
        assert_eq!(t("arn:aws-cn:iam::111122223333:root"), Some("root"));
        for bad in [
            "arn:aws:iam::111122223333:user/*",
            "arn:aws:iam::111122223333:user/al?ce",
            "arn:aws:iam::*:root",
            "arn:aws:iam::1111:root",
            "arn:aws:iam:us-east-1:111122223333:root",
            "arn:aws:iam::111122223333:group/admins",
            "arn:aws:iam::111122223333:user/",
            "arn:aws:iam::111122223333:user//x",
            "arn:aws:sts::111122223333:assumed-role/app",
            "arn:aws:kms::111122223333:root",
            "arn:aws:iam::111122223333:root/x",
            "AIDACKCEVSQ6C2EXAMPLE",
            "",
        ] {
            assert_eq!(t(bad), None, "{bad}");
        }
    }
}
