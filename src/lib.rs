//! panic-gateway: turns a Gold customer's panic-button press into a page on the right
//! responder's phone. See `README.md` for the tour and `../shared/DESIGN.md` for the plan.
//!
//! `admin_client`, `bench`, `demo`, `phone` and `push::mock` are the developer kit (the
//! `devkit` feature, on by default): production builds use `--no-default-features` and carry
//! none of them.

#[cfg(feature = "devkit")]
pub mod admin_client;
pub mod api;
pub mod auth;
#[cfg(feature = "devkit")]
pub mod bench;
pub mod channels;
pub mod clock;
pub mod config;
pub mod contact_actions;
#[cfg(feature = "devkit")]
pub mod demo;
pub mod domain;
pub mod engine;
pub mod error_chain;
pub mod incident_actions;
#[cfg(feature = "devkit")]
pub mod phone;
pub mod push;
pub mod secret_box;
pub mod startup;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod web;
