//! CloudTrail's LookupEvents over the trail: the filters and the event summaries.
//! <https://docs.aws.amazon.com/awscloudtrail/latest/APIReference/API_LookupEvents.html>

use serde::Serialize;

use crate::record::{parse_event_time, Record};
use crate::store::{AuditStore, EventKey};
use crate::AuditError;

/// `LookupAttribute.AttributeKey`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttributeKey {
    EventId,
    EventName,
    ReadOnly,
    Username,
    ResourceType,
    ResourceName,
    EventSource,
    AccessKeyId,
}

impl AttributeKey {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "EventId" => Self::EventId,
            "EventName" => Self::EventName,
            "ReadOnly" => Self::ReadOnly,
            "Username" => Self::Username,
            "ResourceType" => Self::ResourceType,
            "ResourceName" => Self::ResourceName,
            "EventSource" => Self::EventSource,
            "AccessKeyId" => Self::AccessKeyId,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Default)]
pub struct Query {
    pub attribute: Option<(AttributeKey, String)>,
    /// Unix seconds, inclusive.
    pub start: Option<i64>,
    pub end: Option<i64>,
}

impl Query {
    pub fn matches(&self, r: &Record) -> bool {
        let t = parse_event_time(&r.event_time).unwrap_or(0);
        if self.start.is_some_and(|s| t < s) || self.end.is_some_and(|e| t > e) {
            return false;
        }
        let Some((key, value)) = &self.attribute else {
            return true;
        };
        let value = value.as_str();
        match key {
            AttributeKey::EventId => r.event_id == value,
            AttributeKey::EventName => r.event_name == value,
            AttributeKey::ReadOnly => (if r.read_only { "true" } else { "false" }) == value,
            AttributeKey::Username => r.username().as_deref() == Some(value),
            AttributeKey::ResourceType => r.resources.iter().any(|x| x.kind == value),
            AttributeKey::ResourceName => r.resources.iter().any(|x| x.arn == value),
            AttributeKey::EventSource => r.event_source == value,
            AttributeKey::AccessKeyId => r.user_identity.access_key_id.as_deref() == Some(value),
        }
    }
}

/// One element of `LookupEvents`' `Events`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Event {
    pub event_id: String,
    pub event_name: String,
    pub read_only: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
    /// Epoch seconds (JSON 1.1 timestamps).
    pub event_time: i64,
    pub event_source: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    pub resources: Vec<EventResource>,
    pub cloud_trail_event: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct EventResource {
    pub resource_type: String,
    pub resource_name: String,
}

impl Event {
    pub fn from_record(r: &Record) -> Event {
        Event {
            event_id: r.event_id.clone(),
            event_name: r.event_name.clone(),
            read_only: r.read_only.to_string(),
            access_key_id: r.user_identity.access_key_id.clone(),
            event_time: parse_event_time(&r.event_time).unwrap_or(0),
            event_source: r.event_source.clone(),
            username: r.username(),
            resources: r
                .resources
                .iter()
                .map(|x| EventResource {
                    resource_type: x.kind.clone(),
                    resource_name: x.arn.clone(),
                })
                .collect(),
            cloud_trail_event: serde_json::to_string(r).unwrap_or_default(),
        }
    }
}

/// How many events a store is asked for at a time while filling a page.
const BATCH: usize = 500;
/// The most events one call examines. A filter that matches nothing (or little) must not
/// make one call read the whole trail: past this many, the call answers with what it
/// found (maybe nothing) and a token to continue where it stopped, as CloudTrail's
/// LookupEvents may return fewer results than asked for, with a `NextToken`
/// (<https://docs.aws.amazon.com/awscloudtrail/latest/APIReference/API_LookupEvents.html>).
pub const MAX_EXAMINED: usize = 10_000;

/// One page, newest first across every chain of `store` (see [`EventKey`] for the
/// order). `from` is where a previous page stopped (the key of the first event it did not
/// return). Returns the page and, if more may match, the key to continue from. At most
/// [`MAX_EXAMINED`] events are examined.
pub async fn lookup(
    store: &dyn AuditStore,
    query: &Query,
    may_read: impl Fn(&Record) -> bool,
    max_results: usize,
    from: Option<EventKey>,
) -> Result<(Vec<Event>, Option<EventKey>), AuditError> {
    lookup_bounded(store, query, may_read, max_results, from, MAX_EXAMINED).await
}

async fn lookup_bounded(
    store: &dyn AuditStore,
    query: &Query,
    may_read: impl Fn(&Record) -> bool,
    max_results: usize,
    from: Option<EventKey>,
    max_examined: usize,
) -> Result<(Vec<Event>, Option<EventKey>), AuditError> {
    let mut out = Vec::new();
    let mut from = from;
    let mut examined = 0usize;
    loop {
        let want = BATCH.min(max_examined.saturating_sub(examined)).max(1);
        let batch = store.events_matching(from.as_ref(), query, want).await?;
        let exhausted = batch.len() < want;
        let mut last = None;
        for (key, r) in batch {
            if from.as_ref().is_some_and(|f| key > *f) {
                continue;
            }
            if examined == max_examined {
                // Enough work for one call: the next one starts at this event.
                return Ok((out, Some(key)));
            }
            examined += 1;
            if may_read(&r) && query.matches(&r) {
                if out.len() == max_results {
                    return Ok((out, Some(key)));
                }
                out.push(Event::from_record(&r));
            }
            last = Some(key);
        }
        match last {
            // Continue strictly after the last event seen.
            Some(key) if !exhausted => from = Some(predecessor(key)),
            _ => return Ok((out, None)),
        }
    }
}

