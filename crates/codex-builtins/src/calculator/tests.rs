//! The calculator against expressions, numbers, errors and limits.

use std::f64::consts;
use std::time::{Duration, Instant};

use super::*;

async fn run(input: Value) -> Result<Value> {
    let ctx = ExecContext::new("test", Instant::now() + Duration::from_secs(10));
    CalculatorPlugin::new().execute(input, &ctx).await
}

/// `expected` is the JSON result: `json!(3)` for an integer, `json!(3.0)` for a float.
async fn check(expression: &str, expected: Value) {
    let got = run(json!(expression)).await;
    let expected = json!({"expression": expression, "result": expected});
    assert_eq!(got, Ok(expected), "{expression}");
}

async fn check_error(input: Value, message: &str) {
    let got = run(input.clone()).await;
    assert_eq!(got, Err(PluginError::invalid_input(message)), "{input}");
}

#[tokio::test]
async fn precedence_and_associativity() {
    check("1+2*3", json!(7)).await;
    check("(1+2)*3", json!(9)).await;
    check("2*(3+4)", json!(14)).await;
    check(" 2 * ( 3 + 4 ) ", json!(14)).await;
    check("10-4-3", json!(3)).await;
    check("100/10/5", json!(2)).await;
    check("2*3^2", json!(18)).await;
    check("2^3^2", json!(512)).await;
    check("(2^3)^2", json!(64)).await;
    check("-2^2", json!(-4)).await;
    check("(-2)^2", json!(4)).await;
    check("2^-1", json!(0.5)).await;
    check("2^-2^2", json!(0.0625)).await;
    check("-3*-3", json!(9)).await;
    check("+5", json!(5)).await;
    check("--5", json!(5)).await;
    check("-+-5", json!(5)).await;
    check("1 + 2 * 3 - 4 / 2", json!(5)).await;
    check("7%3", json!(1)).await;
    check("2*7%4", json!(2)).await;
    check("2**10", json!(1024)).await;
}

#[tokio::test]
async fn integers_stay_exact_until_a_result_is_not_whole() {
    check("6/2", json!(3)).await;
    check("7/2", json!(3.5)).await;
    check("-7/2", json!(-3.5)).await;
    check("2^10", json!(1024)).await;
    check("2^62", json!(4_611_686_018_427_387_904_i64)).await;
    check("(-2)^63", json!(i64::MIN)).await;
    check("2^0", json!(1)).await;
    check("2^-2", json!(0.25)).await;
    check("1^10000000000", json!(1)).await;
    check("(-1)^10000000001", json!(-1)).await;
    check("0^10000000000", json!(0)).await;
    check("9223372036854775807", json!(i64::MAX)).await;
    check("-9223372036854775807-1", json!(i64::MIN)).await;
    check("-7%3", json!(2)).await;
    check("7%-3", json!(-2)).await;
    check("(-9223372036854775807-1)%-1", json!(0)).await;
}

#[tokio::test]
async fn floats() {
    check("2.0*3", json!(6.0)).await;
    check("1e3", json!(1000.0)).await;
    check("2.5E-1", json!(0.25)).await;
    check(".5+.5", json!(1.0)).await;
    check("5.", json!(5.0)).await;
    check("0.1+0.2", json!(0.1 + 0.2)).await;
    check("7.5%2", json!(1.5)).await;
    check("-7.5%2", json!(0.5)).await;
    check("1/4.0", json!(0.25)).await;
    check("4^0.5", json!(2.0)).await;
    check("2.5^2", json!(6.25)).await;
    check("pi", json!(consts::PI)).await;
    check("e", json!(consts::E)).await;
    check("2*pi", json!(2.0 * consts::PI)).await;
}

#[tokio::test]
async fn every_function() {
    check("sqrt(16)", json!(4.0)).await;
    check("sqrt(2)", json!(2f64.sqrt())).await;
    check("abs(-5)", json!(5)).await;
    check("abs(-2.5)", json!(2.5)).await;
    check("round(2.5)", json!(3)).await;
    check("round(-2.5)", json!(-3)).await;
    check("round(2.4)", json!(2)).await;
    check("round(7)", json!(7)).await;
    check("round(1e300)", json!(1e300)).await;
    check("floor(-2.5)", json!(-3)).await;
    check("floor(7)", json!(7)).await;
    check("ceil(2.1)", json!(3)).await;
    check("ceil(-2.1)", json!(-2)).await;
    check("min(3, 1, 2)", json!(1)).await;
    check("min(5)", json!(5)).await;
    check("min(2, -0.5)", json!(-0.5)).await;
    check("max(3, 1.5, 7)", json!(7)).await;
    check("max(1, 2.5)", json!(2.5)).await;
    check(
        "max(9223372036854775806, 9223372036854775807)",
        json!(i64::MAX),
    )
    .await;
    check("ln(e)", json!(1.0)).await;
    check("ln(1)", json!(0.0)).await;
    check("log10(1000)", json!(3.0)).await;
    check("sin(0)", json!(0.0)).await;
    check("sin(pi/2)", json!(1.0)).await;
    check("cos(0)", json!(1.0)).await;
    check("cos(pi)", json!(-1.0)).await;
    check("tan(0)", json!(0.0)).await;
    check("tan(1)", json!(1f64.tan())).await;
    check("sqrt(abs(-16)) + max(1, min(4, 9))", json!(8.0)).await;
}

