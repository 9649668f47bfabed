//! How a staff user is reached besides push: contact methods (an SMS or voice number in E.164,
//! an e-mail address), the verification codes that prove one works, the notification rules
//! that say which method fires how long after a page, and the SMS replies that act on a page.
//!
//! Everything here is parsed, not validated: a [`PhoneNumber`] or [`EmailAddress`] exists only
//! in a form a provider accepts, a [`RuleSet`] only without duplicates or absurd delays. No
//! I/O and no clock: verification takes `now`.

use std::fmt;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A channel a delivery goes out on. Push is reached through devices; the others through a
/// [`ContactMethod`](MethodKind) of that kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Push,
    Sms,
    Voice,
    Email,
}

impl Channel {
    pub const ALL: [Channel; 4] = [Channel::Push, Channel::Sms, Channel::Voice, Channel::Email];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Push => "push",
            Channel::Sms => "sms",
            Channel::Voice => "voice",
            Channel::Email => "email",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// The contact-method kind of this channel; push has none (it is reached via devices).
    pub fn method_kind(self) -> Option<MethodKind> {
        match self {
            Channel::Push => None,
            Channel::Sms => Some(MethodKind::Sms),
            Channel::Voice => Some(MethodKind::Voice),
            Channel::Email => Some(MethodKind::Email),
        }
    }
}

/// The kinds of contact method a user can add.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MethodKind {
    Sms,
    Voice,
    Email,
}

impl MethodKind {
    pub fn as_str(self) -> &'static str {
        self.channel().as_str()
    }

    pub fn channel(self) -> Channel {
        match self {
            MethodKind::Sms => Channel::Sms,
            MethodKind::Voice => Channel::Voice,
            MethodKind::Email => Channel::Email,
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Channel::parse(s).and_then(Channel::method_kind)
    }
}

