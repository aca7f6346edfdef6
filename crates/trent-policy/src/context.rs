//! The request context: who calls, which action on which resource, and the condition
//! keys with their values.
//!
//! Condition key names are case-insensitive (IAM: "Condition key names are not case
//! sensitive"), including the part after the slash of `aws:PrincipalTag/`,
//! `aws:ResourceTag/`, `aws:RequestTag/` and `kms:EncryptionContext:` keys; values are
//! compared as each operator says.
//! <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition.html>

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use time::OffsetDateTime;

use crate::arn::ArnKind;

/// The kind of the calling principal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrincipalKind {
    /// The account root, `arn:aws:iam::ACCOUNT:root`.
    Root,
    /// An IAM user, `arn:aws:iam::ACCOUNT:user/PATH/NAME`.
    User,
    /// A role session, `arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`, with the ARN of
    /// the role (with its path), `arn:aws:iam::ACCOUNT:role/PATH/ROLE`.
    AssumedRole { role_arn: String },
    /// A federated user, `arn:aws:sts::ACCOUNT:federated-user/NAME`.
    FederatedUser,
    /// An AWS service principal such as `dynamodb.amazonaws.com`.
    Service,
}

/// The authenticated caller, as the policies see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrincipalContext {
    /// The caller's ARN (the session ARN for a role session; the service name for a
    /// service principal).
    pub arn: String,
    /// The caller's account id (empty for a service principal).
    pub account: String,
    pub kind: PrincipalKind,
    /// `arn:aws:iam::ACCOUNT:root`, precomputed for principal matching.
    pub(crate) account_root: String,
}

impl PrincipalContext {
    fn new(arn: String, account: String, kind: PrincipalKind) -> Self {
        let account_root = if account.is_empty() {
            String::new()
        } else {
            format!("arn:{}:iam::{account}:root", partition_of(&arn))
        };
        PrincipalContext {
            arn,
            account,
            kind,
            account_root,
        }
    }

    /// The root user of `account`.
    pub fn root(account: &str) -> Self {
        Self::new(
            format!("arn:aws:iam::{account}:root"),
            account.to_owned(),
            PrincipalKind::Root,
        )
    }

    /// Builds the context from an IAM or STS principal ARN (root, user, federated user).
    /// For a role session use [`PrincipalContext::assumed_role`], which also needs the
    /// role's ARN (a session ARN does not carry the role's path). `None` if `arn` is not
    /// such an ARN.
    pub fn from_arn(arn: &str) -> Option<Self> {
        let p = crate::arn::PrincipalArn::parse(arn).ok()?;
        let kind = match p.kind {
            ArnKind::Root => PrincipalKind::Root,
            ArnKind::User => PrincipalKind::User,
            ArnKind::FederatedUser => PrincipalKind::FederatedUser,
            ArnKind::Role | ArnKind::AssumedRole => return None,
        };
        Some(Self::new(arn.to_owned(), p.account.to_owned(), kind))
    }

    /// A role session: `session_arn` is `arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`,
    /// `role_arn` is `arn:aws:iam::ACCOUNT:role/PATH/ROLE`.
    pub fn assumed_role(session_arn: &str, role_arn: &str) -> Option<Self> {
        let s = crate::arn::PrincipalArn::parse(session_arn).ok()?;
        let r = crate::arn::PrincipalArn::parse(role_arn).ok()?;
        // The session must be of that very role (same partition, account and name).
        if s.kind != ArnKind::AssumedRole
            || r.kind != ArnKind::Role
            || s.partition != r.partition
            || s.account != r.account
            || s.name != r.name
        {
            return None;
        }
        Some(Self::new(
            session_arn.to_owned(),
            s.account.to_owned(),
            PrincipalKind::AssumedRole {
                role_arn: role_arn.to_owned(),
            },
        ))
    }

    /// An AWS service principal, e.g. `"ec2.amazonaws.com"`.
    pub fn service(name: &str) -> Self {
        Self::new(name.to_owned(), String::new(), PrincipalKind::Service)
    }

