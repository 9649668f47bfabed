//! Who may call what: enrollment codes, access tokens, refresh tokens, admin keys, and the
//! actix extractors that make the wrong caller a compile error in a handler's signature.

pub mod extract;
pub mod rate_limit;
pub mod secrets;
pub mod tokens;

use anyhow::Context;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use chrono::{DateTime, Duration, Utc};

pub use extract::{Admin, AnyDevice, CustomerDevice, ResponderDevice};

use crate::config::AuthSettings;
use crate::store::{Store, StoreError};
use secrets::EnrollmentCode;

const DEV_SECRET_KEY: &str = "auth.dev_jwt_secret";
const MIN_SECRET_BYTES: usize = 32;

/// Reads a configured secret: base64 (standard or URL-safe) of >= 32 bytes, else >= 32 raw
/// characters.
pub fn decode_secret(text: &str) -> Option<Vec<u8>> {
    let text = text.trim();
    STANDARD
        .decode(text)
        .or_else(|_| URL_SAFE_NO_PAD.decode(text))
        .ok()
        .filter(|b| b.len() >= MIN_SECRET_BYTES)
        .or_else(|| (text.len() >= MIN_SECRET_BYTES).then(|| text.as_bytes().to_vec()))
}

/// The access-token signing secret: from the configured file or value, else a development
/// secret generated once and kept in the database (so restarts and several instances on one
/// database agree).
pub async fn signing_secret(
    settings: &AuthSettings,
    store: &Store,
    now: DateTime<Utc>,
) -> anyhow::Result<Vec<u8>> {
    if !settings.jwt_secret_file.is_empty() {
        let text = std::fs::read_to_string(&settings.jwt_secret_file).with_context(|| {
            format!(
                "cannot read auth.jwt_secret_file {}",
                settings.jwt_secret_file
            )
        })?;
        return decode_secret(&text)
            .context("auth.jwt_secret_file must hold at least 32 bytes (base64) or 32 characters");
    }
    if !settings.jwt_secret.is_empty() {
        return decode_secret(&settings.jwt_secret).context("auth.jwt_secret is too short");
    }
    let stored = store
        .setting_or_insert(DEV_SECRET_KEY, &secrets::random_token(32), now)
        .await?;
    tracing::warn!(
        "auth.jwt_secret_file is not set: using a development signing secret generated at first \
         start and kept in the database; configure a secret file in production"
    );
    decode_secret(&stored).context("stored development secret is unreadable")
}

/// Creates an admin API key; the key is returned once and only its digest is stored.
pub async fn create_admin_key(
    store: &Store,
    name: &str,
    now: DateTime<Utc>,
) -> Result<(String, String), StoreError> {
    let key = secrets::new_admin_key();
    let id = store
        .create_admin_key(name, &secrets::digest(&key), now)
        .await?;
    Ok((id, key))
}

/// Issues a one-time enrollment code for `user_id`; returned once, stored as a digest.
pub async fn issue_enrollment_code(
    store: &Store,
    user_id: &str,
    ttl: Duration,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<(EnrollmentCode, DateTime<Utc>), StoreError> {
    let code = EnrollmentCode::generate();
    let expires_at = now + ttl;
    store
        .create_enrollment_code(user_id, &code.digest(), expires_at, actor, now)
        .await?;
    Ok((code, expires_at))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_decode_from_base64_or_raw_and_must_be_long() {
        let b64 = STANDARD.encode([7u8; 32]);
        assert_eq!(decode_secret(&b64).unwrap(), vec![7u8; 32]);
        assert_eq!(decode_secret(&format!("{b64}\n")).unwrap(), vec![7u8; 32]);
        assert!(decode_secret(&STANDARD.encode([7u8; 16])).is_none());
        assert_eq!(decode_secret(&"x".repeat(40)).unwrap().len(), 40);
        assert!(decode_secret("short").is_none());
    }
}
