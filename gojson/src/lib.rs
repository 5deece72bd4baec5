//! Decoding JSON the way Go's `encoding/json` does, because MPNS did and Mattermost servers (and
//! operators' config files) rely on it: keys match case-insensitively, unknown keys are ignored,
//! `null` leaves the default, bytes after the first value are ignored, invalid UTF-8 becomes
//! U+FFFD, and a value of the wrong type is an error that names the field (never its value).
//! Encoding follows Go too: map keys sorted, `<`, `>`, `&` escaped as `\u003c` and friends.
//!
//! What it is: the few Go rules the proxy (config, payloads) and the bridge (request bodies,
//! answers) must share. What it is not: a general JSON library, or part of the public gRPC API.

#![forbid(unsafe_code)]

use serde_json::{Map, Value};

/// A decoded JSON object whose fields are read by their Go type.
#[derive(Debug, Default)]
pub struct GoObject {
    /// Keys lower-cased; a later duplicate overwrites an earlier one, as in Go. Nulls are dropped.
    fields: Map<String, Value>,
    /// The Go struct name used in error texts, e.g. `PushNotification`.
    type_name: &'static str,
    /// Where each key's value stands in the document, for reporting errors in Go's order.
    positions: std::collections::HashMap<String, usize>,
}

/// Parses the first JSON value of `body` as an object. `go_type` is the Go type named when the
/// value is not an object at all (e.g. `model.PushNotification`); its last segment names fields.
pub fn decode_object(body: &[u8], go_type: &'static str) -> Result<GoObject, String> {
    // Checked first: a valid body (nearly all) is validated several times faster than the
    // lossy conversion walks it.
    let text = match std::str::from_utf8(body) {
        Ok(text) => std::borrow::Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(body),
    };
    let text = lone_surrogates_replaced(&text);
    let first = serde_json::Deserializer::from_str(&text)
        .into_iter::<TopLevel>()
        .next();
    let type_name = go_type.rsplit('.').next().unwrap_or(go_type);
    match first {
        None => Err("EOF".to_string()),
        Some(Err(e)) => Err(syntax_error(&text, &e)),
        Some(Ok(TopLevel::Object(entries))) => Ok(GoObject::from_entries(entries, type_name)),
        Some(Ok(TopLevel::Null)) => Ok(GoObject::from_entries(Map::new(), type_name)),
        Some(Ok(TopLevel::Other(kind))) => Err(format!(
            "json: cannot unmarshal {kind} into Go value of type {go_type}"
        )),
    }
}

/// A key as fields are matched: lower-cased. ASCII keys (every field name, nearly every key
/// sent) take the cheap ASCII path, whose result is the same; only others need Unicode's.
fn fold(key: &str) -> std::borrow::Cow<'_, str> {
    if !key.is_ascii() {
        std::borrow::Cow::Owned(key.to_lowercase())
    } else if key.bytes().any(|b| b.is_ascii_uppercase()) {
        std::borrow::Cow::Owned(key.to_ascii_lowercase())
    } else {
        std::borrow::Cow::Borrowed(key)
    }
}

