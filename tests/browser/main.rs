//! Browser tests: real headless Chromium driven through WebDriver (chromedriver), against a
//! gateway spawned as in the HTTP suite. SQLite only: what differs between the backends is
//! tested through HTTP (tests/api/console.rs); these check what only a browser shows.
//!
//! Without `/usr/bin/chromedriver` (or `CHROMEDRIVER`) each test prints "skipped" and
//! passes; with `REQUIRE_BROWSER=1` (CI) it fails instead.

#[path = "../support/mod.rs"]
mod support;

mod console;
mod contacts;
mod escalation_link;
mod harness;
mod incident;
mod oncall;
mod people;
mod policies;
mod sla;
mod webhooks;
