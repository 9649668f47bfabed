//! The reference of a ticket the gateway opens itself: `PG-` and 8 Crockford base32
//! characters (40 random bits), short enough to read out on a call. Tickets the helpdesk
//! opens keep the helpdesk's own reference.

use super::crockford;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketRef(String);

impl TicketRef {
    /// A fresh random reference.
    pub fn generate() -> Self {
        Self(format!("PG-{}", crockford::random(8)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_refs_are_pg_and_eight_crockford_characters() {
        let r = TicketRef::generate();
        let code = r.as_str().strip_prefix("PG-").unwrap();
        assert_eq!(code.len(), 8);
        assert!(code.bytes().all(|b| crockford::ALPHABET.contains(&b)));
        assert_ne!(TicketRef::generate(), r);
    }
}
