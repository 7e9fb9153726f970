-- An account table: one row per account with its counters. Instantiated twice ({t}):
-- `rm_accounts` for the balances projector and `rm_ledger_accounts`, the ledger projector's own
-- copy of the counters (its running balances continue from there, consistent with its checkpoint).
CREATE TABLE IF NOT EXISTS {p}{t} (
    account_id uuid NOT NULL,
    number text NOT NULL,
    client_id uuid,
    currency text NOT NULL,
    account_type text NOT NULL,
    status text NOT NULL,
    name text,
    overdraft_limit numeric NOT NULL,
    debits_pending numeric NOT NULL,
    debits_posted numeric NOT NULL,
    credits_pending numeric NOT NULL,
    credits_posted numeric NOT NULL,
    balance numeric NOT NULL,
    held numeric NOT NULL,
    available numeric NOT NULL,
    is_default boolean NOT NULL DEFAULT false,
    sort_order integer NOT NULL DEFAULT 0,
    version bigint NOT NULL,
    last_position bigint NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    CONSTRAINT {p}{t}_pkey PRIMARY KEY (account_id)
);
