//! `pii`: replaces e-mail addresses and IP addresses (v4 and v6) in the text, like datatrove's
//! `PIIFormatter`, with stricter IP matching.

use std::borrow::Cow;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::OnceLock;

use regex::Regex;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::config::{Check, Problem};
use crate::document::Document;
use crate::stage::{Counters, Map};

fn yes() -> bool {
    true
}
fn d_email() -> Vec<String> {
    vec![
        "email@example.com".into(),
        "firstname.lastname@example.org".into(),
    ]
}
fn d_ip() -> Vec<String> {
    [
        "22.214.171.124",
        "126.96.36.199",
        "188.8.131.52",
        "184.108.40.206",
        "220.127.116.11",
        "18.104.22.168",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Config of the `pii` stage. Counters: `emails`, `ipv4`, `ipv6` (replacements made).
///
/// E-mail addresses follow datatrove's pattern (RFC 5322 local part, dotted domain or a
/// bracketed IPv4 literal). An IPv4 address is four dot-separated decimal octets (0-255, no
/// leading zeros) standing alone: not inside a longer dotted run (`1.2.3.4.5`), not glued to a
/// letter or digit (`v1.2.3.4`, `1.2.3.4a`); a final `.` ending a sentence is allowed. An IPv6
/// address is a valid RFC 4291 text form with at least two colons, a decimal digit, and either
/// three groups or a group of three or more hex digits, standing alone; this keeps `::`, `a::b`
/// and `std::vector` in code untouched. Replacements are taken in turn from the lists, starting
/// again at the first for every document (datatrove cycles across documents, which would make
/// the output depend on the order and threading of the run).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PiiConfig {
    /// Replace e-mail addresses.
    #[serde(default = "yes")]
    pub emails: bool,
    /// Replace IPv4 addresses.
    #[serde(default = "yes")]
    pub ipv4: bool,
    /// Replace IPv6 addresses.
    #[serde(default = "yes")]
    pub ipv6: bool,
    /// Replace only public IPs, keeping private, loopback, link-local, documentation and other
    /// reserved ranges (Python's `ipaddress` `is_global`, as datatrove's default).
    #[serde(default = "yes")]
    pub only_public_ips: bool,
    /// Replacements for e-mail addresses, used in turn (datatrove's defaults).
    #[serde(default = "d_email")]
    pub email_replacement: Vec<String>,
    /// Replacements for IP addresses, used in turn (datatrove's defaults).
    #[serde(default = "d_ip")]
    pub ip_replacement: Vec<String>,
}

impl Default for PiiConfig {
    fn default() -> Self {
        PiiConfig {
            emails: true,
            ipv4: true,
            ipv6: true,
            only_public_ips: true,
            email_replacement: d_email(),
            ip_replacement: d_ip(),
        }
    }
}

impl Check for PiiConfig {
    fn check(&self) -> Vec<Problem> {
        let mut p = Vec::new();
        if self.emails && self.email_replacement.is_empty() {
            p.push(Problem::at(
                "email_replacement",
                "email_replacement needs at least one string",
            ));
        }
        if (self.ipv4 || self.ipv6) && self.ip_replacement.is_empty() {
            p.push(Problem::at(
                "ip_replacement",
                "ip_replacement needs at least one string",
            ));
        }
        p
    }
}

/// The `pii` stage.
pub struct Pii {
    cfg: PiiConfig,
}

fn email_regex() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        let atom = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+";
        let label = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?";
        let octet = r"(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)";
        let pattern = format!(
            r"\b{atom}(?:\.{atom})*@(?:(?:{label}\.)+{label}|\[(?:{octet}\.){{3}}{octet}\])"
        );
        // The pattern is a constant; it compiles.
        Regex::new(&pattern).unwrap_or_else(|e| panic!("email pattern: {e}"))
    })
}

/// Python's `ipaddress.IPv4Address.is_global` (3.11): not private and not in 100.64.0.0/10.
pub fn ipv4_is_global(ip: Ipv4Addr) -> bool {
    const PRIVATE: [([u8; 4], u8); 15] = [
        ([0, 0, 0, 0], 8),
        ([10, 0, 0, 0], 8),
        ([127, 0, 0, 0], 8),
        ([169, 254, 0, 0], 16),
        ([172, 16, 0, 0], 12),
        ([192, 0, 0, 0], 29),
        ([192, 0, 0, 170], 31),
        ([192, 0, 2, 0], 24),
        ([192, 168, 0, 0], 16),
        ([198, 18, 0, 0], 15),
        ([198, 51, 100, 0], 24),
        ([203, 0, 113, 0], 24),
        ([240, 0, 0, 0], 4),
        ([255, 255, 255, 255], 32),
        ([100, 64, 0, 0], 10),
    ];
    let v = u32::from(ip);
    !PRIVATE.iter().any(|&(net, len)| {
        let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
        v & mask == u32::from(Ipv4Addr::from(net)) & mask
    })
}

