#!/usr/bin/env python3
"""Generate crates/trent-wire/src/generated.rs from AWS's KMS service model.

Usage: tools/gen_wire.py [path/to/service-2.json]
(default: model/aws-kms-model/service-2.json, relative to the repository root)

What comes out, all from the model:
  * one Rust enum per enumerated string shape;
  * one struct per structure reachable from an operation's input or output, with the
    model's member names (snake_case in Rust, exact in serde);
  * for the input side, a raw serde mirror and a `validate_*` function that checks the
    model's constraints the way AWS reports them (see crates/trent-wire/src/validate.rs);
  * the `Operation` table (target, IAM action, whether the input carries `GrantTokens`),
    the `Input`/`Output` impls, the `for_each_operation!` macro and the dispatch
    (`match_operation!`: operation -> request type -> handler), as s3s generates its own;
  * the `ErrorCode` table: every exception shape, plus the protocol-level errors AWS KMS
    answers with that are not in the model.

The generator refuses (raises) on any model feature it does not handle, rather than
emitting something approximate: if the model grows one, extend the generator.
"""

import html
import json
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = REPO / "model" / "aws-kms-model" / "service-2.json"
OUTPUT = REPO / "crates" / "trent-wire" / "src" / "generated.rs"

# Errors AWS KMS answers with that the model does not list (they come from AWS's request
# pipeline, before any operation runs). Status codes are what AWS sends on the JSON 1.1
# wire: every client-side error is 400 there.
PROTOCOL_ERRORS = [
    ("ValidationException", 400, "The request breaks a constraint of the service model."),
    ("SerializationException", 400, "The request body is not the JSON the operation takes."),
    ("UnrecognizedClientException", 400, "The access key ID is not known (`The security token included in the request is invalid.`)."),
    ("InvalidSignatureException", 400, "The SigV4 signature does not match the request."),
    ("IncompleteSignatureException", 400, "The `Authorization` header is malformed or incomplete."),
    ("MissingAuthenticationTokenException", 400, "The request is not signed (`Missing Authentication Token`)."),
    ("ExpiredTokenException", 400, "The session token has expired."),
    ("AccessDeniedException", 400, "The caller is not authorized for the operation on the resource."),
    ("NotAuthorizedException", 400, "The request names a resource reserved for AWS (`alias/aws/`)."),
    ("UnknownOperationException", 400, "The `X-Amz-Target` names no operation of the service."),
    ("ThrottlingException", 400, "The request rate is over the quota (`Rate exceeded`)."),
    ("RequestEntityTooLargeException", 413, "The request body is over the size limit."),
    ("InternalFailure", 500, "The request failed for an unknown reason inside the service."),
]

# Server-side faults of the model and their status. Everything else in the model is a
# client error: 400 on the wire. (The Smithy model's httpError traits say 404/409 for a
# few client errors, e.g. NotFoundException and KMSInvalidStateException, but those come
# from the legacy Query protocol; AWS KMS answers them with 400 over JSON 1.1, as recorded
# responses of the real service show.)
FAULT_STATUS = {"KMSInternalException": 500, "DependencyTimeoutException": 503, "KeyUnavailableException": 500}

RUST_KEYWORDS = {
    "as", "break", "const", "continue", "crate", "else", "enum", "extern", "false", "fn", "for", "if",
    "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref", "return", "self", "Self",
    "static", "struct", "super", "trait", "true", "type", "unsafe", "use", "where", "while", "async",
    "await", "dyn", "abstract", "become", "box", "do", "final", "macro", "override", "priv", "typeof",
    "unsized", "virtual", "yield", "try", "gen",
}

# Operations CloudTrail records as `"readOnly": true` besides Describe*/Get*/List*: the
# cryptographic operations, which change no state.
READ_ONLY_OPERATIONS = {
    "Decrypt", "DeriveSharedSecret", "Encrypt", "GenerateDataKey", "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext", "GenerateDataKeyWithoutPlaintext", "GenerateMac",
    "GenerateRandom", "ReEncrypt", "Sign", "Verify", "VerifyMac",
}


# ---------------------------------------------------------------------------- naming


def snake(name):
    """`AWSAccountId` -> `aws_account_id`, `KeyARN` -> `key_arn`."""
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s)
    return s.lower()


def field_name(member):
    name = snake(member)
    return f"r#{name}" if name in RUST_KEYWORDS else name


def upper_snake(name):
    return snake(name).upper()


def path_name(member):
    """The member as AWS names it in a violation path: `KeyId` -> `keyId`."""
    return member[:1].lower() + member[1:]


def variant_name(value):
    """`RSAES_OAEP_SHA_256` -> `RsaesOaepSha256`, `SM2` -> `Sm2`, `Enabled` -> `Enabled`."""
    if "_" in value or not any(c.islower() for c in value):
        name = "".join(p[:1].upper() + p[1:].lower() for p in value.split("_") if p)
    else:
        name = value
    if not re.fullmatch(r"[A-Z][A-Za-z0-9]*", name):
        raise ValueError(f"enum value {value!r} gives no Rust identifier")
    return name


def rust_str(s):
    return json.dumps(s, ensure_ascii=False)


