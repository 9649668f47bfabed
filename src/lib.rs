//! panic-gateway: turns a Gold customer's panic-button press into a page on the right
//! responder's phone. See `README.md` for the tour and `../shared/DESIGN.md` for the plan.

pub mod api;
pub mod auth;
pub mod bench;
pub mod clock;
pub mod config;
pub mod demo;
pub mod domain;
pub mod engine;
pub mod phone;
pub mod push;
pub mod startup;
pub mod store;
pub mod telemetry;