    /// The value of `aws:PrincipalArn`: the role ARN for a role session, else the ARN.
    /// <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-principalarn>
    pub fn principal_arn(&self) -> &str {
        match &self.kind {
            PrincipalKind::AssumedRole { role_arn } => role_arn,
            _ => &self.arn,
        }
    }

    /// The value of `aws:PrincipalType`.
    pub fn principal_type(&self) -> &'static str {
        match self.kind {
            PrincipalKind::Root => "Account",
            PrincipalKind::User => "User",
            PrincipalKind::AssumedRole { .. } => "AssumedRole",
            PrincipalKind::FederatedUser => "FederatedUser",
            PrincipalKind::Service => "Service",
        }
    }

    /// The ARN of the account root this principal belongs to.
    pub fn account_root_arn(&self) -> &str {
        &self.account_root
    }
}

fn partition_of(arn: &str) -> &str {
    arn.split(':')
        .nth(1)
        .filter(|p| !p.is_empty())
        .unwrap_or("aws")
}

/// One value of a condition key. Operators convert where IAM does: a string operator
/// compares a boolean as `"true"`/`"false"` and a number in decimal; a date operator
/// takes a number as epoch seconds and a string as ISO 8601 or epoch seconds.
#[derive(Debug, Clone, PartialEq)]
pub enum ContextValue {
    String(String),
    Bool(bool),
    Number(f64),
    Date(OffsetDateTime),
    Ip(IpAddr),
    Binary(Vec<u8>),
}

impl From<&str> for ContextValue {
    fn from(s: &str) -> Self {
        ContextValue::String(s.to_owned())
    }
}
impl From<String> for ContextValue {
    fn from(s: String) -> Self {
        ContextValue::String(s)
    }
}
impl From<bool> for ContextValue {
    fn from(b: bool) -> Self {
        ContextValue::Bool(b)
    }
}
impl From<i64> for ContextValue {
    fn from(n: i64) -> Self {
        ContextValue::Number(n as f64)
    }
}
impl From<u32> for ContextValue {
    fn from(n: u32) -> Self {
        ContextValue::Number(f64::from(n))
    }
}
impl From<f64> for ContextValue {
    fn from(n: f64) -> Self {
        ContextValue::Number(n)
    }
}
impl From<OffsetDateTime> for ContextValue {
    fn from(t: OffsetDateTime) -> Self {
        ContextValue::Date(t)
    }
}
impl From<IpAddr> for ContextValue {
    fn from(ip: IpAddr) -> Self {
        ContextValue::Ip(ip)
    }
}

/// A key's values: most keys have one, kept without a second allocation.
#[derive(Debug, Clone)]
enum Values {
    One(ContextValue),
    Many(Vec<ContextValue>),
}

impl Values {
    fn as_slice(&self) -> &[ContextValue] {
        match self {
            Values::One(v) => std::slice::from_ref(v),
            Values::Many(v) => v,
        }
    }
}

type Keys = HashMap<Cow<'static, str>, Values>;

/// The lowercase form of a condition key name.
fn lower(key: &str) -> Cow<'static, str> {
    Cow::Owned(key.to_ascii_lowercase())
}

/// Condition keys shared by many requests, built once: those of a KMS key (its spec,
/// usage, tags, ...) or of a principal (its ARN, account, tags, ...). A
/// [`RequestContext`] reads through its layers ([`RequestContext::with_layers`]) after
/// its own keys, which win.
#[derive(Debug, Clone, Default)]
pub struct ContextLayer {
    keys: Keys,
}

impl ContextLayer {
    pub fn new() -> Self {
        ContextLayer::default()
    }

    /// Sets a single-valued key.
    pub fn insert(&mut self, key: &str, value: impl Into<ContextValue>) -> &mut Self {
        self.keys.insert(lower(key), Values::One(value.into()));
        self
    }

