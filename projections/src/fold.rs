//! The in-memory fold of a batch of events into read-model rows, independent of any database.
//!
//! The fold holds what it needs to continue from where the read models are: every account's row,
//! each account's latest business day, and the payments that are not final yet. A batch of
//! events changes some of them and adds statement lines; `take_changes` hands over each changed
//! row once, so a batch writes every row once however many events touched it.

use crate::rows::{
    AccountRow, ClientRow, DailyRow, DocumentDeletion, DocumentRow, PaymentRow, RecipientRow,
    RecipientVisibility, TransactionRow, TransactionType, TransferRow,
};
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use folio_domain::event::{PaymentCancelled, PaymentExpired};
use folio_domain::{
    AccountEvent, AccountId, AccountType, ClientEvent, ClientId, ClientStatus, DocumentId,
    EventBody, Leg, PaymentEvent, PaymentId, PaymentStatus, TransferId,
};
use rust_decimal::Decimal;
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

/// The id of line `line` of the event at `position`: a UUIDv8 laid out as `FLTX`, the line (u16),
/// version bits, then the position. Deterministic, so a rebuild gives every line the same id,
/// and unique for positions below 2^62 and lines below 2^16 (an event has at most 3 lines per leg
/// and 16 legs).
pub fn transaction_id(position: u64, line: u32) -> Uuid {
    let mut bytes = [0u8; 16];
    bytes[..4].copy_from_slice(b"FLTX");
    bytes[4..6].copy_from_slice(&(line as u16).to_be_bytes());
    bytes[8..].copy_from_slice(&position.to_be_bytes());
    Uuid::new_v8(bytes)
}

/// The (position, line) a statement-line id was made from, or None for any other uuid.
pub fn transaction_place(id: Uuid) -> Option<(u64, u32)> {
    let bytes = id.as_bytes();
    if &bytes[..4] != b"FLTX" || id.get_version_num() != 8 {
        return None;
    }
    let line = u16::from_be_bytes([bytes[4], bytes[5]]);
    let mut position = [0u8; 8];
    position.copy_from_slice(&bytes[8..]);
    // The variant bits overwrite the top two bits of the position's first byte.
    position[0] &= 0x3f;
    let position = u64::from_be_bytes(position);
    (transaction_id(position, u32::from(line)) == id).then_some((position, u32::from(line)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_id_gives_back_its_place_in_the_log() {
        for (position, line) in [(1, 0), (42, 3), (u64::MAX >> 2, 47), (1 << 40, 65_535)] {
            let id = transaction_id(position, line);
            assert_eq!(transaction_place(id), Some((position, line)));
        }
        assert_eq!(transaction_place(Uuid::now_v7()), None);
        assert_ne!(transaction_id(1, 0), transaction_id(1, 1));
        assert_ne!(transaction_id(1, 0), transaction_id(2, 0));
    }
}

/// Which read models a fold maintains. The balances are kept by a projector of their own so
/// they stay right behind the writer, whatever the heavier statement lines cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum FoldScope {
    /// Account rows and their counters only.
    Balances,
    /// Everything else: statement lines, daily balances and payments, with the account counters
    /// the running balances need.
    #[default]
    Ledger,
}

impl FoldScope {
    /// The name its checkpoint is kept under.
    pub fn name(self) -> &'static str {
        match self {
            FoldScope::Balances => "balances",
            FoldScope::Ledger => "ledger",
        }
    }
}

/// Every row a batch changed or added.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Changes {
    /// The projection these changes (and their checkpoint) belong to.
    pub scope: FoldScope,
    pub accounts: Vec<AccountRow>,
    pub payments: Vec<PaymentRow>,
    pub transactions: Vec<TransactionRow>,
    pub daily: Vec<DailyRow>,
    /// Client rows (ledger scope only).
    pub clients: Vec<ClientRow>,
    /// Transfer rows (ledger scope only).
    pub transfers: Vec<TransferRow>,
    /// Documents uploaded in this batch, deleted or not (ledger scope only).
    pub documents: Vec<DocumentRow>,
    /// Documents of earlier batches deleted in this one (ledger scope only).
    pub deleted_documents: Vec<DocumentDeletion>,
    /// Recipients added (ledger scope only), with any later visibility folded in.
    pub recipients: Vec<RecipientRow>,
    /// Visibility changes of recipients written by earlier batches, in log order.
    pub recipient_visibility: Vec<RecipientVisibility>,
    /// The position of the last event folded.
    pub position: u64,
    /// The text some rows are stored as (decimals, legs as JSON), when a backend that stores
    /// them as text had it written out before its write (`ReadModelStore::prepare`): an entry
    /// for some of the first transaction and payment rows, each naming its row. A write uses
    /// an entry only for the row at the same index with the same key, and writes out any other.
    pub texts: RowTexts,
}

