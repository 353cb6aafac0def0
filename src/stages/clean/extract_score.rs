//! How main-content extraction is scored: trafilatura's own evaluation, the metric of
//! `../shared/bench/extraction_score.py`. Each page comes with snippets that must appear in the
//! extracted text (`with`) and snippets of boilerplate that must not (`without`). Texts and
//! snippets are compared with whitespace runs collapsed to one space (Python's `\s`); a `with`
//! snippet found is a true positive, one missing a false negative; a `without` snippet found is
//! a false positive.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;

/// One page of an evaluation set: its HTML and the snippets that must and must not appear.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvalPage {
    /// The page's id (its URL in trafilatura's set).
    pub id: String,
    /// The page's HTML (field `text`).
    pub html: String,
    /// Snippets of the main text.
    pub with: Vec<String>,
    /// Snippets of boilerplate.
    pub without: Vec<String>,
}

/// Reads an evaluation set, one JSON object per line (`id`, `text`, `with`, `without`), from a
/// `.jsonl` file or a gzip-compressed `.jsonl.gz`. A line that is not such an object is an error
/// naming the file and the line.
pub fn read_eval(path: &Path) -> std::io::Result<Vec<EvalPage>> {
    let f = std::fs::File::open(path)?;
    let reader: Box<dyn Read> = if path.extension().is_some_and(|e| e == "gz") {
        Box::new(flate2::read::MultiGzDecoder::new(f))
    } else {
        Box::new(f)
    };
    let strings = |v: &serde_json::Value| -> Option<Vec<String>> {
        v.as_array()?
            .iter()
            .map(|s| s.as_str().map(str::to_string))
            .collect()
    };
    let mut pages = Vec::new();
    for (n, line) in BufReader::new(reader).lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let bad = |why: &str| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{}:{}: {why}", path.display(), n + 1),
            )
        };
        let v: serde_json::Value =
            serde_json::from_str(&line).map_err(|e| bad(&format!("not JSON ({e})")))?;
        let field = |k: &str| v[k].as_str().map(str::to_string);
        pages.push(EvalPage {
            id: field("id").ok_or_else(|| bad("no string field `id`"))?,
            html: field("text").ok_or_else(|| bad("no string field `text`"))?,
            with: strings(&v["with"]).ok_or_else(|| bad("`with` is not a list of strings"))?,
            without: strings(&v["without"])
                .ok_or_else(|| bad("`without` is not a list of strings"))?,
        });
    }
    Ok(pages)
}

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

    #[test]
    fn evaluation_sets_are_read_plain_or_gzipped_and_bad_lines_named() {
        let dir = std::env::temp_dir().join(format!("cf-eval-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = r#"{"id": "u1", "text": "<p>a</p>", "with": ["a"], "without": []}"#;
        let plain = dir.join("eval.jsonl");
        std::fs::write(&plain, format!("{good}\n\n{good}\n")).unwrap();
        let gz = dir.join("eval.jsonl.gz");
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut enc, format!("{good}\n").as_bytes()).unwrap();
        std::fs::write(&gz, enc.finish().unwrap()).unwrap();
        let page = EvalPage {
            id: "u1".into(),
            html: "<p>a</p>".into(),
            with: vec!["a".into()],
            without: vec![],
        };
        assert_eq!(read_eval(&plain).unwrap(), vec![page.clone(), page.clone()]);
        assert_eq!(read_eval(&gz).unwrap(), vec![page]);
        let bad = dir.join("bad.jsonl");
        std::fs::write(&bad, format!("{good}\n{{\"id\": \"u2\", \"text\": 3}}\n")).unwrap();
        let e = read_eval(&bad).unwrap_err().to_string();
        assert_eq!(e, format!("{}:2: no string field `text`", bad.display()));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
