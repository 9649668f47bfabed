//! A mock APNs: `POST /3/device/{token}` over HTTP/2 + TLS, checking what Apple checks.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::json;
use tokio::task::JoinHandle;

use super::server::{self, Received};
use super::{Controls, Fault, Recorded, TestCa};

#[derive(Debug, Clone)]
pub struct MockApnsConfig {
    pub team_id: String,
    pub key_id: String,
    pub topic: String,
    /// SPKI PEM of the provider-token key.
    pub public_key_pem: String,
}

/// One request as the mock saw it.
#[derive(Debug, Clone)]
pub struct ApnsReceived {
    pub device_token: String,
    pub headers: std::collections::HashMap<String, String>,
    pub body: serde_json::Value,
    pub body_len: usize,
    /// The provider token presented.
    pub provider_token: String,
    /// What the mock answered.
    pub status: u16,
    pub at: DateTime<Utc>,
}

struct State {
    config: MockApnsConfig,
    key: DecodingKey,
    expire_next_token: Mutex<bool>,
    controls: Controls<ApnsReceived>,
}

pub struct MockApns {
    url: String,
    state: Arc<State>,
    task: JoinHandle<()>,
}

#[derive(Deserialize)]
struct ProviderClaims {
    iss: String,
    iat: i64,
}

fn reason(status: u16) -> &'static str {
    match status {
        400 => "BadDeviceToken",
        403 => "InvalidProviderToken",
        410 => "Unregistered",
        413 => "PayloadTooLarge",
        429 => "TooManyRequests",
        500 => "InternalServerError",
        503 => "ServiceUnavailable",
        _ => "Unknown",
    }
}

impl MockApns {
    pub async fn start(config: MockApnsConfig, ca: &TestCa) -> std::io::Result<Self> {
        let key = DecodingKey::from_ec_pem(config.public_key_pem.as_bytes())
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let state = Arc::new(State {
            config,
            key,
            expire_next_token: Mutex::new(false),
            controls: Controls::new(),
        });
        let handler_state = state.clone();
        let (url, task) = server::serve(
            ca.server_config(),
            Arc::new(move |req| {
                let state = handler_state.clone();
                Box::pin(async move {
                    if state.controls.faults.lock().expect("lock").reset_next(&req) {
                        return None;
                    }
                    Some(handle(&state, req).await)
                })
            }),
        )
        .await?;
        Ok(Self { url, state, task })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// The next request is told its provider token expired (403 ExpiredProviderToken).
    pub fn expire_provider_token(&self) {
        *self.state.expire_next_token.lock().expect("lock") = true;
    }
}

impl Recorded for ApnsReceived {
    fn device_token(&self) -> &str {
        &self.device_token
    }

    fn status(&self) -> u16 {
        self.status
    }
}

impl std::ops::Deref for MockApns {
    type Target = Controls<ApnsReceived>;

    fn deref(&self) -> &Self::Target {
        &self.state.controls
    }
}

impl Drop for MockApns {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn handle(
    state: &State,
    req: Received,
) -> hyper::Response<http_body_util::Full<hyper::body::Bytes>> {
    let answer =
        |status: u16, reason: &str| server::json(status, &json!({ "reason": reason }), &[]);
    let Some(device_token) = req.path.strip_prefix("/3/device/").map(str::to_owned) else {
        return answer(404, "BadPath");
    };
    if req.method != hyper::Method::POST {
        return answer(405, "MethodNotAllowed");
    }
    let header = |name: &str| {
        req.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let headers: std::collections::HashMap<String, String> = req
        .headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect();
    let provider_token = header("authorization")
        .and_then(|v| {
            v.strip_prefix("bearer ")
                .or_else(|| v.strip_prefix("Bearer "))
                .map(str::to_owned)
        })
        .unwrap_or_default();
    let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap_or_default();
    let record = |status: u16| ApnsReceived {
        device_token: device_token.clone(),
        headers: headers.clone(),
        body: body.clone(),
        body_len: req.body.len(),
        provider_token: provider_token.clone(),
        status,
        at: Utc::now(),
    };
    let refuse = |status: u16, reason: &str| {
        state.controls.recorder.push(record(status));
        answer(status, reason)
    };

    // Authentication, as Apple does it: ES256, the key id, the team, and a recent iat.
    let mut validation = Validation::new(Algorithm::ES256);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    let verified = jsonwebtoken::decode_header(&provider_token)
        .ok()
        .filter(|h| h.kid.as_deref() == Some(state.config.key_id.as_str()))
        .and_then(|_| {
            jsonwebtoken::decode::<ProviderClaims>(&provider_token, &state.key, &validation).ok()
        });
    let Some(claims) = verified.filter(|c| c.claims.iss == state.config.team_id) else {
        return refuse(403, "InvalidProviderToken");
    };
    if Utc::now().timestamp() - claims.claims.iat > 3600
        || std::mem::take(&mut *state.expire_next_token.lock().expect("lock"))
    {
        return refuse(403, "ExpiredProviderToken");
    }
    match header("apns-topic") {
        None => return refuse(400, "MissingTopic"),
        Some(t) if t != state.config.topic => return refuse(400, "BadTopic"),
        _ => {}
    }
    if !matches!(
        header("apns-push-type").as_deref(),
        Some("alert" | "background" | "voip")
    ) {
        return refuse(400, "InvalidPushType");
    }
    if !matches!(header("apns-priority").as_deref(), None | Some("5" | "10")) {
        return refuse(400, "BadPriority");
    }
    if header("apns-expiration").is_some_and(|e| e.parse::<i64>().is_err()) {
        return refuse(400, "BadExpirationDate");
    }
    if header("apns-collapse-id").is_some_and(|c| c.len() > 64) {
        return refuse(400, "BadCollapseId");
    }
    if req.body.len() > 4096 {
        return refuse(413, "PayloadTooLarge");
    }
    if req.body.is_empty() || body.is_null() {
        return refuse(400, "PayloadEmpty");
    }
    if device_token.is_empty() {
        return refuse(400, "MissingDeviceToken");
    }

    let fault = state
        .controls
        .faults
        .lock()
        .expect("lock")
        .take(&device_token);
    match fault {
        Some(Fault::Status {
            status,
            retry_after,
        }) => {
            state.controls.recorder.push(record(status));
            let headers: Vec<(&str, String)> = retry_after
                .map(|s| vec![("retry-after", s.to_string())])
                .unwrap_or_default();
            return server::json(status, &json!({ "reason": reason(status) }), &headers);
        }
        Some(Fault::Stall) => state.controls.release.notified().await,
        // Resets are taken before the request reaches this handler.
        Some(Fault::Reset) | None => {}
    }
    state.controls.recorder.push(record(200));
    let apns_id = header("apns-id").unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    hyper::Response::builder()
        .status(200)
        .header("apns-id", apns_id)
        .body(http_body_util::Full::new(hyper::body::Bytes::new()))
        .expect("static response parts are valid")
}
