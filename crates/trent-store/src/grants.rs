//! Grants as the store keeps them, and the pieces both backends share: the text forms of a
//! grant's operations and constraints, and the rule that makes CreateGrant with a `Name`
//! idempotent.

/// A grant on a KMS key (CreateGrant). Times are Unix milliseconds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GrantRecord {
    /// 64 hex digits; unique across the store.
    pub grant_id: String,
    pub key_id: String,
    /// The ARN of the key (ListGrants and ListRetirableGrants return it as `KeyId`).
    pub key_arn: String,
    pub name: Option<String>,
    pub grantee_principal: String,
    pub retiring_principal: Option<String>,
    /// The account under which the grant was issued (the caller's of CreateGrant).
    pub issuing_account: String,
    /// Operation names as on the wire (`Encrypt`, `Decrypt`, ...), in request order.
    pub operations: Vec<String>,
    /// `EncryptionContextEquals`, sorted by key.
    pub constraint_equals: Option<Vec<(String, String)>>,
    /// `EncryptionContextSubset`, sorted by key.
    pub constraint_subset: Option<Vec<(String, String)>>,
    pub created_at: i64,
}

impl GrantRecord {
    /// Is `other` a retry of the CreateGrant that made `self`? Same key, same `Name`, and
    /// the same grantee, retiring principal, operations (as a set) and constraints. AWS
    /// returns the original grant for such a retry; a request that reuses a name with other
    /// parameters creates a new grant (names are not unique).
    pub fn same_request(&self, other: &GrantRecord) -> bool {
        let ops = |g: &GrantRecord| {
            let mut o = g.operations.clone();
            o.sort();
            o.dedup();
            o
        };
        self.key_id == other.key_id
            && self.name.is_some()
            && self.name == other.name
            && self.grantee_principal == other.grantee_principal
            && self.retiring_principal == other.retiring_principal
            && ops(self) == ops(other)
            && self.constraint_equals == other.constraint_equals
            && self.constraint_subset == other.constraint_subset
    }
}

/// AWS's grant quotas, checked by the store in the transaction that adds a grant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GrantLimits {
    /// Grants per KMS key (AWS: 50,000).
    pub per_key: u32,
    /// Grants for one grantee principal per KMS key (AWS: 500).
    pub per_grantee_per_key: u32,
}

/// What [`crate::Store::create_grant`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CreateGrantOutcome {
    /// The grant was added.
    Created,
    /// A grant from an identical earlier request (same `Name`) exists: this one.
    Existing(Box<GrantRecord>),
    /// The key already has `GrantLimits::per_key` grants; nothing was written.
    TooManyForKey,
    /// The grantee already has `GrantLimits::per_grantee_per_key` grants on the key.
    TooManyForGrantee,
}

/// The grant columns, in the order the backends bind them.
pub(crate) const GRANT_COLUMNS: &str = "grant_id, key_id, key_arn, name, grantee_principal, \
     retiring_principal, issuing_account, operations, constraint_equals, constraint_subset, \
     created_at";

pub(crate) fn encode_operations(ops: &[String]) -> Result<String, crate::StoreError> {
    if ops.is_empty() || ops.iter().any(|o| o.is_empty() || o.contains(',')) {
        return Err(crate::store::invalid(
            "a grant operation is empty or holds ','",
        ));
    }
    Ok(ops.join(","))
}

pub(crate) fn decode_operations(text: &str) -> Vec<String> {
    text.split(',').map(str::to_owned).collect()
}

fn escape(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '%' => out.push_str("%25"),
            '&' => out.push_str("%26"),
            '=' => out.push_str("%3D"),
            c => out.push(c),
        }
    }
}

fn unescape(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('%') {
        out.push_str(&rest[..i]);
        let code = rest.get(i + 1..i + 3)?;
        out.push(match code {
            "25" => '%',
            "26" => '&',
            "3D" => '=',
            _ => return None,
        });
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    Some(out)
}

/// `key=value&key=value`, with `%`, `&` and `=` escaped; an empty map is "".
pub(crate) fn encode_pairs(pairs: &[(String, String)]) -> String {
    let mut out = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        escape(k, &mut out);
        out.push('=');
        escape(v, &mut out);
    }
    out
}

pub(crate) fn decode_pairs(text: &str) -> Option<Vec<(String, String)>> {
    if text.is_empty() {
        return Some(Vec::new());
    }
    text.split('&')
        .map(|pair| {
            let (k, v) = pair.split_once('=')?;
            Some((unescape(k)?, unescape(v)?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_round_trip_with_separators_in_them() {
        let pairs = vec![
            ("a=b".to_owned(), "c&d".to_owned()),
            ("100%".to_owned(), "".to_owned()),
            ("".to_owned(), "=&%".to_owned()),
            ("plain".to_owned(), "ünïcode".to_owned()),
        ];
        assert_eq!(decode_pairs(&encode_pairs(&pairs)), Some(pairs));
        assert_eq!(decode_pairs(""), Some(Vec::new()));
        assert_eq!(decode_pairs("novalue"), None);
        assert_eq!(decode_pairs("a=%zz"), None);
    }

    #[test]
    fn operations_round_trip() {
        let ops = vec!["Encrypt".to_owned(), "Decrypt".to_owned()];
        assert_eq!(decode_operations(&encode_operations(&ops).unwrap()), ops);
        assert!(encode_operations(&[]).is_err());
        assert!(encode_operations(&["a,b".to_owned()]).is_err());
    }
}
