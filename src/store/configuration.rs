//! Configuration as code: reads the organisation as a [`State`] and applies a planned one in
//! one write transaction, or nothing.
//!
//! The plan is computed inside the transaction, on what the transaction sees, so a concurrent
//! admin change cannot slip between the plan and its application. After the writes the
//! escalation promise check runs over every tier, as the single admin routes run it for
//! theirs; a misfit that the writes introduced rolls everything back. A dry run does the same
//! and always rolls back, so it reports exactly what a real run would refuse.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::sla::misfits;
use super::teams::write_members;
use super::{audit, db, millis, Backend, Store, StoreError, Tx};
use crate::domain::configuration::{
    plan, Change, CustomerState, DocError, Document, PolicyState, ScheduleState, SecretText, State,
    TeamState, TierState, UserState, WebhookState,
};
use crate::domain::sla::TierSla;

/// How the store handles webhook secrets without knowing the key: the caller opens stored
/// values, seals new ones, and generates a secret for an endpoint the document gives none.
pub struct WebhookSecrets<'a> {
    /// The secret in a stored value, if it opens.
    pub open: &'a (dyn Fn(&str) -> Option<String> + Sync),
    pub seal: &'a (dyn Fn(&str) -> String + Sync),
    pub generate: &'a (dyn Fn() -> String + Sync),
}

/// A secret generated for a new endpoint: shown once, after the apply committed.
#[derive(Debug)]
pub struct GeneratedSecret {
    pub url: String,
    pub secret: SecretText,
}

/// What applying a document did.
#[derive(Debug)]
pub enum Applied {
    /// The changes, applied (or, on a dry run, that would be), and the secrets generated for
    /// new webhook endpoints (none on a dry run).
    Planned(Vec<Change>, Vec<GeneratedSecret>),
    /// Nothing changed: what is wrong, by path into the document.
    Refused(Vec<DocError>),
}

fn decode<T: serde::de::DeserializeOwned>(what: &str, json: &str) -> Result<T, StoreError> {
    serde_json::from_str(json).map_err(|e| {
        StoreError::Database(sqlx::Error::Decode(format!("stored {what}: {e}").into()))
    })
}

async fn load(
    conn: &mut db::Conn,
    open: &(dyn Fn(&str) -> Option<String> + Sync),
) -> Result<State, StoreError> {
    let mut state = State::default();
    for r in db::query("SELECT id, sla FROM tiers ORDER BY rank, id")
        .fetch_all(&mut *conn)
        .await?
    {
        let id: String = r.try_get("id")?;
        let sla: String = r.try_get("sla")?;
        state.tiers.push(TierState {
            sla: TierSla::from_stored(&id, &sla),
            id,
        });
    }
    for r in db::query("SELECT id, role, name, email FROM users ORDER BY created_at, id")
        .fetch_all(&mut *conn)
        .await?
    {
        let role: String = r.try_get("role")?;
        state.users.push(UserState {
            id: r.try_get("id")?,
            email: r.try_get("email")?,
            name: r.try_get("name")?,
            role: decode("user role", &json!(role).to_string())?,
        });
    }
    for r in db::query(
        "SELECT id, name, tier_id, account_manager_id FROM customers ORDER BY created_at, id",
    )
    .fetch_all(&mut *conn)
    .await?
    {
        state.customers.push(CustomerState {
            id: r.try_get("id")?,
            name: r.try_get("name")?,
            tier: r.try_get("tier_id")?,
            account_manager_id: r.try_get("account_manager_id")?,
        });
    }
    for r in db::query("SELECT id, name, role, definition FROM schedules ORDER BY created_at, id")
        .fetch_all(&mut *conn)
        .await?
    {
        let definition: String = r.try_get("definition")?;
        state.schedules.push(ScheduleState {
            id: r.try_get("id")?,
            name: r.try_get("name")?,
            role: r.try_get("role")?,
            schedule: decode("schedule", &definition)?,
        });
    }
    for r in db::query("SELECT id, name FROM teams ORDER BY created_at, id")
        .fetch_all(&mut *conn)
        .await?
    {
        state.teams.push(TeamState {
            id: r.try_get("id")?,
            name: r.try_get("name")?,
            members: Vec::new(),
        });
    }
    for r in db::query("SELECT team_id, user_id FROM team_members ORDER BY team_id, position")
        .fetch_all(&mut *conn)
        .await?
    {
        let team_id: String = r.try_get("team_id")?;
        if let Some(t) = state.teams.iter_mut().find(|t| t.id == team_id) {
            t.members.push(r.try_get("user_id")?);
        }
    }
    for r in db::query(
        "SELECT id, name, tier_id, customer_id, definition FROM escalation_policies \
         ORDER BY created_at, id",
    )
    .fetch_all(&mut *conn)
    .await?
    {
        let definition: String = r.try_get("definition")?;
        state.policies.push(PolicyState {
            id: r.try_get("id")?,
            name: r.try_get("name")?,
            tier: r.try_get("tier_id")?,
            customer_id: r.try_get("customer_id")?,
            policy: decode("policy", &definition)?,
        });
    }
    for r in db::query(
        "SELECT id, url, events, sealed_secret, disabled_at FROM webhook_endpoints \
         ORDER BY created_at, id",
    )
    .fetch_all(&mut *conn)
    .await?
    {
        let events: String = r.try_get("events")?;
        let sealed: String = r.try_get("sealed_secret")?;
        state.webhooks.push(WebhookState {
            id: r.try_get("id")?,
            url: r.try_get("url")?,
            events: decode("webhook events", &events)?,
            enabled: r.try_get::<Option<i64>, _>("disabled_at")?.is_none(),
            secret: open(&sealed).map(SecretText),
        });
    }
    Ok(state)
}

