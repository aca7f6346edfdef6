//! Parsing a policy document into its compiled form.
//!
//! Grammar: <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_grammar.html>.
//! Element names are case-sensitive. KMS specifics
//! (<https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-overview.html>):
//! every key policy statement needs a principal; a statement missing `Action` or
//! `Resource` is accepted but has no effect (CreateKey/PutKeyPolicy `Policy` docs).

use std::collections::HashSet;

use serde_json::{Map, Value};

use crate::arn::{is_account_id, PrincipalArn};
use crate::condition::{self, Condition, Wild};
use crate::context::{PrincipalContext, PrincipalKind, RequestContext};
use crate::error::{PolicyError, SyntaxDetail, KEY_POLICY_MAX_BYTES};
use crate::glob::Pattern;

/// What a policy document is attached to; decides which elements it must and must not
/// have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyKind {
    /// A KMS key policy (resource-based): `Principal` required, ≤ 32 KiB.
    KeyPolicy,
    /// An IAM identity-based policy of a user or role: no `Principal`.
    IdentityPolicy,
    /// A role trust policy (resource-based, for `sts:` actions): `Principal` required,
    /// no `Resource`.
    TrustPolicy,
}

/// `Version`: only 2012-10-17 has policy variables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyVersion {
    V2008_10_17,
    V2012_10_17,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
}

/// One entry of a `Principal`/`NotPrincipal` element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrincipalEntry {
    /// `"*"` or `{"AWS": "*"}`: everyone.
    Any,
    /// An IAM/STS principal ARN; an account id is stored as `arn:aws:iam::ID:root`.
    Aws(String),
    /// `{"Service": "name.amazonaws.com"}`.
    Service(String),
    /// `{"Federated": "..."}` (a web identity or SAML provider). Trent has no federated
    /// callers, so it never matches; it is kept so the document round-trips.
    Federated(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Principals {
    /// No `Principal` element (identity policies).
    None,
    Principal(Vec<PrincipalEntry>),
    NotPrincipal(Vec<PrincipalEntry>),
}

/// Action/Resource lists, positive or negated. `None` (element absent, or an empty
/// list) never matches: KMS accepts such key policy statements but they have no effect.
#[derive(Debug, Clone, PartialEq)]
struct List<T> {
    negated: bool,
    items: Vec<T>,
}

/// A compiled statement.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub sid: Option<String>,
    pub effect: Effect,
    principals: Principals,
    actions: Option<List<Pattern>>,
    resources: Option<List<Wild>>,
    conditions: Vec<Condition>,
}

/// A parsed, validated and compiled policy. Cheap to evaluate many times; parse it once
/// when it is stored or loaded.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    kind: PolicyKind,
    version: PolicyVersion,
    id: Option<String>,
    statements: Vec<Statement>,
}

/// How a statement's principal element matched the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum PrincipalMatch {
    /// Only through the caller's account (`arn:aws:iam::ACCOUNT:root` named, caller not
    /// the root): in a key policy this delegates to the account's IAM policies.
    Account,
    /// The caller itself (its ARN, its role for a session, `*`, its service, or the root
    /// user when the root is named).
    Direct,
}

/// Walks a JSON document and keeps the first name found twice in one object (exactly the
/// same name, after unescaping), if any.
struct DuplicateScan(Option<String>);

impl<'de> serde::Deserialize<'de> for DuplicateScan {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(DuplicateScanVisitor)
    }
}

struct DuplicateScanVisitor;

