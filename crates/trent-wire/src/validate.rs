//! The second decoding pass: the model's constraints, checked as AWS checks them.
//!
//! The generated `validate_*` functions call these helpers member by member, collecting
//! every violation (AWS reports them all, in member order). Paths are built only when a
//! violation is recorded, so a valid request costs no allocation here.

use std::sync::LazyLock;

use regex::Regex;

use crate::error::{Violation, ViolationValue};
use crate::support::WireEnum;

/// Where a violation is recorded, and the path of the structure being checked
/// (empty at the top level, `tags.1.member` inside a list).
pub(crate) struct Ctx {
    pub(crate) violations: Vec<Violation>,
}

impl Ctx {
    pub(crate) fn new() -> Self {
        Ctx {
            violations: Vec::new(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.violations.len()
    }

    pub(crate) fn push(
        &mut self,
        parent: &str,
        member: &str,
        value: ViolationValue,
        constraint: &str,
    ) {
        self.violations
            .push(Violation::new(join(parent, member), value, constraint));
    }
}

/// `parent.member`, or `member` at the top level.
pub(crate) fn join(parent: &str, member: &str) -> String {
    if parent.is_empty() {
        member.to_owned()
    } else {
        format!("{parent}.{member}")
    }
}

/// The path of the `index`-th (0-based) element of a list: AWS counts from 1.
pub(crate) fn element(parent: &str, member: &str, index: usize) -> String {
    format!(
        "{}.{}.member",
        join(parent, member),
        index.saturating_add(1)
    )
}

/// A required member: absent (or `null`) is `Member must not be null`.
pub(crate) fn required<T>(
    value: Option<T>,
    ctx: &mut Ctx,
    parent: &str,
    member: &str,
    hidden: bool,
) -> Option<T> {
    if value.is_none() {
        let shown = if hidden {
            ViolationValue::Hidden
        } else {
            ViolationValue::Null
        };
        ctx.push(parent, member, shown, "Member must not be null");
    }
    value
}

/// How a string value appears in a violation.
pub(crate) fn shown(value: &str, hidden: bool) -> ViolationValue {
    if hidden {
        ViolationValue::Hidden
    } else {
        ViolationValue::Shown(value.to_owned())
    }
}

/// The length of a string as AWS counts it: in characters, not bytes.
pub(crate) fn char_len(value: &str) -> usize {
    value.chars().count()
}

/// Whether `value` matches a model pattern (compiled anchored: Java's `matches`). A
/// pattern that failed to compile (a test proves none does) matches nothing.
pub(crate) fn matches(pattern: &LazyLock<Option<Regex>>, value: &str) -> bool {
    pattern.as_ref().is_some_and(|re| re.is_match(value))
}

/// Compiles a pattern the generator has already translated to the `regex` dialect.
pub(crate) fn compile(pattern: &str) -> Option<Regex> {
    Regex::new(pattern).ok()
}

/// An enumerated string member.
pub(crate) fn enum_value<E: WireEnum>(
    value: String,
    ctx: &mut Ctx,
    parent: &str,
    member: &str,
) -> Option<E> {
    let parsed = E::from_wire(&value);
    if parsed.is_none() {
        let constraint = format!("Member must satisfy enum value set: {}", E::VALUE_SET);
        ctx.push(parent, member, ViolationValue::Shown(value), &constraint);
    }
    parsed
}

/// A list of enumerated strings: one violation for the list if any element is not in
/// the set, as AWS reports constraints on list members.
pub(crate) fn enum_list<E: WireEnum>(
    values: Vec<String>,
    ctx: &mut Ctx,
    parent: &str,
    member: &str,
) -> Option<Vec<E>> {
    let parsed: Option<Vec<E>> = values.iter().map(|v| E::from_wire(v)).collect();
    if parsed.is_none() {
        let constraint = format!(
            "Member must satisfy constraint: [Member must satisfy enum value set: {}]",
            E::VALUE_SET
        );
        ctx.push(
            parent,
            member,
            ViolationValue::Shown(java_list(&values)),
            &constraint,
        );
    }
    parsed
}

/// A list as Java's `List.toString` prints it, which is how AWS shows it: `[a, b]`.
pub(crate) fn java_list(values: &[String]) -> String {
    format!("[{}]", values.join(", "))
}

/// An integer member: in range for the member's `i32`, or a violation of the bound it
/// exceeds with the value left out (AWS cannot print a number it could not hold).
pub(crate) fn int_value(
    value: i64,
    ctx: &mut Ctx,
    parent: &str,
    member: &str,
    min: i64,
    max: i64,
) -> Option<i32> {
    let Ok(narrow) = i32::try_from(value) else {
        if value > 0 {
            ctx.push(
                parent,
                member,
                ViolationValue::Hidden,
                &format!("Member must have value less than or equal to {max}"),
            );
        } else {
            ctx.push(
                parent,
                member,
                ViolationValue::Hidden,
                &format!("Member must have value greater than or equal to {min}"),
            );
        }
        return None;
    };
    let before = ctx.len();
    if value < min {
        ctx.push(
            parent,
            member,
            ViolationValue::Shown(value.to_string()),
            &format!("Member must have value greater than or equal to {min}"),
        );
    }
    if value > max {
        ctx.push(
            parent,
            member,
            ViolationValue::Shown(value.to_string()),
            &format!("Member must have value less than or equal to {max}"),
        );
    }
    (ctx.len() == before).then_some(narrow)
}
