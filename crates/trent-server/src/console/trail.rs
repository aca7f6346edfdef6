//! The audit trail's pages: CloudTrail's event history (LookupEvents as the signed-in
//! principal: one attribute filter and a time range, as CloudTrail's console has) and an
//! event's record.

use axum::response::Response;
use maud::html;
use serde_json::{json, Value};

use super::views::{api_error, cell, pretty_json, time};
use super::{encode, Page};

/// The attributes LookupEvents filters on, as CloudTrail's console names them.
const ATTRIBUTES: [(&str, &str); 7] = [
    ("EventName", "Event name"),
    ("Username", "User name"),
    ("ResourceName", "Resource name (key ARN)"),
    ("ReadOnly", "Read-only (true or false)"),
    ("EventSource", "Event source"),
    ("AccessKeyId", "AWS access key"),
    ("EventId", "Event ID"),
];

/// A `datetime-local` value (`2026-12-08T10:30`, UTC here) in seconds since the epoch.
fn parse_local(text: &str) -> Option<i64> {
    let format = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]");
    let format_seconds =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    time::PrimitiveDateTime::parse(text, &format)
        .or_else(|_| time::PrimitiveDateTime::parse(text, &format_seconds))
        .ok()
        .map(|t| t.assume_utc().unix_timestamp())
}

/// The event history, filtered.
pub async fn history(page: &Page) -> Response {
    let attribute = page.query("attribute");
    let value = page.query("value").trim();
    let (start, end) = (page.query("start"), page.query("end"));
    let mut request = json!({ "MaxResults": 50 });
    let mut problems = Vec::new();
    if !value.is_empty() {
        if ATTRIBUTES.iter().any(|(a, _)| *a == attribute) {
            request["LookupAttributes"] =
                json!([{ "AttributeKey": attribute, "AttributeValue": value }]);
        } else {
            problems.push("Choose what to filter on.".to_owned());
        }
    }
    for (name, text) in [("StartTime", start), ("EndTime", end)] {
        if !text.is_empty() {
            match parse_local(text) {
                Some(t) => request[name] = json!(t),
                None => problems.push(format!("{text} is not a date and time.")),
            }
        }
    }
    if !page.query("next").is_empty() {
        request["NextToken"] = json!(page.query("next"));
    }
    let answer = if problems.is_empty() {
        Some(page.api.lookup_events(&page.who, &request).await)
    } else {
        None
    };
    let next_link = |token: &str| {
        format!(
            "/console/audit?attribute={}&value={}&start={}&end={}&next={}",
            encode(attribute),
            encode(value),
            encode(start),
            encode(end),
            encode(token)
        )
    };
    let body = html! {
        form.filter.card method="get" action="/console/audit" role="search" {
            label for="attribute" { "Lookup attribute" }
            select #attribute name="attribute" {
                @for (a, label) in ATTRIBUTES { option value=(a) selected[a == attribute] { (label) } }
            }
            label for="value" { "Value" }
            input #value name="value" value=(value) spellcheck="false";
            label for="start" { "From (UTC)" }
            input #start type="datetime-local" name="start" value=(start);
            label for="end" { "To (UTC)" }
            input #end type="datetime-local" name="end" value=(end);
            button #lookup type="submit" { "Look up events" }
        }
        @for p in &problems { div.flash.error role="alert" { (p) } }
        @match &answer {
            Some(Err(e)) => { (api_error(e)) }
            Some(Ok(a)) => {
                @let events = a["Events"].as_array().cloned().unwrap_or_default();
                table #events {
                    caption.visually-hidden { "Events, newest first" }
                    thead { tr {
                        th scope="col" { "Event time" } th scope="col" { "Event name" } th scope="col" { "User name" }
                        th scope="col" { "Event source" } th scope="col" { "Resource" } th scope="col" { "Error code" }
                    } }
                    tbody {
                        @for e in &events {
                            @let record: Value = serde_json::from_str(e["CloudTrailEvent"].as_str().unwrap_or("")).unwrap_or(Value::Null);
                            tr class=[record["errorCode"].is_string().then_some("failed")] {
                                td { (time(e["EventTime"].as_f64())) }
                                td { a.event-link href=(format!("/console/audit/event?id={}", encode(e["EventId"].as_str().unwrap_or("")))) { (cell(&e["EventName"])) } }
                                td { (cell(&e["Username"])) }
                                td { (cell(&e["EventSource"])) }
                                td { @for r in e["Resources"].as_array().into_iter().flatten() { (cell(&r["ResourceName"])) br; } }
                                td.error-code { (cell(&record["errorCode"])) }
                            }
                        }
                    }
                }
                @if events.is_empty() { p #no-events { "No events match." } }
                @if let Some(token) = a["NextToken"].as_str() {
                    nav.pages aria-label="Pages" { a rel="next" href=(next_link(token)) { "More events" } }
                }
            }
            None => {}
        }
    };
    page.html("Event history", body)
}

/// One event's record.
pub async fn event(page: &Page) -> Response {
    let id = page.query("id");
    let request =
        json!({ "LookupAttributes": [{ "AttributeKey": "EventId", "AttributeValue": id }] });
    let body = match page.api.lookup_events(&page.who, &request).await {
        Err(e) => api_error(&e),
        Ok(a) => match a["Events"].as_array().and_then(|e| e.first()) {
            None => html! { p { "There is no such event." } },
            Some(e) => html! {
                dl.grid {
                    dt { "Event time" } dd { (time(e["EventTime"].as_f64())) }
                    dt { "Event name" } dd #event-name { (cell(&e["EventName"])) }
                    dt { "User name" } dd { (cell(&e["Username"])) }
                    dt { "Event ID" } dd { (cell(&e["EventId"])) }
                }
                h2 { "Event record" }
                pre.code #event-record tabindex="0" { (pretty_json(e["CloudTrailEvent"].as_str().unwrap_or(""))) }
            },
        },
    };
    page.html("Event", body)
}
