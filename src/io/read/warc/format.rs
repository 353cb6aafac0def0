//! WARC 1.0/1.1 files, plain or gzip, as a stream of records ([`WarcReader`]).
//!
//! Reading streams: memory holds the record being read (its header of at most 256 KiB, its block
//! of at most `max_record_bytes`, and for a response its decoded HTTP body, also capped at
//! `max_record_bytes`), read buffers of a few hundred KiB, and for gzip input the compressed
//! bytes of the current member (up to `max_record_bytes` + 1 MiB, and never over 16 MiB) so
//! that a corrupt member can be rescanned from its start. A larger block is skipped in chunks,
//! never held.
//!
//! A `.warc.gz` is read as concatenated gzip members, one per record as the standard asks; a
//! file compressed as a single stream (or in members that do not line up with records) reads the
//! same, since records are parsed from the decompressed bytes across member boundaries. Every
//! member's CRC and length are checked before a record ending in it is returned.
//!
//! Bytes that do not make a record are yielded as [`WarcItem::Corrupt`] with the byte offset
//! where the trouble starts (in a gzip file, the offset of the gzip member) and a stable reason
//! key; reading then resumes at the next record:
//!
//! | reason | when | reading resumes |
//! |---|---|---|
//! | `garbage_between_records` | bytes where a record (or a gzip member) should start are not one | at the next WARC version line starting a line or a gzip member (for bytes that are not gzip: the next member that decompresses to `WARC/`) |
//! | `bad_warc_header` | the version line is not `WARC/0.x` or `WARC/1.x`, a header line has no colon, the header is over 256 KiB, or the record has no `WARC-Type` | at the next version line; after a well-framed record without `WARC-Type`, after its block |
//! | `bad_content_length` | `Content-Length` is missing or not a decimal number | at the next version line |
//! | `truncated_record` | the block is shorter than `Content-Length`: the file ends inside it, or the next record starts inside it | at that next record |
//! | `length_mismatch` | the block is followed neither by the record separator nor by the next record, so `Content-Length` is wrong | at the next version line after the block |
//! | `record_too_large` | `Content-Length` is over `max_record_bytes` (the block is skipped unread) | after the block |
//! | `corrupt_gzip` | a gzip member is cut short, has invalid deflate data, or fails its CRC or length check | at the next gzip member that decompresses to `WARC/` |
//! | `read_error` | the underlying reader fails | nowhere: it is the last item |
//!
//! A version line is `WARC/<digits>.<digits>` alone on its line; "the next version line" is the
//! next one that starts a line or a gzip member.
//!
//! Header names are matched case-insensitively and folded lines (starting with a space or tab)
//! continue the previous field. For `response` records carrying HTTP, the HTTP status, headers
//! and body are parsed ([`parse_http_response`]); an HTTP problem does not make the WARC record
//! corrupt, it is reported in [`WarcRecord::http`].

use std::collections::VecDeque;
use std::io::{self, Read};

use flate2::{Crc, Decompress, FlushDecompress, Status};

use crate::io::read::lines::raw_of;

/// Bytes asked of the underlying reader per read call.
const READ_CHUNK: usize = 256 * 1024;

/// Decompressed bytes produced at most per decoding step.
const OUT_CHUNK: usize = 128 * 1024;

/// Longest WARC header accepted (version line, fields and the blank line).
const MAX_HEADER_BYTES: usize = 256 * 1024;

/// Longest version line accepted (`WARC/1.1` plus room for odd padding).
const MAX_VERSION_LINE: usize = 32;

/// Compressed bytes looked at when checking whether a gzip member starts a WARC record.
const PROBE_BYTES: usize = 64 * 1024;

/// Longest gzip member header accepted (file name and comment fields included).
const MAX_GZIP_HEADER: usize = 64 * 1024;

/// Longest run of blank lines after a block that is still read as the record separator.
const MAX_SEPARATOR: usize = 64 * 1024;

/// Compressed bytes kept beyond `max_record_bytes` so that a failed member can be rescanned.
const KEEP_SLACK: u64 = 1024 * 1024;

/// Most compressed bytes of one member kept for a rescan, whatever `max_record_bytes` is, so that
/// a file compressed as one stream is not held whole. A failed member larger than this is
/// rescanned from where decoding stopped instead of from its start.
const KEEP_MAX: u64 = 16 * 1024 * 1024;

/// How a WARC file's bytes are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// An uncompressed `.warc`.
    Plain,
    /// A `.warc.gz`: gzip members, normally one per record.
    Gzip,
    /// Gzip when the file starts with the gzip magic bytes, plain otherwise.
    Auto,
}

/// One item of a WARC file, in file order.
// Items are consumed one at a time, never stored in bulk, so the size gap between the variants
// costs nothing that boxing every record would save.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum WarcItem {
    /// A well-formed record.
    Record(WarcRecord),
    /// Bytes that could not be read as a record; reading goes on after them.
    Corrupt {
        /// Byte offset where the bad bytes start (in a gzip file: of the gzip member).
        offset: u64,
        /// Stable reason key, e.g. `truncated_record` (see the module docs).
        reason: &'static str,
        /// What was wrong and how many bytes were skipped.
        detail: String,
        /// The start of the bad bytes (lossy UTF-8, at most 200 characters), to help find them.
        raw: String,
    },
}

/// One WARC record: its header fields and its block.
#[derive(Debug, Clone, PartialEq)]
pub struct WarcRecord {
    /// Byte offset of the record; in a gzip file, of the gzip member in which it starts.
    pub offset: u64,
    /// The version from the first line, e.g. `1.1`.
    pub version: String,
    /// `WARC-Type`, as written (`response`, `request`, `warcinfo`, ...).
    pub warc_type: String,
    /// `WARC-Record-ID`, as written, e.g. `<urn:uuid:...>`.
    pub record_id: Option<String>,
    /// `WARC-Target-URI`, without the angle brackets some writers put around it.
    pub target_uri: Option<String>,
    /// `WARC-Date`, as written.
    pub date: Option<String>,
    /// The WARC header's `Content-Type`, as written (e.g. `application/http; msgtype=response`).
    pub content_type: Option<String>,
    /// Every header field in order, names as written, folded lines joined with a space.
    pub headers: Vec<(String, String)>,
    /// The HTTP response in a `response` record with an `application/http` block (or, without
    /// a `Content-Type`, a block starting with `HTTP/`); `None` for every other record.
    pub http: Option<Result<HttpResponse, HttpError>>,
    /// The record's block, exactly `Content-Length` bytes.
    pub block: Vec<u8>,
}

impl WarcRecord {
    /// The first header field named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        field(&self.headers, name)
    }
}

/// An HTTP response read from a WARC `response` record.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpResponse {
    /// The status code, e.g. 200.
    pub status: u16,
    /// Every header in order, names as written, folded lines joined with a space.
    pub headers: Vec<(String, String)>,
    /// The media type of `Content-Type`, lower-cased, without parameters (e.g. `text/html`).
    pub content_type: Option<String>,
    /// The `charset` parameter of `Content-Type`, unquoted, as written.
    pub charset: Option<String>,
    /// The body: chunked transfer coding and gzip/deflate content codings removed. When
    /// `body_error` is set, the decoding steps before the failed one are applied and the rest
    /// are not.
    pub body: Vec<u8>,
    /// Why the body could not be fully decoded, if it could not.
    pub body_error: Option<HttpError>,
}

impl HttpResponse {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        field(&self.headers, name)
    }
}

/// Why an HTTP response, or its body, could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpError {
    /// Stable reason key: `bad_http_header`, `bad_chunked_encoding`, `bad_content_encoding`,
    /// `unsupported_content_encoding` or `body_too_large`.
    pub reason: &'static str,
    /// What was wrong.
    pub detail: String,
}

impl HttpError {
    /// An error with the given reason and detail.
    fn new(reason: &'static str, detail: impl Into<String>) -> Self {
        HttpError {
            reason,
            detail: detail.into(),
        }
    }
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.reason, self.detail)
    }
}

/// The first field named `name` (case-insensitive) in a header list.
fn field<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// The underlying reader with a buffer that can keep bytes already passed over, so that a gzip
/// member that turns out corrupt can be rescanned from its start.
struct Input<R> {
    inner: R,
    buf: Vec<u8>,
    /// Next unread byte in `buf`.
    pos: usize,
    /// End of the bytes read into `buf`.
    end: usize,
    /// File offset of `buf[0]`.
    base: u64,
    /// Bytes from here on are kept, while they take at most `keep_cap` bytes.
    mark: Option<usize>,
    keep_cap: usize,
    eof: bool,
}

impl<R: Read> Input<R> {
    fn new(inner: R, keep_cap: usize) -> Self {
        Input {
            inner,
            buf: Vec::new(),
            pos: 0,
            end: 0,
            base: 0,
            mark: None,
            keep_cap,
            eof: false,
        }
    }

    /// File offset of the next unread byte.
    fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    /// The buffered, unread bytes.
    fn available(&self) -> &[u8] {
        &self.buf[self.pos..self.end]
    }

    fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.end);
    }

    /// Reads until `want` unread bytes are buffered or the input ends.
    fn fill(&mut self, want: usize) -> io::Result<()> {
        while self.end - self.pos < want && !self.eof {
            self.make_room(want);
            let n = loop {
                match self.inner.read(&mut self.buf[self.end..]) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                }
            };
            if n == 0 {
                self.eof = true;
            } else {
                self.end += n;
            }
        }
        Ok(())
    }

    /// Frees space for a read: drops bytes before the mark (or, when the mark holds too much,
    /// before `pos`, forgetting the mark) and grows the buffer if it is still short.
    fn make_room(&mut self, want: usize) {
        let keep = match self.mark {
            Some(m) if self.end - m <= self.keep_cap => m,
            _ => {
                self.mark = None;
                self.pos
            }
        };
        if keep > 0 && self.buf.len() - self.end < READ_CHUNK {
            self.buf.copy_within(keep..self.end, 0);
            self.pos -= keep;
            self.end -= keep;
            self.base += keep as u64;
            if let Some(m) = &mut self.mark {
                *m -= keep;
            }
        }
        let need = (self.end + READ_CHUNK).max(self.pos + want);
        if self.buf.len() < need {
            self.buf.resize(need, 0);
        }
    }

    /// Keeps the bytes from the current position on (until they outgrow `keep_cap`).
    fn set_mark(&mut self) {
        self.mark = Some(self.pos);
    }

    /// Moves back to one byte after the mark if the marked bytes are still kept; forgets the
    /// mark either way.
    fn rewind_past_mark(&mut self) {
        if let Some(m) = self.mark.take() {
            self.pos = (m + 1).min(self.end);
        }
    }
}

