-- Per-plugin switches shared by every server: NULL means "as the configuration says".
-- (The bus is LISTEN/NOTIFY; it needs no table.)
CREATE TABLE plugin_settings (
    plugin     TEXT        PRIMARY KEY NOT NULL,
    enabled    BOOLEAN,
    policy     TEXT,
    updated_at TIMESTAMPTZ NOT NULL
);
