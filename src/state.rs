//! What every handler can reach: the state [`crate::startup`] builds once and actix shares.
//!
//! It has a room of its own at the bottom so that handlers and extractors need not import
//! `startup` (which imports every handler to mount it).

use std::sync::Arc;

use actix_web::web;

use crate::auth::secrets::EnrollmentCodeKeys;
use crate::auth::tokens::TokenIssuer;
use crate::auth::unauthenticated::UnauthenticatedGuard;
use crate::channels::ChannelProviders;
use crate::clock::Clock;
use crate::config::Settings;
use crate::domain::outbound_address::AddressPolicy;
use crate::engine::dispatcher::ProviderHealth;
use crate::push::Providers;
use crate::secret_box::SecretBox;
use crate::store::Store;
use crate::telemetry::Metrics;

/// What every handler can reach.
pub struct AppState {
    pub settings: Arc<Settings>,
    pub store: Store,
    pub metrics: web::Data<Metrics>,
    pub clock: Arc<dyn Clock>,
    pub tokens: Arc<TokenIssuer>,
    /// The keys enrollment codes are hashed with.
    pub enrollment_codes: EnrollmentCodeKeys,
    /// The gate and failure limits in front of enroll and refresh.
    pub unauthenticated: UnauthenticatedGuard,
    /// Wakes the dispatcher right after a transaction queued deliveries.
    pub dispatch_wake: Arc<tokio::sync::Notify>,
    /// Push providers that rejected our configuration, for readiness.
    pub provider_health: Arc<ProviderHealth>,
    pub providers: Providers,
    /// The providers of the channels besides push (SMS), by channel.
    pub channels: ChannelProviders,
    /// Where the world reaches this gateway (`server.public_url`, or the listener's address):
    /// the URL Twilio's callbacks are signed over.
    pub public_url: String,
    /// Twilio's auth token, the key of its request signatures; `None` when Twilio is off.
    pub twilio_auth_token: Option<String>,
    /// Where webhooks may not go, less `webhooks.allow_networks`.
    pub webhook_policy: Arc<AddressPolicy>,
    /// Seals and opens webhook endpoint secrets.
    pub webhook_secrets: Arc<SecretBox>,
}
