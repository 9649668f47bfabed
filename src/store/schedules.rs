//! On-call schedules and escalation policies, stored as validated JSON.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::sla::{first_misfit_tx, lock_tier, PolicyMisfit};
use super::{db, millis, new_id, Backend, Store, StoreError};
use crate::domain::escalation::EscalationPolicy;
use crate::domain::schedule::{Override, Schedule, ScheduleError};

#[derive(Debug, Clone, Serialize)]
pub struct StoredSchedule {
    pub id: String,
    pub name: String,
    pub role: Option<String>,
    #[serde(flatten)]
    pub schedule: Schedule,
}

#[derive(Debug, Clone, Serialize)]
pub struct StoredPolicy {
    pub id: String,
    pub name: String,
    pub tier: Option<String>,
    pub customer_id: Option<String>,
    #[serde(flatten)]
    pub policy: EscalationPolicy,
    /// Why this policy cannot keep its tier's SLA, when stored data says so (edited behind
    /// the API's back, or from before the check ran in every write); `null` when it fits.
    pub sla_misfit: Option<String>,
}

fn decode<T: serde::de::DeserializeOwned>(what: &str, json: &str) -> Result<T, StoreError> {
    serde_json::from_str(json).map_err(|e| {
        StoreError::Database(sqlx::Error::Decode(format!("stored {what}: {e}").into()))
    })
}

fn schedule_row(r: &db::Row) -> Result<StoredSchedule, StoreError> {
    let definition: String = r.try_get("definition")?;
    Ok(StoredSchedule {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        role: r.try_get("role")?,
        schedule: decode("schedule", &definition)?,
    })
}

/// Adding an override to a stored schedule.
pub enum OverrideAdded {
    Added(StoredSchedule),
    /// The override's `user_id` names nobody.
    UnknownUser,
    NotFound,
    Invalid(ScheduleError),
}

impl Store {
    #[tracing::instrument(name = "store create schedule", skip_all)]
    pub async fn create_schedule(
        &self,
        name: &str,
        role: Option<&str>,
        schedule: &Schedule,
        now: DateTime<Utc>,
    ) -> Result<StoredSchedule, StoreError> {
        let id = new_id();
        let insert = db::query(
            "INSERT INTO schedules (id, name, role, definition, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $5)",
        )
        .bind(&id)
        .bind(name)
        .bind(role)
        .bind(serde_json::to_string(schedule).unwrap_or_default())
        .bind(millis(now));
        self.write_one(insert).await?;
        Ok(StoredSchedule {
            id,
            name: name.to_owned(),
            role: role.map(str::to_owned),
            schedule: schedule.clone(),
        })
    }

    /// Replaces a schedule's name, role and definition; `None` if it does not exist.
    #[tracing::instrument(name = "store replace schedule", skip_all, fields(schedule = %id))]
    pub async fn replace_schedule(
        &self,
        id: &str,
        name: &str,
        role: Option<&str>,
        schedule: &Schedule,
        now: DateTime<Utc>,
    ) -> Result<Option<StoredSchedule>, StoreError> {
        let update = db::query(
            "UPDATE schedules SET name = $2, role = $3, definition = $4, updated_at = $5 \
             WHERE id = $1",
        )
        .bind(id)
        .bind(name)
        .bind(role)
        .bind(serde_json::to_string(schedule).unwrap_or_default())
        .bind(millis(now));
        let done = self.write_one(update).await?;
        Ok((done.rows_affected() == 1).then(|| StoredSchedule {
            id: id.to_owned(),
            name: name.to_owned(),
            role: role.map(str::to_owned),
            schedule: schedule.clone(),
        }))
    }

