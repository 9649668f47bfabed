//! Any text as a credential: access tokens, ack tokens and enrollment codes must be refused
//! or accepted without a panic, and nothing but a token signed with the secret verifies.
#![no_main]

use chrono::{Duration, Utc};
use libfuzzer_sys::fuzz_target;
use panic_gateway::auth::secrets::EnrollmentCode;
use panic_gateway::auth::tokens::TokenIssuer;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let issuer = TokenIssuer::new(b"fuzzing-secret-fuzzing-secret-0123", "pgw", "mobile", Duration::minutes(15));
    assert!(issuer.verify(text, Utc::now()).is_err());
    assert!(issuer.verify_ack(text, Utc::now()).is_err());
    if let Some(code) = EnrollmentCode::parse(text) {
        assert_eq!(EnrollmentCode::parse(&code.display()), Some(code.clone()));
        assert_eq!(code.digest().len(), 64);
    }
});