/// The text forms of a batch's statement lines and payments, in their order.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct RowTexts {
    pub transactions: Vec<LineText>,
    pub payments: Vec<PaymentText>,
}

/// A statement line's decimals as text.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct LineText {
    pub position: u64,
    pub line: u32,
    pub amount: String,
    pub balance_after: String,
    pub available_after: String,
}

/// A payment row's text columns.
#[derive(Debug, Clone, PartialEq)]
pub struct PaymentText {
    pub payment_id: PaymentId,
    pub status: String,
    pub legs: String,
    pub amount: String,
    pub posted_amount: Option<String>,
}

impl Changes {
    /// Takes in the changes of the events folded after these, as one batch up to their
    /// position. Rows of both are written in order: a row in both ends as `later` has it,
    /// but for a statement line, which is written once and keeps its first version.
    pub fn absorb(&mut self, later: Changes) {
        let Changes {
            scope: _,
            accounts,
            payments,
            transactions,
            daily,
            clients,
            transfers,
            documents,
            deleted_documents,
            recipients,
            recipient_visibility,
            position,
            texts: _,
        } = later;
        // Texts written out for these rows stay theirs: the rows taken in come after them, and
        // a write writes out any row the texts do not cover.
        self.accounts.extend(accounts);
        self.payments.extend(payments);
        self.transactions.extend(transactions);
        self.daily.extend(daily);
        self.clients.extend(clients);
        self.transfers.extend(transfers);
        self.documents.extend(documents);
        self.deleted_documents.extend(deleted_documents);
        self.recipients.extend(recipients);
        self.recipient_visibility.extend(recipient_visibility);
        self.position = self.position.max(position);
    }

    pub fn is_empty(&self) -> bool {
        self.clients.is_empty()
            && self.transfers.is_empty()
            && self.documents.is_empty()
            && self.deleted_documents.is_empty()
            && self.recipients.is_empty()
            && self.recipient_visibility.is_empty()
            && self.accounts.is_empty()
            && self.payments.is_empty()
            && self.transactions.is_empty()
            && self.daily.is_empty()
    }
}

/// The state the fold continues from (loaded from the read models, or empty for a rebuild).
#[derive(Debug, Default, Clone)]
pub struct FoldState {
    pub accounts: Vec<AccountRow>,
    /// Each account's latest business day.
    pub latest_days: Vec<DailyRow>,
    /// Payments still draft or pending.
    pub open_payments: Vec<PaymentRow>,
    /// Every client (ledger scope): an update changes some fields of a whole row.
    pub clients: Vec<ClientRow>,
    /// Transfers not final yet (ledger scope).
    pub open_transfers: Vec<TransferRow>,
    pub position: u64,
}

pub struct Fold {
    scope: FoldScope,
    time_zone: Tz,
    accounts: HashMap<AccountId, AccountRow>,
    latest_days: HashMap<AccountId, DailyRow>,
    open_payments: HashMap<PaymentId, PaymentRow>,
    clients: HashMap<ClientId, ClientRow>,
    dirty_clients: HashSet<ClientId>,
    open_transfers: HashMap<TransferId, TransferRow>,
    changed_transfers: HashMap<TransferId, TransferRow>,
    pub(crate) new_documents: HashMap<DocumentId, DocumentRow>,
    pub(crate) deleted_documents: Vec<DocumentDeletion>,
    pub(crate) added_recipients: HashMap<folio_domain::RecipientId, RecipientRow>,
    pub(crate) recipient_visibility: Vec<RecipientVisibility>,
    dirty_accounts: HashSet<AccountId>,
    dirty_days: HashSet<AccountId>,
    /// Days a batch closed (a later day began for the account): written once, then dropped.
    closed_days: Vec<DailyRow>,
    changed_payments: HashMap<PaymentId, PaymentRow>,
    transactions: Vec<TransactionRow>,
    position: u64,
    /// The last instant converted to a business day: a writer's batch shares one instant, so
    /// this saves a time-zone conversion for nearly every line.
    day_cache: Option<(DateTime<Utc>, NaiveDate)>,
}

