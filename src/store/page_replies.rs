//! What a person does with a page that reached them by voice or e-mail: the page a call or an
//! acknowledge link is about (only while it still goes to a verified, live method of the person
//! paged), a call's final status, and the one use of an e-mail link.
//!
//! An e-mail link's use is kept in its delivery's `provider_status` (`link_used`): SMTP has no
//! delivery callbacks, so an e-mail delivery's provider status is otherwise never written,
//! and the link needs no column or table of its own.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::escalation::StateChange;
use super::{db, decode_error, millis, Store, StoreError};
use crate::domain::incident::IncidentState;
use crate::domain::timeline::TimelineKind;

/// The provider status that marks an e-mail page whose link was used.
pub const LINK_USED: &str = "link_used";

/// The sentence that answers a person who acknowledged (`done` = "acknowledged") or resolved
/// from outside the app: an SMS reply, a call's digit, an e-mail link.
pub fn outcome_sentence(change: &StateChange, done: &str) -> String {
    match change {
        StateChange::Applied { .. } => format!("Incident {done}. Thank you."),
        StateChange::AlreadyDone => format!("The incident was already {done}."),
        StateChange::Conflict(current) => {
            format!("The incident is already {}.", current.as_str())
        }
        StateChange::NotFound => "That incident no longer exists.".to_owned(),
    }
}

/// A page delivered by voice or e-mail, and where its incident stands.
#[derive(Debug, Clone)]
pub struct PageTarget {
    pub delivery_id: String,
    pub incident_id: String,
    pub user_id: String,
    pub incident_state: IncidentState,
    pub title: String,
    pub body: String,
    /// An e-mail page whose link acknowledged already.
    pub link_used: bool,
}

impl Store {
    /// The page of delivery `delivery_id` (a page, not a notice), when it went over `channel`
    /// to a verified, live method of that kind whose address is `address` (any address when
    /// `None`).
    async fn page_target(
        &self,
        delivery_id: &str,
        channel: &str,
        address: Option<&str>,
    ) -> Result<Option<PageTarget>, StoreError> {
        let row = db::query(
            "SELECT d.id, d.incident_id, d.user_id, d.title, d.body, d.provider_status, i.state \
             FROM deliveries d \
             JOIN contact_methods cm ON cm.id = d.contact_method_id \
             JOIN incidents i ON i.id = d.incident_id \
             WHERE d.id = $1 AND d.channel = $2 AND d.kind = 'page' AND cm.kind = $2 \
             AND cm.address = COALESCE($3, cm.address) \
             AND cm.verified_at IS NOT NULL AND cm.deleted_at IS NULL",
        )
        .bind(delivery_id)
        .bind(channel)
        .bind(address)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let state: String = row.try_get("state")?;
        Ok(Some(PageTarget {
            delivery_id: row.try_get("id")?,
            incident_id: row.try_get("incident_id")?,
            user_id: row.try_get("user_id")?,
            incident_state: IncidentState::parse(&state)
                .ok_or_else(|| decode_error("incidents.state", &state))?,
            title: row.try_get("title")?,
            body: row.try_get("body")?,
            link_used: row
                .try_get::<Option<String>, _>("provider_status")?
                .as_deref()
                == Some(LINK_USED),
        }))
    }

    /// The page a call is about: delivery `delivery_id`, placed to `callee`, a verified voice
    /// number of the person paged.
    pub async fn voice_call_target(
        &self,
        delivery_id: &str,
        callee: &str,
    ) -> Result<Option<PageTarget>, StoreError> {
        self.page_target(delivery_id, "voice", Some(callee)).await
    }

    /// The page an e-mail acknowledge link is about.
    pub async fn email_link_target(
        &self,
        delivery_id: &str,
    ) -> Result<Option<PageTarget>, StoreError> {
        self.page_target(delivery_id, "email", None).await
    }

    /// Marks an e-mail page's link used; false when it already was (a replay).
    #[tracing::instrument(name = "store use email link", skip_all, fields(delivery = %delivery_id))]
    pub async fn use_email_link(
        &self,
        delivery_id: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let updated = self
            .write_one(
                db::query(
                    "UPDATE deliveries SET provider_status = $2, updated_at = $3 \
                     WHERE id = $1 AND channel = 'email' \
                     AND (provider_status IS NULL OR provider_status <> $2)",
                )
                .bind(delivery_id)
                .bind(LINK_USED)
                .bind(millis(now)),
            )
            .await?;
        Ok(updated.rows_affected() == 1)
    }

    /// Records a call's status from Twilio's status callback on delivery `delivery_id`, with a
    /// timeline event when `timeline` names one. Returns whether that voice delivery exists.
    #[tracing::instrument(name = "store record call status", skip_all, fields(delivery = %delivery_id, call = %call_sid, status = %call_status))]
    pub async fn record_call_status(
        &self,
        delivery_id: &str,
        call_sid: &str,
        call_status: &str,
        timeline: Option<TimelineKind>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.record_status(
            "d.id = $1 AND d.channel = 'voice'",
            delivery_id,
            call_status,
            timeline,
            json!({ "call_sid": call_sid, "call_status": call_status }),
            now,
        )
        .await
    }
}
