//! The writer thread: rows in input order to the `documents/`, `dropped/` and `rejected/`
//! writers, checkpoints committed between batches, every shard closed at the end.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use super::checkpoint::{Checkpoint, CheckpointTarget};
use super::reader::Position;
use super::{RunStats, StreamError};
use crate::config::OutputSpec;
use crate::document::Document;
use crate::io::writer::{Dataset, Row, ShardFile, ShardWriter, WriterOptions, WriterState};

/// The writers of a run.
pub(super) struct Writers {
    documents: BTreeMap<String, ShardWriter>,
    dropped: Option<ShardWriter>,
    rejected: ShardWriter,
    root: PathBuf,
    opts: WriterOptions,
    partition: Option<crate::config::PartitionBy>,
}

impl Writers {
    pub(super) fn new(root: &Path, output: &OutputSpec, prefix: &str) -> Result<Self, StreamError> {
        let mut opts = WriterOptions::from_spec(output);
        opts.prefix = prefix.to_string();
        let dropped = if output.write_dropped {
            Some(ShardWriter::new(
                Dataset::Dropped,
                root,
                "dropped",
                opts.clone(),
            )?)
        } else {
            None
        };
        Ok(Writers {
            documents: BTreeMap::new(),
            dropped,
            rejected: ShardWriter::new(Dataset::Rejected, root, "rejected", opts.clone())?,
            root: root.to_path_buf(),
            opts,
            partition: output.partition_by,
        })
    }

    fn partition_dir(&self, doc: &Document) -> String {
        match self.partition {
            None => "documents".to_string(),
            Some(crate::config::PartitionBy::Lang) => {
                format!(
                    "documents/lang={}",
                    doc.lang
                        .as_deref()
                        .filter(|l| !l.is_empty())
                        .unwrap_or("und")
                )
            }
        }
    }

    fn document_writer(&mut self, dir: String) -> Result<&mut ShardWriter, StreamError> {
        if !self.documents.contains_key(&dir) {
            let w = ShardWriter::new(Dataset::Documents, &self.root, &dir, self.opts.clone())?;
            self.documents.insert(dir.clone(), w);
        }
        Ok(self.documents.get_mut(&dir).expect("inserted above"))
    }

    fn push(&mut self, row: Row) -> Result<(), StreamError> {
        match row {
            Row::Kept(doc) => {
                let dir = self.partition_dir(&doc);
                self.document_writer(dir)?.push(Row::Kept(doc))?;
            }
            Row::Dropped(..) => {
                if let Some(w) = &mut self.dropped {
                    w.push(row)?;
                }
            }
            Row::Rejected(_) => self.rejected.push(row)?,
        }
        Ok(())
    }

    pub(super) fn checkpoint(&mut self) -> Result<BTreeMap<String, WriterState>, StreamError> {
        let mut m = BTreeMap::new();
        for (dir, w) in &mut self.documents {
            m.insert(dir.clone(), w.checkpoint()?);
        }
        if let Some(w) = &mut self.dropped {
            m.insert("dropped".into(), w.checkpoint()?);
        }
        m.insert("rejected".into(), self.rejected.checkpoint()?);
        Ok(m)
    }

    pub(super) fn drop_stale(&mut self) {
        for w in self.documents.values_mut() {
            w.drop_stale();
        }
        if let Some(w) = &mut self.dropped {
            w.drop_stale();
        }
        self.rejected.drop_stale();
    }

    pub(super) fn restore(
        &mut self,
        states: &BTreeMap<String, WriterState>,
    ) -> Result<(), StreamError> {
        for (dir, st) in states {
            match dir.as_str() {
                "dropped" => {
                    if let Some(w) = &mut self.dropped {
                        w.restore(st.clone())?;
                    }
                }
                "rejected" => self.rejected.restore(st.clone())?,
                _ => self.document_writer(dir.clone())?.restore(st.clone())?,
            }
        }
        Ok(())
    }

    pub(super) fn finish(self) -> Result<Vec<ShardFile>, StreamError> {
        let mut files = Vec::new();
        for (_, w) in self.documents {
            files.extend(w.finish()?);
        }
        if let Some(w) = self.dropped {
            files.extend(w.finish()?);
        }
        files.extend(self.rejected.finish()?);
        Ok(files)
    }
}

/// Messages to the writer thread.
pub(super) enum WriterMsg {
    /// The rows of one batch, in input order.
    Rows(Vec<Row>),
    /// Commit a checkpoint after the rows sent so far.
    Checkpoint {
        position: Position,
        stats: Box<RunStats>,
        state_dir: Option<String>,
        reply: mpsc::Sender<Result<(), StreamError>>,
    },
}

/// The writer thread: pushes rows, commits checkpoints, and finally closes every shard.
pub(super) fn write_loop(
    mut writers: Writers,
    rx: mpsc::Receiver<WriterMsg>,
    target: CheckpointTarget,
    mut prev_state: Option<String>,
) -> Result<Vec<ShardFile>, StreamError> {
    for msg in rx {
        match msg {
            WriterMsg::Rows(rows) => {
                for r in rows {
                    writers.push(r)?;
                }
            }
            WriterMsg::Checkpoint {
                position,
                stats,
                state_dir,
                reply,
            } => {
                let r =
                    commit_checkpoint(&target, position, *stats, state_dir.clone(), &mut writers);
                if r.is_ok() {
                    // The previous stage state is no longer named by the committed checkpoint.
                    if let Some(old) = prev_state.take().filter(|o| Some(o) != state_dir.as_ref()) {
                        let _ = crate::storage::remove_dir_all(&target.resume_dir.join(old));
                    }
                    prev_state = state_dir;
                }
                let _ = reply.send(r);
            }
        }
    }
    writers.finish()
}

/// Saves the writers' open-shard state and commits a checkpoint at `position`; the segments
/// the previous checkpoint needed are dropped only after the new one is on disk.
fn commit_checkpoint(
    target: &CheckpointTarget,
    position: Position,
    stats: RunStats,
    state_dir: Option<String>,
    writers: &mut Writers,
) -> Result<(), StreamError> {
    let c = Checkpoint {
        config_hash: target.config_hash.clone(),
        owner: target.owner.clone(),
        position,
        stats,
        writers: writers.checkpoint()?,
        state_dir,
    };
    crate::io::json::write_json_atomic(&target.path, &c)?;
    writers.drop_stale();
    tracing::debug!(records = c.stats.input, "checkpoint saved");
    Ok(())
}
