//! `/run <plugin> <input>` (and `run <plugin> <input>`): the chat command that calls a plugin
//! directly, bypassing the model.

use serde_json::Value;

/// What a message asks for, when it is a command.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Run {
        plugin: String,
        input: Value,
    },
    /// `/run` without a plugin name.
    Malformed,
}

/// The reply to a malformed command.
pub const USAGE: &str = "Usage: /run <plugin> <input>. The input is JSON when it parses as JSON \
     (an object, array or quoted string), plain text otherwise; for example `/run calculator 2*(3+4)` \
     or `/run echo {\"text\": \"hi\"}`.";

/// The command in `message`, if it is one. `run` without a slash is a command only when a
/// plugin name follows, so a message that is just "run" still goes to the model.
pub fn parse(message: &str) -> Option<Command> {
    let text = message.trim();
    let (slashed, rest) = match text.strip_prefix("/run") {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix("run")?),
    };
    if !rest.is_empty() && !rest.starts_with(char::is_whitespace) {
        return None;
    }
    let rest = rest.trim_start();
    let (plugin, input) = match rest.find(char::is_whitespace) {
        Some(at) => (&rest[..at], rest[at..].trim()),
        None => (rest, ""),
    };
    if plugin.is_empty() {
        return slashed.then_some(Command::Malformed);
    }
    Some(Command::Run {
        plugin: plugin.to_owned(),
        input: parse_input(input),
    })
}

/// Input that looks like JSON (an object, array or quoted string) is parsed as JSON;
/// anything else, `2*(3+4)` or `echo hi`, is a plain string. The same rule as the CLI's
/// `codexcontinue run`.
pub fn parse_input(text: &str) -> Value {
    let trimmed = text.trim_start();
    if trimmed.starts_with(['{', '[', '"'])
        && let Ok(value) = serde_json::from_str(trimmed)
    {
        return value;
    }
    Value::String(text.to_owned())
}

/// A plugin result as a human reads it: a string as is, anything else pretty JSON.
pub fn render(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => serde_json::to_string_pretty(other).unwrap_or_else(|_| other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(plugin: &str, input: Value) -> Option<Command> {
        Some(Command::Run {
            plugin: plugin.to_owned(),
            input,
        })
    }

    #[test]
    fn commands_are_recognised() {
        assert_eq!(
            parse("/run calculator 2*(3+4)"),
            run("calculator", json!("2*(3+4)"))
        );
        assert_eq!(
            parse("  run echo {\"a\": 1} "),
            run("echo", json!({"a": 1}))
        );
        assert_eq!(parse("/run echo"), run("echo", json!("")));
        assert_eq!(parse("/run"), Some(Command::Malformed));
        assert_eq!(parse("/run   "), Some(Command::Malformed));
        assert_eq!(parse("run"), None);
        assert_eq!(parse("running late"), None);
        assert_eq!(parse("/runner x"), None);
        assert_eq!(parse("hello"), None);
    }

    #[test]
    fn results_render_readably() {
        assert_eq!(render(&json!("hi")), "hi");
        assert_eq!(render(&json!({"a": 1})), "{\n  \"a\": 1\n}");
    }

    #[test]
    fn input_is_json_only_when_it_looks_like_it() {
        for (input, expected) in [
            ("2*(3+4)", json!("2*(3+4)")),
            ("42", json!("42")),
            ("{\"expression\": \"1+1\"}", json!({"expression": "1+1"})),
            ("[1, 2]", json!([1, 2])),
            ("{not json", json!("{not json")),
            ("", json!("")),
        ] {
            assert_eq!(parse_input(input), expected, "{input}");
        }
    }
}
