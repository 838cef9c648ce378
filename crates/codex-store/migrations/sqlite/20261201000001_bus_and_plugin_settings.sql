-- Notifications between processes sharing this file (the bus); rows are pruned after a minute.
CREATE TABLE bus_messages (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    origin     TEXT    NOT NULL,
    channel    TEXT    NOT NULL,
    payload    TEXT    NOT NULL,
    created_at TEXT    NOT NULL
);

CREATE INDEX bus_messages_created_at ON bus_messages (created_at);

-- Per-plugin switches shared by every server: NULL means "as the configuration says".
CREATE TABLE plugin_settings (
    plugin     TEXT    PRIMARY KEY NOT NULL,
    enabled    BOOLEAN,
    policy     TEXT,
    updated_at TEXT    NOT NULL
);
