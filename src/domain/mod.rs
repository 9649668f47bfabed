//! Pure types and rules: no I/O, time passed in.

pub mod identity;
