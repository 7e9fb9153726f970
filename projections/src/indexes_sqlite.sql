-- Indexes of the read models, built after a rebuild has filled its fresh tables (inserting into
-- unindexed tables and indexing at the end is about twice as fast on SQLite). Statement lines by
-- account and by payment, and payments by account, are looked up in tables of their own
-- (account_lines, payment_lines, account_payments).
CREATE UNIQUE INDEX IF NOT EXISTS accounts_number{i} ON {p}accounts (number);
CREATE INDEX IF NOT EXISTS accounts_client{i} ON {p}accounts (client_id, currency);
CREATE INDEX IF NOT EXISTS payments_open{i} ON {p}payments (status) WHERE status IN ('draft', 'pending');
CREATE INDEX IF NOT EXISTS payments_created{i} ON {p}payments (created_at);
CREATE INDEX IF NOT EXISTS daily_balances_day{i} ON {p}daily_balances (day);
CREATE INDEX IF NOT EXISTS clients_created{i} ON {p}clients (created_at, client_id);
CREATE INDEX IF NOT EXISTS clients_status{i} ON {p}clients (status, client_type);
CREATE INDEX IF NOT EXISTS documents_owner{i} ON {p}documents (owner_id, owner_kind, created_at, document_id);
CREATE INDEX IF NOT EXISTS recipients_client{i} ON {p}recipients (client_id, created_at, recipient_id);
-- Transfer lists: newest first, by account (source or destination), and the open ones the
-- projector loads at start.
CREATE INDEX IF NOT EXISTS transfers_created{i} ON {p}transfers (created_at, transfer_id);
CREATE INDEX IF NOT EXISTS transfers_source{i} ON {p}transfers (source_account_id, created_at);
CREATE INDEX IF NOT EXISTS transfers_destination{i} ON {p}transfers (destination_account_id, created_at);
CREATE INDEX IF NOT EXISTS transfers_open{i} ON {p}transfers (status) WHERE status NOT IN ('completed', 'cancelled', 'rejected', 'failed');