def doc_lines(documentation, indent=""):
    """The first sentence of the model's HTML documentation, as `///` lines."""
    if not documentation:
        return []
    text = html.unescape(re.sub(r"<[^>]+>", " ", documentation))
    text = " ".join(text.split())
    m = re.match(r"(.+?[.!?])(\s|$)", text)
    text = m.group(1) if m else text
    if len(text) > 400:
        text = text[:397].rsplit(" ", 1)[0] + "..."
    for a, b in (("\\", "\\\\"), ("[", "\\["), ("]", "\\]"), ("<", "\\<"), (">", "\\>")):
        text = text.replace(a, b)
    return [f"{indent}/// {text}"] if text else []


# -------------------------------------------------------------------------- patterns


def translate_pattern(pattern):
    """A Java regex of the model -> the `regex` crate's dialect, anchored like Java's
    `String.matches` (the whole value must match)."""
    out = []
    i = 0
    in_class = False
    class_prev_range = False  # the last thing in the class was a complete range a-b
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            nxt = pattern[i + 1]
            if nxt == "u":
                out.append("\\x{" + pattern[i + 2 : i + 6] + "}")
                i += 6
                class_prev_range = False
                continue
            perl = {"w": ("[:word:]", "[[:word:]]"), "d": ("[:digit:]", "[[:digit:]]"),
                    "s": ("\\t\\n\\x0B\\x0C\\r ", "[\\t\\n\\x0B\\x0C\\r ]")}
            if nxt in perl:
                # Java's \w, \d and \s are ASCII-only; the regex crate's are Unicode.
                out.append(perl[nxt][0] if in_class else perl[nxt][1])
            elif nxt.isalnum():
                raise ValueError(f"unsupported escape \\{nxt} in {pattern!r}")
            elif nxt in "\\.+*?()|[]{}^$#&-~":
                out.append("\\" + nxt)
            else:
                out.append(nxt)  # e.g. `\/`: a literal that needs no escape
            i += 2
            class_prev_range = False
            continue
        if in_class:
            if c == "]":
                in_class = False
                out.append(c)
            elif c == "-" and class_prev_range and i + 1 < len(pattern) and pattern[i + 1] != "]":
                out.append("\\-")  # Java reads `0-9-_` as 0-9, '-', '_'
                class_prev_range = False
            elif i + 2 < len(pattern) and pattern[i + 1] == "-" and pattern[i + 2] != "]":
                out.append(pattern[i : i + 3])
                i += 3
                class_prev_range = True
                continue
            else:
                out.append(c)
                class_prev_range = False
        else:
            if c == "[":
                in_class = True
                class_prev_range = False
            out.append(c)
        i += 1
    return "^(?:" + "".join(out) + ")$"


# ----------------------------------------------------------------------------- model


class Model:
    def __init__(self, path):
        data = json.loads(Path(path).read_text())
        self.metadata = data["metadata"]
        self.operations = data["operations"]
        self.shapes = data["shapes"]
        self.inputs = set()
        self.outputs = set()
        for op in self.operations.values():
            if "input" in op:
                self._reach(op["input"]["shape"], self.inputs)
            if "output" in op:
                self._reach(op["output"]["shape"], self.outputs)
        self.structs = sorted(n for n in self.inputs | self.outputs if self.shapes[n]["type"] == "structure")
        self.enums = sorted(n for n, s in self.shapes.items() if s["type"] == "string" and "enum" in s)
        self.exceptions = [n for n, s in self.shapes.items() if s.get("exception")]
        self.patterns = {}  # shape name -> Rust static name

    def _reach(self, name, acc):
        if name in acc:
            return
        acc.add(name)
        shape = self.shapes[name]
        if shape["type"] == "structure":
            for member in shape["members"].values():
                self._reach(member["shape"], acc)
        elif shape["type"] == "list":
            self._reach(shape["member"]["shape"], acc)
        elif shape["type"] == "map":
            self._reach(shape["key"]["shape"], acc)
            self._reach(shape["value"]["shape"], acc)

    def sensitive(self, member):
        return bool(member.get("sensitive") or self.shapes[member["shape"]].get("sensitive"))

    def rust_type(self, shape_name, sensitive=False):
        shape = self.shapes[shape_name]
        t = shape["type"]
        if t == "string":
            if "enum" in shape:
                return shape_name
            return "crate::SensitiveString" if sensitive or shape.get("sensitive") else "String"
        if t == "blob":
            return "crate::SensitiveBlob" if sensitive or shape.get("sensitive") else "Vec<u8>"
        if t == "integer":
            return "i32"
        if t == "long":
            return "i64"
        if t == "boolean":
            return "bool"
        if t == "timestamp":
            return "crate::Timestamp"
        if t == "list":
            return f"Vec<{self.rust_type(shape['member']['shape'])}>"
        if t == "map":
            self.check_plain_map(shape_name)
            return "std::collections::BTreeMap<String, String>"
        if t == "structure":
            return shape_name
        raise ValueError(f"unsupported shape type {t} ({shape_name})")

    def check_plain_map(self, name):
        shape = self.shapes[name]
        for part in ("key", "value"):
            s = self.shapes[shape[part]["shape"]]
            if s["type"] != "string" or set(s) - {"type"}:
                raise ValueError(f"map {name}: only unconstrained string keys and values are supported")
        if set(shape) - {"type", "key", "value"}:
            raise ValueError(f"map {name}: constraints on maps are not supported")

    def default_able(self, name, seen=()):
        """Whether `#[derive(Default)]` works: no required enum member anywhere."""
        shape = self.shapes[name]
        for r in shape.get("required", []):
            target = self.shapes[shape["members"][r]["shape"]]
            if "enum" in target:
                return False
            if target["type"] == "structure" and name not in seen:
                if not self.default_able(shape["members"][r]["shape"], seen + (name,)):
                    return False
        return True


