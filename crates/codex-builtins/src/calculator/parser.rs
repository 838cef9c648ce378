//! A recursive-descent parser that evaluates while it parses, so no syntax tree is built
//! and a long flat sum like `1+1+...+1` needs no recursion at all.
//!
//! Grammar, loosest binding first:
//!
//! ```text
//! expression = term (("+" | "-") term)*
//! term       = unary (("*" | "/" | "%") unary)*
//! unary      = ("-" | "+") unary | power
//! power      = primary ("^" unary)?          right-associative: 2^3^2 = 2^9
//! primary    = number | constant | function "(" expression ("," expression)* ")"
//!            | "(" expression ")"
//! ```
//!
//! `^` binds tighter than unary minus, so `-2^2` is `-(2^2)` = -4, while `2^-1` = 0.5.

use std::f64::consts;

use super::CalcError;
use super::lexer::{Token, TokenKind};
use super::number::{self, Arity, BinaryOp, Function, Number};

/// How deep parentheses, signs and exponents may nest; deeper input is rejected before
/// the recursion could exhaust the stack.
pub(super) const MAX_DEPTH: usize = 256;

/// The value of a sub-expression, or the first evaluation error inside it.
///
/// Evaluation errors travel as values while syntax errors (the outer `Result`) stop parsing
/// at once, so the whole input is always checked and a syntax error anywhere wins:
/// `1/0 )` reports the stray `)`, not the division.
type Evaluated = Result<Number, CalcError>;

/// Parses and evaluates `tokens`, which end with [`TokenKind::End`].
pub(super) fn evaluate(tokens: &[Token<'_>]) -> Result<Number, CalcError> {
    let mut parser = Parser {
        tokens,
        next: 0,
        depth: 0,
    };
    let value = parser.expression()?;
    let token = parser.peek();
    if token.kind != TokenKind::End {
        return Err(unexpected(token));
    }
    value
}

struct Parser<'t, 'a> {
    tokens: &'t [Token<'a>],
    next: usize,
    depth: usize,
}

