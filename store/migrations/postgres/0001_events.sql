-- The event log. `payload` and `metadata` are TEXT, not JSONB: the hash chain covers their exact
-- bytes, which JSONB would normalize away, and TEXT is also the faster one to write.
CREATE TABLE events (
    global_position BIGINT      PRIMARY KEY,
    stream_id       TEXT        NOT NULL,
    stream_revision BIGINT      NOT NULL,
    event_id        UUID        NOT NULL,
    event_type      TEXT        NOT NULL,
    schema_version  INTEGER     NOT NULL,
    recorded_at     TIMESTAMPTZ NOT NULL,
    correlation_id  UUID,
    causation_id    UUID,
    idempotency_key TEXT,
    payload         TEXT        NOT NULL,
    metadata        TEXT,
    hash            BYTEA       NOT NULL,
    CONSTRAINT events_stream_revision_key UNIQUE (stream_id, stream_revision),
    CONSTRAINT events_event_id_key UNIQUE (event_id)
);

-- The log's head in one row. Every append moves it conditionally
-- (`WHERE position = expected`), which fences off a second writer.
CREATE TABLE event_head (
    id       BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (id),
    position BIGINT  NOT NULL,
    hash     BYTEA   NOT NULL
);
INSERT INTO event_head (id, position, hash) VALUES (TRUE, 0, decode(repeat('00', 32), 'hex'));

-- Serialized engine states, each taken at a log position. The store keeps the latest two.
CREATE TABLE snapshots (
    position BIGINT      PRIMARY KEY,
    taken_at TIMESTAMPTZ NOT NULL,
    state    BYTEA       NOT NULL
);

-- The account index: derived, rebuildable data kept by a background task behind the writer.
CREATE TABLE account_events (
    account_id      UUID   NOT NULL,
    global_position BIGINT NOT NULL,
    PRIMARY KEY (account_id, global_position)
);

-- How far the index has read the log: the last indexed position and that event's hash.
CREATE TABLE account_index_checkpoint (
    id       BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (id),
    position BIGINT  NOT NULL,
    hash     BYTEA   NOT NULL
);
INSERT INTO account_index_checkpoint (id, position, hash)
VALUES (TRUE, 0, decode(repeat('00', 32), 'hex'));