impl Fold {
    pub fn new(scope: FoldScope, time_zone: Tz, state: FoldState) -> Fold {
        Fold {
            scope,
            time_zone,
            accounts: state
                .accounts
                .into_iter()
                .map(|a| (a.account_id, a))
                .collect(),
            latest_days: state
                .latest_days
                .into_iter()
                .map(|d| (d.account_id, d))
                .collect(),
            open_payments: state
                .open_payments
                .into_iter()
                .map(|p| (p.payment_id, p))
                .collect(),
            clients: state
                .clients
                .into_iter()
                .map(|c| (c.client_id, c))
                .collect(),
            dirty_clients: HashSet::new(),
            open_transfers: state
                .open_transfers
                .into_iter()
                .map(|t| (t.transfer_id, t))
                .collect(),
            changed_transfers: HashMap::new(),
            new_documents: HashMap::new(),
            deleted_documents: Vec::new(),
            added_recipients: HashMap::new(),
            recipient_visibility: Vec::new(),
            dirty_accounts: HashSet::new(),
            dirty_days: HashSet::new(),
            closed_days: Vec::new(),
            changed_payments: HashMap::new(),
            transactions: Vec::new(),
            position: state.position,
            day_cache: None,
        }
    }

    /// The position of the last event folded.
    pub fn position(&self) -> u64 {
        self.position
    }

    pub fn account(&self, id: AccountId) -> Option<&AccountRow> {
        self.accounts.get(&id)
    }

    pub fn client(&self, id: ClientId) -> Option<&ClientRow> {
        self.clients.get(&id)
    }

    /// The business day an instant falls on in the configured time zone.
    pub fn business_day(&self, at: DateTime<Utc>) -> NaiveDate {
        at.with_timezone(&self.time_zone).date_naive()
    }

    /// Folds one event recorded at `position` and `recorded_at`. Events must come in position
    /// order; one at or below the fold's position was already applied and is skipped, so a
    /// replayed batch never counts twice.
    pub fn apply(&mut self, position: u64, recorded_at: DateTime<Utc>, event: &EventBody) {
        if position <= self.position {
            return;
        }
        self.position = position;
        match event {
            EventBody::Account(account_event) => {
                self.apply_account(position, recorded_at, account_event)
            }
            EventBody::Payment(payment_event) => {
                self.apply_payment(position, recorded_at, payment_event)
            }
            // Clients are the ledger scope's; the balances projector only moves counters.
            EventBody::Client(client_event) if self.scope == FoldScope::Ledger => {
                self.apply_client(position, recorded_at, client_event)
            }
            EventBody::Client(_) => {}
            EventBody::Transfer(transfer_event) if self.scope == FoldScope::Ledger => {
                self.apply_transfer(position, recorded_at, transfer_event)
            }
            EventBody::Transfer(_) => {}
            EventBody::Document(document_event) if self.scope == FoldScope::Ledger => {
                self.apply_document(position, recorded_at, document_event)
            }
            EventBody::Document(_) => {}
            EventBody::Recipient(recipient_event) if self.scope == FoldScope::Ledger => {
                self.apply_recipient(position, recorded_at, recipient_event)
            }
            // Confirmations keep no read model: their hashes stay in the log alone.
            EventBody::Recipient(_) | EventBody::Confirmation(_) => {}
        }
    }

    /// The row of a transfer still open (from an earlier batch or this one), taken out.
    pub(crate) fn take_open_transfer(&mut self, id: TransferId) -> Option<TransferRow> {
        self.open_transfers
            .remove(&id)
            .or_else(|| self.changed_transfers.remove(&id))
    }

