//! The recipient read model's part of the fold: a row per recipient added, its visibility after.

use crate::fold::Fold;
use crate::rows::{RecipientDetails, RecipientRow, RecipientVisibility};
use chrono::{DateTime, Utc};
use folio_domain::RecipientEvent;

impl Fold {
    pub(crate) fn apply_recipient(
        &mut self,
        position: u64,
        at: DateTime<Utc>,
        event: &RecipientEvent,
    ) {
        match event {
            RecipientEvent::Added(added) => {
                let row = RecipientRow {
                    recipient_id: added.recipient_id,
                    client_id: added.client_id,
                    is_visible: true,
                    details: RecipientDetails {
                        name: added.name.clone(),
                        recipient_type: added.recipient_type,
                        account_number: added.account_number.clone(),
                        iban: added.iban.clone(),
                        bic: added.bic.clone(),
                        sort_code: added.sort_code.clone(),
                        currency: added.currency,
                        country: added.country.clone(),
                        address: added.address.clone(),
                    },
                    created_at: at,
                    updated_at: at,
                    last_position: position,
                };
                self.added_recipients.insert(added.recipient_id, row);
            }
            RecipientEvent::VisibilityChanged(changed) => {
                // A row added in this batch is written whole; an older one gets an update, so
                // the fold needs no recipient state carried between batches.
                match self.added_recipients.get_mut(&changed.recipient_id) {
                    Some(row) => {
                        row.is_visible = changed.is_visible;
                        row.updated_at = at;
                        row.last_position = position;
                    }
                    None => self.recipient_visibility.push(RecipientVisibility {
                        recipient_id: changed.recipient_id,
                        is_visible: changed.is_visible,
                        at,
                        position,
                    }),
                }
            }
        }
    }
}
