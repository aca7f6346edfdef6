//! The `Condition` element: every IAM condition operator, the `...IfExists` forms, the
//! `ForAnyValue:`/`ForAllValues:` set operators, and policy variables in values.
//!
//! Semantics (IAM User Guide, "Condition operators" and "Conditions with multiple
//! context keys or values"):
//! - Several operators in a block, and several keys under one operator: AND.
//! - Several values for one key: OR; for a negated operator (`StringNotEquals`,
//!   `NumericNotEquals`, `DateNotEquals`, `NotIpAddress`, `ArnNotEquals`, `ArnNotLike`,
//!   `StringNotLike`, `StringNotEqualsIgnoreCase`): NOR — the request value matches none.
//! - A key absent from the request: the condition is false, except for a negated
//!   operator (true), an `...IfExists` operator (true) and `Null`.
//! - `ForAllValues:` is true when every request value matches (also when the key is
//!   absent or its set is empty); `ForAnyValue:` when at least one does (false when
//!   absent or empty). With a negated operator the per-value test is "matches none of
//!   the policy values".
//! - Without a set operator a multi-valued key matches when any of its values does
//!   (negated: when none does).
//!
//! <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html>
//! <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html>

use std::borrow::Cow;
use std::net::IpAddr;

use base64::Engine;
use serde_json::Value;
use time::format_description::well_known::{Iso8601, Rfc3339};
use time::{Date, OffsetDateTime, PrimitiveDateTime};

use crate::context::{ContextValue, RequestContext};
use crate::error::{PolicyError, SyntaxDetail};
use crate::glob::{push_lit, push_wild, Pattern, Tok};

/// The base comparison of an operator (negation is a flag).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmp {
    StrEq,
    StrEqCi,
    StrLike,
    NumEq,
    NumLt,
    NumLe,
    NumGt,
    NumGe,
    DateEq,
    DateLt,
    DateLe,
    DateGt,
    DateGe,
    Bool,
    Binary,
    Ip,
    Arn,
    Null,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SetOp {
    ForAnyValue,
    ForAllValues,
}

/// The operator table: name → (comparison, negated).
fn operator(name: &str) -> Option<(Cmp, bool)> {
    Some(match name {
        "StringEquals" => (Cmp::StrEq, false),
        "StringNotEquals" => (Cmp::StrEq, true),
        "StringEqualsIgnoreCase" => (Cmp::StrEqCi, false),
        "StringNotEqualsIgnoreCase" => (Cmp::StrEqCi, true),
        "StringLike" => (Cmp::StrLike, false),
        "StringNotLike" => (Cmp::StrLike, true),
        "NumericEquals" => (Cmp::NumEq, false),
        "NumericNotEquals" => (Cmp::NumEq, true),
        "NumericLessThan" => (Cmp::NumLt, false),
        "NumericLessThanEquals" => (Cmp::NumLe, false),
        "NumericGreaterThan" => (Cmp::NumGt, false),
        "NumericGreaterThanEquals" => (Cmp::NumGe, false),
        "DateEquals" => (Cmp::DateEq, false),
        "DateNotEquals" => (Cmp::DateEq, true),
        "DateLessThan" => (Cmp::DateLt, false),
        "DateLessThanEquals" => (Cmp::DateLe, false),
        "DateGreaterThan" => (Cmp::DateGt, false),
        "DateGreaterThanEquals" => (Cmp::DateGe, false),
        "Bool" => (Cmp::Bool, false),
        "BinaryEquals" => (Cmp::Binary, false),
        "IpAddress" => (Cmp::Ip, false),
        "NotIpAddress" => (Cmp::Ip, true),
        // IAM documents ArnEquals and ArnLike identically: each of the six
        // colon-separated parts is matched on its own, with `*` and `?`.
        "ArnEquals" | "ArnLike" => (Cmp::Arn, false),
        "ArnNotEquals" | "ArnNotLike" => (Cmp::Arn, true),
        "Null" => (Cmp::Null, false),
        _ => return None,
    })
}

