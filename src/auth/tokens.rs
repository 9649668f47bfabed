//! Access tokens and acknowledgement tokens: short-lived JWTs the gateway both issues and
//! verifies.
//!
//! HS256 is pinned (a token claiming `none`, RS256 or anything else is refused), and `iss`,
//! `aud`, `sub` and `exp` are required and checked. Expiry is checked against the injected
//! clock rather than jsonwebtoken's own wall clock, so tests can age a token.
//!
//! Each kind of token has its own explicit `typ` header (`at+jwt`, `ack+jwt`) and its own key,
//! derived from the configured secret with HMAC-SHA256 over a per-kind label, so a token of one
//! kind can never pass for the other even if a claim check were forgotten. Every token names
//! its key in `kid` (derived from the secret, so no configuration needs an id): the current
//! secret signs, previous secrets only verify, which lets an operator rotate the secret while
//! tokens signed with the old one run out.

use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::domain::identity::DeviceRole;

/// `typ` of an access token (RFC 9068).
pub const ACCESS_TYP: &str = "at+jwt";
/// `typ` of an acknowledgement token.
pub const ACK_TYP: &str = "ack+jwt";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    /// The user.
    pub sub: String,
    /// The device the token was issued to.
    pub did: String,
    pub role: DeviceRole,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("the access token has expired")]
    Expired,
    #[error("the access token is invalid")]
    Invalid,
}

/// Claims of an acknowledgement token: carried in a page so the app can acknowledge straight
/// from the notification action, valid for one incident, one responder device, one ack window.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AckClaims {
    pub iss: String,
    pub aud: String,
    /// The paged responder.
    pub sub: String,
    /// The paged device: the token stops working when it is revoked.
    pub did: String,
    /// The incident it acknowledges.
    pub inc: String,
    pub iat: i64,
    pub exp: i64,
}

/// The two kinds of token, each with its own `typ` and derived key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Access,
    Ack,
}

impl Kind {
    fn typ(self) -> &'static str {
        match self {
            Kind::Access => ACCESS_TYP,
            Kind::Ack => ACK_TYP,
        }
    }

    fn label(self) -> &'static [u8] {
        match self {
            Kind::Access => b"panic-gateway access v1",
            Kind::Ack => b"panic-gateway ack v1",
        }
    }
}

/// HMAC-SHA256 of `label` under `secret`: how every key the gateway needs is derived from the
/// configured secret (one label per use), and how enrollment codes are hashed.
pub(crate) fn hmac(secret: &[u8], label: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(label);
    mac.finalize().into_bytes().into()
}

