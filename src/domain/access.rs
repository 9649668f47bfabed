//! Who may see an incident: a rule of roles and organisations, decided without I/O. Whether a
//! responder is involved (the customer's account manager, or paged for the incident) is a fact
//! the store answers; it is asked only when the rule needs it ([`Sight::IfInvolved`]).

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

#[cfg(test)]
mod tests {
    use super::*;

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