/// The greatest key below `key` that an event may have (for "strictly before").
fn predecessor(key: EventKey) -> EventKey {
    match key.seq.checked_sub(1) {
        Some(seq) => EventKey { seq, ..key },
        // seq 0 does not occur (chains start at 1); anything smaller will do.
        None => EventKey {
            time: key.time - 1,
            chain: String::new(),
            seq: u64::MAX,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use async_trait::async_trait;

    use crate::chain::SealedEntry;
    use crate::store::{StoredLine, Tail};

    /// `n` events, one a second, and a count of the events handed out.
    struct Counting {
        events: Vec<(EventKey, Record)>,
        handed_out: AtomicUsize,
    }

    #[async_trait]
    impl AuditStore for Counting {
        async fn append(&self, _: Vec<SealedEntry>) -> Result<(), AuditError> {
            Ok(())
        }
        async fn tail(&self, _: &str) -> Result<Option<Tail>, AuditError> {
            Ok(None)
        }
        async fn read_all(&self) -> Result<Vec<StoredLine>, AuditError> {
            Ok(Vec::new())
        }
        async fn events_newest_first(
            &self,
            from: Option<&EventKey>,
            _: Option<i64>,
            _: Option<i64>,
            limit: usize,
        ) -> Result<Vec<(EventKey, Record)>, AuditError> {
            let out: Vec<_> = self
                .events
                .iter()
                .rev()
                .filter(|(k, _)| from.is_none_or(|f| k <= f))
                .take(limit)
                .cloned()
                .collect();
            self.handed_out.fetch_add(out.len(), Ordering::Relaxed);
            Ok(out)
        }
    }

    fn store(n: u64) -> Counting {
        let events = (1..=n)
            .map(|seq| {
                let time = 1_700_000_000 + i64::try_from(seq).unwrap();
                let mut r = Record::service_event(
                    "Encrypt",
                    "111122223333",
                    "us-east-1",
                    "",
                    None,
                    time * 1000,
                );
                r.event_name = if seq % 1000 == 0 {
                    "Decrypt"
                } else {
                    "Encrypt"
                }
                .into();
                let key = EventKey {
                    time,
                    chain: "node-1".into(),
                    seq,
                };
                (key, r)
            })
            .collect();
        Counting {
            events,
            handed_out: AtomicUsize::new(0),
        }
    }

    #[tokio::test]
    async fn a_filter_that_never_matches_examines_a_bounded_number_of_events_per_call() {
        let store = store(25_000);
        let query = Query {
            attribute: Some((AttributeKey::EventName, "NoSuchEvent".into())),
            ..Query::default()
        };
        let mut from = None;
        let mut calls = 0;
        loop {
            store.handed_out.store(0, Ordering::Relaxed);
            let (page, next) = lookup_bounded(&store, &query, |_| true, 50, from, 1000)
                .await
                .unwrap();
            calls += 1;
            assert!(page.is_empty());
            // One call's work: at most the bound, plus the rest of one batch.
            assert!(store.handed_out.load(Ordering::Relaxed) <= 1000 + BATCH);
            match next {
                Some(k) => from = Some(k),
                None => break,
            }
        }
        // Every event examined once, across calls that each returned a token.
        assert_eq!(calls, 25);

        // Rare matches are all found, in order, across the bounded calls.
        let query = Query {
            attribute: Some((AttributeKey::EventName, "Decrypt".into())),
            ..Query::default()
        };
        let (mut found, mut from) = (Vec::new(), None);
        loop {
            let (page, next) = lookup_bounded(&store, &query, |_| true, 50, from, 1000)
                .await
                .unwrap();
            found.extend(page.into_iter().map(|e| e.event_time));
            match next {
                Some(k) => from = Some(k),
                None => break,
            }
        }
        let expected: Vec<i64> = (1..=25).rev().map(|i| 1_700_000_000 + i * 1000).collect();
        assert_eq!(found, expected);
    }

    #[tokio::test]
    async fn the_default_bound_answers_with_a_token_and_no_events() {
        let store = store(MAX_EXAMINED as u64 + 10);
        let query = Query {
            attribute: Some((AttributeKey::EventName, "NoSuchEvent".into())),
            ..Query::default()
        };
        let (page, next) = lookup(&store, &query, |_| true, 50, None).await.unwrap();
        assert!(page.is_empty());
        assert_eq!(next.map(|k| k.seq), Some(10));
        let (page, next) = lookup(
            &store,
            &query,
            |_| true,
            50,
            Some(EventKey {
                time: 1_700_000_010,
                chain: "node-1".into(),
                seq: 10,
            }),
        )
        .await
        .unwrap();
        assert!(page.is_empty());
        assert_eq!(next, None);
    }
}
