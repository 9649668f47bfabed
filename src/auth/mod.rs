//! Who may call what: enrollment codes, access tokens, refresh tokens, admin keys, and the
//! actix extractors that make the wrong caller a compile error in a handler's signature.

pub mod client_address;
pub mod password;
pub mod rate_limit;
pub mod secrets;
mod settings;
pub mod tokens;
pub mod unauthenticated;

use std::path::{Path, PathBuf};

use anyhow::Context;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;
use chrono::{DateTime, Duration, Utc};

pub use settings::AuthSettings;

use crate::domain::admin_key::AdminKey;
use crate::store::admin_keys::NewAdminKey;
use crate::store::{Store, StoreError};
use secrets::{EnrollmentCode, EnrollmentCodeKeys};

const MIN_SECRET_BYTES: usize = 32;

/// Values that ship in examples and must never sign anything.
const PLACEHOLDERS: [&str; 3] = ["change_me", "changeme", "replace_me"];

/// Reads a configured secret: base64 (standard or URL-safe, padded or not) of at least 32
/// bytes. Placeholders and plain text are refused, with the reason.
pub fn parse_secret(text: &str) -> Result<Vec<u8>, &'static str> {
    let text = text.trim();
    let lower = text.to_ascii_lowercase();
    if PLACEHOLDERS.iter().any(|p| lower.contains(p)) {
        return Err("is a placeholder from the examples; generate one with \
                    `head -c 32 /dev/urandom | base64`");
    }
    let bytes = [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|engine| engine.decode(text).ok())
        .ok_or("must be base64 of at least 32 random bytes (`head -c 32 /dev/urandom | base64`), not plain text")?;
    if bytes.len() < MIN_SECRET_BYTES {
        return Err("must be base64 of at least 32 random bytes; this one is shorter");
    }
    Ok(bytes)
}

/// 32 bytes from the operating system's generator.
fn random_key() -> Vec<u8> {
    use rand::RngCore;
    let mut key = vec![0u8; MIN_SECRET_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut key);
    key
}

/// As [`parse_secret`], without the reason.
pub fn decode_secret(text: &str) -> Option<Vec<u8>> {
    parse_secret(text).ok()
}

/// The signing secrets: the current one (signs and verifies) and the previous ones (only
/// verify, until the tokens they signed have expired).
pub struct SigningSecrets {
    pub current: Vec<u8>,
    pub previous: Vec<Vec<u8>>,
}

impl SigningSecrets {
    /// The keys enrollment codes are hashed with, derived from these secrets.
    pub fn enrollment_code_keys(&self) -> EnrollmentCodeKeys {
        EnrollmentCodeKeys::new(&self.current, &self.previous)
    }
}

/// Where the zero-config development key lives: beside the SQLite database file, so it is
/// neither in the database (a copied database must not carry the key) nor lost on restart.
/// `None` for PostgreSQL and in-memory SQLite.
pub fn dev_key_path(database_url: &str) -> Option<PathBuf> {
    let rest = database_url.strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let path = rest.split('?').next().unwrap_or_default();
    if path.is_empty() || path.contains(":memory:") || path == "memory" {
        return None;
    }
    Some(PathBuf::from(format!("{path}.jwt-key")))
}

/// Reads the development key at `path`, or creates it with mode 0600. Creation goes through a
/// temporary file and a hard link, so two instances starting together agree on one key and
/// neither ever reads a half-written file.
pub fn load_or_create_key_file(path: &Path) -> anyhow::Result<Vec<u8>> {
    use std::io::Write;
    if !path.exists() {
        let tmp = path.with_extension(format!("tmp-{}", uuid::Uuid::new_v4().simple()));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options
            .open(&tmp)
            .with_context(|| format!("cannot create the signing key file {}", tmp.display()))?;
        file.write_all(STANDARD.encode(random_key()).as_bytes())?;
        file.sync_all()?;
        drop(file);
        let linked = match std::fs::hard_link(&tmp, path) {
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
            // A filesystem without hard links: a rename, which another instance starting at
            // the very same moment could overwrite (it would then sign with its own key).
            Err(_) if !path.exists() => std::fs::rename(&tmp, path),
            other => other,
        };
        let _ = std::fs::remove_file(&tmp);
        linked.with_context(|| format!("cannot create the signing key file {}", path.display()))?;
    }
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the signing key file {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)?.permissions().mode();
        if mode & 0o077 != 0 {
            tracing::warn!(
                path = %path.display(),
                "the signing key file is readable by other users; chmod 600 it"
            );
        }
    }
    parse_secret(&text)
        .map_err(|reason| anyhow::anyhow!("the signing key file {} {reason}", path.display()))
}

