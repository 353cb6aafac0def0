//! WARC input: web archives as documents.
//!
//! [`format`] reads the records of a `.warc` or `.warc.gz` as a stream. Here each record becomes
//! what the runner accounts for:
//!
//! - a `response` record carrying an HTTP response with an HTML body (`text/html`,
//!   `application/xhtml+xml`, or no content type and a body that starts like HTML) becomes a
//!   document: id = `WARC-Record-ID` (or `<file>:<offset>` when it has none), text = the body
//!   decoded by its charset ([`crate::io::charset`]), metadata `url` (`WARC-Target-URI`),
//!   `date` (`WARC-Date`), `content_type`, `http_status`, `charset` (the encoding used),
//!   `charset_source` (`http`, `meta`, `bom`, `detected`, `default`) and `charset_replacements`
//!   (bytes that did not decode, a signal of a wrong charset). Pages of any HTTP status are
//!   kept, with their status;
//! - every other record is *skipped* with a reason key counted in `stats.json` (`skipped`):
//!   `warc_warcinfo`, `warc_request`, `warc_metadata`, `warc_revisit`, `warc_resource`,
//!   `warc_conversion`, `warc_continuation`, `warc_other` by WARC type; `not_http` for a
//!   response that is not HTTP; `not_html` for a response whose body is not HTML (images,
//!   JSON, PDF...);
//! - bytes that are not a record, and responses whose HTTP head or body cannot be read, are
//!   *rejected* with the byte offset and the reason key of [`format`] (`truncated_record`,
//!   `corrupt_gzip`, ...) or of the HTTP parser (`bad_http_header`, `bad_chunked_encoding`,
//!   `bad_content_encoding`, `unsupported_content_encoding`, `body_too_large`); reading goes
//!   on with the next record.

pub mod format;

use std::io::Read;
use std::sync::Arc;

use format::{Compression, HttpResponse, WarcItem, WarcReader, WarcRecord};
use serde_json::{Map, Value};

use super::jsonl::Pending;
use super::reject;
use crate::document::{Document, Location};
use crate::io::charset;

/// Media types read as HTML pages.
const HTML_TYPES: [&str; 2] = ["text/html", "application/xhtml+xml"];

/// The documents, skipped records and rejections of one WARC file, in file order.
pub(crate) struct WarcRecords<R> {
    reader: WarcReader<R>,
    source: Arc<str>,
}

impl<R: Read> WarcRecords<R> {
    /// Records of `inner` (plain or gzip, told by its first bytes), named `source`; blocks over
    /// `max_record_bytes` are rejected unread.
    pub(crate) fn new(inner: R, source: Arc<str>, max_record_bytes: u64) -> Self {
        WarcRecords {
            reader: WarcReader::new(inner, Compression::Auto, max_record_bytes),
            source,
        }
    }
}

impl<R: Read> Iterator for WarcRecords<R> {
    type Item = Pending;

    fn next(&mut self) -> Option<Pending> {
        Some(match self.reader.next()? {
            WarcItem::Corrupt {
                offset,
                reason,
                detail,
                raw,
            } => Pending::Done(Err(reject(
                &self.source,
                Location::Offset(offset),
                reason,
                detail,
                raw,
            ))),
            WarcItem::Record(r) => self.record(r),
        })
    }
}

impl<R> WarcRecords<R> {
    fn record(&self, r: WarcRecord) -> Pending {
        if !r.warc_type.eq_ignore_ascii_case("response") {
            return Pending::Skipped(skip_reason(&r.warc_type));
        }
        let offset = r.offset;
        let http = match r.http {
            None => return Pending::Skipped("not_http"),
            Some(Err(e)) => {
                return Pending::Done(Err(reject(
                    &self.source,
                    Location::Offset(offset),
                    e.reason,
                    e.detail,
                    super::lines::raw_of(&r.block),
                )))
            }
            Some(Ok(h)) => h,
        };
        if !is_html(&http) {
            return Pending::Skipped("not_html");
        }
        if let Some(e) = &http.body_error {
            return Pending::Done(Err(reject(
                &self.source,
                Location::Offset(offset),
                e.reason,
                e.detail.clone(),
                super::lines::raw_of(&http.body),
            )));
        }
        let url = r.target_uri;
        let decoded =
            charset::decode_html_for_url(&http.body, http.charset.as_deref(), url.as_deref());
        let id = r
            .record_id
            .unwrap_or_else(|| format!("{}:{offset}", self.source));
        let mut meta = Map::new();
        let mut put = |k: &str, v: Value| {
            meta.insert(k.to_string(), v);
        };
        put("url", url.map_or(Value::Null, Value::String));
        put("date", r.date.map_or(Value::Null, Value::String));
        put(
            "content_type",
            http.content_type.clone().map_or(Value::Null, Value::String),
        );
        put("http_status", Value::from(http.status));
        put("charset", Value::from(decoded.encoding));
        put("charset_source", Value::from(decoded.from.as_str()));
        put("charset_replacements", Value::from(decoded.replacements));
        let mut doc = Document::new(id, decoded.text, self.source.clone());
        doc.metadata = Some(meta);
        Pending::Done(Ok(doc))
    }
}

/// The skip reason of a record of WARC type `t` (not a response).
fn skip_reason(t: &str) -> &'static str {
    match t.to_ascii_lowercase().as_str() {
        "warcinfo" => "warc_warcinfo",
        "request" => "warc_request",
        "metadata" => "warc_metadata",
        "revisit" => "warc_revisit",
        "resource" => "warc_resource",
        "conversion" => "warc_conversion",
        "continuation" => "warc_continuation",
        _ => "warc_other",
    }
}

/// Whether a response is an HTML page: by its media type, or, without one, by how the body
/// starts.
fn is_html(http: &HttpResponse) -> bool {
    match &http.content_type {
        Some(t) => HTML_TYPES.contains(&t.as_str()),
        None => {
            let head = &http.body[..http.body.len().min(1024)];
            let head = String::from_utf8_lossy(head).to_ascii_lowercase();
            let head = head.trim_start_matches('\u{feff}').trim_start();
            head.starts_with("<!doctype html")
                || head.starts_with("<html")
                || head.contains("<html")
        }
    }
}
