//! The kinds of event the gateway writes into an incident's timeline, and the webhook types
//! helpdesks hear of them as.
//!
//! A kind is stored as text (`incident_events.kind`) and that text never changes: databases
//! keep their rows, and API clients and webhook receivers read the same words. Writers name a
//! [`TimelineKind`], so a misspelt kind is a compile error rather than a webhook silently not
//! sent. Readers parse the stored text with [`TimelineKind::parse`] and must cope with `None`:
//! a row written by a newer gateway (or by hand) is shown as text, never a crash.
//!
//! Each mapping is written once, in `as_str`; `parse` and the lists derive from it.

/// One kind of timeline event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimelineKind {
    /// A press was classified (P1 or not) against the customer's definition.
    Classified,
    /// The gateway opened a ticket for a press that named none.
    TicketCreated,
    TicketPriorityChanged,
    TicketWaitingOnCustomer,
    TicketResumed,
    /// A press opened this incident.
    Created,
    /// A later press joined the open incident.
    Joined,
    Paged,
    StepSkipped,
    /// The support managers, paged as a last resort, could not be paged either.
    FallbackFailed,
    Escalated,
    /// A press after the policy was exhausted started paging again from the first step.
    EscalationRestarted,
    /// Nobody could be paged at all.
    Unpaged,
    /// Every step was paged and nobody acknowledged.
    Unanswered,
    Acknowledged,
    Resolved,
    Note,
    /// The provider accepted a page (push, SMS, call or e-mail).
    Delivered,
    DeliveryFailed,
    DeliveryTokenDead,
    DeliveryAddressDead,
    /// Twilio's status callbacks on a text message.
    DeliveryDelivered,
    DeliveryUndelivered,
    /// Twilio's status callbacks on a call.
    DeliveryAnswered,
    DeliveryNotAnswered,
    SlaWarning,
    SlaBreached,
    /// The internal acknowledgement target (not the customer's SLA) was missed.
    AckTargetMissed,
}

