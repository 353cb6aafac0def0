//! `paragraph_dedup`: removes paragraphs (or lines) seen before in the run, ccnet-style.
//!
//! A document is cut into units — paragraphs (blocks of non-blank lines separated by blank
//! lines) or single lines — and each unit is hashed (xxh3-64) after [`TextNorm`] (by default
//! everything on, as ccnet does: lowercase, whitespace collapsed, punctuation removed, digits
//! to 0, accents stripped). A unit whose hash was seen before — in an earlier kept document or
//! earlier in the same one — is removed. Units that normalize to nothing, or are shorter than
//! `min_paragraph_chars`, are neither removed nor remembered (blank lines never are).
//!
//! When units were removed, the text is rebuilt from the kept units joined by the separators
//! that preceded them; a document left with fewer than `min_chars` characters (whitespace
//! trimmed) is dropped as `dedup:paragraph_empty`, and its units are not remembered, so no text
//! is lost because a document that was dropped saw it first. A document with nothing removed
//! is left byte for byte as it was. Counters: `paragraphs_seen`, `paragraphs_removed`,
//! `docs_modified`.
//!
//! Memory: a hash set of 64-bit hashes, 9–18 bytes per distinct paragraph.

use std::collections::HashSet;
use std::fs;
use std::io::{self, BufWriter, Read, Write};
use std::ops::Range;
use std::path::Path;

use rayon::prelude::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Normalizer, PassThroughBuild, TextNorm};
use crate::config::{Check, Problem};
use crate::document::Document;
use crate::stage::{Counters, Stateful, Verdict};

/// What a unit of `paragraph_dedup` is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DedupUnit {
    /// A block of non-blank lines, separated from the next by one or more blank lines.
    #[default]
    Paragraph,
    /// One line.
    Line,
}

fn default_true() -> bool {
    true
}
fn default_min_chars() -> u64 {
    1
}

/// Config of the `paragraph_dedup` stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ParagraphDedupConfig {
    /// The unit compared: `paragraph` or `line`.
    #[serde(default)]
    pub unit: DedupUnit,
    /// A document left with fewer characters than this (whitespace trimmed) after removing
    /// units is dropped (`dedup:paragraph_empty`). Documents with nothing removed are never
    /// dropped.
    #[serde(default = "default_min_chars")]
    pub min_chars: u64,
    /// Units shorter than this many characters (trimmed) are never removed nor remembered.
    #[serde(default)]
    pub min_paragraph_chars: u64,
    /// Lowercase before hashing.
    #[serde(default = "default_true")]
    pub lowercase: bool,
    /// Collapse whitespace before hashing.
    #[serde(default = "default_true")]
    pub collapse_whitespace: bool,
    /// Remove punctuation and symbols before hashing.
    #[serde(default = "default_true")]
    pub remove_punctuation: bool,
    /// Replace digits with 0 before hashing.
    #[serde(default = "default_true")]
    pub digits_to_zero: bool,
    /// Strip accents before hashing.
    #[serde(default = "default_true")]
    pub strip_accents: bool,
}

impl Default for ParagraphDedupConfig {
    fn default() -> Self {
        ParagraphDedupConfig {
            unit: DedupUnit::Paragraph,
            min_chars: default_min_chars(),
            min_paragraph_chars: 0,
            lowercase: true,
            collapse_whitespace: true,
            remove_punctuation: true,
            digits_to_zero: true,
            strip_accents: true,
        }
    }
}

impl ParagraphDedupConfig {
    /// The normalization this config describes.
    pub fn norm(&self) -> TextNorm {
        TextNorm {
            lowercase: self.lowercase,
            collapse_whitespace: self.collapse_whitespace,
            remove_punctuation: self.remove_punctuation,
            digits_to_zero: self.digits_to_zero,
            strip_accents: self.strip_accents,
        }
    }
}

impl Check for ParagraphDedupConfig {
    fn check(&self) -> Vec<Problem> {
        Vec::new()
    }
}

/// The byte ranges of the units of `text` (blank lines excluded), in order.
pub fn units(text: &str, unit: DedupUnit) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut para: Option<Range<usize>> = None;
    let mut start = 0;
    while start <= text.len() {
        let end = text[start..].find('\n').map_or(text.len(), |i| start + i);
        let line = &text[start..end];
        let blank = line.trim().is_empty();
        match unit {
            DedupUnit::Line => {
                if !blank {
                    out.push(start..end);
                }
            }
            DedupUnit::Paragraph => {
                if blank {
                    out.extend(para.take());
                } else {
                    para = Some(para.map_or(start..end, |p| p.start..end));
                }
            }
        }
        start = end + 1;
    }
    out.extend(para);
    out
}

