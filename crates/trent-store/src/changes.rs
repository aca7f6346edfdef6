//! The change feed: what a node must forget because a writer (possibly another node)
//! committed a change.
//!
//! Changes name records, never their content: a node that hears of one drops what it
//! cached and reloads from the store on demand, so a lost or duplicated message can only
//! cost a reload, and [`Change::All`] (sent whenever the feed may have missed something)
//! is always a safe answer. Future state holders (key policies, grants) announce their
//! changes as [`Change::Key`] of the key they belong to, or add a variant here.

use tokio::sync::broadcast;

/// One committed change.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Change {
    /// Anything about this key changed (metadata, state, tags, material).
    Key(String),
    /// A grant of this key was created, retired or revoked (the key itself is unchanged).
    Grants(String),
    /// This alias was created, re-pointed or deleted.
    Alias {
        account_id: String,
        region: String,
        alias_name: String,
    },
    /// Changes may have been missed: forget everything.
    All,
}

impl Change {
    /// The text sent through the database (PostgreSQL `NOTIFY` payloads are limited to
    /// 8000 bytes; key ids and alias names are far shorter).
    pub(crate) fn encode(&self) -> String {
        match self {
            Change::Key(key_id) => format!("k:{key_id}"),
            Change::Grants(key_id) => format!("g:{key_id}"),
            Change::Alias {
                account_id,
                region,
                alias_name,
            } => format!("a:{account_id}:{region}:{alias_name}"),
            Change::All => "*".to_owned(),
        }
    }

    /// Parses a payload; anything unknown (e.g. from a newer node) is [`Change::All`],
    /// which is never wrong.
    pub(crate) fn decode(payload: &str) -> Change {
        if let Some(key_id) = payload.strip_prefix("k:") {
            return Change::Key(key_id.to_owned());
        }
        if let Some(key_id) = payload.strip_prefix("g:") {
            return Change::Grants(key_id.to_owned());
        }
        if let Some(rest) = payload.strip_prefix("a:") {
            // Account ids and regions hold no ':'; alias names may, so they come last.
            let mut parts = rest.splitn(3, ':');
            if let (Some(account_id), Some(region), Some(alias_name)) =
                (parts.next(), parts.next(), parts.next())
            {
                return Change::Alias {
                    account_id: account_id.to_owned(),
                    region: region.to_owned(),
                    alias_name: alias_name.to_owned(),
                };
            }
        }
        Change::All
    }
}

/// A subscription to the change feed (see [`crate::Store::subscribe`]).
#[derive(Debug)]
pub struct ChangeStream {
    inner: Option<broadcast::Receiver<Change>>,
}

impl ChangeStream {
    /// A feed that has nothing to say: a single-process store, whose only writer is this
    /// process, which updates its caches itself.
    pub fn ended() -> Self {
        Self { inner: None }
    }

    pub(crate) fn new(receiver: broadcast::Receiver<Change>) -> Self {
        Self {
            inner: Some(receiver),
        }
    }

    /// The next change; `None` once the feed has ended (the store was dropped, or it is a
    /// single-process store). A consumer that fell behind gets [`Change::All`].
    pub async fn next(&mut self) -> Option<Change> {
        let receiver = self.inner.as_mut()?;
        match receiver.recv().await {
            Ok(change) => Some(change),
            Err(broadcast::error::RecvError::Lagged(_)) => Some(Change::All),
            Err(broadcast::error::RecvError::Closed) => {
                self.inner = None;
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip() {
        for change in [
            Change::Key("1234abcd-12ab-34cd-56ef-1234567890ab".to_owned()),
            Change::Grants("1234abcd-12ab-34cd-56ef-1234567890ab".to_owned()),
            Change::Alias {
                account_id: "111122223333".to_owned(),
                region: "us-east-1".to_owned(),
                alias_name: "alias/with:colons/and_more".to_owned(),
            },
            Change::All,
        ] {
            assert_eq!(Change::decode(&change.encode()), change);
        }
        assert_eq!(Change::decode("x:unknown"), Change::All);
        assert_eq!(Change::decode("a:only-one-part"), Change::All);
    }

    #[tokio::test]
    async fn a_lagging_consumer_is_told_to_forget_everything() {
        let (tx, rx) = broadcast::channel(2);
        let mut stream = ChangeStream::new(rx);
        for i in 0..5 {
            tx.send(Change::Key(i.to_string())).unwrap();
        }
        assert_eq!(stream.next().await, Some(Change::All));
        drop(tx);
        while stream.next().await.is_some() {}
        assert_eq!(stream.next().await, None);
        assert_eq!(ChangeStream::ended().next().await, None);
    }
}
