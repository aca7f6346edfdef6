//! The audit trail's pages: CloudTrail's event history (LookupEvents as the signed-in
//! principal: one attribute filter and a time range, as CloudTrail's console has) and an
//! event's record.

use axum::response::Response;
use maud::html;
use serde_json::{json, Value};

use super::call::ApiError;
use super::charts::{ranking, timeline, top};
use super::views::{api_error, cell, pretty_json, time};
use super::{encode, Page};

/// Pages of 50 events read at most for an overview's charts.
const OVERVIEW_PAGES: usize = 20;

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
pub fn parse_local(text: &str) -> Option<i64> {
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
    // The first page of a lookup also draws its overview: up to OVERVIEW_PAGES pages of
    // events of the same filter, over the range asked for (the last 24 hours if none).
    let first_page = page.query("next").is_empty();
    let mut overview = None;
    let mut answer = None;
    if problems.is_empty() && first_page {
        let mut ranged = request.clone();
        let now = now_secs();
        if ranged.get("StartTime").is_none() {
            ranged["StartTime"] = json!(now - 24 * 3600);
        }
        let from = ranged["StartTime"].as_i64().unwrap_or(now);
        let to = ranged["EndTime"].as_i64().unwrap_or(now);
        // A lookup the principal may not make is said once, by the table's.
        if let Ok(collected) = collect(page, &ranged, OVERVIEW_PAGES).await {
            overview = Some(overview_charts(
                &collected.events,
                from,
                to,
                collected.complete,
            ));
            // With a range asked for, the table's page is the overview's first one.
            if ranged == request {
                answer = Some(Ok(collected.first));
            }
        }
    }
    if problems.is_empty() && answer.is_none() {
        answer = Some(page.api.lookup_events(&page.who, &request).await);
    }
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
        @if let Some(charts) = overview { (charts) }
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
                                td.error-code {
                                    (cell(&record["errorCode"]))
                                    @if record["errorCode"] == "AccessDeniedException" {
                                        " " a.why href=(format!("/console/audit/event?id={}#why", encode(e["EventId"].as_str().unwrap_or("")))) { "Why?" }
                                    }
                                }
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
                @let record: Value = serde_json::from_str(e["CloudTrailEvent"].as_str().unwrap_or("")).unwrap_or(Value::Null);
                @if record["errorCode"] == "AccessDeniedException" {
                    (why_denied(&record))
                }
                h2 { "Event record" }
                pre.code #event-record tabindex="0" { (pretty_json(e["CloudTrailEvent"].as_str().unwrap_or(""))) }
            },
        },
    };
    page.html("Event", body)
}

/// What a denial's reason code means (`on_key`: whether a key policy was evaluated).
fn reason_text(decision: &str, reason: &str, on_key: bool) -> &'static str {
    match (decision, reason) {
        (_, "NoIdentityBasedPolicyAllows") if !on_key => "The action is on no key, so identity-based (IAM) policies alone decide it, and none of the principal's allows it.",
        ("ExplicitDeny", "KeyPolicy") => "A Deny statement of the key policy matched the request: an explicit deny overrides every allow.",
        ("ExplicitDeny", "IdentityPolicy") => "A Deny statement of an identity-based (IAM) policy of the principal matched the request: an explicit deny overrides every allow.",
        ("ExplicitDeny", "SessionPolicy") => "A Deny statement of the role session's session policy matched the request.",
        (_, "NoResourceBasedPolicyAllows") => "No statement of the key policy allows the principal, or its account, this action on the key (and no grant does).",
        (_, "NoIdentityBasedPolicyAllows") => "The key policy leaves the decision to the account's IAM policies, but no identity-based policy of the principal allows the action (and no grant does).",
        (_, "NoSessionPolicyAllows") => "The policies allow the action, but the role session's session policy does not.",
        _ => "",
    }
}