/// A phone number in E.164: `+`, a country code not starting with 0, 8 to 15 digits in all.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    /// Accepts the E.164 form only, after removing the spaces, dashes, dots and brackets
    /// people type between digit groups; `0044 20…` or a national `020 …` is refused rather
    /// than guessed at.
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let compact: String = raw
            .trim()
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
            .collect();
        let Some(digits) = compact.strip_prefix('+') else {
            return Err("must be in E.164 form: + and the country code, e.g. +14155550100");
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err("must be + followed by digits only");
        }
        if digits.starts_with('0') {
            return Err("a country code never starts with 0");
        }
        if !(8..=15).contains(&digits.len()) {
            return Err("must have 8 to 15 digits after the +");
        }
        Ok(Self(compact))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The last four digits, for logs and texts that must not carry the whole number.
    pub fn masked(&self) -> String {
        format!("…{}", &self.0[self.0.len() - 4..])
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An e-mail address: one `@`, a non-empty local part, a domain with a dot and no spaces.
/// Deliberately loose on the local part (RFC 5321 allows much); strict on what breaks SMTP.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct EmailAddress(String);

impl EmailAddress {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let s = raw.trim();
        if s.len() > 254 {
            return Err("must be at most 254 characters");
        }
        if s.chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>')
        {
            return Err("must not contain spaces, control characters or angle brackets");
        }
        let Some((local, domain)) = s.rsplit_once('@') else {
            return Err("must be an e-mail address (name@example.com)");
        };
        if local.is_empty() || local.len() > 64 || local.contains('@') {
            return Err("must be an e-mail address (name@example.com)");
        }
        let labels: Vec<&str> = domain.split('.').collect();
        if labels.len() < 2
            || labels.iter().any(|l| {
                l.is_empty()
                    || l.starts_with('-')
                    || l.ends_with('-')
                    || !l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            })
        {
            return Err("the domain must be a host name such as example.com");
        }
        Ok(Self(format!("{local}@{}", domain.to_ascii_lowercase())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Where a contact method sends: parsed according to its kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContactAddress {
    Phone(PhoneNumber),
    Email(EmailAddress),
}

impl ContactAddress {
    pub fn parse(kind: MethodKind, raw: &str) -> Result<Self, &'static str> {
        match kind {
            MethodKind::Sms | MethodKind::Voice => PhoneNumber::parse(raw).map(Self::Phone),
            MethodKind::Email => EmailAddress::parse(raw).map(Self::Email),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            ContactAddress::Phone(p) => p.as_str(),
            ContactAddress::Email(e) => e.as_str(),
        }
    }

    pub fn phone(&self) -> Option<&PhoneNumber> {
        match self {
            ContactAddress::Phone(p) => Some(p),
            ContactAddress::Email(_) => None,
        }
    }
}

/// How long a verification code can be entered.
pub const CODE_TTL_MINUTES: i64 = 10;
/// Wrong entries allowed per code; after them a new code must be sent.
pub const CODE_MAX_ATTEMPTS: i64 = 5;

/// The least time between two codes for one method, so that a double tap on "send a new
/// code" (or a script) cannot make the gateway text or call a number over and over.
pub const RESEND_COOLDOWN_SECS: i64 = 60;

/// When the code that expires at `expires_at` was sent: every code lives
/// [`CODE_TTL_MINUTES`], so the expiry stored with it says when it went out and no separate
/// "sent at" is kept. (Were the lifetime changed, codes already pending would be off by the
/// change for at most one cooldown.)
pub fn code_sent_at(expires_at: DateTime<Utc>) -> DateTime<Utc> {
    expires_at - Duration::minutes(CODE_TTL_MINUTES)
}

/// Seconds to wait before a new code may be sent for a method whose last code went out at
/// `last_sent` (`None`: no code is pending, one may go now). Rounded up, so "wait 1 s" is
/// never shown when a new code would still be refused; a `last_sent` in the future (a clock
/// set back) waits one cooldown at most.
pub fn resend_wait(last_sent: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Option<u64> {
    let next = last_sent? + Duration::seconds(RESEND_COOLDOWN_SECS);
    let left_ms = (next - now).num_milliseconds();
    if left_ms <= 0 {
        return None;
    }
    let secs = (left_ms + 999) / 1000;
    Some(secs.min(RESEND_COOLDOWN_SECS) as u64)
}

/// A fresh 6-digit verification code and its stored form.
#[derive(Debug, Clone)]
pub struct VerificationCode {
    pub code: String,
    pub hash: String,
    pub expires_at: DateTime<Utc>,
}

impl VerificationCode {
    /// Six digits from the operating system's generator, hashed with the method's id so a
    /// hash copied to another method is useless.
    pub fn generate(method_id: &str, now: DateTime<Utc>) -> Self {
        use rand::Rng;
        let code = format!("{:06}", rand::rngs::OsRng.gen_range(0..1_000_000u32));
        Self {
            hash: code_hash(method_id, &code),
            code,
            expires_at: now + Duration::minutes(CODE_TTL_MINUTES),
        }
    }
}

/// The stored form of `code` for `method_id`.
pub fn code_hash(method_id: &str, code: &str) -> String {
    let digest = Sha256::new()
        .chain_update(method_id.as_bytes())
        .chain_update(b":")
        .chain_update(code.trim().as_bytes())
        .finalize();
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// What is stored about the code of an unverified method.
#[derive(Debug, Clone)]
pub struct PendingCode {
    pub hash: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub attempts: i64,
}

/// The verdict on an entered code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeCheck {
    Correct,
    Wrong {
        attempts_left: i64,
    },
    Expired,
    /// Too many wrong entries (or no code was ever sent): a new one must be requested.
    NoCode,
}

impl PendingCode {
    /// Checks `entered` for `method_id` at `now`, comparing hashes in constant time.
    pub fn check(&self, method_id: &str, entered: &str, now: DateTime<Utc>) -> CodeCheck {
        let (Some(hash), Some(expires_at)) = (&self.hash, self.expires_at) else {
            return CodeCheck::NoCode;
        };
        if self.attempts >= CODE_MAX_ATTEMPTS {
            return CodeCheck::NoCode;
        }
        if now >= expires_at {
            return CodeCheck::Expired;
        }
        let given = code_hash(method_id, entered);
        if super::constant_time::same_secret(&given, hash) {
            CodeCheck::Correct
        } else {
            CodeCheck::Wrong {
                attempts_left: (CODE_MAX_ATTEMPTS - self.attempts - 1).max(0),
            }
        }
    }
}

/// One notification rule: reach the person through `method` (every verified method of that
/// kind, or only `method_id`) `delay_minutes` after they are paged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotificationRule {
    pub method: Channel,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method_id: Option<String>,
    pub delay_minutes: u32,
}

/// The longest delay a rule may have: past an hour the page has long escalated.
pub const MAX_RULE_DELAY_MINUTES: u32 = 60;
/// Rules per user: enough for push, two numbers and an address, a few times over.
pub const MAX_RULES: usize = 10;

/// A user's rules (or the default), checked: not empty, no duplicates, sane delays.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct RuleSet(Vec<NotificationRule>);

/// A rule set that cannot be used, with the field (`rules[2].delay_minutes`) that says why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError {
    pub field: String,
    pub reason: String,
}

impl RuleSet {
    /// Checks `rules`; `method_kind_of` says which kind a `method_id` is (`None`: no such
    /// method of this user).
    pub fn parse(
        rules: Vec<NotificationRule>,
        method_kind_of: impl Fn(&str) -> Option<MethodKind>,
    ) -> Result<Self, Vec<RuleError>> {
        let mut errors = Vec::new();
        let mut err = |field: String, reason: &str| {
            errors.push(RuleError {
                field,
                reason: reason.to_owned(),
            })
        };
        if rules.is_empty() {
            err(
                "rules".into(),
                "must name at least one rule, or nobody could reach you",
            );
        }
        if rules.len() > MAX_RULES {
            err("rules".into(), "must have at most 10 rules");
        }
        for (i, rule) in rules.iter().enumerate() {
            if rule.delay_minutes > MAX_RULE_DELAY_MINUTES {
                err(
                    format!("rules[{i}].delay_minutes"),
                    "must be between 0 and 60",
                );
            }
            match (&rule.method_id, rule.method) {
                (Some(_), Channel::Push) => err(
                    format!("rules[{i}].method_id"),
                    "push reaches every device of yours; it takes no method_id",
                ),
                (Some(id), method) => match method_kind_of(id) {
                    None => err(
                        format!("rules[{i}].method_id"),
                        "no such contact method of this user",
                    ),
                    Some(kind) if Some(kind) != method.method_kind() => err(
                        format!("rules[{i}].method_id"),
                        "names a contact method of another kind than `method`",
                    ),
                    Some(_) => {}
                },
                (None, _) => {}
            }
            if rules[..i]
                .iter()
                .any(|r| r.method == rule.method && r.method_id == rule.method_id)
            {
                err(format!("rules[{i}]"), "repeats an earlier rule's method");
            }
        }
        if errors.is_empty() {
            Ok(Self(rules))
        } else {
            Err(errors)
        }
    }

    /// The built-in default for users with no rules and no admin default: push at once,
    /// every verified SMS number after one minute.
    pub fn builtin_default() -> Self {
        Self(vec![
            NotificationRule {
                method: Channel::Push,
                method_id: None,
                delay_minutes: 0,
            },
            NotificationRule {
                method: Channel::Sms,
                method_id: None,
                delay_minutes: 1,
            },
        ])
    }

    /// A stored set, trusted as written (it was parsed before it was stored).
    pub fn from_stored(rules: Vec<NotificationRule>) -> Self {
        Self(rules)
    }

    pub fn rules(&self) -> &[NotificationRule] {
        &self.0
    }
}

/// What an SMS reply asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyAction {
    Acknowledge,
    Resolve,
}

/// A parsed SMS reply: `ACK 4k7q` or `RES 4k7q`, any case, surrounding spaces ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsReply {
    pub action: ReplyAction,
    pub code: String,
}

