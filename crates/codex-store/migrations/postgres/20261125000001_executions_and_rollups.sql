-- Derived tables that the writer keeps in the same transaction as the events they come from,
-- backfilled here from the events already stored. None is read to rebuild an event: they are
-- indexes and sums for the execution log, the analytics and the session list.

-- A session's title: the first user message, cut to 100 characters.
ALTER TABLE sessions ADD COLUMN title TEXT;

UPDATE sessions SET title = (
    SELECT left(payload ->> 'content', 100) FROM events
    WHERE events.session_id = sessions.id AND kind = 'message'
      AND payload ->> 'role' = 'user'
    ORDER BY seq LIMIT 1);

-- One row per plugin execution, keyed by time: the execution log reads a range of it newest
-- first, filtering on the columns beside the key, and joins the page to `events` for the
-- payloads. Written in the same transaction as the event; removed with its session.
CREATE TABLE executions (
    ts          TIMESTAMPTZ NOT NULL,
    session_id  TEXT        NOT NULL,
    seq         BIGINT      NOT NULL,
    plugin      TEXT        NOT NULL,
    status      TEXT        NOT NULL,
    source      TEXT        NOT NULL,
    duration_ms BIGINT      NOT NULL,
    PRIMARY KEY (ts, session_id, seq)
);

-- Only payloads the store can read as executions (the writer refuses any other since).
INSERT INTO executions (ts, session_id, seq, plugin, status, source, duration_ms)
SELECT ts, session_id, seq, payload ->> 'plugin', payload ->> 'status',
       payload ->> 'source', (payload ->> 'duration_ms')::bigint
FROM events
WHERE kind = 'plugin_execution'
  AND jsonb_typeof(payload -> 'plugin') = 'string'
  AND jsonb_typeof(payload -> 'status') = 'string'
  AND payload ->> 'source' IN ('api', 'cli', 'chat', 'mcp')
  AND jsonb_typeof(payload -> 'duration_ms') = 'number'
  AND payload ->> 'duration_ms' ~ '^[0-9]{1,18}$'
  AND payload ? 'input';

-- The histogram of durations (crate::histogram) as one count per bucket, from the buckets and
-- counts of the non-empty ones.
CREATE FUNCTION codex_histogram(buckets integer[], counts bigint[]) RETURNS bigint[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT array_agg(COALESCE(given.count, 0) ORDER BY every.bucket)
    FROM generate_series(0, 76) AS every (bucket)
    LEFT JOIN unnest(buckets, counts) AS given (bucket, count) ON given.bucket = every.bucket
$$;

-- Two histograms added bucket by bucket (the writer adds a batch's to the stored one, or takes
-- a purged session's away with negative counts).
CREATE FUNCTION codex_histogram_add(a bigint[], b bigint[]) RETURNS bigint[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT array_agg(COALESCE(x, 0) + COALESCE(y, 0) ORDER BY i)
    FROM unnest(a, b) WITH ORDINALITY AS pair (x, y, i)
$$;

-- Per hour (since the Unix epoch, UTC) and plugin: calls, failed calls, calls per source, and
-- a histogram of durations. Analytics over any window of whole hours sum these rows; the
-- execution log skips hours without a match through them.
CREATE TABLE execution_rollup (
    hour      BIGINT   NOT NULL,
    plugin    TEXT     NOT NULL,
    calls     BIGINT   NOT NULL,
    errors    BIGINT   NOT NULL,
    api       BIGINT   NOT NULL,
    cli       BIGINT   NOT NULL,
    chat      BIGINT   NOT NULL,
    mcp       BIGINT   NOT NULL,
    histogram BIGINT[] NOT NULL,
    PRIMARY KEY (hour, plugin)
);

-- The bucket bounds are crate::histogram::BOUNDS: `width_bucket` counts the bounds at or below
-- a duration, which is its bucket.
INSERT INTO execution_rollup (hour, plugin, calls, errors, api, cli, chat, mcp, histogram)
SELECT hour, plugin, SUM(calls), SUM(errors), SUM(api), SUM(cli), SUM(chat), SUM(mcp),
       codex_histogram(array_agg(bucket), array_agg(calls))
FROM (
    SELECT floor(extract(epoch FROM ts) / 3600)::bigint AS hour, plugin,
           width_bucket(duration_ms, ARRAY[
        1,2,3,4,5,6,7,8,10,12,14,16,20,24,28,32,40,48,56,64,80,96,112,128,160,192,224,
        256,320,384,448,512,640,768,896,1024,1280,1536,1792,2048,2560,3072,3584,4096,
        5120,6144,7168,8192,10240,12288,14336,16384,20480,24576,28672,32768,40960,49152,
        57344,65536,81920,98304,114688,131072,163840,196608,229376,262144,327680,393216,
        458752,524288,655360,786432,917504,1048576]::bigint[]) AS bucket,
           COUNT(*) AS calls, COUNT(*) FILTER (WHERE status <> 'ok') AS errors,
           COUNT(*) FILTER (WHERE source = 'api') AS api,
           COUNT(*) FILTER (WHERE source = 'cli') AS cli,
           COUNT(*) FILTER (WHERE source = 'chat') AS chat,
           COUNT(*) FILTER (WHERE source = 'mcp') AS mcp
    FROM executions
    GROUP BY 1, 2, 3) AS per_bucket
GROUP BY hour, plugin;

-- The days (since the Unix epoch, UTC) on which a session had a message.
CREATE TABLE session_days (
    day        BIGINT NOT NULL,
    session_id TEXT   NOT NULL,
    PRIMARY KEY (day, session_id)
);

CREATE INDEX session_days_session ON session_days (session_id);

INSERT INTO session_days (day, session_id)
SELECT DISTINCT floor(extract(epoch FROM ts) / 86400)::bigint, session_id
FROM events WHERE kind = 'message';
