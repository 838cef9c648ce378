//! Scanning the plugins folder: which files are plugins, and their manifests.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use codex_plugin::naming::{PluginFileName, parse_file_name};

use crate::error::HostError;
use crate::manifest::Manifest;

/// One plugin file found in the folder, with its manifest if one sits beside it.
#[derive(Debug, Clone)]
pub struct PluginFile {
    pub path: PathBuf,
    pub name: PluginFileName,
    /// `Ok(None)` when there is no manifest; `Err` when it does not parse.
    pub manifest: Result<Option<Manifest>, String>,
    /// What changed-file detection compares: modification times and sizes of the file
    /// and its manifest.
    pub fingerprint: Fingerprint,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Fingerprint(Vec<(Option<SystemTime>, u64)>);

impl Fingerprint {
    /// The latest modification time of the file and its manifest.
    pub fn modified(&self) -> Option<SystemTime> {
        self.0.iter().filter_map(|(time, _)| *time).max()
    }
}

impl PluginFile {
    pub fn manifest_path(&self) -> PathBuf {
        self.path.with_file_name(format!("{}.toml", self.name.stem))
    }

    /// The file is the manifest itself: a plugin that exists only as configuration.
    pub fn is_manifest_only(&self) -> bool {
        self.name.extension == "toml"
    }
}

/// Lists plugin files in `dir` (not recursive), one per stem; a manifest is attached to
/// the file with the same stem, or stands alone when no such file exists.
pub fn scan(dir: &Path) -> Result<Vec<PluginFile>, HostError> {
    let read = std::fs::read_dir(dir).map_err(|source| HostError::PluginsDir {
        path: dir.to_owned(),
        source,
    })?;
    let mut by_stem: BTreeMap<String, Vec<(PathBuf, PluginFileName)>> = BTreeMap::new();
    for entry in read.flatten() {
        let path = entry.path();
        if !path.is_file() {
            continue;
        }
        let Some(file_name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if let Some(parsed) = parse_file_name(file_name) {
            by_stem
                .entry(parsed.stem.clone())
                .or_default()
                .push((path, parsed));
        }
    }
    let mut files = Vec::new();
    for (_, mut group) in by_stem {
        // The code file wins over the manifest; among code files, sort for determinism.
        group.sort_by_key(|(_, n)| (n.extension == "toml", n.extension.clone()));
        let manifest_path = group
            .iter()
            .find(|(_, n)| n.extension == "toml")
            .map(|(p, _)| p.clone());
        for (path, name) in group {
            let is_manifest = name.extension == "toml";
            if is_manifest && files.iter().any(|f: &PluginFile| f.name.stem == name.stem) {
                continue;
            }
            let manifest = match &manifest_path {
                Some(m) => Manifest::load(m).map(Some),
                None => Ok(None),
            };
            let mut fingerprint = vec![stat(&path)];
            if !is_manifest && let Some(m) = &manifest_path {
                fingerprint.push(stat(m));
            }
            files.push(PluginFile {
                path,
                name,
                manifest,
                fingerprint: Fingerprint(fingerprint),
            });
        }
    }
    Ok(files)
}

fn stat(path: &Path) -> (Option<SystemTime>, u64) {
    match std::fs::metadata(path) {
        Ok(m) => (m.modified().ok(), m.len()),
        Err(_) => (None, 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_manifests_with_their_files() {
        let dir = tempfile::tempdir().unwrap();
        for f in [
            "echo2_plugin.py",
            "echo2_plugin.toml",
            "count_plugin.wasm",
            "server_plugin.toml",
            "notes.txt",
            "helper.py",
        ] {
            std::fs::write(dir.path().join(f), "").unwrap();
        }
        let files = scan(dir.path()).unwrap();
        let names: Vec<_> = files
            .iter()
            .map(|f| (f.name.name.as_str(), f.name.extension.as_str()))
            .collect();
        assert_eq!(
            names,
            [("count", "wasm"), ("echo2", "py"), ("server", "toml")]
        );
        assert!(files[1].manifest.as_ref().unwrap().is_some());
        assert!(files[0].manifest.as_ref().unwrap().is_none());
    }
}