/// A gzip member header's length, once enough of it is buffered.
enum GzipHeader {
    /// The header is this many bytes long.
    Complete(usize),
    /// More bytes are needed to tell.
    Incomplete,
    /// Not a gzip member header.
    Invalid(&'static str),
}

/// Parses the gzip member header (RFC 1952) at the start of `b`.
fn gzip_header(b: &[u8]) -> GzipHeader {
    for (i, want) in [0x1f, 0x8b, 0x08].into_iter().enumerate() {
        match b.get(i) {
            None => return GzipHeader::Incomplete,
            Some(&x) if x != want => {
                return GzipHeader::Invalid(if i < 2 {
                    "not a gzip member"
                } else {
                    "gzip member with an unknown compression method"
                })
            }
            Some(_) => {}
        }
    }
    let Some(&flags) = b.get(3) else {
        return GzipHeader::Incomplete;
    };
    if flags & 0xe0 != 0 {
        return GzipHeader::Invalid("gzip member header has reserved flag bits set");
    }
    let mut i = 10;
    if flags & 0x04 != 0 {
        let Some(x) = b.get(i..i + 2) else {
            return GzipHeader::Incomplete;
        };
        i += 2 + u16::from_le_bytes([x[0], x[1]]) as usize;
    }
    for flag in [0x08, 0x10] {
        if flags & flag != 0 {
            match b
                .get(i..)
                .and_then(|rest| rest.iter().position(|&c| c == 0))
            {
                Some(n) => i += n + 1,
                None if b.len() > MAX_GZIP_HEADER => {
                    return GzipHeader::Invalid("gzip member header is too long")
                }
                None => return GzipHeader::Incomplete,
            }
        }
    }
    if flags & 0x02 != 0 {
        i += 2;
    }
    if i > MAX_GZIP_HEADER {
        return GzipHeader::Invalid("gzip member header is too long");
    }
    if i > b.len() {
        return GzipHeader::Incomplete;
    }
    GzipHeader::Complete(i)
}

/// True when `b` starts with a gzip member whose first decompressed bytes are `WARC/`.
fn member_starts_warc(b: &[u8]) -> bool {
    let GzipHeader::Complete(start) = gzip_header(b) else {
        return false;
    };
    let mut inflate = Decompress::new(false);
    let mut out = [0u8; 5];
    let mut made = 0;
    let mut input = &b[start..];
    while made < out.len() {
        let (in0, out0) = (inflate.total_in(), inflate.total_out());
        let result = inflate.decompress(input, &mut out[made..], FlushDecompress::None);
        let used = (inflate.total_in() - in0) as usize;
        made += (inflate.total_out() - out0) as usize;
        input = &input[used..];
        match result {
            Ok(Status::StreamEnd) | Err(_) => break,
            Ok(_) if used == 0 && inflate.total_out() == out0 => break,
            Ok(_) => {}
        }
    }
    made == out.len() && &out == b"WARC/"
}

/// A decoding failure: the stream cannot go on until [`Source::recover`] is called.
enum Fault {
    /// The underlying reader failed; nothing more can be read.
    Io(io::Error),
    /// A gzip member (or the bytes where one should start) is bad.
    Gzip {
        /// Offset of the member, or of the bytes that are not one.
        member: u64,
        reason: &'static str,
        detail: String,
    },
}

/// Where gzip decoding stands.
#[derive(Clone, Copy, PartialEq, Eq)]
enum GzState {
    /// Between members: the next bytes must start one (or end the file).
    Boundary,
    /// Inside a member's deflate data.
    Member,
    /// A member failed; waiting for `recover`.
    Failed,
    /// The input is used up.
    Done,
}

/// The gzip decoding state (member by member, with the offsets of each member's start).
struct Gz {
    inflate: Decompress,
    crc: Crc,
    state: GzState,
    /// Offset of the current member (or of the failure while `Failed`).
    member_start: u64,
    /// (decompressed position, file offset) of each member start still needed for offsets.
    members: VecDeque<(u64, u64)>,
    /// Where each decoding step writes.
    scratch: Vec<u8>,
}

/// What the bytes are decoded as.
enum Mode {
    /// Not known yet ([`Compression::Auto`] before the first read).
    Undecided,
    Plain,
    Gzip(Box<Gz>),
}

/// The file's decoded bytes, with the file offset to report for any decoded position.
struct Source<R> {
    input: Input<R>,
    mode: Mode,
    /// Decoded bytes produced so far.
    produced: u64,
}

/// What a rescan after a gzip failure found.
struct Recovery {
    /// Bytes passed over.
    skipped: u64,
    /// Offset of the member reading resumes at, if one was found.
    resumed_at: Option<u64>,
}

impl<R: Read> Source<R> {
    fn new(inner: R, compression: Compression, max_record_bytes: u64) -> Self {
        let keep = max_record_bytes.saturating_add(KEEP_SLACK).min(KEEP_MAX);
        let keep_cap = usize::try_from(keep).unwrap_or(usize::MAX);
        let mode = match compression {
            Compression::Plain => Mode::Plain,
            Compression::Gzip => Mode::Gzip(Box::new(Gz::new())),
            Compression::Auto => Mode::Undecided,
        };
        Source {
            input: Input::new(inner, keep_cap),
            mode,
            produced: 0,
        }
    }

    /// Appends decoded bytes to `out`; `Ok(false)` at the end of the input.
    fn read_more(&mut self, out: &mut Vec<u8>) -> Result<bool, Fault> {
        if let Mode::Undecided = self.mode {
            self.input.fill(2).map_err(Fault::Io)?;
            self.mode = if self.input.available().starts_with(&[0x1f, 0x8b]) {
                Mode::Gzip(Box::new(Gz::new()))
            } else {
                Mode::Plain
            };
        }
        match &mut self.mode {
            Mode::Gzip(gz) => gz.read_more(&mut self.input, out, &mut self.produced),
            _ => {
                self.input.fill(1).map_err(Fault::Io)?;
                let bytes = self.input.available();
                if bytes.is_empty() {
                    return Ok(false);
                }
                let n = bytes.len();
                out.extend_from_slice(bytes);
                self.input.consume(n);
                self.produced += n as u64;
                Ok(true)
            }
        }
    }

    /// The file offset reported for a record whose first byte is decoded position `dpos`.
    fn offset_of(&self, dpos: u64) -> u64 {
        match &self.mode {
            Mode::Gzip(gz) => gz
                .members
                .iter()
                .rev()
                .find(|(start, _)| *start <= dpos)
                .map_or(0, |(_, offset)| *offset),
            _ => dpos,
        }
    }

    /// The decoded position of the first gzip member start after `dpos`, if one is decoded.
    fn next_member_start(&self, dpos: u64) -> Option<u64> {
        match &self.mode {
            Mode::Gzip(gz) => gz
                .members
                .iter()
                .map(|(start, _)| *start)
                .find(|&start| start > dpos),
            _ => None,
        }
    }

    /// True when a gzip member's decoded bytes start at `dpos`.
    fn is_member_start(&self, dpos: u64) -> bool {
        match &self.mode {
            Mode::Gzip(gz) => gz.members.iter().any(|(start, _)| *start == dpos),
            _ => false,
        }
    }

    /// Drops member starts no longer needed for positions at or after `dpos`.
    fn forget_before(&mut self, dpos: u64) {
        if let Mode::Gzip(gz) = &mut self.mode {
            while gz.members.len() > 1 && gz.members[1].0 <= dpos {
                gz.members.pop_front();
            }
        }
    }

    /// After a gzip fault: finds the next member that decompresses to `WARC/`.
    fn recover(&mut self) -> io::Result<Recovery> {
        match &mut self.mode {
            Mode::Gzip(gz) => gz.recover(&mut self.input),
            _ => Ok(Recovery {
                skipped: 0,
                resumed_at: None,
            }),
        }
    }
}

impl Gz {
    fn new() -> Self {
        Gz {
            inflate: Decompress::new(false),
            crc: Crc::new(),
            state: GzState::Boundary,
            member_start: 0,
            members: VecDeque::new(),
            scratch: vec![0; OUT_CHUNK],
        }
    }

    /// Marks the decoding as failed at `at`.
    fn fail(&mut self, at: u64, reason: &'static str, detail: String) -> Fault {
        self.state = GzState::Failed;
        self.member_start = at;
        Fault::Gzip {
            member: at,
            reason,
            detail,
        }
    }

    fn read_more<R: Read>(
        &mut self,
        input: &mut Input<R>,
        out: &mut Vec<u8>,
        produced: &mut u64,
    ) -> Result<bool, Fault> {
        loop {
            match self.state {
                GzState::Done => return Ok(false),
                // Only reached if a caller reads on without recovering; the fault was reported.
                GzState::Failed => return Ok(false),
                GzState::Boundary => self.start_member(input, *produced)?,
                GzState::Member => {
                    if self.inflate_some(input, out, produced)? {
                        return Ok(true);
                    }
                }
            }
        }
    }

    /// Reads the next member's header, or notes the end of the input.
    fn start_member<R: Read>(&mut self, input: &mut Input<R>, produced: u64) -> Result<(), Fault> {
        input.fill(2).map_err(Fault::Io)?;
        if input.available().is_empty() {
            self.state = GzState::Done;
            return Ok(());
        }
        let at = input.offset();
        input.set_mark();
        let len = loop {
            match gzip_header(input.available()) {
                GzipHeader::Complete(n) => break n,
                GzipHeader::Invalid(why) => {
                    let reason = if input.available().starts_with(&[0x1f, 0x8b]) {
                        "corrupt_gzip"
                    } else {
                        "garbage_between_records"
                    };
                    return Err(self.fail(at, reason, format!("offset {at}: {why}")));
                }
                GzipHeader::Incomplete => {
                    let have = input.available().len();
                    input.fill(have + 1).map_err(Fault::Io)?;
                    if input.available().len() == have {
                        let detail = format!("gzip member at offset {at} ends inside its header");
                        return Err(self.fail(at, "corrupt_gzip", detail));
                    }
                }
            }
        };
        input.consume(len);
        self.member_start = at;
        self.members.push_back((produced, at));
        self.inflate.reset(false);
        self.crc.reset();
        self.state = GzState::Member;
        Ok(())
    }

    /// One decoding step; true when it produced bytes.
    fn inflate_some<R: Read>(
        &mut self,
        input: &mut Input<R>,
        out: &mut Vec<u8>,
        produced: &mut u64,
    ) -> Result<bool, Fault> {
        let at = self.member_start;
        if input.available().is_empty() {
            input.fill(1).map_err(Fault::Io)?;
            if input.available().is_empty() {
                let end = input.offset();
                let detail = format!("gzip member at offset {at} is cut short at offset {end}");
                return Err(self.fail(at, "corrupt_gzip", detail));
            }
        }
        // Into a buffer initialized once: decompressing into a Vec's spare capacity zeroes all
        // of it on every call, which costs more than the inflating for small members.
        let (in0, out0) = (self.inflate.total_in(), self.inflate.total_out());
        let result =
            self.inflate
                .decompress(input.available(), &mut self.scratch, FlushDecompress::None);
        let used = (self.inflate.total_in() - in0) as usize;
        let made = (self.inflate.total_out() - out0) as usize;
        let fresh = &self.scratch[..made];
        self.crc.update(fresh);
        out.extend_from_slice(fresh);
        input.consume(used);
        *produced += made as u64;
        match result {
            Err(e) => {
                let detail = format!("gzip member at offset {at} has invalid deflate data ({e})");
                Err(self.fail(at, "corrupt_gzip", detail))
            }
            Ok(Status::StreamEnd) => {
                self.finish_member(input)?;
                Ok(made > 0)
            }
            Ok(_) => {
                if used == 0 && made == 0 {
                    // The decoder needs more input than is buffered to make progress.
                    let have = input.available().len();
                    input.fill(have + 1).map_err(Fault::Io)?;
                    if input.available().len() == have {
                        let end = input.offset() + have as u64;
                        let detail =
                            format!("gzip member at offset {at} is cut short at offset {end}");
                        return Err(self.fail(at, "corrupt_gzip", detail));
                    }
                }
                Ok(made > 0)
            }
        }
    }

