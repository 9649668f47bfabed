//! Random secrets and their stored form.
//!
//! Refresh tokens and admin keys are shown once and stored only as SHA-256 digests: they are
//! 256 bits of fresh randomness, so a fast unsalted hash is enough (a password hash protects
//! low-entropy secrets, which these are not), and lookups by digest stay indexed.
//!
//! Enrollment codes have only 50 bits, short enough to try every one against a stolen plain
//! digest; they are stored as an HMAC-SHA256 under a server key derived from the signing
//! secret ([`EnrollmentCodeKeys`]), so the database alone is not enough to test a guess. Types
//! holding a secret print as `[redacted]`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::rngs::OsRng;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::domain::crockford;

/// Prefix that makes an admin key recognisable in a secret scanner.
pub const ADMIN_KEY_PREFIX: &str = "pgw_admin_";

/// `bytes` of OS randomness, base64url without padding.
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    OsRng.fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// The stored form of a secret: lowercase hex SHA-256.
pub fn digest(secret: &str) -> String {
    hex(&Sha256::digest(secret.as_bytes()))
}

/// A refresh token: 256 random bits.
pub fn new_refresh_token() -> String {
    random_token(32)
}

/// An admin API key: prefix + 256 random bits.
pub fn new_admin_key() -> String {
    format!("{ADMIN_KEY_PREFIX}{}", random_token(32))
}

const CODE_LEN: usize = 10;

/// A one-time enrollment code, normalised (`ABCDE12345`). Displayed as `ABCDE-12345`; 50 bits,
/// single use, expiring, and guarded by a failure rate limit.
#[derive(Clone, PartialEq, Eq)]
pub struct EnrollmentCode(String);

impl EnrollmentCode {
    pub fn generate() -> Self {
        Self(crockford::random(CODE_LEN))
    }

    /// Accepts what a person types: any case, spaces or dashes, and the letters Crockford
    /// maps to digits (O -> 0, I/L -> 1).
    pub fn parse(input: &str) -> Option<Self> {
        let mut out = String::with_capacity(CODE_LEN);
        for c in input.chars() {
            let c = match c.to_ascii_uppercase() {
                ' ' | '-' => continue,
                'O' => '0',
                'I' | 'L' => '1',
                c => c,
            };
            if !c.is_ascii() || !crockford::ALPHABET.contains(&(c as u8)) || out.len() == CODE_LEN {
                return None;
            }
            out.push(c);
        }
        (out.len() == CODE_LEN).then_some(Self(out))
    }

    /// `ABCDE-12345`, for showing once.
    pub fn display(&self) -> String {
        format!("{}-{}", &self.0[..5], &self.0[5..])
    }
}

/// Label of the key enrollment codes are hashed with, derived from each signing secret.
const ENROLLMENT_CODE_LABEL: &[u8] = b"panic-gateway enrollment-code v1";

/// The server keys enrollment codes are hashed with: one derived from the current signing
/// secret (new codes), and one from each previous secret, so a code issued before a rotation
/// still verifies until it expires.
#[derive(Clone)]
pub struct EnrollmentCodeKeys {
    /// The current key first.
    keys: Vec<[u8; 32]>,
}

impl EnrollmentCodeKeys {
    pub fn new<S: AsRef<[u8]>>(current: &[u8], previous: &[S]) -> Self {
        let derive = |secret: &[u8]| super::tokens::hmac(secret, ENROLLMENT_CODE_LABEL);
        let mut keys = vec![derive(current)];
        for secret in previous {
            let key = derive(secret.as_ref());
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
        Self { keys }
    }

    /// The stored form of a new code: lowercase hex HMAC-SHA256 under the current key.
    pub fn hash(&self, code: &EnrollmentCode) -> String {
        hex(&super::tokens::hmac(&self.keys[0], code.0.as_bytes()))
    }

    /// Every form `code` may be stored in: under the current key, then the previous ones.
    pub fn candidates(&self, code: &EnrollmentCode) -> Vec<String> {
        self.keys
            .iter()
            .map(|key| hex(&super::tokens::hmac(key, code.0.as_bytes())))
            .collect()
    }
}

impl std::fmt::Debug for EnrollmentCodeKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EnrollmentCodeKeys([redacted; {}])", self.keys.len())
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl std::fmt::Debug for EnrollmentCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EnrollmentCode([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_through_what_people_type() {
        let code = EnrollmentCode::generate();
        let shown = code.display();
        assert_eq!(shown.len(), 11);
        assert_eq!(EnrollmentCode::parse(&shown), Some(code.clone()));
        assert_eq!(
            EnrollmentCode::parse(&shown.to_lowercase().replace('-', " ")),
            Some(code)
        );
        assert_eq!(
            EnrollmentCode::parse("abcde-o1il0"),
            EnrollmentCode::parse("ABCDE01110")
        );
    }

    #[test]
    fn malformed_codes_are_refused() {
        assert!(EnrollmentCode::parse("").is_none());
        assert!(EnrollmentCode::parse("ABCDE-1234").is_none());
        assert!(EnrollmentCode::parse("ABCDE-123456").is_none());
        assert!(EnrollmentCode::parse("ABCDE-1234U").is_none());
        assert!(EnrollmentCode::parse("ÄBCDE-12345").is_none());
    }

    #[test]
    fn codes_are_hashed_under_the_current_key_and_verify_under_previous_ones() {
        let code = EnrollmentCode::generate();
        let old = EnrollmentCodeKeys::new(&[1u8; 32], &[] as &[&[u8]]);
        let rotated = EnrollmentCodeKeys::new(&[2u8; 32], &[[1u8; 32]]);
        let stored_before = old.hash(&code);
        assert_eq!(stored_before.len(), 64);
        // Not the plain digest, and not the same under another secret.
        assert_ne!(stored_before, digest(&code.0));
        assert_ne!(stored_before, rotated.hash(&code));
        // After the rotation, new codes use the new key; old ones are still found.
        assert_eq!(
            rotated.candidates(&code),
            [rotated.hash(&code), stored_before.clone()]
        );
        assert_eq!(old.candidates(&code), [stored_before]);
        // A previous secret equal to the current one adds nothing.
        assert_eq!(
            EnrollmentCodeKeys::new(&[1u8; 32], &[[1u8; 32]])
                .candidates(&code)
                .len(),
            1
        );
        assert!(!format!("{rotated:?}").contains("1, 1"));
    }

    #[test]
    fn secrets_are_random_and_digests_stable() {
        assert_ne!(new_refresh_token(), new_refresh_token());
        assert_eq!(new_refresh_token().len(), 43);
        assert!(new_admin_key().starts_with(ADMIN_KEY_PREFIX));
        assert_eq!(digest("abc").len(), 64);
        assert_eq!(digest("abc"), digest("abc"));
        assert_eq!(
            format!("{:?}", EnrollmentCode::generate()),
            "EnrollmentCode([redacted])"
        );
    }
}
