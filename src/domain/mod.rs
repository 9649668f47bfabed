//! Pure types and rules: no I/O, time passed in.

pub mod calendar;
pub mod customer_view;
pub mod escalation;
pub mod identity;
pub mod incident;
pub mod minutes;
pub mod p1_definition;
pub mod priority;
pub mod schedule;
pub mod sla;