# ------------------------------------------------------------------------- emitters


class Writer:
    def __init__(self):
        self.lines = []

    def __call__(self, *lines):
        self.lines.extend(lines)

    def text(self):
        return "\n".join(self.lines) + "\n"


# The order in which AWS lists an enumeration's values in its ValidationException
# ("Member must satisfy enum value set: [...]"), where an answer of AWS's has been found;
# AWS does not use the model's order. Each entry must be a permutation of the model's
# values (the generator refuses otherwise, so that a value the model adds is not lost);
# enumerations not listed keep the model's order.
AWS_VALUE_SET_ORDER = {
    # localstack/localstack localstack-core/localstack/services/kms/provider.py
    # (_validate_mac_algorithm), LocalStack's KMS provider validated against AWS.
    "MacAlgorithmSpec": ["HMAC_SHA_384", "HMAC_SHA_256", "HMAC_SHA_224", "HMAC_SHA_512"],
}


def value_set(name, values):
    """The `[...]` list of a ValidationException: AWS's order where known."""
    order = AWS_VALUE_SET_ORDER.get(name)
    if order is None:
        return values
    if sorted(order) != sorted(values):
        raise ValueError(f"enum {name}: AWS_VALUE_SET_ORDER is not a permutation of the model's values")
    return order


def emit_enum(w, model, name):
    shape = model.shapes[name]
    values = shape["enum"]
    variants = [variant_name(v) for v in values]
    if len(set(variants)) != len(variants):
        raise ValueError(f"enum {name}: variant names collide")
    w(*doc_lines(shape.get("documentation")) or [f"/// The `{name}` enumeration of the service model."])
    if shape.get("deprecated"):
        w(f"///\n/// Deprecated in the model: {shape.get('deprecatedMessage', '')}")
    w("#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]", f"pub enum {name} {{")
    for v, var in zip(values, variants):
        w(f"    /// `{v}`", f"    {var},")
    w("}", "", f"impl {name} {{")
    w("    /// Every value, in the model's order.")
    w(f"    pub const ALL: &'static [Self] = &[{', '.join('Self::' + v for v in variants)}];")
    w("    /// Every value as it appears on the wire, in the model's order.")
    w(f"    pub const VALUES: &'static [&'static str] = &[{', '.join(rust_str(v) for v in values)}];", "")
    w("    /// The value on the wire.", "    pub const fn as_str(&self) -> &'static str {", "        match self {")
    for v, var in zip(values, variants):
        w(f"            Self::{var} => {rust_str(v)},")
    w("        }", "    }", "")
    w("    /// The variant of a wire value, if it is one.", "    pub fn parse(value: &str) -> Option<Self> {", "        match value {")
    for v, var in zip(values, variants):
        w(f"            {rust_str(v)} => Some(Self::{var}),")
    w("            _ => None,", "        }", "    }", "}", "")
    w(f"impl std::str::FromStr for {name} {{",
      "    type Err = crate::ParseEnumError;",
      "    fn from_str(value: &str) -> Result<Self, Self::Err> {",
      f"        Self::parse(value).ok_or(crate::ParseEnumError::new({rust_str(name)}))",
      "    }", "}", "")
    w(f"impl std::fmt::Display for {name} {{",
      "    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {",
      "        f.write_str(self.as_str())", "    }", "}", "")
    w(f"impl serde::Serialize for {name} {{",
      "    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {",
      "        serializer.serialize_str(self.as_str())", "    }", "}", "")
    w(f"impl<'de> serde::Deserialize<'de> for {name} {{",
      "    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {",
      "        let value = String::deserialize(deserializer)?;",
      "        Self::parse(&value).ok_or_else(|| serde::de::Error::unknown_variant(&value, Self::VALUES))",
      "    }", "}", "")
    w(f"impl crate::support::WireEnum for {name} {{",
      f"    const VALUE_SET: &'static str = {rust_str('[' + ', '.join(value_set(name, values)) + ']')};",
      "    fn from_wire(value: &str) -> Option<Self> {", "        Self::parse(value)", "    }", "}", "")


def serde_attrs(model, member_name, member, required):
    shape = model.shapes[member["shape"]]
    attrs = [f"rename = {rust_str(member_name)}"]
    if shape["type"] == "blob" and not model.sensitive(member):
        attrs.append('with = "crate::support::b64"' if required else 'with = "crate::support::b64_opt"')
    if shape["type"] == "list" and model.shapes[shape["member"]["shape"]]["type"] == "blob":
        raise ValueError(f"{member_name}: lists of blobs are not supported")
    if not required:
        attrs.append('default, skip_serializing_if = "Option::is_none"')
    return f"    #[serde({', '.join(attrs)})]"