/// "Why was this denied?": the explanation authorization recorded with the event
/// (`additionalEventData.authorization`): every policy statement evaluated, whether its
/// principal and then its action, resource and conditions matched, the statement that
/// decided, and the principal's grants on the key.
fn why_denied(record: &Value) -> maud::Markup {
    let why = &record["additionalEventData"]["authorization"];
    if !why.is_object() {
        let omitted = record["additionalEventData"]["omitted"] == true;
        return html! {
            section.card #why aria-labelledby="why-title" {
                h2 #why-title { "Why was this denied?" }
                @if omitted {
                    p { "The evaluation was larger than an event's member may be (100 KB) and was left out of the event." }
                } @else {
                    p { "The event records no evaluation: the request was refused before its policies were evaluated (its caller could not be represented in a policy, or the decision was made elsewhere)." }
                }
            }
        };
    }
    let decision = why["decision"].as_str().unwrap_or("");
    let reason = why["reason"].as_str().unwrap_or("");
    let on_key = why["policies"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|p| p["policy"] == "KeyPolicy");
    let key_id = why["resource"]
        .as_str()
        .and_then(|r| r.split_once(":key/"))
        .map(|(_, id)| id.to_owned());
    html! {
        section.card #why aria-labelledby="why-title" {
            h2 #why-title { "Why was this denied?" }
            dl.grid {
                dt { "Principal" } dd { (cell(&why["principal"])) }
                dt { "Action" } dd { (cell(&why["action"])) }
                dt { "Resource" } dd {
                    (cell(&why["resource"]))
                    @if let Some(id) = &key_id { " " a href=(format!("/console/keys/{}?tab=policy", encode(id))) { "key policy" } }
                }
                dt { "Decision" } dd #why-decision { (decision) " (" (reason) ")" }
            }
            p #why-reason { (reason_text(decision, reason, on_key)) }
            @if let Some(by) = why["decidedBy"].as_object() {
                p #why-decided { strong { "Decided by: " } (by.get("policy").and_then(Value::as_str).unwrap_or(""))
                    @if let Some(i) = by.get("policyIndex").and_then(Value::as_u64) { " #" (i) }
                    ", statement " (by.get("statement").and_then(Value::as_u64).unwrap_or(0))
                    @if let Some(sid) = by.get("sid").and_then(Value::as_str) { " (Sid " (sid) ")" } }
            }
            @for policy in why["policies"].as_array().into_iter().flatten() {
                h3 {
                    @match policy["policy"].as_str().unwrap_or("") {
                        "KeyPolicy" => { "Key policy" }
                        "IdentityPolicy" => { "Identity-based policy #" (policy["policyIndex"].as_u64().unwrap_or(0)) }
                        "SessionPolicy" => { "Session policy" }
                        other => { (other) }
                    }
                    @if let Some(id) = policy["id"].as_str() { " (" (id) ")" }
                }
                table.why-statements {
                    thead { tr {
                        th scope="col" { "Statement" } th scope="col" { "Sid" } th scope="col" { "Effect" }
                        th scope="col" { "Principal matches" } th scope="col" { "Action, resource and conditions match" } th scope="col" { "Decided" }
                    } }
                    tbody {
                        @for s in policy["statements"].as_array().into_iter().flatten() {
                            tr class=[(s["decided"] == true).then_some("decided")] {
                                td { (s["statement"].as_u64().unwrap_or(0)) }
                                td { (cell(&s["sid"])) }
                                td { (cell(&s["effect"])) }
                                td { @if s["principalMatched"] == true { "Yes" } @else { "No" } }
                                td { @if s["principalMatched"] != true { "—" } @else if s["requestMatched"] == true { "Yes" } @else { "No" } }
                                td { @if s["decided"] == true { strong { "Decided" } } }
                            }
                        }
                    }
                }
            }
            @if let Some(grants) = why["grants"].as_array() {
                h3 { "Grants for the principal on the key" }
                @if grants.is_empty() { p.muted #why-grants { "None." } }
                @else {
                    table #why-grants {
                        thead { tr { th scope="col" { "Grant ID" } th scope="col" { "Operations" } th scope="col" { "Allows this request" } } }
                        tbody { @for g in grants { tr { td { code { (cell(&g["grantId"])) } } td { (cell(&g["operations"])) } td { @if g["allowed"] == true { "Yes" } @else { "No" } } } } }
                    }
                }
            }
        }
    }
}

/// Events of a lookup, page after page.
pub struct Collected {
    pub events: Vec<Value>,
    /// Whether they are all the lookup's (not cut at the page limit).
    pub complete: bool,
    /// The first page's answer (its events and NextToken), for a table of it.
    pub first: Value,
}

