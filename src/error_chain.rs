//! One line for a failure and its causes, so each failure is logged once with its whole chain.
//!
//! At the bottom of the crate because the API (answering 500/503) and the engine (retrying a
//! round) both log failures, and the engine must not depend on the API.

/// `cause: source: source ...`, for one log line per failure.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(s) = next {
        out.push_str(": ");
        out.push_str(&s.to_string());
        next = s.source();
    }
    out
}
