//! What the console's incident page reads beyond the incident and its timeline (every page
//! sent for it, with the device or contact method and what the provider said), the names it
//! shows, and the one thing it writes: a note on the timeline.
//!
//! A note is a timeline event of kind `note` (`detail`: `text`, `user_id`, `name`), written
//! like every other event so the board's change marker moves and open pages refresh. Notes
//! are internal: no webhook type maps to `note` and the customer's view drops unknown kinds.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::incidents::{IncidentRow, TimelineEvent};
use super::timeline::{event, On};
use super::{db, from_millis, millis, Store, StoreError};
use crate::domain::timeline::TimelineKind;

/// Pages listed at most per incident: three passes of a long chain with several devices each
/// stay well under it.
const PAGES_LIMIT: i64 = 500;

/// One page (or update) sent for an incident, with where it went.
#[derive(Debug, Clone)]
pub struct PageRecord {
    pub user_id: String,
    pub user_name: String,
    /// `page` or `update` (a notice after acknowledgement).
    pub kind: String,
    /// `push`, `sms`, `voice`, `email`.
    pub channel: String,
    /// The device's name and platform, or the contact method's address.
    pub target: String,
    /// Counted from 1.
    pub pass: i64,
    pub step: i64,
    /// `pending`, `sent`, `failed`, `cancelled`.
    pub state: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    /// What the provider's status callback said last (SMS, voice).
    pub provider_status: Option<String>,
    /// The push token was reported dead (the device is no longer paged).
    pub token_dead: bool,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    pub due_at: DateTime<Utc>,
}

/// The incident's customer and tier by name.
#[derive(Debug, Clone)]
pub struct IncidentLabels {
    pub customer: String,
    pub tier: String,
}

impl Store {
    /// Every page and update sent for `incident_id`, oldest first.
    pub async fn incident_pages(&self, incident_id: &str) -> Result<Vec<PageRecord>, StoreError> {
        let rows = db::query(
            "SELECT d.user_id, u.name AS user_name, d.kind, d.channel, d.platform, \
             dv.name AS device_name, dv.token_dead_at, cm.address, d.escalation_pass, \
             d.escalation_step, d.state, d.attempts, d.last_error, d.provider_status, \
             d.created_at, d.sent_at, d.due_at \
             FROM deliveries d JOIN users u ON u.id = d.user_id \
             LEFT JOIN devices dv ON dv.id = d.device_id \
             LEFT JOIN contact_methods cm ON cm.id = d.contact_method_id \
             WHERE d.incident_id = $1 ORDER BY d.created_at, d.id LIMIT $2",
        )
        .bind(incident_id)
        .bind(PAGES_LIMIT)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let target = match (
                    r.try_get::<Option<String>, _>("device_name")?,
                    r.try_get::<Option<String>, _>("platform")?,
                    r.try_get::<Option<String>, _>("address")?,
                ) {
                    (Some(name), Some(platform), _) => format!("{name} ({platform})"),
                    (Some(name), None, _) => name,
                    (None, _, Some(address)) => address,
                    _ => String::new(),
                };
                Ok(PageRecord {
                    user_id: r.try_get("user_id")?,
                    user_name: r.try_get("user_name")?,
                    kind: r.try_get("kind")?,
                    channel: r.try_get("channel")?,
                    target,
                    pass: r.try_get::<i64, _>("escalation_pass")? + 1,
                    step: r.try_get::<i64, _>("escalation_step")? + 1,
                    state: r.try_get("state")?,
                    attempts: r.try_get("attempts")?,
                    last_error: r.try_get("last_error")?,
                    provider_status: r.try_get("provider_status")?,
                    token_dead: r.try_get::<Option<i64>, _>("token_dead_at")?.is_some(),
                    created_at: from_millis(r.try_get("created_at")?),
                    sent_at: r.try_get::<Option<i64>, _>("sent_at")?.map(from_millis),
                    due_at: from_millis(r.try_get("due_at")?),
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// The incident's customer and tier names.
    pub async fn incident_labels(
        &self,
        incident: &IncidentRow,
    ) -> Result<IncidentLabels, StoreError> {
        let row = db::query(
            "SELECT c.name AS customer, t.name AS tier FROM customers c, tiers t \
             WHERE c.id = $1 AND t.id = $2",
        )
        .bind(&incident.customer_id)
        .bind(&incident.tier)
        .fetch_optional(&self.pool)
        .await?;
        Ok(match row {
            Some(r) => IncidentLabels {
                customer: r.try_get("customer")?,
                tier: r.try_get("tier")?,
            },
            None => IncidentLabels {
                customer: incident.customer_id.clone(),
                tier: incident.tier.clone(),
            },
        })
    }

    /// Adds `text` (already checked: [`crate::domain::incident::note_text`]) to the
    /// incident's timeline as `user_id`'s note, audited as `actor`.
    #[tracing::instrument(name = "store add incident note", skip_all, fields(incident = %incident.id, user = %user_id))]
    pub async fn add_incident_note(
        &self,
        incident: &IncidentRow,
        user_id: &str,
        actor: &str,
        text: &str,
        now: DateTime<Utc>,
    ) -> Result<TimelineEvent, StoreError> {
        let mut tx = self.begin_write().await?;
        let name: Option<String> = db::query_scalar("SELECT name FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_optional(&mut *tx)
            .await?;
        let detail = json!({ "text": text, "user_id": user_id, "name": name });
        let on = On {
            ticket: &incident.ticket_id,
            incident: Some(&incident.id),
            alert: None,
        };
        event(
            &mut tx,
            on,
            now,
            TimelineKind::Note,
            Some(actor),
            detail.clone(),
        )
        .await?;
        tx.commit().await?;
        Ok(TimelineEvent {
            at: from_millis(millis(now)),
            kind: TimelineKind::Note.as_str().into(),
            actor: Some(actor.to_owned()),
            detail,
        })
    }
}
