//! Pure types and rules: no I/O, time passed in.

pub mod identity;
pub mod incident;
pub mod p1_definition;
pub mod priority;
