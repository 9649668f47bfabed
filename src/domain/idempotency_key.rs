//! The key a phone sends with every press (`Idempotency-Key`), so a retry on a bad network
//! replays the first answer instead of pressing twice. Only [`IdempotencyKey::parse`] makes
//! one, so a key that reaches the store has been checked.

/// 1 to 255 visible ASCII characters (a UUID, typically).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub const RULE: &'static str = "the Idempotency-Key must be 1 to 255 visible ASCII characters";

    /// The key as sent, without surrounding spaces; the rule it breaks otherwise.
    pub fn parse(text: &str) -> Result<Self, &'static str> {
        let k = text.trim();
        if !k.is_empty() && k.len() <= 255 && k.bytes().all(|b| b.is_ascii_graphic()) {
            Ok(Self(k.to_owned()))
        } else {
            Err(Self::RULE)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_visible_ascii_up_to_255() {
        assert_eq!(IdempotencyKey::parse(" abc-1 ").unwrap().as_str(), "abc-1");
        assert!(IdempotencyKey::parse(&"k".repeat(255)).is_ok());
        for bad in ["", "   ", "a b", "caf\u{e9}", "x\ny"] {
            assert!(IdempotencyKey::parse(bad).is_err(), "{bad:?}");
        }
        assert!(IdempotencyKey::parse(&"k".repeat(256)).is_err());
    }
}