    /// Checks the member's CRC and length trailer.
    fn finish_member<R: Read>(&mut self, input: &mut Input<R>) -> Result<(), Fault> {
        let at = self.member_start;
        input.fill(8).map_err(Fault::Io)?;
        let t = input.available();
        if t.len() < 8 {
            let detail = format!("gzip member at offset {at} is cut short in its trailer");
            return Err(self.fail(at, "corrupt_gzip", detail));
        }
        let crc = u32::from_le_bytes([t[0], t[1], t[2], t[3]]);
        let len = u32::from_le_bytes([t[4], t[5], t[6], t[7]]);
        if crc != self.crc.sum() {
            let detail = format!("gzip member at offset {at} fails its CRC check");
            return Err(self.fail(at, "corrupt_gzip", detail));
        }
        if len != self.crc.amount() {
            let detail = format!("gzip member at offset {at} fails its length check");
            return Err(self.fail(at, "corrupt_gzip", detail));
        }
        input.consume(8);
        self.state = GzState::Boundary;
        Ok(())
    }

    /// Scans for the next member whose data starts with `WARC/`, from one byte after the failed
    /// member's start when its bytes are still kept, else from where decoding stopped.
    fn recover<R: Read>(&mut self, input: &mut Input<R>) -> io::Result<Recovery> {
        input.rewind_past_mark();
        if input.offset() <= self.member_start {
            input.fill(1)?;
            input.consume(1);
        }
        let from = self.member_start;
        self.inflate.reset(false);
        self.crc.reset();
        loop {
            input.fill(2 * PROBE_BYTES)?;
            let bytes = input.available();
            if bytes.is_empty() {
                self.state = GzState::Done;
                return Ok(Recovery {
                    skipped: input.offset().saturating_sub(from),
                    resumed_at: None,
                });
            }
            // Each candidate gets PROBE_BYTES of lookahead, except at the end of the file.
            let scan_end = if input.eof {
                bytes.len()
            } else {
                bytes.len() - PROBE_BYTES
            };
            let found = (0..scan_end).find(|&i| {
                bytes[i] == 0x1f
                    && bytes.get(i + 1) == Some(&0x8b)
                    && bytes.get(i + 2) == Some(&0x08)
                    && member_starts_warc(&bytes[i..])
            });
            match found {
                Some(i) => {
                    input.consume(i);
                    self.state = GzState::Boundary;
                    let at = input.offset();
                    return Ok(Recovery {
                        skipped: at.saturating_sub(from),
                        resumed_at: Some(at),
                    });
                }
                None => input.consume(scan_end),
            }
        }
    }
}

/// The decoded bytes as a buffer that can be looked ahead in and pushed back into.
struct Stream<R> {
    src: Source<R>,
    buf: Vec<u8>,
    pos: usize,
    /// Decoded position of `buf[pos]`.
    dpos: u64,
    eof: bool,
    fault: Option<Fault>,
}

/// Where the line starting at some buffered position ends.
enum LineEnd {
    /// At this index (of its `\n`) in the buffered bytes.
    Found(usize),
    /// Not within the allowed length.
    TooLong,
    /// The input ended or failed first.
    End,
}

impl<R: Read> Stream<R> {
    /// The buffered, unread bytes.
    fn peek(&self) -> &[u8] {
        &self.buf[self.pos..]
    }

    fn consume(&mut self, n: usize) {
        let n = n.min(self.buf.len() - self.pos);
        self.pos += n;
        self.dpos += n as u64;
    }

    /// True when `n` bytes are buffered; false when the input ends or fails first.
    fn ensure(&mut self, n: usize) -> bool {
        while self.buf.len() - self.pos < n {
            if self.eof || self.fault.is_some() {
                return false;
            }
            if self.pos > 0 {
                self.buf.drain(..self.pos);
                self.pos = 0;
            }
            match self.src.read_more(&mut self.buf) {
                Ok(true) => {}
                Ok(false) => self.eof = true,
                Err(f) => self.fault = Some(f),
            }
        }
        true
    }

    /// Puts `bytes` back in front of the unread bytes (they were the last ones consumed).
    fn unread(&mut self, bytes: &[u8]) {
        self.buf.drain(..self.pos);
        self.pos = 0;
        self.buf.splice(0..0, bytes.iter().copied());
        self.dpos -= bytes.len() as u64;
    }

    /// Finds the `\n` ending the line that starts `from` bytes into the buffer, looking at most
    /// `max` bytes from `from`.
    fn line_at(&mut self, from: usize, max: usize) -> LineEnd {
        let mut searched = from;
        loop {
            let buf = self.peek();
            let stop = buf.len().min(from + max);
            if searched < stop {
                if let Some(i) = buf[searched..stop].iter().position(|&b| b == b'\n') {
                    return LineEnd::Found(searched + i);
                }
            }
            let len = buf.len();
            if len >= from + max {
                return LineEnd::TooLong;
            }
            searched = searched.max(len);
            if !self.ensure(len + 1) {
                return LineEnd::End;
            }
        }
    }

    /// Consumes bytes up to the next WARC version line at a line start or at the start of a
    /// gzip member; returns the count.
    fn skip_to_next_record(&mut self) -> u64 {
        let mut skipped = 0u64;
        loop {
            if !self.ensure(1) {
                return skipped;
            }
            if self.src.is_member_start(self.dpos) {
                self.ensure(MAX_VERSION_LINE + 6);
                if is_version_line_start(self.peek()) {
                    return skipped;
                }
            }
            let len = self.peek().len();
            let limit = self
                .src
                .next_member_start(self.dpos)
                .map_or(len, |d| (d - self.dpos).min(len as u64) as usize);
            let step = match self.peek()[..limit].iter().position(|&b| b == b'\n') {
                Some(i) => i + 1,
                None if limit < len => limit,
                None => {
                    self.consume(len);
                    skipped += len as u64;
                    continue;
                }
            };
            self.consume(step);
            skipped += step as u64;
            self.ensure(MAX_VERSION_LINE + 6);
            if is_version_line_start(self.peek()) {
                return skipped;
            }
        }
    }

    /// Starts over after a fault; returns what the gzip rescan found.
    fn recover(&mut self) -> Recovery {
        let found = self.src.recover();
        self.buf.clear();
        self.pos = 0;
        self.dpos = self.src.produced;
        self.eof = false;
        self.fault = None;
        match found {
            Ok(found) => found,
            Err(e) => {
                self.fault = Some(Fault::Io(e));
                Recovery {
                    skipped: 0,
                    resumed_at: None,
                }
            }
        }
    }
}

/// True when `b` starts with a WARC version line (`WARC/<digits>.<digits>`, then the line end).
fn is_version_line_start(b: &[u8]) -> bool {
    let Some(rest) = b.strip_prefix(b"WARC/") else {
        return false;
    };
    let end = rest.iter().take(MAX_VERSION_LINE).position(|&c| c == b'\n');
    match end {
        Some(end) => parse_version(&rest[..end]).is_some(),
        None => false,
    }
}

/// The version in the part of a version line after `WARC/` (trailing `\r` and blanks allowed).
fn parse_version(v: &[u8]) -> Option<&str> {
    let v = trim_ascii(v);
    let dot = v.iter().position(|&c| c == b'.')?;
    let (major, minor) = (&v[..dot], &v[dot + 1..]);
    let digits = |s: &[u8]| !s.is_empty() && s.iter().all(u8::is_ascii_digit);
    if !digits(major) || !digits(minor) {
        return None;
    }
    std::str::from_utf8(v).ok()
}

/// The first index in `block` where a WARC version line starts: at index 0 (the block follows
/// the header's blank line), after a `\n`, or at one of `member_starts` (sorted).
fn find_record_start(block: &[u8], member_starts: &[usize]) -> Option<usize> {
    let at_line = std::iter::once(0)
        .chain(
            block
                .iter()
                .enumerate()
                .filter(|(_, &b)| b == b'\n')
                .map(|(i, _)| i + 1),
        )
        .find(|&i| is_version_line_start(&block[i..]));
    let at_member = member_starts
        .iter()
        .copied()
        .find(|&i| i < block.len() && is_version_line_start(&block[i..]));
    at_line.into_iter().chain(at_member).min()
}

fn trim_ascii(mut b: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = b {
        if first.is_ascii_whitespace() {
            b = rest;
        } else {
            break;
        }
    }
    while let [rest @ .., last] = b {
        if last.is_ascii_whitespace() {
            b = rest;
        } else {
            break;
        }
    }
    b
}

fn strip_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Header fields from `text` (the lines after the first, without the blank line): folded lines
/// join the previous field. `strict` makes a line without a colon an error; otherwise it is
/// skipped.
fn parse_fields(text: &[u8], strict: bool) -> Result<Vec<(String, String)>, String> {
    let mut fields: Vec<(String, String)> = Vec::new();
    for line in text.split(|&b| b == b'\n') {
        let line = strip_cr(line);
        if line.is_empty() {
            continue;
        }
        if line[0] == b' ' || line[0] == b'\t' {
            match fields.last_mut() {
                Some((_, value)) => {
                    let more = trim_ascii(line);
                    if !more.is_empty() {
                        if !value.is_empty() {
                            value.push(' ');
                        }
                        value.push_str(&String::from_utf8_lossy(more));
                    }
                }
                None if strict => return Err("a folded line comes before any field".into()),
                None => {}
            }
            continue;
        }
        let name = line
            .iter()
            .position(|&b| b == b':')
            .map(|colon| (trim_ascii(&line[..colon]), &line[colon + 1..]))
            .filter(|(name, _)| !name.is_empty() && !name.iter().any(u8::is_ascii_whitespace));
        match name {
            Some((name, value)) => fields.push((
                String::from_utf8_lossy(name).into_owned(),
                String::from_utf8_lossy(trim_ascii(value)).into_owned(),
            )),
            None if strict => {
                return Err(format!(
                    "header line without a field name: {:?}",
                    raw_of(line)
                ))
            }
            None => {}
        }
    }
    Ok(fields)
}

/// What follows a block.
enum Boundary {
    /// The next record, or the end of the input, after at most blank lines; `separated` when
    /// those include the record separator (two line ends).
    Next { separated: bool },
    /// The record separator, then bytes that are not a record.
    Garbage,
    /// Neither the separator nor a record: `Content-Length` does not end the block.
    Mismatch,
    /// Decoding failed while looking.
    Fault,
}

/// A streaming reader of WARC records; see the module docs.
pub struct WarcReader<R> {
    stream: Stream<R>,
    max_record_bytes: u64,
    done: bool,
}

impl<R: Read> WarcReader<R> {
    /// A reader of `inner` (buffered here: pass a plain `File`), skipping blocks over
    /// `max_record_bytes`.
    pub fn new(inner: R, compression: Compression, max_record_bytes: u64) -> Self {
        WarcReader {
            stream: Stream {
                src: Source::new(inner, compression, max_record_bytes),
                buf: Vec::new(),
                pos: 0,
                dpos: 0,
                eof: false,
                fault: None,
            },
            max_record_bytes,
            done: false,
        }
    }