#[tokio::test]
async fn division_by_zero() {
    check_error(json!("1/0"), "division by zero at position 2").await;
    check_error(json!("1.5/0"), "division by zero at position 4").await;
    check_error(json!("1/(2-2.0)"), "division by zero at position 2").await;
    check_error(json!("5%0"), "division by zero in '%' at position 2").await;
    check_error(json!("5%0.0"), "division by zero in '%' at position 2").await;
    check_error(
        json!("0^-1"),
        "division by zero: 0 raised to a negative power at position 2",
    )
    .await;
    check_error(
        json!("0.0^-1"),
        "division by zero: 0 raised to a negative power at position 4",
    )
    .await;
}

#[tokio::test]
async fn overflow_is_an_error_not_a_wrap() {
    check_error(
        json!("9223372036854775807+1"),
        "integer overflow in '+' at position 20",
    )
    .await;
    check_error(
        json!("-9223372036854775807-2"),
        "integer overflow in '-' at position 21",
    )
    .await;
    check_error(
        json!("3037000500*3037000500"),
        "integer overflow in '*' at position 11",
    )
    .await;
    check_error(json!("2^63"), "integer overflow in '^' at position 2").await;
    check_error(
        json!("2^10000000000"),
        "integer overflow in '^' at position 2",
    )
    .await;
    check_error(
        json!("(-9223372036854775807-1)/-1"),
        "integer overflow in '/' at position 25",
    )
    .await;
    check_error(
        json!("-(-9223372036854775807-1)"),
        "integer overflow in '-' at position 1",
    )
    .await;
    check_error(
        json!("abs(-9223372036854775807-1)"),
        "integer overflow in 'abs' at position 1",
    )
    .await;
    check_error(
        json!("9223372036854775808"),
        "integer overflow: 9223372036854775808 is larger than 9223372036854775807 at position 1",
    )
    .await;
    check_error(
        json!("1e308*10"),
        "overflow: the result of '*' is too large at position 6",
    )
    .await;
    check_error(
        json!("10.0^400"),
        "overflow: the result of '^' is too large at position 5",
    )
    .await;
    check_error(
        json!("1 + 1e999"),
        "overflow: 1e999 is too large at position 5",
    )
    .await;
}

#[tokio::test]
async fn results_that_are_not_real_numbers() {
    check_error(
        json!("sqrt(-1)"),
        "sqrt(-1) is not a real number at position 1",
    )
    .await;
    check_error(
        json!("2 + sqrt(-0.5)"),
        "sqrt(-0.5) is not a real number at position 5",
    )
    .await;
    check_error(
        json!("ln(0)"),
        "ln(0) is undefined: the argument must be positive at position 1",
    )
    .await;
    check_error(
        json!("log10(-2)"),
        "log10(-2) is undefined: the argument must be positive at position 1",
    )
    .await;
    check_error(
        json!("(-8)^(1/3)"),
        "the result of '^' is not a real number at position 5",
    )
    .await;
}

#[tokio::test]
async fn syntax_errors_point_at_the_position() {
    check_error(json!(""), "expression is empty").await;
    check_error(json!("   "), "expression is empty").await;
    check_error(json!("(1+)"), "unexpected ')' at position 4").await;
    check_error(json!("12+3)"), "unexpected ')' at position 5").await;
    check_error(json!("()"), "unexpected ')' at position 2").await;
    check_error(json!("*2"), "unexpected '*' at position 1").await;
    check_error(json!("1+"), "unexpected end of expression at position 3").await;
    check_error(json!("2**"), "unexpected end of expression at position 4").await;
    check_error(json!("2*(3+4"), "missing ')' for the '(' at position 3").await;
    check_error(json!("max(1"), "missing ')' for the '(' at position 4").await;
    check_error(json!("2 3"), "unexpected '3' at position 3").await;
    check_error(json!("2(3)"), "unexpected '(' at position 2").await;
    check_error(json!("2e"), "unexpected 'e' at position 2").await;
    check_error(json!("1..2"), "unexpected '.2' at position 3").await;
    check_error(json!("."), "unexpected character '.' at position 1").await;
    check_error(json!("2 $ 3"), "unexpected character '$' at position 3").await;
    check_error(json!("max(1,)"), "unexpected ')' at position 7").await;
    check_error(json!("max(1 2)"), "unexpected '2' at position 7").await;
    // Positions count characters, not bytes: U+3000 is one character of three bytes.
    check_error(
        json!("\u{3000}1 $"),
        "unexpected character '$' at position 4",
    )
    .await;
    check_error(json!("\u{3000})"), "unexpected ')' at position 2").await;
    check_error(json!("1 + é"), "unexpected character 'é' at position 5").await;
}