    /// Sets a multi-valued key (an empty list: present, with no values).
    pub fn insert_all<V: Into<ContextValue>>(
        &mut self,
        key: &str,
        values: impl IntoIterator<Item = V>,
    ) -> &mut Self {
        self.keys.insert(
            lower(key),
            Values::Many(values.into_iter().map(Into::into).collect()),
        );
        self
    }

    /// The keys [`RequestContext::new`] derives from a principal, as a layer.
    pub fn of_principal(p: &PrincipalContext) -> ContextLayer {
        let mut layer = ContextLayer::new();
        if p.kind == PrincipalKind::Service {
            // Service principals carry their name instead of an ARN and account.
            layer.insert_static("aws:principalservicename", p.arn.as_str());
            return layer;
        }
        layer.insert_static("aws:principalarn", p.principal_arn());
        layer.insert_static("aws:principaltype", p.principal_type());
        if !p.account.is_empty() {
            layer.insert_static("aws:principalaccount", p.account.as_str());
            layer.insert_static("kms:calleraccount", p.account.as_str());
        }
        if p.kind == PrincipalKind::User {
            if let Some(name) = p.arn.rsplit('/').next() {
                layer.insert_static("aws:username", name);
            }
        }
        layer
    }

    /// Sets a single-valued key whose name is a lowercase literal.
    pub fn insert_static(
        &mut self,
        key: &'static str,
        value: impl Into<ContextValue>,
    ) -> &mut Self {
        debug_assert!(!key.bytes().any(|b| b.is_ascii_uppercase()), "{key}");
        self.keys
            .insert(Cow::Borrowed(key), Values::One(value.into()));
        self
    }
}

/// Everything the evaluator knows about one request.
///
/// [`RequestContext::new`] fills the keys that follow from the principal:
/// `aws:PrincipalArn`, `aws:PrincipalAccount`, `aws:PrincipalType`, `kms:CallerAccount`
/// and, for IAM users, `aws:username` (for a service principal only
/// `aws:PrincipalServiceName`). The caller adds the rest with
/// [`RequestContext::insert`] / [`RequestContext::insert_all`] (see the crate
/// documentation for the list of keys and their types), or shares keys built once
/// through [`ContextLayer`]s.
#[derive(Debug, Clone)]
pub struct RequestContext {
    pub principal: std::sync::Arc<PrincipalContext>,
    /// The IAM action, e.g. `kms:Encrypt`.
    pub action: String,
    /// The resource ARN (the key ARN), or `*` for operations on no resource
    /// (CreateKey, ListKeys, ...).
    pub resource: String,
    /// The request's own keys (over the layers').
    own: ContextLayer,
    /// Shared keys, read after the request's own, the first layer first.
    layers: [Option<std::sync::Arc<ContextLayer>>; 2],
    /// Layer keys [`RequestContext::remove`] took away.
    removed: Vec<String>,
    /// The `kms:encryptioncontext:*` keys (lowercase) that several encryption context
    /// keys differing only by case fill: single-valued keys that have more than one
    /// value (see [`RequestContext::insert_encryption_context`]).
    ambiguous: HashSet<String>,
}

impl RequestContext {
    pub fn new(
        principal: PrincipalContext,
        action: impl Into<String>,
        resource: impl Into<String>,
    ) -> Self {
        let layer = ContextLayer::of_principal(&principal);
        let mut ctx = RequestContext::with_layers(
            std::sync::Arc::new(principal),
            action,
            resource,
            None,
            None,
        );
        ctx.own = layer;
        ctx
    }

    /// A context whose principal keys, and any other shared ones, come from layers built
    /// once: `principal_layer` must be [`ContextLayer::of_principal`] of `principal`
    /// (with whatever else is the principal's), `shared` any other (a key's).
    pub fn with_layers(
        principal: std::sync::Arc<PrincipalContext>,
        action: impl Into<String>,
        resource: impl Into<String>,
        principal_layer: Option<std::sync::Arc<ContextLayer>>,
        shared: Option<std::sync::Arc<ContextLayer>>,
    ) -> Self {
        RequestContext {
            action: action.into(),
            resource: resource.into(),
            own: ContextLayer::new(),
            layers: [principal_layer, shared],
            removed: Vec::new(),
            ambiguous: HashSet::new(),
            principal,
        }
    }