/// Python's `ipaddress.IPv6Address.is_global` (3.11): not private; IPv4-mapped addresses
/// follow the IPv4 rule.
pub fn ipv6_is_global(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return ipv4_is_global(v4);
    }
    const PRIVATE: [(u128, u8); 9] = [
        (1, 128),
        (0, 128),
        (0x0100_0000_0000_0000_0000_0000_0000_0000, 64),
        (0x2001_0000_0000_0000_0000_0000_0000_0000, 23),
        (0x2001_0002_0000_0000_0000_0000_0000_0000, 48),
        (0x2001_0db8_0000_0000_0000_0000_0000_0000, 32),
        (0x2001_0010_0000_0000_0000_0000_0000_0000, 28),
        (0xfc00_0000_0000_0000_0000_0000_0000_0000, 7),
        (0xfe80_0000_0000_0000_0000_0000_0000_0000, 10),
    ];
    let v = u128::from(ip);
    !PRIVATE.iter().any(|&(net, len)| {
        let mask = if len == 0 {
            0
        } else {
            u128::MAX << (128 - len)
        };
        v & mask == net & mask
    })
}

#[inline]
fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Parses a strict dotted-quad IPv4 address (no leading zeros).
fn parse_ipv4(s: &str) -> Option<Ipv4Addr> {
    let mut octets = [0u8; 4];
    let mut n = 0;
    for part in s.split('.') {
        if n == 4 || part.is_empty() || part.len() > 3 || (part.len() > 1 && part.starts_with('0'))
        {
            return None;
        }
        if !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        octets[n] = part.parse().ok()?;
        n += 1;
    }
    (n == 4).then(|| Ipv4Addr::from(octets))
}

/// Whether `s` (hex digits, colons, dots) reads as an IPv6 address we should treat as one.
fn parse_ipv6(s: &str) -> Option<Ipv6Addr> {
    if s.bytes().filter(|&b| b == b':').count() < 2 || !s.bytes().any(|b| b.is_ascii_digit()) {
        return None;
    }
    let groups: Vec<&str> = s.split(':').filter(|g| !g.is_empty()).collect();
    if groups.len() < 3 && !groups.iter().any(|g| g.len() >= 3) {
        return None;
    }
    s.parse().ok()
}

impl Pii {
    /// A PII redactor with `cfg`.
    pub fn new(cfg: PiiConfig) -> Self {
        Pii { cfg }
    }

    /// `text` with e-mail and IP addresses replaced, counting replacements in `counters`.
    pub fn redact<'a>(&self, text: &'a str, counters: &mut Counters) -> Cow<'a, str> {
        let c = &self.cfg;
        let mut text: Cow<'a, str> = Cow::Borrowed(text);
        if c.emails && !c.email_replacement.is_empty() && text.contains('@') {
            let mut k = 0usize;
            let mut n = 0u64;
            let replaced = email_regex().replace_all(&text, |_: &regex::Captures| {
                let r = &c.email_replacement[k % c.email_replacement.len()];
                k += 1;
                n += 1;
                r.clone()
            });
            if let Cow::Owned(s) = replaced {
                text = Cow::Owned(s);
            }
            counters.add("emails", n);
        }
        if (c.ipv4 || c.ipv6) && !c.ip_replacement.is_empty() {
            if let Some(s) = self.replace_ips(&text, counters) {
                text = Cow::Owned(s);
            }
        }
        text
    }

    /// Replaces IP addresses; `None` when there is none.
    fn replace_ips(&self, text: &str, counters: &mut Counters) -> Option<String> {
        let c = &self.cfg;
        let b = text.as_bytes();
        let is_run = |x: u8| x.is_ascii_hexdigit() || x == b'.' || x == b':';
        let mut out: Option<String> = None;
        let mut copied = 0;
        let mut k = 0usize;
        let mut i = 0;
        while i < b.len() {
            if !is_run(b[i]) || (i > 0 && is_run(b[i - 1])) {
                i += 1;
                continue;
            }
            let start = i;
            let mut end = i;
            while end < b.len() && is_run(b[end]) {
                end += 1;
            }
            i = end;
            // Standing alone: no letter, digit or '_' glued on either side.
            let before = text[..start].chars().next_back();
            let after = text[end..].chars().next();
            if before.is_some_and(is_word_char) || after.is_some_and(is_word_char) {
                continue;
            }
            // Sentence punctuation after an address is not part of it.
            let cand = text[start..end].trim_end_matches(['.', ':']);
            if cand.is_empty() || cand.starts_with('.') {
                continue;
            }
            // (counter, replace?, bytes of the address within `cand`)
            let mut found = None;
            if c.ipv6 && cand.contains(':') {
                found = parse_ipv6(cand)
                    .map(|ip| ("ipv6", !c.only_public_ips || ipv6_is_global(ip), cand.len()));
            }
            if found.is_none() && c.ipv4 && cand.contains('.') {
                // An address alone, or followed by a port (`1.2.3.4:8080`).
                let (addr, port) = cand.split_once(':').unwrap_or((cand, ""));
                if port.bytes().all(|b| b.is_ascii_digit()) {
                    found = parse_ipv4(addr)
                        .map(|ip| ("ipv4", !c.only_public_ips || ipv4_is_global(ip), addr.len()));
                }
            }
            let Some((counter, true, len)) = found else {
                continue;
            };
            let o = out.get_or_insert_with(|| String::with_capacity(text.len()));
            o.push_str(&text[copied..start]);
            o.push_str(&c.ip_replacement[k % c.ip_replacement.len()]);
            k += 1;
            copied = start + len;
            counters.add(counter, 1);
        }
        let mut o = out?;
        o.push_str(&text[copied..]);
        Some(o)
    }
}

