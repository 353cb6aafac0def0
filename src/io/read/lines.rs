//! Line splitting with a length cap: an over-long line is measured and skipped in chunks, never
//! held whole, so memory stays bounded by `max_line_bytes` whatever the input.

use std::io::{self, BufRead};

/// Bytes of an over-long line (or of a failed read) kept for `Rejection::raw`: enough for the
/// 200 characters shown even when every character takes four bytes.
pub(crate) const RAW_HEAD_BYTES: usize = 800;

/// Characters of a record kept in `Rejection::raw`.
const RAW_CHARS: usize = 200;

/// The start of a record as text, for `Rejection::raw`: lossy UTF-8, at most 200 characters.
pub(crate) fn raw_of(bytes: &[u8]) -> String {
    let head = &bytes[..bytes.len().min(RAW_HEAD_BYTES)];
    String::from_utf8_lossy(head)
        .chars()
        .take(RAW_CHARS)
        .collect()
}

/// True when the bytes are empty or only ASCII whitespace (JSON's notion of a blank line).
pub(crate) fn is_ascii_blank(bytes: &[u8]) -> bool {
    bytes.iter().all(u8::is_ascii_whitespace)
}

/// One line, without its terminator (`\n` or `\r\n`).
pub(crate) enum Line<'a> {
    /// A line within the cap.
    Text(&'a [u8]),
    /// A line over the cap: its full length and its first bytes.
    TooLong { len: u64, head: &'a [u8] },
}

/// A read that failed part-way (I/O error or a corrupt compressed stream).
pub(crate) struct ReadFailure {
    /// 1-based number of the line being read when it failed.
    pub line: u64,
    /// True when the failure came before any byte was read (the file is unreadable as a whole).
    pub at_start: bool,
    /// The first bytes of the partial line.
    pub partial: Vec<u8>,
    /// The underlying error.
    pub error: io::Error,
}

/// Splits a byte stream into numbered lines, holding at most `max + 1` bytes of a line.
pub(crate) struct LineReader<R> {
    inner: R,
    max: u64,
    buf: Vec<u8>,
    /// Lines fully read so far.
    line_no: u64,
    bytes_read: u64,
    done: bool,
}

impl<R: BufRead> LineReader<R> {
    /// A reader that reports lines longer than `max` bytes as [`Line::TooLong`].
    pub(crate) fn new(inner: R, max: u64) -> Self {
        LineReader {
            inner,
            max,
            buf: Vec::new(),
            line_no: 0,
            bytes_read: 0,
            done: false,
        }
    }

    /// The next line with its 1-based number and whether it ended with `\n`; `None` at the end.
    /// After a failure, the reader is finished.
    pub(crate) fn next_line(&mut self) -> Option<Result<(u64, Line<'_>, bool), ReadFailure>> {
        if self.done {
            return None;
        }
        self.buf.clear();
        let start_bytes = self.bytes_read;
        // The line's length so far, and its last byte (to strip a '\r' once the line is over
        // the cap and no longer buffered).
        let mut len: u64 = 0;
        let mut last: u8 = 0;
        let mut too_long = false;
        // `max + 1` bytes are kept so a line of exactly `max` bytes plus '\r' still fits.
        let keep = self.max.saturating_add(1);
        let terminated = loop {
            let chunk = match self.inner.fill_buf() {
                Ok(chunk) => chunk,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => {
                    self.done = true;
                    return Some(Err(ReadFailure {
                        line: self.line_no + 1,
                        at_start: self.bytes_read == 0,
                        partial: std::mem::take(&mut self.buf),
                        error,
                    }));
                }
            };
            if chunk.is_empty() {
                self.done = true;
                if self.bytes_read == start_bytes {
                    return None;
                }
                break false;
            }
            let (piece, used, ends) = match chunk.iter().position(|&b| b == b'\n') {
                Some(i) => (&chunk[..i], i + 1, true),
                None => (chunk, chunk.len(), false),
            };
            if let Some(&b) = piece.last() {
                last = b;
            }
            len += piece.len() as u64;
            if !too_long && len > keep {
                too_long = true;
                self.buf.truncate(RAW_HEAD_BYTES);
            }
            if too_long {
                let room = RAW_HEAD_BYTES.saturating_sub(self.buf.len());
                self.buf.extend_from_slice(&piece[..piece.len().min(room)]);
            } else {
                self.buf.extend_from_slice(piece);
            }
            self.inner.consume(used);
            self.bytes_read += used as u64;
            if ends {
                break true;
            }
        };
        self.line_no += 1;
        if last == b'\r' && len > 0 {
            len -= 1;
            if !too_long {
                self.buf.pop();
            }
        }
        let line = if len > self.max {
            Line::TooLong {
                len,
                head: &self.buf[..self.buf.len().min(RAW_HEAD_BYTES)],
            }
        } else {
            Line::Text(&self.buf)
        };
        Some(Ok((self.line_no, line, terminated)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (line number, text or length when too long, terminated) for every line.
    fn lines(input: &[u8], max: u64, cap: usize) -> Vec<(u64, Result<String, u64>, bool)> {
        let reader = io::BufReader::with_capacity(cap, input);
        let mut lines = LineReader::new(reader, max);
        let mut out = Vec::new();
        while let Some(item) = lines.next_line() {
            let (n, line, term) = item.ok().unwrap();
            let v = match line {
                Line::Text(t) => Ok(String::from_utf8_lossy(t).into_owned()),
                Line::TooLong { len, .. } => Err(len),
            };
            out.push((n, v, term));
        }
        out
    }

    #[test]
    fn splits_and_strips_crlf() {
        for cap in [1, 2, 3, 64] {
            let got = lines(b"a\r\nbb\n\ncc", 10, cap);
            assert_eq!(
                got,
                vec![
                    (1, Ok("a".into()), true),
                    (2, Ok("bb".into()), true),
                    (3, Ok("".into()), true),
                    (4, Ok("cc".into()), false)
                ],
                "cap {cap}"
            );
        }
    }

    #[test]
    fn cap_is_exclusive_of_terminator() {
        for cap in [1, 4, 64] {
            let got = lines(b"abcd\r\nabcde\nabc\r\r\nabcd", 4, cap);
            assert_eq!(
                got,
                vec![
                    (1, Ok("abcd".into()), true),
                    (2, Err(5), true),
                    (3, Ok("abc\r".into()), true),
                    (4, Ok("abcd".into()), false)
                ],
                "cap {cap}"
            );
        }
    }

    #[test]
    fn long_line_keeps_only_a_head() {
        let mut input = vec![b'x'; 100_000];
        input.extend_from_slice(b"\nok\n");
        let reader = io::BufReader::with_capacity(4096, &input[..]);
        let mut lines = LineReader::new(reader, 10);
        match lines.next_line() {
            Some(Ok((1, Line::TooLong { len, head }, true))) => {
                assert_eq!(len, 100_000);
                assert_eq!(head.len(), RAW_HEAD_BYTES);
            }
            _ => panic!("expected a too-long line"),
        }
        assert!(
            lines.buf.capacity() < 8192,
            "buffer grew to {}",
            lines.buf.capacity()
        );
        assert!(matches!(
            lines.next_line(),
            Some(Ok((2, Line::Text(b"ok"), true)))
        ));
        assert!(lines.next_line().is_none());
    }

    #[test]
    fn empty_input_has_no_lines() {
        assert!(lines(b"", 10, 8).is_empty());
        assert_eq!(lines(b"\n", 10, 8), vec![(1, Ok("".into()), true)]);
    }

    #[test]
    fn raw_is_lossy_and_short() {
        assert_eq!(raw_of(b"ab\xffc"), "ab\u{fffd}c");
        assert_eq!(raw_of(&[b'y'; 1000]).len(), 200);
    }
}
