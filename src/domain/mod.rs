//! Pure domain types and rules: no I/O, time passed in, exhaustively unit-tested.

pub mod calendar;
pub mod escalation;
pub mod minutes;
pub mod schedule;
pub mod sla;