    /// Adds a shared layer, read after the request's own keys and the layers before it;
    /// when both layer slots are taken, its keys are copied into the request's own, but
    /// for those the context already has (its own or an earlier layer's), which keep
    /// their values.
    pub fn add_layer(&mut self, layer: std::sync::Arc<ContextLayer>) {
        match self.layers.iter_mut().find(|l| l.is_none()) {
            Some(slot) => *slot = Some(layer),
            None => {
                for (k, v) in &layer.keys {
                    if self.lookup_lower(k).is_none() {
                        self.own.keys.insert(k.clone(), v.clone());
                    }
                }
            }
        }
    }

    /// Sets a single-valued key (replacing any previous values).
    pub fn insert(&mut self, key: &str, value: impl Into<ContextValue>) -> &mut Self {
        self.forget_ambiguity(key);
        self.own.insert(key, value);
        self
    }

    /// [`RequestContext::insert`] for a key whose name is a lowercase literal (no
    /// allocation for the name).
    pub fn insert_static(
        &mut self,
        key: &'static str,
        value: impl Into<ContextValue>,
    ) -> &mut Self {
        self.forget_ambiguity(key);
        self.own.insert_static(key, value);
        self
    }

    /// Sets a multi-valued key (replacing any previous values). An empty list is a key
    /// that is present with an empty set of values (`ForAllValues` is then true,
    /// `ForAnyValue` false, `Null` true).
    pub fn insert_all<V: Into<ContextValue>>(
        &mut self,
        key: &str,
        values: impl IntoIterator<Item = V>,
    ) -> &mut Self {
        self.forget_ambiguity(key);
        self.own.insert_all(key, values);
        self
    }

    /// A key set anew is no longer ambiguous (only encryption context keys ever are).
    fn forget_ambiguity(&mut self, key: &str) {
        if !self.ambiguous.is_empty() {
            self.ambiguous.remove(&key.to_ascii_lowercase());
        }
    }

    /// Sets the encryption context of a cryptographic request, replacing any previous
    /// one: `kms:EncryptionContext:KEY` = value for each pair, and
    /// `kms:EncryptionContextKeys` = every key.
    ///
    /// The context key in `kms:EncryptionContext:KEY` is not case-sensitive (condition key
    /// names are not), while encryption contexts are: `{"tenant":"A","Tenant":"B"}` gives
    /// the one key `kms:EncryptionContext:tenant` two values, and AWS's guidance is only
    /// "do not use pairs that differ only by case"
    /// (<https://docs.aws.amazon.com/kms/latest/APIReference/API_GrantConstraints.html>,
    /// <https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-encryption-context>).
    /// Such a key is marked ambiguous: a condition on it without a set operator must hold
    /// for each of its values in an Allow statement, and for one of them in a Deny, so
    /// that neither value can hide the other (see `Condition::eval`).
    pub fn insert_encryption_context<'a>(
        &mut self,
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> &mut Self {
        self.own
            .keys
            .retain(|k, _| !k.starts_with("kms:encryptioncontext:"));
        self.ambiguous.clear();
        let mut keys = Vec::new();
        for (k, v) in pairs {
            let name = format!("kms:encryptioncontext:{}", k.to_ascii_lowercase());
            let value = ContextValue::String(v.to_owned());
            match self.own.keys.get_mut(name.as_str()) {
                Some(values) => {
                    let mut all = values.as_slice().to_vec();
                    all.push(value);
                    *values = Values::Many(all);
                    self.ambiguous.insert(name);
                }
                None => {
                    self.own.keys.insert(Cow::Owned(name), Values::One(value));
                }
            }
            keys.push(ContextValue::String(k.to_owned()));
        }
        self.own.keys.insert(
            Cow::Borrowed("kms:encryptioncontextkeys"),
            Values::Many(keys),
        );
        self
    }