def emit_struct(w, model, name, shape=None, doc=None):
    shape = shape if shape is not None else model.shapes[name]
    is_in = name in model.inputs
    is_out = name in model.outputs or shape.get("_synthetic_output")
    required = set(shape.get("required", []))
    lines = doc_lines(doc if doc is not None else shape.get("documentation"))
    w(*lines or [f"/// The `{name}` structure of the service model."])
    if is_out:
        w("#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]")
    elif model.default_able(name):
        w("#[derive(Debug, Clone, PartialEq, Default, serde::Serialize)]")
    else:
        w("#[derive(Debug, Clone, PartialEq, serde::Serialize)]")
    w(f"pub struct {name} {{")
    for member_name, member in shape["members"].items():
        req = member_name in required
        ty = model.rust_type(member["shape"], model.sensitive(member))
        w(*doc_lines(member.get("documentation"), "    "))
        if member.get("deprecated"):
            w(f"    ///\n    /// Deprecated in the model: {member.get('deprecatedMessage', '')}")
        w(serde_attrs(model, member_name, member, req))
        w(f"    pub {field_name(member_name)}: {ty if req else f'Option<{ty}>'},")
    w("}", "")


# ---- the input side: raw mirrors and validators


def raw_type(model, member):
    shape_name = member["shape"]
    shape = model.shapes[shape_name]
    t = shape["type"]
    sensitive = model.sensitive(member)
    if t == "string":
        return "raw::SecretStr" if sensitive else "raw::Str"
    if t == "blob":
        return "raw::SecretBlob" if sensitive else "raw::Blob"
    if t == "integer":
        return "raw::Int"
    if t == "boolean":
        return "raw::Bool"
    if t == "timestamp":
        return "raw::Time"
    if t == "map":
        model.check_plain_map(shape_name)
        return "raw::StrMap"
    if t == "structure":
        return f"raw::Struct<Raw{shape_name}>"
    if t == "list":
        inner = model.shapes[shape["member"]["shape"]]
        if inner["type"] == "string" and not inner.get("sensitive"):
            return "raw::List<raw::Str>"
        if inner["type"] == "structure":
            return f"raw::List<raw::Struct<Raw{shape['member']['shape']}>>"
        raise ValueError(f"input list {shape_name} of {inner['type']} is not supported")
    raise ValueError(f"input shape type {t} ({shape_name}) is not supported")


def emit_raw_struct(w, model, name):
    shape = model.shapes[name]
    w(f"/// `{name}` as read off the wire, before validation.")
    w("#[derive(serde::Deserialize)]", f"struct Raw{name} {{")
    for member_name, member in shape["members"].items():
        w(f"    #[serde(rename = {rust_str(member_name)})]")
        w(f"    {field_name(member_name)}: Option<{raw_type(model, member)}>,")
    w("}", "")


def pattern_static(model, shape_name):
    if shape_name not in model.patterns:
        model.patterns[shape_name] = f"PATTERN_{upper_snake(shape_name)}"
    return model.patterns[shape_name]


def string_constraints(model, shape_name):
    """The model's constraints on a string shape: (kind, failing condition, passing
    condition, AWS's text), over `value` and its character count `len`."""
    shape = model.shapes[shape_name]
    checks = []
    if shape.get("min", 0) > 0:
        n = shape["min"]
        checks.append(("len", f"len < {n}", f"len >= {n}", f"Member must have length greater than or equal to {n}"))
    if "max" in shape:
        n = shape["max"]
        checks.append(("len", f"len > {n}", f"len <= {n}", f"Member must have length less than or equal to {n}"))
    if "pattern" in shape:
        static = pattern_static(model, shape_name)
        checks.append(("re", f"!v::matches(&{static}, value)", f"v::matches(&{static}, value)",
                       f"Member must satisfy regular expression pattern: {shape['pattern']}"))
    return checks


