//! Logging: `TRENT_LOG` filters, `TRENT_LOG_FORMAT` chooses text (the default) or JSON (one
//! object per line), and every line logged while a request runs carries its request id
//! (`request_id=...` in text, a `request_id` member in JSON).
//!
//! The request id travels in a task-local value, not in a tracing span: a span per request
//! (created, entered and left at every poll) cost about 7 µs of CPU per request under
//! load, a seventh of a cached Encrypt (BENCHMARKS.md); the task-local costs two pointer
//! swaps per poll.

use std::fmt;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::{Format, Full, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

tokio::task_local! {
    /// The id of the request the current task serves (`REQUEST_ID.scope(id, work)`:
    /// what `work` logs carries the id).
    pub static REQUEST_ID: String;
}

fn current_request_id() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// Installs the process's subscriber: `TRENT_LOG` (default `info`), `TRENT_LOG_FORMAT`
/// `text` or `json`, to stderr (an unknown format is an error); for a server with `otlp`,
/// spans are also exported there (sent through the runtime given), and the returned
/// exporter is to be shut down at the end.
pub fn init(
    otlp: Option<(&crate::traces::OtlpSettings, tokio::runtime::Handle)>,
) -> Result<Option<crate::traces::Exporter>, String> {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    use tracing_subscriber::Layer as _;

    let filter = EnvFilter::try_from_env("TRENT_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    // The exported spans are the exporter's alone: never in the log lines.
    let off = format!("{}=off", crate::traces::TARGET)
        .parse()
        .map_err(|e| format!("{e}"))?;
    let filter = filter.add_directive(off);
    let log = match std::env::var("TRENT_LOG_FORMAT").as_deref() {
        Err(_) | Ok("text") => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .event_format(TextWithRequestId(Format::default()))
            .with_filter(filter)
            .boxed(),
        Ok("json") => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .event_format(JsonLine)
            .with_filter(filter)
            .boxed(),
        Ok(other) => return Err(format!("TRENT_LOG_FORMAT={other:?}: expected text or json")),
    };
    let registry = tracing_subscriber::registry().with(log);
    let Some((settings, runtime)) = otlp else {
        registry
            .try_init()
            .map_err(|e| format!("cannot set up logging: {e}"))?;
        return Ok(None);
    };
    let (layer, exporter) = crate::traces::layer(settings, runtime)?;
    // The spans of the target, and what is logged at warning level or above while a span
    // is current (as the span's events).
    let targets = tracing_subscriber::filter::Targets::new()
        .with_target(crate::traces::TARGET, tracing::Level::TRACE)
        // Never the exporter's own events (about its exports) in what it exports.
        .with_target(
            "trent_server::traces",
            tracing_subscriber::filter::LevelFilter::OFF,
        )
        .with_default(tracing::Level::WARN);
    registry
        .with(layer.with_filter(targets))
        .try_init()
        .map_err(|e| format!("cannot set up logging: {e}"))?;
    Ok(Some(exporter))
}

/// The default text format, with `request_id=...` first in a request's lines.
struct TextWithRequestId(Format<Full>);

impl<S, N> FormatEvent<S, N> for TextWithRequestId
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        if let Some(id) = current_request_id() {
            write!(writer, "request_id={id} ")?;
        }
        self.0.format_event(ctx, writer, event)
    }
}

/// One JSON object per line: `timestamp` (RFC 3339, UTC), `level`, `target`, `fields`
/// (the message and the event's fields) and, in a request, `request_id`.
struct JsonLine;

impl<S, N> FormatEvent<S, N> for JsonLine
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut fields = Fields(Map::new());
        event.record(&mut fields);
        let meta = event.metadata();
        let mut line = Map::new();
        line.insert(
            "timestamp".into(),
            Value::String(
                time::OffsetDateTime::now_utc()
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default(),
            ),
        );
        line.insert("level".into(), Value::String(meta.level().to_string()));
        line.insert("target".into(), Value::String(meta.target().to_owned()));
        if let Some(id) = current_request_id() {
            line.insert("request_id".into(), Value::String(id));
        }
        line.insert("fields".into(), Value::Object(fields.0));
        let text = serde_json::to_string(&Value::Object(line)).map_err(|_| fmt::Error)?;
        writeln!(writer, "{text}")
    }
}

/// An event's fields as JSON values.
struct Fields(Map<String, Value>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().to_owned(), Value::String(format!("{value:?}")));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0
            .insert(field.name().to_owned(), Value::String(value.to_owned()));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
}
