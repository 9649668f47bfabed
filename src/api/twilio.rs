//! What Twilio calls on us: the status callback of a sent SMS and an inbound SMS (a reply).
//!
//! Every request is checked first, before its form is even interpreted: `X-Twilio-Signature`
//! must be the HMAC-SHA1, keyed with the auth token, of the public URL Twilio called
//! (`server.public_url` and the path, as Twilio saw it; not the address this process sees
//! behind a proxy) followed by the POST parameters sorted by name. A missing or wrong
//! signature is 403 and changes nothing. With Twilio off, both routes are 404.
//!
//! A reply `ACK <code>` or `RES <code>` acts on the incident of the SMS page that carried the
//! code, only when it comes from a verified SMS number of the person that page went to; the
//! answer is TwiML (`<Response><Message>…</Message></Response>`), which Twilio texts back.

use actix_web::{post, web, HttpRequest, HttpResponse};

use super::Problem;
use crate::channels::twilio::{signature_valid, twiml_message};
use crate::domain::contact::{PhoneNumber, ReplyAction, SmsReply};
use crate::state::AppState;
use crate::store::escalation::StateChange;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(status_callback).service(inbound_sms);
}

/// The form of a request whose signature is Twilio's; 403 otherwise.
fn signed_form(
    state: &AppState,
    req: &HttpRequest,
    body: &[u8],
) -> Result<Vec<(String, String)>, Problem> {
    let Some(token) = state.twilio_auth_token.as_deref() else {
        return Err(Problem::not_found(format!(
            "no route for {} {}",
            req.method(),
            req.path()
        )));
    };
    let params: Vec<(String, String)> = url::form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let url = match req.uri().query() {
        Some(q) => format!("{}{}?{q}", state.public_url, req.path()),
        None => format!("{}{}", state.public_url, req.path()),
    };
    let given = req
        .headers()
        .get("x-twilio-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if given.is_empty() || !signature_valid(token, &url, &params, given) {
        tracing::warn!(
            path = req.path(),
            "Twilio request refused: bad or missing signature"
        );
        return Err(Problem::forbidden(
            "bad-signature",
            "the X-Twilio-Signature header is missing or does not match this request",
        ));
    }
    Ok(params)
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// `MessageSid`, `MessageStatus`, `ErrorCode`: records the provider's state of the delivery.
#[post("/v1/twilio/status")]
async fn status_callback(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    let params = signed_form(&state, &req, &body)?;
    let (Some(sid), Some(status)) = (
        param(&params, "MessageSid"),
        param(&params, "MessageStatus"),
    ) else {
        return Err(Problem::field(
            "MessageSid",
            "MessageSid and MessageStatus are required",
        ));
    };
    let error_code = param(&params, "ErrorCode").filter(|c| !c.is_empty());
    // Twilio can call back before the dispatcher has recorded the send that returned this
    // sid (its outcomes are committed in batches): wait briefly for the delivery to appear.
    let mut known = false;
    for _ in 0..30 {
        known = state
            .store
            .record_provider_status(sid, status, error_code, state.clock.now())
            .await?;
        if known {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    if !known {
        tracing::debug!(sid, status, "status callback for a message that is no page");
    }
    Ok(HttpResponse::NoContent().finish())
}

fn twiml(text: &str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/xml; charset=utf-8")
        .body(twiml_message(text))
}

/// `From`, `Body`: a reply to an SMS page.
#[post("/v1/twilio/sms")]
async fn inbound_sms(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    let params = signed_form(&state, &req, &body)?;
    const HELP: &str = "Reply ACK <code> to take the page, RES <code> to resolve it.";
    let Some(reply) = param(&params, "Body").and_then(SmsReply::parse) else {
        return Ok(twiml(HELP));
    };
    let Ok(from) = PhoneNumber::parse(param(&params, "From").unwrap_or_default()) else {
        return Ok(twiml(HELP));
    };
    let Some((incident_id, user_id)) = state
        .store
        .sms_reply_target(from.as_str(), &reply.code)
        .await?
    else {
        tracing::info!(from = %from.masked(), "SMS reply names no page sent to that number");
        return Ok(twiml(&format!(
            "Code {} does not match a page sent to this number.",
            reply.code
        )));
    };
    let now = state.clock.now();
    let (change, done) = match reply.action {
        ReplyAction::Acknowledge => (
            state
                .store
                .acknowledge_incident(&incident_id, &user_id, now)
                .await?,
            "acknowledged",
        ),
        ReplyAction::Resolve => (
            state
                .store
                .resolve_incident(&incident_id, &user_id, now)
                .await?,
            "resolved",
        ),
    };
    let text = match change {
        StateChange::Applied { .. } => {
            // Customer notices were queued in the same transaction.
            state.dispatch_wake.notify_one();
            format!("Incident {done}. Thank you.")
        }
        StateChange::AlreadyDone => format!("The incident was already {done}."),
        StateChange::Conflict(current) => {
            format!("The incident is already {}.", current.as_str())
        }
        StateChange::NotFound => "That incident no longer exists.".to_owned(),
    };
    tracing::info!(incident = %incident_id, user = %user_id, action = done, "SMS reply handled");
    Ok(twiml(&text))
}