def emit_check_fns(w, model, checked_strings, checked_blobs, list_members, list_shapes):
    """One checker per constrained scalar shape, shared by every member of that shape."""
    for shape_name in sorted(checked_strings):
        checks = string_constraints(model, shape_name)
        hidden = "true" if model.shapes[shape_name].get("sensitive") else "false"
        w(f"fn check_{snake(shape_name)}(value: &str, ctx: &mut v::Ctx, parent: &str, member: &str) {{")
        if any(c[0] == "len" for c in checks):
            w("    let len = v::char_len(value);")
        for _, cond, _, text in checks:
            w(f"    if {cond} {{", f"        ctx.push(parent, member, v::shown(value, {hidden}), {rust_str(text)});", "    }")
        w("}", "")
    for shape_name in sorted(checked_blobs):
        shape = model.shapes[shape_name]
        w(f"fn check_{snake(shape_name)}(len: usize, ctx: &mut v::Ctx, parent: &str, member: &str) {{")
        if shape.get("min", 0) > 0:
            w(f"    if len < {shape['min']} {{",
              f"        ctx.push(parent, member, ViolationValue::Hidden, {rust_str('Member must have length greater than or equal to ' + str(shape['min']))});",
              "    }")
        if "max" in shape:
            w(f"    if len > {shape['max']} {{",
              f"        ctx.push(parent, member, ViolationValue::Hidden, {rust_str('Member must have length less than or equal to ' + str(shape['max']))});",
              "    }")
        w("}", "")
    for shape_name in sorted(list_members):
        checks = string_constraints(model, shape_name)
        w(f"/// Whether a `{shape_name}` element meets its constraints.",
          f"fn ok_{snake(shape_name)}(value: &str) -> bool {{")
        if any(c[0] == "len" for c in checks):
            w("    let len = v::char_len(value);")
        oks = [ok for kind, _, ok, _ in checks if kind != "len"]
        shape = model.shapes[shape_name]
        lo, hi = shape.get("min", 0), shape.get("max")
        if hi is not None:
            oks.insert(0, f"(..={hi}).contains(&len)" if lo == 0 else f"({lo}..={hi}).contains(&len)")
        elif lo > 0:
            oks.insert(0, f"len >= {lo}")
        w("    " + (" && ".join(oks) or "true"), "}", "")
    for shape_name in sorted(list_shapes):
        shape = model.shapes[shape_name]
        member = shape["member"]["shape"]
        w(f"fn check_{snake(shape_name)}(values: &[String], ctx: &mut v::Ctx, parent: &str, member: &str) {{")
        if shape.get("min", 0) > 0:
            w(f"    if values.len() < {shape['min']} {{",
              f"        ctx.push(parent, member, ViolationValue::Shown(v::java_list(values)), {rust_str('Member must have length greater than or equal to ' + str(shape['min']))});",
              "    }")
        if "max" in shape:
            w(f"    if values.len() > {shape['max']} {{",
              f"        ctx.push(parent, member, ViolationValue::Shown(v::java_list(values)), {rust_str('Member must have length less than or equal to ' + str(shape['max']))});",
              "    }")
        texts = element_constraint_texts(model, member)
        if texts:
            summary = "Member must satisfy constraint: [" + ", ".join(texts) + "]"
            w(f"    if !values.iter().all(|value| ok_{snake(member)}(value)) {{",
              f"        ctx.push(parent, member, ViolationValue::Shown(v::java_list(values)), {rust_str(summary)});",
              "    }")
        w("}", "")


def element_constraint_texts(model, shape_name):
    """A list element's constraints, in the order AWS lists them: max, min, pattern."""
    shape = model.shapes[shape_name]
    texts = []
    if "max" in shape:
        texts.append(f"Member must have length less than or equal to {shape['max']}")
    if shape.get("min", 0) > 0:
        texts.append(f"Member must have length greater than or equal to {shape['min']}")
    if "pattern" in shape:
        texts.append(f"Member must satisfy regular expression pattern: {shape['pattern']}")
    return texts


