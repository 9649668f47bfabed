//! Calendar feed tokens: issue, list, revoke, and find the live feed behind a token's digest.
//! Only the SHA-256 digest of a token is stored (see [`crate::auth::secrets`]); a revoked feed
//! keeps its row, with `revoked_at`, so the list and the audit log can say what happened.
//!
//! The lookup is a plain read on the pool: calendar apps poll, and a poll must never take the
//! write turn a panic press needs.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{db, from_millis, millis, new_id, Store, StoreError};

/// Whose shifts a feed shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedOwner {
    /// One person's shifts in every schedule.
    User(String),
    /// Everyone's shifts in one schedule.
    Schedule(String),
}

impl FeedOwner {
    fn columns(&self) -> (Option<&str>, Option<&str>) {
        match self {
            FeedOwner::User(id) => (Some(id), None),
            FeedOwner::Schedule(id) => (None, Some(id)),
        }
    }

    fn subject(&self) -> (&'static str, &str) {
        match self {
            FeedOwner::User(id) => ("user", id),
            FeedOwner::Schedule(id) => ("schedule", id),
        }
    }
}

/// A feed as an admin or its owner sees it: never the token.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CalendarFeedRecord {
    pub id: String,
    pub user_id: Option<String>,
    pub schedule_id: Option<String>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// `active` or `revoked`.
    pub state: &'static str,
}

fn record_row(r: &db::Row) -> Result<CalendarFeedRecord, sqlx::Error> {
    let revoked_at: Option<i64> = r.try_get("revoked_at")?;
    Ok(CalendarFeedRecord {
        id: r.try_get("id")?,
        user_id: r.try_get("user_id")?,
        schedule_id: r.try_get("schedule_id")?,
        created_by: r.try_get("created_by")?,
        created_at: from_millis(r.try_get("created_at")?),
        revoked_at: revoked_at.map(from_millis),
        state: if revoked_at.is_some() {
            "revoked"
        } else {
            "active"
        },
    })
}

const COLUMNS: &str = "id, user_id, schedule_id, created_by, created_at, revoked_at";

impl Store {
    /// Stores a new feed by its token's digest; audited.
    #[tracing::instrument(name = "store create calendar feed", skip_all)]
    pub async fn create_calendar_feed(
        &self,
        owner: &FeedOwner,
        token_hash: &str,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<CalendarFeedRecord, StoreError> {
        let mut tx = self.begin_write().await?;
        let id = new_id();
        let (user_id, schedule_id) = owner.columns();
        db::query(
            "INSERT INTO calendar_feeds (id, token_hash, user_id, schedule_id, created_by, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&id)
        .bind(token_hash)
        .bind(user_id)
        .bind(schedule_id)
        .bind(actor)
        .bind(millis(now))
        .execute(&mut *tx)
        .await?;
        let (subject_type, subject_id) = owner.subject();
        super::audit(
            &mut tx,
            now,
            actor,
            "calendar_feed.issued",
            subject_type,
            subject_id,
            serde_json::json!({ "feed_id": id }),
        )
        .await?;
        tx.commit().await?;
        Ok(CalendarFeedRecord {
            id,
            user_id: user_id.map(str::to_owned),
            schedule_id: schedule_id.map(str::to_owned),
            created_by: actor.to_owned(),
            created_at: from_millis(millis(now)),
            revoked_at: None,
            state: "active",
        })
    }

    /// The feeds of one user or schedule, revoked ones included, a page at a time by id.
    pub async fn calendar_feeds_page(
        &self,
        owner: &FeedOwner,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<CalendarFeedRecord>, StoreError> {
        let (user_id, schedule_id) = owner.columns();
        let rows = db::query(&format!(
            "SELECT {COLUMNS} FROM calendar_feeds \
             WHERE (user_id = $1 OR $1 IS NULL) AND (schedule_id = $2 OR $2 IS NULL) \
             AND (id > $3 OR $3 IS NULL) ORDER BY id LIMIT $4"
        ))
        .bind(user_id)
        .bind(schedule_id)
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(record_row).collect::<Result<_, _>>()?)
    }

    /// Revokes `owner`'s feed `id`; audited the first time. `false` when `owner` has no such
    /// feed. Revoking twice is not an error.
    #[tracing::instrument(name = "store revoke calendar feed", skip_all, fields(feed = %id))]
    pub async fn revoke_calendar_feed(
        &self,
        owner: &FeedOwner,
        id: &str,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let (user_id, schedule_id) = owner.columns();
        let mut tx = self.begin_write().await?;
        let exists: Option<String> = db::query_scalar(
            "SELECT id FROM calendar_feeds WHERE id = $1 \
             AND (user_id = $2 OR $2 IS NULL) AND (schedule_id = $3 OR $3 IS NULL)",
        )
        .bind(id)
        .bind(user_id)
        .bind(schedule_id)
        .fetch_optional(&mut *tx)
        .await?;
        if exists.is_none() {
            return Ok(false);
        }
        let revoked = db::query(
            "UPDATE calendar_feeds SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
        )
        .bind(id)
        .bind(millis(now))
        .execute(&mut *tx)
        .await?;
        if revoked.rows_affected() == 1 {
            let (subject_type, subject_id) = owner.subject();
            super::audit(
                &mut tx,
                now,
                actor,
                "calendar_feed.revoked",
                subject_type,
                subject_id,
                serde_json::json!({ "feed_id": id }),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Whose shifts the live (not revoked) feed stored under `token_hash` shows.
    pub async fn live_calendar_feed(
        &self,
        token_hash: &str,
    ) -> Result<Option<FeedOwner>, StoreError> {
        let row = db::query(
            "SELECT user_id, schedule_id FROM calendar_feeds \
             WHERE token_hash = $1 AND revoked_at IS NULL",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let user_id: Option<String> = row.try_get("user_id")?;
        let schedule_id: Option<String> = row.try_get("schedule_id")?;
        Ok(match (user_id, schedule_id) {
            (Some(u), _) => Some(FeedOwner::User(u)),
            (None, Some(s)) => Some(FeedOwner::Schedule(s)),
            (None, None) => None,
        })
    }
}