#[tokio::test]
async fn names_and_argument_counts() {
    check_error(json!("foo(1)"), "unknown function 'foo' at position 1").await;
    check_error(json!("x+1"), "unknown identifier 'x' at position 1").await;
    check_error(json!("2*y"), "unknown identifier 'y' at position 3").await;
    check_error(json!("PI"), "unknown identifier 'PI' at position 1").await;
    check_error(
        json!("pi(2)"),
        "'pi' is a constant, not a function at position 1",
    )
    .await;
    check_error(
        json!("sqrt 4"),
        "function 'sqrt' needs its arguments in parentheses, as in sqrt(2) at position 1",
    )
    .await;
    check_error(
        json!("sqrt(1, 2)"),
        "'sqrt' takes 1 argument, got 2 at position 1",
    )
    .await;
    check_error(
        json!("1+sqrt()"),
        "'sqrt' takes 1 argument, got 0 at position 3",
    )
    .await;
    check_error(
        json!("max()"),
        "'max' takes at least 1 argument, got 0 at position 1",
    )
    .await;
    check_error(
        json!("min()"),
        "'min' takes at least 1 argument, got 0 at position 1",
    )
    .await;
}

#[tokio::test]
async fn syntax_errors_win_over_evaluation_errors() {
    // The whole input is parsed before an evaluation error is reported, so the
    // user sees the mistake in what they typed first.
    check_error(json!("1/0 )"), "unexpected ')' at position 5").await;
    check_error(
        json!("1/0 + foo(2)"),
        "unknown function 'foo' at position 7",
    )
    .await;
    // Among evaluation errors, the first one evaluated is reported.
    check_error(json!("1/0 + sqrt(-1)"), "division by zero at position 2").await;
}

#[tokio::test]
async fn input_shapes() {
    assert_eq!(
        run(json!({"expression": "1+1"})).await,
        Ok(json!({"expression": "1+1", "result": 2}))
    );
    check_error(
        json!({"expr": "1"}),
        "unknown field 'expr'; expected 'expression'",
    )
    .await;
    check_error(json!({}), "missing field 'expression'").await;
    check_error(
        json!({"expression": 5}),
        "'expression' must be a string, not a number",
    )
    .await;
    check_error(
        json!(5),
        "expected an expression string or {\"expression\": \"...\"}, not a number",
    )
    .await;
    check_error(
        json!(null),
        "expected an expression string or {\"expression\": \"...\"}, not null",
    )
    .await;
}

#[tokio::test]
async fn long_input_is_bounded() {
    let longest = format!("{}1", "1+".repeat((MAX_EXPRESSION_CHARS - 1) / 2));
    assert_eq!(longest.len(), MAX_EXPRESSION_CHARS - 1);
    check(&longest, json!(5000)).await;
    let too_long = format!("{}1", "1+".repeat(MAX_EXPRESSION_CHARS / 2));
    check_error(
        json!(too_long),
        "expression is too long: 10001 characters, the limit is 10000",
    )
    .await;
}

#[tokio::test]
async fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let nested = |depth: usize| format!("{}1{}", "(".repeat(depth), ")".repeat(depth));
    check(&nested(255), json!(1)).await;
    let too_deep = "expression is nested too deeply (more than 256 levels) at position 257";
    check_error(json!(nested(256)), too_deep).await;
    check_error(json!(nested(4000)), too_deep).await;
    check_error(json!(format!("{}1", "-".repeat(5000))), too_deep).await;
    check_error(
        json!(format!("{}2", "2^".repeat(3000))),
        "expression is nested too deeply (more than 256 levels) at position 513",
    )
    .await;
    check_error(
        json!(format!("{}1{}", "sqrt(".repeat(300), ")".repeat(300))),
        "expression is nested too deeply (more than 256 levels) at position 1281",
    )
    .await;
}