def emit_validator(w, model, name, needs):
    """`validate_<name>`: raw struct -> typed struct, recording every violation."""
    shape = model.shapes[name]
    required = set(shape.get("required", []))
    members = list(shape["members"].items())
    header = len(w.lines)
    w(f"fn validate_{snake(name)}(raw: Raw{name}, ctx: &mut v::Ctx, parent: &str) -> Option<{name}> {{")
    if members:
        w("    let before = ctx.len();")
    fields = []
    for member_name, member in members:
        f = field_name(member_name)
        local = f.replace("r#", "m_")
        fields.append((f, local, member_name in required))
        shape_name = member["shape"]
        target = model.shapes[shape_name]
        t = target["type"]
        sensitive = model.sensitive(member)
        path = rust_str(path_name(member_name))
        w(f"    let {local} = raw.{f}.map(|r| r.0);")
        if member_name in required:
            hidden = "true" if sensitive else "false"
            w(f"    let {local} = v::required({local}, ctx, parent, {path}, {hidden});")
        if t == "string" and "enum" in target:
            w(f"    let {local} = {local}.and_then(|s| v::enum_value::<{shape_name}>(s, ctx, parent, {path}));")
        elif t == "string":
            if member.get("sensitive") and not target.get("sensitive"):
                raise ValueError(f"{name}.{member_name}: member-level sensitivity is not supported")
            if string_constraints(model, shape_name):
                needs["strings"].add(shape_name)
                expose = ".expose()" if sensitive else ""
                w(f"    if let Some(x) = &{local} {{", f"        check_{snake(shape_name)}(x{expose}, ctx, parent, {path});", "    }")
        elif t == "blob":
            if target.get("min", 0) > 0 or "max" in target:
                needs["blobs"].add(shape_name)
                w(f"    if let Some(x) = &{local} {{", f"        check_{snake(shape_name)}(x.len(), ctx, parent, {path});", "    }")
        elif t == "integer":
            if "min" not in target or "max" not in target:
                raise ValueError(f"integer shape {shape_name} without min and max is not supported")
            w(f"    let {local} = {local}.and_then(|n| v::int_value(n, ctx, parent, {path}, {target['min']}, {target['max']}));")
        elif t in ("boolean", "timestamp", "map"):
            pass
        elif t == "structure":
            w(f"    let {local} = {local}.and_then(|r| validate_{snake(shape_name)}(r, ctx, &v::join(parent, {path})));")
        elif t == "list":
            element_name = target["member"]["shape"]
            element = model.shapes[element_name]
            if element["type"] == "string" and "enum" in element:
                if target.get("min", 0) > 0 or "max" in target:
                    raise ValueError(f"list {shape_name}: length constraints on enum lists are not supported")
                w(f"    let {local} = {local}.and_then(|l| v::enum_list::<{element_name}>(l.into_iter().map(|s| s.0).collect(), ctx, parent, {path}));")
            elif element["type"] == "string":
                w(f"    let {local} = {local}.map(|l| l.into_iter().map(|s| s.0).collect::<Vec<String>>());")
                if target.get("min", 0) > 0 or "max" in target or element_constraint_texts(model, element_name):
                    needs["lists"].add(shape_name)
                    if element_constraint_texts(model, element_name):
                        needs["list_members"].add(element_name)
                    w(f"    if let Some(x) = &{local} {{", f"        check_{snake(shape_name)}(x, ctx, parent, {path});", "    }")
            elif element["type"] == "structure":
                if target.get("min", 0) > 0 or "max" in target:
                    raise ValueError(f"list {shape_name}: length constraints on structure lists are not supported")
                w(f"    let {local} = {local}.and_then(|l| {{",
                  "        let mut items = Vec::with_capacity(l.len());",
                  "        let mut all = true;",
                  "        for (i, item) in l.into_iter().enumerate() {",
                  f"            match validate_{snake(element_name)}(item.0, ctx, &v::element(parent, {path}, i)) {{",
                  "                Some(x) => items.push(x),",
                  "                None => all = false,",
                  "            }",
                  "        }",
                  "        all.then_some(items)",
                  "    });")
            else:
                raise ValueError(f"input list {shape_name} of {element['type']} is not supported")
        else:
            raise ValueError(f"input member {name}.{member_name} of type {t} is not supported")
    if members:
        w("    if ctx.len() != before {", "        return None;", "    }")
    else:
        w("    let _ = (raw, ctx, parent);")
    inits = []
    for f, local, req in fields:
        value = f"{local}?" if req else local
        inits.append(f if value == f else f"{f}: {value}")
    w(f"    Some({name} {{ {', '.join(inits)} }})", "}", "")
    if members and not any("parent" in line for line in w.lines[header + 1 :]):
        # Nothing of this structure is constrained: it never names its path.
        w.lines[header] = w.lines[header].replace("parent: &str", "_parent: &str")


# ---- operations and errors


def emit_operations(w, model):
    ops = sorted(model.operations)
    prefix = model.metadata["targetPrefix"]
    w("/// An operation of the AWS KMS API.", "#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]", "pub enum Operation {")
    for op in ops:
        w(*doc_lines(model.operations[op].get("documentation"), "    "), f"    {op},")
    w("}", "", "impl Operation {", "    /// Every operation, in alphabetical order.")
    w(f"    pub const ALL: &'static [Self] = &[{', '.join('Self::' + op for op in ops)}];", "")
    w("    /// The operation's name: `CreateKey`.", "    pub const fn name(&self) -> &'static str {", "        match self {")
    for op in ops:
        w(f"            Self::{op} => {rust_str(op)},")
    w("        }", "    }", "")
    w(f"    /// The `X-Amz-Target` header of the operation: `{prefix}.CreateKey`.",
      "    pub const fn target(&self) -> &'static str {", "        match self {")
    for op in ops:
        w(f"            Self::{op} => {rust_str(prefix + '.' + op)},")
    w("        }", "    }", "")
    w(f"    /// The operation an `X-Amz-Target` header names; exactly `{prefix}.<Name>`.",
      "    pub fn from_target(target: &str) -> Option<Self> {", "        match target {")
    for op in ops:
        w(f"            {rust_str(prefix + '.' + op)} => Some(Self::{op}),")
    w("            _ => None,", "        }", "    }", "")
    w("    /// The IAM action that authorizes the operation: `kms:<Name>` for every KMS operation.",
      "    pub const fn iam_action(&self) -> &'static str {", "        match self {")
    for op in ops:
        w(f"            Self::{op} => {rust_str('kms:' + op)},")
    w("        }", "    }", "")
    w("    /// Whether the operation's input carries `GrantTokens` (as the model says): its",
      "    /// tokens are then checked before it runs (see [`Input::grant_tokens`]).",
      "    pub const fn takes_grant_tokens(&self) -> bool {", "        match self {")
    for op in ops:
        w(f"            Self::{op} => {'true' if takes_grant_tokens(model, op) else 'false'},")
    w("        }", "    }", "")
    w("    /// Whether CloudTrail records the operation as `readOnly`: `Describe*`, `Get*`, `List*`",
      "    /// and the cryptographic operations, which change no state.",
      "    pub const fn is_read_only(&self) -> bool {", "        match self {")
    for op in ops:
        ro = op.startswith(("Describe", "Get", "List")) or op in READ_ONLY_OPERATIONS
        w(f"            Self::{op} => {'true' if ro else 'false'},")
    w("        }", "    }", "}", "")
    w("impl std::fmt::Display for Operation {",
      "    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {",
      "        f.write_str(self.name())", "    }", "}", "")


