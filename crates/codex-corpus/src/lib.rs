//! Replays the fuzz targets' saved inputs as ordinary tests, so the test command checks every
//! input that ever added coverage or failed without a fuzzing build (bench/fuzz.sh fuzzes).
//!
//! The crates that own a target's property (`fuzzing.rs` in codex-agent, codex-builtins,
//! codex-host and codex-store) use this as a dev-dependency.

use std::path::{Path, PathBuf};

/// The `fuzz/` folder at the workspace root.
pub fn fuzz_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

/// Runs `check` on every saved input of `target`: `fuzz/corpus/<target>`, and
/// `fuzz/regressions/<target>` for the inputs that once failed.
///
/// # Panics
/// When an input fails its check (naming the file), or when `target` has no saved input at
/// all: a misspelt target must not pass by replaying nothing.
pub fn replay(target: &str, check: fn(&[u8])) {
    let root = fuzz_root();
    let mut replayed = 0;
    for folder in ["corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(root.join(folder).join(target)) else {
            continue;
        };
        for entry in entries {
            let path = entry.expect("a readable corpus entry").path();
            let data = std::fs::read(&path).expect("a readable corpus file");
            if std::panic::catch_unwind(|| check(&data)).is_err() {
                panic!("{} fails", path.display());
            }
            replayed += 1;
        }
    }
    assert!(
        replayed > 0,
        "no saved inputs for {target} under {}",
        root.display()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[should_panic(expected = "no saved inputs for no_such_target")]
    fn a_target_without_inputs_fails() {
        replay("no_such_target", |_| {});
    }

    #[test]
    #[should_panic(expected = "fails")]
    fn a_failing_input_names_its_file() {
        replay("calculator", |_| panic!("every input fails"));
    }
}
