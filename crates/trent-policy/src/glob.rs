//! IAM wildcard matching: `*` matches any run of characters (also none), `?` exactly one.
//!
//! Patterns are compiled once into tokens so that a literal `*` coming from the `${*}`
//! policy variable, or from a substituted variable value, is never a wildcard.

/// One piece of a compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tok {
    Lit(String),
    Star,
    One,
}

/// Appends `text` to `out`, reading `*` and `?` as wildcards.
pub(crate) fn push_wild(out: &mut Vec<Tok>, text: &str) {
    let mut lit = String::new();
    for c in text.chars() {
        match c {
            '*' | '?' => {
                if !lit.is_empty() {
                    push_lit(out, &std::mem::take(&mut lit));
                }
                // Consecutive stars are one star.
                if c == '*' {
                    if out.last() != Some(&Tok::Star) {
                        out.push(Tok::Star);
                    }
                } else {
                    out.push(Tok::One);
                }
            }
            c => lit.push(c),
        }
    }
    if !lit.is_empty() {
        push_lit(out, &lit);
    }
}

/// Appends `text` to `out` literally (no wildcards).
pub(crate) fn push_lit(out: &mut Vec<Tok>, text: &str) {
    if text.is_empty() {
        return;
    }
    if let Some(Tok::Lit(prev)) = out.last_mut() {
        prev.push_str(text);
    } else {
        out.push(Tok::Lit(text.to_owned()));
    }
}

/// Does `s` start with `lit` (ASCII case-insensitively when `ci`)? Returns its length.
fn lit_prefix(s: &str, lit: &str, ci: bool) -> Option<usize> {
    let n = lit.len();
    let head = s.as_bytes().get(..n)?;
    let same = if ci {
        head.eq_ignore_ascii_case(lit.as_bytes())
    } else {
        head == lit.as_bytes()
    };
    // A byte-equal prefix of valid UTF-8 that equals a whole str ends on a boundary.
    same.then_some(n)
}

/// Matches `s` against the tokens. Linear-time in practice: the classic
/// single-backtrack-point algorithm, exact for `*`/`?` patterns.
pub(crate) fn matches(toks: &[Tok], s: &str, ci: bool) -> bool {
    let (mut ti, mut si) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    loop {
        if ti < toks.len() {
            match &toks[ti] {
                Tok::Star => {
                    star = Some((ti + 1, si));
                    ti += 1;
                    continue;
                }
                Tok::One => {
                    if let Some(c) = s[si..].chars().next() {
                        si += c.len_utf8();
                        ti += 1;
                        continue;
                    }
                }
                Tok::Lit(lit) => {
                    if let Some(n) = lit_prefix(&s[si..], lit, ci) {
                        si += n;
                        ti += 1;
                        continue;
                    }
                }
            }
        } else if si == s.len() {
            return true;
        }
        // Mismatch: let the last star swallow one more character, or fail.
        match star {
            Some((sti, ssi)) => match s[ssi..].chars().next() {
                Some(c) => {
                    let next = ssi + c.len_utf8();
                    star = Some((sti, next));
                    ti = sti;
                    si = next;
                }
                None => return false,
            },
            None => return false,
        }
    }
}

/// A compiled wildcard pattern with a fast path for `*` and for plain literals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Pattern {
    Any,
    Exact(String),
    Glob(Vec<Tok>),
}

impl Pattern {
    pub(crate) fn from_toks(mut toks: Vec<Tok>) -> Self {
        if toks.len() > 1 {
            return Pattern::Glob(toks);
        }
        match toks.pop() {
            None => Pattern::Exact(String::new()),
            Some(Tok::Star) => Pattern::Any,
            Some(Tok::Lit(l)) => Pattern::Exact(l),
            Some(Tok::One) => Pattern::Glob(vec![Tok::One]),
        }
    }

    pub(crate) fn wild(text: &str) -> Self {
        let mut t = Vec::new();
        push_wild(&mut t, text);
        Self::from_toks(t)
    }

    pub(crate) fn is_match(&self, s: &str, ci: bool) -> bool {
        match self {
            Pattern::Any => true,
            Pattern::Exact(l) => {
                if ci {
                    l.eq_ignore_ascii_case(s)
                } else {
                    l == s
                }
            }
            Pattern::Glob(t) => matches(t, s, ci),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, s: &str) -> bool {
        Pattern::wild(p).is_match(s, false)
    }

    #[test]
    fn wildcards() {
        assert!(m("*", ""));
        assert!(m("*", "anything"));
        assert!(m("kms:*", "kms:Encrypt"));
        assert!(m("kms:Gen*Key*", "kms:GenerateDataKeyWithoutPlaintext"));
        assert!(m("a?c", "abc"));
        assert!(!m("a?c", "ac"));
        assert!(!m("a?c", "abbc"));
        assert!(m("a*b*c", "aXXbYYc"));
        assert!(!m("a*b*c", "aXXbYY"));
        assert!(m("*abc", "ababc"));
        assert!(m("a**c", "ac"));
        assert!(!m("abc", "abcd"));
        assert!(m("??", "éé"), "? is one character, not one byte");
        assert!(!m("?", "éé"));
        assert!(m("é*", "éabc"));
    }

    #[test]
    fn case() {
        assert!(Pattern::wild("KMS:encrypt").is_match("kms:Encrypt", true));
        assert!(!Pattern::wild("KMS:encrypt").is_match("kms:Encrypt", false));
        assert!(Pattern::wild("kms:DESC*").is_match("kms:DescribeKey", true));
    }

    #[test]
    fn literal_tokens_are_not_wildcards() {
        let mut t = Vec::new();
        push_lit(&mut t, "a*");
        push_wild(&mut t, "*");
        assert!(matches(&t, "a*xyz", false));
        assert!(!matches(&t, "abxyz", false));
    }
}
