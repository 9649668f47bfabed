//! A mock FCM: the OAuth token endpoint (verifying the RS256 JWT grant) and
//! `POST /v1/projects/{id}/messages:send`, with Google's v1 error bodies.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::json;
use tokio::task::JoinHandle;

use super::server::{self, Received};
use super::{Controls, Fault, Recorded, TestCa};

#[derive(Debug, Clone)]
pub struct MockFcmConfig {
    pub project_id: String,
    pub client_email: String,
    /// SPKI PEM of the service account's key.
    pub public_key_pem: String,
}

/// One `messages:send` request as the mock saw it.
#[derive(Debug, Clone)]
pub struct FcmReceived {
    pub device_token: String,
    pub message: serde_json::Value,
    pub body_len: usize,
    pub access_token: String,
    pub status: u16,
    pub at: DateTime<Utc>,
}

struct State {
    config: MockFcmConfig,
    key: DecodingKey,
    token_url: Mutex<String>,
    issued: Mutex<HashSet<String>>,
    grants: Mutex<usize>,
    controls: Controls<FcmReceived>,
    sent: Mutex<u64>,
}

pub struct MockFcm {
    url: String,
    state: Arc<State>,
    task: JoinHandle<()>,
}

#[derive(Deserialize)]
struct GrantClaims {
    iss: String,
    scope: String,
}

/// Google's error body for a status.
fn error_body(status: u16) -> serde_json::Value {
    let (code_status, fcm_code, violation) = match status {
        400 => (
            "INVALID_ARGUMENT",
            "INVALID_ARGUMENT",
            Some("message.token"),
        ),
        401 => ("UNAUTHENTICATED", "THIRD_PARTY_AUTH_ERROR", None),
        403 => ("PERMISSION_DENIED", "SENDER_ID_MISMATCH", None),
        404 => ("NOT_FOUND", "UNREGISTERED", None),
        429 => ("RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED", None),
        503 => ("UNAVAILABLE", "UNAVAILABLE", None),
        _ => ("INTERNAL", "INTERNAL", None),
    };
    let mut details = vec![json!({
        "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
        "errorCode": fcm_code,
    })];
    if let Some(field) = violation {
        details.push(json!({
            "@type": "type.googleapis.com/google.rpc.BadRequest",
            "fieldViolations": [{ "field": field, "description": "Invalid registration token" }],
        }));
    }
    json!({ "error": { "code": status, "message": format!("mock {code_status}"), "status": code_status, "details": details } })
}

