//! Entry points of the fuzz targets in `fuzz/` and of the tests that replay their corpora:
//! each takes arbitrary bytes and checks what must hold for every input.

use crate::calculator;

/// The calculator's lexer and parser: any text evaluates or fails without panicking, and a
/// failure's position points into the expression (or just past its end).
pub fn calculator(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match calculator::evaluate(text) {
        Ok(number) => {
            // The result is what the plugin answers: it must render.
            let _ = number.to_string();
        }
        Err(error) => {
            if let Some(position) = error.position() {
                let end = text.chars().count() + 1;
                assert!(
                    (1..=end).contains(&position),
                    "{error} points outside {text:?}"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// Runs `check` on every saved input of `target` (`fuzz/corpus/<target>`, and
    /// `fuzz/regressions/<target>` for the inputs that once failed), as an ordinary test:
    /// no fuzzing build, so the test command stays fast.
    fn replay(target: &str, check: fn(&[u8])) {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
        let mut replayed = 0;
        for folder in ["corpus", "regressions"] {
            let Ok(entries) = std::fs::read_dir(root.join(folder).join(target)) else {
                continue;
            };
            for entry in entries {
                let path = entry.expect("a corpus entry").path();
                let data = std::fs::read(&path).expect("a corpus file");
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

    #[test]
    fn the_calculator_corpus_replays() {
        replay("calculator", super::calculator);
    }
}
