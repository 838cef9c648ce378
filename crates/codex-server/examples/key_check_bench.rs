//! The cost of the key checks at the edge, alone: what a request presenting a stored user key
//! goes through before its handler runs (the key's SHA-256 and the cache lookup, the rate
//! check, the grant check, the session owner check), timed over many rounds on one thread.
//! Compared with the time a whole logged execute takes, it says what keys cost without the
//! noise of a shared machine's HTTP load (see docs/PERFORMANCE.md, "Keys at the edge").
//!
//! `cargo run --release -p codex-server --example key_check_bench [ROUNDS]` (default 1,000,000)

use std::time::Instant;

use codex_server::access::{KeyRing, SessionOwners};
use codex_store::{KeyRole, NewApiKey, StoreOptions};
use tokio_util::sync::CancellationToken;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rounds: u32 = match std::env::args().nth(1) {
        Some(text) => text.parse()?,
        None => 1_000_000,
    };
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("keys.db").display());
    let store = codex_store::connect(&url, StoreOptions::default()).await?;
    let issued = store
        .create_key(NewApiKey {
            name: "bench".to_owned(),
            role: KeyRole::User,
            grants: vec!["calculator".to_owned(), "echo*".to_owned()],
            rate_per_second: None,
        })
        .await?;
    let stop = CancellationToken::new();
    let ring = KeyRing::start(&[], store.clone(), stop.clone()).await?;
    let owners = SessionOwners::start(store.clone(), stop.clone()).await?;

    // One request as the edge sees it, after the first (which claims the session).
    let check = || async {
        let caller = ring.authenticate(Some(&issued.secret)).await?;
        caller.check_rate()?;
        if !caller.may_run("echo") {
            return Err(codex_server::ApiError::Forbidden("not granted".to_owned()));
        }
        owners.check_write(&caller, "default").await
    };
    check().await?;
    let started = Instant::now();
    for _ in 0..rounds {
        check().await?;
    }
    let elapsed = started.elapsed();
    println!(
        "{rounds} key checks in {:.3} s: {:.0} ns each",
        elapsed.as_secs_f64(),
        elapsed.as_nanos() as f64 / f64::from(rounds)
    );
    stop.cancel();
    store.close().await;
    Ok(())
}
