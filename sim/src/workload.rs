//! The simulated clients' intentions: random commands over the accounts and payments they know
//! of, valid and invalid — every lifecycle path, hot accounts, unknown ids, bad amounts,
//! illegal transitions and mismatched currencies — and clients' saved recipients, which move no
//! money but go through the same log, snapshots and read models.

use crate::rng::Rng;
use chrono::{DateTime, Duration, Utc};
use folio_domain::{
    AccountId, AccountStatus, AccountType, AddRecipient, ClientId, ClientProfile, ClientType,
    CommandKind, CreateMode, CreatePayment, Currency, LegRequest, OpenAccount, PaymentId,
    RecipientId, RecipientType,
};
use rust_decimal::Decimal;

/// How many customer accounts the clients aim to have open.
const TARGET_ACCOUNTS: usize = 24;
/// Payments remembered for later commands (older ones are forgotten, not deleted).
const REMEMBERED_PAYMENTS: usize = 512;

#[derive(Debug, Clone)]
struct KnownAccount {
    id: AccountId,
    currency: Currency,
    client: Option<ClientId>,
}

#[derive(Debug, Clone)]
struct KnownPayment {
    id: PaymentId,
    amount: Decimal,
    currency: Currency,
}

pub struct Workload {
    rng: Rng,
    currencies: Vec<Currency>,
    clients: Vec<ClientId>,
    /// Clients not yet registered (every client is, before its first account).
    unregistered: Vec<ClientId>,
    accounts: Vec<KnownAccount>,
    /// A few accounts most transfers touch, to make the writer serialize on them.
    hot: Vec<AccountId>,
    payments: Vec<KnownPayment>,
    recipients: Vec<RecipientId>,
}

impl Workload {
    pub fn new(mut rng: Rng) -> Workload {
        let currencies = ["EUR", "USD", "JPY", "BHD"]
            .iter()
            .filter_map(|code| Currency::from_code(code).ok())
            .collect();
        let clients: Vec<ClientId> = (0..6).map(|_| ClientId(rng.uuid())).collect();
        Workload {
            rng,
            currencies,
            unregistered: clients.clone(),
            clients,
            accounts: Vec::new(),
            hot: Vec::new(),
            payments: Vec::new(),
            recipients: Vec::new(),
        }
    }

    /// Remembers what an acknowledged command created, for later commands to use.
    pub fn learn(&mut self, kind: &CommandKind) {
        match kind {
            CommandKind::RegisterClient { client_id, .. } => {
                self.unregistered.retain(|id| id != client_id);
            }
            CommandKind::OpenAccount(open) => {
                self.accounts.push(KnownAccount {
                    id: open.account_id,
                    currency: open.currency,
                    client: open.client_id,
                });
                if self.hot.len() < 3 {
                    self.hot.push(open.account_id);
                }
            }
            CommandKind::AddRecipient(add) => self.recipients.push(add.recipient_id),
            CommandKind::CreatePayment(create) => {
                let Some(first) = create.legs.first() else {
                    return;
                };
                if self.payments.len() == REMEMBERED_PAYMENTS {
                    let forget = self.rng.below(REMEMBERED_PAYMENTS as u64) as usize;
                    self.payments.swap_remove(forget);
                }
                self.payments.push(KnownPayment {
                    id: create.payment_id,
                    amount: first.amount,
                    currency: first.currency,
                });
            }
            _ => {}
        }
    }

