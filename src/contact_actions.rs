//! What a person (or an admin for them) does with contact methods and notification rules:
//! add a method and send it a code, enter the code, ask for a new one, vouch for it, delete
//! it, read and replace the rules. Below both HTTP layers: the phones' and the admin's JSON
//! routes (`api/contact_methods.rs`) and the console's page (`web/contacts.rs`) act through
//! here and only turn the typed answers into JSON or HTML.
//!
//! Order of checks on create: the kind, then the address parsed for that kind (E.164 numbers,
//! e-mail addresses), then duplicates; only then is anything stored. A new method is
//! unverified and a 6-digit code goes out through it right after the commit (the one place a
//! request calls a provider: the person is waiting for the code, there is no incident to
//! queue it under, and a failed send is answered as such so they can ask again). A new code
//! goes out at most once per [`RESEND_COOLDOWN_SECS`](crate::domain::contact::RESEND_COOLDOWN_SECS)
//! per method. A channel without a provider (voice and e-mail for now) leaves the method
//! unverified until an admin vouches for it. Unverified methods are never paged: paging
//! selects verified ones only.

use chrono::{DateTime, Utc};

use crate::channels::{Message, Outcome};
use crate::domain::contact::{
    CodeCheck, ContactAddress, MethodKind, NotificationRule, RuleSet, VerificationCode,
    CODE_MAX_ATTEMPTS,
};
use crate::domain::identity::{User, UserRole};
use crate::state::AppState;
use crate::store::contacts::{ContactMethod, Renewed, Verified};
use crate::store::StoreError;

/// One wrong field of a request, named as the JSON API names it (`address`, `rules[2]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldProblem {
    pub field: String,
    pub reason: String,
}

impl FieldProblem {
    fn new(field: &str, reason: impl Into<String>) -> Self {
        Self {
            field: field.to_owned(),
            reason: reason.into(),
        }
    }
}

/// Why an action was refused. Nothing was changed by a refused action.
#[derive(Debug, thiserror::Error)]
pub enum ContactError {
    /// Bad input, every wrong field named.
    #[error("invalid: {0:?}")]
    Invalid(Vec<FieldProblem>),
    /// No such method or user (the text says which).
    #[error("{0}")]
    NotFound(String),
    /// A new code for a method that needs none.
    #[error("this contact method is already verified")]
    AlreadyVerified,
    /// The last code went out less than a cooldown ago.
    #[error("a new code can be sent in {secs} s")]
    Wait { secs: u64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ContactError {
    fn field(field: &str, reason: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldProblem::new(field, reason)])
    }

    fn no_method(id: &str) -> Self {
        Self::NotFound(format!("no contact method {id}"))
    }
}

/// What became of the code for a method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeSent {
    /// Sent; it can be entered until `expires_at`.
    Sent { expires_at: DateTime<Utc> },
    /// The channel has no provider in this gateway: only an admin can verify the method.
    NoProvider { kind: MethodKind },
    /// The provider called the address dead; the method is disabled.
    Refused { reason: String },
    /// The provider could not take it now; asking again may work.
    Failed,
    /// No code: an admin added the method as verified.
    Vouched,
}

impl CodeSent {
    pub fn sent(&self) -> bool {
        matches!(self, CodeSent::Sent { .. })
    }

    /// Why no code went out, in words for the person (`None` when it was sent).
    pub fn detail(&self) -> Option<String> {
        match self {
            CodeSent::Sent { .. } => None,
            CodeSent::NoProvider { kind } => Some(format!(
                "no provider is configured for {}: an admin can mark this method verified",
                kind.as_str()
            )),
            CodeSent::Refused { reason } => {
                Some(format!("the provider refused the address: {reason}"))
            }
            CodeSent::Failed => Some("the code could not be sent now; ask for it again".into()),
            CodeSent::Vouched => Some("added as verified by an admin".into()),
        }
    }
}

/// A new method as typed: kind and address not parsed yet.
#[derive(Debug, Clone)]
pub struct NewMethod {
    pub kind: String,
    pub address: String,
    /// Vouch for it instead of sending a code (admins only).
    pub verified: bool,
}

/// Where the rules in effect come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleSource {
    /// The person's own.
    User,
    /// The admin's default for everyone without their own.
    Default,
    /// Neither is set: the gateway's built-in default.
    Builtin,
}

