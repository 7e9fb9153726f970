//! What a read-model backend provides: the projector's writes and the queries the API serves.

use crate::error::ProjectionError;
use crate::fold::{Changes, FoldScope, FoldState};
use crate::query::*;
use crate::rows::*;
use async_trait::async_trait;
use chrono::NaiveDate;
use folio_domain::{AccountId, ClientId, Currency, DocumentId, PaymentId, RecipientId, TransferId};
use uuid::Uuid;

/// Which set of tables a write goes to: the ones serving, or the fresh ones a rebuild fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tables {
    Live,
    Rebuild,
}

#[async_trait]
pub trait ReadModelStore: Send + Sync + 'static {
    fn backend_name(&self) -> &'static str;

    /// The last log position the live read models of `scope` include.
    async fn checkpoint(&self, scope: FoldScope) -> Result<u64, ProjectionError>;

    /// What a fold of `scope` needs to continue from its live checkpoint.
    async fn load_state(&self, scope: FoldScope) -> Result<FoldState, ProjectionError>;

    /// Writes a batch's changes and the checkpoint of their scope in one transaction. A batch at
    /// or below that checkpoint is ignored, so a retried write never double-applies. A rebuild
    /// writes `Ledger` changes, whose account rows then fill both scopes' account tables.
    async fn write(&self, tables: Tables, changes: Changes) -> Result<(), ProjectionError>;

    /// Work a write of `changes` can do ahead of its turn, on the caller's thread (a backend
    /// that stores decimals as text writes them out into `changes.texts`): a rebuild does it
    /// while the previous batch is being written. Changes nothing that is stored.
    fn prepare(&self, _changes: &mut Changes) {}

    /// Creates empty rebuild tables (dropping any left by an interrupted rebuild), unindexed.
    async fn rebuild_begin(&self) -> Result<(), ProjectionError>;
    async fn rebuild_checkpoint(&self) -> Result<u64, ProjectionError>;
    /// Builds the rebuild tables' indexes, once the bulk's writes are done (on SQLite also
    /// the lookup tables, from the keys the bulk collected).
    async fn rebuild_index(&self) -> Result<(), ProjectionError>;
    /// Atomically replaces the live tables with the rebuilt ones and sets both scopes'
    /// checkpoints to the rebuild's.
    async fn rebuild_swap(&self) -> Result<(), ProjectionError>;

    /// Ops' repair: sets the counters (and the balance, held and available that follow) of the
    /// rows of `scope`'s live account table that differ from `counters`, in one transaction that
    /// first checks the scope's checkpoint is still `at` (the position the counters were proved
    /// at), so a projector batch that landed meanwhile is never overwritten with older figures.
    /// Returns the accounts whose row changed; an account without a row is left alone.
    async fn repair_counters(
        &self,
        scope: FoldScope,
        at: u64,
        counters: Vec<Counters>,
    ) -> Result<Vec<AccountId>, ProjectionError>;

    /// Ops' repair of daily balances: deletes the live rows of these accounts (every account
    /// when empty) from day `from` on and writes `rows` instead, in one transaction that first
    /// checks the ledger checkpoint is still `at`. Returns the number of rows written.
    async fn replace_daily_rows(
        &self,
        at: u64,
        accounts: &[AccountId],
        from: NaiveDate,
        rows: Vec<DailyRow>,
    ) -> Result<u64, ProjectionError>;

    async fn account(&self, id: AccountId) -> Result<Option<AccountRow>, ProjectionError>;
    async fn account_by_number(&self, number: &str) -> Result<Option<AccountRow>, ProjectionError>;
    async fn accounts(
        &self,
        filter: &AccountFilter,
        page: PageRequest,
    ) -> Result<Page<AccountRow>, ProjectionError>;
    async fn client(&self, id: ClientId) -> Result<Option<ClientRow>, ProjectionError>;
    /// Clients matching `filter`, oldest first (then by id), with the total count.
    async fn clients(
        &self,
        filter: &ClientFilter,
        page: PageRequest,
    ) -> Result<Page<ClientRow>, ProjectionError>;
    async fn recipient(&self, id: RecipientId) -> Result<Option<RecipientRow>, ProjectionError>;
    /// Recipients matching `filter`, oldest first (then by id), with the total count.
    async fn recipients(
        &self,
        filter: &RecipientFilter,
        page: PageRequest,
    ) -> Result<Page<RecipientRow>, ProjectionError>;
    async fn transfer(&self, id: TransferId) -> Result<Option<TransferRow>, ProjectionError>;
    /// Transfers matching `filter`, newest first (then by id), with the total count.
    async fn transfers(
        &self,
        filter: &TransferFilter,
        page: PageRequest,
    ) -> Result<Page<TransferRow>, ProjectionError>;
    /// A document, deleted or not.
    async fn document(&self, id: DocumentId) -> Result<Option<DocumentRow>, ProjectionError>;
    /// One owner's documents, oldest first (then by id), with the total count.
    async fn documents(
        &self,
        filter: &DocumentFilter,
        page: PageRequest,
    ) -> Result<Page<DocumentRow>, ProjectionError>;
    async fn payment(&self, id: PaymentId) -> Result<Option<PaymentRow>, ProjectionError>;
    async fn payments(
        &self,
        filter: &PaymentFilter,
        page: PageRequest,
    ) -> Result<Page<PaymentRow>, ProjectionError>;
    async fn transaction(&self, id: Uuid) -> Result<Option<TransactionRow>, ProjectionError>;
    async fn transactions(
        &self,
        filter: &TransactionFilter,
        page: PageRequest,
    ) -> Result<Page<TransactionRow>, ProjectionError>;
    /// Each account's last statement line (the one with the highest position and line): its
    /// running balances are the account's as the statement shows them. Ordered by account.
    /// The default pages through the accounts and each one's lines; the backends answer it in
    /// one query.
    async fn last_transactions(&self) -> Result<Vec<TransactionRow>, ProjectionError> {
        let mut out = Vec::new();
        let mut number = 1;
        loop {
            let accounts = self
                .accounts(
                    &AccountFilter::default(),
                    PageRequest::new(number, MAX_PAGE_SIZE),
                )
                .await?;
            for account in &accounts.items {
                let filter = TransactionFilter {
                    account_ids: vec![account.account_id],
                    ..TransactionFilter::default()
                };
                let first = self.transactions(&filter, PageRequest::new(1, 1)).await?;
                let last_page = u32::try_from(first.total_count).unwrap_or(u32::MAX).max(1);
                let last = self
                    .transactions(&filter, PageRequest::new(last_page, 1))
                    .await?;
                out.extend(last.items);
            }
            if accounts.items.is_empty() || u64::from(number) >= accounts.total_pages {
                break;
            }
            number += 1;
        }
        out.sort_by_key(|line| line.account_id);
        Ok(out)
    }
    /// The stored daily rows of these accounts (all accounts if empty) up to `until`, ordered
    /// by account and day. Idle days have no row; `daily_balances` fills them in.
    async fn daily_rows(
        &self,
        account_ids: &[AccountId],
        until: NaiveDate,
    ) -> Result<Vec<DailyRow>, ProjectionError>;
    /// Totals per currency, optionally of one client and/or one currency.
    async fn totals(
        &self,
        client_id: Option<ClientId>,
        currency: Option<Currency>,
    ) -> Result<Vec<CurrencyTotals>, ProjectionError>;
}