    /// The next command some client sends, with a short label for the trace.
    pub fn next(&mut self, now: DateTime<Utc>) -> (CommandKind, &'static str) {
        if let Some(&client_id) = self.unregistered.first()
            && self.rng.chance(500)
        {
            let profile = ClientProfile::new(ClientType::Individual, "Sim Client".to_string());
            return (
                CommandKind::RegisterClient {
                    client_id,
                    profile: Box::new(profile),
                },
                "register",
            );
        }
        if self.accounts.is_empty()
            || (self.accounts.len() < TARGET_ACCOUNTS && self.rng.chance(300))
        {
            return (self.open_account(), "open");
        }
        match self.rng.below(1000) {
            0..=179 => (self.pay_in(), "pay-in"),
            180..=429 => (self.transfer(CreateMode::Posted, None), "transfer"),
            430..=479 => (self.multi_leg(), "multi-leg"),
            480..=579 => {
                let expires_at = self
                    .rng
                    .chance(400)
                    .then(|| now + Duration::milliseconds(self.rng.between(-50, 8_000)));
                (self.transfer(CreateMode::Pending, expires_at), "hold")
            }
            580..=629 => (self.transfer(CreateMode::Draft, None), "draft"),
            630..=699 => (self.pend(now), "pend"),
            700..=799 => (self.post(), "post"),
            800..=859 => (self.cancel(), "cancel"),
            860..=929 => (self.invalid(), "invalid"),
            930..=964 => (self.account_change(), "account-change"),
            965..=969 => (self.client_change(), "client-change"),
            970..=984 => (self.open_account(), "open"),
            985..=987 => (self.add_recipient(), "recipient"),
            988..=989 => (self.recipient_visibility(), "recipient-visibility"),
            _ => (self.expire(), "expire"),
        }
    }

    fn currency(&mut self) -> Currency {
        let index = self.rng.below(self.currencies.len() as u64) as usize;
        self.currencies[index]
    }

    /// An amount in the currency's minor units, mostly small, sometimes large.
    fn amount(&mut self, currency: Currency) -> Decimal {
        let units = if self.rng.chance(50) {
            self.rng.between(1, 5_000_000)
        } else {
            self.rng.between(1, 20_000)
        };
        Decimal::new(units, currency.minor_units())
    }

    fn account(&mut self) -> KnownAccount {
        let index = self.rng.below(self.accounts.len() as u64) as usize;
        self.accounts[index].clone()
    }

    /// A hot account a third of the time, else any.
    fn busy_account(&mut self) -> KnownAccount {
        if !self.hot.is_empty() && self.rng.chance(330) {
            let hot = self.hot[self.rng.below(self.hot.len() as u64) as usize];
            if let Some(account) = self.accounts.iter().find(|a| a.id == hot) {
                return account.clone();
            }
        }
        self.account()
    }

    /// Another account of the same currency, if there is one (else any account).
    fn counterpart(&mut self, of: &KnownAccount) -> KnownAccount {
        let same: Vec<KnownAccount> = self
            .accounts
            .iter()
            .filter(|a| a.currency == of.currency && a.id != of.id)
            .cloned()
            .collect();
        match self.rng.pick(&same) {
            Some(account) => account.clone(),
            None => self.account(),
        }
    }

    fn open_account(&mut self) -> CommandKind {
        let currency = self.currency();
        let client = self.clients[self.rng.below(self.clients.len() as u64) as usize];
        let overdraft_limit = if self.rng.chance(150) {
            Decimal::new(self.rng.between(1, 100_000), currency.minor_units())
        } else {
            Decimal::ZERO
        };
        CommandKind::OpenAccount(OpenAccount {
            account_id: AccountId(self.rng.uuid()),
            client_id: Some(client),
            currency,
            account_type: if self.rng.chance(200) {
                AccountType::Savings
            } else {
                AccountType::Current
            },
            name: self.rng.chance(500).then(|| "simulated".to_string()),
            number: None,
            overdraft_limit,
            status: if self.rng.chance(60) {
                AccountStatus::Inactive
            } else {
                AccountStatus::Active
            },
        })
    }

    fn payment(&mut self, legs: Vec<LegRequest>, mode: CreateMode) -> CreatePayment {
        CreatePayment {
            payment_id: PaymentId(self.rng.uuid()),
            legs,
            mode,
            description: self.rng.chance(300).then(|| "sim".to_string()),
            external_id: None,
            metadata: None,
            expires_at: None,
        }
    }

