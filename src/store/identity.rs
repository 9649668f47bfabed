//! Tiers, customers, users, enrollment codes, devices and refresh tokens.

use chrono::{DateTime, Duration, Utc};

use super::{db, decode_error, from_millis, millis, new_id, Store, StoreError};
use crate::domain::identity::{Customer, Device, DevicePrincipal, Tier, User, UserRole};
use crate::domain::platform::Platform;
use crate::domain::push_token::PushToken;

/// A device being enrolled.
pub struct NewDevice<'a> {
    /// Its platform is the device's platform.
    pub push_token: &'a PushToken,
    pub app_version: &'a str,
    pub name: &'a str,
    pub critical_alerts: bool,
}

/// Result of presenting a refresh token.
#[derive(Debug)]
pub enum Rotation {
    /// The token was live (or used within the grace window): it is now used up, and the new
    /// one is stored.
    Rotated(DevicePrincipal),
    /// The token had been used before: someone holds a copy. The device is now revoked.
    Reused { device_id: String },
    /// Unknown, expired, or belonging to a revoked device.
    Invalid,
}

/// Fields of a customer an admin may change.
#[derive(Debug, Default)]
pub struct CustomerPatch {
    pub name: Option<String>,
    pub tier: Option<String>,
    /// `Some(None)` clears the account manager.
    pub account_manager_id: Option<Option<String>>,
}

fn flag(v: bool) -> i64 {
    i64::from(v)
}

fn tier_row(r: &db::Row) -> Result<Tier, sqlx::Error> {
    Ok(Tier {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        rank: r.try_get("rank")?,
        panic_button: r.try_get::<i64, _>("panic_button")? != 0,
    })
}

pub(super) fn customer_row(r: &db::Row) -> Result<Customer, sqlx::Error> {
    Ok(Customer {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        tier: r.try_get("tier_id")?,
        account_manager_id: r.try_get("account_manager_id")?,
    })
}

pub(super) fn user_row(r: &db::Row) -> Result<User, sqlx::Error> {
    let role: String = r.try_get("role")?;
    Ok(User {
        id: r.try_get("id")?,
        role: UserRole::parse(&role).ok_or_else(|| decode_error("users.role", &role))?,
        customer_id: r.try_get("customer_id")?,
        name: r.try_get("name")?,
        email: r.try_get("email")?,
    })
}

pub(super) fn device_row(r: &db::Row) -> Result<Device, sqlx::Error> {
    let platform: String = r.try_get("platform")?;
    Ok(Device {
        id: r.try_get("id")?,
        user_id: r.try_get("user_id")?,
        platform: Platform::parse(&platform)
            .ok_or_else(|| decode_error("devices.platform", &platform))?,
        name: r.try_get("name")?,
        app_version: r.try_get("app_version")?,
        critical_alerts: r.try_get::<i64, _>("critical_alerts")? != 0,
        push_token_dead: r.try_get::<Option<i64>, _>("token_dead_at")?.is_some(),
        revoked: r.try_get::<Option<i64>, _>("revoked_at")?.is_some(),
        revoked_reason: r.try_get("revoked_reason")?,
        created_at: from_millis(r.try_get("created_at")?),
    })
}

const PRINCIPAL: &str = "SELECT d.id AS device_id, d.user_id, d.platform, d.revoked_at, \
     u.name AS user_name, u.role, u.customer_id, c.tier_id, t.panic_button \
     FROM devices d JOIN users u ON u.id = d.user_id \
     LEFT JOIN customers c ON c.id = u.customer_id \
     LEFT JOIN tiers t ON t.id = c.tier_id \
     WHERE d.id = $1";

fn principal_row(r: &db::Row) -> Result<DevicePrincipal, sqlx::Error> {
    let role: String = r.try_get("role")?;
    let platform: String = r.try_get("platform")?;
    Ok(DevicePrincipal {
        device_id: r.try_get("device_id")?,
        user_id: r.try_get("user_id")?,
        user_name: r.try_get("user_name")?,
        role: UserRole::parse(&role).ok_or_else(|| decode_error("users.role", &role))?,
        customer_id: r.try_get("customer_id")?,
        tier: r.try_get("tier_id")?,
        panic_button: r.try_get::<Option<i64>, _>("panic_button")?.unwrap_or(0) != 0,
        platform: Platform::parse(&platform)
            .ok_or_else(|| decode_error("devices.platform", &platform))?,
        revoked: r.try_get::<Option<i64>, _>("revoked_at")?.is_some(),
    })
}

