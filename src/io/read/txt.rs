//! Plain text: a whole file as one document, or one document per paragraph.

use std::io::BufRead;
use std::sync::Arc;

use super::lines::{raw_of, Line, LineReader, ReadFailure, RAW_HEAD_BYTES};
use super::{reject, Stream};
use crate::document::{Document, Location, Record, Rejection};

/// The rejection for a failed read at `location`.
fn read_failure(source: &Arc<str>, location: Location, f: ReadFailure, raw: &[u8]) -> Rejection {
    let raw = if raw.is_empty() { &f.partial[..] } else { raw };
    let detail = format!("{} (reading stopped here)", f.error);
    reject(
        source,
        location,
        Stream::Plain.failure_reason(),
        detail,
        raw_of(raw),
    )
}

/// Appends up to [`RAW_HEAD_BYTES`] of `bytes` (and a newline) to the raw head of a record.
fn push_raw(raw: &mut Vec<u8>, bytes: &[u8]) {
    let room = RAW_HEAD_BYTES.saturating_sub(raw.len());
    raw.extend_from_slice(&bytes[..bytes.len().min(room)]);
    if raw.len() < RAW_HEAD_BYTES {
        raw.push(b'\n');
    }
}

/// The whole file as one record. Line endings `\r\n` become `\n` (as Python's text mode does,
/// so texts match what datatrove reads; a `\r` ending the file is dropped); a leading byte order
/// mark is dropped.
pub(crate) fn whole_file<R: BufRead>(reader: R, source: Arc<str>, max_line_bytes: u64) -> Record {
    let mut lines = LineReader::new(reader, max_line_bytes);
    let mut text: Vec<u8> = Vec::new();
    while let Some(item) = lines.next_line() {
        let (n, line, terminated) = match item {
            Ok(item) => item,
            Err(f) => return Err(read_failure(&source, Location::File, f, &text)),
        };
        match line {
            Line::TooLong { len, head } => {
                let detail =
                    format!("line {n} is {len} bytes, over max_line_bytes ({max_line_bytes})");
                let raw = if text.is_empty() { head } else { &text[..] };
                return Err(reject(
                    &source,
                    Location::File,
                    "line_too_long",
                    detail,
                    raw_of(raw),
                ));
            }
            Line::Text(bytes) => {
                let bytes = if n == 1 {
                    bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
                } else {
                    bytes
                };
                text.extend_from_slice(bytes);
                if terminated {
                    text.push(b'\n');
                }
            }
        }
    }
    let id = source.to_string();
    match String::from_utf8(text) {
        Ok(text) => Ok(Document::new(id, text, source)),
        Err(e) => {
            let detail = e.utf8_error().to_string();
            Err(reject(
                &source,
                Location::File,
                "invalid_utf8",
                detail,
                raw_of(e.as_bytes()),
            ))
        }
    }
}

/// What is wrong with the paragraph being collected; the first problem wins.
enum Problem {
    TooLong {
        line: u64,
        len: u64,
    },
    InvalidUtf8 {
        line: u64,
        error: std::str::Utf8Error,
    },
}

/// Records of a text file split at blank lines: each block of consecutive non-blank lines,
/// joined with `\n`, located at its first line.
pub(crate) struct Paragraphs<R> {
    lines: LineReader<R>,
    source: Arc<str>,
    max_line_bytes: u64,
    /// A read failure met after the last paragraph, reported once that paragraph is out.
    failure: Option<Rejection>,
}

impl<R: BufRead> Paragraphs<R> {
    /// Paragraph records of `reader`, named `source`.
    pub(crate) fn new(reader: R, source: Arc<str>, max_line_bytes: u64) -> Self {
        Paragraphs {
            lines: LineReader::new(reader, max_line_bytes),
            source,
            max_line_bytes,
            failure: None,
        }
    }
}

impl<R: BufRead> Iterator for Paragraphs<R> {
    type Item = Record;

