//! Who may see an incident: a rule of roles and organisations, decided without I/O. Whether a
//! responder is involved (the customer's account manager, or paged for the incident) is a fact
//! the store answers; it is asked only when the rule needs it ([`Sight::IfInvolved`]).
//!
//! Who may act on an incident (acknowledge or resolve it) is [`who_acts`]: over the caller's
//! credential and the facts known so far it answers who acts, which refusal, or which one
//! fact it needs next, so the handler asks the store exactly what the rule needs and no more.

use super::identity::UserRole;

/// What the role alone says about seeing one incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sight {
    Granted,
    Denied,
    /// Granted if the viewer is involved in the incident.
    IfInvolved,
}

impl Sight {
    /// The answer once whether the viewer is involved is known.
    pub fn given(self, involved: bool) -> bool {
        match self {
            Sight::Granted => true,
            Sight::Denied => false,
            Sight::IfInvolved => involved,
        }
    }
}

/// Customers' contacts see their own organisation's incidents; responders those they are
/// involved in; support managers all. `customer_id` is the viewer's organisation (contacts
/// have one), `incident_customer` the incident's.
pub fn sight(role: UserRole, customer_id: Option<&str>, incident_customer: &str) -> Sight {
    match role {
        UserRole::Contact if customer_id == Some(incident_customer) => Sight::Granted,
        UserRole::Contact => Sight::Denied,
        UserRole::SupportManager => Sight::Granted,
        UserRole::Responder => Sight::IfInvolved,
    }
}

/// Whether a viewer may see an incident, `involved` saying whether they are involved in it.
pub fn may_see(
    role: UserRole,
    customer_id: Option<&str>,
    incident_customer: &str,
    involved: bool,
) -> bool {
    sight(role, customer_id, incident_customer).given(involved)
}

/// What is done to an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Acknowledge,
    Resolve,
}

/// What the caller of acknowledge or resolve presented, with the facts read about it so far.
/// A fact the store answers is `None` until [`who_acts`] asks for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// No access token and no ack token.
    Nothing,
    /// A responder device's access token, verified.
    Device {
        user_id: String,
        role: UserRole,
        /// Whether the user is involved in the incident ([`Question::Involvement`]).
        involved: Option<bool>,
    },
    /// The ack token from a page's payload, verified (signature and expiry).
    AckToken {
        /// The incident the token was issued for.
        incident_id: String,
        /// The user it was sent to.
        subject: String,
        /// The device it was sent to: the key the handler reads [`Question::TokenDevice`] by.
        device_id: String,
        /// The device it was sent to, as the store knows it now ([`Question::TokenDevice`]).
        device: Option<DeviceOnRecord>,
    },
}

/// The ack token's device as enrolment records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceOnRecord {
    Missing,
    Found { user_id: String, revoked: bool },
}

/// A fact [`who_acts`] needs before it can decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Question {
    /// Is the device's user involved in the incident?
    Involvement,
    /// What does enrolment say about the ack token's device?
    TokenDevice,
}

/// Why the caller may not act.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Neither an access token nor an ack token was presented.
    NoCredential,
    /// A device's user who is neither a support manager nor involved.
    NotPaged,
    /// An ack token issued for another incident.
    WrongIncident,
    /// An ack token used to resolve: it travels in a push payload, so it gets the least it
    /// needs.
    AckTokenOnlyAcknowledges,
    /// The ack token's device is gone, revoked, or now someone else's: the token dies with it.
    DeviceNotEnrolled,
}

/// The answer of [`who_acts`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Acting {
    /// This user acts.
    User(String),
    Refused(Refusal),
    /// Answer this, put the answer in the credential, and ask again.
    Needs(Question),
}