def emit_errors(w, model):
    rows = []
    for name in model.exceptions:
        shape = model.shapes[name]
        if shape.get("fault") and name not in FAULT_STATUS:
            raise ValueError(f"fault {name} has no status in FAULT_STATUS")
        rows.append((name, FAULT_STATUS.get(name, 400), doc_lines(shape.get("documentation"), "    "), True))
    for name, status, doc in PROTOCOL_ERRORS:
        if name in model.shapes:
            raise ValueError(f"protocol error {name} is in the model now")
        rows.append((name, status, [f"    /// Not in the model: {doc}"], False))
    w("/// An error AWS KMS answers with: every exception of the service model, plus the",
      "/// errors of AWS's request pipeline (authentication, decoding) that the model leaves out.",
      "#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]", "pub enum ErrorCode {")
    for name, _, doc, _ in rows:
        w(*doc, f"    {name},")
    w("}", "", "impl ErrorCode {", "    /// Every error code: the model's, then the protocol's.")
    w(f"    pub const ALL: &'static [Self] = &[{', '.join('Self::' + r[0] for r in rows)}];", "")
    w("    /// The `__type` of the error response: the shape name, without namespace.",
      "    pub const fn wire_name(&self) -> &'static str {", "        match self {")
    for name, _, _, _ in rows:
        w(f"            Self::{name} => {rust_str(name)},")
    w("        }", "    }", "")
    w("    /// The HTTP status AWS KMS answers the error with.",
      "    pub const fn http_status(&self) -> u16 {", "        match self {")
    by_status = {}
    for name, status, _, _ in rows:
        by_status.setdefault(status, []).append(name)
    for status, names in sorted(by_status.items()):
        w(f"            {' | '.join('Self::' + n for n in names)} => {status},")
    w("        }", "    }", "")
    w("    /// The code of a `__type` (`NotFoundException`, or namespaced",
      "    /// `com.amazonaws.kms#NotFoundException` as some AWS responses spell it).",
      "    pub fn from_wire_name(name: &str) -> Option<Self> {",
      "        let name = name.rsplit_once('#').map_or(name, |(_, n)| n);",
      "        match name {")
    for name, _, _, _ in rows:
        w(f"            {rust_str(name)} => Some(Self::{name}),")
    w("            _ => None,", "        }", "    }", "")
    w("    /// Whether the error is an exception shape of the service model.",
      "    pub const fn is_modeled(&self) -> bool {",
      f"        matches!(self, {' | '.join('Self::' + r[0] for r in rows if r[3])})",
      "    }", "}", "")
    w("impl std::fmt::Display for ErrorCode {",
      "    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {",
      "        f.write_str(self.wire_name())", "    }", "}", "")


def takes_grant_tokens(model, op):
    """Whether the operation's input structure has a `GrantTokens` member."""
    req, _ = op_io(model, op)
    return "GrantTokens" in model.shapes[req].get("members", {})


def op_io(model, op):
    o = model.operations[op]
    req = o["input"]["shape"] if "input" in o else f"{op}Request"
    resp = o["output"]["shape"] if "output" in o else f"{op}Response"
    return req, resp


