//! Random secrets and their stored form.
//!
//! Refresh tokens, admin keys and enrollment codes are shown once and stored only as SHA-256
//! digests: they are 50 to 256 bits of fresh randomness, so a fast unsalted hash is enough
//! (a password hash protects low-entropy secrets, which these are not), and lookups by digest
//! stay indexed. Types holding a secret print as `[redacted]`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::rngs::OsRng;
use rand::RngCore;
use sha2::{Digest, Sha256};

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
    let hash = Sha256::digest(secret.as_bytes());
    hash.iter().map(|b| format!("{b:02x}")).collect()
}

/// A refresh token: 256 random bits.
pub fn new_refresh_token() -> String {
    random_token(32)
}

/// An admin API key: prefix + 256 random bits.
pub fn new_admin_key() -> String {
    format!("{ADMIN_KEY_PREFIX}{}", random_token(32))
}

/// Crockford base32: no I, L, O, U, so a code read aloud or typed from paper survives.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const CODE_LEN: usize = 10;

/// A one-time enrollment code, normalised (`ABCDE12345`). Displayed as `ABCDE-12345`; 50 bits,
/// single use, expiring, and guarded by a failure rate limit.
#[derive(Clone, PartialEq, Eq)]
pub struct EnrollmentCode(String);

impl EnrollmentCode {
    pub fn generate() -> Self {
        let mut bytes = [0u8; CODE_LEN];
        OsRng.fill_bytes(&mut bytes);
        Self(
            bytes
                .iter()
                .map(|b| ALPHABET[(*b & 31) as usize] as char)
                .collect(),
        )
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
            if !c.is_ascii() || !ALPHABET.contains(&(c as u8)) || out.len() == CODE_LEN {
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

    pub fn digest(&self) -> String {
        digest(&self.0)
    }
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