impl RuleSource {
    pub fn as_str(self) -> &'static str {
        match self {
            RuleSource::User => "user",
            RuleSource::Default => "default",
            RuleSource::Builtin => "builtin",
        }
    }
}

/// The rules in effect and where they come from.
#[derive(Debug, Clone)]
pub struct RulesView {
    pub rules: RuleSet,
    pub source: RuleSource,
}

/// Parses a new method's kind and address, naming the field that is wrong.
fn parse_new(new: &NewMethod) -> Result<(MethodKind, ContactAddress), ContactError> {
    let Some(kind) = MethodKind::parse(&new.kind) else {
        return Err(ContactError::field(
            "kind",
            "must be sms, voice or email (push devices are enrolled, not added here)",
        ));
    };
    let address =
        ContactAddress::parse(kind, &new.address).map_err(|r| ContactError::field("address", r))?;
    Ok((kind, address))
}

/// Sends `code` through the method's channel now and says how it went; a dead address
/// disables the method at once.
async fn send_code(
    state: &AppState,
    method: &ContactMethod,
    code: &VerificationCode,
) -> Result<CodeSent, ContactError> {
    let Some(provider) = state.channels.get(&method.kind.channel()) else {
        return Ok(CodeSent::NoProvider { kind: method.kind });
    };
    let address = ContactAddress::parse(method.kind, &method.address)
        .map_err(|r| ContactError::field("address", r))?;
    let now = state.clock.now();
    let outcome = provider
        .send(&address, &Message::verification(&code.code), now)
        .await;
    Ok(match outcome {
        Outcome::Accepted { .. } => CodeSent::Sent {
            expires_at: code.expires_at,
        },
        Outcome::TokenDead { reason } => {
            state
                .store
                .disable_contact_method(&method.id, &reason, now)
                .await?;
            CodeSent::Refused { reason }
        }
        Outcome::Retry { reason, .. } | Outcome::Fatal { reason } => {
            tracing::warn!(method = %method.id, %reason, "verification code not sent");
            CodeSent::Failed
        }
    })
}

/// Adds a method for `user_id` and sends it a code (or, vouched by an admin, none). Returns
/// the method as it is after the send (a dead address has disabled it).
pub async fn create(
    state: &AppState,
    user_id: &str,
    new: NewMethod,
    may_vouch: bool,
    actor: &str,
) -> Result<(ContactMethod, CodeSent), ContactError> {
    if new.verified && !may_vouch {
        return Err(ContactError::field(
            "verified",
            "only an admin can add a method as verified",
        ));
    }
    let (kind, address) = parse_new(&new)?;
    let created = state
        .store
        .create_contact_method(
            user_id,
            &address,
            kind,
            new.verified,
            actor,
            state.clock.now(),
        )
        .await?;
    let Some((method, code)) = created else {
        return Err(ContactError::field(
            "address",
            format!(
                "this {} address is already one of the user's methods",
                kind.as_str()
            ),
        ));
    };
    let sent = match &code {
        Some(code) => send_code(state, &method, code).await?,
        None => CodeSent::Vouched,
    };
    let method = state
        .store
        .contact_method(user_id, &method.id)
        .await?
        .unwrap_or(method);
    Ok((method, sent))
}

/// Checks an entered code; right, the method is verified and returned.
pub async fn verify(
    state: &AppState,
    user_id: &str,
    id: &str,
    code: &str,
) -> Result<ContactMethod, ContactError> {
    let code = code.trim();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ContactError::field(
            "code",
            "must be the 6 digits that were sent",
        ));
    }
    match state
        .store
        .verify_contact_method(user_id, id, code, state.clock.now())
        .await?
    {
        Verified::Now | Verified::Already => {}
        Verified::NotFound => return Err(ContactError::no_method(id)),
        Verified::Refused(CodeCheck::Wrong { attempts_left }) => {
            return Err(ContactError::field(
                "code",
                format!("is not the code that was sent; {attempts_left} attempts left"),
            ))
        }
        Verified::Refused(CodeCheck::Expired) => {
            return Err(ContactError::field(
                "code",
                "has expired; ask for a new one (resend)",
            ))
        }
        Verified::Refused(_) => {
            return Err(ContactError::field(
                "code",
                format!(
                    "no code is pending (or {CODE_MAX_ATTEMPTS} wrong attempts used it up); \
                     ask for a new one (resend)"
                ),
            ))
        }
    }
    state
        .store
        .contact_method(user_id, id)
        .await?
        .ok_or_else(|| ContactError::no_method(id))
}

