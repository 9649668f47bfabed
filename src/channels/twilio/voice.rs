//! Voice calls through Twilio's Calls API, and the TwiML the calls play.
//!
//! A page is `POST {base}/2010-04-01/Accounts/{AccountSid}/Calls.json` with `To`, `From`,
//! `Url` = `{public_url}/v1/twilio/voice?delivery={id}` and `StatusCallback` =
//! `{public_url}/v1/twilio/voice/status?delivery={id}`. When the callee answers, Twilio
//! fetches `Url` (signed, like every request it makes) and the gateway answers TwiML that
//! reads the page with `<Say>` inside a one-digit `<Gather>`: 1 acknowledges, 9 resolves,
//! 2 repeats. The digit comes back, signed, to `/v1/twilio/voice/gather?delivery={id}`. The
//! delivery id rides in the URLs because Twilio's signature covers the query, and because
//! Twilio may ask for the TwiML before the dispatcher has recorded the call's `CallSid`.
//!
//! A verification code is read by inline `Twiml` (no callback: no delivery, nothing to
//! look up), digit by digit, twice. Answers to creating a call map to outcomes as for SMS;
//! numbers Twilio says cannot be called are dead ([`DEAD_VOICE_CODES`]).
//!
//! Limits: a call that is not answered, or busy, is not retried here (GoAlert does the same):
//! the status callback records it and the person's next rule, or the next escalation step,
//! reaches them. An answering machine "answers": nobody presses 1, so the page stays open.

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;

use super::{xml_escape, Api};
use crate::channels::settings::TwilioSettings;
use crate::channels::{ChannelProvider, Message, Outcome};
use crate::domain::contact::{Channel, ContactAddress};
use crate::domain::timeline::TimelineKind;
use crate::push::settings::PushConfigError;

/// Where Twilio fetches a page call's TwiML.
pub const VOICE_PATH: &str = "/v1/twilio/voice";
/// Where the digit pressed on a page call goes.
pub const GATHER_PATH: &str = "/v1/twilio/voice/gather";
/// Where a call's final status goes.
pub const VOICE_STATUS_PATH: &str = "/v1/twilio/voice/status";
/// Twilio error codes meaning the number can never be called: invalid `To` (21211, 21217),
/// not reachable (21214), not a valid phone number for calls (13224).
pub const DEAD_VOICE_CODES: [u64; 4] = [21211, 21214, 21217, 13224];
/// How long a call rings before Twilio gives up as `no-answer`.
const RING_SECONDS: &str = "30";

/// The voice provider.
pub struct TwilioVoice {
    api: Api,
    from_number: String,
    public_url: String,
    status_callbacks: bool,
}

impl TwilioVoice {
    pub fn new(settings: &TwilioSettings, public_url: &str) -> Result<Self, PushConfigError> {
        Ok(Self {
            api: Api::new(settings)?,
            from_number: settings.from_number.clone(),
            public_url: public_url.to_owned(),
            status_callbacks: settings.status_callbacks,
        })
    }

    /// The span names the channel and the delivery (none for a verification code); never the
    /// number or address, the code or the text.
    #[tracing::instrument(name = "twilio voice call", skip_all, fields(channel = "voice", delivery = message.delivery_id.as_deref(), verification = message.verification_code.is_some()))]
    async fn call(&self, to: &ContactAddress, message: &Message) -> Outcome {
        let Some(to) = to.phone() else {
            return Outcome::Fatal {
                reason: "a voice contact method holds no phone number".into(),
            };
        };
        let mut form: Vec<(&str, &str)> = vec![
            ("To", to.as_str()),
            ("From", &self.from_number),
            ("Timeout", RING_SECONDS),
        ];
        let (url, callback, twiml);
        match (&message.delivery_id, &message.verification_code) {
            (Some(id), _) => {
                url = format!("{}{VOICE_PATH}?delivery={id}", self.public_url);
                form.push(("Url", &url));
                form.push(("Method", "POST"));
                if self.status_callbacks {
                    callback = format!("{}{VOICE_STATUS_PATH}?delivery={id}", self.public_url);
                    form.push(("StatusCallback", &callback));
                    form.push(("StatusCallbackMethod", "POST"));
                }
            }
            (None, Some(code)) => {
                twiml = verification_twiml(code);
                form.push(("Twiml", &twiml));
            }
            (None, None) => {
                twiml = say_and_hang_up(&message.text());
                form.push(("Twiml", &twiml));
            }
        }
        self.api
            .create("Calls.json", &form, &DEAD_VOICE_CODES)
            .await
    }
}

impl ChannelProvider for TwilioVoice {
    fn channel(&self) -> Channel {
        Channel::Voice
    }

    fn name(&self) -> &'static str {
        "twilio_voice"
    }

    fn send<'a>(
        &'a self,
        to: &'a ContactAddress,
        message: &'a Message,
        _now: DateTime<Utc>,
    ) -> BoxFuture<'a, Outcome> {
        Box::pin(self.call(to, message))
    }
}

const XML: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>";

