//! No token, code or key may appear in the logs. This test binary captures every log line
//! (all targets, TRACE) of a full enrollment, refresh, reuse and admin session, and of a page
//! and a webhook sent by the engine (whose rounds and sends run in spans with ids), and
//! searches it for each secret that crossed the wire.

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use reqwest::Method;
use serde_json::{json, Value};
use support::{p1_press, spawn_app, spawn_app_with_push, TestBackend};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn captured() -> &'static Captured {
    static LOGS: OnceLock<Captured> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Captured::default();
        let writer = logs.clone();
        tracing_subscriber::fmt()
            .with_env_filter("trace")
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .init();
        logs
    })
}

on_both_backends!(
    no_secret_reaches_the_logs,
    no_secret_of_a_page_or_a_webhook_reaches_the_logs
);

async fn no_secret_reaches_the_logs(backend: TestBackend) {
    let logs = captured();
    let app = spawn_app(backend).await;
    let user = app.create_user("responder", None, "Sam").await;
    let code = app.enrollment_code(&user).await;
    let res = app
        .client
        .post(app.url("/v1/devices/enroll"))
        .json(&json!({
            "code": code, "platform": "ios", "push_token": "5ec7e5ec7e5ec7e5ec7e5ec7e5ec7e5ec7e5ec7e5ec7e5ec7e5ec7e5ec7e5ec7",
            "app_version": "1.0", "device_name": "iPhone"
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let enrolled: Value = res.json().await.unwrap();
    let access = enrolled["access_token"].as_str().unwrap().to_owned();
    let refresh = enrolled["refresh_token"].as_str().unwrap().to_owned();
    let res = app
        .client
        .post(app.url("/v1/devices/token/refresh"))
        .json(&json!({ "refresh_token": refresh }))
        .send()
        .await
        .unwrap();
    let rotated: Value = res.json().await.unwrap();
    let access2 = rotated["access_token"].as_str().unwrap().to_owned();
    let refresh2 = rotated["refresh_token"].as_str().unwrap().to_owned();
    app.with_token(Method::GET, "/v1/responders/me", &access2)
        .send()
        .await
        .unwrap();
    // Reuse after the grace window: revokes, and is logged as an event, without the token.
    app.clock.advance(chrono::Duration::seconds(31));
    app.client
        .post(app.url("/v1/devices/token/refresh"))
        .json(&json!({ "refresh_token": refresh }))
        .send()
        .await
        .unwrap();
    app.admin(Method::GET, "/v1/admin/devices")
        .send()
        .await
        .unwrap();
    let admin_key = app.admin_key.clone();
    let jwt_secret = app.settings.auth.jwt_secret.clone();
    app.stop().await;

    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(text.contains("device enrolled"), "logs were captured");
    assert!(text.contains("refresh token reused"));
    let normalized_code = code.replace('-', "");
    let secrets = [
        ("enrollment code", code.as_str()),
        ("enrollment code (normalised)", normalized_code.as_str()),
        ("access token", access.as_str()),
        ("access token signature", access.rsplit('.').next().unwrap()),
        ("rotated access token", access2.as_str()),
        ("refresh token", refresh.as_str()),
        ("rotated refresh token", refresh2.as_str()),
        ("admin key", admin_key.as_str()),
        ("signing secret", jwt_secret.as_str()),
        (
            "push token",
            "5ec7e5ec7e5ec7e5ec7e5ec7e5ec7e5ec7e5ec7e5ec7e5ec7e5ec7e5ec7e5ec7",
        ),
    ];
    for (what, secret) in secrets {
        assert!(!text.contains(secret), "the {what} appears in the logs");
    }
}

/// The first string under `key` anywhere in `value`.
fn find<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    match value {
        Value::Object(map) => map
            .get(key)
            .and_then(Value::as_str)
            .or_else(|| map.values().find_map(|v| find(v, key))),
        Value::Array(items) => items.iter().find_map(|v| find(v, key)),
        _ => None,
    }
}

async fn no_secret_of_a_page_or_a_webhook_reaches_the_logs(backend: TestBackend) {
    let logs = captured();
    let app = spawn_app_with_push(backend, |_| {}).await;
    // Nothing listens there: the send fails and is retried, its span and warnings logged.
    let webhook: Value = app
        .admin_post(
            "/v1/admin/webhooks",
            json!({ "url": "http://127.0.0.1:9/hook", "events": ["*"] }),
            201,
        )
        .await;
    let webhook_secret = webhook["secret"].as_str().unwrap().to_owned();
    let c = app.gold_customer().await;
    let res = app.press(&c.contact, "logged", &p1_press("billing")).await;
    assert_eq!(res.status(), 201);
    let incident: Value = res.json().await.unwrap();
    let incident_id = incident["incident"]["id"].as_str().unwrap().to_owned();
    app.run_due_work().await;
    let page = app
        .mocks()
        .apns
        .wait_accepted(
            Some(&c.account_manager.push_token),
            1,
            std::time::Duration::from_secs(10),
        )
        .await;
    let ack_token = find(&page[0].body, "ack_token")
        .expect("the page carries an ack token")
        .to_owned();
    let provider_token = page[0].provider_token.clone();
    support::eventually(
        std::time::Duration::from_secs(10),
        "the webhook was tried",
        || async {
            app.count("webhook_deliveries WHERE attempts >= 1 AND last_error IS NOT NULL")
                .await
                >= 1
        },
    )
    .await;
    let push_token = c.account_manager.push_token.clone();
    let contact_token = c.contact.access_token.clone();
    app.stop().await;

    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        text.contains(&format!("incident={incident_id}")) && text.contains("delivery send"),
        "the page's spans were captured"
    );
    let secrets = [
        ("ack token", ack_token.as_str()),
        ("ack token signature", ack_token.rsplit('.').next().unwrap()),
        ("APNs provider token", provider_token.as_str()),
        ("device push token", push_token.as_str()),
        ("contact's access token", contact_token.as_str()),
        ("webhook secret", webhook_secret.as_str()),
    ];
    for (what, secret) in secrets {
        assert!(!text.contains(secret), "the {what} appears in the logs");
    }
}
