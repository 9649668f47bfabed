//! The timeline writer, below every use case that records what happened: an event is kept in
//! the caller's transaction ([`Tx::push_event`], written when it commits), and the webhook a
//! helpdesk subscribed to is queued in that same transaction, so a webhook exists exactly
//! when the change does. Writes only: the use cases (incidents, escalation, tickets, the SLA
//! clock, contacts) call down into it and it calls none of them.

use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use super::{db, millis, new_id, PendingEvent, Tx};
use crate::domain::timeline::{TimelineKind, WebhookEvent};

/// What a timeline event is about.
#[derive(Clone, Copy)]
pub(crate) struct On<'a> {
    pub ticket: &'a str,
    pub incident: Option<&'a str>,
    pub alert: Option<&'a str>,
}

pub(crate) async fn event(
    tx: &mut Tx,
    on: On<'_>,
    now: DateTime<Utc>,
    kind: TimelineKind,
    actor: Option<&str>,
    detail: serde_json::Value,
) -> Result<(), sqlx::Error> {
    let id = new_id();
    // The helpdesk hears of state changes from the same transaction that makes them.
    if let Some(event_type) = kind.webhook_type() {
        enqueue(tx, &id, event_type, on, now, &detail).await?;
    }
    tx.push_event(PendingEvent {
        id,
        ticket_id: on.ticket.to_owned(),
        incident_id: on.incident.map(str::to_owned),
        alert_id: on.alert.map(str::to_owned),
        at: millis(now),
        kind: kind.as_str().to_owned(),
        actor: actor.map(str::to_owned),
        detail: detail.to_string(),
    });
    Ok(())
}

/// How long a webhook is retried before it is given up.
pub(super) const GIVE_UP_AFTER: Duration = Duration::hours(24);

fn subscribed(events_json: &str, event_type: WebhookEvent) -> bool {
    serde_json::from_str::<Vec<String>>(events_json)
        .map(|v| v.iter().any(|e| e == "*" || e == event_type.as_str()))
        .unwrap_or(false)
}

/// Queues `event_type` for every live endpoint subscribed to it.
pub(crate) async fn enqueue(
    tx: &mut Tx,
    event_id: &str,
    event_type: WebhookEvent,
    on: On<'_>,
    now: DateTime<Utc>,
    detail: &serde_json::Value,
) -> Result<(), sqlx::Error> {
    if tx.webhook_endpoints.is_none() {
        let rows = db::query("SELECT id, events FROM webhook_endpoints WHERE disabled_at IS NULL")
            .fetch_all(&mut **tx)
            .await?;
        tx.webhook_endpoints = Some(
            rows.iter()
                .filter_map(|r| Some((r.try_get("id").ok()?, r.try_get("events").ok()?)))
                .collect(),
        );
    }
    let targets: Vec<String> = tx
        .webhook_endpoints
        .iter()
        .flatten()
        .filter(|(_, events)| subscribed(events, event_type))
        .map(|(id, _)| id.clone())
        .collect();
    if targets.is_empty() {
        return Ok(());
    }
    let ticket = db::query("SELECT external_ref, customer_id, priority FROM tickets WHERE id = $1")
        .bind(on.ticket)
        .fetch_one(&mut **tx)
        .await?;
    let payload = json!({
        "id": event_id,
        "type": event_type.as_str(),
        "created_at": now,
        "incident_id": on.incident,
        "ticket": {
            "id": on.ticket,
            "external_ref": ticket.try_get::<String, _>("external_ref")?,
            "customer_id": ticket.try_get::<String, _>("customer_id")?,
            "priority": ticket.try_get::<String, _>("priority")?,
        },
        "data": detail,
    })
    .to_string();
    for endpoint in targets {
        db::query(
            "INSERT INTO webhook_deliveries (id, endpoint_id, event_id, event_type, payload, state, \
             due_at, give_up_at, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7, $6, $6)",
        )
        .bind(new_id())
        .bind(&endpoint)
        .bind(event_id)
        .bind(event_type.as_str())
        .bind(&payload)
        .bind(millis(now))
        .bind(millis(now + GIVE_UP_AFTER))
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscriptions_match_types_or_everything() {
        let opened = WebhookEvent::IncidentOpened;
        assert!(subscribed(r#"["*"]"#, opened));
        assert!(subscribed(r#"["incident.opened"]"#, opened));
        assert!(!subscribed(r#"["incident.resolved"]"#, opened));
        assert!(!subscribed("not json", opened));
    }
}
