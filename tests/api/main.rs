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
mod console_contact_methods;
mod console_incident_oncall_policies;
mod console_people_sla_webhooks;
mod contact_methods;
mod contract;
mod customer_view;
mod email;
mod escalation;
mod escalation_link;
mod faults;
mod group_commit;
mod health;
mod idempotency;
mod identity;
mod lifecycle;
mod native_types;
mod outcomes;
mod paging;
mod push;
mod readiness;
mod round_robin;
mod sla;
mod sms;
mod tokens;
mod voice;
mod waiting;
mod webhooks;