impl<'de> serde::de::Visitor<'de> for DuplicateScanVisitor {
    type Value = DuplicateScan;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<DuplicateScan, E> {
        Ok(DuplicateScan(None))
    }
    fn visit_i64<E>(self, _: i64) -> Result<DuplicateScan, E> {
        Ok(DuplicateScan(None))
    }
    fn visit_u64<E>(self, _: u64) -> Result<DuplicateScan, E> {
        Ok(DuplicateScan(None))
    }
    fn visit_f64<E>(self, _: f64) -> Result<DuplicateScan, E> {
        Ok(DuplicateScan(None))
    }
    fn visit_str<E>(self, _: &str) -> Result<DuplicateScan, E> {
        Ok(DuplicateScan(None))
    }
    fn visit_unit<E>(self) -> Result<DuplicateScan, E> {
        Ok(DuplicateScan(None))
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(
        self,
        mut seq: A,
    ) -> Result<DuplicateScan, A::Error> {
        let mut first = None;
        while let Some(DuplicateScan(found)) = seq.next_element()? {
            first = first.or(found);
        }
        Ok(DuplicateScan(first))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(
        self,
        mut map: A,
    ) -> Result<DuplicateScan, A::Error> {
        let mut names = HashSet::new();
        let mut first = None;
        while let Some(name) = map.next_key::<String>()? {
            let DuplicateScan(found) = map.next_value()?;
            if first.is_none() && names.contains(&name) {
                first = Some(name);
            } else {
                names.insert(name);
            }
            first = first.or(found);
        }
        Ok(DuplicateScan(first))
    }
}

impl Policy {
    /// Parses and compiles a policy document of the given kind.
    pub fn parse(json: &str, kind: PolicyKind) -> Result<Policy, PolicyError> {
        if kind == PolicyKind::KeyPolicy && json.len() > KEY_POLICY_MAX_BYTES {
            return Err(PolicyError::TooLarge {
                len: json.len(),
                limit: KEY_POLICY_MAX_BYTES,
            });
        }
        // JSON leaves duplicate names to the reader; serde_json keeps the last one, while
        // GetKeyPolicy returns the text as stored, so the document would say one thing and
        // enforce another (`"Effect":"Deny","Effect":"Allow"`): refused.
        let DuplicateScan(duplicate) = serde_json::from_str(json)
            .map_err(|_| PolicyError::syntax(SyntaxDetail::InvalidJson))?;
        if let Some(mut key) = duplicate {
            // Named in the message, but a policy can be 32 KiB: the first 128 characters.
            if let Some((cut, _)) = key.char_indices().nth(128) {
                key.truncate(cut);
                key.push_str("...");
            }
            return Err(PolicyError::DuplicateKey { key });
        }
        let doc: Value = serde_json::from_str(json)
            .map_err(|_| PolicyError::syntax(SyntaxDetail::InvalidJson))?;
        let Value::Object(doc) = doc else {
            return Err(PolicyError::syntax(SyntaxDetail::NotAnObject));
        };
        for name in doc.keys() {
            if !matches!(name.as_str(), "Version" | "Id" | "Statement") {
                return Err(PolicyError::UnknownField { name: name.clone() });
            }
        }
        let version = match doc.get("Version") {
            None => PolicyVersion::V2008_10_17,
            Some(Value::String(v)) if v == "2012-10-17" => PolicyVersion::V2012_10_17,
            Some(Value::String(v)) if v == "2008-10-17" => PolicyVersion::V2008_10_17,
            Some(Value::String(v)) => {
                return Err(PolicyError::syntax(SyntaxDetail::UnsupportedVersion {
                    version: v.clone(),
                }))
            }
            Some(_) => {
                return Err(PolicyError::syntax(SyntaxDetail::WrongType {
                    element: "Version",
                }))
            }
        };
        let id = match doc.get("Id") {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                return Err(PolicyError::syntax(SyntaxDetail::WrongType {
                    element: "Id",
                }))
            }
        };
        let raw: Vec<&Value> = match doc.get("Statement") {
            None => return Err(PolicyError::syntax(SyntaxDetail::MissingStatement)),
            Some(Value::Array(items)) => items.iter().collect(),
            Some(v @ Value::Object(_)) => vec![v],
            Some(_) => {
                return Err(PolicyError::syntax(SyntaxDetail::WrongType {
                    element: "Statement",
                }))
            }
        };
        if raw.is_empty() {
            return Err(PolicyError::syntax(SyntaxDetail::EmptyStatement));
        }
        let mut statements = Vec::with_capacity(raw.len());
        for s in raw {
            let Value::Object(s) = s else {
                return Err(PolicyError::syntax(SyntaxDetail::WrongType {
                    element: "Statement",
                }));
            };
            statements.push(parse_statement(s, kind, version)?);
        }
        let mut sids = HashSet::new();
        for sid in statements.iter().filter_map(|s| s.sid.as_deref()) {
            if !sid.is_empty() && !sids.insert(sid) {
                return Err(PolicyError::DuplicateSid {
                    sid: sid.to_owned(),
                });
            }
        }
        // IAM's own check, after the grammar: identity policies need the 2012 version.
        if kind == PolicyKind::IdentityPolicy && version != PolicyVersion::V2012_10_17 {
            return Err(PolicyError::VersionTooOld);
        }
        Ok(Policy {
            kind,
            version,
            id,
            statements,
        })
    }

    pub fn kind(&self) -> PolicyKind {
        self.kind
    }

    pub fn version(&self) -> PolicyVersion {
        self.version
    }

    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    pub fn statements(&self) -> &[Statement] {
        &self.statements
    }

    /// Every IAM/STS principal ARN the policy names (account ids as root ARNs), so the
    /// caller can refuse principals that do not exist, as KMS does ("The principals in
    /// the key policy must exist and be visible to KMS").
    pub fn aws_principals(&self) -> impl Iterator<Item = &str> {
        self.statements.iter().flat_map(|s| {
            let entries: &[PrincipalEntry] = match &s.principals {
                Principals::None => &[],
                Principals::Principal(e) | Principals::NotPrincipal(e) => e,
            };
            entries.iter().filter_map(|e| match e {
                PrincipalEntry::Aws(a) => Some(a.as_str()),
                _ => None,
            })
        })
    }
}

fn wrong(element: &'static str) -> PolicyError {
    PolicyError::syntax(SyntaxDetail::WrongType { element })
}

/// A string or a list of strings.
fn strings<'v>(v: &'v Value, element: &'static str) -> Result<Vec<&'v str>, PolicyError> {
    match v {
        Value::String(s) => Ok(vec![s.as_str()]),
        Value::Array(items) => items
            .iter()
            .map(|i| i.as_str().ok_or_else(|| wrong(element)))
            .collect(),
        _ => Err(wrong(element)),
    }
}

/// Returns the element present among a positive/negated pair, refusing both.
fn pair<'m>(
    s: &'m Map<String, Value>,
    pos: &str,
    neg: &str,
    both: SyntaxDetail,
) -> Result<Option<(bool, &'m Value)>, PolicyError> {
    match (s.get(pos), s.get(neg)) {
        (Some(_), Some(_)) => Err(PolicyError::syntax(both)),
        (Some(v), None) => Ok(Some((false, v))),
        (None, Some(v)) => Ok(Some((true, v))),
        (None, None) => Ok(None),
    }
}

