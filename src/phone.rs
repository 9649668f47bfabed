//! A simulated phone: the gateway's HTTP API as the mobile app uses it. `panic-gateway
//! simulate` drives it from scripts, `panic-gateway demo` enrolls its devices with it, and
//! the benchmark presses the button with it.

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// The credentials an enrolled phone keeps.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Session {
    pub base_url: String,
    pub device_id: String,
    pub user_id: String,
    pub role: String,
    pub access_token: String,
    pub refresh_token: String,
    pub push_token: String,
}

/// A fresh push token of the shape `platform`'s provider issues ("ios" or "android"), for a
/// simulated phone; empty for an unknown platform (the gateway then names the platform).
pub fn simulated_push_token(platform: &str) -> String {
    crate::domain::platform::Platform::parse(platform)
        .map(|p| {
            crate::domain::push_token::PushToken::simulated(p)
                .as_str()
                .to_owned()
        })
        .unwrap_or_default()
}

/// A phone talking to one gateway.
#[derive(Clone)]
pub struct Phone {
    http: reqwest::Client,
    pub session: Session,
}

async fn answer(res: reqwest::Response) -> anyhow::Result<(u16, Value)> {
    let status = res.status().as_u16();
    let text = res.text().await.context("reading the answer")?;
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Ok((status, body))
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .expect("static client configuration is valid")
}

impl Phone {
    /// Enrolls with a one-time code, as the app does on first start.
    pub async fn enroll(
        base_url: &str,
        code: &str,
        platform: &str,
        push_token: &str,
        name: &str,
    ) -> anyhow::Result<Self> {
        let http = client();
        let res = http
            .post(format!("{base_url}/v1/devices/enroll"))
            .json(&json!({
                "code": code, "platform": platform, "push_token": push_token,
                "app_version": concat!("simulated-", env!("CARGO_PKG_VERSION")),
                "device_name": name, "critical_alerts": true,
            }))
            .send()
            .await
            .context("the gateway is not reachable")?;
        let (status, body) = answer(res).await?;
        if status != 201 {
            bail!("enrollment refused ({status}): {body}");
        }
        let text = |k: &str| body[k].as_str().unwrap_or_default().to_owned();
        Ok(Self {
            http,
            session: Session {
                base_url: base_url.to_owned(),
                device_id: text("device_id"),
                user_id: text("user_id"),
                role: text("role"),
                access_token: text("access_token"),
                refresh_token: text("refresh_token"),
                push_token: push_token.to_owned(),
            },
        })
    }

    pub fn resume(session: Session) -> Self {
        Self {
            http: client(),
            session,
        }
    }

    /// Trades the refresh token for new tokens.
    pub async fn refresh(&mut self) -> anyhow::Result<()> {
        let res = self
            .http
            .post(format!(
                "{}/v1/devices/token/refresh",
                self.session.base_url
            ))
            .json(&json!({ "refresh_token": self.session.refresh_token }))
            .send()
            .await?;
        let (status, body) = answer(res).await?;
        if status != 200 {
            bail!("refresh refused ({status}): {body}");
        }
        self.session.access_token = body["access_token"].as_str().unwrap_or_default().to_owned();
        self.session.refresh_token = body["refresh_token"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        Ok(())
    }

    /// Sends an authenticated request; on 401 refreshes once and tries again.
    async fn call(
        &mut self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        key: Option<&str>,
    ) -> anyhow::Result<(u16, Value)> {
        for attempt in 0..2 {
            let mut req = self
                .http
                .request(method.clone(), format!("{}{path}", self.session.base_url))
                .bearer_auth(&self.session.access_token);
            if let Some(b) = body {
                req = req.json(b);
            }
            if let Some(k) = key {
                req = req.header("idempotency-key", k);
            }
            let (status, value) =
                answer(req.send().await.context("the gateway is not reachable")?).await?;
            if status == 401 && attempt == 0 {
                self.refresh().await?;
                continue;
            }
            return Ok((status, value));
        }
        unreachable!("the loop returns on its second pass")
    }

    /// Presses the panic button. `key` identifies the press: retries reuse it.
    pub async fn press(&mut self, key: &str, body: &Value) -> anyhow::Result<(u16, Value)> {
        self.call(reqwest::Method::POST, "/v1/alerts", Some(body), Some(key))
            .await
    }

    pub async fn acknowledge(&mut self, incident: &str) -> anyhow::Result<(u16, Value)> {
        self.call(
            reqwest::Method::POST,
            &format!("/v1/incidents/{incident}/acknowledge"),
            None,
            None,
        )
        .await
    }

    pub async fn resolve(&mut self, incident: &str) -> anyhow::Result<(u16, Value)> {
        self.call(
            reqwest::Method::POST,
            &format!("/v1/incidents/{incident}/resolve"),
            None,
            None,
        )
        .await
    }

    pub async fn incident(&mut self, incident: &str) -> anyhow::Result<(u16, Value)> {
        self.call(
            reqwest::Method::GET,
            &format!("/v1/incidents/{incident}"),
            None,
            None,
        )
        .await
    }
}

/// A P1 press body from the customer's answers.
pub fn press_body(
    summary: &str,
    service: &str,
    production_down: bool,
    users: &str,
    workaround: bool,
) -> Value {
    json!({
        "summary": summary,
        "affected_service": service,
        "p1": {
            "production_down": production_down,
            "users_affected": users,
            "workaround_available": workaround,
        },
    })
}
