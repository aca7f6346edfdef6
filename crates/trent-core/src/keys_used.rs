//! The keys one request used, and why it was denied if it was, returned with its outcome.
//!
//! The audit trail names, as an event's `resources`, the KMS keys the request resolved and
//! checked access to, whether it then succeeded or failed (a denied request's event still
//! names the key; a key that does not exist is never named). The server runs each KMS
//! operation in a [`scope`], which returns the operation's result together with the
//! [`KeysUsed`] that authorization noted while it ran; the caller's identity ([`Caller`])
//! carries nothing back.
//!
//! Like the write-ahead hook ([`crate::write_ahead::scope`]) the scope is a task-local of
//! the request's task, so that the fifty-odd operation handlers need no extra parameter:
//! only authorization (and RetireGrant, which authorizes by itself) notes a key. Work
//! outside a scope (background jobs, tests) notes nothing.
//!
//! [`Caller`]: crate::Caller

use std::cell::RefCell;
use std::future::Future;

tokio::task_local! {
    static USED: RefCell<KeysUsed>;
}

/// The ARNs of the KMS keys one request resolved and checked access to, in the order it
/// first did, each once; and, for a request authorization denied, why
/// ([`trent_policy::explain`]: the policies and grants evaluated, and what decided).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeysUsed {
    arns: Vec<String>,
    denial: Option<serde_json::Value>,
}

impl KeysUsed {
    pub fn arns(&self) -> &[String] {
        &self.arns
    }

    /// Why the request's last denied authorization was denied.
    pub fn denial(&self) -> Option<&serde_json::Value> {
        self.denial.as_ref()
    }

    pub fn into_arns(self) -> Vec<String> {
        self.arns
    }

    /// The keys, and the explanation of the request's denial if it had one.
    pub fn into_parts(self) -> (Vec<String>, Option<serde_json::Value>) {
        (self.arns, self.denial)
    }
}

/// Runs `work` (one request's operation) and returns its output with the keys it used.
pub async fn scope<F: Future>(work: F) -> (F::Output, KeysUsed) {
    USED.scope(RefCell::new(KeysUsed::default()), async move {
        let output = work.await;
        let used = USED.with(|u| std::mem::take(&mut *u.borrow_mut()));
        (output, used)
    })
    .await
}

/// Notes that the current request used the key `arn` (nothing outside a [`scope`]).
pub(crate) fn note(arn: &str) {
    // Outside a scope there is no request to tell: nothing to do.
    let _ = USED.try_with(|u| {
        let arns = &mut u.borrow_mut().arns;
        if !arns.iter().any(|a| a == arn) {
            arns.push(arn.to_owned());
        }
    });
}

/// Whether the current task runs a request's [`scope`] (a denial's explanation is worth
/// computing only then).
pub(crate) fn in_scope() -> bool {
    USED.try_with(|_| ()).is_ok()
}

/// Notes why the current request was denied (nothing outside a [`scope`]).
pub(crate) fn note_denial(explanation: serde_json::Value) {
    let _ = USED.try_with(|u| u.borrow_mut().denial = Some(explanation));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_scope_returns_the_keys_its_work_noted_once_each_in_order() {
        let (out, used) = scope(async {
            note("arn:aws:kms:us-east-1:111122223333:key/b");
            tokio::task::yield_now().await;
            note("arn:aws:kms:us-east-1:111122223333:key/a");
            note("arn:aws:kms:us-east-1:111122223333:key/b");
            7
        })
        .await;
        assert_eq!(out, 7);
        assert_eq!(
            used.arns(),
            [
                "arn:aws:kms:us-east-1:111122223333:key/b",
                "arn:aws:kms:us-east-1:111122223333:key/a"
            ]
        );
        // Outside a scope nothing is noted, and nothing fails.
        note("arn:aws:kms:us-east-1:111122223333:key/c");
        let ((), used) = scope(async {}).await;
        assert!(used.arns().is_empty());
        assert!(used.denial().is_none());
        assert!(!in_scope());
        let ((), used) = scope(async {
            assert!(in_scope());
            note_denial(serde_json::json!({ "decision": "ImplicitDeny" }));
        })
        .await;
        assert_eq!(used.denial().unwrap()["decision"], "ImplicitDeny");
    }
}