fn parse_statement(
    s: &Map<String, Value>,
    kind: PolicyKind,
    version: PolicyVersion,
) -> Result<Statement, PolicyError> {
    for name in s.keys() {
        if !matches!(
            name.as_str(),
            "Sid"
                | "Effect"
                | "Principal"
                | "NotPrincipal"
                | "Action"
                | "NotAction"
                | "Resource"
                | "NotResource"
                | "Condition"
        ) {
            return Err(PolicyError::UnknownField { name: name.clone() });
        }
    }
    let variables = version == PolicyVersion::V2012_10_17;
    let sid = match s.get("Sid") {
        None => None,
        Some(Value::String(v)) => Some(v.clone()),
        Some(_) => return Err(wrong("Sid")),
    };
    if let (PolicyKind::IdentityPolicy, Some(sid)) = (kind, &sid) {
        if !sid.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(PolicyError::InvalidSid { sid: sid.clone() });
        }
    }
    let effect = match s.get("Effect") {
        None => return Err(PolicyError::syntax(SyntaxDetail::MissingEffect)),
        Some(Value::String(e)) if e == "Allow" => Effect::Allow,
        Some(Value::String(e)) if e == "Deny" => Effect::Deny,
        // IAM's grammar check is case-insensitive, its "legacy" parser is not.
        Some(Value::String(e))
            if e.eq_ignore_ascii_case("allow") || e.eq_ignore_ascii_case("deny") =>
        {
            return Err(PolicyError::LegacyParsing)
        }
        Some(Value::String(e)) => {
            return Err(PolicyError::syntax(SyntaxDetail::InvalidEffect {
                effect: e.clone(),
            }))
        }
        Some(_) => return Err(wrong("Effect")),
    };

    let principal = pair(
        s,
        "Principal",
        "NotPrincipal",
        SyntaxDetail::PrincipalAndNotPrincipal,
    )?;
    let principals = match (kind, principal) {
        (PolicyKind::IdentityPolicy, Some((neg, _))) => {
            return Err(PolicyError::ProhibitedField {
                field: if neg { "NotPrincipal" } else { "Principal" },
            })
        }
        (PolicyKind::IdentityPolicy, None) => Principals::None,
        (PolicyKind::KeyPolicy, None) => return Err(PolicyError::NoPrincipal),
        (PolicyKind::TrustPolicy, None) => return Err(PolicyError::MissingPrincipal),
        (_, Some((neg, v))) => {
            let entries = parse_principal(v, kind)?;
            if neg {
                Principals::NotPrincipal(entries)
            } else {
                Principals::Principal(entries)
            }
        }
    };

    let actions = match pair(s, "Action", "NotAction", SyntaxDetail::ActionAndNotAction)? {
        None => None,
        Some((negated, v)) => {
            let names = strings(v, if negated { "NotAction" } else { "Action" })?;
            let mut items = Vec::with_capacity(names.len());
            for a in names {
                validate_action(a, kind)?;
                items.push(Pattern::wild(a));
            }
            (!items.is_empty()).then_some(List { negated, items })
        }
    };
    if actions.is_none() && kind != PolicyKind::KeyPolicy {
        return Err(PolicyError::MissingAction);
    }

    let resources = match pair(
        s,
        "Resource",
        "NotResource",
        SyntaxDetail::ResourceAndNotResource,
    )? {
        None => None,
        Some((negated, v)) => {
            if kind == PolicyKind::TrustPolicy {
                return Err(PolicyError::ProhibitedField {
                    field: if negated { "NotResource" } else { "Resource" },
                });
            }
            let names = strings(v, if negated { "NotResource" } else { "Resource" })?;
            let mut items = Vec::with_capacity(names.len());
            for r in names {
                if r != "*" && !r.contains(':') {
                    return Err(PolicyError::InvalidResource {
                        resource: r.to_owned(),
                    });
                }
                items.push(Wild::new(r, variables));
            }
            (!items.is_empty()).then_some(List { negated, items })
        }
    };
    if resources.is_none() && kind == PolicyKind::IdentityPolicy {
        return Err(PolicyError::MissingResource);
    }
    // A trust policy has no Resource: the role it is attached to is the resource.
    let resources = match kind {
        PolicyKind::TrustPolicy => Some(List {
            negated: false,
            items: vec![Wild::Fixed(Pattern::Any)],
        }),
        _ => resources,
    };

    let conditions = match s.get("Condition") {
        None => Vec::new(),
        Some(v) => condition::parse_block(v, variables)?,
    };
    Ok(Statement {
        sid,
        effect,
        principals,
        actions,
        resources,
        conditions,
    })
}