    fn next(&mut self) -> Option<Record> {
        if let Some(failure) = self.failure.take() {
            return Some(Err(failure));
        }
        let mut start = 0u64;
        let mut text = String::new();
        let mut raw: Vec<u8> = Vec::new();
        let mut problem: Option<Problem> = None;
        loop {
            let (n, line) = match self.lines.next_line() {
                None => break,
                Some(Ok((n, line, _))) => (n, line),
                Some(Err(f)) => {
                    let failure = read_failure(&self.source, Location::Line(f.line), f, &[]);
                    if start == 0 {
                        return Some(Err(failure));
                    }
                    // The paragraph read so far goes out as it is; the failure follows it.
                    self.failure = Some(failure);
                    break;
                }
            };
            let bytes = match line {
                Line::TooLong { len, head } => {
                    if start == 0 {
                        start = n;
                    }
                    push_raw(&mut raw, head);
                    problem.get_or_insert(Problem::TooLong { line: n, len });
                    continue;
                }
                Line::Text(bytes) => bytes,
            };
            let bytes = if n == 1 {
                bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
            } else {
                bytes
            };
            let line = std::str::from_utf8(bytes);
            if matches!(line, Ok(l) if l.trim().is_empty()) {
                if start == 0 {
                    continue;
                }
                break;
            }
            if start == 0 {
                start = n;
            }
            push_raw(&mut raw, bytes);
            match line {
                // A rejected paragraph keeps only its raw head, so it cannot grow memory.
                Ok(l) if problem.is_none() => {
                    if !text.is_empty() {
                        text.push('\n');
                    }
                    text.push_str(l);
                }
                Ok(_) => {}
                Err(error) => {
                    problem.get_or_insert(Problem::InvalidUtf8 { line: n, error });
                }
            }
        }
        if start == 0 {
            return self.failure.take().map(Err);
        }
        let location = Location::Line(start);
        Some(match problem {
            None => Ok(Document::new(
                format!("{}:{start}", self.source),
                text,
                self.source.clone(),
            )),
            Some(Problem::TooLong { line, len }) => Err(reject(
                &self.source,
                location,
                "line_too_long",
                format!(
                    "line {line} is {len} bytes, over max_line_bytes ({})",
                    self.max_line_bytes
                ),
                raw_of(&raw),
            )),
            Some(Problem::InvalidUtf8 { line, error }) => Err(reject(
                &self.source,
                location,
                "invalid_utf8",
                format!("line {line}: {error}"),
                raw_of(&raw),
            )),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paragraphs(input: &[u8], max: u64) -> Vec<String> {
        Paragraphs::new(input, Arc::from("t.txt"), max)
            .map(|r| match r {
                Ok(d) => format!("{} {:?}", d.id, d.text),
                Err(e) => format!("{} {} {:?}", e.location, e.reason, e.detail),
            })
            .collect()
    }

    #[test]
    fn splits_at_blank_lines() {
        let got = paragraphs(b"\n\na b\r\nc\r\n \t\r\n\r\nd\n\ne\n", 100);
        assert_eq!(
            got,
            ["t.txt:3 \"a b\\nc\"", "t.txt:7 \"d\"", "t.txt:9 \"e\""]
        );
    }

    #[test]
    fn rejects_bad_paragraphs_whole() {
        let got = paragraphs(b"ok\n\nx\nyyyyyyyyyyyy\nz\n\nbad \xff\nmore\n\nlast", 5);
        assert_eq!(
            got,
            [
                "t.txt:1 \"ok\"",
                "line 3 line_too_long \"line 4 is 12 bytes, over max_line_bytes (5)\"",
                "line 7 invalid_utf8 \"line 7: invalid utf-8 sequence of 1 bytes from index 4\"",
                "t.txt:10 \"last\"",
            ]
        );
    }

    #[test]
    fn whole_file_normalizes_line_ends() {
        let d = whole_file(&b"\xEF\xBB\xBFa\r\nb\n\nc"[..], Arc::from("w.txt"), 10).unwrap();
        assert_eq!((d.id.as_str(), d.text.as_str()), ("w.txt", "a\nb\n\nc"));
        let e = whole_file(&b"a\n\xc3\x28"[..], Arc::from("w.txt"), 10).unwrap_err();
        assert_eq!(
            (e.location, e.reason.as_str()),
            (Location::File, "invalid_utf8")
        );
        let e = whole_file(&b"a\nbbbbbbbbbbbb\n"[..], Arc::from("w.txt"), 10).unwrap_err();
        assert_eq!(e.detail, "line 2 is 12 bytes, over max_line_bytes (10)");
    }
}
