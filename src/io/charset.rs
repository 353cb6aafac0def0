//! HTML bytes to text ([`decode_html`]): which encoding to decode with, and decoding it.
//!
//! The encoding is chosen as browsers do (the HTML standard's encoding sniffing), then guarded
//! so that a wrong declaration does not become silent mojibake:
//!
//! 1. A byte order mark (UTF-8, UTF-16LE, UTF-16BE) wins outright.
//! 2. Else the HTTP `charset`, else a `<meta charset>` or `<meta http-equiv="Content-Type">`
//!    found by the standard's prescan of the first 4096 bytes. Labels resolve through the
//!    WHATWG label table (`latin1` and `iso-8859-1` are windows-1252, `x-user-defined` is read
//!    as windows-1252, and a meta naming UTF-16 means UTF-8); labels that resolve to nothing or
//!    to the replacement encoding are ignored. An HTTP UTF-16 label is trusted only when the
//!    bytes have the zero bytes UTF-16 text of mostly ASCII would have.
//!    A declared encoding is overruled when the bytes are UTF-8 with non-ASCII content (at
//!    least four in five non-ASCII sequences well-formed: real legacy text is almost never
//!    UTF-8 by chance), and when decoding with it inserts replacement characters and the
//!    detector's guess inserts fewer. A UTF-8 declaration over such bytes is kept even when a
//!    few bytes are malformed, since a single-byte guess would insert no replacements but
//!    garble every other non-ASCII character.
//! 3. Else UTF-8 if the bytes are UTF-8 as above, else chardetng's guess (ISO-2022-JP is not
//!    allowed: it can hide markup).
//! 4. Bytes that are all ASCII and declare nothing are UTF-8 ([`CharsetSource::Default`]).
//!
//! Decoding never fails: malformed sequences become U+FFFD, counted in
//! [`Decoded::replacements`].

use chardetng::{EncodingDetector, Iso2022JpDetection, Utf8Detection};
use encoding_rs::{
    DecoderResult, Encoding, REPLACEMENT, UTF_16BE, UTF_16LE, UTF_8, WINDOWS_1252, X_USER_DEFINED,
};

/// Bytes of the document searched for a `<meta>` declaration.
const PRESCAN_BYTES: usize = 4096;

/// Bytes fed to the detector: enough text for a confident guess on any real page.
const DETECT_BYTES: usize = 1 << 20;

/// HTML decoded to text, with how its encoding was chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// The text (without a byte order mark).
    pub text: String,
    /// The encoding's WHATWG name, e.g. `UTF-8`, `windows-1252`, `Shift_JIS`.
    pub encoding: &'static str,
    /// What chose the encoding.
    pub from: CharsetSource,
    /// The encoding the BOM, the HTTP header or a meta tag named, when there was one (set even
    /// when it was overruled, so that a differing `encoding` shows a wrong declaration).
    pub declared: Option<&'static str>,
    /// U+FFFD characters inserted for malformed bytes (not ones present in the input).
    pub replacements: u64,
}

/// What chose the encoding of a [`Decoded`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CharsetSource {
    /// A byte order mark.
    Bom,
    /// The HTTP `Content-Type` charset.
    Http,
    /// A `<meta>` declaration in the document.
    Meta,
    /// The detector, or a declaration overruled by what the bytes are.
    Detected,
    /// Nothing: the bytes are ASCII and are read as UTF-8.
    Default,
}

impl CharsetSource {
    /// The lower-case name used in metadata and reports (`bom`, `http`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            CharsetSource::Bom => "bom",
            CharsetSource::Http => "http",
            CharsetSource::Meta => "meta",
            CharsetSource::Detected => "detected",
            CharsetSource::Default => "default",
        }
    }
}

/// Decodes an HTML document, given the HTTP `Content-Type` charset if there was one.
pub fn decode_html(bytes: &[u8], http_charset: Option<&str>) -> Decoded {
    decode_html_for_url(bytes, http_charset, None)
}

