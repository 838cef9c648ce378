//! The wire format between the host and a Python worker: line-delimited JSON-RPC 2.0,
//! and how the worker's error codes map onto [`PluginError`].

use codex_plugin::PluginError;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The error codes `codex_worker.py` answers with; keep the two in step.
pub(crate) mod code {
    /// A request line that is not JSON-RPC (a host bug, never a plugin's).
    pub const PARSE_ERROR: i64 = -32700;
    pub const METHOD_NOT_FOUND: i64 = -32601;
    /// `execute` raised `ValueError` (or `codexcontinue.InvalidInput`).
    pub const INVALID_INPUT: i64 = -32602;
    /// `execute`, `initialize` or `shutdown` raised any other exception.
    pub const PLUGIN_ERROR: i64 = -32000;
    /// The result could not be encoded as JSON (a `set`, an object, `NaN`).
    pub const NOT_SERIALISABLE: i64 = -32001;
    /// The module failed to import, or has no usable plugin class.
    pub const LOAD_FAILED: i64 = -32002;
}

/// Methods the worker answers.
pub(crate) mod method {
    /// The one notification a worker sends: a progress report of the call in flight.
    pub const PROGRESS: &str = "progress";
    pub const DESCRIBE: &str = "describe";
    pub const INITIALIZE: &str = "initialize";
    pub const EXECUTE: &str = "execute";
    pub const SHUTDOWN: &str = "shutdown";
}

/// One request line, written without building an intermediate `Value`.
#[derive(Serialize)]
struct Request<'a, P> {
    jsonrpc: &'static str,
    id: u64,
    method: &'a str,
    params: P,
}

/// `execute`'s parameters: the call's input, and the context a plugin may use (the
/// original `run(prompt, session_id)` gets the session id from it).
#[derive(Serialize)]
pub(crate) struct ExecuteParams<'a> {
    pub data: &'a Value,
    pub context: CallContext<'a>,
}

/// What a Python plugin learns about the call besides its input.
#[derive(Serialize)]
pub(crate) struct CallContext<'a> {
    pub session_id: &'a str,
    /// The W3C `traceparent` of the request the call serves, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
}

/// `initialize`'s parameters: the manifest's `[config]` table (`{}` without one).
#[derive(Serialize)]
pub(crate) struct InitializeParams<'a> {
    pub config: &'a Value,
}

/// Appends one request and its newline to `out`.
pub(crate) fn encode_request<P: Serialize>(
    out: &mut Vec<u8>,
    id: u64,
    method: &str,
    params: P,
) -> Result<(), serde_json::Error> {
    let request = Request {
        jsonrpc: "2.0",
        id,
        method,
        params,
    };
    serde_json::to_writer(&mut *out, &request)?;
    out.push(b'\n');
    Ok(())
}

/// One line from the worker: a response to the pending request, or a notification (a
/// `method` and no id) such as `progress`.
#[derive(Debug, Deserialize)]
pub(crate) struct Response {
    pub id: Option<u64>,
    /// Set on notifications only.
    #[serde(default)]
    pub method: Option<String>,
    #[serde(default)]
    pub params: Option<Value>,
    /// `null` and absent both read as `Null`; `error` decides success.
    #[serde(default)]
    pub result: Value,
    pub error: Option<RpcError>,
}

/// The `error` member of a response.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub(crate) struct RpcError {
    pub code: i64,
    pub message: String,
    #[serde(default)]
    pub data: Option<ErrorData>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub(crate) struct ErrorData {
    /// The Python exception type, when an exception caused the error.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub traceback: Option<String>,
}

impl RpcError {
    /// The error a caller sees. `ValueError` rejects the input; any other exception is the
    /// plugin's own failure ([`PluginError::Raised`]): its type, message and traceback.
    pub fn into_plugin_error(self) -> PluginError {
        match self.code {
            code::INVALID_INPUT => PluginError::InvalidInput(self.message),
            code::NOT_SERIALISABLE => PluginError::Failed(self.message),
            code::METHOD_NOT_FOUND | code::PARSE_ERROR => {
                PluginError::Failed(format!("the worker rejected the request: {}", self.message))
            }
            _ => {
                let (kind, traceback) =
                    self.data.map(|d| (d.kind, d.traceback)).unwrap_or_default();
                let Some(kind) = kind else {
                    return PluginError::Failed(self.message);
                };
                // The worker writes `Type: message`; the type is carried apart.
                let message = self
                    .message
                    .strip_prefix(&format!("{kind}: "))
                    .map_or_else(|| self.message.clone(), str::to_owned);
                PluginError::Raised {
                    kind: Some(kind),
                    message,
                    traceback: traceback.filter(|tb| !tb.is_empty()),
                }
            }
        }
    }
}

/// The last `max` bytes of `text` (cut at a character boundary), marked when cut.
pub(crate) fn tail(text: &str, max: usize) -> String {
    let text = text.trim_end();
    if text.len() <= max {
        return text.to_owned();
    }
    let mut start = text.len() - max;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    format!("...{}", &text[start..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn request_is_one_line() {
        let mut out = Vec::new();
        let data = json!("a\nb");
        let params = ExecuteParams {
            data: &data,
            context: CallContext {
                session_id: "s-1",
                traceparent: None,
            },
        };
        encode_request(&mut out, 7, method::EXECUTE, params).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"execute\",\"params\":{\"data\":\"a\\nb\",\"context\":{\"session_id\":\"s-1\"}}}\n"
        );
    }

    fn check(line: &str, expected: Result<Value, PluginError>) {
        let response: Response = serde_json::from_str(line).unwrap();
        let got = match response.error {
            Some(e) => Err(e.into_plugin_error()),
            None => Ok(response.result),
        };
        assert_eq!(got, expected, "{line}");
    }

    #[test]
    fn responses_map_to_results_and_errors() {
        check(
            r#"{"jsonrpc":"2.0","id":1,"result":{"a":1}}"#,
            Ok(json!({"a": 1})),
        );
        check(r#"{"jsonrpc":"2.0","id":1,"result":null}"#, Ok(Value::Null));
        check(
            r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32602,"message":"ValueError: bad"}}"#,
            Err(PluginError::InvalidInput("ValueError: bad".into())),
        );
        check(
            r#"{"id":1,"error":{"code":-32000,"message":"KeyError: 'x'","data":{"type":"KeyError","traceback":"Traceback\n  line 3\nKeyError: 'x'\n"}}}"#,
            Err(PluginError::Raised {
                kind: Some("KeyError".into()),
                message: "'x'".into(),
                traceback: Some("Traceback\n  line 3\nKeyError: 'x'\n".into()),
            }),
        );
        // An error without an exception type stays a plain failure.
        check(
            r#"{"id":1,"error":{"code":-32000,"message":"gone"}}"#,
            Err(PluginError::Failed("gone".into())),
        );
    }

    #[test]
    fn tail_keeps_the_end_on_a_char_boundary() {
        assert_eq!(tail("abc", 5), "abc");
        assert_eq!(tail("aéb", 2), "...b");
        assert_eq!(tail("hello world", 5), "...world");
    }
}
