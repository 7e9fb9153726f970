-- An account table: one row per account with its counters. Instantiated twice ({t}): `accounts`
-- for the balances projector and `ledger_accounts`, the ledger projector's own copy of the
-- counters (its running balances continue from there, consistent with its checkpoint).
CREATE TABLE IF NOT EXISTS {p}{t} (
    account_id BLOB PRIMARY KEY,
    number TEXT NOT NULL,
    client_id BLOB,
    currency TEXT NOT NULL,
    account_type TEXT NOT NULL,
    status TEXT NOT NULL,
    name TEXT,
    overdraft_limit TEXT NOT NULL,
    debits_pending TEXT NOT NULL,
    debits_posted TEXT NOT NULL,
    credits_pending TEXT NOT NULL,
    credits_posted TEXT NOT NULL,
    balance TEXT NOT NULL,
    held TEXT NOT NULL,
    available TEXT NOT NULL,
    is_default INTEGER NOT NULL DEFAULT 0,
    sort_order INTEGER NOT NULL DEFAULT 0,
    version INTEGER NOT NULL,
    last_position INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
