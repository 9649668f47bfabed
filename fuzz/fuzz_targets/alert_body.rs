//! Any bytes as a panic-button body: parsed and validated exactly as POST /v1/alerts does,
//! it must end in a value or a problem, never a panic, and a problem must be a client error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use panic_gateway::api::alerts::check_press;
use panic_gateway::api::json::parse;

fuzz_target!(|data: &[u8]| {
    match parse::<serde_json::Value>(data).and_then(check_press) {
        Ok(press) => assert!(!press.summary.is_empty() && press.summary.chars().count() <= 200),
        Err(problem) => assert!((400..500).contains(&problem.status)),
    }
});
