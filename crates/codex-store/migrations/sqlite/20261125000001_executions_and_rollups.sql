-- Derived tables that the writer keeps in the same transaction as the events they come from,
-- backfilled here from the events already stored. None is read to rebuild an event: they are
-- indexes and sums for the execution log, the analytics and the session list.

-- A session's title: the first user message, cut to 100 characters.
ALTER TABLE sessions ADD COLUMN title TEXT;

UPDATE sessions SET title = (
    SELECT substr(payload ->> '$.content', 1, 100) FROM events
    WHERE events.session_id = sessions.id AND kind = 'message'
      AND payload ->> '$.role' = 'user'
    ORDER BY seq LIMIT 1);

-- One row per plugin execution, clustered by time: the execution log reads a range of it
-- newest first, filtering on the columns beside the key, and joins the page to `events` for
-- the payloads. Written in the same transaction as the event; removed with its session.
CREATE TABLE executions (
    ts          TEXT    NOT NULL,
    session_id  TEXT    NOT NULL,
    seq         INTEGER NOT NULL,
    plugin      TEXT    NOT NULL,
    status      TEXT    NOT NULL,
    source      TEXT    NOT NULL,
    duration_ms INTEGER NOT NULL,
    PRIMARY KEY (ts, session_id, seq)
) WITHOUT ROWID;

-- Only payloads the store can read as executions (the writer refuses any other since).
INSERT INTO executions (ts, session_id, seq, plugin, status, source, duration_ms)
SELECT ts, session_id, seq, payload ->> '$.plugin', payload ->> '$.status',
       payload ->> '$.source', payload ->> '$.duration_ms'
FROM events
WHERE kind = 'plugin_execution'
  AND json_type(payload, '$.plugin') = 'text'
  AND json_type(payload, '$.status') = 'text'
  AND payload ->> '$.source' IN ('api', 'cli', 'chat', 'mcp')
  AND json_type(payload, '$.duration_ms') = 'integer'
  AND payload ->> '$.duration_ms' >= 0
  AND json_type(payload, '$.input') IS NOT NULL;

-- Per hour (since the Unix epoch, UTC) and plugin: calls, failed calls, calls per source, and
-- a histogram of durations (crate::histogram: one byte of bucket number and eight bytes of
-- big-endian count per non-empty bucket). Analytics over any window of whole hours sum these
-- rows; the execution log skips hours without a match through them.
CREATE TABLE execution_rollup (
    hour      INTEGER NOT NULL,
    plugin    TEXT    NOT NULL,
    calls     INTEGER NOT NULL,
    errors    INTEGER NOT NULL,
    api       INTEGER NOT NULL,
    cli       INTEGER NOT NULL,
    chat      INTEGER NOT NULL,
    mcp       INTEGER NOT NULL,
    histogram BLOB    NOT NULL,
    PRIMARY KEY (hour, plugin)
) WITHOUT ROWID;

-- The bucket bounds are crate::histogram::BOUNDS.
INSERT INTO execution_rollup (hour, plugin, calls, errors, api, cli, chat, mcp, histogram)
SELECT hour, plugin, SUM(calls), SUM(errors), SUM(api), SUM(cli), SUM(chat), SUM(mcp),
       unhex(group_concat(printf('%02x%016x', bucket, calls), '' ORDER BY bucket))