/// The first JSON value of a body, keeping an object's keys in document order: Go applies
/// duplicate keys (`badge`, then `BADGE`) in that order, and `serde_json::Map` sorts them.
enum TopLevel {
    Object(Vec<(String, Value)>),
    Null,
    /// Not an object: the JSON kind, for the error text.
    Other(&'static str),
}

impl<'de> serde::Deserialize<'de> for TopLevel {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = TopLevel;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<TopLevel, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry::<String, Value>()? {
                    entries.push(entry);
                }
                Ok(TopLevel::Object(entries))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<TopLevel, A::Error> {
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(TopLevel::Other("array"))
            }
            fn visit_unit<E>(self) -> Result<TopLevel, E> {
                Ok(TopLevel::Null)
            }
            fn visit_bool<E>(self, _: bool) -> Result<TopLevel, E> {
                Ok(TopLevel::Other("bool"))
            }
            fn visit_i64<E>(self, _: i64) -> Result<TopLevel, E> {
                Ok(TopLevel::Other("number"))
            }
            fn visit_u64<E>(self, _: u64) -> Result<TopLevel, E> {
                Ok(TopLevel::Other("number"))
            }
            fn visit_f64<E>(self, _: f64) -> Result<TopLevel, E> {
                Ok(TopLevel::Other("number"))
            }
            fn visit_str<E>(self, _: &str) -> Result<TopLevel, E> {
                Ok(TopLevel::Other("string"))
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// Go decodes a `\uD800` escape with no partner as U+FFFD; serde_json refuses the document.
/// Rewrites such escapes (and only those) to `\uFFFD` first; most bodies have none and are
/// returned as they are.
fn lone_surrogates_replaced(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains("\\u") {
        return std::borrow::Cow::Borrowed(text);
    }
    let hex = |s: &str| -> Option<u32> {
        let digits = s.get(..4)?;
        if digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            u32::from_str_radix(digits, 16).ok()
        } else {
            None
        }
    };
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('\\') {
        out.push_str(&rest[..at]);
        let escape = &rest[at..];
        if !escape.starts_with("\\u") {
            // Any other escape (`\\` included) is two characters; copy them as they are.
            let len = escape.chars().take(2).map(char::len_utf8).sum::<usize>();
            out.push_str(&escape[..len]);
            rest = &escape[len..];
            continue;
        }
        match hex(&escape[2..]) {
            Some(high @ 0xD800..=0xDBFF) => {
                let low = escape[6..]
                    .strip_prefix("\\u")
                    .and_then(hex)
                    .filter(|l| (0xDC00..=0xDFFF).contains(l));
                match low {
                    Some(_) => {
                        out.push_str(&escape[..12]);
                        rest = &escape[12..];
                    }
                    None => {
                        let _ = high;
                        out.push_str("\\uFFFD");
                        rest = &escape[6..];
                    }
                }
            }
            Some(0xDC00..=0xDFFF) => {
                out.push_str("\\uFFFD");
                rest = &escape[6..];
            }
            _ => {
                out.push_str(&escape[..2]);
                rest = &escape[2..];
            }
        }
    }
    out.push_str(rest);
    std::borrow::Cow::Owned(out)
}

/// Go's wording for the common syntax errors; the rest keep serde_json's description.
fn syntax_error(text: &str, e: &serde_json::Error) -> String {
    if e.is_eof() {
        return "unexpected EOF".to_string();
    }
    let first = text.trim_start().chars().next();
    match first {
        Some(c) if !matches!(c, '{' | '[' | '"' | '-' | '0'..='9' | 't' | 'f' | 'n') => {
            format!("invalid character '{c}' looking for beginning of value")
        }
        _ => format!("invalid JSON: {e}"),
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

impl GoObject {
    /// Keys lower-cased in the given order, so a later duplicate wins; nulls leave defaults.
    fn from_entries(
        entries: impl IntoIterator<Item = (String, Value)>,
        type_name: &'static str,
    ) -> Self {
        let mut fields = Map::new();
        let mut positions = std::collections::HashMap::new();
        for (at, (key, value)) in entries.into_iter().enumerate() {
            if !value.is_null() {
                let key = fold(&key).into_owned();
                positions.insert(key.clone(), at);
                fields.insert(key, value);
            }
        }
        GoObject {
            fields,
            type_name,
            positions,
        }
    }

    /// Reads many fields and reports, as Go does, the type error of the one that comes first
    /// in the document (not in the order the fields are read).
    pub fn reader(&self) -> Reader<'_> {
        Reader {
            object: self,
            first_error: None,
        }
    }

    fn mismatch(&self, key: &str, found: &Value, go_type: &str) -> String {
        // Go names the number only when it is out of range or not whole for an int field.
        let kind = match found {
            Value::Number(n) if go_type.starts_with("int") => format!("number {n}"),
            other => json_kind(other).to_string(),
        };
        format!(
            "json: cannot unmarshal {kind} into Go struct field {}.{key} of type {go_type}",
            self.type_name
        )
    }

    pub fn string(&self, key: &str) -> Result<String, String> {
        match self.fields.get(fold(key).as_ref()) {
            None => Ok(String::new()),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(other) => Err(self.mismatch(key, other, "string")),
        }
    }

    pub fn boolean(&self, key: &str) -> Result<bool, String> {
        match self.fields.get(fold(key).as_ref()) {
            None => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(other) => Err(self.mismatch(key, other, "bool")),
        }
    }

    /// Whether the key is present with a value (not absent, not `null`): for the few keys of
    /// pushgate's own whose zero is a setting and whose absence means a default.
    pub fn has(&self, key: &str) -> bool {
        self.fields
            .get(fold(key).as_ref())
            .is_some_and(|v| !v.is_null())
    }

    /// A Go `int`/`int64` field: whole numbers only, no strings, no fractions.
    pub fn int64(&self, key: &str, go_type: &str) -> Result<i64, String> {
        match self.fields.get(fold(key).as_ref()) {
            None => Ok(0),
            Some(v @ Value::Number(n)) => n.as_i64().ok_or_else(|| self.mismatch(key, v, go_type)),
            Some(other) => Err(self.mismatch(key, other, go_type)),
        }
    }

    /// A Go `int` field carried in an `i32` (badge, cont_ava).
    pub fn int32(&self, key: &str) -> Result<i32, String> {
        let wide = self.int64(key, "int")?;
        i32::try_from(wide).map_err(|_| {
            let found = &self.fields[fold(key).as_ref()];
            self.mismatch(key, found, "int")
        })
    }

    /// A Go `[]string` field, e.g. `AllowedHosts`; a `null` item is "".
    pub fn strings(&self, key: &str) -> Result<Vec<String>, String> {
        match self.fields.get(fold(key).as_ref()) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| match item {
                    Value::String(s) => Ok(s.clone()),
                    Value::Null => Ok(String::new()),
                    other => Err(self.mismatch(key, other, "string")),
                })
                .collect(),
            Some(other) => Err(self.mismatch(key, other, "[]string")),
        }
    }

