-- The account index, in its own file beside the log: derived, rebuildable data that must not
-- slow down or share a write lock with the log.
CREATE TABLE account_events (
    account_id      BLOB    NOT NULL,  -- 16-byte UUID
    global_position INTEGER NOT NULL,
    PRIMARY KEY (account_id, global_position)
) WITHOUT ROWID;

-- How far the index has read the log: the last indexed position and that event's hash, so a
-- log that was replaced underneath the index is noticed and the index rebuilt.
CREATE TABLE account_index_checkpoint (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    position INTEGER NOT NULL,
    hash     BLOB    NOT NULL
);
INSERT INTO account_index_checkpoint (id, position, hash) VALUES (1, 0, zeroblob(32));