/// Who acts on incident `incident_id`: a support manager, or a responder involved in it, by
/// their device's access token; or, to acknowledge only, the holder of the incident's ack
/// token, while the device it was sent to is still enrolled and still its user's. Checks the
/// token's incident and the action before asking about its device, so a token for the wrong
/// incident or action costs no read.
pub fn who_acts(action: Action, incident_id: &str, credential: &Credential) -> Acting {
    match credential {
        Credential::Nothing => Acting::Refused(Refusal::NoCredential),
        Credential::Device {
            user_id,
            role,
            involved,
        } => match (role, involved) {
            (UserRole::SupportManager, _) | (_, Some(true)) => Acting::User(user_id.clone()),
            (_, Some(false)) => Acting::Refused(Refusal::NotPaged),
            (_, None) => Acting::Needs(Question::Involvement),
        },
        Credential::AckToken {
            incident_id: token_incident,
            subject,
            device,
            ..
        } => {
            if token_incident != incident_id {
                return Acting::Refused(Refusal::WrongIncident);
            }
            if action == Action::Resolve {
                return Acting::Refused(Refusal::AckTokenOnlyAcknowledges);
            }
            match device {
                None => Acting::Needs(Question::TokenDevice),
                Some(DeviceOnRecord::Found { user_id, revoked })
                    if !revoked && user_id == subject =>
                {
                    Acting::User(subject.clone())
                }
                Some(_) => Acting::Refused(Refusal::DeviceNotEnrolled),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(role: UserRole, involved: Option<bool>) -> Credential {
        Credential::Device {
            user_id: "usr-1".into(),
            role,
            involved,
        }
    }

    fn ack_token(incident: &str, device: Option<DeviceOnRecord>) -> Credential {
        Credential::AckToken {
            incident_id: incident.into(),
            subject: "usr-1".into(),
            device_id: "dev-1".into(),
            device,
        }
    }

    fn found(user_id: &str, revoked: bool) -> Option<DeviceOnRecord> {
        Some(DeviceOnRecord::Found {
            user_id: user_id.into(),
            revoked,
        })
    }

    const BOTH: [Action; 2] = [Action::Acknowledge, Action::Resolve];

    #[test]
    fn nobody_acts_without_a_credential() {
        for action in BOTH {
            assert_eq!(
                who_acts(action, "inc-1", &Credential::Nothing),
                Acting::Refused(Refusal::NoCredential)
            );
        }
    }

    #[test]
    fn a_support_manager_acts_without_being_asked_about_involvement() {
        for action in BOTH {
            assert_eq!(
                who_acts(action, "inc-1", &device(UserRole::SupportManager, None)),
                Acting::User("usr-1".into())
            );
        }
    }

    #[test]
    fn a_responder_acts_only_when_involved() {
        for action in BOTH {
            assert_eq!(
                who_acts(action, "inc-1", &device(UserRole::Responder, None)),
                Acting::Needs(Question::Involvement)
            );
            assert_eq!(
                who_acts(action, "inc-1", &device(UserRole::Responder, Some(true))),
                Acting::User("usr-1".into())
            );
            assert_eq!(
                who_acts(action, "inc-1", &device(UserRole::Responder, Some(false))),
                Acting::Refused(Refusal::NotPaged)
            );
        }
    }

    #[test]
    fn an_ack_token_for_another_incident_is_refused_before_any_read() {
        for action in BOTH {
            assert_eq!(
                who_acts(action, "inc-1", &ack_token("inc-2", None)),
                Acting::Refused(Refusal::WrongIncident)
            );
        }
    }

    #[test]
    fn an_ack_token_never_resolves() {
        assert_eq!(
            who_acts(Action::Resolve, "inc-1", &ack_token("inc-1", None)),
            Acting::Refused(Refusal::AckTokenOnlyAcknowledges)
        );
        // Even with a perfectly enrolled device.
        assert_eq!(
            who_acts(
                Action::Resolve,
                "inc-1",
                &ack_token("inc-1", found("usr-1", false))
            ),
            Acting::Refused(Refusal::AckTokenOnlyAcknowledges)
        );
    }

    #[test]
    fn an_ack_token_acknowledges_while_its_device_is_enrolled_and_its_users() {
        let ack = |device| who_acts(Action::Acknowledge, "inc-1", &ack_token("inc-1", device));
        assert_eq!(ack(None), Acting::Needs(Question::TokenDevice));
        assert_eq!(ack(found("usr-1", false)), Acting::User("usr-1".into()));
        for gone in [
            Some(DeviceOnRecord::Missing),
            found("usr-1", true),
            found("usr-2", false),
        ] {
            assert_eq!(ack(gone), Acting::Refused(Refusal::DeviceNotEnrolled));
        }
    }

    #[test]
    fn a_contact_sees_their_own_organisations_incidents_only() {
        let role = UserRole::Contact;
        assert!(may_see(role, Some("acme"), "acme", false));
        assert!(!may_see(role, Some("acme"), "globex", false));
        // Being paged does not matter to a contact: their organisation decides.
        assert!(!may_see(role, Some("acme"), "globex", true));
        assert!(!may_see(role, None, "acme", true));
    }

    #[test]
    fn a_responder_sees_what_they_are_involved_in() {
        assert!(may_see(UserRole::Responder, None, "acme", true));
        assert!(!may_see(UserRole::Responder, None, "acme", false));
        // Their own organisation, if they have one, gives them nothing.
        assert!(!may_see(UserRole::Responder, Some("acme"), "acme", false));
        assert_eq!(sight(UserRole::Responder, None, "acme"), Sight::IfInvolved);
    }

    #[test]
    fn a_support_manager_sees_every_incident() {
        assert!(may_see(UserRole::SupportManager, None, "acme", false));
        assert_eq!(
            sight(UserRole::SupportManager, None, "acme"),
            Sight::Granted
        );
    }

    #[test]
    fn only_a_responder_needs_the_involvement_asked() {
        for (role, customer) in [
            (UserRole::Contact, Some("acme")),
            (UserRole::Contact, Some("globex")),
            (UserRole::SupportManager, None),
        ] {
            assert_ne!(sight(role, customer, "acme"), Sight::IfInvolved);
        }
    }
}
