-- Approvals leave events of their own kind: a tool call asked about, answered or expired.
-- The new list only widens the old one, so the rows already stored need no check (NOT VALID).
ALTER TABLE events DROP CONSTRAINT events_kind_check;
ALTER TABLE events ADD CONSTRAINT events_kind_check
    CHECK (kind IN ('message', 'plugin_execution', 'tool_call', 'tool_result', 'reset', 'error', 'approval'))
    NOT VALID;
