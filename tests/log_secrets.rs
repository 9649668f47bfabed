//! No token, code or key may appear in the logs. This test binary captures every log line
//! (all targets, TRACE) of a full enrollment, refresh, reuse and admin session, of a page
//! and a webhook sent by the engine (whose rounds and sends run in spans with ids), and of an
//! SMS and an e-mail page (whose provider sends run in spans too), and searches it for each
//! secret and each piece of personal data that crossed the wire.

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use reqwest::Method;
use serde_json::{json, Value};
use support::{
    p1_press, spawn_app, spawn_app_with_channels, spawn_app_with_push, Phone, TestApp, TestBackend,
};

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
            // A span's fields are written when it closes too, so a span whose code logs
            // nothing (the SMTP send) is searched as well.
            .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
            .with_writer(move || writer.clone())
            .init();
        logs
    })
}

on_both_backends!(
    no_secret_reaches_the_logs,
    no_secret_of_a_page_or_a_webhook_reaches_the_logs,
    no_number_address_or_code_of_an_sms_or_e_mail_page_reaches_the_logs
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

/// Adds a contact method of `kind` at `address` for `phone`'s responder and verifies it with
/// `code`, which the test reads from what the mock provider received; returns its id.
async fn add_verified(
    app: &TestApp,
    phone: &Phone,
    kind: &str,
    address: &str,
    code: impl std::future::Future<Output = String>,
) -> (String, String) {
    let res = app
        .with_token(
            Method::POST,
            "/v1/responders/me/contact-methods",
            &phone.access_token,
        )
        .json(&json!({ "kind": kind, "address": address }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let id = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let code = code.await;
    let res = app
        .with_token(
            Method::POST,
            &format!("/v1/responders/me/contact-methods/{id}/verify"),
            &phone.access_token,
        )
        .json(&json!({ "code": code }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    (id, code)
}

async fn no_number_address_or_code_of_an_sms_or_e_mail_page_reaches_the_logs(backend: TestBackend) {
    const NUMBER: &str = "+14155550123";
    const ADDRESS: &str = "logged.person@example.com";
    let wait = std::time::Duration::from_secs(10);
    let logs = captured();
    let app = spawn_app_with_channels(backend, |_| {}).await;
    let c = app.gold_customer().await;
    let am = &c.account_manager;
    let (sms, sms_code) = add_verified(&app, am, "sms", NUMBER, async {
        app.twilio().wait_sent(Some(NUMBER), 1, wait).await[0]
            .verification_code()
            .expect("a 6-digit code")
    })
    .await;
    let (email, email_code) = add_verified(&app, am, "email", ADDRESS, async {
        app.smtp().wait_mail(ADDRESS, 1, wait).await[0]
            .verification_code()
            .expect("a 6-digit code")
    })
    .await;
    let res = app
        .with_token(
            Method::PUT,
            "/v1/responders/me/notification-rules",
            &am.access_token,
        )
        .json(&json!({ "rules": [
            { "method": "sms", "method_id": sms, "delay_minutes": 0 },
            { "method": "email", "method_id": email, "delay_minutes": 0 }
        ] }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = app
        .press(&c.contact, "channels", &p1_press("billing"))
        .await;
    assert_eq!(res.status(), 201);
    app.run_due_work().await;
    let texts = app.twilio().wait_sent(Some(NUMBER), 2, wait).await;
    let reply_code = texts[1]
        .reply_code()
        .expect("the page carries a reply code");
    let mails = app.smtp().wait_mail(ADDRESS, 2, wait).await;
    let page_mail = mails[1].body();
    let ack_link = page_mail
        .split_whitespace()
        .find(|w| w.contains("://"))
        .expect("the page mail carries its acknowledge link")
        .to_owned();
    app.stop().await;

    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        text.contains("twilio sms send") && text.contains("smtp send"),
        "the channel sends' spans were captured"
    );
    let secrets = [
        ("phone number", NUMBER),
        ("phone number without its plus", &NUMBER[1..]),
        ("e-mail address", ADDRESS),
        ("SMS verification code", sms_code.as_str()),
        ("e-mail verification code", email_code.as_str()),
        ("SMS reply code", reply_code.as_str()),
        ("acknowledge link", ack_link.as_str()),
        (
            "acknowledge link's token",
            ack_link.rsplit(['/', '=']).next().unwrap(),
        ),
    ];
    for (what, secret) in secrets {
        assert!(!appears(&text, secret), "the {what} appears in the logs");
    }
}

/// Whether `secret` is in the logs. A long one anywhere; a short one (a 6-digit code, a reply
/// code) only as a whole word and not in a line's leading timestamp, whose microseconds are
/// six digits too.
fn appears(logs: &str, secret: &str) -> bool {
    if secret.len() >= 10 {
        return logs.contains(secret);
    }
    logs.lines()
        .map(|line| line.split_once(' ').map_or(line, |(_, rest)| rest))
        .flat_map(|line| line.split(|c: char| !c.is_ascii_alphanumeric()))
        .any(|word| word == secret)
}
