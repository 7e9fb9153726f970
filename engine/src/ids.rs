//! Where the engine's event ids come from, so that a simulation can make them reproducible.

use uuid::Uuid;

pub trait EventIds: Send + Sync + 'static {
    fn next_event_id(&self) -> Uuid;
}

/// Time-ordered random ids (UUIDv7): what a running server uses.
#[derive(Debug, Clone, Copy, Default)]
pub struct RandomEventIds;

impl EventIds for RandomEventIds {
    fn next_event_id(&self) -> Uuid {
        Uuid::now_v7()
    }
}
