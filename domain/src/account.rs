//! Accounts: their kinds, statuses, balance policy and the four TigerBeetle-style counters.

use crate::ids::{AccountId, ClientId};
use crate::money::Currency;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// What an account is for. Customer accounts belong to a client; internal ones to the bank.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum AccountType {
    Current,
    Savings,
    /// The bank's account at the outside world for one currency (the other side of pay-ins
    /// and pay-outs).
    Settlement,
    /// Money the bank holds but cannot yet assign (e.g. an unrecognized incoming transfer).
    Suspense,
    /// The bank's position in one currency for FX payments.
    FxPosition,
    /// Fees the bank earned.
    Fee,
}

impl AccountType {
    pub fn is_internal(self) -> bool {
        !matches!(self, AccountType::Current | AccountType::Savings)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum AccountStatus {
    /// Opened but not yet in use: may receive money, may not send it.
    Inactive,
    Active,
    /// Frozen: neither sends nor receives until unblocked.
    Blocked,
    /// Final: nothing moves ever again.
    Closed,
}

/// How far an account may go: customer accounts stop at minus their overdraft limit, internal
/// accounts may go negative without bound (they mirror money outside the ledger).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BalancePolicy {
    pub allow_negative: bool,
    pub overdraft_limit: Decimal,
}

impl BalancePolicy {
    pub fn for_type(account_type: AccountType, overdraft_limit: Decimal) -> BalancePolicy {
        BalancePolicy {
            allow_negative: account_type.is_internal(),
            overdraft_limit,
        }
    }
}

/// An account's state as the ledger holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Account {
    pub id: AccountId,
    pub number: String,
    pub client_id: Option<ClientId>,
    pub currency: Currency,
    pub account_type: AccountType,
    pub status: AccountStatus,
    pub name: Option<String>,
    pub policy: BalancePolicy,
    pub debits_pending: Decimal,
    pub debits_posted: Decimal,
    pub credits_pending: Decimal,
    pub credits_posted: Decimal,
    /// Its client's default account for its currency (at most one per client and currency).
    /// Absent from snapshots taken before defaults existed: false.
    #[serde(default)]
    pub is_default: bool,
    /// Where the account comes in its client's display order (0 first).
    #[serde(default)]
    pub order: u32,
    /// Revision of the last event on this account's own stream (`account-{id}`).
    pub revision: u64,
}

impl Account {
    /// Posted money in minus posted money out.
    pub fn balance(&self) -> Decimal {
        self.credits_posted - self.debits_posted
    }

    /// Money reserved by pending payments that will leave this account.
    pub fn held(&self) -> Decimal {
        self.debits_pending
    }

    /// `balance - held`: what the account owns outright right now (the API's availableBalance).
    pub fn available_balance(&self) -> Decimal {
        self.balance() - self.held()
    }

    /// May `amount` more leave this account (as a hold or a posted debit)?
    pub fn can_spend(&self, amount: Decimal) -> bool {
        self.policy.allow_negative
            || self.available_balance() + self.policy.overdraft_limit >= amount
    }

    /// Nothing posted and nothing pending on either side: the account can be closed.
    pub fn is_empty(&self) -> bool {
        self.balance().is_zero() && self.debits_pending.is_zero() && self.credits_pending.is_zero()
    }
}
