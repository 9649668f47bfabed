//! Whether a person can be paged now: away (an unavailability covers the instant) and
//! reachable (something can deliver a page to them). Read inside the caller's paging
//! transaction, so the answer and the pages it leads to are one consistent view.
//!
//! Limits: "reachable" means an enrolled device that is neither revoked nor has a token the
//! push provider declared dead. It says nothing about whether the next send will succeed. When
//! other contact methods (SMS, voice, e-mail) can carry a page, [`reachable`] is the one place
//! that learns about them.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::{millis, StoreError, Tx};

/// An unavailability covering now, and who stands in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Away {
    pub delegate_id: Option<String>,
}

/// The newest unavailability of `user_id` that covers `now`, if any.
pub(crate) async fn away_now(
    tx: &mut Tx,
    user_id: &str,
    now: DateTime<Utc>,
) -> Result<Option<Away>, StoreError> {
    let row = sqlx::query(
        "SELECT delegate_id FROM unavailability \
         WHERE user_id = $1 AND starts_at <= $2 AND ends_at > $2 \
         ORDER BY created_at DESC LIMIT 1",
    )
    .bind(user_id)
    .bind(millis(now))
    .fetch_optional(&mut **tx)
    .await?;
    Ok(match row {
        None => None,
        Some(r) => Some(Away {
            delegate_id: r.try_get("delegate_id")?,
        }),
    })
}

/// Whether a page to `user_id` could be delivered at `now`: at least one device that is
/// neither revoked nor declared dead by its push provider.
pub(crate) async fn reachable(
    tx: &mut Tx,
    user_id: &str,
    _now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let devices: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM devices \
         WHERE user_id = $1 AND revoked_at IS NULL AND token_dead_at IS NULL",
    )
    .bind(user_id)
    .fetch_one(&mut **tx)
    .await?;
    Ok(devices > 0)
}
