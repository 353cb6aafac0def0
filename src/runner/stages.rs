//! One batch through the streaming stages, counted per stage by the runner (never by a stage).

use std::collections::BTreeMap;
use std::time::Instant;

use rayon::prelude::*;

use super::RunStats;
use crate::config::StageSpec;
use crate::document::Document;
use crate::io::writer::DropInfo;
use crate::stage::{Counters, Stage, Verdict};

/// Applies the stages to one batch; `docs[i]` is dropped when `fate[i]` is set.
pub fn run_stages(
    stages: &mut [Stage],
    specs: &[StageSpec],
    docs: &mut [Document],
    fate: &mut [Option<DropInfo>],
    stats: &mut RunStats,
) {
    #[derive(Default)]
    struct Delta {
        seen: u64,
        kept: u64,
        bytes_in: u64,
        bytes_out: u64,
        dropped: BTreeMap<&'static str, u64>,
        counters: Counters,
    }
    impl Delta {
        fn merge(mut self, o: Delta) -> Delta {
            self.seen += o.seen;
            self.kept += o.kept;
            self.bytes_in += o.bytes_in;
            self.bytes_out += o.bytes_out;
            for (k, v) in o.dropped {
                *self.dropped.entry(k).or_insert(0) += v;
            }
            self.counters += &o.counters;
            self
        }
    }
    for (si, stage) in stages.iter_mut().enumerate() {
        let t0 = Instant::now();
        let kind = specs[si].type_name();
        // Drop reason keys use the family prefix (`dedup:exact` from `exact_dedup`).
        let prefix = specs[si].reason_prefix();
        let verdict_of =
            |d: &mut Document, f: &mut Option<DropInfo>, v: Verdict, bytes_in: u64| -> Delta {
                let mut delta = Delta {
                    seen: 1,
                    bytes_in,
                    ..Default::default()
                };
                match v {
                    Verdict::Keep => {
                        delta.kept = 1;
                        delta.bytes_out = d.text.len() as u64;
                    }
                    Verdict::Drop(r) => {
                        delta.dropped.insert(r, 1);
                        *f = Some(DropInfo {
                            stage_index: si as u32,
                            stage: kind,
                            reason: format!("{prefix}:{r}"),
                        });
                    }
                }
                delta
            };
        let delta = match stage {
            Stage::Map(m) => docs
                .par_iter_mut()
                .zip(fate.par_iter_mut())
                .filter(|(_, f)| f.is_none())
                .map(|(d, _)| {
                    let bytes_in = d.text.len() as u64;
                    let mut counters = Counters::default();
                    m.apply(d, &mut counters);
                    let n = d.text.len() as u64;
                    Delta {
                        seen: 1,
                        kept: 1,
                        bytes_in,
                        bytes_out: n,
                        counters,
                        ..Default::default()
                    }
                })
                .reduce(Delta::default, Delta::merge),
            Stage::Filter(flt) => docs
                .par_iter_mut()
                .zip(fate.par_iter_mut())
                .filter(|(_, f)| f.is_none())
                .map(|(d, f)| {
                    let bytes_in = d.text.len() as u64;
                    let mut counters = Counters::default();
                    let v = flt.check(d, &mut counters);
                    let mut delta = verdict_of(d, f, v, bytes_in);
                    delta.counters = counters;
                    delta
                })
                .reduce(Delta::default, Delta::merge),
            Stage::Stateful(st) => {
                let mut alive: Vec<(&mut Document, &mut Option<DropInfo>)> = docs
                    .iter_mut()
                    .zip(fate.iter_mut())
                    .filter(|(_, f)| f.is_none())
                    .collect();
                let bytes_in: Vec<u64> = alive.iter().map(|(d, _)| d.text.len() as u64).collect();
                let mut verdicts = vec![Verdict::Keep; alive.len()];
                let mut counters = Counters::default();
                {
                    let mut refs: Vec<&mut Document> =
                        alive.iter_mut().map(|(d, _)| &mut **d).collect();
                    st.process(&mut refs, &mut verdicts, &mut counters);
                }
                let mut total = Delta {
                    counters,
                    ..Default::default()
                };
                for (((d, f), v), b) in alive.into_iter().zip(verdicts).zip(bytes_in) {
                    total = total.merge(verdict_of(d, f, v, b));
                }
                total
            }
        };
        let s = &mut stats.stages[si];
        s.seen += delta.seen;
        s.kept += delta.kept;
        s.bytes_in += delta.bytes_in;
        s.bytes_out += delta.bytes_out;
        for (r, n) in delta.dropped {
            let key = format!("{prefix}:{r}");
            *s.dropped.entry(key.clone()).or_insert(0) += n;
            *stats.dropped.entry(key).or_insert(0) += n;
        }
        for (k, v) in delta.counters.0 {
            *s.counters.entry(k.to_string()).or_insert(0) += v;
        }
        s.seconds += t0.elapsed().as_secs_f64();
    }
}
