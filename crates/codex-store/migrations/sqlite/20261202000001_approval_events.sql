-- Approvals leave events of their own kind: a tool call asked about, answered or expired.
--
-- SQLite cannot alter a CHECK constraint, and rebuilding `events` would copy the whole log.
-- Widening the list of kinds changes nothing stored on disk, which is the case SQLite's
-- documentation allows editing the table's definition in place for ("Making Other Kinds Of
-- Table Schema Changes"): every row valid before stays valid. The DDL after it bumps the
-- schema cookie, so every connection rereads the definition.
PRAGMA writable_schema = ON;

UPDATE sqlite_schema
SET sql = replace(sql, '''reset'', ''error'')', '''reset'', ''error'', ''approval'')')
WHERE type = 'table' AND name = 'events';

PRAGMA writable_schema = OFF;

CREATE TABLE schema_cookie_bump (x INTEGER);
DROP TABLE schema_cookie_bump;