/// Length of the code an SMS page carries for replies.
pub const REPLY_CODE_LEN: usize = 4;

impl SmsReply {
    pub fn parse(body: &str) -> Option<Self> {
        let mut words = body.split_whitespace();
        let action = match words.next()?.to_ascii_uppercase().as_str() {
            "ACK" | "A" => ReplyAction::Acknowledge,
            "RES" | "RESOLVE" | "R" => ReplyAction::Resolve,
            _ => return None,
        };
        let code = words.next()?.to_ascii_uppercase();
        if words.next().is_some()
            || code.len() != REPLY_CODE_LEN
            || !code
                .bytes()
                .all(|b| super::crockford::ALPHABET.contains(&b))
        {
            return None;
        }
        Some(Self { action, code })
    }
}

/// A fresh reply code for one SMS page.
pub fn reply_code() -> String {
    super::crockford::random(REPLY_CODE_LEN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_numbers_are_e164_or_refused() {
        assert_eq!(
            PhoneNumber::parse(" +1 (415) 555-0100 ").unwrap().as_str(),
            "+14155550100"
        );
        assert_eq!(
            PhoneNumber::parse("+4930123456").unwrap().as_str(),
            "+4930123456"
        );
        for bad in [
            "4155550100",
            "+",
            "+0441234567",
            "+1234567",
            "+1234567890123456",
            "+1415abc0100",
            "++14155550100",
            "",
        ] {
            assert!(PhoneNumber::parse(bad).is_err(), "{bad} accepted");
        }
        assert_eq!(
            PhoneNumber::parse("+14155550100").unwrap().masked(),
            "…0100"
        );
    }

    #[test]
    fn email_addresses_are_parsed() {
        assert_eq!(
            EmailAddress::parse(" Alice@Example.COM ").unwrap().as_str(),
            "Alice@example.com"
        );
        for bad in [
            "alice",
            "@example.com",
            "alice@",
            "alice@example",
            "a b@example.com",
            "alice@exa_mple.com",
            "alice@-x.com",
            "<a@b.co>",
        ] {
            assert!(EmailAddress::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn codes_expire_and_run_out_of_attempts() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let code = VerificationCode::generate("m1", now);
        assert_eq!(code.code.len(), 6);
        let pending = PendingCode {
            hash: Some(code.hash.clone()),
            expires_at: Some(code.expires_at),
            attempts: 0,
        };
        assert_eq!(pending.check("m1", &code.code, now), CodeCheck::Correct);
        assert_eq!(
            pending.check("m2", &code.code, now),
            CodeCheck::Wrong { attempts_left: 4 }
        );
        assert_eq!(
            pending.check("m1", &code.code, now + Duration::minutes(10)),
            CodeCheck::Expired
        );
        let spent = PendingCode {
            attempts: 5,
            ..pending
        };
        assert_eq!(spent.check("m1", &code.code, now), CodeCheck::NoCode);
    }

    #[test]
    fn a_new_code_waits_a_minute_after_the_last() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let code = VerificationCode::generate("m1", now);
        let sent = Some(code_sent_at(code.expires_at));
        assert_eq!(sent, Some(now), "the expiry says when the code went out");
        assert_eq!(
            resend_wait(None, now),
            None,
            "no code pending: send at once"
        );
        assert_eq!(resend_wait(sent, now), Some(60));
        // Rounded up: half a second left is still a refusal, shown as 1 s.
        assert_eq!(
            resend_wait(sent, now + Duration::milliseconds(500)),
            Some(60)
        );
        assert_eq!(
            resend_wait(sent, now + Duration::milliseconds(59_500)),
            Some(1)
        );
        assert_eq!(resend_wait(sent, now + Duration::seconds(59)), Some(1));
        assert_eq!(resend_wait(sent, now + Duration::seconds(60)), None);
        assert_eq!(resend_wait(sent, now + Duration::minutes(11)), None);
        // A clock set back an hour: one cooldown at most, never an hour.
        assert_eq!(resend_wait(sent, now - Duration::hours(1)), Some(60));
    }

    #[test]
    fn rule_sets_name_the_bad_rule() {
        let kinds = |id: &str| match id {
            "s1" => Some(MethodKind::Sms),
            "v1" => Some(MethodKind::Voice),
            _ => None,
        };
        let rule = |method, id: Option<&str>, delay| NotificationRule {
            method,
            method_id: id.map(str::to_owned),
            delay_minutes: delay,
        };
        assert!(RuleSet::parse(
            vec![
                rule(Channel::Push, None, 0),
                rule(Channel::Sms, Some("s1"), 1),
                rule(Channel::Voice, Some("v1"), 3)
            ],
            kinds
        )
        .is_ok());
        let errors = RuleSet::parse(
            vec![
                rule(Channel::Push, Some("s1"), 0),
                rule(Channel::Sms, Some("v1"), 1),
                rule(Channel::Sms, Some("nope"), 61),
                rule(Channel::Voice, None, 1),
                rule(Channel::Voice, None, 2),
            ],
            kinds,
        )
        .unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "rules[0].method_id",
                "rules[1].method_id",
                "rules[2].delay_minutes",
                "rules[2].method_id",
                "rules[4]"
            ]
        );
        assert_eq!(RuleSet::parse(vec![], kinds).unwrap_err()[0].field, "rules");
    }

    #[test]
    fn replies_name_an_action_and_a_code() {
        assert_eq!(
            SmsReply::parse(" ack 4k7q "),
            Some(SmsReply {
                action: ReplyAction::Acknowledge,
                code: "4K7Q".into()
            })
        );
        assert_eq!(
            SmsReply::parse("RES 4K7Q").unwrap().action,
            ReplyAction::Resolve
        );
        for bad in [
            "",
            "ACK",
            "ACK 4k7",
            "ACK 4k7q extra",
            "hello 4k7q",
            "ACK 4k7u",
        ] {
            assert_eq!(SmsReply::parse(bad), None, "{bad}");
        }
    }
}
