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
    use codex_corpus::replay;

    #[test]
    fn the_calculator_corpus_replays() {
        replay("calculator", super::calculator);
    }
}