FROM (
    SELECT unixepoch(ts) / 3600 AS hour, plugin,
           CASE
                WHEN duration_ms < 1 THEN 0 WHEN duration_ms < 2 THEN 1 WHEN duration_ms < 3 THEN 2 WHEN duration_ms < 4 THEN 3
                WHEN duration_ms < 5 THEN 4 WHEN duration_ms < 6 THEN 5 WHEN duration_ms < 7 THEN 6 WHEN duration_ms < 8 THEN 7
                WHEN duration_ms < 10 THEN 8 WHEN duration_ms < 12 THEN 9 WHEN duration_ms < 14 THEN 10 WHEN duration_ms < 16 THEN 11
                WHEN duration_ms < 20 THEN 12 WHEN duration_ms < 24 THEN 13 WHEN duration_ms < 28 THEN 14 WHEN duration_ms < 32 THEN 15
                WHEN duration_ms < 40 THEN 16 WHEN duration_ms < 48 THEN 17 WHEN duration_ms < 56 THEN 18 WHEN duration_ms < 64 THEN 19
                WHEN duration_ms < 80 THEN 20 WHEN duration_ms < 96 THEN 21 WHEN duration_ms < 112 THEN 22 WHEN duration_ms < 128 THEN 23
                WHEN duration_ms < 160 THEN 24 WHEN duration_ms < 192 THEN 25 WHEN duration_ms < 224 THEN 26 WHEN duration_ms < 256 THEN 27
                WHEN duration_ms < 320 THEN 28 WHEN duration_ms < 384 THEN 29 WHEN duration_ms < 448 THEN 30 WHEN duration_ms < 512 THEN 31
                WHEN duration_ms < 640 THEN 32 WHEN duration_ms < 768 THEN 33 WHEN duration_ms < 896 THEN 34 WHEN duration_ms < 1024 THEN 35
                WHEN duration_ms < 1280 THEN 36 WHEN duration_ms < 1536 THEN 37 WHEN duration_ms < 1792 THEN 38 WHEN duration_ms < 2048 THEN 39
                WHEN duration_ms < 2560 THEN 40 WHEN duration_ms < 3072 THEN 41 WHEN duration_ms < 3584 THEN 42 WHEN duration_ms < 4096 THEN 43
                WHEN duration_ms < 5120 THEN 44 WHEN duration_ms < 6144 THEN 45 WHEN duration_ms < 7168 THEN 46 WHEN duration_ms < 8192 THEN 47
                WHEN duration_ms < 10240 THEN 48 WHEN duration_ms < 12288 THEN 49 WHEN duration_ms < 14336 THEN 50 WHEN duration_ms < 16384 THEN 51
                WHEN duration_ms < 20480 THEN 52 WHEN duration_ms < 24576 THEN 53 WHEN duration_ms < 28672 THEN 54 WHEN duration_ms < 32768 THEN 55
                WHEN duration_ms < 40960 THEN 56 WHEN duration_ms < 49152 THEN 57 WHEN duration_ms < 57344 THEN 58 WHEN duration_ms < 65536 THEN 59
                WHEN duration_ms < 81920 THEN 60 WHEN duration_ms < 98304 THEN 61 WHEN duration_ms < 114688 THEN 62 WHEN duration_ms < 131072 THEN 63
                WHEN duration_ms < 163840 THEN 64 WHEN duration_ms < 196608 THEN 65 WHEN duration_ms < 229376 THEN 66 WHEN duration_ms < 262144 THEN 67
                WHEN duration_ms < 327680 THEN 68 WHEN duration_ms < 393216 THEN 69 WHEN duration_ms < 458752 THEN 70 WHEN duration_ms < 524288 THEN 71
                WHEN duration_ms < 655360 THEN 72 WHEN duration_ms < 786432 THEN 73 WHEN duration_ms < 917504 THEN 74 WHEN duration_ms < 1048576 THEN 75
                ELSE 76 END AS bucket,
           COUNT(*) AS calls, SUM(status <> 'ok') AS errors,
           SUM(source = 'api') AS api, SUM(source = 'cli') AS cli,
           SUM(source = 'chat') AS chat, SUM(source = 'mcp') AS mcp
    FROM executions
    GROUP BY 1, 2, 3)
GROUP BY hour, plugin;

-- The days (since the Unix epoch, UTC) on which a session had a message.
CREATE TABLE session_days (
    day        INTEGER NOT NULL,
    session_id TEXT    NOT NULL,
    PRIMARY KEY (day, session_id)
) WITHOUT ROWID;

CREATE INDEX session_days_session ON session_days (session_id);

INSERT INTO session_days (day, session_id)
SELECT DISTINCT unixepoch(ts) / 86400, session_id FROM events WHERE kind = 'message';