    /// Removes a key.
    pub fn remove(&mut self, key: &str) -> &mut Self {
        let key = key.to_ascii_lowercase();
        self.ambiguous.remove(&key);
        self.own.keys.remove(key.as_str());
        if self
            .layers
            .iter()
            .flatten()
            .any(|l| l.keys.contains_key(key.as_str()))
        {
            self.removed.push(key);
        }
        self
    }

    /// Is `key` (lowercase) a single-valued key that the request filled with several
    /// values (encryption context keys differing only by case)?
    pub(crate) fn is_ambiguous_lower(&self, key: &str) -> bool {
        self.ambiguous.contains(key)
    }

    /// The values of a key; `None` when the key is absent. `key` must already be
    /// lowercase (the parser lowercases condition keys once).
    pub(crate) fn lookup_lower(&self, key: &str) -> Option<&[ContextValue]> {
        if let Some(v) = self.own.keys.get(key) {
            return Some(v.as_slice());
        }
        if !self.removed.is_empty() && self.removed.iter().any(|r| r == key) {
            return None;
        }
        self.layers
            .iter()
            .flatten()
            .find_map(|l| l.keys.get(key))
            .map(Values::as_slice)
    }

    /// The values of a key (any case).
    pub fn values(&self, key: &str) -> Option<&[ContextValue]> {
        self.lookup_lower(&key.to_ascii_lowercase())
    }
}

#[cfg(test)]
mod layer_tests {
    use std::sync::Arc;

    use super::*;

    fn principal() -> PrincipalContext {
        PrincipalContext::from_arn("arn:aws:iam::111122223333:user/alice").unwrap()
    }

    #[test]
    fn layers_read_after_the_requests_own_keys_and_removal_hides_them() {
        let mut key = ContextLayer::new();
        key.insert("kms:KeySpec", "SYMMETRIC_DEFAULT")
            .insert_all("aws:TagKeys", ["a", "b"]);
        let p = principal();
        let principal_layer = Arc::new(ContextLayer::of_principal(&p));
        let mut ctx = RequestContext::with_layers(
            Arc::new(p),
            "kms:Encrypt",
            "*",
            Some(principal_layer),
            None,
        );
        ctx.add_layer(Arc::new(key));
        // What RequestContext::new would have filled, from the principal's layer.
        assert_eq!(
            ctx.values("aws:PrincipalArn"),
            Some(
                &[ContextValue::String(
                    "arn:aws:iam::111122223333:user/alice".into()
                )][..]
            )
        );
        assert_eq!(ctx.values("aws:username").map(<[_]>::len), Some(1));
        assert_eq!(ctx.values("KMS:KEYSPEC").map(<[_]>::len), Some(1));
        assert_eq!(ctx.values("aws:tagkeys").map(<[_]>::len), Some(2));
        // The request's own value wins; a removed key is absent, layer or not.
        ctx.insert("kms:KeySpec", "RSA_2048");
        assert_eq!(
            ctx.values("kms:keyspec"),
            Some(&[ContextValue::String("RSA_2048".into())][..])
        );
        ctx.remove("kms:KeySpec").remove("aws:TagKeys");
        assert_eq!(ctx.values("kms:keyspec"), None);
        assert_eq!(ctx.values("aws:tagkeys"), None);
        // A third layer has no slot: its keys join the request's own, under those there.
        let mut third = ContextLayer::new();
        third
            .insert("aws:SourceIp", IpAddr::from([10, 0, 0, 1]))
            .insert("aws:username", "mallory");
        ctx.add_layer(Arc::new(third));
        assert_eq!(ctx.values("aws:sourceip").map(<[_]>::len), Some(1));
        assert_eq!(
            ctx.values("aws:username"),
            Some(&[ContextValue::String("alice".into())][..])
        );
    }
}
