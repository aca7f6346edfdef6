//! IAM and STS principal ARNs, paths and names, exactly as IAM accepts them: the one
//! parser that the config loader, STS and the policy language share, so that a principal
//! one of them accepts is never one another cannot represent.
//!
//! - ARNs: <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_identifiers.html#identifiers-arns>
//! - Paths: `CreateUser`/`CreateRole` `Path`, pattern `(\u002F)|(\u002F[\u0021-\u007E]+\u002F)`,
//!   1 to 512 characters
//!   (<https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateUser.html>).
//! - User and role names: `[\w+=,.@-]+`, 1 to 64 characters
//!   (<https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateRole.html>,
//!   <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html>).
//! - Role session names: `[\w+=,.@-]*`, 2 to 64 characters
//!   (<https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html>).
//! - Federated user names: `[\w+=,.@-]*`, 2 to 32 characters
//!   (<https://docs.aws.amazon.com/STS/latest/APIReference/API_GetFederationToken.html>).

use std::fmt;

/// The longest IAM path, slashes included.
pub const MAX_PATH_LEN: usize = 512;
/// The longest IAM user or role name.
pub const MAX_NAME_LEN: usize = 64;
/// Role session names: 2 to 64 characters.
pub const ROLE_SESSION_NAME_LEN: std::ops::RangeInclusive<usize> = 2..=64;
/// Federated user names: 2 to 32 characters.
const FEDERATED_NAME_LEN: std::ops::RangeInclusive<usize> = 2..=32;

/// What a principal ARN names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArnKind {
    /// `arn:PARTITION:iam::ACCOUNT:root`
    Root,
    /// `arn:PARTITION:iam::ACCOUNT:user/PATH/NAME`
    User,
    /// `arn:PARTITION:iam::ACCOUNT:role/PATH/NAME`
    Role,
    /// `arn:PARTITION:sts::ACCOUNT:assumed-role/ROLE/SESSION`
    AssumedRole,
    /// `arn:PARTITION:sts::ACCOUNT:federated-user/NAME`
    FederatedUser,
}

impl ArnKind {
    /// The resource type of the ARN (`root`, `user`, `role`, `assumed-role`,
    /// `federated-user`).
    pub fn resource_type(self) -> &'static str {
        match self {
            ArnKind::Root => "root",
            ArnKind::User => "user",
            ArnKind::Role => "role",
            ArnKind::AssumedRole => "assumed-role",
            ArnKind::FederatedUser => "federated-user",
        }
    }
}

/// A well-formed IAM/STS principal ARN, split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrincipalArn<'a> {
    pub partition: &'a str,
    pub account: &'a str,
    pub kind: ArnKind,
    /// The IAM path of a user or role, with its leading and trailing slash (`/` for
    /// none); empty for the other kinds.
    pub path: &'a str,
    /// The user's or role's name (for a role session, its role's), or the federated
    /// user's; empty for the root.
    pub name: &'a str,
    /// A role session's name; empty for the other kinds.
    pub session: &'a str,
}

/// Why a string is not a principal ARN IAM would accept. `Display` names the part at
/// fault and IAM's rule for it, never more of the input than that part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArnError {
    /// Not `arn:PARTITION:iam|sts::ACCOUNT:RESOURCE`.
    NotAnArn,
    Partition(String),
    /// IAM and STS ARNs have no region.
    Region,
    Account(String),
    /// Not `root`, `user/...`, `role/...`, `assumed-role/...` or `federated-user/...`
    /// (or one of them under the wrong service).
    ResourceType(String),
    Path(String),
    /// The user's, role's or federated user's name (`what` says which).
    Name {
        what: &'static str,
        name: String,
    },
    SessionName(String),
}

impl fmt::Display for ArnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArnError::NotAnArn => f.write_str(
                "not an IAM or STS principal ARN (arn:aws:iam::ACCOUNT:root, arn:aws:iam::ACCOUNT:user/PATH/NAME, arn:aws:iam::ACCOUNT:role/PATH/NAME, arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION)",
            ),
            ArnError::Partition(p) => write!(f, "unknown partition {p:?}"),
            ArnError::Region => f.write_str("IAM and STS ARNs have no region"),
            ArnError::Account(a) => write!(f, "the account {a:?} must be 12 digits"),
            ArnError::ResourceType(t) => write!(
                f,
                "{t:?} is not a principal (root, user/, role/ in iam; assumed-role/, federated-user/ in sts)"
            ),
            ArnError::Path(p) => write!(
                f,
                "the path {p:?} must be / or start and end with / with printable ASCII (! to ~) between, at most {MAX_PATH_LEN} characters"
            ),
            ArnError::Name { what, name } => {
                let max = if *what == "federated user" { 32 } else { MAX_NAME_LEN };
                let min = if *what == "federated user" { 2 } else { 1 };
                write!(
                    f,
                    "the {what} name {name:?} must be {min} to {max} characters of letters, digits and _+=,.@-"
                )
            }
            ArnError::SessionName(s) => write!(
                f,
                "the role session name {s:?} must be 2 to 64 characters of letters, digits and _+=,.@-"
            ),
        }
    }
}

