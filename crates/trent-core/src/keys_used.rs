//! The keys one request used, returned with its outcome.
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
    static USED: RefCell<Vec<String>>;
}

/// The ARNs of the KMS keys one request resolved and checked access to, in the order it
/// first did, each once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeysUsed(Vec<String>);

impl KeysUsed {
    pub fn arns(&self) -> &[String] {
        &self.0
    }

    pub fn into_arns(self) -> Vec<String> {
        self.0
    }
}

/// Runs `work` (one request's operation) and returns its output with the keys it used.
pub async fn scope<F: Future>(work: F) -> (F::Output, KeysUsed) {
    USED.scope(RefCell::new(Vec::new()), async move {
        let output = work.await;
        let used = USED.with(|u| std::mem::take(&mut *u.borrow_mut()));
        (output, KeysUsed(used))
    })
    .await
}

/// Notes that the current request used the key `arn` (nothing outside a [`scope`]).
pub(crate) fn note(arn: &str) {
    // Outside a scope there is no request to tell: nothing to do.
    let _ = USED.try_with(|u| {
        let mut arns = u.borrow_mut();
        if !arns.iter().any(|a| a == arn) {
            arns.push(arn.to_owned());
        }
    });
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
    }
}
