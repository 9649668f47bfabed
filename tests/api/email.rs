//! Paging by e-mail through lettre against the mock SMTP server: an address verified with the
//! mailed code; the page's link that acknowledges on POST and never on GET, once (a replay
//! changes nothing), and not when altered or posted from another site; a 451 retried; a 550
//! that disables the method; voice and e-mail in `/readyz`.

use chrono::Duration;
use panic_gateway::channels::email::mock::SmtpFault;
use reqwest::Method;
use serde_json::{json, Value};

use super::contact_methods::{add_method, enter_code, set_my_rules, WAIT};
use super::sms::{incident_state, press};
use super::voice::channel_pages;
use crate::on_both_backends;
use crate::support::{
    eventually, spawn_app, spawn_app_with_channels, GoldCustomer, Phone, TestApp, TestBackend,
};

on_both_backends!(
    an_address_is_verified_with_the_mailed_code,
    the_page_emails_link_acknowledges_on_post_not_on_get_and_once,
    a_451_is_retried,
    a_550_marks_the_method_undeliverable,
    readyz_shows_voice_and_email,
);

const ADDRESS: &str = "alice@example.com";

/// Adds `ADDRESS` as `phone`'s responder's e-mail and verifies it with the mailed code.
async fn verified_email(app: &TestApp, phone: &Phone) -> String {
    let res = add_method(app, phone, json!({ "kind": "email", "address": ADDRESS })).await;
    assert_eq!(res.status(), 201);
    let created: Value = res.json().await.unwrap();
    assert_eq!(created["verification"]["sent"], true, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    let mail = app.smtp().wait_mail(ADDRESS, 1, WAIT).await;
    assert_eq!(mail.len(), 1, "the code's e-mail");
    let code = mail[0].verification_code().expect("a 6-digit code");
    let res = enter_code(app, phone, &id, &code).await;
    assert_eq!(res.status(), 200);
    let method: Value = res.json().await.unwrap();
    assert_eq!(method["verified"], true);
    id
}

/// A Gold customer whose account manager is e-mailed at once when paged.
async fn email_rules(app: &TestApp, c: &GoldCustomer) -> String {
    let am = &c.account_manager;
    let id = verified_email(app, am).await;
    let res = set_my_rules(
        app,
        am,
        json!([{ "method": "push", "delay_minutes": 0 }, { "method": "email", "method_id": id, "delay_minutes": 0 }]),
    )
    .await;
    assert_eq!(res.status(), 200);
    id
}

async fn an_address_is_verified_with_the_mailed_code(backend: TestBackend) {
    let app = spawn_app_with_channels(backend, |_| {}).await;
    let c = app.gold_customer().await;
    verified_email(&app, &c.account_manager).await;
    let mail = &app.smtp().received()[0];
    assert_eq!(mail.mail_from, "pages@gateway.test");
    assert_eq!(mail.rcpt_to, [ADDRESS]);
    assert_eq!(
        mail.header("Subject").as_deref(),
        Some("Your panic-gateway verification code")
    );
    assert!(
        mail.body().contains("expires in 10 minutes"),
        "{}",
        mail.body()
    );
}

async fn the_page_emails_link_acknowledges_on_post_not_on_get_and_once(backend: TestBackend) {
    let app = spawn_app_with_channels(backend, |_| {}).await;
    let c = app.gold_customer().await;
    email_rules(&app, &c).await;
    let incident = press(&app, &c, "email-ack").await;
    let mail = app.smtp().wait_mail(ADDRESS, 2, WAIT).await;
    assert_eq!(mail.len(), 2, "the code, then the page");
    let page = &mail[1];
    assert!(page.body().contains("Acme Corp"), "{}", page.body());
    let link = page.ack_link().expect("an acknowledge link");
    assert!(link.starts_with(&app.url("/ack/")), "{link}");
    let delivery = channel_pages(&app, &incident, "email", "id").await[0]
        .clone()
        .unwrap();
    assert_eq!(
        page.header("Message-ID"),
        Some(format!("<{delivery}@panic-gateway>"))
    );

    // A mail scanner opening the link: a page with a button, nothing acknowledged.
    for _ in 0..2 {
        let res = app.client.get(&link).send().await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["referrer-policy"], "same-origin");
        let html = res.text().await.unwrap();
        assert!(html.contains("<form method=\"post\">"), "{html}");
        assert!(html.contains("Acknowledge"), "{html}");
    }
    assert_eq!(incident_state(&app, &c, &incident).await, "triggered");

    // An altered link, and a POST from another site's page: refused, nothing changes.
    let altered = format!("{}x", &link[..link.len() - 1]);
    let res = app.client.post(&altered).send().await.unwrap();
    assert_eq!(res.status(), 404);
    let res = app
        .client
        .post(&link)
        .header("origin", "https://attacker.example")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert_eq!(incident_state(&app, &c, &incident).await, "triggered");

    let res = app.client.post(&link).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(html.contains("Incident acknowledged. Thank you."), "{html}");
    assert_eq!(incident_state(&app, &c, &incident).await, "acknowledged");
    let timeline = app.timeline_rows(&incident).await;
    let acks: Vec<&Value> = timeline
        .iter()
        .filter(|e| e["kind"] == "acknowledged")
        .collect();
    assert_eq!(acks.len(), 1);
    assert_eq!(acks[0]["detail"]["name"], "Alice Manager");

    // Used: a replay (or a second click) says so and changes nothing; so does opening it.
    let res = app.client.post(&link).send().await.unwrap();
    assert_eq!(res.status(), 410);
    assert!(res.text().await.unwrap().contains("already used"));
    let res = app.client.get(&link).send().await.unwrap();
    assert_eq!(res.status(), 410);
    let timeline = app.timeline_rows(&incident).await;
    assert_eq!(
        timeline
            .iter()
            .filter(|e| e["kind"] == "acknowledged")
            .count(),
        1
    );
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains(r#"panic_gateway_deliveries_total{outcome="accepted",provider="smtp"} 1"#),
        "{metrics}"
    );
}

