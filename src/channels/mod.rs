//! The paging channels besides push: one seam every non-push provider plugs into, so SMS,
//! voice and e-mail share push's outbox (`deliveries`), leases, retries with backoff, typed
//! outcomes, metrics and per-channel health in `/readyz`.
//!
//! A delivery names either a device (push, sent by [`crate::push`] and left where it is) or a
//! verified contact method; the dispatcher hands the latter to the [`ChannelProvider`] of the
//! method's channel. A provider answers with the same [`Outcome`] push does:
//! `Accepted` (with the provider's message id, which status callbacks name later), `Retry`
//! (honouring the provider's `Retry-After`), `TokenDead` (here: the address is dead, so the
//! contact method is disabled and the person's other methods still fire) and `Fatal` (our
//! configuration is wrong: `/readyz` says so until a send succeeds). A provider never touches
//! the database and never decides whether a page may still go: the dispatcher does that.
//!
//! Built: SMS and voice through Twilio ([`twilio`]), e-mail over SMTP ([`email`]). Adding a
//! channel is: a type implementing [`ChannelProvider`] for it, built
//! in [`providers`] from its settings. Verification codes go through the same provider
//! ([`Message::verification`]), so a channel with a provider can verify its methods.

pub mod email;
pub mod settings;
pub mod twilio;

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;

use crate::domain::contact::{Channel, ContactAddress};
pub use crate::push::Outcome;

/// What to say to one person through one channel, before a provider shapes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// The outbox row this is, when it is one (verification codes are not).
    pub delivery_id: Option<String>,
    pub title: String,
    pub body: String,
    /// For a page: the code a reply names (`ACK 4K7Q`), on channels that take replies.
    pub reply_code: Option<String>,
    /// The verification code a [`Message::verification`] carries, for channels that shape it
    /// their own way (voice reads it digit by digit).
    pub verification_code: Option<String>,
    /// For an e-mailed page: the signed token of its acknowledge link
    /// ([`crate::auth::tokens::TokenIssuer::issue_link`]); the provider puts it on the public URL.
    pub ack_token: Option<String>,
}

impl Message {
    /// The text that carries a verification code.
    pub fn verification(code: &str) -> Self {
        Self {
            delivery_id: None,
            title: "panic-gateway".into(),
            body: format!(
                "Your verification code is {code}. It expires in {} minutes.",
                crate::domain::contact::CODE_TTL_MINUTES
            ),
            reply_code: None,
            verification_code: Some(code.to_owned()),
            ack_token: None,
        }
    }

    /// The message as one short text: title, body and how to reply. SMS and voice's `<Say>`
    /// read this.
    pub fn text(&self) -> String {
        let mut text = format!("{}\n{}", self.title, self.body);
        if let Some(code) = &self.reply_code {
            text.push_str(&format!(
                "\nReply ACK {code} to take it, RES {code} to resolve."
            ));
        }
        text
    }
}

/// A provider for one channel.
pub trait ChannelProvider: Send + Sync {
    fn channel(&self) -> Channel;

    /// The provider's name in metrics and logs (`twilio_sms`).
    fn name(&self) -> &'static str;

    /// Sends `message` to `to`. The address is parsed, so it cannot steer the request
    /// elsewhere; `now` is the dispatcher's clock.
    fn send<'a>(
        &'a self,
        to: &'a ContactAddress,
        message: &'a Message,
        now: DateTime<Utc>,
    ) -> BoxFuture<'a, Outcome>;
}

/// The providers by channel; a channel without one leaves its methods unverifiable and fails
/// their deliveries as misconfigured.
pub type ChannelProviders = HashMap<Channel, Arc<dyn ChannelProvider>>;

/// Builds the enabled channel providers, checking their settings now rather than at the first
/// page.
pub fn providers(
    settings: &settings::ChannelSettings,
    public_url: &str,
) -> Result<ChannelProviders, crate::push::settings::PushConfigError> {
    let mut out: ChannelProviders = HashMap::new();
    if settings.twilio.enabled {
        out.insert(
            Channel::Sms,
            Arc::new(twilio::TwilioSms::new(&settings.twilio, public_url)?),
        );
        if settings.twilio.voice {
            out.insert(
                Channel::Voice,
                Arc::new(twilio::voice::TwilioVoice::new(
                    &settings.twilio,
                    public_url,
                )?),
            );
        }
    }
    if settings.smtp.enabled {
        out.insert(
            Channel::Email,
            Arc::new(email::SmtpEmail::new(&settings.smtp, public_url)?),
        );
    }
    Ok(out)
}
