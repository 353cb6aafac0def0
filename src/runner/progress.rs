//! Progress of a long read: a bar on a terminal, periodic log lines otherwise.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// A progress bar on a terminal, periodic log lines otherwise.
pub struct Progress {
    bar: Option<indicatif::ProgressBar>,
    started: Instant,
    last_log: std::cell::Cell<Instant>,
    base_docs: u64,
    base_bytes: u64,
}

impl Progress {
    /// A progress display starting from `base_docs` documents and `base_bytes` bytes read
    /// (non-zero when resuming); a bar only when `wanted` and stderr is a terminal.
    pub fn new(wanted: bool, base_docs: u64, base_bytes: u64) -> Self {
        let bar = (wanted && std::io::stderr().is_terminal()).then(|| {
            let b = indicatif::ProgressBar::new_spinner();
            b.set_style(
                indicatif::ProgressStyle::with_template("{spinner} {elapsed_precise} {msg}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
            );
            b.enable_steady_tick(Duration::from_millis(200));
            b
        });
        Progress {
            bar,
            started: Instant::now(),
            last_log: std::cell::Cell::new(Instant::now()),
            base_docs,
            base_bytes,
        }
    }

    fn line(&self, docs: u64, bytes: u64) -> String {
        let secs = self.started.elapsed().as_secs_f64().max(1e-9);
        let mb = bytes as f64 / 1e6;
        let rate_docs = (docs - self.base_docs) as f64 / secs;
        let rate_mb = (bytes - self.base_bytes) as f64 / 1e6 / secs;
        format!("{docs} docs, {mb:.1} MB read, {rate_docs:.0} docs/s, {rate_mb:.1} MB/s")
    }

    /// Shows the counts so far (on the bar, or in a log line every 10 s).
    pub fn update(&self, docs: u64, bytes: u64) {
        match &self.bar {
            Some(b) => b.set_message(self.line(docs, bytes)),
            None => {
                if self.last_log.get().elapsed() >= Duration::from_secs(10) {
                    tracing::info!("{}", self.line(docs, bytes));
                    self.last_log.set(Instant::now());
                }
            }
        }
    }

    /// Clears the bar and logs the final counts.
    pub fn finish(&self, docs: u64, bytes: u64) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
        tracing::info!("read {}", self.line(docs, bytes));
    }
}
