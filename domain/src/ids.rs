//! Typed identifiers, so an account id is never passed where a payment id belongs.

use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self {
                $name(id)
            }
        }
    };
}

id_type!(
    /// An account (customer or internal).
    AccountId
);
id_type!(
    /// A payment: one or more legs that commit together.
    PaymentId
);
id_type!(
    /// The client (customer) that owns customer accounts.
    ClientId
);
id_type!(
    /// A transfer: the workflow (outgoing, incoming, internal) that a payment backs.
    TransferId
);
id_type!(
    /// A document (identity papers, an invoice, …) kept for a client or a transfer.
    DocumentId
);
id_type!(
    /// A client's saved beneficiary (name, account, bank details) for outgoing transfers.
    RecipientId
);
id_type!(
    /// A one-time-code confirmation of an operation (a transfer, or an operation on an account).
    ConfirmationId
);
