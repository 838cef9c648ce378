//! Parsing huggingface requests: tasks, texts and their limits.

use super::*;
use serde_json::json;

fn check(input: Value, expected: Result<Request, &str>) {
    let got = Request::parse(input.clone());
    match (got, expected) {
        (Ok(got), Ok(expected)) => assert_eq!(got, expected, "{input}"),
        (Err(err), Err(needle)) => {
            assert!(
                matches!(err, PluginError::InvalidInput(_)),
                "{input}: {err:?}"
            );
            assert!(err.to_string().contains(needle), "{input}: {err}");
        }
        (got, expected) => panic!("{input}: got {got:?}, expected {expected:?}"),
    }
}

#[test]
fn inputs_parse_into_requests() {
    let one = |s: &str| Texts::One(s.to_owned());
    check(
        json!("I love this"),
        Ok(Request::Classify {
            texts: one("I love this"),
            labels: None,
        }),
    );
    check(
        json!(["x", "y"]),
        Ok(Request::Classify {
            texts: Texts::Many(vec!["x".into(), "y".into()]),
            labels: None,
        }),
    );
    check(
        json!({"task": "embed", "text": "hi"}),
        Ok(Request::Embed(one("hi"))),
    );
    check(
        json!({"task": "similarity", "a": "x", "b": "y"}),
        Ok(Request::SimilarityPair {
            a: "x".into(),
            b: "y".into(),
        }),
    );
    check(
        json!({"task": "similarity", "texts": ["x", "y", "z"]}),
        Ok(Request::SimilarityMatrix(vec![
            "x".into(),
            "y".into(),
            "z".into(),
        ])),
    );
    check(
        json!({"text": "ok", "labels": {"yes": ["sure"]}}),
        Ok(Request::Classify {
            texts: one("ok"),
            labels: Some(LabelExamples::from([("yes".into(), vec!["sure".into()])])),
        }),
    );
}

#[test]
fn bad_inputs_say_what_is_wrong() {
    check(json!(42), Err("expected a string or an object"));
    check(json!([1, 2]), Err("only strings"));
    check(
        json!({"task": "translate", "text": "x"}),
        Err("unknown task 'translate'"),
    );
    check(json!({"task": "embed"}), Err("needs \"text\""));
    check(
        json!({"task": "embed", "texts": []}),
        Err("\"texts\" is empty"),
    );
    check(
        json!({"task": "embed", "text": "a", "texts": ["b"]}),
        Err("not both"),
    );
    check(
        json!({"task": "embed", "text": "a", "b": "c"}),
        Err("'b' is not used"),
    );
    check(
        json!({"task": "similarity", "a": "x"}),
        Err("\"a\" and \"b\""),
    );
    check(
        json!({"task": "similarity", "texts": ["x"]}),
        Err("at least two"),
    );
    check(
        json!({"text": "x", "labels": {}}),
        Err("at least one label"),
    );
    check(json!({"txt": "x"}), Err("unknown field `txt`"));
}
