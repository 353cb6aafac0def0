//! Checkpoints: where reading stopped, the counters, the writers' open shards and the stateful
//! stages' state, committed between batches so that a killed run continues with the same bytes.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::reader::Position;
use super::{io_err, RunStats, StreamError};
use crate::io::writer::WriterState;
use crate::stage::Stage;

/// What a checkpoint file holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The data config's hash ([`crate::config::Pipeline::data_hash`]) it was written for.
    pub config_hash: String,
    /// Who wrote it (e.g. `task 0 of 1`): a checkpoint only continues the same share of a run.
    pub owner: String,
    /// Where reading goes on.
    pub position: Position,
    /// The counters at that point.
    pub stats: RunStats,
    /// The writers' open-shard state.
    pub(super) writers: BTreeMap<String, WriterState>,
    /// Directory under the resume directory with the stateful stages' state at this point.
    #[serde(default)]
    pub(super) state_dir: Option<String>,
}

impl Checkpoint {
    /// The checkpoint at `path`, or `None` when there is none.
    pub fn read(path: &Path) -> Result<Option<Checkpoint>, StreamError> {
        let text = match crate::storage::read_to_string(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            r => r.map_err(io_err(path))?,
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| StreamError::Resume {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })
    }
}

/// Where and as whom a stream saves its checkpoints.
#[derive(Debug, Clone)]
pub struct CheckpointTarget {
    /// The checkpoint file.
    pub path: PathBuf,
    /// The directory for stage state (shared by the tasks of a split run).
    pub resume_dir: PathBuf,
    /// Recorded in every checkpoint (see [`Checkpoint::config_hash`]).
    pub config_hash: String,
    /// Recorded in every checkpoint (see [`Checkpoint::owner`]).
    pub owner: String,
    /// Stage state directories are named `<state_prefix><records>`; tasks sharing
    /// `resume_dir` use prefixes of their own.
    pub state_prefix: String,
}

impl CheckpointTarget {
    /// Removes the checkpoint and the stage state this target wrote (after a finished run).
    pub fn remove(&self) {
        let _ = crate::storage::remove_file(&self.path);
        if let Ok(names) = crate::storage::read_dir(&self.resume_dir) {
            for (name, _) in names {
                if name.starts_with(&self.state_prefix) {
                    let _ = crate::storage::remove_dir_all(&self.resume_dir.join(name));
                }
            }
        }
    }
}

/// Saves the state of every stateful stage under `<resume_dir>/<state_prefix><records>/`;
/// `None` when no stage has state.
pub(super) fn save_stage_states(
    target: &CheckpointTarget,
    stages: &[Stage],
    records: u64,
) -> Result<Option<String>, StreamError> {
    if !stages.iter().any(|s| matches!(s, Stage::Stateful(_))) {
        return Ok(None);
    }
    let name = format!("{}{records:012}", target.state_prefix);
    for (i, s) in stages.iter().enumerate() {
        if let Stage::Stateful(st) = s {
            let dir = target.resume_dir.join(&name).join(format!("stage-{i:03}"));
            fs::create_dir_all(&dir).map_err(io_err(&dir))?;
            st.save_state(&dir).map_err(io_err(&dir))?;
        }
    }
    // In an object store, the state is there before the checkpoint that names it.
    let root = target.resume_dir.join(&name);
    crate::storage::publish(&root).map_err(io_err(&root))?;
    Ok(Some(name))
}

/// Restores the stateful stages' state that `checkpoint` names.
pub(super) fn load_stage_states(
    target: &CheckpointTarget,
    checkpoint: &Checkpoint,
    stages: &mut [Stage],
) -> Result<(), StreamError> {
    let Some(state) = &checkpoint.state_dir else {
        return Ok(());
    };
    for (i, s) in stages.iter_mut().enumerate() {
        if let Stage::Stateful(st) = s {
            let dir = target.resume_dir.join(state).join(format!("stage-{i:03}"));
            crate::storage::fetch_dir(&dir).map_err(io_err(&dir))?;
            st.load_state(&dir).map_err(io_err(&dir))?;
        }
    }
    Ok(())
}
