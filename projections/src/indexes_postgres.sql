-- Indexes of the read models on PostgreSQL, built after a rebuild has filled its fresh tables
-- (bulk inserts into unindexed tables, then one sorted index build each, beat index upkeep on
-- every row). Every name starts with {p}rm_ so a swap can strip the rebuild_ prefix.
CREATE UNIQUE INDEX IF NOT EXISTS {p}rm_accounts_number ON {p}rm_accounts (number);
CREATE INDEX IF NOT EXISTS {p}rm_accounts_client ON {p}rm_accounts (client_id, currency);
CREATE INDEX IF NOT EXISTS {p}rm_accounts_created ON {p}rm_accounts (created_at, account_id);
CREATE INDEX IF NOT EXISTS {p}rm_transactions_account ON {p}rm_transactions (account_id, position);
CREATE INDEX IF NOT EXISTS {p}rm_transactions_payment ON {p}rm_transactions (payment_id);
CREATE UNIQUE INDEX IF NOT EXISTS {p}rm_transactions_id ON {p}rm_transactions (transaction_id);
CREATE INDEX IF NOT EXISTS {p}rm_transactions_created ON {p}rm_transactions (created_at);
CREATE INDEX IF NOT EXISTS {p}rm_payments_open ON {p}rm_payments (status) WHERE status IN ('draft', 'pending');
CREATE INDEX IF NOT EXISTS {p}rm_payments_source ON {p}rm_payments (source_account_id, created_at);
CREATE INDEX IF NOT EXISTS {p}rm_payments_destination ON {p}rm_payments (destination_account_id, created_at);
CREATE INDEX IF NOT EXISTS {p}rm_payments_created ON {p}rm_payments (created_at, payment_id);
CREATE INDEX IF NOT EXISTS {p}rm_daily_balances_day ON {p}rm_daily_balances (day);
CREATE INDEX IF NOT EXISTS {p}rm_clients_created ON {p}rm_clients (created_at, client_id);
CREATE INDEX IF NOT EXISTS {p}rm_clients_status ON {p}rm_clients (status, client_type);
CREATE INDEX IF NOT EXISTS {p}rm_documents_owner ON {p}rm_documents (owner_id, owner_kind, created_at, document_id);
CREATE INDEX IF NOT EXISTS {p}rm_recipients_client ON {p}rm_recipients (client_id, created_at, recipient_id);
-- Transfer lists: newest first, by account (source or destination), and the open ones the
-- projector loads at start.
CREATE INDEX IF NOT EXISTS {p}rm_transfers_created ON {p}rm_transfers (created_at, transfer_id);
CREATE INDEX IF NOT EXISTS {p}rm_transfers_source ON {p}rm_transfers (source_account_id, created_at);
CREATE INDEX IF NOT EXISTS {p}rm_transfers_destination ON {p}rm_transfers (destination_account_id, created_at);
CREATE INDEX IF NOT EXISTS {p}rm_transfers_open ON {p}rm_transfers (status) WHERE status NOT IN ('completed', 'cancelled', 'rejected', 'failed');