impl MockFcm {
    pub async fn start(config: MockFcmConfig, ca: &TestCa) -> std::io::Result<Self> {
        let key = DecodingKey::from_rsa_pem(config.public_key_pem.as_bytes())
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let state = Arc::new(State {
            config,
            key,
            token_url: Mutex::new(String::new()),
            issued: Mutex::new(HashSet::new()),
            grants: Mutex::new(0),
            controls: Controls::new(),
            sent: Mutex::new(0),
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
        *state.token_url.lock().expect("lock") = format!("{url}/token");
        Ok(Self { url, state, task })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Where the service account's `token_uri` must point.
    pub fn token_url(&self) -> String {
        self.state.token_url.lock().expect("lock").clone()
    }

    /// OAuth grants issued so far.
    pub fn grants(&self) -> usize {
        *self.state.grants.lock().expect("lock")
    }

    /// Forgets every access token issued: the next send gets 401.
    pub fn revoke_access_tokens(&self) {
        self.state.issued.lock().expect("lock").clear();
    }
}

impl Recorded for FcmReceived {
    fn device_token(&self) -> &str {
        &self.device_token
    }

    fn status(&self) -> u16 {
        self.status
    }
}

impl std::ops::Deref for MockFcm {
    type Target = Controls<FcmReceived>;

    fn deref(&self) -> &Self::Target {
        &self.state.controls
    }
}

impl Drop for MockFcm {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn handle(
    state: &State,
    req: Received,
) -> hyper::Response<http_body_util::Full<hyper::body::Bytes>> {
    if req.method != hyper::Method::POST {
        return server::json(405, &error_body(405), &[]);
    }
    if req.path == "/token" {
        return grant(state, &req);
    }
    let expected = format!("/v1/projects/{}/messages:send", state.config.project_id);
    if req.path != expected {
        return server::json(
            404,
            &json!({ "error": { "code": 404, "message": "not found", "status": "NOT_FOUND" } }),
            &[],
        );
    }
    let access_token = req
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .unwrap_or_default()
        .to_owned();
    let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap_or_default();
    let message = body["message"].clone();
    let device_token = message["token"].as_str().unwrap_or_default().to_owned();
    let record = |status: u16| FcmReceived {
        device_token: device_token.clone(),
        message: message.clone(),
        body_len: req.body.len(),
        access_token: access_token.clone(),
        status,
        at: Utc::now(),
    };
    if !state.issued.lock().expect("lock").contains(&access_token) {
        state.controls.recorder.push(record(401));
        return server::json(
            401,
            &json!({ "error": { "code": 401, "message": "Request had invalid authentication credentials.", "status": "UNAUTHENTICATED" } }),
            &[],
        );
    }
    let invalid = |what: &str| {
        state.controls.recorder.push(record(400));
        server::json(
            400,
            &json!({ "error": { "code": 400, "message": what, "status": "INVALID_ARGUMENT",
            "details": [{ "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": "INVALID_ARGUMENT" }] } }),
            &[],
        )
    };
    if device_token.is_empty() {
        return invalid("message.token is required");
    }
    if req.body.len() > 4096 {
        return invalid("Message is too big");
    }
    if message["data"]
        .as_object()
        .is_some_and(|d| d.values().any(|v| !v.is_string()))
    {
        return invalid("message.data values must be strings");
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
            return server::json(status, &error_body(status), &headers);
        }
        Some(Fault::Stall) => state.controls.release.notified().await,
        // Resets are taken before the request reaches this handler.
        Some(Fault::Reset) | None => {}
    }
    state.controls.recorder.push(record(200));
    let n = {
        let mut sent = state.sent.lock().expect("lock");
        *sent += 1;
        *sent
    };
    server::json(
        200,
        &json!({ "name": format!("projects/{}/messages/{n}", state.config.project_id) }),
        &[],
    )
}

fn grant(
    state: &State,
    req: &Received,
) -> hyper::Response<http_body_util::Full<hyper::body::Bytes>> {
    let form: std::collections::HashMap<String, String> =
        reqwest::Url::parse(&format!("http://x/?{}", String::from_utf8_lossy(&req.body)))
            .map(|u| u.query_pairs().into_owned().collect())
            .unwrap_or_default();
    let refuse = |why: &str| {
        server::json(
            400,
            &json!({ "error": "invalid_grant", "error_description": why }),
            &[],
        )
    };
    if form.get("grant_type").map(String::as_str)
        != Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
    {
        return refuse("unsupported grant_type");
    }
    let token_url = state.token_url.lock().expect("lock").clone();
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[token_url]);
    validation.set_required_spec_claims(&["exp", "aud", "iss"]);
    let claims = match jsonwebtoken::decode::<GrantClaims>(
        form.get("assertion")
            .map(String::as_str)
            .unwrap_or_default(),
        &state.key,
        &validation,
    ) {
        Ok(c) => c.claims,
        Err(e) => return refuse(&format!("Invalid JWT Signature or claims: {e}")),
    };
    if claims.iss != state.config.client_email {
        return refuse("unknown service account");
    }
    if !claims
        .scope
        .split(' ')
        .any(|s| s == crate::push::fcm::SCOPE)
    {
        return refuse("missing firebase.messaging scope");
    }
    let token = format!("ya29.mock-{}", uuid::Uuid::new_v4().simple());
    state.issued.lock().expect("lock").insert(token.clone());
    *state.grants.lock().expect("lock") += 1;
    server::json(
        200,
        &json!({ "access_token": token, "expires_in": 3599, "token_type": "Bearer" }),
        &[],
    )
}