/// What the person hears on a page call: an optional `prefix`, the page, and the choices,
/// inside a one-digit `<Gather>` posting to `gather_url`; when nothing is pressed, a goodbye.
pub fn page_twiml(prefix: Option<&str>, text: &str, gather_url: &str) -> String {
    let prefix = prefix
        .map(|p| format!("<Say>{}</Say>", xml_escape(p)))
        .unwrap_or_default();
    format!(
        "{XML}<Response>{prefix}<Gather numDigits=\"1\" timeout=\"10\" method=\"POST\" action=\"{}\">\
         <Say>{}</Say><Say>Press 1 to acknowledge. Press 9 to resolve. Press 2 to hear this again.</Say>\
         </Gather><Say>Nothing was pressed. The page stays open. Goodbye.</Say></Response>",
        xml_escape(gather_url),
        xml_escape(text),
    )
}

/// Says `text` and ends the call.
pub fn say_and_hang_up(text: &str) -> String {
    format!(
        "{XML}<Response><Say>{}</Say><Hangup/></Response>",
        xml_escape(text)
    )
}

/// A verification code read digit by digit ("4, 8, 1, ..."), twice.
pub fn verification_twiml(code: &str) -> String {
    let digits = code
        .chars()
        .map(String::from)
        .collect::<Vec<_>>()
        .join(", ");
    let say = format!("Your panic-gateway verification code is {digits}.");
    format!(
        "{XML}<Response><Say>{}</Say><Pause length=\"1\"/><Say>Again: {}</Say><Hangup/></Response>",
        xml_escape(&say),
        xml_escape(&say)
    )
}

/// What a digit pressed on a page call asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    Acknowledge,
    Resolve,
    Repeat,
    /// Anything else: said so, and the choices read again.
    Unknown,
}

impl Choice {
    pub fn parse(digits: &str) -> Self {
        match digits.trim() {
            "1" => Choice::Acknowledge,
            "9" => Choice::Resolve,
            "2" => Choice::Repeat,
            _ => Choice::Unknown,
        }
    }
}

/// What a call's final `CallStatus` means for the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallEnd {
    /// `completed`: someone (or a machine) answered.
    Answered,
    /// `busy`, `no-answer`: the person was not reached; the next rule is theirs.
    NotAnswered,
    /// `failed`, `canceled`: the call could not be placed or was withdrawn.
    Failed,
    /// `queued`, `ringing`, `in-progress` (only with progress events): nothing to record.
    InProgress,
}

impl CallEnd {
    pub fn parse(status: &str) -> Self {
        match status {
            "completed" => CallEnd::Answered,
            "busy" | "no-answer" => CallEnd::NotAnswered,
            "failed" | "canceled" => CallEnd::Failed,
            _ => CallEnd::InProgress,
        }
    }

    /// The timeline event the end is recorded as, if any.
    pub fn timeline_kind(self) -> Option<TimelineKind> {
        match self {
            CallEnd::Answered => Some(TimelineKind::DeliveryAnswered),
            CallEnd::NotAnswered => Some(TimelineKind::DeliveryNotAnswered),
            CallEnd::Failed => Some(TimelineKind::DeliveryFailed),
            CallEnd::InProgress => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_is_read_inside_a_one_digit_gather() {
        let twiml = page_twiml(
            None,
            "P1 <Acme> & co",
            "https://gw.example/v1/twilio/voice/gather?delivery=d1&x=2",
        );
        assert!(twiml.starts_with(XML));
        assert!(twiml.contains(
            "<Gather numDigits=\"1\" timeout=\"10\" method=\"POST\" action=\"https://gw.example/v1/twilio/voice/gather?delivery=d1&amp;x=2\">"
        ));
        assert!(twiml.contains("<Say>P1 &lt;Acme&gt; &amp; co</Say>"));
        assert!(twiml.contains("Press 1 to acknowledge"));
        assert!(page_twiml(Some("That is not a choice."), "x", "u")
            .contains("<Response><Say>That is not a choice.</Say><Gather"));
    }

    #[test]
    fn the_code_is_read_digit_by_digit() {
        let twiml = verification_twiml("481516");
        assert!(twiml.contains("code is 4, 8, 1, 5, 1, 6."), "{twiml}");
        assert!(twiml.ends_with("<Hangup/></Response>"));
    }

    #[test]
    fn digits_and_statuses_map() {
        assert_eq!(Choice::parse("1"), Choice::Acknowledge);
        assert_eq!(Choice::parse("9"), Choice::Resolve);
        assert_eq!(Choice::parse("2"), Choice::Repeat);
        assert_eq!(Choice::parse("3"), Choice::Unknown);
        assert_eq!(Choice::parse(""), Choice::Unknown);
        assert_eq!(CallEnd::parse("completed"), CallEnd::Answered);
        assert_eq!(CallEnd::parse("no-answer"), CallEnd::NotAnswered);
        assert_eq!(CallEnd::parse("busy"), CallEnd::NotAnswered);
        assert_eq!(CallEnd::parse("failed"), CallEnd::Failed);
        assert_eq!(CallEnd::parse("ringing"), CallEnd::InProgress);
        assert_eq!(
            CallEnd::NotAnswered.timeline_kind(),
            Some(TimelineKind::DeliveryNotAnswered)
        );
    }
}