    fn pay_in(&mut self) -> CommandKind {
        let to = self.account();
        let amount = self.amount(to.currency) * Decimal::from(self.rng.between(1, 20));
        let leg = LegRequest {
            debit: None,
            credit: Some(to.id),
            amount,
            currency: to.currency,
        };
        CommandKind::CreatePayment(self.payment(vec![leg], CreateMode::Posted))
    }

    fn transfer(&mut self, mode: CreateMode, expires_at: Option<DateTime<Utc>>) -> CommandKind {
        let from = self.busy_account();
        let to = match self.rng.below(100) {
            // The same account, or one of another currency: both must be refused.
            0..=1 => from.clone(),
            2..=4 => self.account(),
            _ => self.counterpart(&from),
        };
        let pay_out = self.rng.chance(60);
        let leg = LegRequest {
            debit: Some(from.id),
            credit: (!pay_out).then_some(to.id),
            amount: self.amount(from.currency),
            currency: from.currency,
        };
        let mut create = self.payment(vec![leg], mode);
        create.expires_at = expires_at;
        CommandKind::CreatePayment(create)
    }

    fn multi_leg(&mut self) -> CommandKind {
        let count = self.rng.between(2, 4);
        let mut legs = Vec::new();
        for _ in 0..count {
            let from = self.busy_account();
            let to = self.counterpart(&from);
            legs.push(LegRequest {
                debit: Some(from.id),
                credit: Some(to.id),
                amount: self.amount(from.currency),
                currency: from.currency,
            });
        }
        let mode = if self.rng.chance(300) {
            CreateMode::Pending
        } else {
            CreateMode::Posted
        };
        CommandKind::CreatePayment(self.payment(legs, mode))
    }

    fn known_payment(&mut self) -> Option<KnownPayment> {
        self.rng.pick(&self.payments).cloned()
    }

    fn some_payment_id(&mut self) -> PaymentId {
        match self.known_payment() {
            Some(payment) if !self.rng.chance(30) => payment.id,
            _ => PaymentId(self.rng.uuid()),
        }
    }

    fn pend(&mut self, now: DateTime<Utc>) -> CommandKind {
        let expires_at = self
            .rng
            .chance(300)
            .then(|| now + Duration::milliseconds(self.rng.between(0, 10_000)));
        CommandKind::PendPayment {
            payment_id: self.some_payment_id(),
            expires_at,
        }
    }

    fn post(&mut self) -> CommandKind {
        let Some(payment) = self.known_payment() else {
            return self.expire();
        };
        let amount = match self.rng.below(10) {
            0..=5 => None,
            // Part of a single leg's hold (or, for several legs, a refusal).
            6..=8 => {
                let units = (payment.amount
                    * Decimal::from(10u64.pow(payment.currency.minor_units())))
                .trunc();
                let units = i64::try_from(units).unwrap_or(1).max(1);
                Some(Decimal::new(
                    self.rng.between(1, units),
                    payment.currency.minor_units(),
                ))
            }
            // More than was held.
            _ => Some(payment.amount + Decimal::ONE),
        };
        CommandKind::PostPayment {
            payment_id: payment.id,
            amount,
        }
    }

    fn cancel(&mut self) -> CommandKind {
        CommandKind::CancelPayment {
            payment_id: self.some_payment_id(),
            reason: self.rng.chance(500).then(|| "changed my mind".to_string()),
        }
    }

    fn expire(&mut self) -> CommandKind {
        CommandKind::ExpirePayment {
            payment_id: self.some_payment_id(),
        }
    }

