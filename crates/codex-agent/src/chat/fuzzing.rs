//! Entry points of the fuzz targets in `fuzz/` and of the tests that replay their corpora:
//! each takes arbitrary bytes and checks what must hold for every input.

use eventsource_stream::Eventsource;
use futures::StreamExt;

use super::command::{Command, parse};
use super::provider::parse_event;

/// The provider SSE parser over any body cut anywhere (as the network cuts it): the events
/// are the same whatever the cuts, and each event's data parses to a chunk, nothing, the end
/// or an error, without panicking.
pub fn sse(data: &[u8]) {
    let Some((&cuts, body)) = data.split_first() else {
        return;
    };
    // The first byte picks the piece size: 1 to 16 bytes, or the whole body at once.
    let piece = usize::from(cuts & 0x0f) + 1;
    let whole = events(&[body]);
    let pieces: Vec<&[u8]> = body.chunks(piece).collect();
    let cut = events(&pieces);
    assert_eq!(whole, cut, "cutting the body changed its events");
    for event in whole.into_iter().flatten() {
        let _ = parse_event(&event);
    }
}

/// Each event's data, or the error that ended the stream.
fn events(pieces: &[&[u8]]) -> Vec<Result<String, String>> {
    let bytes = futures::stream::iter(
        pieces
            .iter()
            .map(|piece| Ok::<_, std::io::Error>(piece.to_vec())),
    );
    futures::executor::block_on(bytes.eventsource().collect::<Vec<_>>())
        .into_iter()
        .map(|event| event.map(|e| e.data).map_err(|e| e.to_string()))
        .collect()
}

/// The `/run` command parser: any message parses without panicking, a command names a
/// plugin without whitespace, and surrounding whitespace never changes the answer.
pub fn run_command(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = parse(text);
    if let Some(Command::Run { plugin, .. }) = &parsed {
        assert!(!plugin.is_empty(), "{text:?} names an empty plugin");
        assert!(
            !plugin.contains(char::is_whitespace),
            "{text:?} names {plugin:?}"
        );
    }
    assert_eq!(parse(&format!(" \t{text}\n ")), parsed, "{text:?}");
}

#[cfg(test)]
mod tests {
    use codex_corpus::replay;

    #[test]
    fn the_sse_corpus_replays() {
        replay("sse", super::sse);
    }

    #[test]
    fn the_run_command_corpus_replays() {
        replay("run_command", super::run_command);
    }
}
