//! E-mail over SMTP with lettre: pages with an acknowledge link, and verification codes.
//!
//! One message per send on a fresh connection (pages are rare; a pool would hold idle
//! connections a relay closes anyway). TLS is rustls: STARTTLS required, or TLS from the start,
//! or none for a relay on the same host (and the local mock). The relay's reply becomes the
//! outcome: 2xx accepted (the provider id is the Message-ID we set); 4xx transient, retried;
//! 550/551/553 on a permanent failure mean the mailbox does not exist or is refused for good,
//! a dead address (the method is disabled); any other 5xx (authentication, a refused sender)
//! is our configuration, fatal. A connection that fails or times out is retried.
//!
//! A page's e-mail carries `{public_url}/ack/{token}` (served by `web::ack`): the link opens a
//! page with a button, and only the button's POST acknowledges, because mail scanners follow
//! links. The password is never logged.

#[cfg(feature = "devkit")]
pub mod mock;

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use super::settings::{SmtpSettings, SmtpTls};
use super::{ChannelProvider, Message, Outcome};
use crate::domain::contact::{Channel, ContactAddress};
use crate::push::settings::{invalid, PushConfigError};

/// Permanent replies that mean the recipient's mailbox is the problem: 550 (unavailable, no
/// such user), 551 (not local), 553 (name not allowed).
pub const DEAD_MAILBOX_CODES: [u16; 3] = [550, 551, 553];

/// The acknowledge link for `token` on the gateway's public URL.
pub fn ack_link(public_url: &str, token: &str) -> String {
    format!("{}/ack/{token}", public_url.trim_end_matches('/'))
}

/// The e-mail provider.
pub struct SmtpEmail {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    public_url: String,
}

impl SmtpEmail {
    pub fn new(settings: &SmtpSettings, public_url: &str) -> Result<Self, PushConfigError> {
        settings.validate()?;
        let tls_params = || {
            TlsParameters::new(settings.host.clone())
                .map_err(|e| invalid("channels.smtp.host", format!("TLS: {e}")))
        };
        let tls = match settings.tls {
            SmtpTls::None => Tls::None,
            SmtpTls::Starttls => Tls::Required(tls_params()?),
            SmtpTls::Tls => Tls::Wrapper(tls_params()?),
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&settings.host)
            .port(settings.port)
            .tls(tls)
            .timeout(Some(std::time::Duration::from_millis(settings.timeout_ms)));
        if !settings.username.is_empty() {
            builder = builder.credentials(Credentials::new(
                settings.username.clone(),
                settings.password()?,
            ));
        }
        Ok(Self {
            transport: builder.build(),
            from: settings
                .from
                .parse()
                .map_err(|e| invalid("channels.smtp.from", format!("{e}")))?,
            public_url: public_url.to_owned(),
        })
    }

    /// The subject and plain-text body of `message`.
    fn compose(&self, message: &Message) -> (String, String) {
        if message.verification_code.is_some() {
            return (
                "Your panic-gateway verification code".to_owned(),
                format!("{}\n", message.body),
            );
        }
        let mut body = format!("{}\n\n{}\n", message.title, message.body);
        if let Some(token) = &message.ack_token {
            body.push_str(&format!(
                "\nAcknowledge this page:\n{}\n\nThe link opens a page with a button; nothing \
                 changes until you press it.\n",
                ack_link(&self.public_url, token)
            ));
        }
        (message.title.clone(), body)
    }

    /// The span names the channel and the delivery (none for a verification code); never the
    /// address, the code, the text or the relay's credentials.
    #[tracing::instrument(name = "smtp send", skip_all, fields(channel = "email", delivery = message.delivery_id.as_deref(), verification = message.verification_code.is_some()))]
    async fn send_email(&self, to: &ContactAddress, message: &Message) -> Outcome {
        let ContactAddress::Email(address) = to else {
            return Outcome::Fatal {
                reason: "an e-mail contact method holds no e-mail address".into(),
            };
        };
        let to: Mailbox = match address.as_str().parse() {
            Ok(m) => m,
            Err(e) => {
                return Outcome::TokenDead {
                    reason: format!("not a mailbox: {e}"),
                }
            }
        };
        let (subject, body) = self.compose(message);
        let message_id = message
            .delivery_id
            .as_ref()
            .map(|id| format!("<{id}@panic-gateway>"));
        let mut builder = lettre::Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject);
        if let Some(id) = &message_id {
            builder = builder.message_id(Some(id.clone()));
        }
        let email = match builder.header(ContentType::TEXT_PLAIN).body(body) {
            Ok(email) => email,
            Err(e) => {
                return Outcome::Fatal {
                    reason: format!("the e-mail could not be built: {e}"),
                }
            }
        };
        match self.transport.send(email).await {
            Ok(_) => Outcome::Accepted {
                provider_message_id: message_id,
            },
            Err(e) => outcome_of_error(
                e.status().map(u16::from),
                e.is_transient(),
                e.is_permanent(),
                &crate::error_chain::error_chain(&e),
            ),
        }
    }
}

/// A failed send as an outcome: the SMTP reply code when the relay answered one.
fn outcome_of_error(code: Option<u16>, transient: bool, permanent: bool, detail: &str) -> Outcome {
    let reason = format!("SMTP: {}", detail.chars().take(300).collect::<String>());
    match code {
        Some(c) if permanent && DEAD_MAILBOX_CODES.contains(&c) => Outcome::TokenDead { reason },
        Some(_) if permanent => Outcome::Fatal { reason },
        _ if transient => Outcome::Retry {
            after: None,
            reason,
        },
        // No reply at all: the connection, TLS or a timeout; the relay may be back soon.
        None => Outcome::Retry {
            after: None,
            reason,
        },
        Some(_) => Outcome::Fatal { reason },
    }
}

impl ChannelProvider for SmtpEmail {
    fn channel(&self) -> Channel {
        Channel::Email
    }

    fn name(&self) -> &'static str {
        "smtp"
    }

    fn send<'a>(
        &'a self,
        to: &'a ContactAddress,
        message: &'a Message,
        _now: DateTime<Utc>,
    ) -> BoxFuture<'a, Outcome> {
        Box::pin(self.send_email(to, message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_become_outcomes() {
        assert!(matches!(
            outcome_of_error(Some(451), true, false, "451 try later"),
            Outcome::Retry { .. }
        ));
        assert!(matches!(
            outcome_of_error(Some(550), false, true, "550 no such user"),
            Outcome::TokenDead { .. }
        ));
        assert!(matches!(
            outcome_of_error(Some(535), false, true, "535 auth failed"),
            Outcome::Fatal { .. }
        ));
        assert!(matches!(
            outcome_of_error(None, false, false, "connection refused"),
            Outcome::Retry { .. }
        ));
    }
}