def generate(model_path):
    model = Model(model_path)
    w = Writer()
    meta = model.metadata
    w("// @generated by tools/gen_wire.py from the AWS KMS service model",
      f"// ({meta['serviceFullName']}, API {meta['apiVersion']}). Do not edit: change the generator.",
      "",
      "//! The KMS wire types, operations and error codes, generated from `service-2.json`.",
      "",
      "use std::sync::LazyLock;",
      "",
      "use regex::Regex;",
      "",
      "use crate::error::{ValidationErrors, ViolationValue};",
      "use crate::validate as v;",
      "use crate::{raw, Input, Output, WireError};",
      "")
    # Operations without an input or output shape still get a type, so every row of
    # `for_each_operation!` is alike. (Every KMS operation has an input.)
    synthetic = {}
    for op in sorted(model.operations):
        req, resp = op_io(model, op)
        for shape_name, side in ((req, "input"), (resp, "output")):
            if side not in model.operations[op]:
                if shape_name in model.shapes:
                    raise ValueError(f"{shape_name} exists in the model but is not {op}'s {side}")
                synthetic[shape_name] = (op, side)
    for name, (op, side) in synthetic.items():
        if side == "input":
            raise ValueError(f"{op} has no input: not supported")
        model.shapes[name] = {"type": "structure", "members": {}, "_synthetic_output": True}
        model.outputs.add(name)

    w("// ------------------------------------------------------------------- enumerations", "")
    for name in model.enums:
        emit_enum(w, model, name)

    w("// --------------------------------------------------------------------- structures", "")
    for name in model.structs:
        emit_struct(w, model, name)
    for name, (op, _) in sorted(synthetic.items()):
        emit_struct(w, model, name, doc=f"The response of `{op}`, which has no members: `{{}}` on the wire.")
    for op in sorted(model.operations):
        _, resp = op_io(model, op)
        if resp != f"{op}Response":
            w(f"/// The response of `{op}`: the model reuses `{resp}`.", f"pub type {op}Response = {resp};", "")

    w("// ------------------------------------------------- decoding and validating inputs", "")
    needs = {"strings": set(), "blobs": set(), "lists": set(), "list_members": set()}
    input_structs = sorted(n for n in model.inputs if model.shapes[n]["type"] == "structure")
    for name in input_structs:
        emit_raw_struct(w, model, name)
    for name in input_structs:
        emit_validator(w, model, name, needs)
    emit_check_fns(w, model, needs["strings"], needs["blobs"], needs["list_members"], needs["lists"])
    for shape_name, static in sorted(model.patterns.items()):
        pattern = model.shapes[shape_name]["pattern"]
        w(f"/// `{shape_name}`: `{pattern}` (as Java's `matches`: anchored).",
          f"static {static}: LazyLock<Option<Regex>> = LazyLock::new(|| v::compile({rust_str(translate_pattern(pattern))}));", "")

    w("// ------------------------------------------------------------------------ operations", "")
    emit_operations(w, model)
    for op in sorted(model.operations):
        req, _ = op_io(model, op)
        w(f"impl Input for {req} {{",
          f"    const OPERATION: Operation = Operation::{op};",
          "    fn from_json(body: &[u8]) -> Result<Self, WireError> {",
          f"        let raw: Raw{req} = raw::decode_body(body)?;",
          "        let mut ctx = v::Ctx::new();",
          f"        match validate_{snake(req)}(raw, &mut ctx, \"\") {{",
          "            Some(request) if ctx.violations.is_empty() => Ok(request),",
          "            _ => Err(WireError::Validation(ValidationErrors::new(ctx.violations))),",
          "        }", "    }")
        if takes_grant_tokens(model, op):
            w("    fn grant_tokens(&self) -> Option<&[String]> {",
              "        self.grant_tokens.as_deref()", "    }")
        w("}", "")
    done = set()
    for op in sorted(model.operations):
        _, resp = op_io(model, op)
        if resp in done:
            continue
        done.add(resp)
        w(f"impl Output for {resp} {{", f"    const OPERATION: Operation = Operation::{op};", "}", "")

    w("/// Calls `$m!(Operation, RequestType, ResponseType, handler_name)` once per operation, e.g.",
      "/// `$m!(CreateKey, CreateKeyRequest, CreateKeyResponse, create_key);`. The types are bare",
      "/// identifiers of this crate: bring them into scope (`use trent_wire::*;`) at the call site.",
      "#[macro_export]", "macro_rules! for_each_operation {", "    ($m:ident) => {")
    for op in sorted(model.operations):
        req, resp = op_io(model, op)
        w(f"        $m!({op}, {req}, {resp}, {snake(op)});")
    w("    };", "}", "")

    w("/// The dispatch of an operation: expands to a `match` on `$op` (an [`Operation`]) whose",
      "/// arm for each operation is `$m!(Operation, RequestType, ResponseType, handler_name)`,",
      "/// e.g. `Operation::CreateKey => $m!(CreateKey, CreateKeyRequest, CreateKeyResponse,",
      "/// create_key)`. `$m` decodes the request (`Input::from_json`), checks its",
      "/// [`Input::grant_tokens`], calls the handler and encodes the response; the types are",
      "/// bare identifiers of this crate, as in `for_each_operation!`.",
      "#[macro_export]", "macro_rules! match_operation {", "    ($op:expr, $m:ident) => {",
      "        match $op {")
    for op in sorted(model.operations):
        req, resp = op_io(model, op)
        w(f"            $crate::Operation::{op} => $m!({op}, {req}, {resp}, {snake(op)}),")
    w("        }", "    };", "}", "")

    w("// ------------------------------------------------------------------------ error codes", "")
    emit_errors(w, model)

    w("// ------------------------------------------------------- registries for the tests", "")
    w("/// Every enumerated shape: its name and a parser returning the canonical wire value.",
      "#[cfg(test)]",
      "pub(crate) type EnumEntry = (&'static str, &'static [&'static str], fn(&str) -> Option<&'static str>);",
      "#[cfg(test)]",
      "pub(crate) static ENUMS: &[EnumEntry] = &[")
    for name in model.enums:
        w(f"    ({rust_str(name)}, {name}::VALUES, |s| {name}::parse(s).map(|x| x.as_str())),")
    w("];", "")
    w("/// Every structure type generated, by model name.", "#[cfg(test)]", "pub(crate) static STRUCTS: &[&str] = &[")
    for name in model.structs + sorted(synthetic):
        w(f"    {rust_str(name)},")
    w("];", "")
    w("/// Every pattern: model text and compiled form.", "#[cfg(test)]",
      "pub(crate) static PATTERNS: &[(&str, &LazyLock<Option<Regex>>)] = &[")
    for shape_name, static in sorted(model.patterns.items()):
        w(f"    ({rust_str(model.shapes[shape_name]['pattern'])}, &{static}),")
    w("];")
    return w.text()


def main():
    model_path = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_MODEL
    OUTPUT.write_text(generate(model_path))
    subprocess.run(["rustfmt", "--edition", "2021", str(OUTPUT)], check=True)
    print(f"wrote {OUTPUT.relative_to(REPO)}")


if __name__ == "__main__":
    main()