impl TimelineKind {
    /// Every kind, in no meaningful order. A kind missing here would not [`parse`]: its rows
    /// would read as unknown text.
    ///
    /// [`parse`]: TimelineKind::parse
    pub const ALL: [TimelineKind; 28] = [
        TimelineKind::Classified,
        TimelineKind::TicketCreated,
        TimelineKind::TicketPriorityChanged,
        TimelineKind::TicketWaitingOnCustomer,
        TimelineKind::TicketResumed,
        TimelineKind::Created,
        TimelineKind::Joined,
        TimelineKind::Paged,
        TimelineKind::StepSkipped,
        TimelineKind::FallbackFailed,
        TimelineKind::Escalated,
        TimelineKind::EscalationRestarted,
        TimelineKind::Unpaged,
        TimelineKind::Unanswered,
        TimelineKind::Acknowledged,
        TimelineKind::Resolved,
        TimelineKind::Note,
        TimelineKind::Delivered,
        TimelineKind::DeliveryFailed,
        TimelineKind::DeliveryTokenDead,
        TimelineKind::DeliveryAddressDead,
        TimelineKind::DeliveryDelivered,
        TimelineKind::DeliveryUndelivered,
        TimelineKind::DeliveryAnswered,
        TimelineKind::DeliveryNotAnswered,
        TimelineKind::SlaWarning,
        TimelineKind::SlaBreached,
        TimelineKind::AckTargetMissed,
    ];

    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            TimelineKind::Classified => "classified",
            TimelineKind::TicketCreated => "ticket.created",
            TimelineKind::TicketPriorityChanged => "ticket.priority_changed",
            TimelineKind::TicketWaitingOnCustomer => "ticket.waiting_on_customer",
            TimelineKind::TicketResumed => "ticket.resumed",
            TimelineKind::Created => "created",
            TimelineKind::Joined => "joined",
            TimelineKind::Paged => "paged",
            TimelineKind::StepSkipped => "step.skipped",
            TimelineKind::FallbackFailed => "fallback.failed",
            TimelineKind::Escalated => "escalated",
            TimelineKind::EscalationRestarted => "escalation.restarted",
            TimelineKind::Unpaged => "unpaged",
            TimelineKind::Unanswered => "unanswered",
            TimelineKind::Acknowledged => "acknowledged",
            TimelineKind::Resolved => "resolved",
            TimelineKind::Note => "note",
            TimelineKind::Delivered => "delivered",
            TimelineKind::DeliveryFailed => "delivery.failed",
            TimelineKind::DeliveryTokenDead => "delivery.token_dead",
            TimelineKind::DeliveryAddressDead => "delivery.address_dead",
            TimelineKind::DeliveryDelivered => "delivery.delivered",
            TimelineKind::DeliveryUndelivered => "delivery.undelivered",
            TimelineKind::DeliveryAnswered => "delivery.answered",
            TimelineKind::DeliveryNotAnswered => "delivery.not_answered",
            TimelineKind::SlaWarning => "sla_warning",
            TimelineKind::SlaBreached => "sla_breached",
            TimelineKind::AckTargetMissed => "ack_target_missed",
        }
    }

    /// The kind stored as `s`, or `None` for text this gateway does not write.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The webhook type helpdesks hear of this event as, if they hear of it at all.
    pub fn webhook_type(self) -> Option<WebhookEvent> {
        Some(match self {
            TimelineKind::Created => WebhookEvent::IncidentOpened,
            TimelineKind::Escalated => WebhookEvent::IncidentEscalated,
            TimelineKind::Acknowledged => WebhookEvent::IncidentAcknowledged,
            TimelineKind::Resolved => WebhookEvent::IncidentResolved,
            TimelineKind::Unanswered => WebhookEvent::IncidentUnanswered,
            TimelineKind::SlaWarning => WebhookEvent::IncidentSlaWarning,
            TimelineKind::SlaBreached => WebhookEvent::IncidentSlaBreached,
            TimelineKind::TicketPriorityChanged => WebhookEvent::TicketPriorityChanged,
            TimelineKind::Unpaged => WebhookEvent::IncidentUnpaged,
            TimelineKind::TicketWaitingOnCustomer => WebhookEvent::TicketWaitingOnCustomer,
            TimelineKind::TicketResumed => WebhookEvent::TicketResumed,
            TimelineKind::Classified
            | TimelineKind::TicketCreated
            | TimelineKind::Joined
            | TimelineKind::Paged
            | TimelineKind::StepSkipped
            | TimelineKind::FallbackFailed
            | TimelineKind::EscalationRestarted
            | TimelineKind::Note
            | TimelineKind::Delivered
            | TimelineKind::DeliveryFailed
            | TimelineKind::DeliveryTokenDead
            | TimelineKind::DeliveryAddressDead
            | TimelineKind::DeliveryDelivered
            | TimelineKind::DeliveryUndelivered
            | TimelineKind::DeliveryAnswered
            | TimelineKind::DeliveryNotAnswered
            | TimelineKind::AckTargetMissed => return None,
        })
    }
}

/// A webhook event type an endpoint may subscribe to (or `"*"` for all of them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WebhookEvent {
    IncidentOpened,
    IncidentEscalated,
    IncidentAcknowledged,
    IncidentResolved,
    IncidentUnanswered,
    IncidentSlaWarning,
    IncidentSlaBreached,
    TicketPriorityChanged,
    IncidentUnpaged,
    TicketWaitingOnCustomer,
    TicketResumed,
}

impl WebhookEvent {
    /// Every type an endpoint may subscribe to, in the order error messages list them.
    pub const ALL: [WebhookEvent; 11] = [
        WebhookEvent::IncidentOpened,
        WebhookEvent::IncidentEscalated,
        WebhookEvent::IncidentAcknowledged,
        WebhookEvent::IncidentResolved,
        WebhookEvent::IncidentUnanswered,
        WebhookEvent::IncidentSlaWarning,
        WebhookEvent::IncidentSlaBreached,
        WebhookEvent::TicketPriorityChanged,
        WebhookEvent::IncidentUnpaged,
        WebhookEvent::TicketWaitingOnCustomer,
        WebhookEvent::TicketResumed,
    ];

