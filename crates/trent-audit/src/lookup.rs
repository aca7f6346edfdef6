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

/// One page, newest first across every chain of `store` (see [`EventKey`] for the
/// order). `from` is where a previous page stopped (the key of the first event it did not
/// return). Returns the page and, if more match, the key to continue from.
pub async fn lookup(
    store: &dyn AuditStore,
    query: &Query,
    may_read: impl Fn(&Record) -> bool,
    max_results: usize,
    from: Option<EventKey>,
) -> Result<(Vec<Event>, Option<EventKey>), AuditError> {
    let mut out = Vec::new();
    let mut from = from;
    loop {
        let batch = store
            .events_newest_first(from.as_ref(), query.start, query.end, BATCH)
            .await?;
        let exhausted = batch.len() < BATCH;
        let mut last = None;
        for (key, r) in batch {
            if from.as_ref().is_some_and(|f| key > *f) {
                continue;
            }
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