/// `+`, `~` or nothing for an object of the desired state, by its id in the current one.
fn op<T: PartialEq>(current: &[T], id_of: impl Fn(&T) -> &str, item: &T) -> Option<&'static str> {
    match current.iter().find(|c| id_of(c) == id_of(item)) {
        None => Some("create"),
        Some(c) if c != item => Some("update"),
        Some(_) => None,
    }
}

impl Store {
    /// The organisation as stored, for `GET /v1/admin/configuration`.
    pub async fn configuration(&self) -> Result<State, StoreError> {
        let mut conn = self.pool.acquire().await?;
        load(&mut conn, &|_| None).await
    }

    /// Plans `doc` against the stored state and applies it in one transaction, unless it is a
    /// dry run or anything fails a check (then nothing changes).
    #[tracing::instrument(name = "store apply configuration", skip_all, fields(prune = prune, dry_run = dry_run))]
    pub async fn apply_configuration(
        &self,
        doc: &Document,
        prune: bool,
        dry_run: bool,
        secrets: &WebhookSecrets<'_>,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Applied, StoreError> {
        let mut tx = self.begin_write().await?;
        if self.backend() == Backend::Postgres {
            // Every tier's row lock, as single SLA, policy and customer writes take theirs.
            db::query("SELECT id FROM tiers ORDER BY id FOR UPDATE")
                .fetch_all(&mut *tx)
                .await?;
        }
        let current = load(&mut tx, secrets.open).await?;
        let planned = match plan(&current, doc, prune) {
            Ok(p) => p,
            Err(errors) => return Ok(Applied::Refused(errors)),
        };
        if planned.changes.is_empty() {
            return Ok(Applied::Planned(Vec::new(), Vec::new()));
        }
        let before = misfits(&mut tx, None).await?;
        write(&mut tx, &current, &planned.desired, actor, now).await?;
        let generated =
            write_webhooks(&mut tx, &current, &planned.desired, secrets, actor, now).await?;
        let introduced: Vec<DocError> = misfits(&mut tx, None)
            .await?
            .into_iter()
            .filter(|m| {
                !before
                    .iter()
                    .any(|b| b.tier == m.tier && b.policy_id == m.policy_id)
            })
            .map(|m| {
                let path = m
                    .policy_id
                    .as_ref()
                    .and_then(|id| planned.policy_paths.get(id))
                    .map(|p| format!("{p}.steps"))
                    .or_else(|| planned.tier_paths.get(&m.tier).cloned())
                    .unwrap_or_else(|| "policies".to_owned());
                DocError {
                    path,
                    reason: m.to_string(),
                }
            })
            .collect();
        if !introduced.is_empty() {
            return Ok(Applied::Refused(introduced));
        }
        if dry_run {
            return Ok(Applied::Planned(planned.changes, Vec::new()));
        }
        tx.commit().await?;
        Ok(Applied::Planned(planned.changes, generated))
    }
}