/// A piece of a condition value or a resource: literal text, a character escaped with
/// `${*}`/`${?}`/`${$}`, or a policy variable `${key}` / `${key, 'default'}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Piece {
    Text(String),
    Escaped(char),
    Var {
        key: String,
        default: Option<String>,
    },
}

/// Splits a value into pieces. Policy variables exist only in `Version` 2012-10-17
/// policies; in older ones `${...}` is plain text.
/// <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html>
pub(crate) fn pieces(s: &str, variables: bool) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut text = String::new();
    let mut rest = s;
    while !rest.is_empty() {
        if variables {
            if let Some(after) = rest.strip_prefix("${") {
                if let Some(end) = after.find('}') {
                    let inner = &after[..end];
                    let piece = match inner {
                        "*" => Some(Piece::Escaped('*')),
                        "?" => Some(Piece::Escaped('?')),
                        "$" => Some(Piece::Escaped('$')),
                        _ => parse_var(inner),
                    };
                    if let Some(p) = piece {
                        if !text.is_empty() {
                            out.push(Piece::Text(std::mem::take(&mut text)));
                        }
                        out.push(p);
                        rest = &after[end + 1..];
                        continue;
                    }
                }
            }
        }
        let c = rest.chars().next().unwrap_or('\0');
        text.push(c);
        rest = &rest[c.len_utf8()..];
    }
    if !text.is_empty() {
        out.push(Piece::Text(text));
    }
    out
}

/// `aws:username` or `aws:PrincipalTag/team, 'default value'`.
fn parse_var(inner: &str) -> Option<Piece> {
    let (key, default) = match inner.split_once(',') {
        Some((k, d)) => {
            let d = d.trim();
            let d = d.strip_prefix('\'')?.strip_suffix('\'')?;
            (k.trim(), Some(d.to_owned()))
        }
        None => (inner.trim(), None),
    };
    let valid = key.contains(':')
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ":/-_.@+=,".contains(c));
    valid.then(|| Piece::Var {
        key: key.to_ascii_lowercase(),
        default,
    })
}

fn has_vars(p: &[Piece]) -> bool {
    p.iter().any(|p| matches!(p, Piece::Var { .. }))
}

/// The string form of a single-valued key, for variable substitution.
fn value_text(v: &ContextValue) -> Cow<'_, str> {
    match v {
        ContextValue::String(s) => Cow::Borrowed(s),
        ContextValue::Bool(b) => Cow::Borrowed(if *b { "true" } else { "false" }),
        ContextValue::Number(n) => Cow::Owned(number_text(*n)),
        ContextValue::Date(d) => Cow::Owned(d.format(&Rfc3339).unwrap_or_default()),
        ContextValue::Ip(ip) => Cow::Owned(ip.to_string()),
        ContextValue::Binary(b) => Cow::Owned(base64::engine::general_purpose::STANDARD.encode(b)),
    }
}

fn number_text(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

/// Resolves a variable: a present single-valued key, else the default. Multi-valued keys
/// cannot be policy variables.
fn resolve<'c>(
    ctx: &'c RequestContext,
    key: &str,
    default: &'c Option<String>,
) -> Option<Cow<'c, str>> {
    match ctx.lookup_lower(key) {
        Some([v]) => Some(value_text(v)),
        _ => default.as_deref().map(Cow::Borrowed),
    }
}

/// A value compared exactly (no wildcards), possibly with variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Text {
    Plain(String),
    Vars(Vec<Piece>),
}

impl Text {
    fn new(s: &str, variables: bool) -> Self {
        let p = pieces(s, variables);
        if has_vars(&p) {
            return Text::Vars(p);
        }
        let mut plain = String::new();
        for piece in p {
            match piece {
                Piece::Text(t) => plain.push_str(&t),
                Piece::Escaped(c) => plain.push(c),
                Piece::Var { .. } => {}
            }
        }
        Text::Plain(plain)
    }

