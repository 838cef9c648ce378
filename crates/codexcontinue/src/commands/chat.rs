//! `codexcontinue chat`: a terminal chat in-process. Each line is one turn, streamed as it
//! comes: the model's text as it arrives, tool calls and results as short lines.
//! `/run <plugin> <input>` calls a plugin directly, `/session <id>` switches session,
//! `/exit` or the end of input quits. A tool call that needs approval is asked about at the
//! terminal: y, n, or a (always, for the rest of the session).

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use codex_agent::Answer;
use codex_agent::chat::{Chat, Step, TurnEvent};
use futures::StreamExt;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::app;
use crate::cli::{ChatArgs, Cli};
use crate::settings;

/// Longest tool argument or result shown on one line; the audit timeline has them whole.
const SHOWN_CHARS: usize = 200;

pub async fn chat(cli: &Cli, args: &ChatArgs) -> anyhow::Result<ExitCode> {
    let settings = settings::load(cli, None)?;
    app::init_logging(&settings, true);
    let app = app::start(&settings).await?;
    let chat = app
        .chat()
        .acting_as(Some(&super::local_actor()))
        .approving(args.approval);
    let mut session = args
        .session
        .clone()
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    let interactive = std::io::stdin().is_terminal();
    println!("session {session}");
    if !chat.model_status().configured {
        println!("no model is configured: only /run <plugin> <input> is answered");
    }
    println!("/run <plugin> <input> calls a plugin, /session <id> switches session, /exit quits");
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    loop {
        if interactive {
            print!("> ");
            std::io::stdout().flush()?;
        }
        let Some(line) = lines.next_line().await? else {
            break;
        };
        let line = line.trim();
        match line {
            "" => continue,
            "/exit" | "/quit" => break,
            _ => {}
        }
        if let Some(rest) = line.strip_prefix("/session") {
            match rest.trim() {
                "" => println!("session {session}"),
                id => {
                    session = id.to_owned();
                    println!("session {session}");
                }
            }
            continue;
        }
        turn(&chat, &session, line, &mut lines).await?;
    }
    drop(chat);
    app.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

/// The terminal's lines, read one at a time (by the chat loop, and by an approval question
/// in the middle of a turn).
type Lines = tokio::io::Lines<BufReader<tokio::io::Stdin>>;

/// Prints one turn's events as they arrive, and asks at the terminal when a tool call waits
/// for approval.
async fn turn(chat: &Chat, session: &str, message: &str, lines: &mut Lines) -> anyhow::Result<()> {
    let mut events = chat.turn_stream(session.to_owned(), message.to_owned());
    let mut out = std::io::stdout();
    // Whether the reply's text was already printed from deltas.
    let mut streamed = false;
    while let Some(event) = events.next().await {
        match event {
            Ok(TurnEvent::Delta(text)) => {
                streamed = true;
                write!(out, "{text}")?;
                out.flush()?;
            }
            Ok(TurnEvent::Step(Step::ToolCall {
                plugin, arguments, ..
            })) => {
                end_line(&mut out, &mut streamed)?;
                writeln!(out, "-> {plugin} {}", shorten(&arguments))?;
            }
            Ok(TurnEvent::Step(Step::ToolResult {
                plugin,
                ok,
                output,
                error,
                ..
            })) => {
                end_line(&mut out, &mut streamed)?;
                let shown = match (ok, output, error) {
                    (true, Some(output), _) => shorten(&output),
                    (_, _, Some(error)) => format!("failed: {error}"),
                    (ok, output, None) => {
                        let status = if ok { "ok" } else { "failed" };
                        format!("{status} {}", shorten(&output.unwrap_or(Value::Null)))
                    }
                };
                writeln!(out, "<- {plugin} {shown}")?;
            }
            // A reply or a step-limit error arrives whole in `Done`; the turn's id matters
            // only to HTTP clients that may cancel it.
            Ok(TurnEvent::Progress(report)) => {
                end_line(&mut out, &mut streamed)?;
                let percent = report
                    .fraction
                    .map(|f| format!(" {:.0}%", f * 100.0))
                    .unwrap_or_default();
                let message = report.message.map(|m| format!(" {m}")).unwrap_or_default();
                writeln!(out, ".. {}{percent}{message}", report.plugin)?;
            }
            Ok(TurnEvent::ApprovalRequired(request)) => {
                end_line(&mut out, &mut streamed)?;
                write!(
                    out,
                    "?? run {} {}? [y]es, [n]o, [a]lways in this session: ",
                    request.plugin,
                    shorten(&request.arguments)
                )?;
                out.flush()?;
                // The end of input answers no.
                let line = lines.next_line().await?.unwrap_or_default();
                let (approved, remember) = match line.trim().to_ascii_lowercase().as_str() {
                    "y" | "yes" => (true, false),
                    "a" | "always" => (true, true),
                    _ => (false, false),
                };
                let answer = Answer {
                    approved,
                    remember,
                    by: chat.actor().map(str::to_owned),
                };
                // Expired meanwhile: the turn already went on with a denial.
                if chat
                    .approvals()
                    .answer(request.approval_id, answer)
                    .is_err()
                {
                    writeln!(out, "(too late: the call was already refused)")?;
                }
            }
            Ok(TurnEvent::Step(_) | TurnEvent::Started { .. }) => {}
            Ok(TurnEvent::Done(reply)) => {
                if streamed {
                    writeln!(out)?;
                } else {
                    writeln!(out, "{}", reply.reply)?;
                }
                break;
            }
            Err(error) => {
                end_line(&mut out, &mut streamed)?;
                writeln!(out, "error ({}): {error}", error.code())?;
                break;
            }
        }
    }
    Ok(())
}

/// Ends a line of streamed text before a line of its own.
fn end_line(out: &mut impl Write, streamed: &mut bool) -> std::io::Result<()> {
    if std::mem::take(streamed) {
        writeln!(out)?;
    }
    Ok(())
}

fn shorten(value: &Value) -> String {
    let text = match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if text.chars().count() <= SHOWN_CHARS {
        text
    } else {
        let cut: String = text.chars().take(SHOWN_CHARS).collect();
        format!("{cut}...")
    }
}
