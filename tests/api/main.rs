//! Black-box tests of the gateway through HTTP, one module per capability.

#[path = "../support/mod.rs"]
mod support;

mod access;
mod admin_cli;
mod admin_keys;
mod alerts;
mod calendars;
mod configuration;
mod console;
mod console_pages;
mod contact_methods;
mod contract;
mod customer_view;
mod escalation;
mod escalation_link;
mod faults;
mod health;
mod idempotency;
mod identity;
mod lifecycle;
mod paging;
mod push;
mod sla;
mod sms;
mod tokens;
mod waiting;
mod webhooks;
