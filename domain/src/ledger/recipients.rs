//! Recipient decisions: adding a client's beneficiary (its bank details checked) and its visibility.

use super::{Ledger, check_account_number, check_text, invalid};
use crate::command::AddRecipient;
use crate::error::LedgerError;
use crate::event::*;
use crate::ids::{ClientId, RecipientId};
use crate::ledger::Receipt;
use crate::money::Currency;
use crate::recipient::{
    Recipient, is_country_code, is_valid_bic, is_valid_iban, is_valid_sort_code,
};

type Decided = Result<(Vec<Event>, Receipt), LedgerError>;

/// Longest recipient name accepted.
pub const MAX_RECIPIENT_NAME: usize = 140;

impl Ledger {
    /// The recipient `id` of `client_id`: another client's recipient is not found, so a client
    /// learns nothing about others' beneficiaries.
    pub(super) fn recipient_of(
        &self,
        id: RecipientId,
        client_id: ClientId,
    ) -> Result<&Recipient, LedgerError> {
        self.recipients
            .get(&id)
            .filter(|recipient| recipient.client_id == client_id)
            .ok_or(LedgerError::RecipientNotFound(id))
    }

    /// The account and name a transfer in `currency` to recipient `id` goes to.
    pub(super) fn transfer_recipient(
        &self,
        id: RecipientId,
        client_id: ClientId,
        currency: Currency,
    ) -> Result<&Recipient, LedgerError> {
        let recipient = self.recipient_of(id, client_id)?;
        if !recipient.is_visible {
            return Err(LedgerError::RecipientHidden(id));
        }
        if recipient.currency != currency {
            return Err(LedgerError::RecipientCurrencyMismatch {
                recipient: id,
                recipient_currency: recipient.currency,
                transfer_currency: currency,
            });
        }
        Ok(recipient)
    }

    pub(super) fn decide_add_recipient(&self, add: &AddRecipient) -> Decided {
        if self.recipients.contains_key(&add.recipient_id) {
            return Err(LedgerError::RecipientAlreadyExists(add.recipient_id));
        }
        if add.name.trim().is_empty() || add.name.len() > MAX_RECIPIENT_NAME {
            return Err(invalid(format!(
                "name: a recipient's name has 1 to {MAX_RECIPIENT_NAME} bytes"
            )));
        }
        check_text("name", &add.name)?;
        match (&add.account_number, &add.iban) {
            (Some(number), None) => {
                check_account_number(number)
                    .map_err(|_| invalid("accountNumber: 1 to 34 letters, digits or dashes"))?;
            }
            (None, Some(iban)) => {
                if !is_valid_iban(iban) {
                    return Err(invalid(format!(
                        "iban: {iban:?} is not a valid IBAN (country, check digits, 11 to 30 letters or digits, mod-97 check)"
                    )));
                }
            }
            _ => {
                return Err(invalid(
                    "accountNumber: give exactly one of accountNumber and iban",
                ));
            }
        }
        if let Some(bic) = &add.bic
            && !is_valid_bic(bic)
        {
            return Err(invalid(format!(
                "bic: {bic:?} is not a BIC (4 letters, a country code, 2 and optionally 3 more letters or digits)"
            )));
        }
        if let Some(sort_code) = &add.sort_code
            && !is_valid_sort_code(sort_code)
        {
            return Err(invalid("sortCode: a sort code is six digits"));
        }
        if !is_country_code(&add.country) {
            return Err(invalid(format!(
                "country: {:?} is not an ISO-3166 alpha-2 country code",
                add.country
            )));
        }
        if let Some(address) = &add.address {
            check_text("address", address)?;
        }
        let event = Event {
            body: EventBody::Recipient(RecipientEvent::Added(Box::new(RecipientAdded {
                recipient_id: add.recipient_id,
                client_id: add.client_id,
                name: add.name.clone(),
                recipient_type: add.recipient_type,
                account_number: add.account_number.clone(),
                iban: add.iban.clone(),
                bic: add.bic.clone(),
                sort_code: add.sort_code.clone(),
                currency: add.currency,
                country: add.country.clone(),
                address: add.address.clone(),
            }))),
            revision: 0,
            idempotency: None,
        };
        Ok((vec![event], Receipt::Recipient(add.recipient_id)))
    }

    pub(super) fn decide_recipient_visibility(
        &self,
        recipient_id: RecipientId,
        is_visible: bool,
    ) -> Decided {
        let recipient = self
            .recipients
            .get(&recipient_id)
            .ok_or(LedgerError::RecipientNotFound(recipient_id))?;
        let event = Event {
            body: EventBody::Recipient(RecipientEvent::VisibilityChanged(
                RecipientVisibilityChanged {
                    recipient_id,
                    is_visible,
                },
            )),
            revision: recipient.revision + 1,
            idempotency: None,
        };
        Ok((vec![event], Receipt::Recipient(recipient_id)))
    }

    pub(super) fn apply_recipient(&mut self, event: &RecipientEvent, revision: u64) {
        match event {
            RecipientEvent::Added(added) => {
                let account = added
                    .iban
                    .clone()
                    .or_else(|| added.account_number.clone())
                    .unwrap_or_default();
                self.recipients.insert(
                    added.recipient_id,
                    Recipient {
                        id: added.recipient_id,
                        client_id: added.client_id,
                        name: added.name.clone(),
                        account,
                        currency: added.currency,
                        is_visible: true,
                        revision,
                    },
                );
            }
            RecipientEvent::VisibilityChanged(changed) => {
                if let Some(recipient) = self.recipients.get_mut(&changed.recipient_id) {
                    recipient.is_visible = changed.is_visible;
                    recipient.revision = revision;
                }
            }
        }
    }
}