/// What one document's units look like, computed in parallel: (range, hash) of every unit
/// that takes part (`None` for units too short or empty after normalization).
type Plan = Vec<(Range<usize>, Option<u64>)>;

/// The `paragraph_dedup` stage.
pub struct ParagraphDedup {
    cfg: ParagraphDedupConfig,
    norm: Normalizer,
    seen: HashSet<u64, PassThroughBuild>,
}

impl ParagraphDedup {
    /// A stage with `cfg` and nothing seen.
    pub fn new(cfg: ParagraphDedupConfig) -> Self {
        let norm = cfg.norm().compile();
        ParagraphDedup {
            cfg,
            norm,
            seen: HashSet::default(),
        }
    }

    /// Distinct units remembered.
    pub fn seen(&self) -> usize {
        self.seen.len()
    }

    fn plan(&self, text: &str) -> Plan {
        units(text, self.cfg.unit)
            .into_iter()
            .map(|r| {
                let u = &text[r.clone()];
                let short = self.cfg.min_paragraph_chars > 0
                    && (u.trim().chars().count() as u64) < self.cfg.min_paragraph_chars;
                let h = if short {
                    None
                } else {
                    self.norm.hash64_nonempty(u)
                };
                (r, h)
            })
            .collect()
    }
}

impl Stateful for ParagraphDedup {
    fn process(
        &mut self,
        docs: &mut [&mut Document],
        verdicts: &mut [Verdict],
        counters: &mut Counters,
    ) {
        let plans: Vec<Plan> = docs.par_iter().map(|d| self.plan(&d.text)).collect();
        let mut fresh: Vec<u64> = Vec::new();
        for ((d, v), plan) in docs.iter_mut().zip(verdicts.iter_mut()).zip(plans) {
            fresh.clear();
            let mut keep = Vec::with_capacity(plan.len());
            for (_, h) in &plan {
                let k = match h {
                    None => true,
                    Some(h) => {
                        counters.add("paragraphs_seen", 1);
                        let new = !self.seen.contains(h) && !fresh.contains(h);
                        if new {
                            fresh.push(*h);
                        }
                        new
                    }
                };
                keep.push(k);
            }
            let removed = keep.iter().filter(|k| !**k).count();
            if removed > 0 {
                let mut out = String::with_capacity(d.text.len());
                let mut prev_end = 0;
                for ((r, _), k) in plan.iter().zip(&keep) {
                    if *k {
                        if !out.is_empty() {
                            out.push_str(&d.text[prev_end..r.start]);
                        }
                        out.push_str(&d.text[r.clone()]);
                    }
                    prev_end = r.end;
                }
                counters.add("paragraphs_removed", removed as u64);
                if (out.trim().chars().count() as u64) < self.cfg.min_chars {
                    *v = Verdict::Drop("paragraph_empty");
                    continue;
                }
                counters.add("docs_modified", 1);
                d.text = out;
            }
            self.seen.extend(fresh.iter().copied());
        }
    }

    fn save_state(&self, dir: &Path) -> io::Result<()> {
        let mut all: Vec<u64> = self.seen.iter().copied().collect();
        all.sort_unstable();
        let mut w = BufWriter::new(fs::File::create(dir.join("paragraphs.bin"))?);
        for h in all {
            w.write_all(&h.to_le_bytes())?;
        }
        w.flush()
    }

