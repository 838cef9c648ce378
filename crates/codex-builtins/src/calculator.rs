//! The `calculator` plugin: a hand-written expression parser and evaluator (never `eval`),
//! with exact checked integers, floats, functions, and errors that point at a position.
//!
//! Written by hand because the expression crates report positions poorly and wrap or
//! silently convert on integer overflow; here overflow is an error.

mod lexer;
mod number;
mod parser;

use async_trait::async_trait;
use codex_plugin::{ExecContext, Plugin, PluginError, PluginInfo, Result};
use serde_json::{Value, json};

pub use number::Number;

use crate::input;
use crate::{AUTHOR, VERSION};

/// The longest expression accepted, in characters.
pub const MAX_EXPRESSION_CHARS: usize = 10_000;

/// Why an expression could not be evaluated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalcError {
    message: String,
    /// 1-based character position the error points at, when there is one.
    position: Option<usize>,
}

impl CalcError {
    fn new(message: impl Into<String>) -> Self {
        CalcError {
            message: message.into(),
            position: None,
        }
    }

    fn at(message: impl Into<String>, position: usize) -> Self {
        CalcError {
            message: message.into(),
            position: Some(position),
        }
    }

    /// What went wrong, without the position.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The 1-based character position the error points at.
    pub fn position(&self) -> Option<usize> {
        self.position
    }
}

impl std::fmt::Display for CalcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.position {
            Some(position) => write!(f, "{} at position {position}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for CalcError {}

/// Evaluates an expression such as `2*(3+4)`.
///
/// Integers stay exact `i64` while results are whole (`6/2` = 3, `2^10` = 1024) and
/// become floats otherwise (`7/2` = 3.5, `2^-1` = 0.5); integer overflow is an error.
/// `%` takes the sign of the divisor, as in Python. `round` rounds half away from zero.
pub fn evaluate(expression: &str) -> Result<Number, CalcError> {
    let chars = expression.chars().count();
    if chars > MAX_EXPRESSION_CHARS {
        return Err(CalcError::new(format!(
            "expression is too long: {chars} characters, the limit is {MAX_EXPRESSION_CHARS}"
        )));
    }
    if expression.trim().is_empty() {
        return Err(CalcError::new("expression is empty"));
    }
    let tokens = lexer::tokenize(expression)?;
    parser::evaluate(&tokens)
}

/// Evaluates `"2*(3+4)"` or `{"expression": "2*(3+4)"}` into `{"expression", "result"}`.
#[derive(Debug, Clone)]
pub struct CalculatorPlugin {
    info: PluginInfo,
}

impl CalculatorPlugin {
    pub fn new() -> Self {
        let info = PluginInfo::new("calculator")
            .read_only()
            .with_description(
                "Evaluates an arithmetic expression: integers and floats, + - * / % ^ (also **), \
                 parentheses, sqrt abs round floor ceil min max ln log10 sin cos tan, pi and e. \
                 Integer results stay exact; overflow, division by zero and syntax errors are \
                 reported with the position. A plain string works as input.",
            )
            .with_version(VERSION)
            .with_author(AUTHOR)
            .with_category("math")
            .with_example(json!({"expression": "2*(3+4)"}))
            .with_input_schema(json!({
                "type": "object",
                "properties": {
                    "expression": {
                        "type": "string",
                        "description": "The expression to evaluate, e.g. \"2*(3+4)\" or \"sqrt(2)^2\".",
                        "minLength": 1,
                        "maxLength": MAX_EXPRESSION_CHARS
                    }
                },
                "required": ["expression"],
                "additionalProperties": false
            }));
        CalculatorPlugin { info }
    }
}

impl Default for CalculatorPlugin {
    fn default() -> Self {
        CalculatorPlugin::new()
    }
}

#[async_trait]
impl Plugin for CalculatorPlugin {
    fn info(&self) -> &PluginInfo {
        &self.info
    }

    async fn execute(&self, data: Value, _ctx: &ExecContext) -> Result<Value> {
        let expression = match &data {
            Value::String(s) => s.as_str(),
            Value::Object(map) => {
                input::reject_unknown_fields(map, &["expression"])?;
                input::required_string(map, "expression")?
            }
            other => {
                return Err(PluginError::invalid_input(format!(
                    "expected an expression string or {{\"expression\": \"...\"}}, not {}",
                    input::kind(other)
                )));
            }
        };
        let result = evaluate(expression).map_err(|e| PluginError::invalid_input(e.to_string()))?;
        Ok(json!({ "expression": expression, "result": result.to_json() }))
    }
}

#[cfg(test)]
mod tests;