async fn a_451_is_retried(backend: TestBackend) {
    let app = spawn_app_with_channels(backend, |_| {}).await;
    let c = app.gold_customer().await;
    email_rules(&app, &c).await;
    app.smtp().fail(ADDRESS, SmtpFault::TryLater, Some(1));
    let incident = press(&app, &c, "email-451").await;
    eventually(WAIT, "the 451 is recorded for a retry", || async {
        channel_pages(&app, &incident, "email", "last_error").await[0]
            .as_deref()
            .is_some_and(|e| e.contains("451"))
    })
    .await;
    assert_eq!(
        channel_pages(&app, &incident, "email", "state").await,
        [Some("pending".to_owned())]
    );
    app.clock.advance(Duration::seconds(30));
    app.run_due_work().await;
    let mail = app.smtp().wait_mail(ADDRESS, 2, WAIT).await;
    assert_eq!(mail.len(), 2, "the code, then the page on the second try");
    eventually(WAIT, "the page is recorded sent", || async {
        channel_pages(&app, &incident, "email", "state").await == [Some("sent".to_owned())]
    })
    .await;
}

async fn a_550_marks_the_method_undeliverable(backend: TestBackend) {
    let app = spawn_app_with_channels(backend, |_| {}).await;
    let c = app.gold_customer().await;
    let am = &c.account_manager;
    let id = email_rules(&app, &c).await;
    app.smtp().fail(ADDRESS, SmtpFault::NoSuchMailbox, None);
    let incident = press(&app, &c, "email-550").await;
    eventually(WAIT, "the e-mail page fails", || async {
        channel_pages(&app, &incident, "email", "state").await == [Some("failed".to_owned())]
    })
    .await;
    let list: Value = app
        .with_token(
            Method::GET,
            "/v1/responders/me/contact-methods",
            &am.access_token,
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let method = list
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == id.as_str())
        .unwrap();
    assert!(
        method["disabled_reason"].as_str().unwrap().contains("550"),
        "{list}"
    );
    let timeline = app.timeline_rows(&incident).await;
    assert!(
        timeline
            .iter()
            .any(|e| e["kind"] == "delivery.address_dead"),
        "{timeline:?}"
    );
    assert_eq!(app.smtp().received().len(), 1, "only the code was accepted");
}

async fn readyz_shows_voice_and_email(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let body: Value = app.get("/readyz").await.json().await.unwrap();
    assert_eq!(body["channels"]["channels"]["voice"], "not_configured");
    assert_eq!(body["channels"]["channels"]["email"], "not_configured");
    drop(app);

    let app = spawn_app_with_channels(backend, |_| {}).await;
    let body: Value = app.get("/readyz").await.json().await.unwrap();
    assert_eq!(body["channels"]["channels"]["voice"], "ok", "{body}");
    assert_eq!(body["channels"]["channels"]["email"], "ok", "{body}");
    assert_eq!(body["channels"]["status"], "ok", "{body}");
}
