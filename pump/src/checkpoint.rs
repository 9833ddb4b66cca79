//! Where the pump is in each shard, kept in a file so that a restarted pump
//! resumes there, as the event source mapping keeps its position.
//!
//! The file is JSON: `{"<stream ARN>": {"<shard id>": "<sequence number>"}}`,
//! the last record of each shard the relay accepted. A stream it names is
//! resumed after those records; a shard it does not name (new since) and a
//! stream it has never seen are read from `TRIM_HORIZON`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Why the checkpoint file could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("pump checkpoints {path}: {reason}")]
pub struct CheckpointError {
    /// The file.
    pub path: String,
    /// What went wrong.
    pub reason: String,
}

/// The last accepted sequence number of every shard, by stream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Checkpoints {
    path: Option<PathBuf>,
    streams: BTreeMap<String, BTreeMap<String, String>>,
}

impl Checkpoints {
    /// Checkpoints kept in memory only (the tests' pumps, a pump that must
    /// always start from the stream's start).
    pub fn in_memory() -> Self {
        Checkpoints::default()
    }

    /// Checkpoints kept in `path`: read now when the file exists, written
    /// after every accepted batch.
    pub fn load(path: impl Into<PathBuf>) -> Result<Self, CheckpointError> {
        let path = path.into();
        let error = |reason: String| CheckpointError {
            path: path.display().to_string(),
            reason,
        };
        let streams = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                error(format!(
                    "not a checkpoint file ({e}); remove it to start over"
                ))
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(error(e.to_string())),
        };
        Ok(Checkpoints {
            path: Some(path),
            streams,
        })
    }

    /// The file, if any.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Whether the pump has read `stream` before.
    pub fn knows(&self, stream: &str) -> bool {
        self.streams.contains_key(stream)
    }

    /// The last accepted sequence number of a shard.
    pub fn get(&self, stream: &str, shard: &str) -> Option<&str> {
        self.streams
            .get(stream)
            .and_then(|shards| shards.get(shard))
            .map(String::as_str)
    }

    /// Records that the relay accepted `shard` up to `sequence`, and writes
    /// the file (a new file renamed over the old, so a crash leaves one or
    /// the other whole).
    pub fn set(
        &mut self,
        stream: &str,
        shard: &str,
        sequence: &str,
    ) -> Result<(), CheckpointError> {
        self.streams
            .entry(stream.to_owned())
            .or_default()
            .insert(shard.to_owned(), sequence.to_owned());
        self.save()
    }

    fn save(&self) -> Result<(), CheckpointError> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let error = |reason: String| CheckpointError {
            path: path.display().to_string(),
            reason,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| error(e.to_string()))?;
        }
        let json = serde_json::to_vec_pretty(&self.streams).map_err(|e| error(e.to_string()))?;
        let mut temporary = path.clone().into_os_string();
        temporary.push(".tmp");
        std::fs::write(&temporary, json).map_err(|e| error(e.to_string()))?;
        std::fs::rename(&temporary, path).map_err(|e| error(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoints_survive_a_restart_and_a_missing_file_is_a_fresh_start() {
        let dir = std::env::temp_dir().join(format!("pump-checkpoints-{}", std::process::id()));
        let path = dir.join("t.json");
        let _ = std::fs::remove_file(&path);
        let mut first = Checkpoints::load(&path).unwrap();
        assert!(!first.knows("s1"));
        first.set("s1", "shard-a", "100").unwrap();
        first.set("s1", "shard-a", "200").unwrap();
        first.set("s1", "shard-b", "7").unwrap();
        let second = Checkpoints::load(&path).unwrap();
        assert!(second.knows("s1"));
        assert_eq!(second.get("s1", "shard-a"), Some("200"));
        assert_eq!(second.get("s1", "shard-b"), Some("7"));
        assert_eq!(second.get("s1", "shard-c"), None);
        assert!(!second.knows("s2"));
        std::fs::write(&path, b"not json").unwrap();
        assert!(Checkpoints::load(&path).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn in_memory_checkpoints_write_nothing() {
        let mut c = Checkpoints::in_memory();
        c.set("s", "a", "1").unwrap();
        assert_eq!(c.get("s", "a"), Some("1"));
        assert_eq!(c.path(), None);
    }
}
