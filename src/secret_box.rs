//! Webhook endpoint secrets, sealed at rest with a key-encryption key.
//!
//! The gateway must hold each endpoint's HMAC secret in clear to sign, so hashing it is no
//! option; instead the database holds it encrypted (ChaCha20-Poly1305, a random 96-bit nonce per
//! secret) as `v1:<base64 nonce>:<base64 ciphertext>`, and a copy of the database, a backup or a
//! read-only SQL hole yields nothing that signs. The key-encryption key is `webhooks.secret_key`
//! or, when that is unset, derived from the token signing secret with its own label, so the
//! zero-config gateway needs no second secret.
//!
//! Keys that earlier configurations used (the derived key once an explicit key is set, keys
//! derived from `auth.previous_jwt_secrets`) still open secrets; [`SecretBox::reseal`] tells the
//! start-up step which stored values to rewrite under the current key, including plain text
//! left by versions before sealing.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use rand::RngCore;

const PREFIX: &str = "v1:";
const NONCE_BYTES: usize = 12;
/// The label of the key derived from a token signing secret.
const DERIVATION_LABEL: &[u8] = b"webhook-secrets";

/// A stored value that cannot be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    #[error("the endpoint secret is stored in plain text; it is sealed at the next start")]
    NotSealed,
    #[error("the endpoint secret is not in the sealed format")]
    Malformed,
    #[error("the endpoint secret opens with none of the configured keys (webhooks.secret_key, or the token signing secrets it is derived from)")]
    UnknownKey,
}

pub struct SecretBox {
    current: ChaCha20Poly1305,
    /// Keys of earlier configurations: they open, never seal.
    older: Vec<ChaCha20Poly1305>,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretBox")
            .field("older_keys", &self.older.len())
            .finish_non_exhaustive()
    }
}

/// The key-encryption key derived from a token signing secret.
pub fn derived_key(signing_secret: &[u8]) -> [u8; 32] {
    crate::auth::tokens::hmac(signing_secret, DERIVATION_LABEL)
}

impl SecretBox {
    pub fn new(current: &[u8; 32], older: &[[u8; 32]]) -> Self {
        let cipher = |key: &[u8; 32]| ChaCha20Poly1305::new(Key::from_slice(key));
        Self {
            current: cipher(current),
            older: older.iter().map(cipher).collect(),
        }
    }

    /// The box for the configured keys: `configured` (`webhooks.secret_key`) if given, else the
    /// key derived from the current signing secret; the other candidates only open.
    pub fn from_settings(
        configured: Option<[u8; 32]>,
        signing: &crate::auth::SigningSecrets,
    ) -> Self {
        let derived = derived_key(&signing.current);
        let (current, mut older) = match configured {
            Some(key) => (key, vec![derived]),
            None => (derived, Vec::new()),
        };
        older.extend(signing.previous.iter().map(|s| derived_key(s)));
        Self::new(&current, &older)
    }

