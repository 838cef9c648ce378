-- Which key owns a session: claimed by the key whose request creates it, before its first
-- event is written (so no foreign key to `sessions`). A session without a row here belongs
-- to no key: only admins see it.
CREATE TABLE session_owners (
    session_id TEXT PRIMARY KEY NOT NULL,
    owner      TEXT NOT NULL
);

CREATE INDEX session_owners_owner ON session_owners (owner, session_id);