impl std::error::Error for ArnError {}

/// `[\w+=,.@-]`: the characters of IAM user, role and role session names (`\w` is ASCII
/// letters, digits and `_`).
pub fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_+=,.@-".contains(c)
}

pub fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// `aws`, `aws-cn`, `aws-us-gov`, `aws-iso-b`, ...
fn is_partition(s: &str) -> bool {
    s.strip_prefix("aws").is_some_and(|rest| {
        rest.is_empty()
            || rest.strip_prefix('-').is_some_and(|r| {
                r.split('-')
                    .all(|seg| !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_lowercase()))
            })
    })
}

fn is_name_of_len(s: &str, len: std::ops::RangeInclusive<usize>) -> bool {
    len.contains(&s.len()) && s.chars().all(is_name_char)
}

/// An IAM user or role name: `[\w+=,.@-]+`, 1 to 64 characters.
pub fn is_user_or_role_name(s: &str) -> bool {
    is_name_of_len(s, 1..=MAX_NAME_LEN)
}

/// A role session name: `[\w+=,.@-]*`, 2 to 64 characters.
pub fn is_role_session_name(s: &str) -> bool {
    is_name_of_len(s, ROLE_SESSION_NAME_LEN)
}

/// An IAM path: `/`, or `/` + printable ASCII (`!` to `~`) + `/`, at most 512 characters.
pub fn is_path(s: &str) -> bool {
    s.len() <= MAX_PATH_LEN
        && (s == "/"
            || (s.len() >= 3
                && s.starts_with('/')
                && s.ends_with('/')
                && s.bytes().all(|b| (0x21..=0x7e).contains(&b))))
}

/// Splits `PATH-WITHOUT-LEADING-SLASH/NAME` (what follows `user/` or `role/`) into the
/// path with its slashes and the name, each checked.
fn path_and_name<'a>(
    arn: &'a str,
    rest_start: usize,
    what: &'static str,
) -> Result<(&'a str, &'a str), ArnError> {
    // `rest_start` is the index of the slash after the resource type: the path is
    // `arn[rest_start..=last slash]`, the name what follows the last slash.
    let rest = &arn[rest_start..];
    let last = rest.rfind('/').unwrap_or(0);
    let (path, name) = (&rest[..=last], &rest[last + 1..]);
    if !is_path(path) {
        return Err(ArnError::Path(path.to_owned()));
    }
    if !is_user_or_role_name(name) {
        return Err(ArnError::Name {
            what,
            name: name.to_owned(),
        });
    }
    Ok((path, name))
}