/// [`decode_html`], letting the detector use the top-level domain of `url` (e.g. `.jp` makes
/// Shift_JIS likelier, `.ru` windows-1251).
pub fn decode_html_for_url(bytes: &[u8], http_charset: Option<&str>, url: Option<&str>) -> Decoded {
    if let Some((encoding, bom_len)) = Encoding::for_bom(bytes) {
        let (text, replacements) = decode_counting(encoding, &bytes[bom_len..]);
        return Decoded {
            text,
            encoding: encoding.name(),
            from: CharsetSource::Bom,
            declared: Some(encoding.name()),
            replacements,
        };
    }
    let tld = url.and_then(tld_of);
    let declared = http_charset
        .and_then(|label| http_encoding(label, bytes))
        .map(|e| (e, CharsetSource::Http))
        .or_else(|| prescan(bytes).map(|e| (e, CharsetSource::Meta)));
    let Some((encoding, from)) = declared else {
        if bytes.is_ascii() {
            return decoded_with(bytes, UTF_8, CharsetSource::Default, None);
        }
        let guess = if mostly_utf8(bytes) {
            UTF_8
        } else {
            detect(bytes, tld.as_deref())
        };
        return decoded_with(bytes, guess, CharsetSource::Detected, None);
    };
    let name = Some(encoding.name());
    let utf8 = mostly_utf8(bytes);
    if encoding != UTF_8 && utf8 {
        return decoded_with(bytes, UTF_8, CharsetSource::Detected, name);
    }
    let first = decoded_with(bytes, encoding, from, name);
    // UTF-8 with a few bad bytes is damaged UTF-8, not another encoding: a single-byte guess
    // would insert no replacements but garble every other non-ASCII character.
    if first.replacements == 0 || (encoding == UTF_8 && utf8) {
        return first;
    }
    let guess = detect(bytes, tld.as_deref());
    if guess == encoding {
        return first;
    }
    let second = decoded_with(bytes, guess, CharsetSource::Detected, name);
    if second.replacements < first.replacements {
        second
    } else {
        first
    }
}

/// `bytes` decoded with `encoding`.
fn decoded_with(
    bytes: &[u8],
    encoding: &'static Encoding,
    from: CharsetSource,
    declared: Option<&'static str>,
) -> Decoded {
    let (text, replacements) = decode_counting(encoding, bytes);
    Decoded {
        text,
        encoding: encoding.name(),
        from,
        declared,
        replacements,
    }
}

/// Decodes without BOM sniffing, counting the U+FFFD inserted for malformed input.
fn decode_counting(encoding: &'static Encoding, bytes: &[u8]) -> (String, u64) {
    let mut decoder = encoding.new_decoder_without_bom_handling();
    let room = |decoder: &encoding_rs::Decoder, n: usize| {
        decoder
            .max_utf8_buffer_length_without_replacement(n)
            .unwrap_or(n)
            .max(16)
    };
    let mut text = String::with_capacity(room(&decoder, bytes.len()));
    let mut input = bytes;
    let mut replacements = 0u64;
    loop {
        let (result, read) = decoder.decode_to_string_without_replacement(input, &mut text, true);
        input = &input[read..];
        match result {
            DecoderResult::InputEmpty => return (text, replacements),
            DecoderResult::OutputFull => {
                let more = room(&decoder, input.len());
                text.reserve(more);
            }
            DecoderResult::Malformed(_, _) => {
                replacements += 1;
                text.push('\u{FFFD}');
            }
        }
    }
}

/// True when `bytes` have non-ASCII characters and at least four in five of their non-ASCII
/// sequences are well-formed UTF-8. Legacy text is almost never well-formed UTF-8 by chance
/// (Latin text never, CJK text for a small share of its characters), so this tells UTF-8, even
/// with some damage, from everything else.
fn mostly_utf8(bytes: &[u8]) -> bool {
    let (mut good, mut bad) = (0u64, 0u64);
    let mut rest = bytes;
    loop {
        let (valid, error) = match std::str::from_utf8(rest) {
            Ok(s) => (s, None),
            Err(e) => {
                let valid = std::str::from_utf8(&rest[..e.valid_up_to()]).unwrap_or_default();
                (
                    valid,
                    Some(e.error_len().unwrap_or(rest.len() - e.valid_up_to())),
                )
            }
        };
        good += valid.chars().filter(|c| !c.is_ascii()).count() as u64;
        match error {
            None => break,
            Some(len) => {
                bad += 1;
                rest = &rest[valid.len() + len..];
            }
        }
    }
    good > 0 && good >= 4 * bad
}