impl<'a> Parser<'_, 'a> {
    fn peek(&self) -> Token<'a> {
        match self.tokens.get(self.next).or(self.tokens.last()) {
            Some(token) => *token,
            // Unreachable with the lexer's output, which always ends with `End`.
            None => Token {
                kind: TokenKind::End,
                position: 1,
                text: "",
            },
        }
    }

    /// The next token, consumed; `End` is never consumed, so it can be reported.
    fn advance(&mut self) -> Token<'a> {
        let token = self.peek();
        if token.kind != TokenKind::End {
            self.next += 1;
        }
        token
    }

    fn expression(&mut self) -> Result<Evaluated, CalcError> {
        let mut value = self.term()?;
        loop {
            let op = match self.peek().kind {
                TokenKind::Plus => BinaryOp::Add,
                TokenKind::Minus => BinaryOp::Sub,
                _ => return Ok(value),
            };
            let operator = self.advance();
            let rhs = self.term()?;
            value = combine(op, operator, value, rhs);
        }
    }

    fn term(&mut self) -> Result<Evaluated, CalcError> {
        let mut value = self.unary()?;
        loop {
            let op = match self.peek().kind {
                TokenKind::Star => BinaryOp::Mul,
                TokenKind::Slash => BinaryOp::Div,
                TokenKind::Percent => BinaryOp::Rem,
                _ => return Ok(value),
            };
            let operator = self.advance();
            let rhs = self.unary()?;
            value = combine(op, operator, value, rhs);
        }
    }

    /// Every nesting level (parentheses, function arguments, signs, exponents) passes
    /// through here, so this is where depth is counted.
    fn unary(&mut self) -> Result<Evaluated, CalcError> {
        let token = self.peek();
        if self.depth >= MAX_DEPTH {
            return Err(CalcError::at(
                format!("expression is nested too deeply (more than {MAX_DEPTH} levels)"),
                token.position,
            ));
        }
        self.depth += 1;
        let result = match token.kind {
            TokenKind::Minus => {
                self.advance();
                self.unary().map(|operand| {
                    operand.and_then(|n| {
                        number::negate(n).map_err(|m| CalcError::at(m, token.position))
                    })
                })
            }
            TokenKind::Plus => {
                self.advance();
                self.unary()
            }
            _ => self.power(),
        };
        self.depth -= 1;
        result
    }

    fn power(&mut self) -> Result<Evaluated, CalcError> {
        let base = self.primary()?;
        if self.peek().kind != TokenKind::Caret {
            return Ok(base);
        }
        let operator = self.advance();
        let exponent = self.unary()?;
        Ok(combine(BinaryOp::Pow, operator, base, exponent))
    }

    fn primary(&mut self) -> Result<Evaluated, CalcError> {
        let token = self.advance();
        match token.kind {
            TokenKind::Int(i) => Ok(Ok(Number::Int(i))),
            TokenKind::Float(f) => Ok(Ok(Number::Float(f))),
            TokenKind::LParen => {
                let value = self.expression()?;
                self.close(token)?;
                Ok(value)
            }
            TokenKind::Ident(name) => self.identifier(token, name),
            _ => Err(unexpected(token)),
        }
    }

    fn identifier(&mut self, token: Token<'a>, name: &str) -> Result<Evaluated, CalcError> {
        if self.peek().kind == TokenKind::LParen {
            return self.call(token, name);
        }
        match name {
            "pi" => Ok(Ok(Number::Float(consts::PI))),
            "e" => Ok(Ok(Number::Float(consts::E))),
            _ if Function::lookup(name).is_some() => Err(CalcError::at(
                format!("function '{name}' needs its arguments in parentheses, as in {name}(2)"),
                token.position,
            )),
            _ => Err(CalcError::at(
                format!("unknown identifier '{name}'"),
                token.position,
            )),
        }
    }

    /// A function call; the next token is its `(`.
    fn call(&mut self, name_token: Token<'a>, name: &str) -> Result<Evaluated, CalcError> {
        let Some(function) = Function::lookup(name) else {
            let message = match name {
                "pi" | "e" => format!("'{name}' is a constant, not a function"),
                _ => format!("unknown function '{name}'"),
            };
            return Err(CalcError::at(message, name_token.position));
        };
        let open = self.advance();
        let mut args = Vec::new();
        if self.peek().kind == TokenKind::RParen {
            self.advance();
        } else {
            loop {
                args.push(self.expression()?);
                let token = self.advance();
                match token.kind {
                    TokenKind::Comma => {}
                    TokenKind::RParen => break,
                    TokenKind::End => return Err(missing_close(open)),
                    _ => return Err(unexpected(token)),
                }
            }
        }
        let count_ok = match function.arity() {
            Arity::Exactly(n) => args.len() == n,
            Arity::AtLeast(n) => args.len() >= n,
        };
        if !count_ok {
            let expected = match function.arity() {
                Arity::Exactly(1) => "1 argument".to_owned(),
                Arity::Exactly(n) => format!("{n} arguments"),
                Arity::AtLeast(1) => "at least 1 argument".to_owned(),
                Arity::AtLeast(n) => format!("at least {n} arguments"),
            };
            return Err(CalcError::at(
                format!("'{name}' takes {expected}, got {}", args.len()),
                name_token.position,
            ));
        }
        let values: Result<Vec<Number>, CalcError> = args.into_iter().collect();
        Ok(values.and_then(|values| {
            function
                .apply(name, &values)
                .map_err(|m| CalcError::at(m, name_token.position))
        }))
    }

    /// Consumes the `)` that closes `open`.
    fn close(&mut self, open: Token<'a>) -> Result<(), CalcError> {
        let token = self.advance();
        match token.kind {
            TokenKind::RParen => Ok(()),
            TokenKind::End => Err(missing_close(open)),
            _ => Err(unexpected(token)),
        }
    }
}

fn combine(op: BinaryOp, operator: Token<'_>, lhs: Evaluated, rhs: Evaluated) -> Evaluated {
    let (lhs, rhs) = (lhs?, rhs?);
    number::binary(op, lhs, rhs).map_err(|m| CalcError::at(m, operator.position))
}

fn unexpected(token: Token<'_>) -> CalcError {
    CalcError::at(format!("unexpected {}", token.describe()), token.position)
}

fn missing_close(open: Token<'_>) -> CalcError {
    CalcError::at("missing ')' for the '('", open.position)
}