impl<'a> PrincipalArn<'a> {
    /// Parses an IAM or STS principal ARN, accepting exactly what IAM can create.
    pub fn parse(arn: &'a str) -> Result<Self, ArnError> {
        let mut parts = arn.splitn(6, ':');
        let (Some("arn"), Some(partition), Some(service), Some(region), Some(account), Some(res)) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(ArnError::NotAnArn);
        };
        if service != "iam" && service != "sts" {
            return Err(ArnError::NotAnArn);
        }
        if !is_partition(partition) {
            return Err(ArnError::Partition(partition.to_owned()));
        }
        if !region.is_empty() {
            return Err(ArnError::Region);
        }
        if !is_account_id(account) {
            return Err(ArnError::Account(account.to_owned()));
        }
        // The index of `res` in `arn`: the five prefixes and their colons.
        let res_start = arn.len() - res.len();
        let (rtype, rest) = match res.split_once('/') {
            Some((t, r)) => (t, Some(r)),
            None => (res, None),
        };
        let mut p = PrincipalArn {
            partition,
            account,
            kind: ArnKind::Root,
            path: "",
            name: "",
            session: "",
        };
        match (service, rtype, rest) {
            ("iam", "root", None) => {}
            ("iam", "user" | "role", Some(_)) => {
                let (kind, what) = if rtype == "user" {
                    (ArnKind::User, "user")
                } else {
                    (ArnKind::Role, "role")
                };
                let (path, name) = path_and_name(arn, res_start + rtype.len(), what)?;
                p.kind = kind;
                p.path = path;
                p.name = name;
            }
            ("sts", "assumed-role", Some(r)) => {
                let Some((role, session)) = r.split_once('/') else {
                    return Err(ArnError::SessionName(String::new()));
                };
                if !is_user_or_role_name(role) {
                    return Err(ArnError::Name {
                        what: "role",
                        name: role.to_owned(),
                    });
                }
                if !is_role_session_name(session) {
                    return Err(ArnError::SessionName(session.to_owned()));
                }
                p.kind = ArnKind::AssumedRole;
                p.name = role;
                p.session = session;
            }
            ("sts", "federated-user", Some(r)) => {
                if !is_name_of_len(r, FEDERATED_NAME_LEN) {
                    return Err(ArnError::Name {
                        what: "federated user",
                        name: r.to_owned(),
                    });
                }
                p.kind = ArnKind::FederatedUser;
                p.name = r;
            }
            _ => return Err(ArnError::ResourceType(res.to_owned())),
        }
        Ok(p)
    }

    /// `root`, `user`, `role`, `assumed-role` or `federated-user`.
    pub fn resource_type(&self) -> &'static str {
        self.kind.resource_type()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn principal_arns() {
        fn t(a: &str) -> Option<&str> {
            PrincipalArn::parse(a).ok().map(|p| p.resource_type())
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
        assert_eq!(t("arn:aws-us-gov:iam::111122223333:root"), Some("root"));
        for bad in [
            "arn:aws:iam::111122223333:user/*",
            "arn:aws:iam::111122223333:user/al?ce",
            "arn:aws:iam::*:root",
            "arn:aws:iam::1111:root",
            "arn:aws:iam:us-east-1:111122223333:root",
            "arn:aws:iam::111122223333:group/admins",
            "arn:aws:iam::111122223333:user/",
            "arn:aws:iam::111122223333:user/x/",
            "arn:aws:sts::111122223333:assumed-role/app",
            "arn:aws:sts::111122223333:assumed-role/app/s",
            "arn:aws:sts::111122223333:user/alice",
            "arn:aws:iam::111122223333:assumed-role/app/session",
            "arn:aws:kms::111122223333:root",
            "arn:aws:iam::111122223333:root/x",
            "arn:aws-:iam::111122223333:root",
            "arn:awsx:iam::111122223333:root",
            "arn:AWS:iam::111122223333:root",
            "AIDACKCEVSQ6C2EXAMPLE",
            "",
        ] {
            assert_eq!(t(bad), None, "{bad}");
        }
    }

    #[test]
    fn paths_are_any_printable_ascii_as_iam_allows() {
        let p = PrincipalArn::parse("arn:aws:iam::111122223333:user/x~y/alice").unwrap();
        assert_eq!((p.kind, p.path, p.name), (ArnKind::User, "/x~y/", "alice"));
        let p = PrincipalArn::parse("arn:aws:iam::111122223333:role/a!b/c\"d/app").unwrap();
        assert_eq!(
            (p.kind, p.path, p.name),
            (ArnKind::Role, "/a!b/c\"d/", "app")
        );
        let p = PrincipalArn::parse("arn:aws:iam::111122223333:user/alice").unwrap();
        assert_eq!((p.path, p.name), ("/", "alice"));
        // `/` is itself in ! to ~: IAM's pattern allows an empty segment.
        let p = PrincipalArn::parse("arn:aws:iam::111122223333:user/a//alice").unwrap();
        assert_eq!(p.path, "/a//");
        // Space, DEL and non-ASCII are not in the path pattern.
        for bad in [
            "arn:aws:iam::111122223333:user/a b/alice",
            "arn:aws:iam::111122223333:user/a\u{7f}/alice",
            "arn:aws:iam::111122223333:user/é/alice",
        ] {
            assert!(
                matches!(PrincipalArn::parse(bad), Err(ArnError::Path(_))),
                "{bad}"
            );
        }
        // 512 characters of path, slashes included, and no more.
        let path = format!("/{}/", "p".repeat(510));
        let ok = format!("arn:aws:iam::111122223333:user{path}alice");
        assert_eq!(PrincipalArn::parse(&ok).unwrap().path, path);
        let long = format!("arn:aws:iam::111122223333:user/{}/alice", "p".repeat(511));
        assert!(matches!(PrincipalArn::parse(&long), Err(ArnError::Path(_))));
    }

    #[test]
    fn names_follow_iams_limits() {
        let name = |n: &str| {
            PrincipalArn::parse(&format!("arn:aws:iam::111122223333:user/{n}")).map(|_| ())
        };
        assert!(name(&"a".repeat(64)).is_ok());
        assert!(matches!(
            name(&"a".repeat(65)),
            Err(ArnError::Name { what: "user", .. })
        ));
        assert!(name("a_b+c=d,e.f@g-h").is_ok());
        assert!(name("a~b").is_err());
        let session = |s: &str| {
            PrincipalArn::parse(&format!("arn:aws:sts::111122223333:assumed-role/r/{s}"))
                .map(|_| ())
        };
        assert!(session("ab").is_ok());
        assert!(session(&"s".repeat(64)).is_ok());
        assert!(matches!(session("a"), Err(ArnError::SessionName(_))));
        assert!(matches!(
            session(&"s".repeat(65)),
            Err(ArnError::SessionName(_))
        ));
        assert!(session("a/b").is_err());
        let e = name("a~b").unwrap_err().to_string();
        assert!(e.contains("\"a~b\"") && e.contains("1 to 64"), "{e}");
    }
}
