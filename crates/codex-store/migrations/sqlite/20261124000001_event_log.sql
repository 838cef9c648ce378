-- Sessions and their append-only event log.
-- `last_seq` is the per-session counter that makes `events.seq` gapless: every append bumps it
-- inside the same write transaction that inserts the events.
CREATE TABLE sessions (
    id            TEXT    PRIMARY KEY NOT NULL,
    created_at    TEXT    NOT NULL,
    last_activity TEXT    NOT NULL,
    message_count INTEGER NOT NULL DEFAULT 0,
    last_seq      INTEGER NOT NULL DEFAULT 0
);

CREATE INDEX sessions_last_activity ON sessions (last_activity);

-- Clustered on (session_id, seq) so a timeline page is one contiguous range scan.
CREATE TABLE events (
    session_id TEXT    NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    seq        INTEGER NOT NULL CHECK (seq > 0),
    id         TEXT    NOT NULL UNIQUE,
    kind       TEXT    NOT NULL CHECK (kind IN ('message', 'plugin_execution', 'tool_call', 'tool_result', 'reset', 'error')),
    ts         TEXT    NOT NULL,
    payload    TEXT    NOT NULL,
    PRIMARY KEY (session_id, seq)
) WITHOUT ROWID;

-- Messages, plugin logs and the last reset are found per kind without scanning the whole log.
CREATE INDEX events_session_kind_seq ON events (session_id, kind, seq);
