//! JSON Lines (plain, gzip, zstd): one record per non-blank line.

use std::io::BufRead;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::lines::{is_ascii_blank, raw_of, Line, LineReader};
use super::{reject, Stream};
use crate::document::{Document, Location, Record};

/// The fields a JSON record is read through.
pub struct Fields {
    /// Key of the text.
    pub text: String,
    /// Key of the id, if ids are read from records.
    pub id: Option<String>,
    /// Keys copied into the metadata.
    pub metadata: Vec<String>,
}

/// Records of a JSON Lines stream, in line order. Lines are split here; parsing each line is
/// left to [`Pending::resolve`], so that it can run on the worker pool.
pub(crate) struct JsonlRecords<R> {
    lines: LineReader<R>,
    source: Arc<str>,
    fields: Arc<Fields>,
    stream: Stream,
    max_line_bytes: u64,
}

impl<R: BufRead> JsonlRecords<R> {
    /// Records of `reader`, named `source`, with lines over `max_line_bytes` rejected.
    pub(crate) fn new(
        reader: R,
        source: Arc<str>,
        fields: Fields,
        stream: Stream,
        max_line_bytes: u64,
    ) -> Self {
        JsonlRecords {
            lines: LineReader::new(reader, max_line_bytes),
            source,
            fields: Arc::new(fields),
            stream,
            max_line_bytes,
        }
    }
}

/// A record that may still have to be parsed.
pub enum Pending {
    /// Already a document or a rejection.
    Done(Record),
    /// A record of the input that is not a document and is not an error (a WARC request or
    /// metadata record, a non-HTML response), with the reason key it is counted under in
    /// `stats.json`'s `skipped`.
    Skipped(&'static str),
    /// A JSON line, not parsed yet.
    Json {
        /// The line's bytes (without the newline).
        bytes: Vec<u8>,
        /// 1-based line number.
        line: u64,
        /// The input file's display name.
        source: Arc<str>,
        /// Which fields to read.
        fields: Arc<Fields>,
    },
}

impl Pending {
    /// The record: parses a pending JSON line; `None` for a skipped record.
    pub fn resolve(self) -> Option<Record> {
        Some(match self {
            Pending::Skipped(_) => return None,
            Pending::Done(r) => r,
            Pending::Json {
                bytes,
                line,
                source,
                fields,
            } => parse_record(&bytes, line, &source, &fields),
        })
    }
}

impl<R: BufRead> Iterator for JsonlRecords<R> {
    type Item = Pending;

