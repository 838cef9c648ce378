//! Splits an expression into tokens, each with the 1-based character position that
//! error messages quote.

use super::CalcError;

/// What a token is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum TokenKind<'a> {
    Int(i64),
    Float(f64),
    Ident(&'a str),
    Plus,
    Minus,
    Star,
    Slash,
    Percent,
    Caret,
    LParen,
    RParen,
    Comma,
    End,
}

/// A token, where it starts, and its source text.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Token<'a> {
    pub(super) kind: TokenKind<'a>,
    /// 1-based character (not byte) position of the token's first character.
    pub(super) position: usize,
    pub(super) text: &'a str,
}

impl Token<'_> {
    /// How error messages show the token.
    pub(super) fn describe(&self) -> String {
        match self.kind {
            TokenKind::End => "end of expression".to_owned(),
            _ => format!("'{}'", self.text),
        }
    }
}

/// Tokenizes `source`; the last token is always [`TokenKind::End`].
pub(super) fn tokenize(source: &str) -> Result<Vec<Token<'_>>, CalcError> {
    let mut tokens = Vec::new();
    let mut chars = source.char_indices().peekable();
    // Position of the character `chars` yields next, 1-based.
    let mut position = 1;
    while let Some(&(start, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            position += 1;
            continue;
        }
        let token_position = position;
        let kind = if c.is_ascii_digit() || c == '.' {
            let len = number_len(&source[start..]);
            if len == 0 {
                return Err(CalcError::at(
                    format!("unexpected character '{c}'"),
                    token_position,
                ));
            }
            let text = &source[start..start + len];
            // Numbers are ASCII, so bytes and characters count the same.
            for _ in 0..len {
                chars.next();
            }
            position += len;
            tokens.push(Token {
                kind: number(text, token_position)?,
                position: token_position,
                text,
            });
            continue;
        } else if c.is_ascii_alphabetic() || c == '_' {
            let len = source[start..]
                .bytes()
                .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
                .count();
            let text = &source[start..start + len];
            for _ in 0..len {
                chars.next();
            }
            position += len;
            tokens.push(Token {
                kind: TokenKind::Ident(text),
                position: token_position,
                text,
            });
            continue;
        } else {
            match c {
                '+' => TokenKind::Plus,
                '-' => TokenKind::Minus,
                '*' if source[start..].starts_with("**") => {
                    // Python's power operator, for users of the original project.
                    chars.next();
                    chars.next();
                    position += 2;
                    tokens.push(Token {
                        kind: TokenKind::Caret,
                        position: token_position,
                        text: "**",
                    });
                    continue;
                }
                '*' => TokenKind::Star,
                '/' => TokenKind::Slash,
                '%' => TokenKind::Percent,
                '^' => TokenKind::Caret,
                '(' => TokenKind::LParen,
                ')' => TokenKind::RParen,
                ',' => TokenKind::Comma,
                _ => {
                    return Err(CalcError::at(
                        format!("unexpected character '{c}'"),
                        token_position,
                    ));
                }
            }
        };
        chars.next();
        position += 1;
        tokens.push(Token {
            kind,
            position: token_position,
            text: &source[start..start + c.len_utf8()],
        });
    }
    tokens.push(Token {
        kind: TokenKind::End,
        position,
        text: "",
    });
    Ok(tokens)
}

/// Length in bytes of the number literal at the start of `s`: digits, an optional
/// fraction, an optional exponent (`1e3`, `2.5E-4`). Zero if there is no digit.
fn number_len(s: &str) -> usize {
    let bytes = s.as_bytes();
    let digits = |from: usize| {
        bytes[from..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count()
    };
    let mut len = digits(0);
    let mut mantissa_digits = len;
    if bytes.get(len) == Some(&b'.') {
        let fraction = digits(len + 1);
        mantissa_digits += fraction;
        len += 1 + fraction;
    }
    if mantissa_digits == 0 {
        return 0;
    }
    // An exponent only when digits follow, so `2e` stays "2" then the identifier `e`.
    if matches!(bytes.get(len), Some(b'e' | b'E')) {
        let sign = usize::from(matches!(bytes.get(len + 1), Some(b'+' | b'-')));
        let exponent = digits(len + 1 + sign);
        if exponent > 0 {
            len += 1 + sign + exponent;
        }
    }
    len
}

fn number(text: &str, position: usize) -> Result<TokenKind<'static>, CalcError> {
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse::<i64>().map(TokenKind::Int).map_err(|_| {
            CalcError::at(
                format!("integer overflow: {text} is larger than {}", i64::MAX),
                position,
            )
        });
    }
    match text.parse::<f64>() {
        Ok(value) if value.is_finite() => Ok(TokenKind::Float(value)),
        _ => Err(CalcError::at(
            format!("overflow: {text} is too large"),
            position,
        )),
    }
}