    fn invalid(&mut self) -> CommandKind {
        let account = self.account();
        let currency = account.currency;
        let (debit, credit, amount) = match self.rng.below(6) {
            // An unknown account on either side.
            0 => (
                Some(AccountId(self.rng.uuid())),
                Some(account.id),
                Decimal::ONE,
            ),
            1 => (
                Some(account.id),
                Some(AccountId(self.rng.uuid())),
                Decimal::ONE,
            ),
            // Zero, negative, over-precise, absurd.
            2 => (None, Some(account.id), Decimal::ZERO),
            3 => (None, Some(account.id), Decimal::new(-5, 0)),
            4 => (
                None,
                Some(account.id),
                Decimal::new(7, currency.minor_units() + 1),
            ),
            _ => (
                None,
                Some(account.id),
                Decimal::new(1, 0) * Decimal::from(10i64.pow(16)),
            ),
        };
        let leg = LegRequest {
            debit,
            credit,
            amount,
            currency,
        };
        CommandKind::CreatePayment(self.payment(vec![leg], CreateMode::Posted))
    }

    /// Blocks are rare and unblocks common, so a blocked client's refusals come and go.
    fn client_change(&mut self) -> CommandKind {
        let client_id = self.clients[self.rng.below(self.clients.len() as u64) as usize];
        if self.rng.chance(250) {
            CommandKind::BlockClient {
                client_id,
                reason: None,
            }
        } else {
            CommandKind::UnblockClient {
                client_id,
                reason: None,
            }
        }
    }

    /// One client's accounts in a shuffled order (sometimes with a stranger's account in it).
    fn reorder(&mut self) -> CommandKind {
        let client_id = self.clients[self.rng.below(self.clients.len() as u64) as usize];
        let mut account_ids: Vec<AccountId> = self
            .accounts
            .iter()
            .filter(|account| account.client == Some(client_id))
            .map(|account| account.id)
            .collect();
        for index in (1..account_ids.len()).rev() {
            let other = self.rng.below(index as u64 + 1) as usize;
            account_ids.swap(index, other);
        }
        if self.rng.chance(100) {
            account_ids.push(self.account().id);
        }
        CommandKind::ReorderAccounts {
            client_id,
            account_ids,
        }
    }

    /// A saved beneficiary for some client; one in ten has a broken IBAN (refused), and some
    /// name a client that is not registered yet (refused too).
    fn add_recipient(&mut self) -> CommandKind {
        let client_id = self.clients[self.rng.below(self.clients.len() as u64) as usize];
        let iban = if self.rng.chance(100) {
            "DE89370400440532013001"
        } else {
            "DE89370400440532013000"
        };
        CommandKind::AddRecipient(Box::new(AddRecipient {
            recipient_id: RecipientId(self.rng.uuid()),
            client_id,
            name: "Sim Recipient".to_string(),
            recipient_type: RecipientType::Company,
            account_number: None,
            iban: Some(iban.to_string()),
            bic: None,
            sort_code: None,
            currency: self.currency(),
            country: "DE".to_string(),
            address: None,
        }))
    }

    /// Hides or shows a known recipient (or an unknown one: refused).
    fn recipient_visibility(&mut self) -> CommandKind {
        let recipient_id = match self.rng.pick(&self.recipients) {
            Some(&id) if !self.rng.chance(50) => id,
            _ => RecipientId(self.rng.uuid()),
        };
        CommandKind::SetRecipientVisibility {
            recipient_id,
            is_visible: self.rng.chance(500),
        }
    }

    fn account_change(&mut self) -> CommandKind {
        let account_id = self.account().id;
        match self.rng.below(12) {
            0 => CommandKind::BlockAccount {
                account_id,
                reason: None,
            },
            1..=5 => CommandKind::UnblockAccount { account_id },
            6..=7 => CommandKind::ActivateAccount { account_id },
            10 => CommandKind::SetDefaultAccount {
                account_id,
                is_default: !self.rng.chance(200),
            },
            11 => self.reorder(),
            8 => CommandKind::RenameAccount {
                account_id,
                name: Some("renamed".to_string()),
            },
            // Refused while money is on it, which is most of the time.
            _ => CommandKind::CloseAccount { account_id },
        }
    }
}
