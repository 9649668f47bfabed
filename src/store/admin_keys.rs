//! Admin API keys: a digest of each key (never the key) with its name, scopes, expiry, last
//! use and revocation. Creating and revoking are audited; recording a use is not (it is the
//! `last_used_at` column itself, written at most once a minute per key).

use chrono::{DateTime, Utc};

use super::{db, from_millis, millis, new_id, Store, StoreError};
use crate::domain::admin_key::{AdminKey, Scopes, LAST_USE_RESOLUTION};

/// A key about to be stored.
pub struct NewAdminKey<'a> {
    pub name: &'a str,
    pub scopes: &'a Scopes,
    pub expires_at: Option<DateTime<Utc>>,
}

/// What revoking a key did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRevocation {
    Revoked,
    /// It had been revoked before; nothing changed.
    AlreadyRevoked,
    Unknown,
}

const COLUMNS: &str = "SELECT id, name, scopes, created_at, expires_at, last_used_at, revoked_at \
     FROM admin_keys";

fn key_row(r: &db::Row) -> Result<AdminKey, sqlx::Error> {
    let scopes: String = r.try_get("scopes")?;
    let at = |column: &str| -> Result<Option<DateTime<Utc>>, sqlx::Error> {
        Ok(r.try_get::<Option<i64>, _>(column)?.map(from_millis))
    };
    Ok(AdminKey {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        scopes: Scopes::from_stored(&scopes)
            .map_err(|_| super::decode_error("admin_keys.scopes", &scopes))?,
        created_at: from_millis(r.try_get("created_at")?),
        expires_at: at("expires_at")?,
        last_used_at: at("last_used_at")?,
        revoked_at: at("revoked_at")?,
    })
}

impl Store {
    /// Stores a key by its digest, audited as `actor`.
    #[tracing::instrument(name = "store create admin key", skip_all)]
    pub async fn create_admin_key(
        &self,
        key: NewAdminKey<'_>,
        key_digest: &str,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<AdminKey, StoreError> {
        let id = new_id();
        let mut tx = self.begin_write().await?;
        db::query(
            "INSERT INTO admin_keys (id, name, key_hash, scopes, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&id)
        .bind(key.name)
        .bind(key_digest)
        .bind(key.scopes.to_stored())
        .bind(millis(now))
        .bind(key.expires_at.map(millis))
        .execute(&mut *tx)
        .await?;
        super::audit(
            &mut tx,
            now,
            actor,
            "admin_key.created",
            "admin_key",
            &id,
            serde_json::json!({
                "name": key.name,
                "scopes": key.scopes,
                "expires_at": key.expires_at,
            }),
        )
        .await?;
        tx.commit().await?;
        Ok(AdminKey {
            id,
            name: key.name.to_owned(),
            scopes: key.scopes.clone(),
            created_at: now,
            expires_at: key.expires_at,
            last_used_at: None,
            revoked_at: None,
        })
    }

    /// The key with this digest, live or not: the caller decides (and says) why it is
    /// refused.
    pub async fn admin_key_by_digest(
        &self,
        key_digest: &str,
    ) -> Result<Option<AdminKey>, StoreError> {
        let row = db::query(&format!("{COLUMNS} WHERE key_hash = $1"))
            .bind(key_digest)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(key_row).transpose()?)
    }

    /// Records a use of key `id` at `now`, unless one was recorded less than a minute before
    /// (the condition is in the statement, so racing requests write once).
    #[tracing::instrument(name = "store record admin key use", skip_all, fields(key = %id))]
    pub async fn record_admin_key_use(
        &self,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.write_one(
            db::query(
                "UPDATE admin_keys SET last_used_at = $2 \
                 WHERE id = $1 AND (last_used_at IS NULL OR last_used_at <= $3)",
            )
            .bind(id)
            .bind(millis(now))
            .bind(millis(now - LAST_USE_RESOLUTION)),
        )
        .await?;
        Ok(())
    }

    /// Up to `limit` keys with ids after `after`, by id (creation order: ids are UUIDv7).
    pub async fn admin_keys_page(
        &self,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<AdminKey>, StoreError> {
        let rows = db::query(&format!(
            "{COLUMNS} WHERE (id > $1 OR $1 IS NULL) ORDER BY id LIMIT $2"
        ))
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(key_row).collect::<Result<_, _>>()?)
    }

    /// Revokes key `id`, audited as `actor`.
    #[tracing::instrument(name = "store revoke admin key", skip_all, fields(key = %id))]
    pub async fn revoke_admin_key(
        &self,
        id: &str,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<KeyRevocation, StoreError> {
        let mut tx = self.begin_write().await?;
        let done =
            db::query("UPDATE admin_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
                .bind(id)
                .bind(millis(now))
                .execute(&mut *tx)
                .await?;
        if done.rows_affected() == 0 {
            let exists: i64 = db::query_scalar("SELECT COUNT(*) FROM admin_keys WHERE id = $1")
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
            return Ok(if exists > 0 {
                KeyRevocation::AlreadyRevoked
            } else {
                KeyRevocation::Unknown
            });
        }
        super::audit(
            &mut tx,
            now,
            actor,
            "admin_key.revoked",
            "admin_key",
            id,
            serde_json::json!({}),
        )
        .await?;
        tx.commit().await?;
        Ok(KeyRevocation::Revoked)
    }
}