async fn audit_change(
    tx: &mut Tx,
    now: DateTime<Utc>,
    actor: &str,
    action: &str,
    kind: &str,
    id: &str,
) -> Result<(), StoreError> {
    audit(
        tx,
        now,
        actor,
        &format!("configuration.{action}"),
        kind,
        id,
        json!({}),
    )
    .await?;
    Ok(())
}

/// Writes the difference between `current` and `desired`: users and customers first (others
/// refer to them), teams before the policies that page them, removals last (policies before
/// the schedules and teams they may page).
async fn write(
    tx: &mut Tx,
    current: &State,
    desired: &State,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let at = millis(now);
    for u in &desired.users {
        let Some(action) = op(&current.users, |x| &x.id, u) else {
            continue;
        };
        let statement = if action == "create" {
            "INSERT INTO users (id, role, customer_id, name, email, created_at, updated_at) \
             VALUES ($1, $2, NULL, $3, $4, $5, $5)"
        } else {
            "UPDATE users SET role = $2, name = $3, email = $4, updated_at = $5 WHERE id = $1"
        };
        db::query(statement)
            .bind(&u.id)
            .bind(u.role.as_str())
            .bind(&u.name)
            .bind(&u.email)
            .bind(at)
            .execute(&mut **tx)
            .await?;
        audit_change(tx, now, actor, action, "user", &u.id).await?;
    }
    for c in &desired.customers {
        let Some(action) = op(&current.customers, |x| &x.id, c) else {
            continue;
        };
        let statement = if action == "create" {
            "INSERT INTO customers (id, name, tier_id, account_manager_id, created_at, \
             updated_at) VALUES ($1, $2, $3, $4, $5, $5)"
        } else {
            "UPDATE customers SET name = $2, tier_id = $3, account_manager_id = $4, \
             updated_at = $5 WHERE id = $1"
        };
        db::query(statement)
            .bind(&c.id)
            .bind(&c.name)
            .bind(&c.tier)
            .bind(&c.account_manager_id)
            .bind(at)
            .execute(&mut **tx)
            .await?;
        audit_change(tx, now, actor, action, "customer", &c.id).await?;
    }
    for t in &desired.tiers {
        if op(&current.tiers, |x| &x.id, t).is_some() {
            db::query("UPDATE tiers SET sla = $2, updated_at = $3 WHERE id = $1")
                .bind(&t.id)
                .bind(serde_json::to_string(&t.sla).unwrap_or_default())
                .bind(at)
                .execute(&mut **tx)
                .await?;
            audit_change(tx, now, actor, "update", "tier", &t.id).await?;
        }
    }
    for s in &desired.schedules {
        let Some(action) = op(&current.schedules, |x| &x.id, s) else {
            continue;
        };
        let statement = if action == "create" {
            "INSERT INTO schedules (id, name, role, definition, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $5)"
        } else {
            "UPDATE schedules SET name = $2, role = $3, definition = $4, updated_at = $5 \
             WHERE id = $1"
        };
        db::query(statement)
            .bind(&s.id)
            .bind(&s.name)
            .bind(&s.role)
            .bind(serde_json::to_string(&s.schedule).unwrap_or_default())
            .bind(at)
            .execute(&mut **tx)
            .await?;
        audit_change(tx, now, actor, action, "schedule", &s.id).await?;
    }
    for t in &desired.teams {
        let Some(action) = op(&current.teams, |x| &x.id, t) else {
            continue;
        };
        let statement = if action == "create" {
            "INSERT INTO teams (id, name, created_at, updated_at) VALUES ($1, $2, $3, $3)"
        } else {
            "UPDATE teams SET name = $2, updated_at = $3 WHERE id = $1"
        };
        db::query(statement)
            .bind(&t.id)
            .bind(&t.name)
            .bind(at)
            .execute(&mut **tx)
            .await?;
        write_members(tx, &t.id, &t.members).await?;
        audit_change(tx, now, actor, action, "team", &t.id).await?;
    }
    for p in &desired.policies {
        let Some(action) = op(&current.policies, |x| &x.id, p) else {
            continue;
        };
        let statement = if action == "create" {
            "INSERT INTO escalation_policies (id, name, tier_id, customer_id, definition, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6)"
        } else {
            "UPDATE escalation_policies SET name = $2, tier_id = $3, customer_id = $4, \
             definition = $5, updated_at = $6 WHERE id = $1"
        };
        db::query(statement)
            .bind(&p.id)
            .bind(&p.name)
            .bind(&p.tier)
            .bind(&p.customer_id)
            .bind(serde_json::to_string(&p.policy).unwrap_or_default())
            .bind(at)
            .execute(&mut **tx)
            .await?;
        audit_change(tx, now, actor, action, "policy", &p.id).await?;
    }
    for p in &current.policies {
        if !desired.policies.iter().any(|d| d.id == p.id) {
            db::query("DELETE FROM escalation_policies WHERE id = $1")
                .bind(&p.id)
                .execute(&mut **tx)
                .await?;
            audit_change(tx, now, actor, "delete", "policy", &p.id).await?;
        }
    }
    for t in &current.teams {
        if !desired.teams.iter().any(|d| d.id == t.id) {
            write_members(tx, &t.id, &[]).await?;
            db::query("DELETE FROM teams WHERE id = $1")
                .bind(&t.id)
                .execute(&mut **tx)
                .await?;
            audit_change(tx, now, actor, "delete", "team", &t.id).await?;
        }
    }
    for s in &current.schedules {
        if !desired.schedules.iter().any(|d| d.id == s.id) {
            db::query("DELETE FROM schedules WHERE id = $1")
                .bind(&s.id)
                .execute(&mut **tx)
                .await?;
            audit_change(tx, now, actor, "delete", "schedule", &s.id).await?;
        }
    }
    Ok(())
}

