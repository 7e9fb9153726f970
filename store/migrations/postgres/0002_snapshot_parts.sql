-- A snapshot larger than one value may be (bytea refuses values over 1 GB) is stored in parts:
-- the first in snapshots.state, the rest here in order (part 1, 2, …).
CREATE TABLE snapshot_parts (
    position BIGINT  NOT NULL,
    part     INTEGER NOT NULL,
    bytes    BYTEA   NOT NULL,
    PRIMARY KEY (position, part)
);
