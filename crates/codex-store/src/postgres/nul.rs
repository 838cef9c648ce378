//! NUL characters in payloads: PostgreSQL's `jsonb` refuses `\u0000` in strings (it has no
//! text form for it), so such payloads are escaped before binding and restored when read.
//!
//! The scheme: in every string value and object key, U+0000 becomes `SENTINEL` `0` and
//! `SENTINEL` itself becomes `SENTINEL SENTINEL`, where `SENTINEL` is U+E000 (the first
//! private-use code point). Both replacements start with the sentinel and a lone sentinel is
//! always doubled, so the mapping is reversible for any string, including ones that contain
//! the sentinel or the escaped form. Payloads with neither character, nearly all of them, are
//! bound as they are. This needs no schema change, unlike a text column beside the `jsonb`
//! one, and a text column could not hold a NUL either.
//!
//! The one ambiguity is data written before this scheme: a stored U+E000 followed by `0` or
//! by another U+E000 reads back changed. Such data could not hold a NUL, so only payloads
//! that already used this private-use code point are affected.

use std::borrow::Cow;

use serde_json::{Map, Value};

const SENTINEL: char = '\u{E000}';
const ESCAPED_NUL: char = '0';

/// The JSON text to bind for `payload`, with NULs and sentinels escaped.
pub(crate) fn to_jsonb_text(payload: &Value) -> String {
    if needs_escaping(payload) {
        escape(payload).to_string()
    } else {
        payload.to_string()
    }
}

/// A payload as read from the database, with NULs and sentinels restored.
pub(crate) fn restore(payload: Value) -> Value {
    if needs_restoring(&payload) {
        unescape(payload)
    } else {
        payload
    }
}

fn needs_escaping(value: &Value) -> bool {
    any_string(value, &|s| s.contains(['\0', SENTINEL]))
}

fn needs_restoring(value: &Value) -> bool {
    any_string(value, &|s| s.contains(SENTINEL))
}

/// Whether any string value or object key in `value` satisfies `test`.
fn any_string(value: &Value, test: &impl Fn(&str) -> bool) -> bool {
    match value {
        Value::String(s) => test(s),
        Value::Array(items) => items.iter().any(|v| any_string(v, test)),
        Value::Object(map) => map.iter().any(|(k, v)| test(k) || any_string(v, test)),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

fn escape(value: &Value) -> Value {
    match value {
        Value::String(s) => Value::String(escape_str(s).into_owned()),
        Value::Array(items) => Value::Array(items.iter().map(escape).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (escape_str(k).into_owned(), escape(v)))
                .collect::<Map<_, _>>(),
        ),
        other => other.clone(),
    }
}

fn unescape(value: Value) -> Value {
    match value {
        Value::String(s) => Value::String(unescape_str(s)),
        Value::Array(items) => Value::Array(items.into_iter().map(unescape).collect()),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (unescape_str(k), unescape(v)))
                .collect::<Map<_, _>>(),
        ),
        other => other,
    }
}

pub(crate) fn escape_str(s: &str) -> Cow<'_, str> {
    if !s.contains(['\0', SENTINEL]) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\0' => {
                out.push(SENTINEL);
                out.push(ESCAPED_NUL);
            }
            SENTINEL => {
                out.push(SENTINEL);
                out.push(SENTINEL);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

pub(crate) fn unescape_str(s: String) -> String {
    if !s.contains(SENTINEL) {
        return s;
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != SENTINEL {
            out.push(c);
            continue;
        }
        match chars.peek() {
            Some(&ESCAPED_NUL) => {
                chars.next();
                out.push('\0');
            }
            Some(&SENTINEL) => {
                chars.next();
                out.push(SENTINEL);
            }
            // Not written by `escape_str`: data from before the scheme, kept as it is.
            _ => out.push(SENTINEL),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(payload: Value) {
        let text = to_jsonb_text(&payload);
        assert!(!text.contains("\\u0000"), "{text}");
        let stored: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(restore(stored), payload);
    }

    #[test]
    fn nuls_and_sentinels_round_trip() {
        check(json!("a\u{0}b"));
        check(json!("\u{0}"));
        check(json!("\u{E000}"));
        check(json!("\u{E000}0"));
        check(json!("\u{E000}\u{E000}0\u{0}\u{E000}"));
        check(json!({"k\u{0}": ["x\u{0}", {"\u{E000}": "\u{E000}0"}], "n": 1}));
        check(json!({"plain": "text", "list": [1, true, null]}));
    }

    #[test]
    fn payloads_without_either_character_are_bound_unchanged() {
        let payload = json!({"role": "user", "content": "λ🦀 \"q\""});
        assert_eq!(to_jsonb_text(&payload), payload.to_string());
    }
}