fn validate_action(a: &str, kind: PolicyKind) -> Result<(), PolicyError> {
    if a == "*" {
        return Ok(());
    }
    let mut parts = a.split(':');
    let vendor = parts.next().unwrap_or("");
    match (parts.next(), parts.next()) {
        (None, _) => return Err(PolicyError::MissingVendor { name: a.to_owned() }),
        (Some(_), Some(_)) => {
            return Err(PolicyError::ActionWithTwoColons {
                action: a.to_owned(),
            })
        }
        (Some(_), None) => {}
    }
    let vendor_ok = vendor == "*"
        || (!vendor.is_empty()
            && vendor
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.'));
    if !vendor_ok {
        return Err(PolicyError::InvalidVendor {
            vendor: vendor.to_owned(),
        });
    }
    if kind == PolicyKind::TrustPolicy && !vendor.eq_ignore_ascii_case("sts") && vendor != "*" {
        return Err(PolicyError::NonStsActionInTrustPolicy {
            action: a.to_owned(),
        });
    }
    Ok(())
}

fn parse_principal(v: &Value, kind: PolicyKind) -> Result<Vec<PrincipalEntry>, PolicyError> {
    match v {
        Value::String(s) if s == "*" => Ok(vec![PrincipalEntry::Any]),
        Value::String(s) => Err(PolicyError::invalid_principal(kind, "AWS", s)),
        Value::Object(map) => {
            let mut out = Vec::new();
            for (ptype, vals) in map {
                let names: Vec<&str> = match vals {
                    Value::String(s) => vec![s.as_str()],
                    Value::Array(items) => items
                        .iter()
                        .map(|i| {
                            i.as_str().ok_or_else(|| {
                                PolicyError::invalid_principal(kind, ptype, &i.to_string())
                            })
                        })
                        .collect::<Result<_, _>>()?,
                    other => {
                        return Err(PolicyError::invalid_principal(
                            kind,
                            ptype,
                            &other.to_string(),
                        ))
                    }
                };
                for name in names {
                    out.push(
                        principal_entry(ptype, name)
                            .ok_or_else(|| PolicyError::invalid_principal(kind, ptype, name))?,
                    );
                }
            }
            if out.is_empty() {
                return Err(PolicyError::invalid_principal(kind, "AWS", ""));
            }
            Ok(out)
        }
        other => Err(PolicyError::invalid_principal(
            kind,
            "AWS",
            &other.to_string(),
        )),
    }
}

fn principal_entry(ptype: &str, name: &str) -> Option<PrincipalEntry> {
    match ptype {
        "AWS" if name == "*" => Some(PrincipalEntry::Any),
        "AWS" if is_account_id(name) => {
            Some(PrincipalEntry::Aws(format!("arn:aws:iam::{name}:root")))
        }
        // IAM paths may hold `*` and `?`, but a principal element matches exactly (a
        // wildcard matches part of no principal ARN): refused rather than read literally.
        // <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html>
        "AWS" if name.contains(['*', '?']) => None,
        "AWS" => PrincipalArn::parse(name)
            .ok()
            .map(|_| PrincipalEntry::Aws(name.to_owned())),
        "Service" => {
            let ok = name.contains('.')
                && name.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-'
                });
            ok.then(|| PrincipalEntry::Service(name.to_owned()))
        }
        "Federated" => {
            let ok = !name.is_empty() && !name.contains(char::is_whitespace) && !name.contains('*');
            ok.then(|| PrincipalEntry::Federated(name.to_owned()))
        }
        _ => None,
    }
}