/// chardetng's guess for `bytes`.
fn detect(bytes: &[u8], tld: Option<&str>) -> &'static Encoding {
    let mut detector = EncodingDetector::new(Iso2022JpDetection::Deny);
    let sample = &bytes[..bytes.len().min(DETECT_BYTES)];
    detector.feed(sample, sample.len() == bytes.len());
    detector.guess(tld.map(str::as_bytes), Utf8Detection::Allow)
}

/// The top-level domain of `url`'s host, lower-cased, if it is a plain DNS label (the
/// detector rejects anything else).
fn tld_of(url: &str) -> Option<String> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority.rsplit('@').next()?;
    let host = host.split(':').next()?.trim_end_matches('.');
    let label = host.rsplit('.').next()?.to_ascii_lowercase();
    let ok = !label.is_empty()
        && label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    ok.then_some(label)
}

/// The encoding an HTTP charset label names, if it is usable for these bytes.
fn http_encoding(label: &str, bytes: &[u8]) -> Option<&'static Encoding> {
    let encoding = Encoding::for_label(label.as_bytes())?;
    if encoding == REPLACEMENT {
        return None;
    }
    if encoding == X_USER_DEFINED {
        return Some(WINDOWS_1252);
    }
    if encoding == UTF_16LE || encoding == UTF_16BE {
        // Without a BOM, UTF-16 of mostly-ASCII markup is full of zero bytes; text without
        // them would decode to CJK-looking noise without a single replacement.
        let sample = &bytes[..bytes.len().min(1024)];
        let zeros = sample.iter().filter(|&&b| b == 0).count();
        if zeros * 8 < sample.len() {
            return None;
        }
    }
    Some(encoding)
}

/// The encoding a meta label names, with the prescan's substitutions.
fn meta_encoding(label: &[u8]) -> Option<&'static Encoding> {
    let encoding = Encoding::for_label(label)?;
    if encoding == REPLACEMENT {
        None
    } else if encoding == UTF_16LE || encoding == UTF_16BE {
        Some(UTF_8)
    } else if encoding == X_USER_DEFINED {
        Some(WINDOWS_1252)
    } else {
        Some(encoding)
    }
}

fn is_space(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | 0x0c | b'\r' | b' ')
}

/// The HTML standard's "prescan a byte stream to determine its encoding", over the first
/// [`PRESCAN_BYTES`].
fn prescan(bytes: &[u8]) -> Option<&'static Encoding> {
    let b = &bytes[..bytes.len().min(PRESCAN_BYTES)];
    let mut pos = 0;
    while pos < b.len() {
        let rest = &b[pos..];
        if rest.starts_with(b"<!--") {
            // The `-->` may share the dashes of `<!--` (`<!-->` is a whole comment).
            let end = b[pos + 2..].windows(3).position(|w| w == b"-->")?;
            pos += 2 + end + 3;
            continue;
        }
        if rest.len() >= 6
            && rest[..5].eq_ignore_ascii_case(b"<meta")
            && (is_space(rest[5]) || rest[5] == b'/')
        {
            pos += 5;
            if let Some(encoding) = meta_tag(b, &mut pos) {
                return Some(encoding);
            }
            continue;
        }
        let tag_start = match rest {
            [b'<', c, ..] if c.is_ascii_alphabetic() => Some(1),
            [b'<', b'/', c, ..] if c.is_ascii_alphabetic() => Some(2),
            _ => None,
        };
        if let Some(skip) = tag_start {
            pos += skip;
            while pos < b.len() && !is_space(b[pos]) && b[pos] != b'>' {
                pos += 1;
            }
            while let Attribute::Found(..) = attribute(b, &mut pos) {}
            pos += 1;
            continue;
        }
        if rest.starts_with(b"<!") || rest.starts_with(b"</") || rest.starts_with(b"<?") {
            let end = b[pos + 2..].iter().position(|&c| c == b'>')?;
            pos += 2 + end + 1;
            continue;
        }
        pos += 1;
    }
    None
}

