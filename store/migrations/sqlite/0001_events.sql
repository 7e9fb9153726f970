-- The event log. One row per event; `global_position` is the rowid, so appends go to the end
-- of the table's B-tree and the head is a primary-key lookup.
CREATE TABLE events (
    global_position INTEGER PRIMARY KEY,
    stream_id       TEXT    NOT NULL,
    stream_revision INTEGER NOT NULL,
    event_id        BLOB    NOT NULL,  -- 16-byte UUID (v7)
    event_type      TEXT    NOT NULL,
    schema_version  INTEGER NOT NULL,
    recorded_at     INTEGER NOT NULL,  -- unix microseconds, UTC
    correlation_id  BLOB,              -- 16-byte UUID
    causation_id    BLOB,              -- 16-byte UUID
    idempotency_key TEXT,
    payload         TEXT    NOT NULL,  -- JSON, stored byte for byte as hashed
    metadata        TEXT,              -- JSON object or NULL
    hash            BLOB    NOT NULL,  -- 32-byte SHA-256 chain link
    UNIQUE (stream_id, stream_revision),
    UNIQUE (event_id)
);
