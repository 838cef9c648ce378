//! The calculator's numbers: exact checked `i64` while results stay whole, `f64` otherwise,
//! and every operator and function on them. Errors here carry no position; the parser adds it.

use std::cmp::Ordering;

use serde_json::Value;

/// A calculator value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    Int(i64),
    /// Always finite: operations that would give NaN or an infinity fail instead.
    Float(f64),
}

impl Number {
    pub fn as_f64(self) -> f64 {
        match self {
            Number::Int(i) => i as f64,
            Number::Float(f) => f,
        }
    }

    /// The JSON number: an integer stays an integer, a float stays a float (`6.0`).
    pub fn to_json(self) -> Value {
        match self {
            Number::Int(i) => Value::from(i),
            // Floats are finite by construction, so `from_f64` cannot refuse them;
            // null is only a safeguard.
            Number::Float(f) => serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number),
        }
    }
}

impl std::fmt::Display for Number {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Number::Int(i) => write!(f, "{i}"),
            Number::Float(x) => write!(f, "{x}"),
        }
    }
}

/// A binary operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
    Pow,
}

impl BinaryOp {
    fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Rem => "%",
            BinaryOp::Pow => "^",
        }
    }
}

fn overflow(what: &str) -> String {
    format!("integer overflow in '{what}'")
}

/// A float result, or why it is not a number.
fn finite(value: f64, what: &str) -> Result<Number, String> {
    if value.is_nan() {
        Err(format!("the result of '{what}' is not a real number"))
    } else if value.is_infinite() {
        Err(format!("overflow: the result of '{what}' is too large"))
    } else {
        Ok(Number::Float(value))
    }
}

pub(super) fn binary(op: BinaryOp, lhs: Number, rhs: Number) -> Result<Number, String> {
    let symbol = op.symbol();
    match (lhs, rhs) {
        (Number::Int(a), Number::Int(b)) => int_binary(op, a, b),
        _ => {
            let (a, b) = (lhs.as_f64(), rhs.as_f64());
            let value = match op {
                BinaryOp::Add => a + b,
                BinaryOp::Sub => a - b,
                BinaryOp::Mul => a * b,
                BinaryOp::Div if b == 0.0 => return Err("division by zero".to_owned()),
                BinaryOp::Div => a / b,
                BinaryOp::Rem if b == 0.0 => return Err("division by zero in '%'".to_owned()),
                BinaryOp::Rem => floored_rem(a, b),
                BinaryOp::Pow if a == 0.0 && b < 0.0 => {
                    return Err("division by zero: 0 raised to a negative power".to_owned());
                }
                BinaryOp::Pow => a.powf(b),
            };
            finite(value, symbol)
        }
    }
}

fn int_binary(op: BinaryOp, a: i64, b: i64) -> Result<Number, String> {
    let symbol = op.symbol();
    let exact = match op {
        BinaryOp::Add => a.checked_add(b),
        BinaryOp::Sub => a.checked_sub(b),
        BinaryOp::Mul => a.checked_mul(b),
        BinaryOp::Div => {
            if b == 0 {
                return Err("division by zero".to_owned());
            }
            match a.checked_rem(b) {
                // Whole quotients stay integers: 6/2 = 3, but 7/2 = 3.5.
                Some(0) => a.checked_div(b),
                Some(_) => return finite(a as f64 / b as f64, symbol),
                None => None,
            }
        }
        BinaryOp::Rem => {
            if b == 0 {
                return Err("division by zero in '%'".to_owned());
            }
            // `wrapping_rem` only wraps for i64::MIN % -1, whose true remainder is 0.
            let r = a.wrapping_rem(b);
            // The sign follows the divisor, as in Python: -7 % 3 = 2.
            Some(if r != 0 && (r < 0) != (b < 0) {
                r + b
            } else {
                r
            })
        }
        BinaryOp::Pow => return int_pow(a, b),
    };
    exact.map(Number::Int).ok_or_else(|| overflow(symbol))
}

fn int_pow(base: i64, exponent: i64) -> Result<Number, String> {
    if exponent < 0 {
        if base == 0 {
            return Err("division by zero: 0 raised to a negative power".to_owned());
        }
        // A negative exponent gives a fraction, so a float: 2^-1 = 0.5.
        return finite((base as f64).powf(exponent as f64), "^");
    }
    match (base, u32::try_from(exponent)) {
        (_, Ok(e)) => base
            .checked_pow(e)
            .map(Number::Int)
            .ok_or_else(|| overflow("^")),
        // Exponents beyond u32 only stay in range for these bases.
        (0 | 1, Err(_)) => Ok(Number::Int(base)),
        (-1, Err(_)) => Ok(Number::Int(if exponent % 2 == 0 { 1 } else { -1 })),
        (_, Err(_)) => Err(overflow("^")),
    }
}

