//! How the writer forms a batch: under concurrency it may wait for appends announced by
//! plugin calls still running ([`AppendIntent`]) before it commits ([`Gather`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;

use super::Command;

/// An append announced to the writer ([`crate::EventStore::announce_append`]); dropping it
/// withdraws the announcement.
#[derive(Debug, Default)]
#[must_use = "the announcement is withdrawn when the intent is dropped"]
pub struct AppendIntent {
    announced: Option<Arc<AtomicUsize>>,
}

impl AppendIntent {
    pub(super) fn new(announced: &Arc<AtomicUsize>) -> Self {
        announced.fetch_add(1, Ordering::Relaxed);
        Self {
            announced: Some(Arc::clone(announced)),
        }
    }
}

impl Drop for AppendIntent {
    fn drop(&mut self) {
        if let Some(announced) = self.announced.take() {
            announced.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// How the writer task forms a batch.
pub(super) struct Batching {
    /// Most commands one batch takes.
    pub(super) max: usize,
    /// Set for a writer on a thread of its own, which may wait for more by blocking it.
    pub(super) gather: Option<Gather>,
}

/// The wait before a commit under concurrency, as `commit_delay` and `commit_siblings` in
/// PostgreSQL: a commit rewrites the same few pages (the session's counter, the rollup row,
/// the index leaves) and, on SQLite, appends each to the WAL whether it carries one event or
/// fifty, so fewer, larger commits cost less per event.
///
/// The writer waits only while at least `siblings` appends are announced
/// ([`AppendIntent`]): plugin calls still running, whose callers will append when they end.
/// Where the calls themselves take the time (a Python plugin's workers, a Wasm pool), those
/// appends come in one by one and would each pay for a commit of their own; waiting gathers
/// them. Where the calls are instant, few are ever running at once, the commit is what every
/// caller waits for, and the writer commits at once.
#[derive(Debug, Clone)]
pub(super) struct Gather {
    step: Duration,
    steps: u32,
    siblings: usize,
    announced: Arc<AtomicUsize>,
}

impl Gather {
    /// The steps that make up `delay`; `None` for no delay.
    pub(super) fn within(
        delay: Duration,
        siblings: usize,
        announced: &Arc<AtomicUsize>,
    ) -> Option<Self> {
        if delay.is_zero() {
            return None;
        }
        let step = delay.min(GATHER_STEP);
        let steps = u32::try_from(delay.as_nanos().div_ceil(step.as_nanos())).unwrap_or(u32::MAX);
        Some(Self {
            step,
            steps,
            siblings: siblings.max(1),
            announced: Arc::clone(announced),
        })
    }

    /// Blocks the thread while enough appends are announced, adding what arrives to
    /// `commands`, up to `max` of them.
    pub(super) fn more(
        &self,
        rx: &mut mpsc::Receiver<Command>,
        commands: &mut Vec<Command>,
        max: usize,
    ) {
        for _ in 0..self.steps {
            if commands.len() >= max || self.announced.load(Ordering::Relaxed) < self.siblings {
                return;
            }
            std::thread::sleep(self.step);
            while commands.len() < max {
                match rx.try_recv() {
                    Ok(command) => commands.push(command),
                    Err(_) => break,
                }
            }
        }
    }
}

/// The longest single wait of a [`Gather`].
const GATHER_STEP: Duration = Duration::from_micros(50);

#[cfg(test)]
mod tests {
    use tokio::sync::oneshot;

    use super::*;

    #[test]
    fn gather_splits_the_delay_into_steps() {
        let announced = Arc::default();
        assert!(Gather::within(Duration::ZERO, 5, &announced).is_none());
        let gather = Gather::within(Duration::from_micros(200), 5, &announced).unwrap();
        assert_eq!((gather.step, gather.steps), (GATHER_STEP, 4));
        let short = Gather::within(Duration::from_micros(30), 5, &announced).unwrap();
        assert_eq!((short.step, short.steps), (Duration::from_micros(30), 1));
    }

    fn close_command() -> Command {
        Command::Close {
            reply: oneshot::channel().0,
        }
    }

    #[test]
    fn gather_waits_only_while_enough_appends_are_announced() {
        let (tx, mut rx) = mpsc::channel(16);
        for _ in 0..5 {
            tx.try_send(close_command()).unwrap();
        }
        let handle_side = Arc::new(AtomicUsize::new(0));
        let gather = Gather::within(Duration::from_micros(200), 2, &handle_side).unwrap();
        // One announced append: below the siblings, so the writer commits at once.
        let lone = AppendIntent::new(&handle_side);
        let mut commands = vec![close_command()];
        gather.more(&mut rx, &mut commands, 64);
        assert_eq!(commands.len(), 1, "no wait below the siblings");
        assert_eq!(rx.len(), 5);
        // Two announced: it waits, taking what arrives, up to the batch limit.
        let other = AppendIntent::new(&handle_side);
        gather.more(&mut rx, &mut commands, 3);
        assert_eq!(commands.len(), 3, "stops at the batch limit");
        assert_eq!(rx.len(), 3, "leaves the rest queued");
        let mut commands = Vec::new();
        gather.more(&mut rx, &mut commands, 64);
        assert_eq!(commands.len(), 3);
        assert_eq!(rx.len(), 0);
        // Dropping an intent withdraws it.
        drop((lone, other));
        assert_eq!(handle_side.load(Ordering::Relaxed), 0);
        assert!(AppendIntent::default().announced.is_none());
    }
}
