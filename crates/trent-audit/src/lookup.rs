//! CloudTrail's LookupEvents over the trail: the filters and the event summaries.
//! <https://docs.aws.amazon.com/awscloudtrail/latest/APIReference/API_LookupEvents.html>

use serde::Serialize;

use crate::record::{parse_event_time, Record};

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

/// One page, newest first. `records` are `(seq, record)` in chain order; `before` is the
/// sequence number a previous page stopped at. Returns the page and, if more match, the
/// sequence number to continue from.
pub fn page<'a>(
    records: impl DoubleEndedIterator<Item = (u64, &'a Record)>,
    query: &Query,
    may_read: impl Fn(&Record) -> bool,
    max_results: usize,
    before: Option<u64>,
) -> (Vec<Event>, Option<u64>) {
    let mut out = Vec::new();
    for (seq, r) in records.rev() {
        if before.is_some_and(|b| seq >= b) || !may_read(r) || !query.matches(r) {
            continue;
        }
        if out.len() == max_results {
            return (out, Some(seq + 1));
        }
        out.push(Event::from_record(r));
    }
    (out, None)
}
