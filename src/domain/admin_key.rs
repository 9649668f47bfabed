//! Admin API keys as the rest of the gateway sees them: what a key may do (its scopes), when it
//! stops working, and when its use is worth writing down. Pure rules, time passed in.
//!
//! Scopes are few and fixed: `admin` may do everything; `tickets:write` is the helpdesk
//! integration (ticket routes only); `reports:read` reads the SLA report and nothing else. A
//! narrow key that leaks can do only its narrow thing.

use std::collections::BTreeSet;
use std::fmt;

use chrono::{DateTime, Duration, Utc};
use serde::{Serialize, Serializer};

/// What an admin key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// Everything, including managing keys.
    Admin,
    /// Upsert and list helpdesk tickets.
    TicketsWrite,
    /// Read the SLA report.
    ReportsRead,
}

impl Scope {
    pub const ALL: [Scope; 3] = [Scope::Admin, Scope::TicketsWrite, Scope::ReportsRead];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Admin => "admin",
            Scope::TicketsWrite => "tickets:write",
            Scope::ReportsRead => "reports:read",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|scope| scope.as_str() == s)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Scope {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Why a list of scope names is not a key's scopes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    #[error("a key needs at least one scope")]
    Empty,
    #[error("unknown scope {0:?}; the scopes are admin, tickets:write and reports:read")]
    Unknown(String),
}

/// The non-empty set of scopes a key holds. Serialises as a sorted list of names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Scopes(BTreeSet<Scope>);

impl Scopes {
    /// Every name must be a known scope; duplicates collapse.
    pub fn parse<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Self, ScopeError> {
        let scopes = names
            .into_iter()
            .map(|n| Scope::parse(n).ok_or_else(|| ScopeError::Unknown(n.to_owned())))
            .collect::<Result<BTreeSet<_>, _>>()?;
        if scopes.is_empty() {
            return Err(ScopeError::Empty);
        }
        Ok(Self(scopes))
    }

    /// Full access: what keys had before scopes existed, and the CLI's default.
    pub fn admin() -> Self {
        Self(BTreeSet::from([Scope::Admin]))
    }

    /// `admin` grants every scope; any other grants only itself.
    pub fn grants(&self, needed: Scope) -> bool {
        self.0.contains(&Scope::Admin) || self.0.contains(&needed)
    }

    /// The stored form: names separated by single spaces (as OAuth writes `scope`).
    pub fn to_stored(&self) -> String {
        self.0
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Reads the stored form back.
    pub fn from_stored(text: &str) -> Result<Self, ScopeError> {
        Self::parse(text.split_whitespace())
    }

    pub fn iter(&self) -> impl Iterator<Item = Scope> + '_ {
        self.0.iter().copied()
    }
}

/// How seldom a key's `last_used_at` is written: a write per admin request would queue behind
/// (and ahead of) panic presses for SQLite's single write turn, for a figure nobody needs to
/// the second.
pub const LAST_USE_RESOLUTION: Duration = Duration::seconds(60);

/// Why a key that exists is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Revoked,
    Expired,
}

/// A stored admin key, without its secret (only a digest of it is ever stored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AdminKey {
    pub id: String,
    pub name: String,
    pub scopes: Scopes,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl AdminKey {
    /// Why the key may not be used at `now`; `None` when it may. Revocation wins over expiry.
    pub fn refusal(&self, now: DateTime<Utc>) -> Option<Refusal> {
        if self.revoked_at.is_some() {
            Some(Refusal::Revoked)
        } else if self.expires_at.is_some_and(|at| now >= at) {
            Some(Refusal::Expired)
        } else {
            None
        }
    }

    /// Whether a use at `now` should be written down: never recorded, or last recorded at
    /// least [`LAST_USE_RESOLUTION`] ago.
    pub fn use_worth_recording(&self, now: DateTime<Utc>) -> bool {
        self.last_used_at
            .is_none_or(|at| now - at >= LAST_USE_RESOLUTION)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(now: DateTime<Utc>) -> AdminKey {
        AdminKey {
            id: "k".into(),
            name: "helpdesk".into(),
            scopes: Scopes::parse(["tickets:write"]).unwrap(),
            created_at: now,
            expires_at: None,
            last_used_at: None,
            revoked_at: None,
        }
    }

    #[test]
    fn admin_grants_everything_and_narrow_scopes_only_themselves() {
        let admin = Scopes::admin();
        assert!(Scope::ALL.iter().all(|s| admin.grants(*s)));
        let helpdesk = Scopes::parse(["tickets:write"]).unwrap();
        assert!(helpdesk.grants(Scope::TicketsWrite));
        assert!(!helpdesk.grants(Scope::Admin));
        assert!(!helpdesk.grants(Scope::ReportsRead));
    }

    #[test]
    fn scopes_parse_known_names_only_and_round_trip() {
        assert_eq!(Scopes::parse([]), Err(ScopeError::Empty));
        assert_eq!(
            Scopes::parse(["admin", "tickets:read"]),
            Err(ScopeError::Unknown("tickets:read".into()))
        );
        assert_eq!(
            Scopes::parse(["Admin"]),
            Err(ScopeError::Unknown("Admin".into()))
        );
        let s = Scopes::parse(["reports:read", "tickets:write", "reports:read"]).unwrap();
        assert_eq!(s.to_stored(), "tickets:write reports:read");
        assert_eq!(Scopes::from_stored(&s.to_stored()).unwrap(), s);
        assert_eq!(
            serde_json::to_value(&s).unwrap(),
            serde_json::json!(["tickets:write", "reports:read"])
        );
    }

    #[test]
    fn a_key_is_refused_once_revoked_or_from_its_expiry_on() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let mut k = key(now);
        assert_eq!(k.refusal(now), None);
        k.expires_at = Some(now + Duration::seconds(1));
        assert_eq!(k.refusal(now), None);
        assert_eq!(
            k.refusal(now + Duration::seconds(1)),
            Some(Refusal::Expired)
        );
        k.revoked_at = Some(now);
        assert_eq!(k.refusal(now), Some(Refusal::Revoked));
    }

    #[test]
    fn use_is_recorded_at_most_once_a_minute() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let mut k = key(now);
        assert!(k.use_worth_recording(now));
        k.last_used_at = Some(now);
        assert!(!k.use_worth_recording(now + Duration::seconds(59)));
        assert!(k.use_worth_recording(now + Duration::seconds(60)));
    }
}