    /// Keeps a changed transfer row for the next write (and open, if it is not final).
    pub(crate) fn keep_transfer(&mut self, row: TransferRow) {
        if !row.status.is_final() {
            self.open_transfers.insert(row.transfer_id, row.clone());
        }
        self.changed_transfers.insert(row.transfer_id, row);
    }

    fn apply_client(&mut self, position: u64, at: DateTime<Utc>, event: &ClientEvent) {
        let id = event.client_id();
        if let ClientEvent::Registered(registered) = event {
            self.clients.insert(
                id,
                ClientRow {
                    client_id: id,
                    status: ClientStatus::Active,
                    profile: registered.profile.clone(),
                    block_reason: None,
                    version: 1,
                    last_position: position,
                    created_at: at,
                    updated_at: at,
                },
            );
            self.dirty_clients.insert(id);
            return;
        }
        let Some(row) = self.clients.get_mut(&id) else {
            return;
        };
        match event {
            ClientEvent::Registered(_) => {}
            ClientEvent::Updated(updated) => row.profile = updated.patch.applied_to(&row.profile),
            ClientEvent::Blocked(blocked) => {
                row.status = ClientStatus::Blocked;
                row.block_reason = blocked.reason.clone();
            }
            ClientEvent::Unblocked(_) => {
                row.status = ClientStatus::Active;
                row.block_reason = None;
            }
        }
        row.version += 1;
        row.last_position = position;
        row.updated_at = at;
        self.dirty_clients.insert(id);
    }

    /// Hands over the rows changed since the last call.
    pub fn take_changes(&mut self) -> Changes {
        let mut changes = self.take_changes_but_latest_rows();
        changes.accounts = self
            .dirty_accounts
            .drain()
            .filter_map(|id| self.accounts.get(&id).cloned())
            .collect();
        changes.daily.extend(
            self.dirty_days
                .drain()
                .filter_map(|id| self.latest_days.get(&id).cloned()),
        );
        changes
    }

    /// The changes since the last take, but for the account rows and the current day rows,
    /// which stay marked changed for a later `take_changes`: a rebuild's bulk writes them once
    /// at its end rather than every account and its day again with every batch (each row is
    /// still written whole then, so nothing is lost; the closed days, final, go as they come).
    pub fn take_changes_but_latest_rows(&mut self) -> Changes {
        let daily = std::mem::take(&mut self.closed_days);
        let clients = self
            .dirty_clients
            .drain()
            .filter_map(|id| self.clients.get(&id).cloned())
            .collect();
        Changes {
            scope: self.scope,
            clients,
            transfers: self.changed_transfers.drain().map(|(_, row)| row).collect(),
            documents: self.new_documents.drain().map(|(_, row)| row).collect(),
            deleted_documents: std::mem::take(&mut self.deleted_documents),
            recipients: self.added_recipients.drain().map(|(_, row)| row).collect(),
            recipient_visibility: std::mem::take(&mut self.recipient_visibility),
            accounts: Vec::new(),
            payments: self.changed_payments.drain().map(|(_, row)| row).collect(),
            transactions: std::mem::take(&mut self.transactions),
            daily,
            position: self.position,
            texts: RowTexts::default(),
        }
    }

    fn apply_account(&mut self, position: u64, at: DateTime<Utc>, event: &AccountEvent) {
        if let AccountEvent::Opened(opened) = event {
            self.accounts.insert(
                opened.account_id,
                AccountRow {
                    account_id: opened.account_id,
                    number: opened.number.clone(),
                    client_id: opened.client_id,
                    currency: opened.currency,
                    account_type: opened.account_type,
                    status: opened.status,
                    name: opened.name.clone(),
                    overdraft_limit: opened.policy.overdraft_limit,
                    debits_pending: Decimal::ZERO,
                    debits_posted: Decimal::ZERO,
                    credits_pending: Decimal::ZERO,
                    credits_posted: Decimal::ZERO,
                    is_default: false,
                    order: 0,
                    version: 1,
                    last_position: position,
                    created_at: at,
                    updated_at: at,
                },
            );
            self.dirty_accounts.insert(opened.account_id);
            return;
        }
        let id = event.account_id();
        let Some(row) = self.accounts.get_mut(&id) else {
            return;
        };
        match event {
            AccountEvent::Opened(_) => {}
            AccountEvent::Renamed(e) => row.name = e.name.clone(),
            AccountEvent::Activated(_) | AccountEvent::Unblocked(_) => {
                row.status = folio_domain::AccountStatus::Active
            }
            AccountEvent::Blocked(_) => row.status = folio_domain::AccountStatus::Blocked,
            AccountEvent::Closed(_) => row.status = folio_domain::AccountStatus::Closed,
            AccountEvent::DefaultChanged(e) => row.is_default = e.is_default,
            AccountEvent::Reordered(e) => row.order = e.order,
        }
        touch(row, position, at);
        self.dirty_accounts.insert(id);
    }

