-- Sessions and their append-only event log.
-- `last_seq` is the per-session counter that makes `events.seq` gapless: every append bumps it
-- with an upsert that row-locks the session until the inserting transaction commits, so
-- several server processes writing one session are serialised on that row.
CREATE TABLE sessions (
    id            TEXT        PRIMARY KEY,
    created_at    TIMESTAMPTZ NOT NULL,
    last_activity TIMESTAMPTZ NOT NULL,
    message_count BIGINT      NOT NULL DEFAULT 0,
    last_seq      BIGINT      NOT NULL DEFAULT 0
);

CREATE INDEX sessions_last_activity ON sessions (last_activity);

CREATE TABLE events (
    session_id TEXT        NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    seq        BIGINT      NOT NULL CHECK (seq > 0),
    id         UUID        NOT NULL UNIQUE,
    kind       TEXT        NOT NULL CHECK (kind IN ('message', 'plugin_execution', 'tool_call', 'tool_result', 'reset', 'error')),
    ts         TIMESTAMPTZ NOT NULL,
    payload    JSONB       NOT NULL,
    PRIMARY KEY (session_id, seq)
);

-- Messages, plugin logs and the last reset are found per kind without scanning the whole log.
CREATE INDEX events_session_kind_seq ON events (session_id, kind, seq);
