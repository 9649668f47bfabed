//! The admin API as the developer kit drives it: the demo seeds its data with it, the bench
//! sets up its load with it, and the test harness creates customers, users and phones with it.
//! One client, so a change to an admin route or its answer is followed in one place.

use anyhow::Context;
use serde_json::{json, Value};

use crate::phone::{simulated_push_token, Phone};

/// A gateway's admin API under one admin key.
#[derive(Clone)]
pub struct AdminClient {
    http: reqwest::Client,
    base_url: String,
    key: String,
}

impl AdminClient {
    /// `base_url` without a trailing slash, e.g. `http://127.0.0.1:8080`.
    pub fn new(http: reqwest::Client, base_url: &str, key: &str) -> Self {
        Self {
            http,
            base_url: base_url.trim_end_matches('/').to_owned(),
            key: key.to_owned(),
        }
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Sends `body` and returns the JSON answer; any status but a success is an error that
    /// names the request, the status and the problem the gateway answered.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Value,
    ) -> anyhow::Result<Value> {
        let (status, answer) = self.call(method.clone(), path, body).await?;
        anyhow::ensure!(
            (200..300).contains(&status),
            "{method} {path} answered {status}: {answer}"
        );
        Ok(answer)
    }

    pub async fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        self.send(reqwest::Method::POST, path, body).await
    }

    /// Creates something and returns the `field` of the answer; only 201 Created will do.
    async fn create(&self, path: &str, body: Value, field: &str) -> anyhow::Result<String> {
        let (status, answer) = self.call(reqwest::Method::POST, path, body).await?;
        anyhow::ensure!(status == 201, "POST {path} answered {status}: {answer}");
        answer[field]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("POST {path} answered without {field}: {answer}"))
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Value,
    ) -> anyhow::Result<(u16, Value)> {
        let res = self
            .http
            .request(method, format!("{}{path}", self.base_url))
            .bearer_auth(&self.key)
            .json(&body)
            .send()
            .await
            .context("the gateway is not reachable")?;
        let status = res.status().as_u16();
        Ok((status, res.json().await.unwrap_or_default()))
    }

    /// A user (`responder`, `contact`, `support_manager`); its id.
    pub async fn create_user(
        &self,
        role: &str,
        name: &str,
        customer_id: Option<&str>,
    ) -> anyhow::Result<String> {
        self.create(
            "/v1/admin/users",
            json!({ "role": role, "name": name, "customer_id": customer_id }),
            "id",
        )
        .await
    }

    /// A customer of `tier`; its id.
    pub async fn create_customer(
        &self,
        name: &str,
        tier: &str,
        account_manager_id: Option<&str>,
    ) -> anyhow::Result<String> {
        self.create(
            "/v1/admin/customers",
            json!({ "name": name, "tier": tier, "account_manager_id": account_manager_id }),
            "id",
        )
        .await
    }

    /// A one-time enrollment code for `user_id`.
    pub async fn enrollment_code(&self, user_id: &str) -> anyhow::Result<String> {
        self.create(
            &format!("/v1/admin/users/{user_id}/enrollment-codes"),
            json!({}),
            "code",
        )
        .await
    }

    /// A simulated phone for `user_id` on `platform` ("ios" or "android"), enrolled with a
    /// fresh code and a push token of that platform's shape.
    pub async fn enroll_phone(
        &self,
        user_id: &str,
        platform: &str,
        device_name: &str,
    ) -> anyhow::Result<Phone> {
        let code = self.enrollment_code(user_id).await?;
        let token = simulated_push_token(platform);
        Phone::enroll(&self.base_url, &code, platform, &token, device_name).await
    }
}