    /// An array of objects, e.g. the config's `ApplePushSettings`.
    pub fn objects(&self, key: &str, item_type: &'static str) -> Result<Vec<GoObject>, String> {
        match self.fields.get(fold(key).as_ref()) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| match item {
                    Value::Object(map) => Ok(GoObject::from_entries(map.clone(), item_type)),
                    Value::Null => Ok(GoObject::from_entries(Map::new(), item_type)),
                    other => Err(self.mismatch(key, other, item_type)),
                })
                .collect(),
            Some(other) => Err(self.mismatch(key, other, &format!("[]{item_type}"))),
        }
    }
}

/// Reads the fields of one object, keeping the type error Go would report: the first in
/// document order. A field in error reads as its zero value.
pub struct Reader<'a> {
    object: &'a GoObject,
    /// (position in the document, error text) of the earliest error so far.
    first_error: Option<(usize, String)>,
}

impl Reader<'_> {
    fn keep<T: Default>(&mut self, key: &str, read: Result<T, String>) -> T {
        read.unwrap_or_else(|e| {
            let at = self
                .object
                .positions
                .get(fold(key).as_ref())
                .copied()
                .unwrap_or(0);
            if self
                .first_error
                .as_ref()
                .is_none_or(|(first, _)| at < *first)
            {
                self.first_error = Some((at, e));
            }
            T::default()
        })
    }

    pub fn string(&mut self, key: &str) -> String {
        let read = self.object.string(key);
        self.keep(key, read)
    }

    pub fn boolean(&mut self, key: &str) -> bool {
        let read = self.object.boolean(key);
        self.keep(key, read)
    }

    pub fn int64(&mut self, key: &str, go_type: &str) -> i64 {
        let read = self.object.int64(key, go_type);
        self.keep(key, read)
    }

    pub fn int32(&mut self, key: &str) -> i32 {
        let read = self.object.int32(key);
        self.keep(key, read)
    }

    /// The first error in document order, if any field had one.
    pub fn finish(self) -> Result<(), String> {
        match self.first_error {
            Some((_, e)) => Err(e),
            None => Ok(()),
        }
    }
}