/// The attributes of a `<meta` tag (from just after its name): the encoding it declares, if
/// it declares a usable one.
fn meta_tag(b: &[u8], pos: &mut usize) -> Option<&'static Encoding> {
    let mut seen: Vec<Vec<u8>> = Vec::new();
    let mut got_pragma = false;
    // None: no charset yet; Some(true): from `content`, needing http-equiv; Some(false): from
    // `charset`.
    let mut need_pragma: Option<bool> = None;
    let mut charset: Option<Vec<u8>> = None;
    while let Attribute::Found(name, value) = attribute(b, pos) {
        if seen.contains(&name) {
            continue;
        }
        match name.as_slice() {
            b"http-equiv" if value == b"content-type" => got_pragma = true,
            b"content" if charset.is_none() => {
                if let Some(c) = charset_from_content(&value) {
                    charset = Some(c);
                    need_pragma = Some(true);
                }
            }
            b"charset" => {
                charset = Some(value.clone());
                need_pragma = Some(false);
            }
            _ => {}
        }
        seen.push(name);
    }
    match need_pragma {
        None => None,
        Some(true) if !got_pragma => None,
        _ => meta_encoding(&charset?),
    }
}

/// One attribute from the standard's "get an attribute": name and value lower-cased.
enum Attribute {
    Found(Vec<u8>, Vec<u8>),
    /// At `>` or the end of the bytes: the tag has no more attributes.
    None,
}

fn attribute(b: &[u8], pos: &mut usize) -> Attribute {
    while *pos < b.len() && (is_space(b[*pos]) || b[*pos] == b'/') {
        *pos += 1;
    }
    if *pos >= b.len() || b[*pos] == b'>' {
        return Attribute::None;
    }
    let mut name = Vec::new();
    // The name runs to `=`, a space, `/` or `>`; the first byte may be `=`.
    loop {
        let Some(&c) = b.get(*pos) else {
            return Attribute::None;
        };
        if c == b'=' && !name.is_empty() {
            *pos += 1;
            return attribute_value(b, pos, name);
        }
        if is_space(c) {
            break;
        }
        if c == b'/' || c == b'>' {
            return Attribute::Found(name, Vec::new());
        }
        name.push(c.to_ascii_lowercase());
        *pos += 1;
    }
    while *pos < b.len() && is_space(b[*pos]) {
        *pos += 1;
    }
    if b.get(*pos) != Some(&b'=') {
        return Attribute::Found(name, Vec::new());
    }
    *pos += 1;
    attribute_value(b, pos, name)
}

/// The value part of "get an attribute", from just after the `=`.
fn attribute_value(b: &[u8], pos: &mut usize, name: Vec<u8>) -> Attribute {
    let mut value = Vec::new();
    while *pos < b.len() && is_space(b[*pos]) {
        *pos += 1;
    }
    let Some(&c) = b.get(*pos) else {
        return Attribute::None;
    };
    if c == b'"' || c == b'\'' {
        *pos += 1;
        loop {
            let Some(&d) = b.get(*pos) else {
                return Attribute::None;
            };
            *pos += 1;
            if d == c {
                return Attribute::Found(name, value);
            }
            value.push(d.to_ascii_lowercase());
        }
    }
    if c == b'>' {
        return Attribute::Found(name, value);
    }
    loop {
        let Some(&d) = b.get(*pos) else {
            return Attribute::None;
        };
        if is_space(d) || d == b'>' {
            return Attribute::Found(name, value);
        }
        value.push(d.to_ascii_lowercase());
        *pos += 1;
    }
}