    fn apply_payment(&mut self, position: u64, at: DateTime<Utc>, event: &PaymentEvent) {
        if self.scope == FoldScope::Balances {
            self.apply_counters(position, at, event);
            return;
        }
        let payment_id = event.payment_id();
        let mut lines = Lines::new(position, at, payment_id);
        let mut row = match event {
            PaymentEvent::Created(created) => PaymentRow {
                payment_id,
                status: created.status,
                legs: created.legs.clone(),
                source_account_id: None,
                destination_account_id: None,
                amount: created
                    .legs
                    .first()
                    .map(|leg| leg.amount)
                    .unwrap_or_default(),
                currency: match created.legs.first() {
                    Some(leg) => leg.currency,
                    None => return,
                },
                posted_amount: None,
                description: created.description.clone(),
                external_id: created.external_id.clone(),
                metadata: created.metadata.clone(),
                created_at: at,
                pended_at: None,
                posted_at: None,
                cancelled_at: None,
                expired_at: None,
                cancel_reason: None,
                expires_at: created.expires_at,
                last_position: position,
            },
            _ => match self
                .open_payments
                .remove(&payment_id)
                .or_else(|| self.changed_payments.remove(&payment_id))
            {
                Some(row) => row,
                // A payment the read model never saw open: nothing to update safely.
                None => return,
            },
        };
        if let PaymentEvent::Created(created) = event {
            if let Some(first) = created.legs.first() {
                row.source_account_id = self.customer_side(first.debit);
                row.destination_account_id = self.customer_side(first.credit);
            }
            match created.status {
                PaymentStatus::Posted => {
                    row.posted_at = Some(at);
                    row.posted_amount = Some(row.amount);
                    for leg in &created.legs {
                        lines.post(self, leg.debit, leg.credit, leg.amount, leg);
                    }
                }
                PaymentStatus::Pending => {
                    row.pended_at = Some(at);
                    for leg in &created.legs {
                        lines.hold(self, leg);
                    }
                }
                _ => {}
            }
        } else {
            match event {
                PaymentEvent::Created(_) => {}
                PaymentEvent::Pended(pended) => {
                    row.status = PaymentStatus::Pending;
                    row.pended_at = Some(at);
                    row.expires_at = pended.expires_at;
                    for leg in &pended.legs {
                        lines.hold(self, leg);
                    }
                }
                PaymentEvent::Posted(posted) => {
                    row.status = PaymentStatus::Posted;
                    row.posted_at = Some(at);
                    row.posted_amount = posted.legs.first().map(|leg| leg.posted);
                    for leg in &posted.legs {
                        let as_leg = Leg {
                            debit: leg.debit,
                            credit: leg.credit,
                            amount: leg.held,
                            currency: leg.currency,
                        };
                        lines.release(self, &as_leg);
                        lines.post(self, leg.debit, leg.credit, leg.posted, &as_leg);
                    }
                }
                PaymentEvent::Cancelled(cancelled) => {
                    row.status = PaymentStatus::Cancelled;
                    row.cancelled_at = Some(at);
                    row.cancel_reason = cancelled.reason.clone();
                    for leg in &cancelled.released {
                        lines.release(self, leg);
                    }
                }
                PaymentEvent::Expired(expired) => {
                    row.status = PaymentStatus::Expired;
                    row.expired_at = Some(at);
                    for leg in &expired.released {
                        lines.release(self, leg);
                    }
                }
            }
        }
        row.last_position = position;
        for line in &mut lines.rows {
            line.description = row.description.clone();
        }
        self.transactions.append(&mut lines.rows);
        if !row.status.is_final() {
            self.open_payments.insert(payment_id, row.clone());
        }
        self.changed_payments.insert(payment_id, row);
    }

