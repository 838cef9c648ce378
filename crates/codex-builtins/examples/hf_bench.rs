//! Throughput of the `huggingface` plugin's `embed` task, one sentence per call and in
//! batches, on all-MiniLM-L6-v2 (see docs/PERFORMANCE.md, "## Models").
//!
//! `cargo run --release -p codex-builtins --example hf_bench [-- <model_dir>]`;
//! the model folder defaults to `CODEX_TEST_MINILM_DIR`, then the cache that
//! `scripts/fetch-minilm.sh` fills.

#[cfg(feature = "huggingface")]
#[tokio::main]
async fn main() -> std::process::ExitCode {
    match bench::run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("hf_bench: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(not(feature = "huggingface"))]
fn main() {
    eprintln!("hf_bench needs the `huggingface` feature");
}

#[cfg(feature = "huggingface")]
mod bench {
    use std::path::PathBuf;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use codex_builtins::huggingface::{HuggingFacePlugin, HuggingFaceSettings};
    use codex_plugin::{ExecContext, Plugin, PluginError};
    use serde_json::{Value, json};

    /// Everyday sentences of 5 to 20 words, like chat messages.
    const SENTENCES: [&str; 32] = [
        "How do I reverse a linked list in Rust?",
        "The build fails with a linker error on Windows.",
        "I love how fast the new release is.",
        "Can you summarise this pull request for me?",
        "The test suite takes far too long to run on CI.",
        "Please add a retry with exponential backoff to the HTTP client.",
        "What is the difference between a mutex and a read-write lock?",
        "This documentation page is confusing and out of date.",
        "Deploy the service to staging after the migration finishes.",
        "Why does the borrow checker reject this closure?",
        "The dashboard shows a spike in latency every night at two.",
        "Thanks, that fixed it!",
        "Rename the variable to something more descriptive.",
        "Memory usage keeps growing until the process is killed.",
        "Write a unit test for the parser's error messages.",
        "Is there a crate for parsing TOML with comments preserved?",
        "The login page returns a blank screen after the update.",
        "Explain how async runtimes schedule tasks across threads.",
        "Our database queries got slower after adding the index.",
        "Great work on the refactor, the code reads much better now.",
        "Convert this Python script into a command-line tool.",
        "The API returns a 500 error when the body is empty.",
        "Which license should we choose for an open-source library?",
        "Add pagination to the list endpoint.",
        "The cache hit rate dropped below fifty percent yesterday.",
        "How can I profile allocations in a release build?",
        "I'm frustrated that the installer still crashes.",
        "Split this module into smaller files by concept.",
        "Set up a nightly job that backs up the database.",
        "Why is this regular expression so slow on long lines?",
        "The new plugin system makes extensions easy to write.",
        "Make the error message say which file is missing.",
    ];

    fn model_dir() -> PathBuf {
        std::env::args_os()
            .nth(1)
            .or_else(|| std::env::var_os("CODEX_TEST_MINILM_DIR"))
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                let home = std::env::var_os("HOME").map_or_else(PathBuf::new, PathBuf::from);
                home.join(".cache/codexcontinue/models/all-MiniLM-L6-v2")
            })
    }

    fn ctx() -> ExecContext {
        ExecContext::new("bench", Instant::now() + Duration::from_secs(3600))
    }

    /// Runs `make(i)` for `calls` calls on `workers` concurrent tasks; returns the wall time.
    async fn timed(
        plugin: &Arc<HuggingFacePlugin>,
        calls: usize,
        workers: usize,
        make: fn(usize) -> Value,
    ) -> Result<Duration, PluginError> {
        let started = Instant::now();
        let mut tasks = Vec::new();
        for worker in 0..workers {
            let plugin = plugin.clone();
            tasks.push(tokio::spawn(async move {
                for i in (worker..calls).step_by(workers) {
                    plugin.execute(make(i), &ctx()).await?;
                }
                Ok::<(), PluginError>(())
            }));
        }
        for task in tasks {
            task.await
                .map_err(|e| PluginError::Crashed(e.to_string()))??;
        }
        Ok(started.elapsed())
    }

    fn single(i: usize) -> Value {
        json!({"task": "embed", "text": SENTENCES[i % SENTENCES.len()]})
    }

    fn batch(_: usize) -> Value {
        json!({"task": "embed", "texts": SENTENCES})
    }

    fn classify(i: usize) -> Value {
        json!(SENTENCES[i % SENTENCES.len()])
    }

    pub async fn run() -> Result<(), PluginError> {
        let dir = model_dir();
        let started = Instant::now();
        let plugin = Arc::new(HuggingFacePlugin::new(HuggingFaceSettings::new(&dir)));
        plugin.initialize().await?;
        println!(
            "model {} loaded in {} ms; {} cpus",
            dir.display(),
            started.elapsed().as_millis(),
            std::thread::available_parallelism().map_or(1, |n| n.get())
        );
        // Warm-up: first-touch allocations and thread pools.
        timed(&plugin, 16, 1, single).await?;
        timed(&plugin, 2, 1, batch).await?;

        let report = |what: &str, sentences: usize, took: Duration| {
            println!(
                "{what:<40} {sentences:>5} sentences in {:>7.1} ms = {:>7.1} sentences/s",
                took.as_secs_f64() * 1e3,
                sentences as f64 / took.as_secs_f64()
            );
        };
        let calls = 320;
        report(
            "embed, 1 text per call, 1 caller",
            calls,
            timed(&plugin, calls, 1, single).await?,
        );
        report(
            "embed, 1 text per call, 4 callers",
            calls,
            timed(&plugin, calls, 4, single).await?,
        );
        let batches = 20;
        let n = batches * SENTENCES.len();
        report(
            "embed, 32 texts per call, 1 caller",
            n,
            timed(&plugin, batches, 1, batch).await?,
        );
        report(
            "embed, 32 texts per call, 2 callers",
            n,
            timed(&plugin, batches, 2, batch).await?,
        );
        report(
            "classify (zero-shot), 1 text per call",
            calls,
            timed(&plugin, calls, 1, classify).await?,
        );
        Ok(())
    }
}