/// The standard's "extract a character encoding from a meta element" on a `content` value.
fn charset_from_content(s: &[u8]) -> Option<Vec<u8>> {
    let mut pos = 0;
    loop {
        let at = s[pos..]
            .windows(7)
            .position(|w| w.eq_ignore_ascii_case(b"charset"))?;
        pos += at + 7;
        while pos < s.len() && is_space(s[pos]) {
            pos += 1;
        }
        if s.get(pos) == Some(&b'=') {
            break;
        }
    }
    pos += 1;
    while pos < s.len() && is_space(s[pos]) {
        pos += 1;
    }
    match s.get(pos)? {
        &q @ (b'"' | b'\'') => {
            let end = s[pos + 1..].iter().position(|&c| c == q)?;
            Some(s[pos + 1..pos + 1 + end].to_vec())
        }
        _ => {
            let end = s[pos..]
                .iter()
                .position(|&c| is_space(c) || c == b';')
                .unwrap_or(s.len() - pos);
            Some(s[pos..pos + end].to_vec())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use encoding_rs::{GBK, SHIFT_JIS, WINDOWS_1251};

    fn summary(d: &Decoded) -> (&'static str, CharsetSource, Option<&'static str>, u64) {
        (d.encoding, d.from, d.declared, d.replacements)
    }

    fn encode(encoding: &'static Encoding, text: &str) -> Vec<u8> {
        let (bytes, _, unmappable) = encoding.encode(text);
        assert!(!unmappable, "{text} is not all in {}", encoding.name());
        bytes.into_owned()
    }

    const FRENCH: &str = "<html><head><title>Caf\u{e9}</title></head><body><p>D\u{e9}j\u{e0} vu\u{a0}: \
        le caf\u{e9} cr\u{e8}me co\u{fb}te tr\u{e8}s cher \u{e0} l\u{2019}h\u{f4}tel, o\u{f9} \
        l\u{2019}\u{e9}t\u{e9} est chaud et la for\u{ea}t est \u{e0} c\u{f4}t\u{e9}. \
        \u{201c}Na\u{ef}ve\u{201d}, dit-il \u{2014} \u{e7}a co\u{fb}te 5\u{a0}\u{20ac}.</p></body></html>";

    #[test]
    fn latin1_declared_in_meta() {
        let html = FRENCH.replace("<head>", "<head><meta charset=\"ISO-8859-1\">");
        let d = decode_html(&encode(WINDOWS_1252, &html), None);
        assert_eq!(
            summary(&d),
            ("windows-1252", CharsetSource::Meta, Some("windows-1252"), 0)
        );
        assert_eq!(d.text, html);
        let pragma = FRENCH.replace(
            "<head>",
            "<head><META HTTP-EQUIV='Content-Type' CONTENT='text/html; charset = \"latin1\"'>",
        );
        let d = decode_html(&encode(WINDOWS_1252, &pragma), None);
        assert_eq!(
            summary(&d),
            ("windows-1252", CharsetSource::Meta, Some("windows-1252"), 0)
        );
        // `content` without `http-equiv` declares nothing.
        let no_pragma = FRENCH.replace(
            "<head>",
            "<head><meta content=\"text/html; charset=koi8-r\">",
        );
        let d = decode_html(&encode(WINDOWS_1252, &no_pragma), None);
        assert_eq!(d.from, CharsetSource::Detected);
    }

    #[test]
    fn windows_1252_without_a_declaration_is_detected() {
        let d = decode_html(&encode(WINDOWS_1252, FRENCH), None);
        assert_eq!(
            summary(&d),
            ("windows-1252", CharsetSource::Detected, None, 0)
        );
        assert_eq!(d.text, FRENCH);
    }

    #[test]
    fn a_bom_wins() {
        let bytes = [
            b"\xEF\xBB\xBF".as_slice(),
            "<meta charset=\"windows-1252\"><p>na\u{ef}ve</p>".as_bytes(),
        ]
        .concat();
        let d = decode_html(&bytes, Some("iso-8859-2"));
        assert_eq!(summary(&d), ("UTF-8", CharsetSource::Bom, Some("UTF-8"), 0));
        assert_eq!(d.text, "<meta charset=\"windows-1252\"><p>na\u{ef}ve</p>");
        let mut utf16 = vec![0xFF, 0xFE];
        for unit in "<p>\u{65e5}\u{672c}</p>".encode_utf16() {
            utf16.extend_from_slice(&unit.to_le_bytes());
        }
        let d = decode_html(&utf16, Some("utf-8"));
        assert_eq!(
            summary(&d),
            ("UTF-16LE", CharsetSource::Bom, Some("UTF-16LE"), 0)
        );
        assert_eq!(d.text, "<p>\u{65e5}\u{672c}</p>");
    }

    #[test]
    fn utf8_bytes_under_a_latin1_declaration_are_utf8() {
        let d = decode_html(FRENCH.as_bytes(), Some("iso-8859-1"));
        assert_eq!(
            summary(&d),
            ("UTF-8", CharsetSource::Detected, Some("windows-1252"), 0)
        );
        assert_eq!(d.text, FRENCH);
        let meta = FRENCH.replace("<head>", "<head><meta charset=windows-1252>");
        let d = decode_html(meta.as_bytes(), None);
        assert_eq!(
            summary(&d),
            ("UTF-8", CharsetSource::Detected, Some("windows-1252"), 0)
        );
        // All ASCII: nothing to overrule.
        let d = decode_html(b"<p>plain</p>", Some("latin1"));
        assert_eq!(
            summary(&d),
            ("windows-1252", CharsetSource::Http, Some("windows-1252"), 0)
        );
    }

    #[test]
    fn latin1_bytes_under_a_utf8_declaration_are_latin1() {
        let bytes = encode(WINDOWS_1252, FRENCH);
        let d = decode_html(&bytes, Some("utf-8"));
        assert_eq!(
            summary(&d),
            ("windows-1252", CharsetSource::Detected, Some("UTF-8"), 0)
        );
        assert_eq!(d.text, FRENCH);
        // One stray byte in UTF-8 text keeps UTF-8 (the detector's guess is no better).
        let mut one_bad = FRENCH.as_bytes().to_vec();
        one_bad.insert(10, 0xff);
        let d = decode_html(&one_bad, Some("utf-8"));
        assert_eq!(
            summary(&d),
            ("UTF-8", CharsetSource::Http, Some("UTF-8"), 1)
        );
        assert_eq!(d.text.matches('\u{fffd}').count(), 1);
        // The same damaged UTF-8 with no declaration, or declared windows-1252, and cut short.
        let d = decode_html(&one_bad, None);
        assert_eq!(summary(&d), ("UTF-8", CharsetSource::Detected, None, 1));
        let d = decode_html(&one_bad, Some("windows-1252"));
        assert_eq!(
            summary(&d),
            ("UTF-8", CharsetSource::Detected, Some("windows-1252"), 1)
        );
        let cut = &FRENCH.as_bytes()[..FRENCH.find("\u{2014}").unwrap() + 1];
        let d = decode_html(cut, Some("iso-8859-1"));
        assert_eq!(
            summary(&d),
            ("UTF-8", CharsetSource::Detected, Some("windows-1252"), 1)
        );
        assert!(d.text.ends_with("dit-il \u{fffd}"));
    }

    #[test]
    fn the_http_header_beats_meta() {
        // 0xA4 is the euro sign in ISO-8859-15 and the currency sign in windows-1252.
        let html = b"<meta charset=\"iso-8859-15\"><p>prix: 5 \xa4</p>";
        let d = decode_html(html, Some("windows-1252"));
        assert_eq!(
            summary(&d),
            ("windows-1252", CharsetSource::Http, Some("windows-1252"), 0)
        );
        assert!(d.text.ends_with("5 \u{a4}</p>"));
        let d = decode_html(html, None);
        assert_eq!(
            summary(&d),
            ("ISO-8859-15", CharsetSource::Meta, Some("ISO-8859-15"), 0)
        );
        assert!(d.text.ends_with("5 \u{20ac}</p>"));
        // An unknown or unusable HTTP label falls through to meta.
        for label in ["no-such-charset", "", "replacement", "iso-2022-kr"] {
            assert_eq!(
                decode_html(html, Some(label)).from,
                CharsetSource::Meta,
                "{label}"
            );
        }
    }

    #[test]
    fn cjk_is_detected() {
        let japanese = "<html><body><p>\u{65e5}\u{672c}\u{8a9e}\u{306e}\u{6587}\u{66f8}\u{3067}\u{3059}\u{3002}\u{3053}\u{308c}\u{306f}\u{30c6}\u{30b9}\u{30c8}\u{306e}\u{305f}\u{3081}\u{306e}\u{6587}\u{7ae0}\u{3067}\u{3001}\u{6587}\u{5b57}\u{30b3}\u{30fc}\u{30c9}\u{3092}\u{5224}\u{5b9a}\u{3057}\u{307e}\u{3059}\u{3002}</p></body></html>";
        let d = decode_html(&encode(SHIFT_JIS, japanese), None);
        assert_eq!(summary(&d), ("Shift_JIS", CharsetSource::Detected, None, 0));
        assert_eq!(d.text, japanese);
        let chinese = "<html><body><p>\u{8fd9}\u{662f}\u{4e00}\u{4e2a}\u{7528}\u{4e8e}\u{6d4b}\u{8bd5}\u{5b57}\u{7b26}\u{7f16}\u{7801}\u{68c0}\u{6d4b}\u{7684}\u{4e2d}\u{6587}\u{7f51}\u{9875}\u{3002}\u{6211}\u{4eec}\u{5e0c}\u{671b}\u{7a0b}\u{5e8f}\u{80fd}\u{591f}\u{6b63}\u{786e}\u{5730}\u{8bc6}\u{522b}\u{5b83}\u{3002}</p></body></html>";
        let d = decode_html(&encode(GBK, chinese), None);
        assert_eq!(summary(&d), ("GBK", CharsetSource::Detected, None, 0));
        assert_eq!(d.text, chinese);
    }

    #[test]
    fn declared_shift_jis_with_gbk_bytes_takes_the_better_decoding() {
        let chinese = "<p>\u{8fd9}\u{662f}\u{4e00}\u{4e2a}\u{7528}\u{4e8e}\u{6d4b}\u{8bd5}\u{5b57}\u{7b26}\u{7f16}\u{7801}\u{68c0}\u{6d4b}\u{7684}\u{4e2d}\u{6587}\u{7f51}\u{9875}\u{3002}</p>";
        let d = decode_html(&encode(GBK, chinese), Some("shift_jis"));
        assert_eq!(
            summary(&d),
            ("GBK", CharsetSource::Detected, Some("Shift_JIS"), 0)
        );
        assert_eq!(d.text, chinese);
    }

    #[test]
    fn the_url_tld_guides_the_detector() {
        let russian = "<p>\u{41f}\u{440}\u{438}\u{432}\u{435}\u{442}, \u{43c}\u{438}\u{440}!</p>";
        let bytes = encode(WINDOWS_1251, russian);
        let d = decode_html_for_url(&bytes, None, Some("http://user@example.RU:8080/page"));
        assert_eq!(
            summary(&d),
            ("windows-1251", CharsetSource::Detected, None, 0)
        );
        assert_eq!(d.text, russian);
        assert_eq!(tld_of("https://example.co.jp/a?b"), Some("jp".into()));
        assert_eq!(tld_of("http://[::1]/"), None);
        assert_eq!(tld_of("http://b\u{fc}cher.de./"), Some("de".into()));
        assert_eq!(
            tld_of("http://xn--bcher-kva.xn--p1ai/"),
            Some("xn--p1ai".into())
        );
    }

    #[test]
    fn ascii_without_a_declaration_is_utf8() {
        let d = decode_html(b"<html><p>hello</p></html>", None);
        assert_eq!(summary(&d), ("UTF-8", CharsetSource::Default, None, 0));
        assert_eq!(decode_html(b"", None).text, "");
    }

    #[test]
    fn utf16_labels_without_a_bom() {
        // A meta naming UTF-16 means UTF-8; an HTTP one is trusted only on UTF-16-looking bytes.
        let d = decode_html(b"<meta charset=utf-16><p>x</p>", None);
        assert_eq!(
            summary(&d),
            ("UTF-8", CharsetSource::Meta, Some("UTF-8"), 0)
        );
        let d = decode_html(b"<p>x</p>", Some("utf-16"));
        assert_eq!(summary(&d), ("UTF-8", CharsetSource::Default, None, 0));
        let utf16: Vec<u8> = "<p>x</p>"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        let d = decode_html(&utf16, Some("utf-16le"));
        assert_eq!((d.encoding, d.text.as_str()), ("UTF-16LE", "<p>x</p>"));
        // x-user-defined is read as windows-1252.
        let d = decode_html(b"<p>\xe9</p>", Some("x-user-defined"));
        assert_eq!(
            (d.encoding, d.text.as_str()),
            ("windows-1252", "<p>\u{e9}</p>")
        );
    }

    #[test]
    fn prescan_follows_the_standard() {
        let find = |html: &[u8]| prescan(html).map(Encoding::name);
        assert_eq!(
            find(b"<!-- <meta charset=koi8-r> --><meta charset=\"windows-1251\">"),
            Some("windows-1251")
        );
        assert_eq!(find(b"<!--><meta charset=koi8-r>"), Some("KOI8-R"));
        assert_eq!(
            find(b"<div title='<meta charset=koi8-r>'><meta charset=gbk>"),
            Some("GBK")
        );
        assert_eq!(find(b"<meta charset=utf-8 charset=koi8-r>"), Some("UTF-8"));
        assert_eq!(find(b"<meta name=x content='charset=gbk'>"), None);
        assert_eq!(
            find(b"<meta content='text/html;charset=gbk' http-equiv=content-type>"),
            Some("GBK")
        );
        assert_eq!(
            find(b"<meta charset=bogus><meta charset=big5>"),
            Some("Big5")
        );
        assert_eq!(
            find(b"<?xml version='1.0'?><meta/charset=euc-jp>"),
            Some("EUC-JP")
        );
        assert_eq!(find(b"<metal charset=gbk>"), None);
        assert_eq!(find(b"<!-- never closed <meta charset=gbk>"), None);
        let far = [vec![b' '; PRESCAN_BYTES], b"<meta charset=gbk>".to_vec()].concat();
        assert_eq!(find(&far), None);
        assert_eq!(
            charset_from_content(b"text/html; charset='x-sjis'"),
            Some(b"x-sjis".to_vec())
        );
        assert_eq!(charset_from_content(b"charset \"unclosed"), None);
        assert_eq!(
            charset_from_content(b"charsetx; charset = gbk ;q"),
            Some(b"gbk".to_vec())
        );
    }

    #[test]
    fn never_panics() {
        let mut state = 0x1234_5678_9abc_def0u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let labels = [
            None,
            Some("utf-8"),
            Some("shift_jis"),
            Some("utf-16be"),
            Some("latin1"),
            Some("\u{0}\u{ff}"),
            Some("gb18030"),
        ];
        let urls = [
            None,
            Some(""),
            Some("http://EXAMPLE.JP"),
            Some("://"),
            Some("http://a.\u{e9}"),
            Some("http://x.y-z/"),
        ];
        for case in 0..3000 {
            let len = (next() % 300) as usize;
            let mut bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            if case % 3 == 0 {
                let tag: &[u8] = [
                    b"<meta charset=".as_slice(),
                    b"<!--",
                    b"<meta http-equiv=content-type content=\"charset=",
                    b"<a b='",
                    b"\xEF\xBB\xBF",
                    b"\xFE\xFF",
                ][(next() % 6) as usize];
                let at = if bytes.is_empty() {
                    0
                } else {
                    (next() as usize) % bytes.len()
                };
                bytes.splice(at..at, tag.iter().copied());
            }
            let label = labels[(next() % labels.len() as u64) as usize];
            let url = urls[(next() % urls.len() as u64) as usize];
            let d = decode_html_for_url(&bytes, label, url);
            assert!(d.text.chars().filter(|&c| c == '\u{fffd}').count() as u64 >= d.replacements);
        }
    }
}