/// Encodes a string map as Go's `json.Encoder` does for MPNS answers: keys sorted, HTML
/// characters escaped, and a trailing newline.
pub fn encode_go_map<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let map: std::collections::BTreeMap<&str, &str> = pairs.into_iter().collect();
    let mut out = to_go_json(&map);
    out.push('\n');
    out
}

/// `serde_json` output with Go's HTML-safe escaping (`<`, `>`, `&`, U+2028, U+2029). These
/// characters can only occur inside JSON strings, so replacing them in the text is exact.
pub fn to_go_json<T: serde::Serialize + ?Sized>(value: &T) -> String {
    let raw = serde_json::to_string(value).expect("string-keyed values always serialize");
    let mut json = go_escape(raw);
    // serde_json doubles its buffer as it writes, and a push's payload is held for as long as
    // the push is in flight (10,000 in flight: the spare half was ~5 MB).
    json.shrink_to_fit();
    json
}

fn go_escape(raw: String) -> String {
    // A byte scan first: most payloads have none of these, and a scan by `char` costs ~15
    // instructions a byte (U+2028 and U+2029 both start with the byte 0xE2 in UTF-8).
    if !raw.bytes().any(|b| matches!(b, b'<' | b'>' | b'&' | 0xE2))
        || !raw.contains(['<', '>', '&', '\u{2028}', '\u{2029}'])
    {
        return raw;
    }
    let mut out = String::with_capacity(raw.len() + 16);
    for c in raw.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(s: &str) -> Result<GoObject, String> {
        decode_object(s.as_bytes(), "model.PushNotification")
    }

    #[test]
    fn keys_fold_nulls_default_and_trailing_bytes_ignored() {
        let o = decode(r#"{"Server_ID":"s","badge":null,"x":[1]} trailing junk"#).unwrap();
        assert_eq!(o.string("server_id").unwrap(), "s");
        assert_eq!(o.int32("badge").unwrap(), 0, "null leaves the default");
        // A later duplicate wins, whatever the case of its key (Go's decoder).
        let o = decode(r#"{"badge":1,"BADGE":2}"#).unwrap();
        assert_eq!(o.int32("badge").unwrap(), 2);
        // null does not erase an earlier value.
        let o = decode(r#"{"badge":3,"Badge":null}"#).unwrap();
        assert_eq!(o.int32("badge").unwrap(), 3);
    }

    #[test]
    fn go_error_texts() {
        assert_eq!(decode("").unwrap_err(), "EOF");
        assert_eq!(decode("  \n").unwrap_err(), "EOF");
        assert_eq!(
            decode("<xml/>").unwrap_err(),
            "invalid character '<' looking for beginning of value"
        );
        assert_eq!(decode(r#"{"a":"#).unwrap_err(), "unexpected EOF");
        assert_eq!(
            decode("[1]").unwrap_err(),
            "json: cannot unmarshal array into Go value of type model.PushNotification"
        );
        let o = decode(r#"{"badge":"3","b2":2.5,"ok":true}"#).unwrap();
        assert_eq!(
            o.int32("badge").unwrap_err(),
            "json: cannot unmarshal string into Go struct field PushNotification.badge of type int"
        );
        assert_eq!(
            o.int32("b2").unwrap_err(),
            "json: cannot unmarshal number 2.5 into Go struct field PushNotification.b2 of type int"
        );
        assert_eq!(
            o.string("ok").unwrap_err(),
            "json: cannot unmarshal bool into Go struct field PushNotification.ok of type string"
        );
    }

    #[test]
    fn invalid_utf8_becomes_replacement_character() {
        let o = decode_object(b"{\"message\":\"a\xffb\"}", "T").unwrap();
        assert_eq!(o.string("message").unwrap(), "a\u{fffd}b");
    }

    #[test]
    fn encoding_matches_go() {
        assert_eq!(
            encode_go_map([("status", "FAIL"), ("error", "x <b> & y")]),
            "{\"error\":\"x \\u003cb\\u003e \\u0026 y\",\"status\":\"FAIL\"}\n"
        );
    }
}
