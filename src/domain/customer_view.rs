//! What a customer may see of an incident's timeline.
//!
//! The stored timeline is written for responders and the helpdesk: it names devices, provider
//! error texts, staff who were away, and the admin key that changed a ticket. A customer's
//! contact needs none of that; they need to know that people are being paged, who took the
//! incident and when. So the customer's view is an allow-list: [`customer_event`] maps each
//! kind it shows to a few chosen fields and a sentence, and drops everything else. The match
//! names every [`TimelineKind`], so a kind added later does not compile until someone decides
//! what customers should read of it; text that is no kind at all is dropped by the caller's
//! [`TimelineKind::parse`]. Actors are never passed through (they are device, user or
//! admin-key ids).

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Value};

use super::priority::Priority;
use super::timeline::TimelineKind;

/// One timeline entry as a customer's contact sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CustomerEvent {
    pub at: DateTime<Utc>,
    pub kind: &'static str,
    /// The event in words.
    pub text: String,
    /// The few fields a customer may read, by kind (for example who acknowledged).
    #[serde(skip_serializing_if = "Value::is_null")]
    pub detail: Value,
}

/// The customer's view of a stored event (`kind`, `detail`), or `None` when customers do not
/// see it. Fields not named here never reach the customer, whatever `detail` holds.
pub fn customer_event(
    at: DateTime<Utc>,
    kind: TimelineKind,
    detail: &Value,
) -> Option<CustomerEvent> {
    let num = |field: &str| detail.get(field).and_then(Value::as_u64);
    let text = |field: &str| detail.get(field).and_then(Value::as_str);
    let (kind, text, detail) = match kind {
        TimelineKind::Created => (
            "opened",
            "Your panic alert opened this incident.".to_owned(),
            Value::Null,
        ),
        TimelineKind::Joined => {
            let count = num("alert_count").unwrap_or(0);
            (
                "alert_joined",
                format!("Another press joined this incident ({count} in all)."),
                json!({ "alert_count": count }),
            )
        }
        TimelineKind::TicketCreated
        | TimelineKind::TicketPriorityChanged
        | TimelineKind::Classified => {
            let priority = text("to").or_else(|| text("priority"))?;
            let priority = Priority::parse(priority)?.as_str();
            (
                "priority",
                format!("The ticket is {priority}."),
                json!({ "priority": priority }),
            )
        }
        TimelineKind::Paged => {
            let step = num("step").unwrap_or(1);
            let people = detail
                .get("targets")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            let who = if people == 1 {
                "1 person".to_owned()
            } else {
                format!("{people} people")
            };
            let text = if num("pass").unwrap_or(1) > 1 {
                format!("Paging again, level {step} of the escalation: {who} paged.")
            } else {
                format!("Paging level {step} of the escalation: {who} paged.")
            };
            ("paging", text, json!({ "people_paged": people }))
        }
        TimelineKind::Escalated => (
            "escalated",
            "Nobody acknowledged in time; escalating.".to_owned(),
            Value::Null,
        ),
        TimelineKind::Unanswered => (
            "unanswered",
            "Everyone in the escalation has been paged; support management is following up."
                .to_owned(),
            Value::Null,
        ),
        TimelineKind::EscalationRestarted => (
            "paging_restarted",
            "A new press came in after everyone had been paged; paging starts again from the \
             first level."
                .to_owned(),
            Value::Null,
        ),
        TimelineKind::Unpaged => (
            "unpaged",
            "Nobody could be paged automatically; the helpdesk has been told to reach you."
                .to_owned(),
            Value::Null,
        ),
        TimelineKind::Delivered if text("kind") == Some("page") => (
            "page_delivered",
            "A page reached a responder's phone.".to_owned(),
            Value::Null,
        ),
        TimelineKind::Acknowledged | TimelineKind::Resolved => {
            let name = text("name").unwrap_or("a responder");
            let (kind, verb) = if kind == TimelineKind::Acknowledged {
                ("acknowledged", "Acknowledged")
            } else {
                ("resolved", "Resolved")
            };
            (kind, format!("{verb} by {name}."), json!({ "name": name }))
        }
        // Internal: who was skipped and why, provider errors, SLA clocks, notes, waits.
        TimelineKind::Delivered
        | TimelineKind::StepSkipped
        | TimelineKind::FallbackFailed
        | TimelineKind::Note
        | TimelineKind::DeliveryFailed
        | TimelineKind::DeliveryTokenDead
        | TimelineKind::DeliveryAddressDead
        | TimelineKind::DeliveryDelivered
        | TimelineKind::DeliveryUndelivered
        | TimelineKind::DeliveryAnswered
        | TimelineKind::DeliveryNotAnswered
        | TimelineKind::SlaWarning
        | TimelineKind::SlaBreached
        | TimelineKind::AckTargetMissed
        | TimelineKind::TicketWaitingOnCustomer
        | TimelineKind::TicketResumed => return None,
    };
    Some(CustomerEvent {
        at,
        kind,
        text,
        detail,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> DateTime<Utc> {
        "2026-11-23T08:00:00Z".parse().unwrap()
    }

    /// As the API reads a stored row: text that is no kind is not shown.
    fn view(kind: &str, detail: Value) -> Option<CustomerEvent> {
        customer_event(at(), TimelineKind::parse(kind)?, &detail)
    }

    /// Every string and key in the customer's view, to check nothing internal leaks.
    fn flat(e: &CustomerEvent) -> String {
        serde_json::to_string(e).unwrap()
    }

    const SECRETS: [&str; 6] = [
        "dev-123",
        "usr-9",
        "BadDeviceToken",
        "admin:key-1",
        "on holiday",
        "apns-msg-1",
    ];

    fn assert_clean(e: &CustomerEvent) {
        let s = flat(e);
        for secret in SECRETS {
            assert!(!s.contains(secret), "{secret} leaked in {s}");
        }
        for key in [
            "device_id",
            "user_id",
            "error",
            "platform",
            "reasons",
            "skipped",
            "targets",
        ] {
            assert!(!s.contains(&format!("\"{key}\"")), "{key} leaked in {s}");
        }
    }

    #[test]
    fn created_and_joined_are_shown_without_the_pressing_device() {
        let e = view(
            "created",
            json!({ "outcome": "opened", "affected_service": "checkout" }),
        )
        .unwrap();
        assert_eq!(e.kind, "opened");
        let e = view("joined", json!({ "alert_count": 3 })).unwrap();
        assert_eq!(e.kind, "alert_joined");
        assert_eq!(e.detail, json!({ "alert_count": 3 }));
        assert_clean(&e);
    }

    #[test]
    fn priority_events_show_only_a_known_priority() {
        let e = view("ticket.created", json!({ "priority": "P1" })).unwrap();
        assert_eq!(e.detail, json!({ "priority": "P1" }));
        let e = view(
            "ticket.priority_changed",
            json!({ "from": "P3", "to": "P1" }),
        )
        .unwrap();
        assert_eq!(e.detail, json!({ "priority": "P1" }));
        let e = view(
            "classified",
            json!({ "priority": "P1", "matched_rule": "production_down", "unmet_criteria": [] }),
        )
        .unwrap();
        assert_eq!(e.detail, json!({ "priority": "P1" }));
        assert_eq!(
            view("classified", json!({ "priority": "admin:key-1" })),
            None
        );
    }

    #[test]
    fn paging_is_told_in_words_without_who_or_why_not() {
        let detail = json!({
            "pass": 1, "step": 1,
            "targets": [{ "user_id": "usr-9", "name": "Bob", "role": "on_call", "devices": 2 }],
            "ack_timeout_minutes": 5,
            "skipped": [{ "target": "account_manager", "user_id": "usr-9", "reason": "on holiday" }],
        });
        let e = view("paged", detail).unwrap();
        assert_eq!(e.kind, "paging");
        assert_eq!(e.text, "Paging level 1 of the escalation: 1 person paged.");
        assert_eq!(e.detail, json!({ "people_paged": 1 }));
        assert_clean(&e);
        let e = view(
            "paged",
            json!({ "pass": 1, "step": 2, "targets": [{}, {}] }),
        )
        .unwrap();
        assert_eq!(e.text, "Paging level 2 of the escalation: 2 people paged.");
        let e = view(
            "escalated",
            json!({ "from": { "pass": 1, "step": 1 }, "reason": "x" }),
        )
        .unwrap();
        assert_eq!(e.detail, Value::Null);
        assert!(view("unanswered", json!({ "reason": "exhausted" })).is_some());
    }

    #[test]
    fn skipped_steps_and_failed_deliveries_are_not_shown() {
        let who = json!({ "user_id": "usr-9", "device_id": "dev-123", "platform": "ios", "kind": "page", "error": "BadDeviceToken", "attempts": 3 });
        assert_eq!(
            view(
                "step.skipped",
                json!({ "reasons": [{ "reason": "on holiday" }] })
            ),
            None
        );
        assert_eq!(view("delivery.failed", who.clone()), None);
        assert_eq!(view("delivery.token_dead", who.clone()), None);
    }

    #[test]
    fn a_delivered_page_is_shown_without_device_or_provider_id() {
        let mut detail = json!({ "user_id": "usr-9", "device_id": "dev-123", "platform": "ios", "kind": "page", "provider_message_id": "apns-msg-1", "attempts": 1 });
        let e = view("delivered", detail.clone()).unwrap();
        assert_eq!(e.kind, "page_delivered");
        assert_clean(&e);
        // The customer's own status notices are not part of paging progress.
        detail["kind"] = json!("update");
        assert_eq!(view("delivered", detail), None);
    }

    #[test]
    fn acknowledged_and_resolved_name_the_person() {
        let detail = json!({ "user_id": "usr-9", "name": "Bob Oncall", "cancelled_pages": 4 });
        let e = view("acknowledged", detail.clone()).unwrap();
        assert_eq!(e.text, "Acknowledged by Bob Oncall.");
        assert_eq!(e.detail, json!({ "name": "Bob Oncall" }));
        assert_eq!(e.at, at());
        assert_clean(&e);
        let e = view("resolved", detail).unwrap();
        assert_eq!(e.kind, "resolved");
        assert_clean(&e);
    }

    #[test]
    fn internal_targets_and_unknown_kinds_are_not_shown() {
        for kind in [
            "sla_warning",
            "ack_target_missed",
            "sla_breached",
            "alert.refused",
            "something.new",
        ] {
            assert_eq!(view(kind, json!({ "due_at": "x" })), None, "{kind}");
        }
    }

    #[test]
    fn a_restart_and_nobody_paged_are_told_without_the_internal_reason() {
        let restarted = view(
            "escalation.restarted",
            json!({ "reason": "internal words", "from": { "pass": 1, "step": 1 } }),
        )
        .unwrap();
        assert_eq!(restarted.kind, "paging_restarted");
        assert_eq!(restarted.detail, Value::Null);
        let unpaged = view("unpaged", json!({ "reason": "no deliverable device" })).unwrap();
        assert_eq!(unpaged.kind, "unpaged");
        assert!(!flat(&unpaged).contains("deliverable"));
        assert_eq!(view("fallback.failed", json!({ "step": 1 })), None);
    }
}