    /// The value for this request; `None` if a variable cannot be resolved.
    fn get<'s>(&'s self, ctx: &'s RequestContext) -> Option<Cow<'s, str>> {
        match self {
            Text::Plain(s) => Some(Cow::Borrowed(s)),
            Text::Vars(p) => {
                let mut out = String::new();
                for piece in p {
                    match piece {
                        Piece::Text(t) => out.push_str(t),
                        Piece::Escaped(c) => out.push(*c),
                        Piece::Var { key, default } => out.push_str(&resolve(ctx, key, default)?),
                    }
                }
                Some(Cow::Owned(out))
            }
        }
    }
}

/// A wildcard value (`StringLike`, `ArnLike`, `Resource`), possibly with variables.
/// Characters from `${*}`/`${?}` and from substituted values are literal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Wild {
    Fixed(Pattern),
    Vars(Vec<Piece>),
}

impl Wild {
    pub(crate) fn new(s: &str, variables: bool) -> Self {
        let p = pieces(s, variables);
        if has_vars(&p) {
            return Wild::Vars(p);
        }
        let mut toks = Vec::new();
        for piece in &p {
            match piece {
                Piece::Text(t) => push_wild(&mut toks, t),
                Piece::Escaped(c) => push_lit(&mut toks, c.encode_utf8(&mut [0u8; 4])),
                Piece::Var { .. } => {}
            }
        }
        Wild::Fixed(Pattern::from_toks(toks))
    }

    pub(crate) fn is_match(&self, s: &str, ctx: &RequestContext) -> bool {
        match self {
            Wild::Fixed(p) => p.is_match(s, false),
            Wild::Vars(pieces) => {
                let mut toks: Vec<Tok> = Vec::with_capacity(pieces.len());
                for piece in pieces {
                    match piece {
                        Piece::Text(t) => push_wild(&mut toks, t),
                        Piece::Escaped(c) => push_lit(&mut toks, c.encode_utf8(&mut [0u8; 4])),
                        Piece::Var { key, default } => match resolve(ctx, key, default) {
                            Some(v) => push_lit(&mut toks, &v),
                            None => return false,
                        },
                    }
                }
                crate::glob::matches(&toks, s, false)
            }
        }
    }
}

/// An `ArnLike` value: six parts matched separately, so `*` never crosses a `:` before
/// the resource part.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ArnPattern {
    parts: Vec<Wild>,
}

fn arn_parts(s: &str) -> Option<[&str; 6]> {
    let mut it = s.splitn(6, ':');
    Some([
        it.next()?,
        it.next()?,
        it.next()?,
        it.next()?,
        it.next()?,
        it.next()?,
    ])
}

impl ArnPattern {
    fn new(s: &str, variables: bool) -> Self {
        match arn_parts(s) {
            Some(parts) => ArnPattern {
                parts: parts.iter().map(|p| Wild::new(p, variables)).collect(),
            },
            // Not ARN-shaped: a colon-free value (`*`) is one pattern over the whole
            // request value; anything else with too few parts matches nothing.
            None if !s.contains(':') => ArnPattern {
                parts: vec![Wild::new(s, variables)],
            },
            None => ArnPattern { parts: Vec::new() },
        }
    }

    fn is_match(&self, s: &str, ctx: &RequestContext) -> bool {
        match self.parts.as_slice() {
            [] => return false,
            [whole] => return whole.is_match(s, ctx),
            _ => {}
        }
        match arn_parts(s) {
            Some(v) => self.parts.iter().zip(v).all(|(p, v)| p.is_match(v, ctx)),
            None => false,
        }
    }
}

