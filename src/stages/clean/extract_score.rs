//! How main-content extraction is scored: trafilatura's own evaluation, the metric of
//! `../shared/bench/extraction_score.py`. Each page comes with snippets that must appear in the
//! extracted text (`with`) and snippets of boilerplate that must not (`without`). Texts and
//! snippets are compared with whitespace runs collapsed to one space (Python's `\s`); a `with`
//! snippet found is a true positive, one missing a false negative; a `without` snippet found is
//! a false positive.

/// True and false positives and false negatives, summed over pages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SnippetCounts {
    /// `with` snippets found.
    pub true_positives: u64,
    /// `without` snippets found.
    pub false_positives: u64,
    /// `with` snippets missing.
    pub false_negatives: u64,
}

impl SnippetCounts {
    /// Counts for one page's extracted `text`.
    pub fn of_page(text: &str, with: &[String], without: &[String]) -> Self {
        let text = normalize(text);
        let found = |s: &String| text.contains(&normalize(s));
        let tp = with.iter().filter(|s| found(s)).count() as u64;
        SnippetCounts {
            true_positives: tp,
            false_positives: without.iter().filter(|s| found(s)).count() as u64,
            false_negatives: with.len() as u64 - tp,
        }
    }

    /// Precision, recall and F1 (0 where undefined).
    pub fn scores(&self) -> (f64, f64, f64) {
        let (tp, fp, fn_) = (
            self.true_positives as f64,
            self.false_positives as f64,
            self.false_negatives as f64,
        );
        let p = if tp + fp > 0.0 { tp / (tp + fp) } else { 0.0 };
        let r = if tp + fn_ > 0.0 { tp / (tp + fn_) } else { 0.0 };
        let f = if p + r > 0.0 {
            2.0 * p * r / (p + r)
        } else {
            0.0
        };
        (p, r, f)
    }
}

impl std::ops::AddAssign for SnippetCounts {
    fn add_assign(&mut self, o: SnippetCounts) {
        self.true_positives += o.true_positives;
        self.false_positives += o.false_positives;
        self.false_negatives += o.false_negatives;
    }
}

/// Python's `str.isspace`: Unicode white space plus the information separators U+001C..U+001F.
fn py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// `re.sub(r"\s+", " ", t).strip()`.
pub fn normalize(t: &str) -> String {
    let mut out = String::with_capacity(t.len());
    let mut space = false;
    for c in t.chars() {
        if py_space(c) {
            space = true;
        } else {
            if space && !out.is_empty() {
                out.push(' ');
            }
            space = false;
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whitespace_is_collapsed_as_python_does() {
        assert_eq!(normalize("  a\u{a0}\n\tb\u{1f}c  "), "a b c");
        assert_eq!(normalize("\u{3000}x\u{2028}y"), "x y");
    }

    #[test]
    fn counts_and_scores() {
        let w = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let c = SnippetCounts::of_page(
            "The   article\ntext. Share this",
            &w(&["article text.", "missing"]),
            &w(&["Share this", "Footer"]),
        );
        assert_eq!(
            c,
            SnippetCounts {
                true_positives: 1,
                false_positives: 1,
                false_negatives: 1
            }
        );
        assert_eq!(c.scores(), (0.5, 0.5, 0.5));
        assert_eq!(SnippetCounts::default().scores(), (0.0, 0.0, 0.0));
    }
}
