//! The schemas of server-sent events as they are on the wire, for the OpenAPI document: an
//! object with the event's name and its `data` text, which for `/chat/stream` is JSON of a
//! documented schema (`contentMediaType` and `contentSchema`, as OpenAPI 3.1 validators read
//! an event stream's items).

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Ref, Schema, Type};
use utoipa::{PartialSchema, ToSchema};

use crate::dto::chat::StreamEvent;

/// The names of `/chat/stream`'s events (`StreamEvent`'s `event` values).
const CHAT_EVENTS: [&str; 8] = [
    "turn",
    "delta",
    "tool_call",
    "progress",
    "approval_required",
    "tool_result",
    "done",
    "error",
];

/// One event of `POST /chat/stream`.
pub struct ChatStreamFrame;

impl PartialSchema for ChatStreamFrame {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some(
                "One server-sent event: `event` names it and `data` is its JSON, a `StreamEvent` with the same `event`.",
            ))
            .property(
                "event",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(CHAT_EVENTS)),
            )
            .property(
                "data",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .content_media_type("application/json")
                    .content_schema(Some(Ref::from_schema_name(<StreamEvent as ToSchema>::name()))),
            )
            .required("event")
            .required("data")
            .into()
    }
}

impl ToSchema for ChatStreamFrame {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((
            <StreamEvent as ToSchema>::name().into_owned(),
            <StreamEvent as PartialSchema>::schema(),
        ));
        <StreamEvent as ToSchema>::schemas(schemas);
    }
}

/// One event of a streamed `POST /v1/chat/completions`, as OpenAI sends them: unnamed
/// (`message`), its data a `chat.completion.chunk` object, or `[DONE]` last.
pub struct CompletionStreamFrame;

impl PartialSchema for CompletionStreamFrame {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some(
                "One server-sent event: `data` is a `chat.completion.chunk` object as JSON, or `[DONE]` at the end.",
            ))
            .property(
                "event",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(["message"])),
            )
            .property("data", ObjectBuilder::new().schema_type(Type::String))
            .required("data")
            .into()
    }
}

impl ToSchema for CompletionStreamFrame {}
