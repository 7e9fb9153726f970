-- Folio read models on SQLite (beside the two account tables of account_table_sqlite.sql).
-- {p} is the table prefix: '' for the live tables, 'rebuild_' while a rebuild fills fresh
-- tables. Amounts are exact decimal TEXT; transactions also keep the amount in minor units
-- (INTEGER) so amount ranges can be filtered by the database. Statement lines are a WITHOUT
-- ROWID table clustered on (position, line): one B-tree, appended in order, where a rowid table
-- would keep a second one for the primary key.

CREATE TABLE IF NOT EXISTS {p}transactions (
    position INTEGER NOT NULL,
    line INTEGER NOT NULL,
    transaction_id BLOB NOT NULL,
    payment_id BLOB NOT NULL,
    account_id BLOB NOT NULL,
    type TEXT NOT NULL,
    amount TEXT NOT NULL,
    amount_minor INTEGER NOT NULL,
    currency TEXT NOT NULL,
    balance_after TEXT NOT NULL,
    available_after TEXT NOT NULL,
    description TEXT,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (position, line)
) WITHOUT ROWID;

-- Each account's statement lines in order, and each payment's: the lookups statement queries by
-- account or payment start from. Tables, not indexes on transactions, so that a rebuild can fill
-- them from keys it sorted in memory (one ordered sweep) instead of having SQLite's sorter order
-- 2M keys each.
CREATE TABLE IF NOT EXISTS {p}account_lines (
    account_id BLOB NOT NULL,
    position INTEGER NOT NULL,
    line INTEGER NOT NULL,
    PRIMARY KEY (account_id, position, line)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS {p}payment_lines (
    payment_id BLOB NOT NULL,
    position INTEGER NOT NULL,
    line INTEGER NOT NULL,
    PRIMARY KEY (payment_id, position, line)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS {p}daily_balances (
    account_id BLOB NOT NULL,
    day TEXT NOT NULL,
    currency TEXT NOT NULL,
    opening TEXT NOT NULL,
    total_debits TEXT NOT NULL,
    total_credits TEXT NOT NULL,
    closing TEXT NOT NULL,
    movements INTEGER NOT NULL,
    PRIMARY KEY (account_id, day)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS {p}payments (
    payment_id BLOB PRIMARY KEY,
    status TEXT NOT NULL,
    legs TEXT NOT NULL,
    source_account_id BLOB,
    destination_account_id BLOB,
    amount TEXT NOT NULL,
    currency TEXT NOT NULL,
    posted_amount TEXT,
    description TEXT,
    external_id TEXT,
    metadata TEXT,
    created_at INTEGER NOT NULL,
    pended_at INTEGER,
    posted_at INTEGER,
    cancelled_at INTEGER,
    expired_at INTEGER,
    cancel_reason TEXT,
    expires_at INTEGER,
    last_position INTEGER NOT NULL
);

-- Each account's payments (as source and as destination) by creation time: the payments'
-- lookup by account, a table for the same reason as account_lines.
CREATE TABLE IF NOT EXISTS {p}account_payments (
    account_id BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    payment_id BLOB NOT NULL,
    PRIMARY KEY (account_id, created_at, payment_id)
) WITHOUT ROWID;

-- Filled from the transfer events (one row per transfer); details is JSON: counterparty, provider
-- reference, description, the first pay-in of an assigned incoming transfer, an FX transfer's
-- quote. destination_amount/destination_currency: an FX transfer's other side.
CREATE TABLE IF NOT EXISTS {p}transfers (
    transfer_id BLOB PRIMARY KEY,
    direction TEXT NOT NULL,
    status TEXT NOT NULL,
    transfer_type TEXT,
    source_account_id BLOB,
    destination_account_id BLOB,
    recipient_id BLOB,
    amount TEXT NOT NULL,
    currency TEXT NOT NULL,
    fee TEXT,
    rate TEXT,
    destination_amount TEXT,
    destination_currency TEXT,
    reference TEXT,
    payment_id BLOB,
    status_history TEXT NOT NULL,
    details TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    last_position INTEGER NOT NULL
);

-- One row per client: the filtered columns, and the whole profile as JSON (every ClientDto field
-- a command sets). search_text is the lower-cased legal name and e-mail, for substring search.
CREATE TABLE IF NOT EXISTS {p}clients (
    client_id BLOB PRIMARY KEY,
    client_type TEXT NOT NULL,
    status TEXT NOT NULL,
    legal_name TEXT NOT NULL,
    email TEXT,
    phone_number TEXT,
    search_text TEXT NOT NULL,
    profile TEXT NOT NULL,
    block_reason TEXT,
    version INTEGER NOT NULL,
    last_position INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

-- One row per document (its bytes are in the content store under sha256); a deletion sets
-- deleted_at and keeps the row. owner_kind is 'client' or 'transfer'.
CREATE TABLE IF NOT EXISTS {p}documents (
    document_id BLOB PRIMARY KEY,
    owner_kind TEXT NOT NULL,
    owner_id BLOB NOT NULL,
    document_type TEXT NOT NULL,
    file_name TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    deleted_at INTEGER,
    last_position INTEGER NOT NULL
);

-- One row per recipient: the filtered columns, and its bank details and address as JSON.
-- visibility is 'visible' or 'hidden'.
CREATE TABLE IF NOT EXISTS {p}recipients (
    recipient_id BLOB PRIMARY KEY,
    client_id BLOB NOT NULL,
    visibility TEXT NOT NULL,
    details TEXT NOT NULL,
    last_position INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