    /// The item for the stream's fault: `record` is the offset and raw head of the record it
    /// cuts short, if any. Gzip faults are recovered from; an I/O error ends the reading.
    fn fault_item(&mut self, record: Option<(u64, String)>) -> WarcItem {
        let here = self.stream.src.offset_of(self.stream.dpos);
        match self.stream.fault.take() {
            Some(Fault::Gzip {
                member,
                reason,
                detail,
            }) => {
                let found = self.stream.recover();
                let detail = match found.resumed_at {
                    Some(at) => format!(
                        "{detail}; skipped {} bytes to the gzip member at offset {at}",
                        found.skipped
                    ),
                    None => format!(
                        "{detail}; skipped {} bytes, no later gzip member starts a record",
                        found.skipped
                    ),
                };
                let (offset, raw) = record.unwrap_or((member, String::new()));
                corrupt(offset, reason, detail, raw)
            }
            Some(Fault::Io(e)) => {
                self.done = true;
                let (offset, raw) = record.unwrap_or((here, String::new()));
                corrupt(
                    offset,
                    "read_error",
                    format!("{e} (reading stopped here)"),
                    raw,
                )
            }
            None => {
                self.done = true;
                corrupt(here, "read_error", "reading stopped".into(), String::new())
            }
        }
    }

    /// Reports bytes at `offset` that are not a record and moves to the next version line.
    fn resync(&mut self, offset: u64, reason: &'static str, detail: String) -> WarcItem {
        let raw = raw_of(self.stream.peek());
        self.stream.consume(1);
        let skipped = 1 + self.stream.skip_to_next_record();
        corrupt(
            offset,
            reason,
            format!("{detail}; skipped {skipped} bytes"),
            raw,
        )
    }

    /// Reads the record starting at the current position.
    fn read_record(&mut self, offset: u64) -> WarcItem {
        let s = &mut self.stream;
        s.ensure(5);
        if !s.peek().starts_with(b"WARC/") {
            if s.fault.is_some() {
                let raw = raw_of(s.peek());
                return self.fault_item(Some((offset, raw)));
            }
            return self.resync(
                offset,
                "garbage_between_records",
                "bytes where a record should start do not start with `WARC/`".into(),
            );
        }
        let version_end = match s.line_at(0, MAX_VERSION_LINE + 5) {
            LineEnd::Found(i) => i,
            LineEnd::TooLong => {
                return self.resync(offset, "bad_warc_header", "version line is too long".into())
            }
            LineEnd::End => return self.header_end_item(offset),
        };
        let Some(version) = parse_version(&s.peek()[5..version_end]).map(str::to_string) else {
            let line = raw_of(strip_cr(&s.peek()[..version_end]));
            return self.resync(
                offset,
                "bad_warc_header",
                format!("bad version line {line:?}"),
            );
        };
        if !(version.starts_with("0.") || version.starts_with("1.")) {
            let detail = format!("unsupported WARC version {version}");
            return self.resync(offset, "bad_warc_header", detail);
        }
        // The header is parsed in place; it is consumed only once it is known to be good, so
        // that a bad one can be rescanned from its second byte.
        let mut line_start = version_end + 1;
        let header_end = loop {
            match s.line_at(line_start, MAX_HEADER_BYTES.saturating_sub(line_start)) {
                LineEnd::Found(i) => {
                    if strip_cr(&s.peek()[line_start..i]).is_empty() {
                        break (line_start, i + 1);
                    }
                    line_start = i + 1;
                }
                LineEnd::TooLong => {
                    let detail = format!("header is over {MAX_HEADER_BYTES} bytes");
                    return self.resync(offset, "bad_warc_header", detail);
                }
                LineEnd::End => return self.header_end_item(offset),
            }
        };
        let (fields_end, header_len) = header_end;
        let fields = match parse_fields(&s.peek()[version_end + 1..fields_end], true) {
            Ok(fields) => fields,
            Err(detail) => return self.resync(offset, "bad_warc_header", detail),
        };
        let length = match field(&fields, "Content-Length") {
            None => {
                let detail = "no Content-Length field".to_string();
                return self.resync(offset, "bad_content_length", detail);
            }
            Some(v) => match v.parse::<u64>() {
                Ok(n) if v.bytes().all(|b| b.is_ascii_digit()) => n,
                _ => {
                    let detail = format!("Content-Length {v:?} is not a byte count");
                    return self.resync(offset, "bad_content_length", detail);
                }
            },
        };
        let raw = raw_of(&s.peek()[..header_len]);
        s.consume(header_len);
        if length > self.max_record_bytes {
            return self.skip_block(offset, length, raw);
        }
        self.read_block(offset, version, fields, length, raw)
    }

    /// The item when the input ends or fails inside a record header.
    fn header_end_item(&mut self, offset: u64) -> WarcItem {
        let raw = raw_of(self.stream.peek());
        if self.stream.fault.is_some() {
            return self.fault_item(Some((offset, raw)));
        }
        let n = self.stream.peek().len();
        self.stream.consume(n);
        let detail = format!("the file ends inside the record header ({n} bytes)");
        corrupt(offset, "truncated_record", detail, raw)
    }

    /// Passes over the block of a record that is over `max_record_bytes`.
    fn skip_block(&mut self, offset: u64, length: u64, raw: String) -> WarcItem {
        let s = &mut self.stream;
        let mut left = length;
        while left > 0 && s.ensure(1) {
            let take = (s.peek().len() as u64).min(left) as usize;
            s.consume(take);
            left -= take as u64;
        }
        if s.fault.is_some() {
            return self.fault_item(Some((offset, raw)));
        }
        let mut detail = format!(
            "Content-Length {length} is over max_record_bytes ({})",
            self.max_record_bytes
        );
        if left > 0 {
            detail += &format!("; the file ends {left} bytes before the block does");
        } else {
            let last = s.dpos - 1;
            match self.boundary() {
                Boundary::Next { .. } | Boundary::Garbage => {}
                Boundary::Mismatch => {
                    let skipped = self.stream.skip_to_next_record();
                    detail += &format!("; the block is not followed by the record separator, skipped {skipped} more bytes");
                }
                Boundary::Fault => {
                    if self.fault_is_in(last) {
                        return self.fault_item(Some((offset, raw)));
                    }
                }
            }
        }
        corrupt(offset, "record_too_large", detail, raw)
    }

    /// Reads a block of `length` bytes and checks that a record boundary follows it.
    fn read_block(
        &mut self,
        offset: u64,
        version: String,
        fields: Vec<(String, String)>,
        length: u64,
        raw: String,
    ) -> WarcItem {
        let s = &mut self.stream;
        let want = length as usize;
        let mut block = Vec::with_capacity(want.min(1 << 20));
        while block.len() < want && s.ensure(1) {
            let take = s.peek().len().min(want - block.len());
            block.extend_from_slice(&s.peek()[..take]);
            s.consume(take);
        }
        if s.fault.is_some() {
            return self.fault_item(Some((offset, raw)));
        }
        let last = s.dpos - 1;
        let complete = block.len() == want;
        let verdict = if complete {
            self.boundary()
        } else {
            Boundary::Mismatch
        };
        match verdict {
            Boundary::Next { separated: true } | Boundary::Garbage => {}
            // Without its separator, the block may have run into the next record.
            Boundary::Next { separated: false } => {
                if let Some(item) = self.record_inside(offset, length, &block, &raw) {
                    return item;
                }
            }
            Boundary::Fault => {
                if self.fault_is_in(last) {
                    return self.fault_item(Some((offset, raw)));
                }
            }
            Boundary::Mismatch => {
                if let Some(item) = self.record_inside(offset, length, &block, &raw) {
                    return item;
                }
                if !complete {
                    let detail = format!(
                        "the file ends {} bytes into a block of {length} bytes",
                        block.len()
                    );
                    return corrupt(offset, "truncated_record", detail, raw);
                }
                let skipped = self.stream.skip_to_next_record();
                let detail = format!(
                    "the {length}-byte block is not followed by the record separator; skipped {skipped} more bytes"
                );
                return corrupt(offset, "length_mismatch", detail, raw);
            }
        }
        let Some(warc_type) = field(&fields, "WARC-Type").map(str::to_string) else {
            return corrupt(offset, "bad_warc_header", "no WARC-Type field".into(), raw);
        };
        let get = |name: &str| field(&fields, name).map(str::to_string);
        let content_type = get("Content-Type");
        let target_uri = get("WARC-Target-URI").map(|u| {
            u.strip_prefix('<')
                .and_then(|u| u.strip_suffix('>'))
                .map_or(u.clone(), str::to_string)
        });
        let carries_http = match &content_type {
            Some(ct) => ct
                .trim_start()
                .to_ascii_lowercase()
                .starts_with("application/http"),
            None => block.starts_with(b"HTTP/"),
        };
        let http = (warc_type.eq_ignore_ascii_case("response") && carries_http)
            .then(|| parse_http_response(&block, self.max_record_bytes));
        WarcItem::Record(WarcRecord {
            offset,
            version,
            record_id: get("WARC-Record-ID"),
            target_uri,
            date: get("WARC-Date"),
            content_type,
            warc_type,
            headers: fields,
            http,
            block,
        })
    }

    /// When a record starts inside `block` (just read), the `truncated_record` item, with
    /// reading moved back to that record.
    fn record_inside(
        &mut self,
        offset: u64,
        length: u64,
        block: &[u8],
        raw: &str,
    ) -> Option<WarcItem> {
        let block_start = self.stream.dpos - block.len() as u64;
        let mut members = Vec::new();
        let mut at = block_start;
        while let Some(d) = self.stream.src.next_member_start(at) {
            if d >= self.stream.dpos {
                break;
            }
            members.push((d - block_start) as usize);
            at = d;
        }
        let i = find_record_start(block, &members)?;
        self.stream.unread(&block[i..]);
        let detail = format!(
            "the block has {i} bytes where Content-Length says {length}: the next record starts inside it"
        );
        Some(corrupt(offset, "truncated_record", detail, raw.to_string()))
    }

