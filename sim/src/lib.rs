//! Folio's deterministic simulator, after TigerBeetle's VOPR: the real domain, engine, store
//! and projectors run on one thread under simulated time, driven by seeded clients and faults,
//! with every invariant checked as they go. One seed replays one run bit for bit.

pub mod audit;
pub mod block;
pub mod clock;
pub mod faults;
pub mod models;
pub mod reference;
pub mod rng;
pub mod sim;
pub mod trace;
pub mod workload;

pub use faults::{Fault, FaultSet};
pub use sim::{Report, SimConfig, Violation, run};
