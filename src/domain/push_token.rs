//! A device's push token, parsed for its platform before it is stored or sent.
//!
//! The token is the one piece of client text that reaches a push provider's request: APNs puts
//! it in the URL path (`/3/device/{token}`), FCM in the message body. A token that carried `/`,
//! `?`, `#`, `%`, whitespace or `..` could point the gateway's authenticated request at another
//! path of the provider, so only each provider's own alphabet is accepted:
//!
//! - APNs device tokens are hexadecimal: 64 characters today, up to 200 reserved by Apple.
//! - FCM registration tokens are `<instance id>:<base64url>` (`cXk…:APA91b…`): letters, digits,
//!   `-`, `_` and `:`, a few hundred characters; 4096 bounds them generously.
//!
//! Tokens identify a phone, so they print as `[redacted]`.

use crate::domain::platform::Platform;

/// Longest accepted APNs token (Apple reserves up to 100 bytes, 200 hex digits).
pub const MAX_APNS_TOKEN: usize = 200;
/// Shortest accepted APNs token (32 bytes).
pub const MIN_APNS_TOKEN: usize = 64;
/// Longest accepted FCM registration token.
pub const MAX_FCM_TOKEN: usize = 4096;

/// A push token that is well-formed for its platform.
#[derive(Clone, PartialEq, Eq)]
pub struct PushToken {
    platform: Platform,
    token: String,
}

/// Why a push token was refused; the text is written for the person sending it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushTokenError {
    #[error("an iOS push token is {MIN_APNS_TOKEN} to {MAX_APNS_TOKEN} hexadecimal characters")]
    Apns,
    #[error(
        "an Android (FCM) push token is 1 to {MAX_FCM_TOKEN} characters of letters, digits, \
         '-', '_' and ':'"
    )]
    Fcm,
}

impl PushToken {
    /// Accepts `s` only if it is made of `platform`'s token alphabet, within its length bounds.
    /// Nothing is trimmed or rewritten: what is stored is exactly what the phone sent.
    pub fn parse(platform: Platform, s: &str) -> Result<Self, PushTokenError> {
        let ok = match platform {
            Platform::Ios => {
                (MIN_APNS_TOKEN..=MAX_APNS_TOKEN).contains(&s.len())
                    && s.bytes().all(|b| b.is_ascii_hexdigit())
            }
            Platform::Android => {
                (1..=MAX_FCM_TOKEN).contains(&s.len())
                    && s.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b':'))
            }
        };
        if !ok {
            return Err(match platform {
                Platform::Ios => PushTokenError::Apns,
                Platform::Android => PushTokenError::Fcm,
            });
        }
        Ok(Self {
            platform,
            token: s.to_owned(),
        })
    }

    /// A fresh, well-formed token for a simulated phone (demo, benchmark, tests).
    pub fn simulated(platform: Platform) -> Self {
        let hex = || uuid::Uuid::new_v4().simple().to_string();
        let token = match platform {
            Platform::Ios => format!("{}{}", hex(), hex()),
            Platform::Android => format!("{}:APA91b{}", &hex()[..22], hex()),
        };
        Self::parse(platform, &token).expect("simulated tokens are well-formed")
    }

    pub fn platform(&self) -> Platform {
        self.platform
    }

    pub fn as_str(&self) -> &str {
        &self.token
    }
}

impl std::fmt::Debug for PushToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PushToken({}, [redacted])", self.platform.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const APNS: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";
    const FCM: &str = "cXkB3rB6Qz6kR0pL9vS2aT:APA91bHq3f-Z_x7yK0m1N2o3P4q5R6s7T8u9V0w";

    #[test]
    fn real_token_shapes_are_accepted_as_sent() {
        let ios = PushToken::parse(Platform::Ios, APNS).unwrap();
        assert_eq!((ios.platform(), ios.as_str()), (Platform::Ios, APNS));
        assert!(PushToken::parse(Platform::Ios, &APNS.to_uppercase()).is_ok());
        assert!(PushToken::parse(Platform::Ios, &"ab".repeat(100)).is_ok());
        let android = PushToken::parse(Platform::Android, FCM).unwrap();
        assert_eq!(android.as_str(), FCM);
        assert!(PushToken::parse(Platform::Android, "x").is_ok());
        assert!(PushToken::parse(Platform::Android, &"a".repeat(MAX_FCM_TOKEN)).is_ok());
    }

    #[test]
    fn apns_tokens_are_hex_of_64_to_200_characters() {
        for bad in [
            "",
            &APNS[..63],
            &"ab".repeat(100 + 1)[..201],
            &APNS.replace('a', "g"),
            FCM,
        ] {
            assert_eq!(
                PushToken::parse(Platform::Ios, bad),
                Err(PushTokenError::Apns),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn nothing_that_could_change_the_provider_request_is_accepted() {
        for evil in [
            "/", "?", "#", "%", " ", "\t", "\n", "..", ".", "\\", "\"", "&", "=", "+", "@", "é",
        ] {
            for (platform, base) in [(Platform::Ios, APNS), (Platform::Android, FCM)] {
                for token in [
                    format!("{base}{evil}"),
                    format!("{evil}{base}"),
                    format!("{}{evil}{}", &base[..32], &base[32..]),
                ] {
                    assert!(
                        PushToken::parse(platform, &token).is_err(),
                        "{platform:?} {token:?}"
                    );
                }
            }
        }
        assert!(PushToken::parse(Platform::Android, "../../v1/projects/x").is_err());
        assert!(PushToken::parse(Platform::Android, "").is_err());
        assert!(PushToken::parse(Platform::Android, &"a".repeat(MAX_FCM_TOKEN + 1)).is_err());
    }

    #[test]
    fn simulated_tokens_parse_and_tokens_never_print() {
        for platform in [Platform::Ios, Platform::Android] {
            let t = PushToken::simulated(platform);
            assert_eq!(PushToken::parse(platform, t.as_str()), Ok(t.clone()));
            assert_ne!(t, PushToken::simulated(platform));
            assert!(!format!("{t:?}").contains(t.as_str()));
        }
    }
}
