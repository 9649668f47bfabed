//! A mock Twilio for tests and the demo: the Messages API over HTTPS (HTTP/2, the push mocks'
//! server and test CA), checking what Twilio checks, and calling back the way Twilio does.
//!
//! `POST /2010-04-01/Accounts/{AccountSid}/Messages.json` needs Basic auth with the account
//! SID and auth token (401, error 20003, otherwise), `To` in E.164 (400, 21211), `Body`
//! (21602) and `From` or `MessagingServiceSid` (21603). An accepted message is recorded and
//! answered 201 with its `sid`; then, when it named a `StatusCallback`, the mock posts
//! `sent` and then `delivered` (or the status set with [`MockTwilio::finish_with`]) to it,
//! signed with `X-Twilio-Signature` like Twilio. Failures are ordered per `To` number with
//! the push mocks' controls: `fail(Some(number), Fault::status(400), ..)` answers Twilio's
//! error 21211 (invalid number), 429 and 5xx carry `Retry-After` when given, `Stall` holds
//! the answer until `release()`. [`MockTwilio::send_inbound`] plays a person texting the
//! Twilio number: a signed POST of `From` and `Body` to the gateway's inbound-SMS webhook.
//!
//! Calls: `POST .../Calls.json` needs `To`, `From` and `Url` or `Twiml` (21201, 21213,
//! 21205), is recorded and answered 201 with its `sid` (the same per-number faults apply).
//! Then the callee plays its part ([`MockTwilio::callee`]): by default it answers, and the
//! mock fetches the TwiML from `Url` with a signed POST (`CallSid`, `To`, `From`,
//! `CallStatus=in-progress`, ...) as Twilio does, and records what was said;
//! [`MockTwilio::press`] posts a digit, signed, to the `<Gather action>`; a TwiML that hangs
//! up ends the call with a `completed` status callback. `NoAnswer`/`Busy` callees end the
//! call at once with a `no-answer`/`busy` callback.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine;
use serde_json::json;
use tokio::task::JoinHandle;

use super::signature;
use crate::channels::settings::TwilioSettings;
use crate::domain::contact::PhoneNumber;
use crate::push::mock::server::{self, Received};
use crate::push::mock::{Controls, Fault, Recorded, Recorder, TestCa};

/// One message the mock accepted or refused.
#[derive(Debug, Clone)]
pub struct SentSms {
    pub sid: String,
    pub to: String,
    pub from: String,
    pub messaging_service_sid: String,
    pub body: String,
    pub status_callback: Option<String>,
    /// What the mock answered (201 accepted).
    pub status: u16,
}

impl SentSms {
    /// The 6-digit code in a verification text.
    pub fn verification_code(&self) -> Option<String> {
        self.body
            .split(|c: char| !c.is_ascii_digit())
            .find(|w| w.len() == 6)
            .map(str::to_owned)
    }

    /// The reply code in a page (`Reply ACK 4K7Q ...`).
    pub fn reply_code(&self) -> Option<String> {
        let rest = self.body.split("Reply ACK ").nth(1)?;
        Some(rest.split_whitespace().next()?.to_owned())
    }
}

impl Recorded for SentSms {
    fn device_token(&self) -> &str {
        &self.to
    }

    fn status(&self) -> u16 {
        self.status
    }
}

struct State {
    account_sid: String,
    auth_token: String,
    from_number: String,
    controls: Controls<SentSms>,
    /// The final status callbacks report: `delivered`, or e.g. (`undelivered`, `30003`).
    finish: Mutex<(String, Option<String>)>,
    /// The gateway's inbound-SMS webhook (Twilio's number configuration).
    inbound_url: Mutex<Option<String>>,
    /// Callbacks made, with the status Twilio's request got back.
    callbacks: Mutex<Vec<(String, String, u16)>>,
    next_sid: AtomicU64,
    client: reqwest::Client,
    /// Calls asked for through the Calls API.
    calls: Recorder<PlacedCall>,
    /// What each answered call heard: its TwiML, then the answer to each digit.
    answered: Recorder<AnsweredCall>,
    /// How the person at a number takes a call (answers by default).
    callees: Mutex<HashMap<String, Callee>>,
}

