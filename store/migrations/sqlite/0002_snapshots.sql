-- Serialized engine states, each taken at a log position. The store keeps the latest two.
CREATE TABLE snapshots (
    position INTEGER PRIMARY KEY,
    taken_at INTEGER NOT NULL,  -- unix microseconds, UTC
    state    BLOB    NOT NULL
);
