//! `LogFormat: json` as MPNS writes it (mlog): one object per line, `timestamp`, `level` in
//! lower case, `msg`, `caller` (`file:line`), then the event's fields. tracing-subscriber's own
//! JSON names them `level` (upper case), `fields.message`, `target`, which log pipelines built
//! for MPNS would not find.

use std::fmt::{self, Write as _};

use tracing::{field::Field, Event, Subscriber};
use tracing_subscriber::{
    fmt::{format::Writer, FmtContext, FormatEvent, FormatFields},
    registry::LookupSpan,
};

pub struct MpnsJson;

impl<S, N> FormatEvent<S, N> for MpnsJson
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
        let meta = event.metadata();
        let mut fields = Fields::default();
        event.record(&mut fields);
        let timestamp = time::OffsetDateTime::now_utc()
            .format(TIMESTAMP)
            .unwrap_or_default();
        let caller = format!(
            "{}:{}",
            meta.file().unwrap_or(meta.target()),
            meta.line().unwrap_or(0)
        );
        write!(
            writer,
            "{{\"timestamp\":{},\"level\":{},\"msg\":{},\"caller\":{}",
            quote(&timestamp),
            quote(&meta.level().as_str().to_ascii_lowercase()),
            quote(&fields.msg),
            quote(&caller)
        )?;
        writer.write_str(&fields.rest)?;
        writer.write_str("}\n")
    }
}

/// mlog's timestamp: `2006-01-02 15:04:05.000 Z07:00`, here always UTC.
const TIMESTAMP: &[time::format_description::BorrowedFormatItem<'_>] = time::macros::format_description!(
    "[year]-[month]-[day] [hour]:[minute]:[second].[subsecond digits:3] Z"
);

fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

/// The message, and every other field as `,"name":value`.
#[derive(Default)]
struct Fields {
    msg: String,
    rest: String,
}

impl Fields {
    fn push(&mut self, field: &Field, value: String) {
        if field.name() == "message" {
            self.msg = value;
        } else {
            let _ = write!(self.rest, ",{}:{}", quote(field.name()), quote(&value));
        }
    }
}

impl tracing::field::Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.push(field, value.to_string());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.push(field, format!("{value:?}"));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        if field.name() == "message" {
            self.msg = value.to_string();
        } else {
            let _ = write!(self.rest, ",{}:{value}", quote(field.name()));
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == "message" {
            self.msg = value.to_string();
        } else {
            let _ = write!(self.rest, ",{}:{value}", quote(field.name()));
        }
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        let _ = write!(self.rest, ",{}:{value}", quote(field.name()));
    }
}
