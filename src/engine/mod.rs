//! Background workers. Each owns one job, runs in a loop, and is safe with several gateway
//! instances on one PostgreSQL database.

pub mod dispatcher;
pub mod escalator;
pub mod sla_watch;
pub mod webhooks;