pub struct MockTwilio {
    url: String,
    state: Arc<State>,
    task: JoinHandle<()>,
}

impl MockTwilio {
    /// Starts the mock with credentials made up now; `ca` signs its certificate.
    pub async fn start(ca: &TestCa) -> std::io::Result<Self> {
        let hex = || uuid::Uuid::new_v4().simple().to_string();
        let state = Arc::new(State {
            account_sid: format!("AC{}", hex()),
            auth_token: hex(),
            from_number: "+15005550006".into(),
            controls: Controls::new(),
            finish: Mutex::new(("delivered".into(), None)),
            inbound_url: Mutex::new(None),
            callbacks: Mutex::new(Vec::new()),
            next_sid: AtomicU64::new(1),
            calls: Recorder::new(),
            answered: Recorder::new(),
            callees: Mutex::new(HashMap::new()),
            client: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(30))
                .build()
                .map_err(std::io::Error::other)?,
        });
        let handler_state = state.clone();
        let (url, task) = server::serve(
            ca.server_config(),
            Arc::new(move |req| {
                let state = handler_state.clone();
                Box::pin(async move { Some(handle(state, req).await) })
            }),
        )
        .await?;
        Ok(Self { url, state, task })
    }

    /// Starts the mock with a CA of its own, written to `dir/twilio-ca.pem`, and returns it
    /// with gateway settings that send through it.
    pub async fn start_in(dir: &std::path::Path) -> std::io::Result<(Self, TwilioSettings)> {
        std::fs::create_dir_all(dir)?;
        let ca = TestCa::generate();
        let ca_file = dir.join("twilio-ca.pem");
        std::fs::write(&ca_file, &ca.ca_pem)?;
        let mock = Self::start(&ca).await?;
        let settings = mock.settings(&ca_file.display().to_string());
        Ok((mock, settings))
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn account_sid(&self) -> &str {
        &self.state.account_sid
    }

    pub fn auth_token(&self) -> &str {
        &self.state.auth_token
    }

    pub fn from_number(&self) -> &str {
        &self.state.from_number
    }

    /// Gateway settings that send through this mock, trusting `ca_file`.
    pub fn settings(&self, ca_file: &str) -> TwilioSettings {
        TwilioSettings {
            enabled: true,
            base_url: self.url.clone(),
            account_sid: self.state.account_sid.clone(),
            auth_token: self.state.auth_token.clone(),
            from_number: self.state.from_number.clone(),
            ca_file: ca_file.to_owned(),
            timeout_ms: 2_000,
            ..TwilioSettings::default()
        }
    }

    /// Where [`MockTwilio::send_inbound`] posts (the gateway's `/v1/twilio/sms`).
    pub fn set_inbound_url(&self, url: &str) {
        *self.state.inbound_url.lock().expect("lock") = Some(url.to_owned());
    }

    /// The status the callbacks end with from now on (`delivered` by default).
    pub fn finish_with(&self, status: &str, error_code: Option<&str>) {
        *self.state.finish.lock().expect("lock") =
            (status.to_owned(), error_code.map(str::to_owned));
    }

    /// Status callbacks made so far: (MessageSid, MessageStatus, the gateway's HTTP status).
    pub fn callbacks(&self) -> Vec<(String, String, u16)> {
        self.state.callbacks.lock().expect("lock").clone()
    }

    /// Waits for `count` accepted messages to `to` (any number if `None`).
    pub async fn wait_sent(
        &self,
        to: Option<&str>,
        count: usize,
        within: std::time::Duration,
    ) -> Vec<SentSms> {
        let to = to.map(str::to_owned);
        self.state
            .controls
            .recorder
            .wait_for(count, within, move |m| {
                m.status == 201 && to.as_deref().is_none_or(|t| t == m.to)
            })
            .await
    }

    /// How the person at `number` takes calls from now on.
    pub fn callee(&self, number: &str, callee: Callee) {
        self.state
            .callees
            .lock()
            .expect("lock")
            .insert(number.to_owned(), callee);
    }

    /// Calls asked for so far (accepted or refused).
    pub fn calls(&self) -> Vec<PlacedCall> {
        self.state.calls.all()
    }

    /// Waits for `count` answered calls to `to`; returns what they heard first.
    pub async fn wait_answered(
        &self,
        to: &str,
        count: usize,
        within: std::time::Duration,
    ) -> Vec<AnsweredCall> {
        let to = to.to_owned();
        self.state
            .answered
            .wait_for(count, within, move |c| c.to == to && c.digits.is_none())
            .await
    }

    /// Waits for `count` accepted calls to `to` (answered or not).
    pub async fn wait_calls(
        &self,
        to: &str,
        count: usize,
        within: std::time::Duration,
    ) -> Vec<PlacedCall> {
        let to = to.to_owned();
        self.state
            .calls
            .wait_for(count, within, move |c| c.status == 201 && c.to == to)
            .await
    }

    /// The callee of call `sid` presses `digits`: Twilio posts them, signed, to the `<Gather>`
    /// action of the TwiML the call is playing. Returns the gateway's status and TwiML; when
    /// that TwiML hangs up, the call's status callback (`completed`) follows.
    pub async fn press(&self, sid: &str, digits: &str) -> (u16, String) {
        let heard = self
            .state
            .answered
            .all()
            .into_iter()
            .rev()
            .find(|c| c.sid == sid)
            .expect("press on a call that was answered");
        let action = heard
            .gather_action()
            .expect("the call is playing a <Gather>");
        let params = call_params(&self.state, &heard.placed, "in-progress");
        let mut params: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        params.push(("Digits", digits));
        params.push(("FinishedOnKey", ""));
        let (status, twiml) = match post_signed(&self.state, &action, &params).await {
            Ok(res) => (res.status().as_u16(), res.text().await.unwrap_or_default()),
            Err(e) => (0, e.to_string()),
        };
        self.state.answered.push(AnsweredCall {
            sid: sid.to_owned(),
            to: heard.to.clone(),
            twiml: twiml.clone(),
            fetched: status,
            digits: Some(digits.to_owned()),
            placed: heard.placed.clone(),
        });
        if twiml.contains("<Hangup/>") {
            call_ended(&self.state, &heard.placed, "completed").await;
        }
        (status, twiml)
    }

    /// The signature Twilio would put on a request to `url` with `params`.
    pub fn sign(&self, url: &str, params: &[(&str, &str)]) -> String {
        signature(&self.state.auth_token, url, &owned(params))
    }

    /// A person texts `body` from `from` to the Twilio number: Twilio's signed webhook to the
    /// gateway. Returns the gateway's status and answer (TwiML).
    pub async fn send_inbound(&self, from: &str, body: &str) -> (u16, String) {
        let url = self
            .state
            .inbound_url
            .lock()
            .expect("lock")
            .clone()
            .expect("set_inbound_url first");
        let sid = self.state.sid();
        let params = [
            ("MessageSid", sid.as_str()),
            ("SmsSid", sid.as_str()),
            ("AccountSid", self.state.account_sid.as_str()),
            ("From", from),
            ("To", self.state.from_number.as_str()),
            ("Body", body),
            ("NumMedia", "0"),
        ];
        let res = post_signed(&self.state, &url, &params).await;
        match res {
            Ok(res) => {
                let status = res.status().as_u16();
                (status, res.text().await.unwrap_or_default())
            }
            Err(e) => (0, e.to_string()),
        }
    }
}