    /// Encrypts `secret` under the current key with a fresh nonce.
    pub fn seal(&self, secret: &str) -> String {
        let mut nonce = [0u8; NONCE_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let sealed = self
            .current
            .encrypt(Nonce::from_slice(&nonce), secret.as_bytes())
            .expect("ChaCha20-Poly1305 encrypts any message this short");
        format!(
            "{PREFIX}{}:{}",
            STANDARD.encode(nonce),
            STANDARD.encode(sealed)
        )
    }

    /// The secret in a stored value.
    pub fn open(&self, stored: &str) -> Result<String, OpenError> {
        self.open_with_key(stored).map(|(secret, _)| secret)
    }

    /// The secret and whether the current key sealed it.
    fn open_with_key(&self, stored: &str) -> Result<(String, bool), OpenError> {
        let rest = stored.strip_prefix(PREFIX).ok_or(OpenError::NotSealed)?;
        let (nonce, sealed) = rest.split_once(':').ok_or(OpenError::Malformed)?;
        let nonce = STANDARD.decode(nonce).map_err(|_| OpenError::Malformed)?;
        let sealed = STANDARD.decode(sealed).map_err(|_| OpenError::Malformed)?;
        if nonce.len() != NONCE_BYTES {
            return Err(OpenError::Malformed);
        }
        let nonce = Nonce::from_slice(&nonce);
        std::iter::once(&self.current)
            .chain(&self.older)
            .enumerate()
            .find_map(|(i, key)| {
                key.decrypt(nonce, sealed.as_slice())
                    .ok()
                    .map(|plain| (plain, i == 0))
            })
            .ok_or(OpenError::UnknownKey)
            .and_then(|(plain, current)| {
                String::from_utf8(plain)
                    .map(|s| (s, current))
                    .map_err(|_| OpenError::Malformed)
            })
    }

    /// What a stored value should become: `Some` (sealed under the current key) for plain text
    /// and for values sealed under an older key, `None` when it is already as it should be.
    pub fn reseal(&self, stored: &str) -> Result<Option<String>, OpenError> {
        match self.open_with_key(stored) {
            Ok((_, true)) => Ok(None),
            Ok((secret, false)) => Ok(Some(self.seal(&secret))),
            // Secrets were random base64url tokens before sealing: no ':' in them, so plain
            // text is never mistaken for a sealed value.
            Err(OpenError::NotSealed) => Ok(Some(self.seal(stored))),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: [u8; 32] = [1; 32];
    const B: [u8; 32] = [2; 32];

    #[test]
    fn sealed_secrets_open_and_do_not_show_the_secret() {
        let b = SecretBox::new(&A, &[]);
        let sealed = b.seal("whsec-abc");
        assert!(sealed.starts_with("v1:"), "{sealed}");
        assert!(!sealed.contains("whsec-abc"));
        assert_eq!(b.open(&sealed).unwrap(), "whsec-abc");
        assert_ne!(b.seal("whsec-abc"), sealed, "a fresh nonce every time");
    }

    #[test]
    fn a_wrong_key_or_a_tampered_value_does_not_open() {
        let sealed = SecretBox::new(&A, &[]).seal("whsec-abc");
        assert_eq!(
            SecretBox::new(&B, &[]).open(&sealed),
            Err(OpenError::UnknownKey)
        );
        let (head, body) = sealed.rsplit_once(':').unwrap();
        let mut bytes = STANDARD.decode(body).unwrap();
        bytes[0] ^= 1;
        let tampered = format!("{head}:{}", STANDARD.encode(bytes));
        assert_eq!(
            SecretBox::new(&A, &[]).open(&tampered),
            Err(OpenError::UnknownKey)
        );
        for bad in ["v1:", "v1:AAAA:AAAA", "v1:%%%:AAAA"] {
            assert_eq!(
                SecretBox::new(&A, &[]).open(bad),
                Err(OpenError::Malformed),
                "{bad}"
            );
        }
        assert_eq!(
            SecretBox::new(&A, &[]).open("plain-token"),
            Err(OpenError::NotSealed)
        );
    }

    #[test]
    fn older_keys_open_and_reseal_moves_everything_to_the_current_key() {
        let old = SecretBox::new(&A, &[]);
        let rotated = SecretBox::new(&B, &[A]);
        let under_old = old.seal("s1");
        assert_eq!(rotated.open(&under_old).unwrap(), "s1");
        let resealed = rotated.reseal(&under_old).unwrap().unwrap();
        assert_eq!(SecretBox::new(&B, &[]).open(&resealed).unwrap(), "s1");
        assert_eq!(rotated.reseal(&resealed).unwrap(), None);
        let from_plain = rotated.reseal("plain-token").unwrap().unwrap();
        assert_eq!(rotated.open(&from_plain).unwrap(), "plain-token");
        assert_eq!(
            SecretBox::new(&B, &[]).reseal(&under_old),
            Err(OpenError::UnknownKey)
        );
    }

    #[test]
    fn the_derived_key_follows_the_signing_secrets() {
        let signing = crate::auth::SigningSecrets {
            current: vec![7; 32],
            previous: vec![vec![8; 32]],
        };
        let derived = SecretBox::from_settings(None, &signing);
        let sealed = derived.seal("s");
        assert_eq!(
            SecretBox::new(&derived_key(&[7; 32]), &[])
                .open(&sealed)
                .unwrap(),
            "s"
        );
        // Under a previous signing secret: opens, and is resealed.
        let before = SecretBox::new(&derived_key(&[8; 32]), &[]).seal("s");
        assert!(derived.reseal(&before).unwrap().is_some());
        // An explicit key takes over and still opens what the derived key sealed.
        let explicit = SecretBox::from_settings(Some(A), &signing);
        assert_eq!(explicit.open(&sealed).unwrap(), "s");
        assert!(explicit.reseal(&sealed).unwrap().is_some());
        assert_ne!(derived_key(&[7; 32]), [7; 32]);
    }
}