impl Map for Pii {
    fn apply(&self, doc: &mut Document, counters: &mut Counters) {
        if let Cow::Owned(s) = self.redact(&doc.text, counters) {
            doc.text = s;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn placeholders() -> PiiConfig {
        PiiConfig {
            email_replacement: vec!["<EMAIL>".into()],
            ip_replacement: vec!["<IP>".into()],
            ..Default::default()
        }
    }

    fn redact(cfg: PiiConfig, t: &str) -> (String, Counters) {
        let mut c = Counters::default();
        let s = Pii::new(cfg).redact(t, &mut c).into_owned();
        (s, c)
    }

    #[test]
    fn emails_replaced_and_counted() {
        let (s, c) = redact(
            placeholders(),
            "Write to john.doe+x@mail.example.com or to a@b.co. Not @home or x@y.",
        );
        assert_eq!(s, "Write to <EMAIL> or to <EMAIL>. Not @home or x@y.");
        assert_eq!(c.0["emails"], 2);
    }

    #[test]
    fn replacements_cycle_per_document() {
        let (s, _) = redact(PiiConfig::default(), "a@b.com c@d.com e@f.com");
        assert_eq!(
            s,
            "email@example.com firstname.lastname@example.org email@example.com"
        );
    }

    #[test]
    fn public_ipv4_only_by_default() {
        let (s, c) = redact(
            placeholders(),
            "Server 8.8.8.8, gateway 192.168.1.1, loopback 127.0.0.1, 203.0.113.5 and 1.1.1.1.",
        );
        assert_eq!(
            s,
            "Server <IP>, gateway 192.168.1.1, loopback 127.0.0.1, 203.0.113.5 and <IP>."
        );
        assert_eq!(c.0["ipv4"], 2);
        let all = PiiConfig {
            only_public_ips: false,
            ..placeholders()
        };
        let (s, _) = redact(all, "gateway 192.168.1.1 and 10.0.0.1:8080");
        assert_eq!(s, "gateway <IP> and <IP>:8080");
    }

    #[test]
    fn no_false_positives_on_versions_and_dates() {
        let cfg = PiiConfig {
            only_public_ips: false,
            ..placeholders()
        };
        for t in [
            "version 1.2.3.4.5 released",
            "tag v1.2.3.4 and 1.2.3.4a",
            "release 2.10.3 on 2023.01.15 or 15.01.2023",
            "octets 01.2.3.4 and 256.1.1.1 and 1.2.3",
            "host 1.2.3.4.example",
            "C++ std::vector<int>::iterator, a::b, ::, Foo::Bar::baz()",
            "time 12:30:45, ratio 1:2, MAC 00:1a:2b:3c:4d:5e",
            "1::2 is not enough",
        ] {
            let (s, c) = redact(cfg.clone(), t);
            assert_eq!(s, t, "changed: {t}");
            assert!(c.0.is_empty(), "{t}");
        }
    }

    #[test]
    fn ipv6() {
        let (s, c) = redact(
            placeholders(),
            "v6 2606:4700:4700::1111 and doc 2001:db8::1 and fe80::1 and ::1.",
        );
        assert_eq!(s, "v6 <IP> and doc 2001:db8::1 and fe80::1 and ::1.");
        assert_eq!(c.0["ipv6"], 1);
        let all = PiiConfig {
            only_public_ips: false,
            ..placeholders()
        };
        let (s, _) = redact(
            all,
            "link fe80::1ff:fe23:4567:890a, mapped ::ffff:192.0.2.128.",
        );
        assert_eq!(s, "link <IP>, mapped <IP>.");
    }

    #[test]
    fn python_is_global() {
        assert!(ipv4_is_global("8.8.8.8".parse().unwrap()));
        assert!(ipv4_is_global("224.0.0.1".parse().unwrap()));
        assert!(!ipv4_is_global("100.64.0.1".parse().unwrap()));
        assert!(ipv4_is_global("192.0.0.9".parse().unwrap()));
        assert!(ipv6_is_global("::ffff:8.8.8.8".parse().unwrap()));
        assert!(!ipv6_is_global("2001:db8::1".parse().unwrap()));
        assert!(ipv6_is_global("2002::1".parse().unwrap()));
    }

    #[test]
    fn switches() {
        let cfg = PiiConfig {
            emails: false,
            ipv4: false,
            ..placeholders()
        };
        let t = "a@b.com 8.8.8.8 2606:4700::1111";
        assert_eq!(redact(cfg, t).0, "a@b.com 8.8.8.8 <IP>");
        assert_eq!(
            PiiConfig {
                email_replacement: vec![],
                ..Default::default()
            }
            .check()
            .len(),
            1
        );
    }
}