impl State {
    fn sid(&self) -> String {
        format!("SM{:032x}", self.next_sid.fetch_add(1, Ordering::Relaxed))
    }

    fn call_sid(&self) -> String {
        format!("CA{:032x}", self.next_sid.fetch_add(1, Ordering::Relaxed))
    }
}

fn owned(params: &[(&str, &str)]) -> Vec<(String, String)> {
    params
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

async fn post_signed(
    state: &State,
    url: &str,
    params: &[(&str, &str)],
) -> reqwest::Result<reqwest::Response> {
    let sig = signature(&state.auth_token, url, &owned(params));
    state
        .client
        .post(url)
        .header("x-twilio-signature", sig)
        .header("user-agent", "TwilioProxy/1.1")
        .form(params)
        .send()
        .await
}

impl std::ops::Deref for MockTwilio {
    type Target = Controls<SentSms>;

    fn deref(&self) -> &Self::Target {
        &self.state.controls
    }
}

impl Drop for MockTwilio {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Twilio's error body.
fn error(
    status: u16,
    code: u32,
    message: &str,
    headers: &[(&str, String)],
) -> hyper::Response<http_body_util::Full<hyper::body::Bytes>> {
    server::json(
        status,
        &json!({
            "code": code,
            "message": message,
            "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
            "status": status,
        }),
        headers,
    )
}

async fn handle(
    state: Arc<State>,
    req: Received,
) -> hyper::Response<http_body_util::Full<hyper::body::Bytes>> {
    let path = format!("/2010-04-01/Accounts/{}/Messages.json", state.account_sid);
    let calls_path = format!("/2010-04-01/Accounts/{}/Calls.json", state.account_sid);
    if req.path != path && req.path != calls_path {
        return error(404, 20404, "The requested resource was not found", &[]);
    }
    if req.method != hyper::Method::POST {
        return error(405, 20004, "Method not allowed", &[]);
    }
    let authorized = req
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .is_some_and(|pair| pair == format!("{}:{}", state.account_sid, state.auth_token));
    if !authorized {
        return error(401, 20003, "Authenticate", &[]);
    }
    if req.path == calls_path {
        return handle_call(state, req, &calls_path).await;
    }
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&req.body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let mut record = SentSms {
        sid: state.sid(),
        to: field("To"),
        from: field("From"),
        messaging_service_sid: field("MessagingServiceSid"),
        body: field("Body"),
        status_callback: Some(field("StatusCallback")).filter(|c| !c.is_empty()),
        status: 201,
    };
    let refuse = |record: &mut SentSms, status: u16, code: u32, message: &str| {
        record.status = status;
        state.controls.recorder.push(record.clone());
        error(status, code, message, &[])
    };
    if record.to.is_empty() {
        return refuse(&mut record, 400, 21604, "A 'To' phone number is required.");
    }
    if record.body.is_empty() {
        return refuse(&mut record, 400, 21602, "Message body is required.");
    }
    if record.from.is_empty() && record.messaging_service_sid.is_empty() {
        return refuse(
            &mut record,
            400,
            21603,
            "A 'From' phone number is required.",
        );
    }
    if PhoneNumber::parse(&record.to).map(|p| p.as_str() == record.to) != Ok(true) {
        let message = format!("The 'To' number {} is not a valid phone number.", record.to);
        return refuse(&mut record, 400, 21211, &message);
    }
    let fault = state.controls.faults.lock().expect("lock").take(&record.to);
    match fault {
        Some(Fault::Status {
            status,
            retry_after,
        }) => {
            record.status = status;
            state.controls.recorder.push(record.clone());
            let headers: Vec<(&str, String)> = retry_after
                .map(|s| vec![("retry-after", s.to_string())])
                .unwrap_or_default();
            return match status {
                400 => error(
                    400,
                    21211,
                    &format!("The 'To' number {} is not a valid phone number.", record.to),
                    &headers,
                ),
                401 => error(401, 20003, "Authenticate", &headers),
                429 => error(429, 20429, "Too Many Requests", &headers),
                s => error(s, 20500, "Internal Server Error", &headers),
            };
        }
        Some(Fault::Stall) => state.controls.release.notified().await,
        Some(Fault::Reset) | None => {}
    }
    state.controls.recorder.push(record.clone());
    if let Some(callback) = record.status_callback.clone() {
        let state = state.clone();
        let (sid, to, from) = (record.sid.clone(), record.to.clone(), record.from.clone());
        tokio::spawn(async move {
            let (last, error_code) = state.finish.lock().expect("lock").clone();
            for status in ["sent", last.as_str()] {
                let mut params = vec![
                    ("AccountSid", state.account_sid.as_str()),
                    ("MessageSid", sid.as_str()),
                    ("SmsSid", sid.as_str()),
                    ("MessageStatus", status),
                    ("SmsStatus", status),
                    ("To", to.as_str()),
                    ("From", from.as_str()),
                    ("ApiVersion", "2010-04-01"),
                ];
                if status == last {
                    if let Some(code) = &error_code {
                        params.push(("ErrorCode", code.as_str()));
                    }
                }
                let answered = post_signed(&state, &callback, &params)
                    .await
                    .map(|r| r.status().as_u16())
                    .unwrap_or(0);
                state.callbacks.lock().expect("lock").push((
                    sid.clone(),
                    status.to_owned(),
                    answered,
                ));
            }
        });
    }
    server::json(
        201,
        &json!({
            "sid": record.sid,
            "account_sid": state.account_sid,
            "to": record.to,
            "from": if record.from.is_empty() { serde_json::Value::Null } else { json!(record.from) },
            "messaging_service_sid": if record.messaging_service_sid.is_empty() { serde_json::Value::Null } else { json!(record.messaging_service_sid) },
            "body": record.body,
            "status": "queued",
            "num_segments": "1",
            "direction": "outbound-api",
            "api_version": "2010-04-01",
            "uri": format!("{}/{}.json", path.trim_end_matches(".json"), record.sid),
        }),
        &[],
    )
}

/// How the person at a number takes a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Callee {
    /// Answers: the mock fetches the call's TwiML and waits for [`MockTwilio::press`].
    #[default]
    Answers,
    /// Lets it ring: the status callback says `no-answer`.
    NoAnswer,
    /// Busy: the status callback says `busy`.
    Busy,
}

/// A call asked for through the Calls API.
#[derive(Debug, Clone)]
pub struct PlacedCall {
    pub sid: String,
    pub to: String,
    pub from: String,
    /// Where the TwiML is fetched, or `None` with inline `twiml`.
    pub url: Option<String>,
    pub twiml: Option<String>,
    pub status_callback: Option<String>,
    /// What the mock answered (201 accepted).
    pub status: u16,
}

/// What an answered call heard: the TwiML fetched when it was answered (`digits` `None`),
/// or the answer to the digits pressed.
#[derive(Debug, Clone)]
pub struct AnsweredCall {
    pub sid: String,
    pub to: String,
    pub twiml: String,
    /// The gateway's HTTP status fetching it (200 for inline TwiML).
    pub fetched: u16,
    pub digits: Option<String>,
    pub placed: PlacedCall,
}

impl AnsweredCall {
    /// Everything `<Say>` reads, in order.
    pub fn said(&self) -> Vec<String> {
        self.twiml
            .split("<Say>")
            .skip(1)
            .filter_map(|s| s.split("</Say>").next())
            .map(|s| {
                s.replace("&lt;", "<")
                    .replace("&gt;", ">")
                    .replace("&quot;", "\"")
                    .replace("&apos;", "'")
                    .replace("&amp;", "&")
            })
            .collect()
    }

    /// The 6-digit code read digit by digit ("4, 8, 1, 5, 1, 6").
    pub fn spoken_code(&self) -> Option<String> {
        let first = self.said().into_iter().next()?;
        let digits: String = first.chars().filter(char::is_ascii_digit).collect();
        (digits.len() == 6).then_some(digits)
    }

    /// The `action` of the `<Gather>` playing, unescaped.
    pub fn gather_action(&self) -> Option<String> {
        let gather = self.twiml.split("<Gather").nth(1)?;
        let action = gather.split("action=\"").nth(1)?.split('"').next()?;
        Some(action.replace("&amp;", "&"))
    }
}

/// The parameters Twilio sends with every request about a call.
fn call_params(state: &State, call: &PlacedCall, status: &str) -> Vec<(&'static str, String)> {
    vec![
        ("AccountSid", state.account_sid.clone()),
        ("ApiVersion", "2010-04-01".into()),
        ("CallSid", call.sid.clone()),
        ("CallStatus", status.into()),
        ("Called", call.to.clone()),
        ("Caller", call.from.clone()),
        ("Direction", "outbound-api".into()),
        ("From", call.from.clone()),
        ("To", call.to.clone()),
    ]
}

/// The call's status callback, if it asked for one, with its final `status`.
async fn call_ended(state: &State, call: &PlacedCall, status: &str) {
    let Some(url) = &call.status_callback else {
        return;
    };
    let params = call_params(state, call, status);
    let mut params: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
    params.push((
        "CallDuration",
        if status == "completed" { "42" } else { "0" },
    ));
    let answered = post_signed(state, url, &params)
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0);
    state
        .callbacks
        .lock()
        .expect("lock")
        .push((call.sid.clone(), status.to_owned(), answered));
}