    fn next(&mut self) -> Option<Pending> {
        loop {
            let (n, line, _) = match self.lines.next_line()? {
                Ok(item) => item,
                Err(f) => {
                    let location = if f.at_start {
                        Location::File
                    } else {
                        Location::Line(f.line)
                    };
                    return Some(Pending::Done(Err(reject(
                        &self.source,
                        location,
                        self.stream.failure_reason(),
                        format!("{} (reading stopped here)", f.error),
                        raw_of(&f.partial),
                    ))));
                }
            };
            let bytes = match line {
                Line::TooLong { len, head } => {
                    return Some(Pending::Done(Err(reject(
                        &self.source,
                        Location::Line(n),
                        "line_too_long",
                        format!(
                            "line is {len} bytes, over max_line_bytes ({})",
                            self.max_line_bytes
                        ),
                        raw_of(head),
                    ))));
                }
                Line::Text(bytes) => bytes,
            };
            if is_ascii_blank(bytes) {
                continue;
            }
            // A UTF-8 byte order mark is not part of the first record.
            let bytes = if n == 1 {
                bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
            } else {
                bytes
            };
            return Some(Pending::Json {
                bytes: bytes.to_vec(),
                line: n,
                source: self.source.clone(),
                fields: self.fields.clone(),
            });
        }
    }
}

/// One JSON line to a document, or the first reason it cannot be one.
fn parse_record(bytes: &[u8], n: u64, source: &Arc<str>, fields: &Fields) -> Record {
    let location = Location::Line(n);
    let rej =
        |reason: &str, detail: String| Err(reject(source, location, reason, detail, raw_of(bytes)));
    let line = match std::str::from_utf8(bytes) {
        Ok(line) => line,
        Err(e) => return rej("invalid_utf8", e.to_string()),
    };
    let mut object = match serde_json::from_str::<Value>(line) {
        Ok(Value::Object(object)) => object,
        Ok(other) => {
            return rej(
                "invalid_json",
                format!("expected a JSON object, found {}", kind(&other)),
            )
        }
        Err(e) => return rej("invalid_json", e.to_string()),
    };
    // Null counts as absent, as a null parquet cell does.
    let text = match object.remove(&fields.text) {
        None | Some(Value::Null) => {
            return rej("missing_text", format!("no text field `{}`", fields.text))
        }
        Some(Value::String(text)) => text,
        Some(other) => {
            return rej(
                "text_not_string",
                format!(
                    "text field `{}` is {}, not a string",
                    fields.text,
                    kind(&other)
                ),
            );
        }
    };
    let id = match fields.id.as_deref().map(|f| (f, object.get(f))) {
        None | Some((_, None | Some(Value::Null))) => format!("{source}:{n}"),
        Some((_, Some(Value::String(s)))) => s.clone(),
        Some((_, Some(Value::Number(x)))) if x.is_i64() || x.is_u64() => x.to_string(),
        Some((f, Some(other))) => {
            return rej(
                "bad_id",
                format!("id field `{f}` is {}, not a string or integer", kind(other)),
            );
        }
    };
    let metadata = metadata_of(&mut object, &fields.metadata, &fields.text, text.as_str());
    let mut doc = Document::new(id, text, source.clone());
    doc.metadata = metadata;
    Ok(doc)
}

/// The metadata fields present in `object`, in configured order; `None` when none is present.
fn metadata_of(
    object: &mut Map<String, Value>,
    keys: &[String],
    text_key: &str,
    text: &str,
) -> Option<Map<String, Value>> {
    let mut out = Map::new();
    for key in keys {
        // The text was moved out of the object; a metadata field naming it gets a copy.
        let value = if key == text_key {
            Some(Value::String(text.to_string()))
        } else {
            object.remove(key)
        };
        if let Some(value) = value {
            out.insert(key.clone(), value);
        }
    }
    (!out.is_empty()).then_some(out)
}

/// A JSON value's kind, for messages.
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_f64() => "a non-integer number",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(input: &str, max: u64) -> Vec<Record> {
        let fields = Fields {
            text: "text".into(),
            id: Some("id".into()),
            metadata: vec!["lang".into()],
        };
        JsonlRecords::new(
            input.as_bytes(),
            Arc::from("f.jsonl"),
            fields,
            Stream::Plain,
            max,
        )
        .filter_map(Pending::resolve)
        .collect()
    }

    fn summary(records: &[Record]) -> Vec<String> {
        records
            .iter()
            .map(|r| match r {
                Ok(d) => format!("ok {} {:?}", d.id, d.text),
                Err(e) => format!("{} {}", e.location, e.reason),
            })
            .collect()
    }

    #[test]
    fn reads_ids_text_and_metadata() {
        let recs = read(
            "\u{feff}{\"id\":\"a\",\"text\":\"x\",\"lang\":\"eng\"}\n\n  \n{\"id\":7,\"text\":\"y\"}\n{\"text\":\"z\",\"id\":null}",
            100,
        );
        assert_eq!(
            summary(&recs),
            ["ok a \"x\"", "ok 7 \"y\"", "ok f.jsonl:5 \"z\""]
        );
        let meta = recs[0].as_ref().unwrap().metadata.clone().unwrap();
        assert_eq!(meta.get("lang"), Some(&Value::String("eng".into())));
        assert_eq!(recs[1].as_ref().unwrap().metadata, None);
    }

    #[test]
    fn rejects_each_kind() {
        let recs = read(
            "[1]\n{\"text\":1}\n{\"id\":1.5,\"text\":\"a\"}\n{\"text\":null}\n{bad\n{\"text\":\"aaaaaaaaaaaaaaaaaaaaa\"}\n",
            25,
        );
        assert_eq!(
            summary(&recs),
            [
                "line 1 invalid_json",
                "line 2 text_not_string",
                "line 3 bad_id",
                "line 4 missing_text",
                "line 5 invalid_json",
                "line 6 line_too_long"
            ]
        );
        let e = recs[4].as_ref().unwrap_err();
        assert_eq!(e.detail, "key must be a string at line 1 column 2");
        assert_eq!(e.raw, "{bad");
        assert_eq!(
            recs[0].as_ref().unwrap_err().detail,
            "expected a JSON object, found an array"
        );
    }
}
