//! Entry points of the fuzz targets in `fuzz/` and of the tests that replay their corpora:
//! each takes arbitrary bytes and checks what must hold for every input.

use serde_json::{Value, json};

use crate::postgres::nul;

/// The PostgreSQL NUL escape round trip: whatever strings a payload holds (NULs, U+E000,
/// the escaped forms), the text bound holds no NUL and reads back as the same payload.
pub fn nul_round_trip(data: &[u8]) {
    // Bytes 1 and 2 stand for the two characters the scheme is about, so the fuzzer reaches
    // them with one mutation.
    let text: String = String::from_utf8_lossy(data)
        .chars()
        .map(|c| match c {
            '\u{1}' => '\0',
            '\u{2}' => '\u{E000}',
            other => other,
        })
        .collect();
    let payload = json!({
        "text": text.clone(),
        text.clone(): [text.clone(), {"nested": text, "n": 1}, null],
    });
    check(&payload);
    if let Ok(value) = serde_json::from_slice::<Value>(data) {
        check(&value);
    }
}

fn check(payload: &Value) {
    let bound = nul::to_jsonb_text(payload);
    let stored: Value = serde_json::from_str(&bound).expect("the bound text is JSON");
    assert!(!holds_nul(&stored), "a NUL reached the database: {bound}");
    assert_eq!(
        &nul::restore(stored),
        payload,
        "the payload changed on its round trip"
    );
}

/// Whether a string value or an object key holds U+0000 (what `jsonb` refuses).
fn holds_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(holds_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || holds_nul(v)),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use codex_corpus::replay;

    #[test]
    fn the_nul_round_trip_corpus_replays() {
        replay("nul_round_trip", super::nul_round_trip);
    }
}