/// A CIDR block (a bare address is a /32 or /128), as `IpAddress` conditions read it; an
/// IPv4 block also holds the IPv4-mapped IPv6 addresses of its addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// `203.0.113.0/24`, `2001:db8::/32`, or a bare address; `None` if it is not one.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p.parse::<u8>().ok()?)),
            None => (s, None),
        };
        let net: IpAddr = addr.parse().ok()?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        (prefix <= max).then_some(Cidr { net, prefix })
    }

    /// Whether `ip` is in the block.
    pub fn contains(&self, ip: IpAddr) -> bool {
        fn mask128(prefix: u8) -> u128 {
            if prefix == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(prefix))
            }
        }
        match (self.net, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let m = (mask128(self.prefix) >> 96) as u32;
                u32::from(n) & m == u32::from(a) & m
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let m = mask128(self.prefix);
                u128::from(n) & m == u128::from(a) & m
            }
            // An IPv4-mapped IPv6 request address against an IPv4 block.
            (IpAddr::V4(_), IpAddr::V6(a)) => match a.to_ipv4_mapped() {
                Some(v4) => self.contains(IpAddr::V4(v4)),
                None => false,
            },
            (IpAddr::V6(_), IpAddr::V4(_)) => false,
        }
    }
}

/// Parses an IAM date: ISO 8601 (`2024-01-01T00:00:00Z`, with fractions or an offset,
/// `2024-01-01T00:00Z`, or a bare date meaning midnight UTC) or epoch seconds.
pub(crate) fn parse_date(s: &str) -> Option<i128> {
    let s = s.trim();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        let secs: i64 = s.parse().ok()?;
        return Some(i128::from(secs) * 1_000_000_000);
    }
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Some(t.unix_timestamp_nanos());
    }
    if let Ok(t) = OffsetDateTime::parse(s, &Iso8601::DEFAULT) {
        return Some(t.unix_timestamp_nanos());
    }
    // A date-time without offset is UTC.
    if let Ok(t) = PrimitiveDateTime::parse(s, &Iso8601::DEFAULT) {
        return Some(t.assume_utc().unix_timestamp_nanos());
    }
    if let Ok(d) = Date::parse(s, &Iso8601::DEFAULT) {
        return Some(d.midnight().assume_utc().unix_timestamp_nanos());
    }
    None
}