    /// The balances scope: each leg of the event moves its accounts' counters; no lines, days
    /// or payment rows. Events carry their legs, so no payment state is needed.
    fn apply_counters(&mut self, position: u64, at: DateTime<Utc>, event: &PaymentEvent) {
        use Movement::{IncomingHold, IncomingRelease, Line};
        use TransactionType::{Deposit, Hold, Payback, Withdrawal};
        let mut moves: Vec<(AccountId, Movement, Decimal)> = Vec::with_capacity(4);
        match event {
            PaymentEvent::Created(created) => match created.status {
                PaymentStatus::Posted => {
                    for leg in &created.legs {
                        moves.push((leg.debit, Line(Withdrawal), leg.amount));
                        moves.push((leg.credit, Line(Deposit), leg.amount));
                    }
                }
                PaymentStatus::Pending => {
                    for leg in &created.legs {
                        moves.push((leg.debit, Line(Hold), leg.amount));
                        moves.push((leg.credit, IncomingHold, leg.amount));
                    }
                }
                _ => {}
            },
            PaymentEvent::Pended(pended) => {
                for leg in &pended.legs {
                    moves.push((leg.debit, Line(Hold), leg.amount));
                    moves.push((leg.credit, IncomingHold, leg.amount));
                }
            }
            PaymentEvent::Posted(posted) => {
                for leg in &posted.legs {
                    moves.push((leg.debit, Line(Payback), leg.held));
                    moves.push((leg.credit, IncomingRelease, leg.held));
                    moves.push((leg.debit, Line(Withdrawal), leg.posted));
                    moves.push((leg.credit, Line(Deposit), leg.posted));
                }
            }
            PaymentEvent::Cancelled(PaymentCancelled { released, .. })
            | PaymentEvent::Expired(PaymentExpired { released, .. }) => {
                for leg in released {
                    moves.push((leg.debit, Line(Payback), leg.amount));
                    moves.push((leg.credit, IncomingRelease, leg.amount));
                }
            }
        }
        for (account_id, movement, amount) in moves {
            self.move_account(account_id, movement, amount, position, at);
        }
    }

    /// The account as a payment's customer-facing side: none for the settlement account.
    fn customer_side(&self, id: AccountId) -> Option<AccountId> {
        match self.accounts.get(&id) {
            Some(row) if row.account_type == AccountType::Settlement => None,
            _ => Some(id),
        }
    }

    /// Applies one line's movement to its account and business day, returning the balances
    /// after it.
    fn move_account(
        &mut self,
        account_id: AccountId,
        kind: Movement,
        amount: Decimal,
        position: u64,
        at: DateTime<Utc>,
    ) -> Option<(Decimal, Decimal)> {
        if self.scope == FoldScope::Balances {
            let row = self.accounts.get_mut(&account_id)?;
            apply_movement(row, kind, amount);
            touch(row, position, at);
            let after = (row.balance(), row.available_balance());
            self.dirty_accounts.insert(account_id);
            return Some(after);
        }
        let day = match self.day_cache {
            Some((cached_at, day)) if cached_at == at => day,
            _ => {
                let day = self.business_day(at);
                self.day_cache = Some((at, day));
                day
            }
        };
        let row = self.accounts.get_mut(&account_id)?;
        let balance_before = row.balance();
        apply_movement(row, kind, amount);
        touch(row, position, at);
        let after = (row.balance(), row.available_balance());
        let currency = row.currency;
        self.dirty_accounts.insert(account_id);
        let posted = match kind {
            Movement::Line(TransactionType::Deposit) => Some((Decimal::ZERO, amount)),
            Movement::Line(TransactionType::Withdrawal) => Some((amount, Decimal::ZERO)),
            _ => None,
        };
        if let Some((debit, credit)) = posted {
            let today = match self.latest_days.remove(&account_id) {
                Some(latest) if latest.day == day => latest,
                latest => {
                    if let Some(previous) = latest {
                        // A later day began: the previous one is complete. Write it if this
                        // batch changed it and it is not written yet.
                        if self.dirty_days.remove(&account_id) {
                            self.closed_days.push(previous);
                        }
                    }
                    DailyRow {
                        account_id,
                        day,
                        currency,
                        opening: balance_before,
                        total_debits: Decimal::ZERO,
                        total_credits: Decimal::ZERO,
                        closing: balance_before,
                        movements: 0,
                    }
                }
            };
            let mut today = today;
            today.total_debits += debit;
            today.total_credits += credit;
            today.closing = after.0;
            today.movements += 1;
            self.latest_days.insert(account_id, today);
            self.dirty_days.insert(account_id);
        }
        Some(after)
    }
}

