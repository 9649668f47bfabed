//! Who is who: tiers, customers, users and devices, as the rest of the gateway sees them.

use serde::{Deserialize, Serialize};

use super::platform::Platform;

/// Which kind of person a device belongs to; checked by the extractor of every handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceRole {
    Customer,
    Responder,
}

/// A support tier. Tiers are data (seeded gold/silver/bronze); `panic_button` says whether a
/// customer of the tier may press it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Tier {
    pub id: String,
    pub name: String,
    pub rank: i64,
    pub panic_button: bool,
}

/// What a user is to the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserRole {
    /// A person of a customer organisation who may press the panic button.
    Contact,
    /// An account manager or on-call engineer.
    Responder,
    /// A responder who may also act on any incident and is paged on pre-breach warnings.
    SupportManager,
}

impl UserRole {
    pub fn as_str(self) -> &'static str {
        match self {
            UserRole::Contact => "contact",
            UserRole::Responder => "responder",
            UserRole::SupportManager => "support_manager",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "contact" => Some(UserRole::Contact),
            "responder" => Some(UserRole::Responder),
            "support_manager" => Some(UserRole::SupportManager),
            _ => None,
        }
    }

    /// The kind of device token a user of this role gets.
    pub fn device_role(self) -> DeviceRole {
        match self {
            UserRole::Contact => DeviceRole::Customer,
            UserRole::Responder | UserRole::SupportManager => DeviceRole::Responder,
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Customer {
    pub id: String,
    pub name: String,
    pub tier: String,
    pub account_manager_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub role: UserRole,
    pub customer_id: Option<String>,
    pub name: String,
    pub email: Option<String>,
}

/// An enrolled device and the person and organisation behind it: what every authenticated
/// device request is checked against, fresh from the database.
#[derive(Debug, Clone)]
pub struct DevicePrincipal {
    pub device_id: String,
    pub user_id: String,
    pub user_name: String,
    pub role: UserRole,
    pub customer_id: Option<String>,
    pub tier: Option<String>,
    pub panic_button: bool,
    pub platform: Platform,
    pub revoked: bool,
}

/// A device as an admin or its owner sees it (never its tokens).
#[derive(Debug, Clone, Serialize)]
pub struct Device {
    pub id: String,
    pub user_id: String,
    pub platform: Platform,
    pub name: String,
    pub app_version: String,
    pub critical_alerts: bool,
    pub push_token_dead: bool,
    pub revoked: bool,
    pub revoked_reason: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
}
