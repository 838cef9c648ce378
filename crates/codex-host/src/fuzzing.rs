//! Entry points of the fuzz targets in `fuzz/` and of the tests that replay their corpora:
//! each takes arbitrary bytes and checks what must hold for every input.

use codex_plugin::{PluginInfo, PluginKind};

use crate::manifest::Manifest;

/// Manifest parsing: any text parses or fails without panicking, and a parsed manifest
/// answers every question the loader asks of it.
pub fn manifest(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(manifest) = Manifest::parse(text) else {
        return;
    };
    for kind in [
        PluginKind::Native,
        PluginKind::Wasm,
        PluginKind::Python,
        PluginKind::Mcp,
    ] {
        let _ = manifest.check_kind(kind);
    }
    let _ = manifest.settings();
    let _ = manifest.wasm();
    let _ = manifest.python();
    let mut info = PluginInfo::new("fuzzed");
    manifest.apply_metadata(&mut info);
}

/// The Python workers' JSON-RPC line reader over any byte stream, read through a buffer of
/// any size: the lines it returns are the stream's lines, none over the limit, it refuses
/// only a line over the limit, and every line decodes to a response or an error.
#[cfg(feature = "python")]
pub fn json_rpc_lines(data: &[u8]) {
    use crate::python::protocol::Response;
    use crate::python::worker::read_line;

    let Some((&shape, stream)) = data.split_first() else {
        return;
    };
    let capacity = usize::from(shape & 0x0f) + 1;
    let max_line = usize::from(shape >> 4) * 8 + 1;
    let mut reader = tokio::io::BufReader::with_capacity(capacity, stream);
    let mut line = Vec::new();
    let mut consumed = 0;
    futures::executor::block_on(async {
        loop {
            match read_line(&mut reader, &mut line, max_line).await {
                Ok(true) => {
                    assert!(line.len() <= max_line, "a line over the limit was returned");
                    assert_eq!(&stream[consumed..consumed + line.len()], &line[..]);
                    consumed += line.len();
                    assert_eq!(stream[consumed], b'\n', "a line must end at a newline");
                    consumed += 1;
                    if let Ok(response) = serde_json::from_slice::<Response>(&line)
                        && let Some(error) = response.error
                    {
                        let _ = error.into_plugin_error();
                    }
                }
                Ok(false) => {
                    // The end: a last line without a newline is not a response.
                    assert!(stream.len() - consumed <= max_line);
                    break;
                }
                Err(_) => {
                    let rest = &stream[consumed..];
                    let next = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
                    assert!(next > max_line, "a line within the limit was refused");
                    break;
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use codex_corpus::replay;

    #[test]
    fn the_manifest_corpus_replays() {
        replay("manifest", super::manifest);
    }

    #[test]
    #[cfg(feature = "python")]
    fn the_json_rpc_lines_corpus_replays() {
        replay("json_rpc_lines", super::json_rpc_lines);
    }
}