    /// True when the stream's fault is in the gzip member holding decoded position `dpos`.
    fn fault_is_in(&self, dpos: u64) -> bool {
        match &self.stream.fault {
            Some(Fault::Gzip { member, .. }) => *member == self.stream.src.offset_of(dpos),
            // An I/O error says nothing about the bytes already read.
            Some(Fault::Io(_)) | None => false,
        }
    }

    /// Looks (without consuming) at what follows a block.
    fn boundary(&mut self) -> Boundary {
        let s = &mut self.stream;
        let separated = |bytes: &[u8]| bytes.iter().filter(|&&b| b == b'\n').count() >= 2;
        let mut i = 0;
        loop {
            if !s.ensure(i + 1) {
                if s.fault.is_some() {
                    return Boundary::Fault;
                }
                let separated = separated(&s.peek()[..i]);
                return Boundary::Next { separated };
            }
            let blank = s.peek()[i..]
                .iter()
                .take_while(|&&b| b == b'\r' || b == b'\n')
                .count();
            i += blank;
            if i < s.peek().len() {
                break;
            }
            if i > MAX_SEPARATOR {
                return Boundary::Next { separated: true };
            }
        }
        let separated = separated(&s.peek()[..i]);
        if !s.ensure(i + 5) && s.fault.is_some() {
            return Boundary::Fault;
        }
        if s.peek()[i..].starts_with(b"WARC/") {
            Boundary::Next { separated }
        } else if separated {
            Boundary::Garbage
        } else {
            Boundary::Mismatch
        }
    }
}

/// A [`WarcItem::Corrupt`].
fn corrupt(offset: u64, reason: &'static str, detail: String, raw: String) -> WarcItem {
    WarcItem::Corrupt {
        offset,
        reason,
        detail,
        raw,
    }
}

impl<R: Read> std::iter::FusedIterator for WarcReader<R> {}

impl<R: Read> Iterator for WarcReader<R> {
    type Item = WarcItem;

    fn next(&mut self) -> Option<WarcItem> {
        if self.done {
            return None;
        }
        let s = &mut self.stream;
        // Blank lines between records are padding (the separator, or a writer's extra).
        while s.ensure(1) {
            let n = s
                .peek()
                .iter()
                .take_while(|&&b| b == b'\r' || b == b'\n')
                .count();
            if n == 0 {
                break;
            }
            s.consume(n);
        }
        if s.fault.is_some() {
            return Some(self.fault_item(None));
        }
        if s.peek().is_empty() {
            self.done = true;
            return None;
        }
        let start = s.dpos;
        s.src.forget_before(start);
        let offset = s.src.offset_of(start);
        Some(self.read_record(offset))
    }
}

/// Parses an HTTP response (status line, headers, body) from a WARC block. The body is
/// de-chunked and its content codings (gzip, deflate) removed, decoding at most
/// `max_body_bytes`; a body that cannot be decoded is kept as far as it was and flagged in
/// `body_error`. The HTTP `Content-Length` is not used: the WARC block frames the message.
pub fn parse_http_response(block: &[u8], max_body_bytes: u64) -> Result<HttpResponse, HttpError> {
    // The head ends at the first line end followed by an empty line (`\n\n` or `\n\r\n`).
    let head_end = block.iter().enumerate().find_map(|(i, &b)| {
        if b != b'\n' {
            return None;
        }
        match &block[i + 1..] {
            [b'\n', ..] => Some((i + 1, i + 2)),
            [b'\r', b'\n', ..] => Some((i + 1, i + 3)),
            _ => None,
        }
    });
    let Some((head_len, body_start)) = head_end else {
        return Err(HttpError::new(
            "bad_http_header",
            "no blank line ends the HTTP headers",
        ));
    };
    let head = &block[..head_len];
    let (status_line, rest) = match head.iter().position(|&b| b == b'\n') {
        Some(i) => (strip_cr(&head[..i]), &head[i + 1..]),
        None => (strip_cr(head), &head[head.len()..]),
    };
    let status = parse_status_line(status_line).ok_or_else(|| {
        HttpError::new(
            "bad_http_header",
            format!("bad status line {:?}", raw_of(status_line)),
        )
    })?;
    let headers = parse_fields(rest, false).unwrap_or_default();
    let (content_type, charset) = match field(&headers, "Content-Type") {
        Some(v) => media_type(v),
        None => (None, None),
    };
    let mut body = block[body_start..].to_vec();
    let mut body_error = None;
    let chunked = field(&headers, "Transfer-Encoding").is_some_and(|te| {
        te.rsplit(',')
            .next()
            .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"))
    });
    if chunked {
        match dechunk(&body) {
            Ok(Some(plain)) => body = plain,
            // Some writers store the body de-chunked but keep the header.
            Ok(None) => {}
            Err(detail) => body_error = Some(HttpError::new("bad_chunked_encoding", detail)),
        }
    }
    if body_error.is_none() && !body.is_empty() {
        let codings: Vec<String> = field(&headers, "Content-Encoding")
            .unwrap_or("")
            .split(',')
            .map(|c| c.trim().to_ascii_lowercase())
            .filter(|c| !c.is_empty() && c != "identity")
            .collect();
        for coding in codings.iter().rev() {
            match decode_coding(coding, &body, max_body_bytes) {
                Ok(decoded) => body = decoded,
                Err(e) => {
                    body_error = Some(e);
                    break;
                }
            }
        }
    }
    Ok(HttpResponse {
        status,
        headers,
        content_type,
        charset,
        body,
        body_error,
    })
}

/// The status code of `HTTP/<version> <code> [reason]`.
fn parse_status_line(line: &[u8]) -> Option<u16> {
    let rest = line.strip_prefix(b"HTTP/")?;
    let mut parts = rest
        .split(|&b| b == b' ' || b == b'\t')
        .filter(|p| !p.is_empty());
    parts.next()?;
    let code = parts.next()?;
    if code.len() != 3 || !code.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(code).ok()?.parse().ok()
}

/// The lower-cased media type and the `charset` parameter of a `Content-Type` value.
fn media_type(value: &str) -> (Option<String>, Option<String>) {
    let mut parts = value.split(';');
    let essence = parts
        .next()
        .map(|t| t.trim().to_ascii_lowercase())
        .filter(|t| !t.is_empty());
    let charset = parts
        .filter_map(|p| p.split_once('='))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("charset"))
        .map(|(_, v)| v.trim().trim_matches(|c| c == '"' || c == '\'').trim())
        .filter(|v| !v.is_empty())
        .map(str::to_string);
    (essence, charset)
}

/// The chunked body's data; `Ok(None)` when the first chunk-size line is not one (the body
/// is taken as already de-chunked).
fn dechunk(body: &[u8]) -> Result<Option<Vec<u8>>, String> {
    let mut out = Vec::with_capacity(body.len());
    let mut pos = 0;
    let mut first = true;
    loop {
        let Some(nl) = body[pos..].iter().take(1024).position(|&b| b == b'\n') else {
            if first {
                return Ok(None);
            }
            return Err(format!("chunk-size line missing or too long at byte {pos}"));
        };
        let line = strip_cr(&body[pos..pos + nl]);
        let size = line.split(|&b| b == b';').next().map(trim_ascii);
        let size = size
            .filter(|s| !s.is_empty() && s.len() <= 15 && s.iter().all(u8::is_ascii_hexdigit))
            .and_then(|s| usize::from_str_radix(std::str::from_utf8(s).ok()?, 16).ok());
        let Some(size) = size else {
            if first {
                return Ok(None);
            }
            return Err(format!("bad chunk-size line {:?}", raw_of(line)));
        };
        first = false;
        pos += nl + 1;
        if size == 0 {
            return Ok(Some(out));
        }
        let Some(data) = body.get(pos..pos + size) else {
            return Err(format!(
                "a chunk of {size} bytes at byte {pos} runs past the end of the body"
            ));
        };
        out.extend_from_slice(data);
        pos += size;
        if body[pos..].starts_with(b"\r\n") {
            pos += 2;
        } else if body[pos..].starts_with(b"\n") {
            pos += 1;
        }
        if pos >= body.len() {
            return Err("the body ends before the last chunk".into());
        }
    }
}

/// The body with one content coding removed.
fn decode_coding(coding: &str, body: &[u8], max: u64) -> Result<Vec<u8>, HttpError> {
    match coding {
        "gzip" | "x-gzip" => {
            if !body.starts_with(&[0x1f, 0x8b]) {
                return Err(HttpError::new(
                    "bad_content_encoding",
                    "Content-Encoding is gzip but the body has no gzip header",
                ));
            }
            read_limited(flate2::read::MultiGzDecoder::new(body), coding, max)
        }
        "deflate" => {
            // RFC 9110 deflate is zlib-wrapped, but some servers send raw deflate.
            let zlib = body.len() >= 2
                && body[0] & 0x0f == 8
                && (u16::from(body[0]) << 8 | u16::from(body[1])) % 31 == 0;
            if zlib {
                read_limited(flate2::read::ZlibDecoder::new(body), coding, max)
            } else {
                read_limited(flate2::read::DeflateDecoder::new(body), coding, max)
            }
        }
        other => Err(HttpError::new(
            "unsupported_content_encoding",
            format!("Content-Encoding {other:?} is not decoded"),
        )),
    }
}

