//! Black-box tests of the gateway through HTTP, one module per capability.

#[path = "../support/mod.rs"]
mod support;

mod alerts;
mod contract;
mod escalation;
mod faults;
mod health;
mod identity;
mod lifecycle;
mod push;
mod sla;
mod tokens;
mod webhooks;
