-- Folio read models on PostgreSQL. {p} is the table prefix: '' for the live tables, 'rebuild_'
-- while a rebuild fills fresh tables. Every name starts with rm_ so the read models can share a
-- database with the log. Amounts are exact NUMERIC (range filters compare them natively);
-- enums are their serde (camelCase) text, as on SQLite. Constraint names are explicit so that a
-- swap can strip the rebuild_ prefix from them and the next rebuild finds its names free.

CREATE TABLE IF NOT EXISTS {p}rm_transactions (
    position bigint NOT NULL,
    line bigint NOT NULL,
    transaction_id uuid NOT NULL,
    payment_id uuid NOT NULL,
    account_id uuid NOT NULL,
    type text NOT NULL,
    amount numeric NOT NULL,
    currency text NOT NULL,
    balance_after numeric NOT NULL,
    available_after numeric NOT NULL,
    description text,
    created_at timestamptz NOT NULL,
    CONSTRAINT {p}rm_transactions_pkey PRIMARY KEY (position, line)
);

CREATE TABLE IF NOT EXISTS {p}rm_daily_balances (
    account_id uuid NOT NULL,
    day date NOT NULL,
    currency text NOT NULL,
    opening numeric NOT NULL,
    total_debits numeric NOT NULL,
    total_credits numeric NOT NULL,
    closing numeric NOT NULL,
    movements bigint NOT NULL,
    CONSTRAINT {p}rm_daily_balances_pkey PRIMARY KEY (account_id, day)
);

CREATE TABLE IF NOT EXISTS {p}rm_payments (
    payment_id uuid NOT NULL,
    status text NOT NULL,
    legs jsonb NOT NULL,
    source_account_id uuid,
    destination_account_id uuid,
    amount numeric NOT NULL,
    currency text NOT NULL,
    posted_amount numeric,
    description text,
    external_id text,
    metadata jsonb,
    created_at timestamptz NOT NULL,
    pended_at timestamptz,
    posted_at timestamptz,
    cancelled_at timestamptz,
    expired_at timestamptz,
    cancel_reason text,
    expires_at timestamptz,
    last_position bigint NOT NULL,
    CONSTRAINT {p}rm_payments_pkey PRIMARY KEY (payment_id)
);

-- Filled from the transfer events (one row per transfer); details is JSON: counterparty, provider
-- reference, description, the first pay-in of an assigned incoming transfer, an FX transfer's
-- quote. destination_amount/destination_currency: an FX transfer's other side.
CREATE TABLE IF NOT EXISTS {p}rm_transfers (
    transfer_id uuid NOT NULL,
    direction text NOT NULL,
    status text NOT NULL,
    transfer_type text,
    source_account_id uuid,
    destination_account_id uuid,
    recipient_id uuid,
    amount numeric NOT NULL,
    currency text NOT NULL,
    fee numeric,
    rate numeric,
    destination_amount numeric,
    destination_currency text,
    reference text,
    payment_id uuid,
    status_history jsonb NOT NULL,
    details jsonb,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    last_position bigint NOT NULL,
    CONSTRAINT {p}rm_transfers_pkey PRIMARY KEY (transfer_id)
);

-- One row per client: the filtered columns, and the whole profile as jsonb (every ClientDto
-- field a command sets). search_text is the lower-cased legal name and e-mail, for substring
-- search (lower-cased in Rust, so both backends match the same rows).
CREATE TABLE IF NOT EXISTS {p}rm_clients (
    client_id uuid NOT NULL,
    client_type text NOT NULL,
    status text NOT NULL,
    legal_name text NOT NULL,
    email text,
    phone_number text,
    search_text text NOT NULL,
    profile jsonb NOT NULL,
    block_reason text,
    version bigint NOT NULL,
    last_position bigint NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    CONSTRAINT {p}rm_clients_pkey PRIMARY KEY (client_id)
);

-- One row per document (its bytes are in the content store under sha256); a deletion sets
-- deleted_at and keeps the row. owner_kind is 'client' or 'transfer'.
CREATE TABLE IF NOT EXISTS {p}rm_documents (
    document_id uuid NOT NULL,
    owner_kind text NOT NULL,
    owner_id uuid NOT NULL,
    document_type text NOT NULL,
    file_name text NOT NULL,
    content_type text NOT NULL,
    size bigint NOT NULL,
    sha256 text NOT NULL,
    created_at timestamptz NOT NULL,
    deleted_at timestamptz,
    last_position bigint NOT NULL,
    CONSTRAINT {p}rm_documents_pkey PRIMARY KEY (document_id)
);

-- One row per recipient: the filtered columns, and its bank details and address as jsonb.
-- visibility is 'visible' or 'hidden'.
CREATE TABLE IF NOT EXISTS {p}rm_recipients (
    recipient_id uuid NOT NULL,
    client_id uuid NOT NULL,
    visibility text NOT NULL,
    details jsonb NOT NULL,
    last_position bigint NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    CONSTRAINT {p}rm_recipients_pkey PRIMARY KEY (recipient_id)
);
