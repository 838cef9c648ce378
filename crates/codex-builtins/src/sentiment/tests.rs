//! Sentiment scores of texts, one and many, and bad input.

use std::time::{Duration, Instant};

use super::*;

async fn run(input: Value) -> Result<Value> {
    let ctx = ExecContext::new("test", Instant::now() + Duration::from_secs(10));
    SentimentPlugin::new().execute(input, &ctx).await
}

async fn check(input: Value, expected: Result<Value>) {
    assert_eq!(run(input.clone()).await, expected, "{input}");
}

async fn label_of(text: &str) -> Value {
    let got = run(json!(text)).await.expect("scored");
    got["label"].clone()
}

#[tokio::test]
async fn scores_match_the_reference_vader() {
    // The example of VADER's README, scored by the Python reference implementation.
    check(
        json!("VADER is smart, handsome, and funny."),
        Ok(json!({
            "label": "positive",
            "scores": {"compound": 0.8316, "pos": 0.746, "neu": 0.254, "neg": 0.0}
        })),
    )
    .await;
    check(
        json!(""),
        Ok(json!({
            "label": "neutral",
            "scores": {"compound": 0.0, "pos": 0.0, "neu": 0.0, "neg": 0.0}
        })),
    )
    .await;
}

#[tokio::test]
async fn labels_follow_the_compound_score() {
    assert_eq!(
        label_of("I love this project, it is great!").await,
        "positive"
    );
    assert_eq!(
        label_of("This is terrible and I hate it.").await,
        "negative"
    );
    assert_eq!(label_of("The file has three lines.").await, "neutral");
    assert_eq!(label_of("The build is not good.").await, "negative");
}

#[tokio::test]
async fn input_shapes() {
    let one = run(json!("good")).await;
    check(json!({"text": "good"}), one.clone()).await;
    let many = run(json!(["good", "bad"])).await.expect("scored");
    let results = many["results"].as_array().expect("results");
    assert_eq!(results.len(), 2);
    assert_eq!(Ok(results[0].clone()), one);
    assert_eq!(results[1]["label"], "negative");
    check(json!({"texts": ["good", "bad"]}), Ok(many)).await;
    check(json!([]), Ok(json!({"results": []}))).await;
}

#[tokio::test]
async fn large_input_is_scored_off_the_async_workers() {
    let text = "What a wonderful day. ".repeat(2_000);
    assert!(text.len() > BLOCKING_THRESHOLD_BYTES);
    let got = run(json!(text)).await.expect("scored");
    assert_eq!(got["label"], "positive");
}

#[tokio::test]
async fn bad_input_is_rejected() {
    let invalid = |m: &str| Err(PluginError::invalid_input(m));
    check(
        json!(3),
        invalid("expected a text, a list of texts, {\"text\": \"...\"} or {\"texts\": [...]}, not a number"),
    )
    .await;
    check(
        json!(["ok", 1]),
        invalid("item 1 must be a string, not a number"),
    )
    .await;
    check(
        json!({"texts": ["ok", null]}),
        invalid("texts[1] must be a string, not null"),
    )
    .await;
    check(
        json!({"texts": "ok"}),
        invalid("'texts' must be an array of strings, not a string"),
    )
    .await;
    check(
        json!({"text": 1}),
        invalid("'text' must be a string, not a number"),
    )
    .await;
    check(
        json!({"text": "a", "texts": []}),
        invalid("give either 'text' or 'texts', not both"),
    )
    .await;
    check(
        json!({}),
        invalid("missing field 'text' (or 'texts' for a list)"),
    )
    .await;
    check(
        json!({"sentence": "hi"}),
        invalid("unknown field 'sentence'; expected 'text', 'texts'"),
    )
    .await;
}

#[tokio::test]
async fn initialize_builds_the_analyzer_once() {
    let plugin = SentimentPlugin::new();
    assert!(plugin.analyzer.get().is_none());
    plugin.initialize().await.expect("initialized");
    let built = plugin.analyzer.get().map(|a| a as *const _);
    assert!(built.is_some());
    let ctx = ExecContext::new("test", Instant::now() + Duration::from_secs(10));
    plugin.execute(json!("fine"), &ctx).await.expect("scored");
    assert_eq!(plugin.analyzer.get().map(|a| a as *const _), built);
}