/// The access-token signing secrets: the configured file or value (checked by the
/// configuration already), else, on SQLite only, a development key kept in a file beside the
/// database.
pub fn signing_secrets(
    settings: &AuthSettings,
    database_url: &str,
) -> anyhow::Result<SigningSecrets> {
    let previous = settings
        .previous_jwt_secrets
        .iter()
        .map(|s| parse_secret(s).map_err(|r| anyhow::anyhow!("auth.previous_jwt_secrets {r}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let current = if !settings.jwt_secret_file.is_empty() {
        let text = std::fs::read_to_string(&settings.jwt_secret_file).with_context(|| {
            format!(
                "cannot read auth.jwt_secret_file {}",
                settings.jwt_secret_file
            )
        })?;
        parse_secret(&text).map_err(|r| anyhow::anyhow!("auth.jwt_secret_file {r}"))?
    } else if !settings.jwt_secret.is_empty() {
        parse_secret(&settings.jwt_secret).map_err(|r| anyhow::anyhow!("auth.jwt_secret {r}"))?
    } else if let Some(path) = dev_key_path(database_url) {
        let key = load_or_create_key_file(&path)?;
        tracing::warn!(
            path = %path.display(),
            "auth.jwt_secret_file is not set: signing with a development key kept beside the \
             SQLite database; configure a secret file in production"
        );
        key
    } else if crate::store::Backend::from_url(database_url) == Some(crate::store::Backend::Sqlite) {
        tracing::warn!(
            "auth.jwt_secret_file is not set and the database is in memory: signing with a key \
             that lives only as long as this process"
        );
        random_key()
    } else {
        anyhow::bail!("auth.jwt_secret_file must be set with PostgreSQL");
    };
    Ok(SigningSecrets { current, previous })
}

/// Creates an admin API key, audited as `actor`; the key is returned once (with what is
/// stored about it) and only its digest is stored.
pub async fn create_admin_key(
    store: &Store,
    key: NewAdminKey<'_>,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<(AdminKey, String), StoreError> {
    let secret = secrets::new_admin_key();
    let stored = store
        .create_admin_key(key, &secrets::digest(&secret), actor, now)
        .await?;
    Ok((stored, secret))
}

/// A new enrollment code: the code itself is shown once and never stored.
#[derive(Debug)]
pub struct IssuedCode {
    pub id: String,
    pub code: EnrollmentCode,
    pub expires_at: DateTime<Utc>,
}

/// Issues a one-time enrollment code for `user_id`, stored as its keyed hash.
pub async fn issue_enrollment_code(
    store: &Store,
    keys: &EnrollmentCodeKeys,
    user_id: &str,
    ttl: Duration,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<IssuedCode, StoreError> {
    let code = EnrollmentCode::generate();
    let expires_at = now + ttl;
    let id = store
        .create_enrollment_code(user_id, &keys.hash(&code), expires_at, actor, now)
        .await?;
    Ok(IssuedCode {
        id,
        code,
        expires_at,
    })
}

/// A set-password link for a staff member: shown once, only its digest is stored.
#[derive(Debug)]
pub struct StaffInvite {
    pub user_id: String,
    /// The e-mail address the person will sign in with.
    pub email: String,
    pub admin: bool,
    pub url: String,
    pub expires_at: DateTime<Utc>,
}

/// Invites `user_id` to the console (creating or updating their staff account, with the admin
/// flag as given): a one-time link on `public_base` that sets their password. Used by
/// `panic-gateway admin invite` and `POST /v1/admin/users/{id}/invite`.
pub async fn invite_staff(
    store: &Store,
    public_base: &str,
    user_id: &str,
    admin: bool,
    ttl: Duration,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<Result<StaffInvite, crate::store::staff::InviteRefusal>, StoreError> {
    let token = secrets::random_token(32);
    let expires_at = now + ttl;
    let stored = store
        .create_staff_invite(
            user_id,
            admin,
            &secrets::digest(&token),
            expires_at,
            actor,
            now,
        )
        .await?;
    Ok(stored.map(|email| StaffInvite {
        user_id: user_id.to_owned(),
        email,
        admin,
        url: format!("{public_base}/console/set-password?token={token}"),
        expires_at,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_must_be_base64_of_32_bytes_and_not_placeholders() {
        let b64 = STANDARD.encode([7u8; 32]);
        assert_eq!(decode_secret(&b64).unwrap(), vec![7u8; 32]);
        assert_eq!(decode_secret(&format!("{b64}\n")).unwrap(), vec![7u8; 32]);
        assert_eq!(
            decode_secret(&URL_SAFE_NO_PAD.encode([7u8; 32])).unwrap(),
            vec![7u8; 32]
        );
        assert!(parse_secret(&STANDARD.encode([7u8; 16]))
            .unwrap_err()
            .contains("shorter"));
        // Plain text, however long, is not a key.
        assert!(
            parse_secret("this is my very secret passphrase, trust me!!")
                .unwrap_err()
                .contains("plain text")
        );
        assert!(decode_secret("short").is_none());
        for placeholder in [
            "CHANGE_ME: base64 of 32 random bytes",
            "CHANGE_ME",
            "changeme-changeme-changeme-changeme-changeme",
        ] {
            assert!(
                parse_secret(placeholder)
                    .unwrap_err()
                    .contains("placeholder"),
                "{placeholder}"
            );
        }
    }

    #[test]
    fn instances_starting_together_agree_on_one_private_key_file() {
        let dir = std::env::temp_dir().join(format!("pgw-key-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("gw.db.jwt-key");
        let keys: Vec<Vec<u8>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| s.spawn(|| load_or_create_key_file(&path).unwrap()))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(keys[0].len(), 32);
        assert!(keys.iter().all(|k| k == &keys[0]));
        assert_eq!(load_or_create_key_file(&path).unwrap(), keys[0]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // Only the key file is left: no temporary files.
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn the_development_key_lives_beside_the_sqlite_file() {
        assert_eq!(
            dev_key_path("sqlite://data/gw.db?mode=rwc"),
            Some(PathBuf::from("data/gw.db.jwt-key"))
        );
        assert_eq!(
            dev_key_path("sqlite:///var/lib/gw.db"),
            Some(PathBuf::from("/var/lib/gw.db.jwt-key"))
        );
        assert_eq!(dev_key_path("sqlite::memory:"), None);
        assert_eq!(dev_key_path("postgres://h/d"), None);
    }
}
