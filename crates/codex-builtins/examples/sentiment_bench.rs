//! Calls per second of the `sentiment` plugin through `Plugin::execute`, one text per call
//! and 32 texts per call (see docs/PERFORMANCE.md, "## Models").
//!
//! `cargo run --release -p codex-builtins --example sentiment_bench`

use std::time::{Duration, Instant};

use codex_builtins::sentiment::SentimentPlugin;
use codex_plugin::{ExecContext, Plugin};
use serde_json::{Value, json};

const TEXTS: [&str; 8] = [
    "I love how fast the new release is!",
    "The build fails with a linker error on Windows.",
    "This is fine, I guess.",
    "Terrible documentation, I could not find anything.",
    "Thanks, that fixed it :)",
    "The meeting is at 3 pm.",
    "Not bad at all, actually quite good.",
    "I hate flaky tests so much.",
];

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let plugin = SentimentPlugin::new();
    if let Err(e) = plugin.initialize().await {
        eprintln!("sentiment_bench: {e}");
        std::process::exit(1);
    }
    let single = measure(&plugin, |i| json!(TEXTS[i % TEXTS.len()])).await;
    println!("sentiment, 1 text per call: {single:.0} calls/s");
    let batch: Vec<&str> = TEXTS.iter().cycle().take(32).copied().collect();
    let batched = measure(&plugin, |_| json!(batch)).await;
    println!(
        "sentiment, 32 texts per call: {batched:.0} calls/s ({:.0} texts/s)",
        batched * 32.0
    );
}

/// Calls per second over two seconds, after a short warm-up.
async fn measure(plugin: &SentimentPlugin, input: impl Fn(usize) -> Value) -> f64 {
    let ctx = || ExecContext::new("bench", Instant::now() + Duration::from_secs(60));
    for i in 0..100 {
        let _ = plugin.execute(input(i), &ctx()).await;
    }
    let started = Instant::now();
    let mut calls = 0usize;
    while started.elapsed() < Duration::from_secs(2) {
        if plugin.execute(input(calls), &ctx()).await.is_err() {
            eprintln!("sentiment_bench: a call failed");
            std::process::exit(1);
        }
        calls += 1;
    }
    calls as f64 / started.elapsed().as_secs_f64()
}