/// Sends a new code for an unverified method (the old one stops working), at most once per
/// cooldown.
pub async fn resend(state: &AppState, user_id: &str, id: &str) -> Result<CodeSent, ContactError> {
    let method = state
        .store
        .contact_method(user_id, id)
        .await?
        .ok_or_else(|| ContactError::no_method(id))?;
    match state
        .store
        .renew_verification_code(user_id, id, state.clock.now())
        .await?
    {
        Renewed::Sent(code) => send_code(state, &method, &code).await,
        Renewed::Wait { secs } => Err(ContactError::Wait { secs }),
        Renewed::AlreadyVerified => Err(ContactError::AlreadyVerified),
        Renewed::NotFound => Err(ContactError::no_method(id)),
    }
}

/// An admin vouches for a method: it is verified without a code.
pub async fn vouch(
    state: &AppState,
    user_id: &str,
    id: &str,
    actor: &str,
) -> Result<ContactMethod, ContactError> {
    if !state
        .store
        .mark_contact_method_verified(user_id, id, actor, state.clock.now())
        .await?
    {
        return Err(ContactError::no_method(id));
    }
    state
        .store
        .contact_method(user_id, id)
        .await?
        .ok_or_else(|| ContactError::no_method(id))
}

/// Deletes a method: it is never paged again.
pub async fn remove(
    state: &AppState,
    user_id: &str,
    id: &str,
    actor: &str,
) -> Result<(), ContactError> {
    if state
        .store
        .delete_contact_method(user_id, id, actor, state.clock.now())
        .await?
    {
        Ok(())
    } else {
        Err(ContactError::no_method(id))
    }
}

/// The rules that apply to `user_id` (the admin's default with `None`) and where they come
/// from.
pub async fn rules_view(state: &AppState, user_id: Option<&str>) -> Result<RulesView, StoreError> {
    let own = match user_id {
        Some(id) => state.store.user_rules(id).await?,
        None => None,
    };
    Ok(match own {
        Some(rules) => RulesView {
            rules,
            source: RuleSource::User,
        },
        None => match state.store.default_rules().await? {
            Some(rules) => RulesView {
                rules,
                source: RuleSource::Default,
            },
            None => RulesView {
                rules: RuleSet::builtin_default(),
                source: RuleSource::Builtin,
            },
        },
    })
}

/// Replaces `user_id`'s rules (the default with `None`) after checking every rule; returns
/// the rules now in effect.
pub async fn set_rules(
    state: &AppState,
    user_id: Option<&str>,
    rules: Vec<NotificationRule>,
    actor: &str,
) -> Result<RulesView, ContactError> {
    let methods = match user_id {
        Some(id) => state.store.contact_methods(id).await?,
        // The default applies to everyone: it names kinds, never one person's method.
        None => Vec::new(),
    };
    let rules = RuleSet::parse(rules, |id| {
        methods.iter().find(|m| m.id == id).map(|m| m.kind)
    })
    .map_err(|errors| {
        ContactError::Invalid(
            errors
                .into_iter()
                .map(|e| FieldProblem {
                    field: e.field,
                    reason: e.reason,
                })
                .collect(),
        )
    })?;
    state
        .store
        .set_rules(user_id, &rules, actor, state.clock.now())
        .await?;
    Ok(rules_view(state, user_id).await?)
}

/// The staff user `id` (responder or support manager): a customer's contact is reached by
/// push updates only and has no methods or rules.
pub async fn staff_user(state: &AppState, id: &str) -> Result<User, ContactError> {
    match state.store.user(id).await? {
        Some(u) if u.role != UserRole::Contact => Ok(u),
        Some(_) => Err(ContactError::field(
            "id",
            "a customer's contact has no contact methods or rules; only staff are paged",
        )),
        None => Err(ContactError::NotFound(format!("no user {id}"))),
    }
}