/// Everything `r` yields, or an error once it yields more than `max` bytes or fails.
fn read_limited(r: impl Read, coding: &str, max: u64) -> Result<Vec<u8>, HttpError> {
    let mut out = Vec::new();
    if let Err(e) = r.take(max.saturating_add(1)).read_to_end(&mut out) {
        return Err(HttpError::new(
            "bad_content_encoding",
            format!("{coding} body does not decode: {e}"),
        ));
    }
    if out.len() as u64 > max {
        return Err(HttpError::new(
            "body_too_large",
            format!("{coding} body decodes to over {max} bytes"),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const MAX: u64 = 1 << 20;

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!("{}/fixtures/warc/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn items(bytes: &[u8], compression: Compression, max: u64) -> Vec<WarcItem> {
        WarcReader::new(bytes, compression, max).collect()
    }

    /// `offset type` for records, `offset !reason` for corrupt items.
    fn summary(items: &[WarcItem]) -> Vec<String> {
        items
            .iter()
            .map(|item| match item {
                WarcItem::Record(r) => format!("{} {}", r.offset, r.warc_type),
                WarcItem::Corrupt { offset, reason, .. } => format!("{offset} !{reason}"),
            })
            .collect()
    }

    fn records(items: &[WarcItem]) -> Vec<&WarcRecord> {
        items
            .iter()
            .filter_map(|i| match i {
                WarcItem::Record(r) => Some(r),
                WarcItem::Corrupt { .. } => None,
            })
            .collect()
    }

    fn record(fields: &[(&str, &str)], block: &[u8]) -> Vec<u8> {
        let mut out = b"WARC/1.1\r\n".to_vec();
        for (name, value) in fields {
            out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
        }
        out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", block.len()).as_bytes());
        out.extend_from_slice(block);
        out.extend_from_slice(b"\r\n\r\n");
        out
    }

    fn resource(id: &str, block: &[u8]) -> Vec<u8> {
        let id = format!("<urn:uuid:{id}>");
        record(&[("WARC-Type", "resource"), ("WARC-Record-ID", &id)], block)
    }

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn ids(items: &[WarcItem]) -> Vec<String> {
        records(items)
            .iter()
            .map(|r| r.record_id.clone().unwrap_or_default())
            .collect()
    }

    const PAGES_OFFSETS: [u64; 36] = [
        0, 319, 650, 3548, 3898, 6925, 7265, 10111, 10453, 13284, 13626, 16524, 16855, 17187,
        19906, 20238, 21700, 22032, 25120, 25453, 28448, 28783, 31926, 32258, 35350, 35687, 39006,
        39346, 42578, 42909, 46546, 46881, 47407, 47741, 48237, 48568,
    ];

    #[test]
    fn reads_the_gzip_fixture_past_a_cut_member() {
        let data = fixture("pages.warc.gz");
        for compression in [Compression::Gzip, Compression::Auto] {
            let got = items(&data, compression, MAX);
            assert_eq!(got.len(), 36);
            let offsets: Vec<u64> = got
                .iter()
                .map(|i| match i {
                    WarcItem::Record(r) => r.offset,
                    WarcItem::Corrupt { offset, .. } => *offset,
                })
                .collect();
            assert_eq!(offsets, PAGES_OFFSETS);
            let WarcItem::Corrupt {
                offset,
                reason,
                detail,
                ..
            } = &got[15]
            else {
                panic!("item 15 is {:?}", summary(&got[15..16]));
            };
            assert_eq!((*offset, *reason), (20238, "corrupt_gzip"));
            assert!(
                detail.ends_with("skipped 1462 bytes to the gzip member at offset 21700"),
                "{detail}"
            );
            let recs = records(&got);
            let mut counts = std::collections::BTreeMap::new();
            for r in &recs {
                *counts.entry(r.warc_type.as_str()).or_insert(0) += 1;
            }
            let counts: Vec<_> = counts.into_iter().collect();
            assert_eq!(
                counts,
                [
                    ("metadata", 1),
                    ("request", 17),
                    ("response", 16),
                    ("warcinfo", 1)
                ]
            );
            // The records on both sides of the cut member.
            let before = &recs[14];
            assert_eq!(
                before.record_id.as_deref(),
                Some("<urn:uuid:ccfa6f19-9a2e-52ef-8076-739ff6e0f012>")
            );
            assert_eq!(
                before.target_uri.as_deref(),
                Some("https://docs.python.org/3.11/genindex-Y.html")
            );
            let after = &recs[15];
            assert_eq!(after.offset, 21700);
            assert_eq!(
                after.record_id.as_deref(),
                Some("<urn:uuid:960f77d5-b540-55b4-99ec-5360058a2944>")
            );
            assert_eq!(
                after.target_uri.as_deref(),
                Some("https://docs.python.org/3.11/download.html")
            );
        }
    }

    #[test]
    fn gzip_fixture_fields_and_http() {
        let got = items(&fixture("pages.warc.gz"), Compression::Gzip, MAX);
        let recs = records(&got);
        let info = recs[0];
        assert_eq!(
            (
                info.warc_type.as_str(),
                info.version.as_str(),
                info.record_id.as_deref(),
                info.date.as_deref(),
                info.content_type.as_deref(),
                info.target_uri.as_deref()
            ),
            (
                "warcinfo",
                "1.1",
                Some("<urn:uuid:27ff71a1-15d6-5b8d-8e33-1ae85d617db3>"),
                Some("2024-05-01T10:00:01Z"),
                Some("application/warc-fields"),
                None
            )
        );
        assert!(info.http.is_none());
        assert!(info.block.starts_with(b"software: corpusforge"));

        let request = recs[1];
        assert_eq!(request.warc_type, "request");
        assert_eq!(request.date.as_deref(), Some("2024-05-01T10:00:02Z"));
        assert!(request.http.is_none(), "requests are not parsed");
        assert!(request
            .block
            .starts_with(b"GET /3.11/search.html HTTP/1.1\r\n"));

        let first = recs[2];
        assert_eq!(first.offset, 650);
        assert_eq!(
            first.header("warc-concurrent-to"),
            request.record_id.as_deref()
        );
        let http = first.http.clone().unwrap().unwrap();
        assert_eq!(http.status, 200);
        assert_eq!(http.content_type.as_deref(), Some("text/html"));
        assert_eq!(http.charset.as_deref(), Some("utf-8"));
        assert_eq!(http.header("server"), Some("fixture"));
        assert_eq!(http.body.len(), 8867);
        assert_eq!(http.body_error, None);

        // Content-Encoding: gzip and Transfer-Encoding: chunked come out decoded.
        for (i, len) in [(4, 9036), (6, 9055)] {
            let http = recs[i].http.clone().unwrap().unwrap();
            assert_eq!(
                (http.body.len(), http.body_error.clone()),
                (len, None),
                "{i}"
            );
            assert!(http.body.starts_with(b"\n<!DOCTYPE html>\n"));
            assert!(http.body.ends_with(b"</body>\n</html>"));
        }
        assert_eq!(recs[4].header("content-encoding"), None);
        assert_eq!(
            recs[4]
                .http
                .clone()
                .unwrap()
                .unwrap()
                .header("Content-Encoding"),
            Some("gzip")
        );

        // Header names in other cases, a folded line, WARC/1.0.
        let odd = recs[8];
        assert_eq!(
            (odd.version.as_str(), odd.warc_type.as_str()),
            ("1.0", "response")
        );
        assert_eq!(
            odd.target_uri.as_deref(),
            Some("https://docs.python.org/3.11/includes/wasm-notavail.html")
        );
        assert!(odd
            .header("WARC-Block-Digest")
            .unwrap()
            .starts_with("sha1:"));

        let by_uri = |suffix: &str| {
            recs.iter()
                .find(|r| {
                    r.warc_type == "response" && r.target_uri.as_ref().unwrap().ends_with(suffix)
                })
                .unwrap()
                .http
                .clone()
                .unwrap()
                .unwrap()
        };
        let missing = by_uri("no-such-page.html");
        assert_eq!(missing.status, 404);
        assert!(missing.body.starts_with(b"<!DOCTYPE html>"));
        let png = by_uri("pixel.png");
        assert_eq!(
            (png.status, png.content_type.as_deref()),
            (200, Some("image/png"))
        );
        assert!(png.body.starts_with(b"\x89PNG\r\n\x1a\n"));
        let json = by_uri("pages.json");
        assert_eq!(json.content_type.as_deref(), Some("application/json"));
        assert!(json.body.starts_with(b"{"));

        let meta: Vec<_> = recs.iter().filter(|r| r.warc_type == "metadata").collect();
        assert_eq!(meta.len(), 1);
        assert_eq!(
            meta[0].header("WARC-Refers-To"),
            recs[10].record_id.as_deref()
        );
    }

    #[test]
    fn gzip_fixture_charsets() {
        use crate::io::charset::{decode_html, CharsetSource};
        let got = items(&fixture("pages.warc.gz"), Compression::Gzip, MAX);
        let mut decoded = Vec::new();
        for r in records(&got) {
            let Some(Ok(http)) = &r.http else { continue };
            if http.content_type.as_deref() != Some("text/html") {
                continue;
            }
            let d = decode_html(&http.body, http.charset.as_deref());
            let name = r.target_uri.as_deref().unwrap().rsplit('/').next().unwrap();
            decoded.push((name, d));
        }
        assert_eq!(decoded.len(), 14);
        let odd: Vec<_> = decoded
            .iter()
            .filter(|(_, d)| (d.encoding, d.from) != ("UTF-8", CharsetSource::Http))
            .map(|(name, d)| (*name, d.encoding, d.from, d.replacements))
            .collect();
        assert_eq!(
            odd,
            [
                ("concurrent.html", "windows-1252", CharsetSource::Http, 0),
                ("about.html", "windows-1251", CharsetSource::Meta, 0),
            ]
        );
        assert!(decoded.iter().all(|(_, d)| d.replacements == 0));
        let text = |name: &str| &decoded.iter().find(|(n, _)| *n == name).unwrap().1.text;
        assert!(text("concurrent.html").contains(
            "<p>Caf\u{e9} cr\u{e8}me, d\u{e9}j\u{e0} vu, na\u{ef}ve fa\u{e7}ade, \u{201c}quoted\u{201d} \u{2014} an em dash, \u{bd} price, 10\u{b0}C, \u{a9} 2024, \u{a3} and \u{a5}.</p>"
        ));
        assert!(text("about.html").contains("<p>\u{41f}\u{440}\u{438}\u{43c}\u{435}\u{440} \u{442}\u{435}\u{43a}\u{441}\u{442}\u{430}"));
    }

    #[test]
    fn reads_the_plain_fixture_past_corrupt_records() {
        let data = fixture("small.warc");
        for compression in [Compression::Plain, Compression::Auto] {
            let got = items(&data, compression, MAX);
            assert_eq!(
                summary(&got),
                [
                    "0 warcinfo",
                    "239 request",
                    "622 response",
                    "9890 !truncated_record",
                    "10277 metadata",
                    "10562 !garbage_between_records",
                    "10624 !bad_content_length",
                    "10866 !bad_warc_header",
                    "11107 resource",
                    "11356 response",
                ]
            );
            assert_eq!(
                ids(&got),
                [
                    "<urn:uuid:b13f67d8-5a6b-5259-ad07-72b49010f91a>",
                    "<urn:uuid:505494a6-b818-55ec-9752-b8421970cee2>",
                    "<urn:uuid:32d02342-4951-5c1b-b513-b6a3aaee15c0>",
                    "<urn:uuid:487b00ac-8288-5368-93f6-13b5767d358d>",
                    "<urn:uuid:aac0205a-a9c0-5ee4-bfe7-354b6b1a7b8a>",
                    "<urn:uuid:abb4eda5-e74d-50a6-b52e-6d353f63473c>",
                ]
            );
            let recs = records(&got);
            // Lower-case names and a folded WARC-Date on the request.
            assert_eq!(recs[1].warc_type, "request");
            assert_eq!(recs[1].date.as_deref(), Some("2024-05-01T10:01:42Z"));
            let http = recs[5].http.clone().unwrap().unwrap();
            assert_eq!(http.status, 404);
            let details: Vec<(&str, &str)> = got
                .iter()
                .filter_map(|i| match i {
                    WarcItem::Corrupt { reason, detail, .. } => Some((*reason, detail.as_str())),
                    WarcItem::Record(_) => None,
                })
                .collect();
            assert_eq!(
                details,
                [
                    ("truncated_record", "the block has 143 bytes where Content-Length says 179: the next record starts inside it"),
                    ("garbage_between_records", "bytes where a record should start do not start with `WARC/`; skipped 62 bytes"),
                    ("bad_content_length", "Content-Length \"12ab\" is not a byte count; skipped 242 bytes"),
                    ("bad_warc_header", "unsupported WARC version 9.9; skipped 241 bytes"),
                ]
            );
        }
    }

    #[test]
    fn corrupt_plain_records_each_kind() {
        let a = resource("a", b"alpha");
        let b = resource("b", b"beta");
        let (na, nb) = (a.len(), b.len());
        assert_eq!((na, nb), (91, 90));
        // `b` with Content-Length 2: the block does not end at a record boundary.
        let short_b = String::from_utf8(b.clone())
            .unwrap()
            .replace("Length: 4", "Length: 2");
        let cases: Vec<(Vec<u8>, Vec<String>)> = vec![
            (
                [b"junk\n".as_slice(), &a].concat(),
                vec!["0 !garbage_between_records".into(), "5 resource".into()],
            ),
            (
                [&a[..], b"WARC/1.0\r\nWARC-Type: x\r\n\r\n", &b].concat(),
                vec![
                    "0 resource".into(),
                    format!("{na} !bad_content_length"),
                    format!("{} resource", na + 26),
                ],
            ),
            (
                [
                    &a[..],
                    b"WARC/1.0\r\nno colon here\r\nContent-Length: 0\r\n\r\n",
                    &b,
                ]
                .concat(),
                vec![
                    "0 resource".into(),
                    format!("{na} !bad_warc_header"),
                    format!("{} resource", na + 46),
                ],
            ),
            (
                // Framed well but without WARC-Type: reading goes on after its block.
                [
                    &a[..],
                    b"WARC/1.0\r\nContent-Length: 3\r\n\r\nabc\r\n\r\n",
                    &b,
                ]
                .concat(),
                vec![
                    "0 resource".into(),
                    format!("{na} !bad_warc_header"),
                    format!("{} resource", na + 38),
                ],
            ),
            (
                [&a[..], b"WARC/1.0\r\nWARC-Type: resource\r\n"].concat(),
                vec!["0 resource".into(), format!("{na} !truncated_record")],
            ),
            (
                [&a[..], &b[..nb - 6]].concat(),
                vec!["0 resource".into(), format!("{na} !truncated_record")],
            ),
            (
                [&a[..], short_b.as_bytes(), &a].concat(),
                vec![
                    "0 resource".into(),
                    format!("{na} !length_mismatch"),
                    format!("{} resource", na + nb),
                ],
            ),
            (
                // Extra blank lines, and a record without its separator, are tolerated.
                [b"\r\n\r\n".as_slice(), &a[..na - 4], &b, b"\r\n\r\n\r\n"].concat(),
                vec!["4 resource".into(), format!("{} resource", na)],
            ),
            (
                // Garbage after a proper separator: the record before it is good.
                [&a[..], b"%%%%\r\n", &b].concat(),
                vec![
                    "0 resource".into(),
                    format!("{na} !garbage_between_records"),
                    format!("{} resource", na + 6),
                ],
            ),
            (b"".to_vec(), vec![]),
            (b"\r\n\r\n".to_vec(), vec![]),
            (b"WARC/1.0".to_vec(), vec!["0 !truncated_record".into()]),
        ];
        for (input, want) in cases {
            let got = items(&input, Compression::Plain, MAX);
            assert_eq!(summary(&got), want, "{:?}", String::from_utf8_lossy(&input));
        }
    }

    #[test]
    fn folded_and_case_insensitive_headers() {
        let input = b"WARC/1.1\r\nwarc-type: response\r\nWARC-TARGET-URI: <http://example.com/a>\r\nwarc-record-id:\r\n <urn:uuid:x>\r\nX-Long: one\r\n\ttwo\r\n  three\r\ncontent-length: 0\r\n\r\n\r\n\r\n";
        let got = items(input, Compression::Plain, MAX);
        let recs = records(&got);
        assert_eq!(recs.len(), 1);
        let r = recs[0];
        assert_eq!(r.warc_type, "response");
        assert_eq!(r.target_uri.as_deref(), Some("http://example.com/a"));
        assert_eq!(r.record_id.as_deref(), Some("<urn:uuid:x>"));
        assert_eq!(r.header("x-long"), Some("one two three"));
        // No Content-Type and an empty block: no HTTP to parse.
        assert_eq!(r.http, None);
    }

    #[test]
    fn record_over_max_size_is_skipped() {
        let big = vec![b'z'; 10_000];
        let input = [
            resource("a", b"alpha"),
            resource("big", &big),
            resource("b", b"beta"),
        ]
        .concat();
        let got = items(&input, Compression::Plain, 1000);
        assert_eq!(
            summary(&got),
            ["0 resource", "91 !record_too_large", "10183 resource"]
        );
        let WarcItem::Corrupt { detail, raw, .. } = &got[1] else {
            unreachable!()
        };
        assert_eq!(
            detail,
            "Content-Length 10000 is over max_record_bytes (1000)"
        );
        assert!(
            raw.starts_with("WARC/1.1\r\nWARC-Type: resource\r\nWARC-Record-ID: <urn:uuid:big>")
        );
        // The same with one gzip member per record: offsets are the members'.
        let members: Vec<Vec<u8>> = [
            resource("a", b"alpha"),
            resource("big", &big),
            resource("b", b"beta"),
        ]
        .iter()
        .map(|r| gz(r))
        .collect();
        let second = members[0].len();
        let third = second + members[1].len();
        let got = items(&members.concat(), Compression::Gzip, 1000);
        assert_eq!(
            summary(&got),
            [
                "0 resource".to_string(),
                format!("{second} !record_too_large"),
                format!("{third} resource")
            ]
        );
    }

    #[test]
    fn whole_file_as_one_gzip_stream() {
        let plain = fixture("small.warc");
        let got = items(&gz(&plain), Compression::Gzip, MAX);
        let plain_items = items(&plain, Compression::Plain, MAX);
        assert_eq!(got.len(), 10);
        assert_eq!(ids(&got), ids(&plain_items));
        // Every record sits in the one member at offset 0.
        assert!(got.iter().all(|i| match i {
            WarcItem::Record(r) => r.offset == 0,
            WarcItem::Corrupt { offset, .. } => *offset == 0,
        }));
        let blocks = |items: &[WarcItem]| {
            records(items)
                .iter()
                .map(|r| r.block.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(blocks(&got), blocks(&plain_items));
        // Members that split records anywhere read the same.
        let split: Vec<u8> = plain.chunks(777).flat_map(gz).collect();
        assert_eq!(
            blocks(&items(&split, Compression::Gzip, MAX)),
            blocks(&plain_items)
        );
    }

    #[test]
    fn gzip_faults_are_reported_and_skipped() {
        let recs = [
            resource("a", b"alpha"),
            resource("b", b"beta"),
            resource("c", b"gamma"),
        ];
        let members: Vec<Vec<u8>> = recs.iter().map(|r| gz(r)).collect();
        let (m0, m1) = (members[0].len(), members[1].len());
        // A CRC mismatch in the middle member.
        let mut bad_crc = members.clone();
        let n = bad_crc[1].len();
        bad_crc[1][n - 8] ^= 0xff;
        let got = items(&bad_crc.concat(), Compression::Gzip, MAX);
        assert_eq!(
            summary(&got),
            [
                "0 resource".to_string(),
                format!("{m0} !corrupt_gzip"),
                format!("{} resource", m0 + m1)
            ]
        );
        let WarcItem::Corrupt { detail, .. } = &got[1] else {
            unreachable!()
        };
        assert_eq!(
            detail,
            &format!("gzip member at offset {m0} fails its CRC check; skipped {m1} bytes to the gzip member at offset {}", m0 + m1)
        );
        // Garbage between members, and at the end of the file.
        let junk = [&members[0][..], b"not gzip at all", &members[1], b"\0\0\0"].concat();
        assert_eq!(
            summary(&items(&junk, Compression::Gzip, MAX)),
            [
                "0 resource".to_string(),
                format!("{m0} !garbage_between_records"),
                format!("{} resource", m0 + 15),
                format!("{} !garbage_between_records", m0 + 15 + m1),
            ]
        );
        // A member whose data is not a WARC record.
        let other = [&members[0][..], &gz(b"hello"), &members[2]].concat();
        assert_eq!(
            summary(&items(&other, Compression::Gzip, MAX)),
            [
                "0 resource".to_string(),
                format!("{m0} !garbage_between_records"),
                format!("{} resource", m0 + 25)
            ]
        );
        // The last member cut short.
        let cut = [&members[0][..], &members[1][..m1 - 3]].concat();
        assert_eq!(
            summary(&items(&cut, Compression::Gzip, MAX)),
            ["0 resource".to_string(), format!("{m0} !corrupt_gzip")]
        );
        // A plain file read as gzip is garbage as a whole.
        assert_eq!(
            summary(&items(&recs.concat(), Compression::Gzip, MAX)),
            ["0 !garbage_between_records"]
        );
    }

    #[test]
    fn read_errors_end_the_reading() {
        /// Serves the first `.1` bytes of `.0`, then fails.
        struct Failing(Vec<u8>, usize);
        impl Read for Failing {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.1 == 0 {
                    return Err(io::Error::other("disk on fire"));
                }
                let n = self.1.min(buf.len()).min(self.0.len());
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0.drain(..n);
                self.1 -= n;
                Ok(n)
            }
        }
        let data = [resource("a", b"alpha"), resource("b", b"beta")].concat();
        let read = |limit: usize| -> Vec<WarcItem> {
            WarcReader::new(Failing(data.clone(), limit), Compression::Plain, MAX).collect()
        };
        assert_eq!(summary(&read(91)), ["0 resource", "91 !read_error"]);
        assert_eq!(summary(&read(10)), ["0 !read_error"]);
        assert_eq!(summary(&read(100)), ["0 resource", "91 !read_error"]);
        let got = read(0);
        let WarcItem::Corrupt { detail, .. } = &got[0] else {
            unreachable!()
        };
        assert_eq!(detail, "disk on fire (reading stopped here)");
    }

    #[test]
    fn http_bodies() {
        let parse = |head: &str, body: &[u8]| {
            let block = [head.replace('\n', "\r\n").as_bytes(), b"\r\n", body].concat();
            parse_http_response(&block, 1 << 16).unwrap()
        };
        let ok = |r: &HttpResponse| (r.body.clone(), r.body_error.as_ref().map(|e| e.reason));
        let html = b"<html>hello</html>".to_vec();

        let chunked = "HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n";
        let r = parse(
            chunked,
            b"5\r\n<html\r\n6;ext=1\r\n>hello\r\n7\r\n</html>\r\n0\r\nX-Trailer: t\r\n\r\n",
        );
        assert_eq!(ok(&r), (html.clone(), None));
        // Already de-chunked although the header says chunked.
        assert_eq!(ok(&parse(chunked, &html)), (html.clone(), None));
        let r = parse(chunked, b"5\r\n<html\r\n40\r\n>hello");
        assert_eq!(
            r.body_error.as_ref().unwrap().reason,
            "bad_chunked_encoding"
        );
        assert_eq!(r.body, b"5\r\n<html\r\n40\r\n>hello");
        let r = parse(chunked, b"5\r\n<html\r\n");
        assert_eq!(
            r.body_error.unwrap().detail,
            "the body ends before the last chunk"
        );

        let gzip = "HTTP/1.1 200 OK\nContent-Encoding: gzip\nContent-Type: text/html; Charset=\"ISO-8859-1\"\n";
        let r = parse(gzip, &gz(&html));
        assert_eq!(ok(&r), (html.clone(), None));
        assert_eq!(
            (r.content_type.as_deref(), r.charset.as_deref()),
            (Some("text/html"), Some("ISO-8859-1"))
        );
        let packed = gz(&html);
        let r = parse(gzip, &packed[..packed.len() - 5]);
        assert_eq!(
            ok(&r),
            (
                packed[..packed.len() - 5].to_vec(),
                Some("bad_content_encoding")
            )
        );
        assert_eq!(ok(&parse(gzip, &html)).1, Some("bad_content_encoding"));
        // Chunked and gzip together.
        let mut both = format!("{:x}\r\n", packed.len()).into_bytes();
        both.extend_from_slice(&packed);
        both.extend_from_slice(b"\r\n0\r\n\r\n");
        let r = parse(
            "HTTP/1.1 200 OK\nTransfer-Encoding: chunked\nContent-Encoding: gzip\n",
            &both,
        );
        assert_eq!(ok(&r), (html.clone(), None));

        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(&html).unwrap();
        let mut d = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        d.write_all(&html).unwrap();
        for body in [z.finish().unwrap(), d.finish().unwrap()] {
            assert_eq!(
                ok(&parse(
                    "HTTP/1.1 200 OK\nContent-Encoding: deflate\n",
                    &body
                )),
                (html.clone(), None)
            );
        }
        let r = parse("HTTP/1.1 200 OK\nContent-Encoding: br\n", b"\x0b\x02");
        assert_eq!(
            ok(&r),
            (b"\x0b\x02".to_vec(), Some("unsupported_content_encoding"))
        );
        // A body that inflates past the limit.
        let bomb = gz(&vec![0u8; 1 << 20]);
        assert_eq!(ok(&parse(gzip, &bomb)).1, Some("body_too_large"));
        // No body at all is fine whatever the codings.
        assert_eq!(
            ok(&parse(
                "HTTP/1.1 304 Not Modified\nContent-Encoding: gzip\n",
                b""
            )),
            (vec![], None)
        );

        let bad = |block: &[u8]| parse_http_response(block, 100).unwrap_err().reason;
        assert_eq!(bad(b"HTTP/1.1 200 OK\r\nServer: x\r\n"), "bad_http_header");
        assert_eq!(bad(b"HTTP/1.1 2000 OK\r\n\r\n"), "bad_http_header");
        assert_eq!(bad(b"<html>\r\n\r\n"), "bad_http_header");
        let r = parse_http_response(b"HTTP/1.0 301\n\nmoved", 100).unwrap();
        assert_eq!((r.status, r.body.as_slice()), (301, b"moved".as_slice()));
    }

    #[test]
    fn a_response_with_bad_http_is_still_a_record() {
        let input = record(
            &[
                ("WARC-Type", "response"),
                ("Content-Type", "application/http;msgtype=response"),
            ],
            b"not http at all",
        );
        let got = items(&input, Compression::Plain, MAX);
        let r = records(&got)[0];
        assert_eq!(
            r.http.clone().unwrap().unwrap_err().reason,
            "bad_http_header"
        );
    }

    /// Bytes made on the fly: a header claiming `len` bytes of block, then the block.
    struct Huge {
        head: Vec<u8>,
        len: u64,
        pos: u64,
    }

    impl Read for Huge {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let total = self.head.len() as u64 + self.len;
            if self.pos >= total {
                return Ok(0);
            }
            let mut n = 0;
            while n < buf.len() && self.pos < total {
                buf[n] = match self.head.get(self.pos as usize) {
                    Some(&b) => b,
                    None => b'a' + (self.pos % 26) as u8,
                };
                n += 1;
                self.pos += 1;
            }
            Ok(n)
        }
    }

    #[test]
    fn memory_stays_bounded_on_a_huge_record() {
        let len = 64u64 << 20;
        let head = format!("WARC/1.1\r\nWARC-Type: resource\r\nContent-Length: {len}\r\n\r\n")
            .into_bytes();
        let huge = Huge {
            head: head.clone(),
            len,
            pos: 0,
        };
        let mut reader = WarcReader::new(huge, Compression::Plain, 1 << 20);
        let item = reader.next().unwrap();
        assert_eq!(summary(&[item]), ["0 !record_too_large"]);
        assert!(reader.next().is_none());
        assert!(
            reader.stream.buf.capacity() < 1 << 20,
            "{}",
            reader.stream.buf.capacity()
        );
        assert!(reader.stream.src.input.buf.len() < 1 << 20);

        // Compressed on the fly, as one member: the kept compressed bytes are capped too.
        let huge = Huge { head, len, pos: 0 };
        let packed = flate2::read::GzEncoder::new(huge, flate2::Compression::fast());
        let mut reader = WarcReader::new(packed, Compression::Gzip, 1 << 20);
        let item = reader.next().unwrap();
        assert_eq!(summary(&[item]), ["0 !record_too_large"]);
        assert!(reader.next().is_none());
        assert!(
            reader.stream.buf.capacity() < 4 << 20,
            "{}",
            reader.stream.buf.capacity()
        );
        assert!(
            reader.stream.src.input.buf.len() < 4 << 20,
            "{}",
            reader.stream.src.input.buf.len()
        );
    }

    /// xorshift64*: a fixed sequence of pseudo-random numbers.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

    /// One random input: noise, pieces of WARC syntax, or a damaged fixture.
    fn fuzz_case(rng: &mut Rng, plain: &[u8], packed: &[u8]) -> Vec<u8> {
        const PIECES: [&[u8]; 10] = [
            b"WARC/1.0\r\n",
            b"WARC/1.1\n",
            b"Content-Length: 5\r\n",
            b"Content-Length: 99999999999999999999\r\n",
            b"WARC-Type: response\r\nContent-Type: application/http\r\n",
            b"\r\n\r\n",
            b"\n",
            b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Encoding: gzip\r\n\r\n",
            b" folded\r\n",
        ];
        let mut out = match rng.below(4) {
            0 => (0..rng.below(600)).map(|_| rng.next() as u8).collect(),
            1 => {
                let mut v = Vec::new();
                for _ in 0..rng.below(40) {
                    if rng.below(3) == 0 {
                        v.push(rng.next() as u8);
                    } else {
                        v.extend_from_slice(PIECES[rng.below(PIECES.len())]);
                    }
                }
                v
            }
            2 => plain.to_vec(),
            _ => packed.to_vec(),
        };
        // Damage: flips, cuts, and splices of noise.
        for _ in 0..rng.below(6) {
            if out.is_empty() {
                break;
            }
            let at = rng.below(out.len());
            match rng.below(4) {
                0 => out[at] ^= 1 << rng.below(8),
                1 => out.truncate(at),
                2 => {
                    let end = (at + rng.below(200)).min(out.len());
                    out.drain(at..end);
                }
                _ => {
                    let noise: Vec<u8> = (0..rng.below(50)).map(|_| rng.next() as u8).collect();
                    out.splice(at..at, noise);
                }
            }
        }
        out
    }

    /// The records (id and block) of a reading.
    fn record_keys(items: &[WarcItem]) -> Vec<(Option<String>, Vec<u8>)> {
        records(items)
            .into_iter()
            .map(|r| (r.record_id.clone(), r.block.clone()))
            .collect()
    }

    /// Cut points: every byte within 64 of a record start (where the cases differ), every 13th
    /// byte elsewhere.
    fn cut_points(len: usize, starts: &[u64]) -> Vec<usize> {
        (0..len)
            .filter(|&c| c % 13 == 0 || starts.iter().any(|&s| (c as u64).abs_diff(s) <= 64))
            .collect()
    }

    #[test]
    fn truncations_read_a_prefix_of_the_records() {
        let plain = fixture("small.warc");
        let full = record_keys(&items(&plain, Compression::Plain, MAX));
        let starts = [0, 239, 622, 9890, 10277, 10562, 10624, 10866, 11107, 11356];
        for cut in cut_points(plain.len(), &starts) {
            let got = items(&plain[..cut], Compression::Plain, MAX);
            let keys = record_keys(&got);
            assert!(
                keys[..] == full[..keys.len()],
                "cut at {cut}: {:?}",
                summary(&got)
            );
        }
        let packed = fixture("pages.warc.gz");
        let packed = &packed[..PAGES_OFFSETS[6] as usize];
        let full = record_keys(&items(packed, Compression::Gzip, MAX));
        assert_eq!(full.len(), 6);
        for cut in cut_points(packed.len(), &PAGES_OFFSETS) {
            let got = items(&packed[..cut], Compression::Gzip, MAX);
            let keys = record_keys(&got);
            let whole = PAGES_OFFSETS.iter().filter(|&&o| o < cut as u64).count();
            let complete = PAGES_OFFSETS[1..]
                .iter()
                .filter(|&&o| o <= cut as u64)
                .count();
            assert!(
                keys[..] == full[..complete],
                "cut at {cut}: {:?}",
                summary(&got)
            );
            // Only the cut member, if any, is reported.
            assert_eq!(got.len(), whole, "cut at {cut}: {:?}", summary(&got));
        }
    }

    #[test]
    fn fuzz_never_panics_and_always_ends() {
        let plain = fixture("small.warc");
        let packed = fixture("pages.warc.gz");
        // A shorter gzip input keeps the loop quick: the first 12 members.
        let packed = &packed[..PAGES_OFFSETS[12] as usize];
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut seen = std::collections::BTreeSet::new();
        for case in 0..3000 {
            let input = fuzz_case(&mut rng, &plain, packed);
            let compression =
                [Compression::Plain, Compression::Gzip, Compression::Auto][rng.below(3)];
            let max = [0, 50, 5000, MAX][rng.below(4)];
            let mut n = 0;
            for item in WarcReader::new(&input[..], compression, max) {
                n += 1;
                if let WarcItem::Corrupt { reason, .. } = &item {
                    seen.insert(*reason);
                }
                // Every item but a final read error moves at least one byte forward.
                assert!(
                    n <= input.len() + 1,
                    "case {case}: {n} items from {} bytes",
                    input.len()
                );
            }
        }
        let seen: Vec<_> = seen.into_iter().collect();
        assert_eq!(
            seen,
            [
                "bad_content_length",
                "bad_warc_header",
                "corrupt_gzip",
                "garbage_between_records",
                "length_mismatch",
                "record_too_large",
                "truncated_record"
            ]
        );
    }
}