/// The remainder with the sign of the divisor, as Python's `%`.
fn floored_rem(a: f64, b: f64) -> f64 {
    let r = a % b;
    if r != 0.0 && (r < 0.0) != (b < 0.0) {
        r + b
    } else {
        r
    }
}

pub(super) fn negate(value: Number) -> Result<Number, String> {
    match value {
        Number::Int(i) => i
            .checked_neg()
            .map(Number::Int)
            .ok_or_else(|| overflow("-")),
        Number::Float(f) => Ok(Number::Float(-f)),
    }
}

/// How many arguments a function takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Arity {
    Exactly(usize),
    AtLeast(usize),
}

/// A built-in function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Function {
    Sqrt,
    Abs,
    Round,
    Floor,
    Ceil,
    Min,
    Max,
    Ln,
    Log10,
    Sin,
    Cos,
    Tan,
}

impl Function {
    pub(super) fn lookup(name: &str) -> Option<Function> {
        Some(match name {
            "sqrt" => Function::Sqrt,
            "abs" => Function::Abs,
            "round" => Function::Round,
            "floor" => Function::Floor,
            "ceil" => Function::Ceil,
            "min" => Function::Min,
            "max" => Function::Max,
            "ln" => Function::Ln,
            "log10" => Function::Log10,
            "sin" => Function::Sin,
            "cos" => Function::Cos,
            "tan" => Function::Tan,
            _ => return None,
        })
    }

    pub(super) fn arity(self) -> Arity {
        match self {
            Function::Min | Function::Max => Arity::AtLeast(1),
            _ => Arity::Exactly(1),
        }
    }

    /// Applies the function; the parser has checked the argument count against [`Function::arity`].
    pub(super) fn apply(self, name: &str, args: &[Number]) -> Result<Number, String> {
        let [x] = args else {
            return match self {
                Function::Min => extreme(args, Ordering::Less),
                Function::Max => extreme(args, Ordering::Greater),
                _ => Err(format!("'{name}' takes 1 argument, got {}", args.len())),
            };
        };
        let x = *x;
        match self {
            Function::Min | Function::Max => Ok(x),
            Function::Abs => match x {
                Number::Int(i) => i
                    .checked_abs()
                    .map(Number::Int)
                    .ok_or_else(|| overflow(name)),
                Number::Float(f) => Ok(Number::Float(f.abs())),
            },
            Function::Round => Ok(whole(x, f64::round)),
            Function::Floor => Ok(whole(x, f64::floor)),
            Function::Ceil => Ok(whole(x, f64::ceil)),
            Function::Sqrt if x.as_f64() < 0.0 => Err(format!("sqrt({x}) is not a real number")),
            Function::Sqrt => finite(x.as_f64().sqrt(), name),
            Function::Ln | Function::Log10 if x.as_f64() <= 0.0 => Err(format!(
                "{name}({x}) is undefined: the argument must be positive"
            )),
            Function::Ln => finite(x.as_f64().ln(), name),
            Function::Log10 => finite(x.as_f64().log10(), name),
            Function::Sin => finite(x.as_f64().sin(), name),
            Function::Cos => finite(x.as_f64().cos(), name),
            Function::Tan => finite(x.as_f64().tan(), name),
        }
    }
}

/// The argument that wins every comparison, keeping its own type (`max(1, 2.5)` = 2.5).
fn extreme(args: &[Number], wins: Ordering) -> Result<Number, String> {
    let (first, rest) = args
        .split_first()
        .ok_or_else(|| "takes at least 1 argument, got 0".to_owned())?;
    let mut best = *first;
    for candidate in rest {
        if compare(*candidate, best) == wins {
            best = *candidate;
        }
    }
    Ok(best)
}

fn compare(a: Number, b: Number) -> Ordering {
    match (a, b) {
        // Compared exactly: large integers lose precision as floats.
        (Number::Int(a), Number::Int(b)) => a.cmp(&b),
        // Floats are finite, so `total_cmp` orders them as numbers (with -0 < +0).
        _ => a.as_f64().total_cmp(&b.as_f64()),
    }
}

/// Rounds with `f`; a whole result becomes an integer when it fits in `i64`.
fn whole(value: Number, f: fn(f64) -> f64) -> Number {
    match value {
        Number::Int(_) => value,
        Number::Float(x) => {
            let rounded = f(x);
            // i64::MIN is exactly -2^63; i64::MAX rounds up to 2^63 as f64, which does not fit.
            if (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&rounded) {
                Number::Int(rounded as i64)
            } else {
                Number::Float(rounded)
            }
        }
    }
}