impl Statement {
    /// How the statement's principal element matches the caller; `None` if it does not.
    /// Identity policy statements (no principal element) match their owner directly.
    pub(crate) fn principal_match(&self, p: &PrincipalContext) -> Option<PrincipalMatch> {
        match &self.principals {
            Principals::None => Some(PrincipalMatch::Direct),
            Principals::Principal(entries) => {
                entries.iter().filter_map(|e| entry_match(e, p)).max()
            }
            // NotPrincipal excludes the caller only when every identity the request
            // carries is listed: the principal, its role for a session, and its account.
            // That is why IAM says to list the account too when using NotPrincipal with
            // Deny; otherwise the whole account, the principal included, is denied.
            // <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_notprincipal.html>
            Principals::NotPrincipal(entries) => {
                let listed = |arn: &str| {
                    entries.iter().any(|e| match e {
                        PrincipalEntry::Any => true,
                        PrincipalEntry::Aws(a) => a == arn,
                        PrincipalEntry::Service(s) => p.kind == PrincipalKind::Service && s == arn,
                        PrincipalEntry::Federated(_) => false,
                    })
                };
                let mut all_listed = listed(&p.arn);
                if let PrincipalKind::AssumedRole { role_arn } = &p.kind {
                    all_listed &= listed(role_arn);
                }
                if !p.account_root.is_empty() && p.kind != PrincipalKind::Root {
                    all_listed &= listed(&p.account_root);
                }
                (!all_listed).then_some(PrincipalMatch::Direct)
            }
        }
    }

    /// Does the statement's `Principal` element list exactly this ARN (not `*`, not a
    /// role of which it is a session, not its account)?
    pub(crate) fn names_principal(&self, arn: &str) -> bool {
        match &self.principals {
            Principals::Principal(entries) => entries
                .iter()
                .any(|e| matches!(e, PrincipalEntry::Aws(a) if a == arn)),
            _ => false,
        }
    }

    /// Do the action, resource and conditions match the request?
    pub(crate) fn matches_request(&self, ctx: &RequestContext) -> bool {
        let Some(actions) = &self.actions else {
            return false;
        };
        let action_hit = actions.items.iter().any(|a| a.is_match(&ctx.action, true));
        if action_hit == actions.negated {
            return false;
        }
        let Some(resources) = &self.resources else {
            return false;
        };
        let resource_hit = resources
            .items
            .iter()
            .any(|r| r.is_match(&ctx.resource, ctx));
        if resource_hit == resources.negated {
            return false;
        }
        self.conditions_hold(ctx)
    }

    fn conditions_hold(&self, ctx: &RequestContext) -> bool {
        let deny = self.effect == Effect::Deny;
        self.conditions.iter().all(|c| c.eval(ctx, deny))
    }
}

fn entry_match(e: &PrincipalEntry, p: &PrincipalContext) -> Option<PrincipalMatch> {
    match e {
        PrincipalEntry::Any => Some(PrincipalMatch::Direct),
        PrincipalEntry::Aws(a) => {
            if *a == p.arn {
                return Some(PrincipalMatch::Direct);
            }
            // A role ARN names every session of the role.
            // <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html#principal-roles>
            if let PrincipalKind::AssumedRole { role_arn } = &p.kind {
                if a == role_arn {
                    return Some(PrincipalMatch::Direct);
                }
            }
            (!p.account_root.is_empty() && *a == p.account_root).then_some(PrincipalMatch::Account)
        }
        PrincipalEntry::Service(s) => {
            (p.kind == PrincipalKind::Service && *s == p.arn).then_some(PrincipalMatch::Direct)
        }
        PrincipalEntry::Federated(_) => None,
    }
}
