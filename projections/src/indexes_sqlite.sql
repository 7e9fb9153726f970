-- Indexes of the read models, built after a rebuild has filled its fresh tables (inserting into
-- unindexed tables and indexing at the end is about twice as fast on SQLite).
CREATE UNIQUE INDEX IF NOT EXISTS {p}accounts_number ON {p}accounts (number);
CREATE INDEX IF NOT EXISTS {p}accounts_client ON {p}accounts (client_id, currency);
CREATE INDEX IF NOT EXISTS {p}transactions_account ON {p}transactions (account_id, position);
CREATE INDEX IF NOT EXISTS {p}transactions_payment ON {p}transactions (payment_id);
CREATE UNIQUE INDEX IF NOT EXISTS {p}transactions_id ON {p}transactions (transaction_id);
CREATE INDEX IF NOT EXISTS {p}transactions_created ON {p}transactions (created_at);
CREATE INDEX IF NOT EXISTS {p}payments_open ON {p}payments (status) WHERE status IN ('draft', 'pending');
CREATE INDEX IF NOT EXISTS {p}payments_source ON {p}payments (source_account_id, created_at);
CREATE INDEX IF NOT EXISTS {p}payments_destination ON {p}payments (destination_account_id, created_at);
CREATE INDEX IF NOT EXISTS {p}payments_created ON {p}payments (created_at);
CREATE INDEX IF NOT EXISTS {p}daily_balances_day ON {p}daily_balances (day);
