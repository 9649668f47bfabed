//! Pure types and rules: no I/O, time passed in.

pub mod admin_key;
pub mod calendar;
pub mod configuration;
pub mod constant_time;
pub mod contact;
pub mod countdown;
pub mod crockford;
pub mod customer_view;
pub mod escalation;
pub mod ical;
pub mod idempotency_key;
pub mod identity;
pub mod incident;
pub mod minutes;
pub mod outbound_address;
pub mod p1_definition;
pub mod platform;
pub mod priority;
pub mod push_token;
pub mod readiness;
pub mod schedule;
pub mod shift_feed;
pub mod sla;
pub mod team;
pub mod ticket_ref;
pub mod timeline;
