//! One-time enrollment codes: issue, look up, list and revoke. Only the code's keyed hash is
//! stored (see [`crate::auth::secrets::EnrollmentCodeKeys`]); using one up happens with the
//! device it enrolls, in [`Store::enroll_device`].
//!
//! The lookup is a plain read on the pool: a wrong guess is answered without ever opening a
//! write transaction, so a flood of guesses never takes the write turn a panic press needs.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{db, from_millis, millis, new_id, Store, StoreError};

/// An issued code as an admin sees it: never the code itself.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct EnrollmentCodeRecord {
    pub id: String,
    pub user_id: String,
    pub user_name: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// `outstanding` (may still enroll a device), `used` or `revoked`.
    pub state: &'static str,
}

/// What revoking a code did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revocation {
    /// The code can no longer be used (also when it already could not: revoking is idempotent).
    Revoked,
    /// The code already enrolled a device; revoke the device instead.
    AlreadyUsed,
    NotFound,
}

fn record_row(r: &db::Row) -> Result<EnrollmentCodeRecord, sqlx::Error> {
    let used_at: Option<i64> = r.try_get("used_at")?;
    let revoked_at: Option<i64> = r.try_get("revoked_at")?;
    Ok(EnrollmentCodeRecord {
        id: r.try_get("id")?,
        user_id: r.try_get("user_id")?,
        user_name: r.try_get("user_name")?,
        created_at: from_millis(r.try_get("created_at")?),
        expires_at: from_millis(r.try_get("expires_at")?),
        used_at: used_at.map(from_millis),
        revoked_at: revoked_at.map(from_millis),
        state: match (used_at, revoked_at) {
            (Some(_), _) => "used",
            (None, Some(_)) => "revoked",
            (None, None) => "outstanding",
        },
    })
}

impl Store {
    /// Stores a new code by its keyed hash; returns its id.
    #[tracing::instrument(name = "store create enrollment code", skip_all, fields(user = %user_id))]
    pub async fn create_enrollment_code(
        &self,
        user_id: &str,
        code_hash: &str,
        expires_at: DateTime<Utc>,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<String, StoreError> {
        let mut tx = self.begin_write().await?;
        let id = new_id();
        db::query(
            "INSERT INTO enrollment_codes (id, user_id, code_hash, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&id)
        .bind(user_id)
        .bind(code_hash)
        .bind(millis(now))
        .bind(millis(expires_at))
        .execute(&mut *tx)
        .await?;
        super::audit(
            &mut tx,
            now,
            actor,
            "enrollment_code.issued",
            "user",
            user_id,
            serde_json::json!({ "code_id": id }),
        )
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// The id of the live code (not used, revoked or expired) stored under one of `hashes`,
    /// read without a transaction. The caller claims it in [`Store::enroll_device`], which
    /// checks again.
    pub async fn live_enrollment_code(
        &self,
        hashes: &[String],
        now: DateTime<Utc>,
    ) -> Result<Option<String>, StoreError> {
        if hashes.is_empty() {
            return Ok(None);
        }
        let placeholders: Vec<String> = (2..hashes.len() + 2).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT id FROM enrollment_codes WHERE code_hash IN ({}) \
             AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $1",
            placeholders.join(", ")
        );
        let mut query = db::query_scalar(&sql).bind(millis(now));
        for hash in hashes {
            query = query.bind(hash);
        }
        Ok(query.fetch_optional(&self.pool).await?)
    }

    /// Codes that have not expired yet, newest first, optionally of one user.
    pub async fn enrollment_codes_page(
        &self,
        user_id: Option<&str>,
        now: DateTime<Utc>,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<EnrollmentCodeRecord>, StoreError> {
        let rows = db::query(
            "SELECT c.id, c.user_id, u.name AS user_name, c.created_at, c.expires_at, \
             c.used_at, c.revoked_at FROM enrollment_codes c JOIN users u ON u.id = c.user_id \
             WHERE c.expires_at > $1 AND (c.user_id = $2 OR $2 IS NULL) \
             AND (c.id > $3 OR $3 IS NULL) ORDER BY c.id LIMIT $4",
        )
        .bind(millis(now))
        .bind(user_id)
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(record_row).collect::<Result<_, _>>()?)
    }

    /// Revokes a code so it fails enrollment exactly like a wrong one; audited.
    #[tracing::instrument(name = "store revoke enrollment code", skip_all, fields(enrollment = %id))]
    pub async fn revoke_enrollment_code(
        &self,
        id: &str,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Revocation, StoreError> {
        let mut tx = self.begin_write().await?;
        let row = db::query("SELECT user_id, used_at FROM enrollment_codes WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else {
            return Ok(Revocation::NotFound);
        };
        if row.try_get::<Option<i64>, _>("used_at")?.is_some() {
            return Ok(Revocation::AlreadyUsed);
        }
        let user_id: String = row.try_get("user_id")?;
        let revoked = db::query(
            "UPDATE enrollment_codes SET revoked_at = $2 \
             WHERE id = $1 AND used_at IS NULL AND revoked_at IS NULL",
        )
        .bind(id)
        .bind(millis(now))
        .execute(&mut *tx)
        .await?;
        if revoked.rows_affected() == 1 {
            super::audit(
                &mut tx,
                now,
                actor,
                "enrollment_code.revoked",
                "user",
                &user_id,
                serde_json::json!({ "code_id": id }),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(Revocation::Revoked)
    }
}