    fn load_state(&mut self, dir: &Path) -> io::Result<()> {
        let mut r = io::BufReader::new(crate::storage::open(dir.join("paragraphs.bin"))?);
        let mut seen = HashSet::default();
        let mut b = [0u8; 8];
        loop {
            match r.read_exact(&mut b) {
                Ok(()) => {
                    seen.insert(u64::from_le_bytes(b));
                }
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break,
                Err(e) => return Err(e),
            }
        }
        self.seen = seen;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn run(stage: &mut ParagraphDedup, texts: &[&str]) -> (Vec<Verdict>, Vec<String>, Counters) {
        let mut docs: Vec<Document> = texts
            .iter()
            .enumerate()
            .map(|(i, t)| Document::new(format!("d{i}"), *t, Arc::from("t")))
            .collect();
        let mut refs: Vec<&mut Document> = docs.iter_mut().collect();
        let mut v = vec![Verdict::Keep; refs.len()];
        let mut c = Counters::default();
        stage.process(&mut refs, &mut v, &mut c);
        (v, docs.into_iter().map(|d| d.text).collect(), c)
    }

    #[test]
    fn units_split() {
        let t = "a\nb\n\n  \nc\n\n\nd";
        let p: Vec<&str> = units(t, DedupUnit::Paragraph)
            .into_iter()
            .map(|r| &t[r])
            .collect();
        assert_eq!(p, vec!["a\nb", "c", "d"]);
        let l: Vec<&str> = units(t, DedupUnit::Line)
            .into_iter()
            .map(|r| &t[r])
            .collect();
        assert_eq!(l, vec!["a", "b", "c", "d"]);
        assert!(units("", DedupUnit::Paragraph).is_empty());
        assert_eq!(units("x\n", DedupUnit::Line), vec![0..1]);
    }

    #[test]
    fn seen_paragraphs_are_removed() {
        let mut s = ParagraphDedup::new(ParagraphDedupConfig::default());
        let (v, t, c) = run(
            &mut s,
            &[
                "Intro one.\n\nShared footer, 2021.",
                "Intro two.\n\n\nSHARED footer 1999\n\nIntro two!",
                "shared   footer 2000",
                "Only new.",
            ],
        );
        use Verdict::*;
        assert_eq!(v, vec![Keep, Keep, Drop("paragraph_empty"), Keep]);
        assert_eq!(t[0], "Intro one.\n\nShared footer, 2021.", "untouched");
        assert_eq!(
            t[1], "Intro two.",
            "the footer and the repeat inside the document are gone"
        );
        assert_eq!(t[3], "Only new.");
        assert_eq!(c.0.get("paragraphs_removed"), Some(&3));
        assert_eq!(c.0.get("paragraphs_seen"), Some(&7));
        assert_eq!(c.0.get("docs_modified"), Some(&1));
    }

    #[test]
    fn separators_are_kept_and_dropped_docs_teach_nothing() {
        let mut s = ParagraphDedup::new(ParagraphDedupConfig {
            min_chars: 6,
            ..Default::default()
        });
        let (v, t, _) = run(
            &mut s,
            &["A\n\n\nB\n\nC", "B\n\nshort", "short\n\nD\n\n\n\nA"],
        );
        use Verdict::*;
        // Doc 1 loses B and keeps only "short" (< 6 chars): dropped, and "short" is not
        // remembered, so doc 2 keeps it.
        assert_eq!(v, vec![Keep, Drop("paragraph_empty"), Keep]);
        assert_eq!(t[2], "short\n\nD");

        let mut lines = ParagraphDedup::new(ParagraphDedupConfig {
            unit: DedupUnit::Line,
            ..Default::default()
        });
        let (_, t, _) = run(&mut lines, &["x\ny\n\nz", "y\nw\nx\n\nv"]);
        assert_eq!(t[1], "w\n\nv");
    }

    #[test]
    fn short_units_are_ignored() {
        let mut s = ParagraphDedup::new(ParagraphDedupConfig {
            min_paragraph_chars: 5,
            ..Default::default()
        });
        let (_, t, _) = run(&mut s, &["Hi\n\nLonger text", "Hi\n\nLonger text!\n\n---"]);
        assert_eq!(t[1], "Hi\n\n---");
    }

    #[test]
    fn idempotent_and_state_round_trip() {
        let texts = ["a b\n\nc d", "c d\n\ne f", "e f\n\na b\n\ng"];
        let mut s = ParagraphDedup::new(ParagraphDedupConfig::default());
        let (v, out, _) = run(&mut s, &texts);
        let kept: Vec<&str> = out
            .iter()
            .zip(&v)
            .filter(|(_, v)| **v == Verdict::Keep)
            .map(|(t, _)| t.as_str())
            .collect();
        let mut again = ParagraphDedup::new(ParagraphDedupConfig::default());
        let (v2, out2, c2) = run(&mut again, &kept);
        assert!(v2.iter().all(|v| *v == Verdict::Keep));
        assert_eq!(out2, kept);
        assert_eq!(c2.0.get("paragraphs_removed"), None);

        let dir = super::super::store::SpillDir::create(None, "test").expect("dir");
        s.save_state(dir.path()).expect("save");
        let mut t = ParagraphDedup::new(ParagraphDedupConfig::default());
        t.load_state(dir.path()).expect("load");
        assert_eq!(t.seen(), s.seen());
        let (_, out, _) = run(&mut t, &["g\n\nh"]);
        assert_eq!(out[0], "h");
    }
}