/// The events of a lookup, page after page (at most `pages`).
pub async fn collect(page: &Page, request: &Value, pages: usize) -> Result<Collected, ApiError> {
    let mut collected = Collected {
        events: Vec::new(),
        complete: false,
        first: Value::Null,
    };
    let mut request = request.clone();
    request["MaxResults"] = json!(50);
    for i in 0..pages {
        let answer = page.api.lookup_events(&page.who, &request).await?;
        collected
            .events
            .extend(answer["Events"].as_array().cloned().unwrap_or_default());
        let next = answer["NextToken"].as_str().map(str::to_owned);
        if i == 0 {
            collected.first = answer;
        }
        match next {
            Some(token) => request["NextToken"] = json!(token),
            None => {
                collected.complete = true;
                break;
            }
        }
    }
    Ok(collected)
}

/// Seconds since the epoch, now (the trail's events are timed by the system clock).
pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The ten operations with the most events, most first.
pub fn by_operation(events: &[Value]) -> Vec<(String, u64)> {
    let mut counts = std::collections::HashMap::new();
    for e in events {
        *counts
            .entry(e["EventName"].as_str().unwrap_or("?").to_owned())
            .or_insert(0) += 1;
    }
    top(counts, 10)
}

fn is_denied(event: &Value) -> bool {
    let record: Value = serde_json::from_str(event["CloudTrailEvent"].as_str().unwrap_or(""))
        .unwrap_or(Value::Null);
    matches!(
        record["errorCode"].as_str(),
        Some("AccessDeniedException" | "AccessDenied")
    )
}

/// Counts of events per bucket of time, from `from` to `to` (hours up to two days, days
/// beyond): (label, all, denied).
pub fn buckets(events: &[Value], from: i64, to: i64) -> Vec<(String, u64, u64)> {
    let span = (to - from).max(1);
    let step: i64 = if span <= 48 * 3600 { 3600 } else { 86_400 };
    let first = from - from.rem_euclid(step);
    let n = (((to - first) / step) + 1).clamp(1, 400) as usize;
    let mut out: Vec<(String, u64, u64)> = (0..n)
        .map(|i| {
            let t = first + i as i64 * step;
            let label = time::OffsetDateTime::from_unix_timestamp(t)
                .ok()
                .and_then(|t| {
                    if step == 3600 {
                        t.format(time::macros::format_description!("[month]-[day] [hour]:00"))
                            .ok()
                    } else {
                        t.format(time::macros::format_description!("[year]-[month]-[day]"))
                            .ok()
                    }
                })
                .unwrap_or_default();
            (label, 0, 0)
        })
        .collect();
    for e in events {
        let Some(t) = e["EventTime"].as_f64() else {
            continue;
        };
        let i = ((t as i64 - first) / step).clamp(0, n as i64 - 1) as usize;
        out[i].1 += 1;
        if is_denied(e) {
            out[i].2 += 1;
        }
    }
    out
}

fn overview_charts(events: &[Value], from: i64, to: i64, complete: bool) -> maud::Markup {
    use std::collections::HashMap;
    let mut by_caller: HashMap<String, u64> = HashMap::new();
    let mut by_key: HashMap<String, u64> = HashMap::new();
    let mut denied_by_caller: HashMap<String, u64> = HashMap::new();
    for e in events {
        let user = e["Username"].as_str().unwrap_or("(unknown)").to_owned();
        *by_caller.entry(user.clone()).or_default() += 1;
        if is_denied(e) {
            *denied_by_caller.entry(user).or_default() += 1;
        }
        for r in e["Resources"].as_array().into_iter().flatten() {
            if let Some(arn) = r["ResourceName"].as_str().filter(|a| a.contains(":key/")) {
                *by_key.entry(arn.to_owned()).or_default() += 1;
            }
        }
    }
    html! {
        section.card.overview aria-label="Overview" {
            h2 { "Overview" }
            @if !complete { p.muted { "Drawn from the newest " (events.len()) " events of the range." } }
            (timeline("chart-time", "Requests over time", &buckets(events, from, to)))
            div.two {
                (ranking("chart-operations", "Requests by operation", &by_operation(events), "#0a5ca8"))
                (ranking("chart-keys", "Requests by key", &top(by_key, 10), "#1d6b2f"))
                (ranking("chart-callers", "Top callers", &top(by_caller, 10), "#545b64"))
                (ranking("chart-denied", "Denied requests by caller", &top(denied_by_caller, 10), "#b0231b"))
            }
        }
    }
}