fn ctx_number(v: &ContextValue) -> Option<f64> {
    match v {
        ContextValue::Number(n) => Some(*n),
        ContextValue::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn ctx_date(v: &ContextValue) -> Option<i128> {
    match v {
        ContextValue::Date(d) => Some(d.unix_timestamp_nanos()),
        ContextValue::Number(n) if n.is_finite() => Some((*n * 1e9) as i128),
        ContextValue::String(s) => parse_date(s),
        _ => None,
    }
}

fn ctx_ip(v: &ContextValue) -> Option<IpAddr> {
    match v {
        ContextValue::Ip(ip) => Some(*ip),
        ContextValue::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Unicode case-insensitive equality without allocating.
fn eq_ignore_case(a: &str, b: &str) -> bool {
    a.chars()
        .flat_map(char::to_lowercase)
        .eq(b.chars().flat_map(char::to_lowercase))
}

/// The policy values of one (operator, key) pair, compiled for the operator.
#[derive(Debug, Clone, PartialEq)]
enum Values {
    Text(Vec<Text>),
    Like(Vec<Wild>),
    /// `None`: a value that is not a number never matches.
    Num(Vec<Option<f64>>),
    Date(Vec<i128>),
    Bool(Vec<Text>),
    /// `None`: a value that is not base64 never matches.
    Binary(Vec<Option<Vec<u8>>>),
    Ip(Vec<Option<Cidr>>),
    Arn(Vec<ArnPattern>),
    /// `Some(true)`: the key must be absent; `Some(false)`: present.
    Null(Vec<Option<bool>>),
}

/// One (operator, key) test of a statement's `Condition` block.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Condition {
    cmp: Cmp,
    negated: bool,
    if_exists: bool,
    set: Option<SetOp>,
    /// Lowercased: condition key names are case-insensitive.
    key: String,
    values: Values,
}

/// A JSON condition value as text: strings, and the numbers and booleans IAM also
/// accepts unquoted.
fn json_scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn condition_type_error() -> PolicyError {
    PolicyError::syntax(SyntaxDetail::WrongType {
        element: "Condition",
    })
}

/// Compiles a `Condition` element.
pub(crate) fn parse_block(v: &Value, variables: bool) -> Result<Vec<Condition>, PolicyError> {
    let Value::Object(ops) = v else {
        return Err(PolicyError::syntax(SyntaxDetail::WrongType {
            element: "Condition",
        }));
    };
    let mut out = Vec::new();
    for (op_name, keys) in ops {
        let Value::Object(keys) = keys else {
            return Err(PolicyError::syntax(SyntaxDetail::WrongType {
                element: "Condition",
            }));
        };
        let mut name = op_name.as_str();
        let set = if let Some(rest) = name.strip_prefix("ForAnyValue:") {
            name = rest;
            Some(SetOp::ForAnyValue)
        } else if let Some(rest) = name.strip_prefix("ForAllValues:") {
            name = rest;
            Some(SetOp::ForAllValues)
        } else {
            None
        };
        let (name, if_exists) = match name.strip_suffix("IfExists") {
            Some(base) => (base, true),
            None => (name, false),
        };
        let op = operator(name).filter(|(cmp, _)| !(if_exists && *cmp == Cmp::Null));
        let Some((cmp, negated)) = op else {
            // IAM tolerates an unknown operator only with nothing under it.
            if keys.is_empty() {
                continue;
            }
            return Err(PolicyError::syntax(
                SyntaxDetail::UnknownConditionOperator {
                    operator: op_name.clone(),
                },
            ));
        };
        for (key, vals) in keys {
            if !key.contains(':') {
                return Err(PolicyError::MissingVendor { name: key.clone() });
            }
            let raw: Vec<String> = match vals {
                Value::Array(items) => items
                    .iter()
                    .map(json_scalar)
                    .collect::<Option<_>>()
                    .ok_or_else(condition_type_error)?,
                other => vec![json_scalar(other).ok_or_else(condition_type_error)?],
            };
            let values = compile_values(cmp, &raw, variables)?;
            out.push(Condition {
                cmp,
                negated,
                if_exists,
                set,
                key: key.to_ascii_lowercase(),
                values,
            });
        }
    }
    Ok(out)
}

fn compile_values(cmp: Cmp, raw: &[String], variables: bool) -> Result<Values, PolicyError> {
    Ok(match cmp {
        Cmp::StrEq | Cmp::StrEqCi => {
            Values::Text(raw.iter().map(|s| Text::new(s, variables)).collect())
        }
        Cmp::StrLike => Values::Like(raw.iter().map(|s| Wild::new(s, variables)).collect()),
        Cmp::NumEq | Cmp::NumLt | Cmp::NumLe | Cmp::NumGt | Cmp::NumGe => Values::Num(
            raw.iter()
                .map(|s| s.trim().parse::<f64>().ok().filter(|n| n.is_finite()))
                .collect(),
        ),
        Cmp::DateEq | Cmp::DateLt | Cmp::DateLe | Cmp::DateGt | Cmp::DateGe => {
            // IAM refuses a date it cannot read ("The policy failed legacy parsing").
            Values::Date(
                raw.iter()
                    .map(|s| parse_date(s).ok_or(PolicyError::LegacyParsing))
                    .collect::<Result<_, _>>()?,
            )
        }
        Cmp::Bool => Values::Bool(raw.iter().map(|s| Text::new(s, variables)).collect()),
        Cmp::Binary => Values::Binary(
            raw.iter()
                .map(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
                .collect(),
        ),
        Cmp::Ip => Values::Ip(raw.iter().map(|s| Cidr::parse(s)).collect()),
        Cmp::Arn => Values::Arn(raw.iter().map(|s| ArnPattern::new(s, variables)).collect()),
        Cmp::Null => Values::Null(
            raw.iter()
                .map(|s| match s.to_ascii_lowercase().as_str() {
                    "true" => Some(true),
                    "false" => Some(false),
                    _ => None,
                })
                .collect(),
        ),
    })
}

impl Condition {
    /// Does the condition hold? `deny` says whether it is a Deny statement's: a
    /// single-valued key the request gave several values (encryption context keys that
    /// differ only by case, [`RequestContext::insert_encryption_context`]) must then
    /// satisfy the condition with one of them, and in an Allow statement with each of
    /// them, so that the ambiguity never widens what the policy allows.
    pub(crate) fn eval(&self, ctx: &RequestContext, deny: bool) -> bool {
        let present = ctx.lookup_lower(&self.key).filter(|v| !v.is_empty());
        if let Values::Null(wants) = &self.values {
            let is_null = present.is_none();
            return wants.contains(&Some(is_null));
        }
        let Some(request) = present else {
            if self.if_exists {
                return true;
            }
            return match self.set {
                Some(SetOp::ForAllValues) => true,
                Some(SetOp::ForAnyValue) => false,
                None => self.negated,
            };
        };
        let per_value = |r: &ContextValue| self.any_policy_value(r, ctx) != self.negated;
        if self.set.is_none() && request.len() > 1 && ctx.is_ambiguous_lower(&self.key) {
            // Each value on its own, as the single value of the key.
            return if deny {
                request.iter().any(per_value)
            } else {
                request.iter().all(per_value)
            };
        }
        match (self.set, self.negated) {
            (Some(SetOp::ForAllValues), _) | (None, true) => request.iter().all(per_value),
            (Some(SetOp::ForAnyValue), _) | (None, false) => request.iter().any(per_value),
        }
    }

    /// Does request value `r` match at least one policy value (positive comparison)?
    fn any_policy_value(&self, r: &ContextValue, ctx: &RequestContext) -> bool {
        match &self.values {
            Values::Text(vals) => {
                let r = value_text(r);
                vals.iter().any(|p| match p.get(ctx) {
                    Some(p) if self.cmp == Cmp::StrEqCi => eq_ignore_case(&p, &r),
                    Some(p) => *p == *r,
                    None => false,
                })
            }
            Values::Like(vals) => {
                let r = value_text(r);
                vals.iter().any(|p| p.is_match(&r, ctx))
            }
            Values::Num(vals) => {
                let Some(r) = ctx_number(r) else { return false };
                vals.iter().flatten().any(|p| match self.cmp {
                    Cmp::NumEq => r == *p,
                    Cmp::NumLt => r < *p,
                    Cmp::NumLe => r <= *p,
                    Cmp::NumGt => r > *p,
                    _ => r >= *p,
                })
            }
            Values::Date(vals) => {
                let Some(r) = ctx_date(r) else { return false };
                vals.iter().any(|p| match self.cmp {
                    Cmp::DateEq => r == *p,
                    Cmp::DateLt => r < *p,
                    Cmp::DateLe => r <= *p,
                    Cmp::DateGt => r > *p,
                    _ => r >= *p,
                })
            }
            Values::Bool(vals) => {
                let r: bool = match r {
                    ContextValue::Bool(b) => *b,
                    ContextValue::String(s) if s.eq_ignore_ascii_case("true") => true,
                    ContextValue::String(s) if s.eq_ignore_ascii_case("false") => false,
                    _ => return false,
                };
                vals.iter().any(|p| match p.get(ctx) {
                    Some(p) => p.eq_ignore_ascii_case(if r { "true" } else { "false" }),
                    None => false,
                })
            }
            Values::Binary(vals) => {
                let bytes: Cow<'_, [u8]> = match r {
                    ContextValue::Binary(b) => Cow::Borrowed(b),
                    ContextValue::String(s) => {
                        match base64::engine::general_purpose::STANDARD.decode(s) {
                            Ok(b) => Cow::Owned(b),
                            Err(_) => return false,
                        }
                    }
                    _ => return false,
                };
                vals.iter().flatten().any(|p| p.as_slice() == &*bytes)
            }
            Values::Ip(vals) => {
                let Some(ip) = ctx_ip(r) else { return false };
                vals.iter().flatten().any(|c| c.contains(ip))
            }
            Values::Arn(vals) => {
                let r = value_text(r);
                vals.iter().any(|p| p.is_match(&r, ctx))
            }
            Values::Null(_) => false,
        }
    }
}
