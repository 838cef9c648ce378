-- API keys: only the SHA-256 of each key is kept. Revoked keys stay, so a name is never
-- reused by someone else (a name owns sessions and signs events).
CREATE TABLE api_keys (
    name            TEXT             PRIMARY KEY NOT NULL,
    hash            TEXT             NOT NULL UNIQUE,
    role            TEXT             NOT NULL CHECK (role IN ('admin', 'user')),
    grants          TEXT             NOT NULL,
    rate_per_second DOUBLE PRECISION,
    created_at      TIMESTAMPTZ      NOT NULL,
    last_used_at    TIMESTAMPTZ,
    revoked_at      TIMESTAMPTZ
);
