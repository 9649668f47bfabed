//! Access tokens: short-lived JWTs bound to one device.
//!
//! HS256 with a 256-bit (or longer) secret: the gateway is both issuer and verifier, so a
//! shared secret is enough, and every instance of a deployment reads the same one. The
//! algorithm is pinned (a token claiming `none`, RS256 or anything else is refused), and
//! `iss`, `aud`, `sub` and `exp` are required and checked. Expiry is checked against the
//! injected clock rather than jsonwebtoken's own wall clock, so tests can age a token.

use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// Which kind of person a device belongs to; checked by the extractor of every handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceRole {
    Customer,
    Responder,
}

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
/// from the notification action, valid for one incident, one responder, one ack window.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AckClaims {
    pub iss: String,
    pub aud: String,
    /// The paged responder.
    pub sub: String,
    /// The incident it acknowledges.
    pub inc: String,
    pub iat: i64,
    pub exp: i64,
}

/// Issues and verifies access tokens and acknowledgement tokens.
pub struct TokenIssuer {
    encoding: EncodingKey,
    decoding: DecodingKey,
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
    pub fn new(secret: &[u8], issuer: &str, audience: &str, ttl: Duration) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["iss", "aud", "sub", "exp"]);
        // Checked below against the injected clock.
        validation.validate_exp = false;
        // A different audience: an ack token is never an access token, nor the reverse.
        let mut ack_validation = validation.clone();
        ack_validation.set_audience(&[ack_audience(audience)]);
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ack_validation,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            ttl,
        }
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
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 encoding of plain claims cannot fail");
        (token, expires)
    }

    /// A token that lets `user_id` acknowledge `incident_id` until `expires`.
    pub fn issue_ack(&self, user_id: &str, incident_id: &str, expires: DateTime<Utc>) -> String {
        let claims = AckClaims {
            iss: self.issuer.clone(),
            aud: ack_audience(&self.audience),
            sub: user_id.to_owned(),
            inc: incident_id.to_owned(),
            iat: Utc::now().timestamp(),
            exp: expires.timestamp(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 encoding of plain claims cannot fail")
    }

    pub fn verify_ack(&self, token: &str, now: DateTime<Utc>) -> Result<AckClaims, TokenError> {
        let data = jsonwebtoken::decode::<AckClaims>(token, &self.decoding, &self.ack_validation)
            .map_err(|_| TokenError::Invalid)?;
        if data.claims.exp <= now.timestamp() {
            return Err(TokenError::Expired);
        }
        Ok(data.claims)
    }

    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<Claims, TokenError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|_| TokenError::Invalid)?;
        if data.claims.exp <= now.timestamp() {
            return Err(TokenError::Expired);
        }
        Ok(data.claims)
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
        let hs512 = jsonwebtoken::encode(
            &Header::new(Algorithm::HS512),
            &claims,
            &EncodingKey::from_secret(SECRET),
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
        let ack = t.issue_ack("u1", "inc-1", now() + Duration::minutes(5));
        let claims = t.verify_ack(&ack, now()).unwrap();
        assert_eq!((claims.sub.as_str(), claims.inc.as_str()), ("u1", "inc-1"));
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
}