    /// The type as receivers see it (the payload's `type`, the `x-panicgateway-event` header).
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookEvent::IncidentOpened => "incident.opened",
            WebhookEvent::IncidentEscalated => "incident.escalated",
            WebhookEvent::IncidentAcknowledged => "incident.acknowledged",
            WebhookEvent::IncidentResolved => "incident.resolved",
            WebhookEvent::IncidentUnanswered => "incident.unanswered",
            WebhookEvent::IncidentSlaWarning => "incident.sla_warning",
            WebhookEvent::IncidentSlaBreached => "incident.sla_breached",
            WebhookEvent::TicketPriorityChanged => "ticket.priority_changed",
            WebhookEvent::IncidentUnpaged => "incident.unpaged",
            WebhookEvent::TicketWaitingOnCustomer => "ticket.waiting_on_customer",
            WebhookEvent::TicketResumed => "ticket.resumed",
        }
    }

    /// The type named `s`, or `None` when there is no such type (`"*"` is not one).
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_kind_round_trips_through_its_stored_text() {
        let mut seen = HashSet::new();
        for kind in TimelineKind::ALL {
            assert_eq!(TimelineKind::parse(kind.as_str()), Some(kind));
            assert!(seen.insert(kind.as_str()), "{} twice", kind.as_str());
        }
        assert_eq!(TimelineKind::parse("something.new_kind"), None);
        assert_eq!(TimelineKind::parse(""), None);
        assert_eq!(TimelineKind::parse("Created"), None);
    }

    #[test]
    fn every_webhook_type_round_trips() {
        for event in WebhookEvent::ALL {
            assert_eq!(WebhookEvent::parse(event.as_str()), Some(event));
        }
        assert_eq!(WebhookEvent::parse("*"), None);
        assert_eq!(WebhookEvent::parse("incident.exploded"), None);
    }

    #[test]
    fn helpdesks_hear_of_exactly_these_kinds() {
        // The table `store::webhooks::event_type` held before the kinds were typed, written
        // out: stored kind -> webhook type.
        let expected = [
            ("created", "incident.opened"),
            ("escalated", "incident.escalated"),
            ("acknowledged", "incident.acknowledged"),
            ("resolved", "incident.resolved"),
            ("unanswered", "incident.unanswered"),
            ("sla_warning", "incident.sla_warning"),
            ("sla_breached", "incident.sla_breached"),
            ("ticket.priority_changed", "ticket.priority_changed"),
            ("unpaged", "incident.unpaged"),
            ("ticket.waiting_on_customer", "ticket.waiting_on_customer"),
            ("ticket.resumed", "ticket.resumed"),
        ];
        let actual: Vec<(&str, &str)> = TimelineKind::ALL
            .into_iter()
            .filter_map(|k| Some((k.as_str(), k.webhook_type()?.as_str())))
            .collect();
        let mut sorted_actual = actual.clone();
        sorted_actual.sort_unstable();
        let mut sorted_expected = expected.to_vec();
        sorted_expected.sort_unstable();
        assert_eq!(sorted_actual, sorted_expected);
        // And the list of types is today's `EVENT_TYPES`, in its order (error messages list
        // them so).
        let types: Vec<&str> = WebhookEvent::ALL
            .into_iter()
            .map(WebhookEvent::as_str)
            .collect();
        assert_eq!(
            types,
            [
                "incident.opened",
                "incident.escalated",
                "incident.acknowledged",
                "incident.resolved",
                "incident.unanswered",
                "incident.sla_warning",
                "incident.sla_breached",
                "ticket.priority_changed",
                "incident.unpaged",
                "ticket.waiting_on_customer",
                "ticket.resumed",
            ]
        );
        assert_eq!(TimelineKind::Paged.webhook_type(), None);
    }
}
