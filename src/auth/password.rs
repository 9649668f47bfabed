//! Staff passwords: Argon2id (the `argon2` crate's defaults, which are OWASP's recommended
//! m=19 MiB, t=2, p=1), stored as PHC strings so the parameters travel with each hash and can
//! be raised later without invalidating old ones.
//!
//! Hashing costs tens of milliseconds of CPU on purpose: callers run these functions on a
//! blocking thread (`web::block`), never on an async worker. [`verify_or_waste`] hashes
//! against a dummy when there is no account, so an unknown e-mail takes as long as a wrong
//! password and the answer's timing does not tell which e-mails exist.

use std::sync::OnceLock;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

/// Fewer characters than this are refused when a password is set.
pub const MIN_LENGTH: usize = 12;
/// More than this is refused too: hashing is linear in the input, and no one types 1 KiB.
pub const MAX_LENGTH: usize = 1024;

/// The PHC string of `password` under a fresh salt.
pub fn hash(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("Argon2id with default parameters hashes any input")
        .to_string()
}

/// Whether `password` matches the PHC string `stored`; a malformed `stored` never matches.
pub fn verify(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// As [`verify`], and with no stored hash it verifies against a dummy (always `false`), taking
/// the same time as a wrong password does.
pub fn verify_or_waste(password: &str, stored: Option<&str>) -> bool {
    static DUMMY: OnceLock<String> = OnceLock::new();
    match stored {
        Some(stored) => verify(password, stored),
        None => {
            let dummy = DUMMY.get_or_init(|| hash(&super::secrets::random_token(16)));
            let _ = verify(password, dummy);
            false
        }
    }
}

/// Why a new password is refused, in words for the form.
pub fn check_new(password: &str, repeated: &str) -> Result<(), String> {
    let chars = password.chars().count();
    if chars < MIN_LENGTH {
        return Err(format!(
            "must be at least {MIN_LENGTH} characters long (this one has {chars})"
        ));
    }
    if chars > MAX_LENGTH {
        return Err(format!("must be at most {MAX_LENGTH} characters long"));
    }
    if password.trim().is_empty() {
        return Err("must not be only spaces".into());
    }
    if password != repeated {
        return Err("the two passwords differ".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_salted_and_verify_only_the_password() {
        let a = hash("correct horse battery staple");
        assert!(a.starts_with("$argon2id$"), "{a}");
        assert_ne!(a, hash("correct horse battery staple"), "salted");
        assert!(verify("correct horse battery staple", &a));
        assert!(!verify("correct horse battery stapl", &a));
        assert!(!verify("anything", "not a phc string"));
        assert!(!verify_or_waste("anything", None));
        assert!(verify_or_waste("correct horse battery staple", Some(&a)));
    }

    #[test]
    fn new_passwords_need_length_and_a_matching_repeat() {
        assert!(check_new("short", "short")
            .unwrap_err()
            .contains("at least 12"));
        assert!(check_new("            ", "            ").is_err());
        assert!(check_new("long enough pass", "long enough pasS")
            .unwrap_err()
            .contains("differ"));
        assert!(check_new(&"x".repeat(2000), &"x".repeat(2000)).is_err());
        assert_eq!(check_new("long enough pass", "long enough pass"), Ok(()));
    }
}