    pub async fn schedule(&self, id: &str) -> Result<Option<StoredSchedule>, StoreError> {
        let row = db::query("SELECT id, name, role, definition FROM schedules WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(schedule_row).transpose()
    }

    pub async fn list_schedules(&self) -> Result<Vec<StoredSchedule>, StoreError> {
        let rows = db::query("SELECT id, name, role, definition FROM schedules ORDER BY name")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(schedule_row).collect()
    }

    /// Up to `limit` schedules with ids after `after`, by id (the admin list's pages).
    pub async fn schedules_page(
        &self,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<StoredSchedule>, StoreError> {
        let rows = db::query(
            "SELECT id, name, role, definition FROM schedules \
             WHERE (id > $1 OR $1 IS NULL) ORDER BY id LIMIT $2",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(schedule_row).collect()
    }

    /// Adds an override, read-modify-write inside one write transaction: the one path of the
    /// admin API's override route and the console's override form, so both refuse alike.
    #[tracing::instrument(name = "store add schedule override", skip_all, fields(schedule = %id))]
    pub async fn add_schedule_override(
        &self,
        id: &str,
        o: Override,
        now: DateTime<Utc>,
    ) -> Result<OverrideAdded, StoreError> {
        let mut tx = self.begin_write().await?;
        let known: i64 = db::query_scalar("SELECT COUNT(*) FROM users WHERE id = $1")
            .bind(&o.user_id)
            .fetch_one(&mut *tx)
            .await?;
        if known == 0 {
            return Ok(OverrideAdded::UnknownUser);
        }
        let row = db::query("SELECT id, name, role, definition FROM schedules WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else {
            return Ok(OverrideAdded::NotFound);
        };
        let mut stored = schedule_row(&row)?;
        stored.schedule = match stored.schedule.with_override(o) {
            Ok(s) => s,
            Err(e) => return Ok(OverrideAdded::Invalid(e)),
        };
        db::query("UPDATE schedules SET definition = $2, updated_at = $3 WHERE id = $1")
            .bind(id)
            .bind(serde_json::to_string(&stored.schedule).unwrap_or_default())
            .bind(millis(now))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(OverrideAdded::Added(stored))
    }

    /// Stores a policy for a tier or a customer, replacing the one it had, unless it (or
    /// anything else paging for the tier it serves) could not keep that tier's SLA.
    #[tracing::instrument(name = "store put policy", skip_all, fields(tier = tier, customer = customer_id))]
    pub async fn put_policy(
        &self,
        name: &str,
        tier: Option<&str>,
        customer_id: Option<&str>,
        policy: &EscalationPolicy,
        now: DateTime<Utc>,
    ) -> Result<Result<StoredPolicy, PolicyMisfit>, StoreError> {
        let mut tx = self.begin_write().await?;
        let serves: Option<String> = match (tier, customer_id) {
            (Some(t), _) => Some(t.to_owned()),
            // On PostgreSQL the customer's row lock orders this after a concurrent tier move.
            (None, Some(c)) => {
                db::query_scalar(match self.backend() {
                    Backend::Postgres => "SELECT tier_id FROM customers WHERE id = $1 FOR UPDATE",
                    Backend::Sqlite => "SELECT tier_id FROM customers WHERE id = $1",
                })
                .bind(c)
                .fetch_optional(&mut *tx)
                .await?
            }
            (None, None) => None,
        };
        if let Some(t) = &serves {
            lock_tier(&mut tx, self.backend(), t).await?;
        }
        db::query(
            "DELETE FROM escalation_policies WHERE (tier_id = $1 AND $1 IS NOT NULL) \
             OR (customer_id = $2 AND $2 IS NOT NULL)",
        )
        .bind(tier)
        .bind(customer_id)
        .execute(&mut *tx)
        .await?;
        let id = new_id();
        db::query(
            "INSERT INTO escalation_policies (id, name, tier_id, customer_id, definition, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6)",
        )
        .bind(&id)
        .bind(name)
        .bind(tier)
        .bind(customer_id)
        .bind(serde_json::to_string(policy).unwrap_or_default())
        .bind(millis(now))
        .execute(&mut *tx)
        .await?;
        if let Some(t) = &serves {
            if let Some(misfit) = first_misfit_tx(&mut tx, t, Some(&id)).await? {
                return Ok(Err(misfit));
            }
        }
        tx.commit().await?;
        Ok(Ok(StoredPolicy {
            id,
            name: name.to_owned(),
            tier: tier.map(str::to_owned),
            customer_id: customer_id.map(str::to_owned),
            policy: policy.clone(),
            sla_misfit: None,
        }))
    }

    /// Up to `limit` policies with ids after `after`, by id (the admin list's pages).
    pub async fn policies_page(
        &self,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<StoredPolicy>, StoreError> {
        let rows = db::query(
            "SELECT id, name, tier_id, customer_id, definition FROM escalation_policies \
             WHERE (id > $1 OR $1 IS NULL) ORDER BY id LIMIT $2",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let definition: String = r.try_get("definition")?;
                Ok(StoredPolicy {
                    id: r.try_get("id")?,
                    name: r.try_get("name")?,
                    tier: r.try_get("tier_id")?,
                    customer_id: r.try_get("customer_id")?,
                    policy: decode("policy", &definition)?,
                    sla_misfit: None,
                })
            })
            .collect()
    }
}
