//! What Twilio calls on us: the status callback of a sent SMS and an inbound SMS (a reply),
//! and for voice: the TwiML of an answered page call, the digit pressed, the call's status.
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
//!
//! A call names its page in the (signed) URL, `?delivery=`; its TwiML and its digit act only
//! when the callee (`To`) is a verified, live voice number of the person that page went to.
//! Digit 1 acknowledges, 9 resolves, 2 repeats; the answer is TwiML Twilio speaks. A
//! missing `delivery` is a 400 problem, after the signature was checked.

use actix_web::{post, web, HttpRequest, HttpResponse};

use super::Problem;
use crate::channels::twilio::voice::{page_twiml, say_and_hang_up, CallEnd, Choice, GATHER_PATH};
use crate::channels::twilio::{signature_valid, twiml_message};
use crate::channels::Message;
use crate::domain::contact::{PhoneNumber, ReplyAction, SmsReply};
use crate::state::AppState;
use crate::store::escalation::StateChange;
use crate::store::page_replies::{outcome_sentence, PageTarget};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(status_callback)
        .service(inbound_sms)
        .service(voice_twiml)
        .service(voice_gather)
        .service(voice_status);
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
    let text = apply(&state, reply.action, &incident_id, &user_id).await?;
    tracing::info!(incident = %incident_id, user = %user_id, action = ?reply.action, "SMS reply handled");
    Ok(twiml(&text))
}

/// Acknowledges or resolves `incident_id` as `user_id`; returns the sentence that says so.
pub(crate) async fn apply(
    state: &AppState,
    action: ReplyAction,
    incident_id: &str,
    user_id: &str,
) -> Result<String, Problem> {
    let now = state.clock.now();
    let (change, done) = match action {
        ReplyAction::Acknowledge => (
            state
                .store
                .acknowledge_incident(incident_id, user_id, now)
                .await?,
            "acknowledged",
        ),
        ReplyAction::Resolve => (
            state
                .store
                .resolve_incident(incident_id, user_id, now)
                .await?,
            "resolved",
        ),
    };
    if matches!(change, StateChange::Applied { .. }) {
        // Customer notices were queued in the same transaction.
        state.dispatch_wake.notify_one();
    }
    Ok(outcome_sentence(&change, done))
}

fn xml(body: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/xml; charset=utf-8")
        .body(body)
}

/// `?delivery=` of a voice route: the page the call is about (signed with the rest of the
/// URL, so read only after the signature was checked).
fn delivery_of(req: &HttpRequest) -> Result<String, Problem> {
    url::form_urlencoded::parse(req.query_string().as_bytes())
        .find(|(k, _)| k == "delivery")
        .map(|(_, v)| v.into_owned())
        .filter(|v| !v.is_empty())
        .ok_or_else(|| Problem::field("delivery", "the query must name the page's delivery"))
}

/// The page a signed voice request is about, or the TwiML that ends the call when it is about
/// none (a number no longer verified, a deleted method, a call to someone else).
async fn call_target(
    state: &AppState,
    params: &[(String, String)],
    delivery: &str,
) -> Result<Result<PageTarget, HttpResponse>, Problem> {
    let callee = param(params, "To")
        .and_then(|to| PhoneNumber::parse(to).ok())
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    Ok(
        match state.store.voice_call_target(delivery, &callee).await? {
            Some(target) => Ok(target),
            None => {
                tracing::info!(delivery, "voice request for no page to this number");
                Err(xml(say_and_hang_up(
                    "This call is not about a page for this number. Goodbye.",
                )))
            }
        },
    )
}

fn gather_url(state: &AppState, delivery: &str) -> String {
    format!("{}{GATHER_PATH}?delivery={delivery}", state.public_url)
}

/// What a page call says: the page and the choices, or that it is over.
fn page_call(state: &AppState, target: &PageTarget, prefix: Option<&str>) -> HttpResponse {
    if !target.incident_state.is_open() {
        return xml(say_and_hang_up(&format!(
            "This incident was already {}. Nothing to do. Goodbye.",
            target.incident_state.as_str()
        )));
    }
    let text = Message {
        delivery_id: Some(target.delivery_id.clone()),
        title: target.title.clone(),
        body: target.body.clone(),
        reply_code: None,
        verification_code: None,
        ack_token: None,
    }
    .text();
    xml(page_twiml(
        prefix,
        &text,
        &gather_url(state, &target.delivery_id),
    ))
}

/// Twilio fetches the TwiML of an answered page call.
#[post("/v1/twilio/voice")]
async fn voice_twiml(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    let params = signed_form(&state, &req, &body)?;
    let delivery = delivery_of(&req)?;
    Ok(match call_target(&state, &params, &delivery).await? {
        Ok(target) => page_call(&state, &target, None),
        Err(goodbye) => goodbye,
    })
}

/// The digit pressed on a page call: 1 acknowledges, 9 resolves, 2 repeats.
#[post("/v1/twilio/voice/gather")]
async fn voice_gather(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    let params = signed_form(&state, &req, &body)?;
    let delivery = delivery_of(&req)?;
    let target = match call_target(&state, &params, &delivery).await? {
        Ok(target) => target,
        Err(goodbye) => return Ok(goodbye),
    };
    let choice = Choice::parse(param(&params, "Digits").unwrap_or_default());
    let action = match choice {
        Choice::Acknowledge => ReplyAction::Acknowledge,
        Choice::Resolve => ReplyAction::Resolve,
        Choice::Repeat => return Ok(page_call(&state, &target, None)),
        Choice::Unknown => {
            return Ok(page_call(
                &state,
                &target,
                Some("That is not one of the choices."),
            ))
        }
    };
    let text = apply(&state, action, &target.incident_id, &target.user_id).await?;
    tracing::info!(incident = %target.incident_id, user = %target.user_id, action = ?action, "voice choice handled");
    Ok(xml(say_and_hang_up(&format!("{text} Goodbye."))))
}

/// `CallSid`, `CallStatus`: how a page call ended (answered, not answered, failed).
#[post("/v1/twilio/voice/status")]
async fn voice_status(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    let params = signed_form(&state, &req, &body)?;
    let delivery = delivery_of(&req)?;
    let (Some(sid), Some(status)) = (param(&params, "CallSid"), param(&params, "CallStatus"))
    else {
        return Err(Problem::field(
            "CallSid",
            "CallSid and CallStatus are required",
        ));
    };
    let end = CallEnd::parse(status);
    let known = state
        .store
        .record_call_status(
            &delivery,
            sid,
            status,
            end.timeline_kind(),
            state.clock.now(),
        )
        .await?;
    if !known {
        tracing::debug!(sid, status, "call status for a call that is no page");
    }
    Ok(HttpResponse::NoContent().finish())
}