/// `POST .../Calls.json`: checks what Twilio checks, records the call, answers 201 and then
/// plays the callee: answers (fetching the TwiML), or not.
async fn handle_call(
    state: Arc<State>,
    req: Received,
    path: &str,
) -> hyper::Response<http_body_util::Full<hyper::body::Bytes>> {
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&req.body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty())
    };
    let mut call = PlacedCall {
        sid: state.call_sid(),
        to: field("To").unwrap_or_default(),
        from: field("From").unwrap_or_default(),
        url: field("Url"),
        twiml: field("Twiml"),
        status_callback: field("StatusCallback"),
        status: 201,
    };
    let refuse = |call: &mut PlacedCall, status: u16, code: u32, message: &str| {
        call.status = status;
        state.calls.push(call.clone());
        error(status, code, message, &[])
    };
    if call.to.is_empty() {
        return refuse(&mut call, 400, 21201, "No 'To' number is specified");
    }
    if call.from.is_empty() {
        return refuse(&mut call, 400, 21213, "No 'From' number is specified");
    }
    if call.url.is_none() && call.twiml.is_none() {
        return refuse(&mut call, 400, 21205, "Url parameter is required.");
    }
    if PhoneNumber::parse(&call.to).map(|p| p.as_str() == call.to) != Ok(true) {
        let message = format!("The 'To' number {} is not a valid phone number.", call.to);
        return refuse(&mut call, 400, 21211, &message);
    }
    let fault = state.controls.faults.lock().expect("lock").take(&call.to);
    match fault {
        Some(Fault::Status {
            status,
            retry_after,
        }) => {
            call.status = status;
            state.calls.push(call.clone());
            let headers: Vec<(&str, String)> = retry_after
                .map(|s| vec![("retry-after", s.to_string())])
                .unwrap_or_default();
            return match status {
                400 => error(
                    400,
                    21211,
                    &format!("The 'To' number {} is not a valid phone number.", call.to),
                    &headers,
                ),
                401 => error(401, 20003, "Authenticate", &headers),
                429 => error(429, 20429, "Too Many Requests", &headers),
                s => error(s, 20500, "Internal Server Error", &headers),
            };
        }
        Some(Fault::Stall) => state.controls.release.notified().await,
        Some(Fault::Reset) | None => {}
    }
    state.calls.push(call.clone());
    let callee = state
        .callees
        .lock()
        .expect("lock")
        .get(&call.to)
        .copied()
        .unwrap_or_default();
    {
        let state = state.clone();
        let call = call.clone();
        tokio::spawn(async move {
            match callee {
                Callee::NoAnswer => call_ended(&state, &call, "no-answer").await,
                Callee::Busy => call_ended(&state, &call, "busy").await,
                Callee::Answers => {
                    let (twiml, fetched) = match (&call.twiml, &call.url) {
                        (Some(inline), _) => (inline.clone(), 200),
                        (None, Some(url)) => {
                            let params = call_params(&state, &call, "in-progress");
                            let params: Vec<(&str, &str)> =
                                params.iter().map(|(k, v)| (*k, v.as_str())).collect();
                            match post_signed(&state, url, &params).await {
                                Ok(res) => {
                                    let status = res.status().as_u16();
                                    (res.text().await.unwrap_or_default(), status)
                                }
                                Err(e) => (e.to_string(), 0),
                            }
                        }
                        (None, None) => (String::new(), 0),
                    };
                    let hangs_up = twiml.contains("<Hangup/>");
                    state.answered.push(AnsweredCall {
                        sid: call.sid.clone(),
                        to: call.to.clone(),
                        twiml,
                        fetched,
                        digits: None,
                        placed: call.clone(),
                    });
                    if hangs_up {
                        call_ended(&state, &call, "completed").await;
                    }
                }
            }
        });
    }
    server::json(
        201,
        &json!({
            "sid": call.sid,
            "account_sid": state.account_sid,
            "to": call.to,
            "from": call.from,
            "status": "queued",
            "direction": "outbound-api",
            "api_version": "2010-04-01",
            "uri": format!("{}/{}.json", path.trim_end_matches(".json"), call.sid),
        }),
        &[],
    )
}