/// The public id of a secret: 16 hex digits of an HMAC of it, stable across restarts and
/// instances, revealing nothing usable about the secret.
pub fn key_id(secret: &[u8]) -> String {
    hmac(secret, b"panic-gateway kid v1")[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// One secret's derived keys.
struct KeySet {
    kid: String,
    access: (EncodingKey, DecodingKey),
    ack: (EncodingKey, DecodingKey),
    /// Signs e-mail acknowledge links ([`TokenIssuer::issue_link`]).
    link: [u8; 32],
}

impl KeySet {
    fn new(secret: &[u8]) -> Self {
        let pair = |kind: Kind| {
            let key = hmac(secret, kind.label());
            (
                EncodingKey::from_secret(&key),
                DecodingKey::from_secret(&key),
            )
        };
        Self {
            kid: key_id(secret),
            access: pair(Kind::Access),
            ack: pair(Kind::Ack),
            link: hmac(secret, b"panic-gateway e-mail link v1"),
        }
    }

    fn keys(&self, kind: Kind) -> &(EncodingKey, DecodingKey) {
        match kind {
            Kind::Access => &self.access,
            Kind::Ack => &self.ack,
        }
    }
}

/// Issues and verifies access tokens and acknowledgement tokens.
pub struct TokenIssuer {
    /// The current key first (it signs); previous keys after it (they only verify).
    keys: Vec<KeySet>,
    validation: Validation,
    ack_validation: Validation,
    issuer: String,
    audience: String,
    ttl: Duration,
}

impl std::fmt::Debug for TokenIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenIssuer")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("ttl", &self.ttl)
            .field(
                "kids",
                &self.keys.iter().map(|k| &k.kid).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// A device's identity as carried in a token.
pub struct Subject<'a> {
    pub user_id: &'a str,
    pub device_id: &'a str,
    pub role: DeviceRole,
}

impl TokenIssuer {
    /// An issuer signing with `secret` (the raw bytes of the configured secret).
    pub fn new(secret: &[u8], issuer: &str, audience: &str, ttl: Duration) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["iss", "aud", "sub", "exp"]);
        // Checked below against the injected clock.
        validation.validate_exp = false;
        // A different audience too: an ack token is never an access token, nor the reverse.
        let mut ack_validation = validation.clone();
        ack_validation.set_audience(&[ack_audience(audience)]);
        Self {
            keys: vec![KeySet::new(secret)],
            validation,
            ack_validation,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            ttl,
        }
    }

    /// Also accepts tokens signed with these earlier secrets (never signs with them), so a
    /// rotated secret does not sign every device out.
    pub fn with_previous<S: AsRef<[u8]>>(mut self, previous: &[S]) -> Self {
        for secret in previous {
            let set = KeySet::new(secret.as_ref());
            if self.keys.iter().all(|k| k.kid != set.kid) {
                self.keys.push(set);
            }
        }
        self
    }

    /// The id of the key that signs new tokens.
    pub fn current_kid(&self) -> &str {
        &self.keys[0].kid
    }

    fn sign<T: Serialize>(&self, kind: Kind, claims: &T) -> String {
        let current = &self.keys[0];
        let mut header = Header::new(Algorithm::HS256);
        header.typ = Some(kind.typ().to_owned());
        header.kid = Some(current.kid.clone());
        jsonwebtoken::encode(&header, claims, &current.keys(kind).0)
            .expect("HS256 encoding of plain claims cannot fail")
    }

    fn check<T: DeserializeOwned>(
        &self,
        kind: Kind,
        token: &str,
        validation: &Validation,
    ) -> Result<T, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Invalid)?;
        if header.alg != Algorithm::HS256 || header.typ.as_deref() != Some(kind.typ()) {
            return Err(TokenError::Invalid);
        }
        let kid = header.kid.ok_or(TokenError::Invalid)?;
        let set = self
            .keys
            .iter()
            .find(|k| k.kid == kid)
            .ok_or(TokenError::Invalid)?;
        jsonwebtoken::decode::<T>(token, &set.keys(kind).1, validation)
            .map(|data| data.claims)
            .map_err(|_| TokenError::Invalid)
    }

    /// A token for `subject`, valid from `now` for the configured lifetime.
    pub fn issue(&self, subject: Subject<'_>, now: DateTime<Utc>) -> (String, DateTime<Utc>) {
        let expires = now + self.ttl;
        let claims = Claims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: subject.user_id.to_owned(),
            did: subject.device_id.to_owned(),
            role: subject.role,
            iat: now.timestamp(),
            exp: expires.timestamp(),
            jti: uuid::Uuid::new_v4().to_string(),
        };
        (self.sign(Kind::Access, &claims), expires)
    }

    /// A token that lets `user_id`, paged on `device_id`, acknowledge `incident_id` until
    /// `expires`.
    pub fn issue_ack(
        &self,
        user_id: &str,
        device_id: &str,
        incident_id: &str,
        expires: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> String {
        let claims = AckClaims {
            iss: self.issuer.clone(),
            aud: ack_audience(&self.audience),
            sub: user_id.to_owned(),
            did: device_id.to_owned(),
            inc: incident_id.to_owned(),
            iat: now.timestamp(),
            exp: expires.timestamp(),
        };
        self.sign(Kind::Ack, &claims)
    }

    pub fn verify_ack(&self, token: &str, now: DateTime<Utc>) -> Result<AckClaims, TokenError> {
        let claims: AckClaims = self.check(Kind::Ack, token, &self.ack_validation)?;
        if claims.exp <= now.timestamp() {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }

    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<Claims, TokenError> {
        let claims: Claims = self.check(Kind::Access, token, &self.validation)?;
        if claims.exp <= now.timestamp() {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }
}

/// The MAC of an e-mail link for `delivery_id` under `key`, base64url.
fn link_mac(key: &[u8; 32], delivery_id: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(hmac(key, delivery_id.as_bytes()))
}

impl TokenIssuer {
    /// The token of an e-mailed page's acknowledge link: the delivery id and an HMAC of it
    /// under a key of its own. It lives in a URL (so no JWT: shorter, no expiry claim); what it
    /// may still do is decided on use from the delivery it names (one use, an open incident).
    pub fn issue_link(&self, delivery_id: &str) -> String {
        format!(
            "{delivery_id}.{}",
            link_mac(&self.keys[0].link, delivery_id)
        )
    }

    /// The delivery a link token names, when any current or previous key signed it (the MAC
    /// compared in constant time).
    pub fn verify_link(&self, token: &str) -> Option<String> {
        use base64::Engine;
        let (delivery_id, mac) = token.rsplit_once('.')?;
        if delivery_id.is_empty() || delivery_id.len() > 64 {
            return None;
        }
        let mac = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(mac)
            .ok()?;
        self.keys
            .iter()
            .any(|k| {
                let mut m =
                    Hmac::<Sha256>::new_from_slice(&k.link).expect("HMAC takes keys of any length");
                m.update(delivery_id.as_bytes());
                m.verify_slice(&mac).is_ok()
            })
            .then(|| delivery_id.to_owned())
    }
}

fn ack_audience(audience: &str) -> String {
    format!("{audience}:ack")
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn issuer() -> TokenIssuer {
        TokenIssuer::new(SECRET, "pgw", "mobile", Duration::minutes(15))
    }

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    fn subject() -> Subject<'static> {
        Subject {
            user_id: "u1",
            device_id: "d1",
            role: DeviceRole::Customer,
        }
    }

    #[test]
    fn link_tokens_name_their_delivery_and_survive_rotation_only_when_signed() {
        let t = issuer();
        let token = t.issue_link("d-123");
        assert_eq!(t.verify_link(&token).as_deref(), Some("d-123"));
        let (_, mac) = token.rsplit_once('.').unwrap();
        assert_eq!(
            t.verify_link(&format!("d-124.{mac}")),
            None,
            "another delivery"
        );
        assert_eq!(t.verify_link("d-123"), None);
        assert_eq!(t.verify_link("d-123.AAAA"), None);
        let other = TokenIssuer::new(
            b"another secret, 32 bytes long...",
            "pgw",
            "mobile",
            Duration::minutes(15),
        );
        assert_eq!(other.verify_link(&token), None);
        let rotated = other.with_previous(&[SECRET]);
        assert_eq!(rotated.verify_link(&token).as_deref(), Some("d-123"));
    }

    #[test]
    fn issued_tokens_verify_until_they_expire() {
        let t = issuer();
        let (token, exp) = t.issue(subject(), now());
        assert_eq!(exp, now() + Duration::minutes(15));
        let claims = t.verify(&token, now() + Duration::minutes(14)).unwrap();
        assert_eq!((claims.sub.as_str(), claims.did.as_str()), ("u1", "d1"));
        assert_eq!(claims.role, DeviceRole::Customer);
        assert_eq!(
            t.verify(&token, now() + Duration::minutes(15)).unwrap_err(),
            TokenError::Expired
        );
    }

    #[test]
    fn wrong_secret_audience_issuer_and_algorithms_are_refused() {
        let (token, _) = issuer().issue(subject(), now());
        let other_secret = TokenIssuer::new(
            b"another-secret-another-secret-xx",
            "pgw",
            "mobile",
            Duration::minutes(15),
        );
        assert_eq!(
            other_secret.verify(&token, now()).unwrap_err(),
            TokenError::Invalid
        );
        let other_aud = TokenIssuer::new(SECRET, "pgw", "web", Duration::minutes(15));
        assert_eq!(
            other_aud.verify(&token, now()).unwrap_err(),
            TokenError::Invalid
        );
        let other_iss = TokenIssuer::new(SECRET, "evil", "mobile", Duration::minutes(15));
        assert_eq!(
            other_iss.verify(&token, now()).unwrap_err(),
            TokenError::Invalid
        );

        // alg: none, with the same claims and no signature.
        let payload = token.split('.').nth(1).unwrap();
        let none = format!(
            "{}.{payload}.",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#)
        );
        assert_eq!(
            issuer().verify(&none, now()).unwrap_err(),
            TokenError::Invalid
        );
        // HS512 signed with the right secret is still the wrong algorithm.
        let claims = issuer().verify(&token, now()).unwrap();
        let mut header = Header::new(Algorithm::HS512);
        header.typ = Some(ACCESS_TYP.into());
        header.kid = Some(key_id(SECRET));
        let hs512 = jsonwebtoken::encode(
            &header,
            &claims,
            &EncodingKey::from_secret(&hmac(SECRET, Kind::Access.label())),
        )
        .unwrap();
        assert_eq!(
            issuer().verify(&hs512, now()).unwrap_err(),
            TokenError::Invalid
        );
    }

    #[test]
    fn ack_tokens_and_access_tokens_do_not_mix() {
        let t = issuer();
        let ack = t.issue_ack("u1", "d1", "inc-1", now() + Duration::minutes(5), now());
        let claims = t.verify_ack(&ack, now()).unwrap();
        assert_eq!(
            (
                claims.sub.as_str(),
                claims.did.as_str(),
                claims.inc.as_str()
            ),
            ("u1", "d1", "inc-1")
        );
        assert_eq!(claims.iat, now().timestamp());
        assert_eq!(t.verify(&ack, now()).unwrap_err(), TokenError::Invalid);
        let (access, _) = t.issue(subject(), now());
        assert_eq!(
            t.verify_ack(&access, now()).unwrap_err(),
            TokenError::Invalid
        );
        assert_eq!(
            t.verify_ack(&ack, now() + Duration::minutes(5))
                .unwrap_err(),
            TokenError::Expired
        );
    }

    #[test]
    fn tampered_payload_is_refused() {
        let (token, _) = issuer().issue(subject(), now());
        let parts: Vec<&str> = token.split('.').collect();
        let mut claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        claims["role"] = "responder".into();
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            URL_SAFE_NO_PAD.encode(claims.to_string()),
            parts[2]
        );
        assert_eq!(
            issuer().verify(&forged, now()).unwrap_err(),
            TokenError::Invalid
        );
    }

    fn resign(token: &str, edit: impl FnOnce(&mut Header), key: &[u8]) -> String {
        let mut header = jsonwebtoken::decode_header(token).unwrap();
        edit(&mut header);
        let payload: serde_json::Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(token.split('.').nth(1).unwrap())
                .unwrap(),
        )
        .unwrap();
        jsonwebtoken::encode(&header, &payload, &EncodingKey::from_secret(key)).unwrap()
    }

    #[test]
    fn tokens_carry_their_typ_and_the_kid_of_the_signing_key() {
        let t = issuer();
        let (access, _) = t.issue(subject(), now());
        let header = jsonwebtoken::decode_header(&access).unwrap();
        assert_eq!(header.typ.as_deref(), Some("at+jwt"));
        assert_eq!(header.kid.as_deref(), Some(key_id(SECRET).as_str()));
        assert_eq!(t.current_kid(), key_id(SECRET));
        let ack = t.issue_ack("u1", "d1", "inc-1", now() + Duration::minutes(5), now());
        let header = jsonwebtoken::decode_header(&ack).unwrap();
        assert_eq!(header.typ.as_deref(), Some("ack+jwt"));
        assert_eq!(header.kid.as_deref(), Some(key_id(SECRET).as_str()));
        // The kid is stable for a secret and differs between secrets.
        assert_eq!(key_id(SECRET), key_id(SECRET));
        assert_ne!(key_id(SECRET), key_id(&[1u8; 32]));
        assert_eq!(key_id(SECRET).len(), 16);
    }

    #[test]
    fn a_wrong_typ_a_missing_kid_or_the_raw_secret_is_refused() {
        let t = issuer();
        let access_key = hmac(SECRET, Kind::Access.label());
        let (token, _) = t.issue(subject(), now());
        // Re-signing with the derived key and unchanged header still verifies (sanity).
        assert!(t
            .verify(&resign(&token, |_| {}, &access_key), now())
            .is_ok());
        let ack_typ = resign(&token, |h| h.typ = Some(ACK_TYP.into()), &access_key);
        assert_eq!(t.verify(&ack_typ, now()).unwrap_err(), TokenError::Invalid);
        let jwt_typ = resign(&token, |h| h.typ = Some("JWT".into()), &access_key);
        assert_eq!(t.verify(&jwt_typ, now()).unwrap_err(), TokenError::Invalid);
        let no_kid = resign(&token, |h| h.kid = None, &access_key);
        assert_eq!(t.verify(&no_kid, now()).unwrap_err(), TokenError::Invalid);
        let other_kid = resign(
            &token,
            |h| h.kid = Some("0011223344556677".into()),
            &access_key,
        );
        assert_eq!(
            t.verify(&other_kid, now()).unwrap_err(),
            TokenError::Invalid
        );
        // Signed with the configured secret itself instead of the derived key.
        let raw = resign(&token, |_| {}, SECRET);
        assert_eq!(t.verify(&raw, now()).unwrap_err(), TokenError::Invalid);
        // An ack token re-labelled as an access token fails on the key, not only the typ.
        let ack = t.issue_ack("u1", "d1", "inc-1", now() + Duration::minutes(5), now());
        let relabelled = resign(
            &ack,
            |h| h.typ = Some(ACCESS_TYP.into()),
            &hmac(SECRET, Kind::Ack.label()),
        );
        assert_eq!(
            t.verify(&relabelled, now()).unwrap_err(),
            TokenError::Invalid
        );
    }

    #[test]
    fn previous_secrets_verify_but_never_sign() {
        let old_secret = [9u8; 32];
        let old = TokenIssuer::new(&old_secret, "pgw", "mobile", Duration::minutes(15));
        let (old_token, _) = old.issue(subject(), now());
        let old_ack = old.issue_ack("u1", "d1", "inc-1", now() + Duration::minutes(5), now());

        let rotated = issuer().with_previous(&[old_secret]);
        assert!(rotated.verify(&old_token, now()).is_ok());
        assert!(rotated.verify_ack(&old_ack, now()).is_ok());
        assert_eq!(
            rotated
                .verify(&old_token, now() + Duration::minutes(15))
                .unwrap_err(),
            TokenError::Expired
        );
        let (new_token, _) = rotated.issue(subject(), now());
        assert_eq!(
            jsonwebtoken::decode_header(&new_token)
                .unwrap()
                .kid
                .as_deref(),
            Some(key_id(SECRET).as_str())
        );
        // Without the previous secret, the old token is refused.
        assert_eq!(
            issuer().verify(&old_token, now()).unwrap_err(),
            TokenError::Invalid
        );
    }
}