impl Store {
    /// A value the gateway stored for itself, or `value` stored now if there was none; the
    /// first writer wins, so concurrent starts agree.
    pub async fn setting_or_insert(
        &self,
        key: &str,
        value: &str,
        now: DateTime<Utc>,
    ) -> Result<String, StoreError> {
        let insert = db::query(
            "INSERT INTO gateway_settings (key, value, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (key) DO NOTHING",
        )
        .bind(key)
        .bind(value)
        .bind(millis(now));
        self.write_one(insert).await?;
        let stored: String = db::query_scalar("SELECT value FROM gateway_settings WHERE key = $1")
            .bind(key)
            .fetch_one(&self.pool)
            .await?;
        Ok(stored)
    }

    pub async fn list_tiers(&self) -> Result<Vec<Tier>, StoreError> {
        let rows = db::query("SELECT id, name, rank, panic_button FROM tiers ORDER BY rank DESC")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(tier_row).collect::<Result<_, _>>()?)
    }

    pub async fn tier_exists(&self, id: &str) -> Result<bool, StoreError> {
        let n: i64 = db::query_scalar("SELECT COUNT(*) FROM tiers WHERE id = $1")
            .bind(id)
            .fetch_one(&self.pool)
            .await?;
        Ok(n > 0)
    }

    #[tracing::instrument(name = "store create customer", skip_all, fields(tier = %tier))]
    pub async fn create_customer(
        &self,
        name: &str,
        tier: &str,
        account_manager_id: Option<&str>,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Customer, StoreError> {
        let id = new_id();
        let mut tx = self.begin_write().await?;
        db::query(
            "INSERT INTO customers (id, name, tier_id, account_manager_id, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $5)",
        )
        .bind(&id)
        .bind(name)
        .bind(tier)
        .bind(account_manager_id)
        .bind(millis(now))
        .execute(&mut *tx)
        .await?;
        super::audit(
            &mut tx,
            now,
            actor,
            "customer.created",
            "customer",
            &id,
            serde_json::json!({ "tier": tier }),
        )
        .await?;
        tx.commit().await?;
        Ok(Customer {
            id,
            name: name.to_owned(),
            tier: tier.to_owned(),
            account_manager_id: account_manager_id.map(str::to_owned),
        })
    }

    pub async fn customer(&self, id: &str) -> Result<Option<Customer>, StoreError> {
        let row =
            db::query("SELECT id, name, tier_id, account_manager_id FROM customers WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.as_ref().map(customer_row).transpose()?)
    }

    /// Applies `patch`; a tier change is audited, and refused when the customer's own
    /// escalation policy could not keep the new tier's SLA. `None` when the customer does not
    /// exist.
    #[tracing::instrument(name = "store update customer", skip_all, fields(customer = %id))]
    pub async fn update_customer(
        &self,
        id: &str,
        patch: CustomerPatch,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Result<Option<Customer>, super::sla::PolicyMisfit>, StoreError> {
        let mut tx = self.begin_write().await?;
        // Locks are taken customer row first, then tier row, in every write that checks the
        // SLA invariant (see `put_policy`), so two of them cannot deadlock on PostgreSQL.
        let lock = match self.backend() {
            super::Backend::Postgres => " FOR UPDATE",
            super::Backend::Sqlite => "",
        };
        let Some(current) = db::query(&format!(
            "SELECT id, name, tier_id, account_manager_id FROM customers WHERE id = $1{lock}"
        ))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        .as_ref()
        .map(customer_row)
        .transpose()?
        else {
            return Ok(Ok(None));
        };
        let updated = Customer {
            id: current.id.clone(),
            name: patch.name.unwrap_or_else(|| current.name.clone()),
            tier: patch.tier.unwrap_or_else(|| current.tier.clone()),
            account_manager_id: patch
                .account_manager_id
                .unwrap_or_else(|| current.account_manager_id.clone()),
        };
        let moves = updated.tier != current.tier;
        if moves {
            super::sla::lock_tier(&mut tx, self.backend(), &updated.tier).await?;
        }
        db::query(
            "UPDATE customers SET name = $2, tier_id = $3, account_manager_id = $4, updated_at = $5 \
             WHERE id = $1",
        )
        .bind(id)
        .bind(&updated.name)
        .bind(&updated.tier)
        .bind(&updated.account_manager_id)
        .bind(millis(now))
        .execute(&mut *tx)
        .await?;
        if updated.tier != current.tier {
            super::audit(
                &mut tx,
                now,
                actor,
                "customer.tier_changed",
                "customer",
                id,
                serde_json::json!({ "from": current.tier, "to": updated.tier }),
            )
            .await?;
        }
        // Its own policy must keep the new tier's SLA: checked on what this transaction sees.
        if moves {
            let own: Option<String> =
                db::query_scalar("SELECT id FROM escalation_policies WHERE customer_id = $1")
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?;
            if let Some(own) = own {
                let misfit =
                    super::sla::first_misfit_tx(&mut tx, &updated.tier, Some(&own)).await?;
                if let Some(misfit) = misfit {
                    return Ok(Err(misfit));
                }
            }
        }
        tx.commit().await?;
        Ok(Ok(Some(updated)))
    }

    #[tracing::instrument(name = "store create user", skip_all, fields(role = ?role, customer = customer_id))]
    pub async fn create_user(
        &self,
        role: UserRole,
        customer_id: Option<&str>,
        name: &str,
        email: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<User, StoreError> {
        let id = new_id();
        let insert = db::query(
            "INSERT INTO users (id, role, customer_id, name, email, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6)",
        )
        .bind(&id)
        .bind(role.as_str())
        .bind(customer_id)
        .bind(name)
        .bind(email)
        .bind(millis(now));
        self.write_one(insert).await?;
        Ok(User {
            id,
            role,
            customer_id: customer_id.map(str::to_owned),
            name: name.to_owned(),
            email: email.map(str::to_owned),
        })
    }

    pub async fn user(&self, id: &str) -> Result<Option<User>, StoreError> {
        let row = db::query("SELECT id, role, customer_id, name, email FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(user_row).transpose()?)
    }

    /// Uses up the enrollment code `code_id` (found by [`Store::live_enrollment_code`]) and
    /// enrolls the device with its first refresh token, all or nothing. `None` when the code
    /// was used, revoked or expired meanwhile (indistinguishably from a wrong code).
    #[tracing::instrument(name = "store enroll device", skip_all, fields(enrollment = %code_id))]
    pub async fn enroll_device(
        &self,
        code_id: &str,
        device: NewDevice<'_>,
        refresh_digest: &str,
        refresh_expires: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Option<DevicePrincipal>, StoreError> {
        let mut tx = self.begin_write().await?;
        let claimed = db::query(
            "UPDATE enrollment_codes SET used_at = $2 \
             WHERE id = $1 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $2",
        )
        .bind(code_id)
        .bind(millis(now))
        .execute(&mut *tx)
        .await?;
        if claimed.rows_affected() != 1 {
            return Ok(None);
        }
        let user_id: String =
            db::query_scalar("SELECT user_id FROM enrollment_codes WHERE id = $1")
                .bind(code_id)
                .fetch_one(&mut *tx)
                .await?;
        let device_id = new_id();
        db::query(
            "INSERT INTO devices (id, user_id, platform, push_token, app_version, name, \
             critical_alerts, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
        )
        .bind(&device_id)
        .bind(&user_id)
        .bind(device.push_token.platform().as_str())
        .bind(device.push_token.as_str())
        .bind(device.app_version)
        .bind(device.name)
        .bind(flag(device.critical_alerts))
        .bind(millis(now))
        .execute(&mut *tx)
        .await?;
        insert_refresh_token(&mut tx, &device_id, refresh_digest, refresh_expires, now).await?;
        super::audit(
            &mut tx,
            now,
            &format!("device:{device_id}"),
            "device.enrolled",
            "user",
            &user_id,
            serde_json::json!({ "device_id": device_id, "platform": device.push_token.platform() }),
        )
        .await?;
        let principal = db::query(PRINCIPAL)
            .bind(&device_id)
            .fetch_one(&mut *tx)
            .await?;
        let principal = principal_row(&principal)?;
        tx.commit().await?;
        Ok(Some(principal))
    }

    /// Trades a refresh token for a new one. Presenting a used token again within `grace` of
    /// its first use gets another successor for the same device (a retry or a race); later, it
    /// revokes the device: either the phone or a thief has a copy, and only a fresh enrollment
    /// can tell them apart.
    #[tracing::instrument(name = "store rotate refresh token", skip_all)]
    pub async fn rotate_refresh_token(
        &self,
        digest: &str,
        new_digest: &str,
        new_expires: DateTime<Utc>,
        grace: Duration,
        now: DateTime<Utc>,
    ) -> Result<Rotation, StoreError> {
        // A token never issued is answered from a plain read: a flood of guesses never opens
        // a write transaction (on SQLite, never takes the write turn a panic press needs).
        let known: Option<String> =
            db::query_scalar("SELECT device_id FROM refresh_tokens WHERE token_hash = $1")
                .bind(digest)
                .fetch_optional(&self.pool)
                .await?;
        if known.is_none() {
            return Ok(Rotation::Invalid);
        }
        let mut tx = self.begin_write().await?;
        let row = db::query(
            "SELECT device_id, expires_at, used_at FROM refresh_tokens WHERE token_hash = $1",
        )
        .bind(digest)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(Rotation::Invalid);
        };
        let device_id: String = row.try_get("device_id")?;
        let expires_at: i64 = row.try_get("expires_at")?;
        let used_at: Option<i64> = row.try_get("used_at")?;
        let claimed = if used_at.is_none() {
            db::query(
                "UPDATE refresh_tokens SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL",
            )
            .bind(digest)
            .bind(millis(now))
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1
        } else {
            false
        };
        if !claimed {
            // Used before. Within the grace window that is the app retrying after a lost
            // response, or two of its requests racing (no `used_at` read: the other one claimed
            // it between our read and our update): both get a pair for the same device. After
            // the window it is a copy in someone else's hands (RFC 9700 4.14.2).
            let within_grace = grace > Duration::zero()
                && used_at.is_none_or(|at| millis(now) - at < grace.num_milliseconds());
            if !within_grace {
                revoke(&mut tx, &device_id, "refresh token reuse detected", now).await?;
                super::audit(
                    &mut tx,
                    now,
                    "system",
                    "device.refresh_reuse",
                    "device",
                    &device_id,
                    serde_json::json!({}),
                )
                .await?;
                tx.commit().await?;
                return Ok(Rotation::Reused { device_id });
            }
        }
        let principal = db::query(PRINCIPAL)
            .bind(&device_id)
            .fetch_one(&mut *tx)
            .await?;
        let principal = principal_row(&principal)?;
        if expires_at <= millis(now) || principal.revoked {
            tx.commit().await?;
            return Ok(Rotation::Invalid);
        }
        insert_refresh_token(&mut tx, &device_id, new_digest, new_expires, now).await?;
        tx.commit().await?;
        Ok(Rotation::Rotated(principal))
    }

    /// The device, its user and their organisation, as they are now.
    pub async fn device_principal(
        &self,
        device_id: &str,
    ) -> Result<Option<DevicePrincipal>, StoreError> {
        let row = db::query(PRINCIPAL)
            .bind(device_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(principal_row).transpose()?)
    }

    pub async fn device(&self, id: &str) -> Result<Option<Device>, StoreError> {
        let row = db::query(&format!("{DEVICE_COLUMNS} WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(device_row).transpose()?)
    }

    /// The OS rotated the push token: store it and forget that the old one was dead.
    #[tracing::instrument(name = "store update push token", skip_all, fields(device = %device_id))]
    pub async fn update_push_token(
        &self,
        device_id: &str,
        push_token: &PushToken,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let update = db::query(
            "UPDATE devices SET push_token = $2, token_dead_at = NULL, updated_at = $3 \
             WHERE id = $1",
        )
        .bind(device_id)
        .bind(push_token.as_str())
        .bind(millis(now));
        self.write_one(update).await?;
        Ok(())
    }

    /// Revokes a device; `false` if it does not exist or was already revoked.
    #[tracing::instrument(name = "store revoke device", skip_all, fields(device = %device_id))]
    pub async fn revoke_device(
        &self,
        device_id: &str,
        reason: &str,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let revoked = revoke(&mut tx, device_id, reason, now).await?;
        if revoked {
            super::audit(
                &mut tx,
                now,
                actor,
                "device.revoked",
                "device",
                device_id,
                serde_json::json!({ "reason": reason }),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(revoked)
    }
}

pub(super) const DEVICE_COLUMNS: &str =
    "SELECT id, user_id, platform, name, app_version, critical_alerts, \
     token_dead_at, revoked_at, revoked_reason, created_at FROM devices";

async fn insert_refresh_token(
    tx: &mut super::Tx,
    device_id: &str,
    digest: &str,
    expires: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    db::query(
        "INSERT INTO refresh_tokens (token_hash, device_id, created_at, expires_at) \
         VALUES ($1, $2, $3, $4)",
    )
    .bind(digest)
    .bind(device_id)
    .bind(millis(now))
    .bind(millis(expires))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn revoke(
    tx: &mut super::Tx,
    device_id: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let done = db::query(
        "UPDATE devices SET revoked_at = $2, revoked_reason = $3, updated_at = $2 \
         WHERE id = $1 AND revoked_at IS NULL",
    )
    .bind(device_id)
    .bind(millis(now))
    .bind(reason)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}
