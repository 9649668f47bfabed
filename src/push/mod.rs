//! Push delivery to phones: APNs for iOS, FCM HTTP v1 for Android.
//!
//! A [`Notification`] says what to show, independent of platform; a [`Provider`] turns it into
//! one provider request and reports a typed [`Outcome`] the dispatcher acts on. The real
//! providers are the only implementations: tests point them at local mock servers that speak
//! the providers' wire protocols, never at Apple or Google.

pub mod apns;
pub mod fcm;
// Stand-in providers for tests, the demo and the bench; not in production builds.
#[cfg(feature = "devkit")]
pub mod mock;
pub mod payload;
pub mod settings;
#[cfg(all(test, feature = "devkit"))]
mod tests;

use crate::domain::platform::Platform;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};

use crate::domain::push_token::PushToken;

/// Whether a notification must break through Do Not Disturb.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationKind {
    /// A page for a responder: critical (or time-sensitive), with an Acknowledge action.
    Page,
    /// An update for a customer ("acknowledged by …"): a normal notification.
    Update,
    /// A shift reminder's test push: silent (APNs background push, FCM data message), woken
    /// app shows the text itself. Sent for its answer: a dead token is found before a page.
    Silent,
}

/// One notification for one device, before it is shaped for a provider.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    pub kind: NotificationKind,
    /// Groups and collapses every notification of one incident on the phone.
    pub incident_id: String,
    /// Unique per delivery; sent as the APNs `apns-id` and in FCM data, so a retried send
    /// whose first answer was lost is recognisable.
    pub delivery_id: String,
    pub title: String,
    pub body: String,
    pub ticket_ref: Option<String>,
    /// Short-lived token that lets the app acknowledge from the notification action.
    pub ack_token: Option<String>,
    /// When the notification stops being useful (end of the acknowledgement window):
    /// APNs `apns-expiration`, FCM `ttl`.
    pub expires_at: DateTime<Utc>,
    /// The responder's device has granted critical alerts (iOS entitlement + user consent).
    pub critical_allowed: bool,
}

/// What a provider said about one send.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The provider took the notification.
    Accepted { provider_message_id: Option<String> },
    /// Try again later (5xx, 429, timeout, connection lost); `after` is the provider's
    /// `Retry-After` when it gave one.
    Retry {
        after: Option<Duration>,
        reason: String,
    },
    /// The device token will never work again: deactivate that device, keep paging others.
    TokenDead { reason: String },
    /// The gateway's own configuration is wrong (bad key, wrong topic, bad payload):
    /// retrying will not help until an operator acts.
    Fatal { reason: String },
}

/// A push service. The dispatcher holds one per platform.
pub trait Provider: Send + Sync {
    fn platform(&self) -> Platform;

    /// Sends `notification` to `device_token`; `now` is the dispatcher's clock, used for
    /// expiry arithmetic. The token is parsed, so it cannot steer the request elsewhere.
    fn send<'a>(
        &'a self,
        device_token: &'a PushToken,
        notification: &'a Notification,
        now: DateTime<Utc>,
    ) -> BoxFuture<'a, Outcome>;
}

/// The providers by platform; a platform without one fails its deliveries as misconfigured.
pub type Providers = HashMap<Platform, Arc<dyn Provider>>;

/// Builds the enabled providers, checking their keys now rather than at the first page.
pub fn providers(
    settings: &settings::PushSettings,
) -> Result<Providers, settings::PushConfigError> {
    let mut out: Providers = HashMap::new();
    if settings.apns.enabled {
        out.insert(
            Platform::Ios,
            Arc::new(apns::ApnsClient::new(&settings.apns)?),
        );
    }
    if settings.fcm.enabled {
        out.insert(
            Platform::Android,
            Arc::new(fcm::FcmClient::new(&settings.fcm)?),
        );
    }
    Ok(out)
}