#[derive(Debug, Clone, Copy)]
enum Movement {
    Line(TransactionType),
    /// The credited side of a hold: no statement line, but its pending credits change.
    IncomingHold,
    IncomingRelease,
}

fn apply_movement(row: &mut AccountRow, kind: Movement, amount: Decimal) {
    match kind {
        Movement::Line(TransactionType::Deposit) => row.credits_posted += amount,
        Movement::Line(TransactionType::Withdrawal) => row.debits_posted += amount,
        Movement::Line(TransactionType::Hold) => row.debits_pending += amount,
        Movement::Line(TransactionType::Payback) => row.debits_pending -= amount,
        Movement::IncomingHold => row.credits_pending += amount,
        Movement::IncomingRelease => row.credits_pending -= amount,
    }
}

fn touch(row: &mut AccountRow, position: u64, at: DateTime<Utc>) {
    if row.last_position != position {
        row.version += 1;
    }
    row.last_position = position;
    row.updated_at = at;
}

/// The statement lines of one event.
struct Lines {
    position: u64,
    at: DateTime<Utc>,
    payment_id: PaymentId,
    rows: Vec<TransactionRow>,
}

impl Lines {
    fn new(position: u64, at: DateTime<Utc>, payment_id: PaymentId) -> Lines {
        Lines {
            position,
            at,
            payment_id,
            rows: Vec::with_capacity(2),
        }
    }

    fn line(
        &mut self,
        fold: &mut Fold,
        account_id: AccountId,
        kind: TransactionType,
        amount: Decimal,
        leg: &Leg,
    ) {
        if amount.is_zero() {
            return;
        }
        let Some((balance_after, available_after)) = fold.move_account(
            account_id,
            Movement::Line(kind),
            amount,
            self.position,
            self.at,
        ) else {
            return;
        };
        let line = self.rows.len() as u32;
        self.rows.push(TransactionRow {
            transaction_id: transaction_id(self.position, line),
            position: self.position,
            line,
            payment_id: self.payment_id,
            account_id,
            transaction_type: kind,
            amount,
            currency: leg.currency,
            balance_after,
            available_after,
            description: None,
            created_at: self.at,
        });
    }

    /// Posted money: a withdrawal from `debit`, a deposit to `credit`.
    fn post(
        &mut self,
        fold: &mut Fold,
        debit: AccountId,
        credit: AccountId,
        amount: Decimal,
        leg: &Leg,
    ) {
        self.line(fold, debit, TransactionType::Withdrawal, amount, leg);
        self.line(fold, credit, TransactionType::Deposit, amount, leg);
    }

    fn hold(&mut self, fold: &mut Fold, leg: &Leg) {
        self.line(fold, leg.debit, TransactionType::Hold, leg.amount, leg);
        fold.move_account(
            leg.credit,
            Movement::IncomingHold,
            leg.amount,
            self.position,
            self.at,
        );
    }

    fn release(&mut self, fold: &mut Fold, leg: &Leg) {
        self.line(fold, leg.debit, TransactionType::Payback, leg.amount, leg);
        fold.move_account(
            leg.credit,
            Movement::IncomingRelease,
            leg.amount,
            self.position,
            self.at,
        );
    }
}