/// Writes the webhook endpoints: creates (sealing the given or a generated secret), updates of
/// events, enabled and a replaced secret, and disables the ones a prune dropped.
async fn write_webhooks(
    tx: &mut Tx,
    current: &State,
    desired: &State,
    secrets: &WebhookSecrets<'_>,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<Vec<GeneratedSecret>, StoreError> {
    let at = millis(now);
    let mut generated = Vec::new();
    for w in &desired.webhooks {
        let events = serde_json::to_string(&w.events).unwrap_or_default();
        let disabled_at = (!w.enabled).then_some(at);
        match current.webhooks.iter().find(|c| c.id == w.id) {
            None => {
                let secret = match &w.secret {
                    Some(s) => s.0.clone(),
                    None => {
                        let s = (secrets.generate)();
                        generated.push(GeneratedSecret {
                            url: w.url.clone(),
                            secret: SecretText(s.clone()),
                        });
                        s
                    }
                };
                db::query(
                    "INSERT INTO webhook_endpoints (id, url, sealed_secret, events, created_at, \
                     disabled_at) VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(&w.id)
                .bind(&w.url)
                .bind((secrets.seal)(&secret))
                .bind(&events)
                .bind(at)
                .bind(disabled_at)
                .execute(&mut **tx)
                .await?;
                audit_change(tx, now, actor, "create", "webhook", &w.id).await?;
            }
            Some(c) if c != w => {
                let statement = if w.enabled {
                    "UPDATE webhook_endpoints SET events = $2, disabled_at = NULL WHERE id = $1"
                } else {
                    "UPDATE webhook_endpoints SET events = $2, \
                     disabled_at = COALESCE(disabled_at, $3) WHERE id = $1"
                };
                let mut update = db::query(statement).bind(&w.id).bind(&events);
                if !w.enabled {
                    update = update.bind(at);
                }
                update.execute(&mut **tx).await?;
                if let Some(secret) = w.secret.as_ref().filter(|_| w.secret != c.secret) {
                    db::query("UPDATE webhook_endpoints SET sealed_secret = $2 WHERE id = $1")
                        .bind(&w.id)
                        .bind((secrets.seal)(&secret.0))
                        .execute(&mut **tx)
                        .await?;
                }
                audit_change(tx, now, actor, "update", "webhook", &w.id).await?;
            }
            Some(_) => {}
        }
    }
    for c in &current.webhooks {
        if c.enabled && !desired.webhooks.iter().any(|d| d.id == c.id) {
            db::query("UPDATE webhook_endpoints SET disabled_at = $2 WHERE id = $1")
                .bind(&c.id)
                .bind(at)
                .execute(&mut **tx)
                .await?;
            audit_change(tx, now, actor, "disable", "webhook", &c.id).await?;
        }
    }
    Ok(generated)
}
