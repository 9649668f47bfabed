//! Paging by SMS through the real Twilio client against the mock Twilio: the fallback when push
//! cannot deliver, cancelled by an earlier acknowledgement; replies that acknowledge or
//! resolve; signed callbacks (and forged ones refused); a number Twilio calls invalid; and
//! the SMS channel's health in `/readyz`.

use chrono::Duration;
use panic_gateway::push::mock::Fault;
use panic_gateway::store::devkit;
use reqwest::Method;
use serde_json::{json, Value};

use super::contact_methods::{set_my_rules, verified_sms, WAIT};
use crate::on_both_backends;
use crate::support::{
    assert_problem, eventually, p1_press, spawn_app, spawn_app_with_twilio, GoldCustomer, TestApp,
    TestBackend,
};

on_both_backends!(
    a_page_push_cannot_deliver_reaches_the_person_by_sms_after_the_rules_delay,
    an_acknowledgement_before_the_delay_cancels_the_sms,
    an_ack_reply_acknowledges_and_the_customer_hears_who,
    a_res_reply_resolves,
    forged_twilio_requests_are_refused_and_change_nothing,
    a_number_twilio_calls_invalid_disables_the_method,
    readyz_shows_the_sms_channel,
);

const NUMBER: &str = "+14155550100";

pub async fn press(app: &TestApp, c: &GoldCustomer, key: &str) -> String {
    let res = app.press(&c.contact, key, &p1_press(key)).await;
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    body["incident"]["id"].as_str().unwrap().to_owned()
}

pub async fn incident_state(app: &TestApp, c: &GoldCustomer, incident: &str) -> String {
    let view: Value = app
        .with_token(
            Method::GET,
            &format!("/v1/incidents/{incident}"),
            &c.account_manager.access_token,
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    view["state"].as_str().unwrap_or_default().to_owned()
}

/// A deliveries column of the incident's SMS pages.
async fn sms_pages(app: &TestApp, incident: &str, column: &str) -> Vec<Option<String>> {
    devkit::delivery_column(&app.db_url, incident, "sms", column)
        .await
        .unwrap()
}

/// A Gold customer whose account manager has a verified SMS number and is paged by SMS at
/// once (rules push@0, sms@0), paged now; returns the incident and the reply code texted.
async fn paged_by_sms(app: &TestApp, c: &GoldCustomer, key: &str) -> (String, String) {
    let am = &c.account_manager;
    let sms = verified_sms(app, am, NUMBER).await;
    let res = set_my_rules(
        app,
        am,
        json!([{ "method": "push", "delay_minutes": 0 }, { "method": "sms", "method_id": sms, "delay_minutes": 0 }]),
    )
    .await;
    assert_eq!(res.status(), 200);
    let incident = press(app, c, key).await;
    let texts = app.twilio().wait_sent(Some(NUMBER), 2, WAIT).await;
    assert_eq!(texts.len(), 2, "the code, then the page");
    let code = texts[1]
        .reply_code()
        .expect("the page carries a reply code");
    (incident, code)
}

async fn a_page_push_cannot_deliver_reaches_the_person_by_sms_after_the_rules_delay(
    backend: TestBackend,
) {
    let app = spawn_app_with_twilio(backend, |_| {}).await;
    let c = app.gold_customer().await;
    let am = &c.account_manager;
    verified_sms(&app, am, NUMBER).await;
    // Alice's only phone is gone from APNs; the default rules text her after a minute.
    app.mocks()
        .apns
        .fail(Some(&am.push_token), Fault::status(410), None);
    let incident = press(&app, &c, "fallback").await;
    eventually(WAIT, "the push page fails as a dead token", || async {
        app.count(&format!(
            "deliveries WHERE incident_id = '{incident}' AND channel = 'push' AND state = 'failed'"
        ))
        .await
            == 1
    })
    .await;
    app.run_due_work().await;
    assert_eq!(
        app.twilio().received().len(),
        1,
        "no SMS page before the rule's delay (only the verification code)"
    );

    app.clock.advance(Duration::minutes(1));
    app.run_due_work().await;
    let texts = app.twilio().wait_sent(Some(NUMBER), 2, WAIT).await;
    let page = &texts[1];
    assert!(page.body.contains("Acme Corp"), "{}", page.body);
    assert!(page.body.contains("Reply ACK "), "{}", page.body);
    let callback = page.status_callback.as_deref().unwrap();
    assert_eq!(callback, app.url("/v1/twilio/status"));
    // Twilio's signed status callbacks (sent, delivered) reach the delivery.
    eventually(
        WAIT,
        "the status callback marks the SMS delivered",
        || async {
            sms_pages(&app, &incident, "provider_status").await == [Some("delivered".to_owned())]
        },
    )
    .await;
    assert_eq!(
        sms_pages(&app, &incident, "state").await,
        [Some("sent".into())]
    );
    assert_eq!(
        sms_pages(&app, &incident, "provider_message_id").await,
        [Some(page.sid.clone())]
    );
    assert!(app
        .twilio()
        .callbacks()
        .iter()
        .all(|(_, _, status)| *status == 204));
    let timeline = app.timeline_rows(&incident).await;
    assert!(
        timeline.iter().any(|e| e["kind"] == "delivery.delivered"),
        "{timeline:?}"
    );
    assert_eq!(incident_state(&app, &c, &incident).await, "triggered");
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains(
            r#"panic_gateway_deliveries_total{outcome="accepted",provider="twilio_sms"} 1"#
        ),
        "{metrics}"
    );
}

async fn an_acknowledgement_before_the_delay_cancels_the_sms(backend: TestBackend) {
    let app = spawn_app_with_twilio(backend, |_| {}).await;
    let c = app.gold_customer().await;
    let am = &c.account_manager;
    verified_sms(&app, am, NUMBER).await;
    let incident = press(&app, &c, "early-ack").await;
    app.mocks()
        .apns
        .wait_accepted(Some(&am.push_token), 1, WAIT)
        .await;
    assert_eq!(
        sms_pages(&app, &incident, "state").await,
        [Some("pending".into())]
    );
    let res = app
        .with_token(
            Method::POST,
            &format!("/v1/incidents/{incident}/acknowledge"),
            &am.access_token,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    app.clock.advance(Duration::minutes(2));
    app.run_due_work().await;
    assert_eq!(
        sms_pages(&app, &incident, "state").await,
        [Some("cancelled".into())]
    );
    assert_eq!(
        app.twilio().received().len(),
        1,
        "only the verification code"
    );
}

async fn an_ack_reply_acknowledges_and_the_customer_hears_who(backend: TestBackend) {
    let app = spawn_app_with_twilio(backend, |_| {}).await;
    let c = app.gold_customer().await;
    let (incident, code) = paged_by_sms(&app, &c, "ack-reply").await;

    // From another number, or naming another code: nothing happens.
    let (status, answer) = app
        .twilio()
        .send_inbound("+14155550999", &format!("ACK {code}"))
        .await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer.contains("does not match"), "{answer}");
    let (_, answer) = app.twilio().send_inbound(NUMBER, "ACK ZZZZ").await;
    assert!(answer.contains("does not match"), "{answer}");
    assert_eq!(incident_state(&app, &c, &incident).await, "triggered");

    let (status, answer) = app
        .twilio()
        .send_inbound(NUMBER, &format!("ack {}", code.to_lowercase()))
        .await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer.starts_with("<?xml"), "{answer}");
    assert!(
        answer
            .contains("<Response><Message>Incident acknowledged. Thank you.</Message></Response>"),
        "{answer}"
    );
    assert_eq!(incident_state(&app, &c, &incident).await, "acknowledged");
    let timeline = app.timeline_rows(&incident).await;
    let ack = timeline
        .iter()
        .find(|e| e["kind"] == "acknowledged")
        .expect("acknowledged in the timeline");
    assert_eq!(ack["detail"]["name"], "Alice Manager");
    let update = app
        .mocks()
        .apns
        .wait_accepted(Some(&c.contact.push_token), 1, WAIT)
        .await;
    assert_eq!(update.len(), 1);
    assert_eq!(
        update[0].body["aps"]["alert"]["body"],
        "Acknowledged by Alice Manager."
    );
    // Again: already done, said so.
    let (_, answer) = app
        .twilio()
        .send_inbound(NUMBER, &format!("ACK {code}"))
        .await;
    assert!(answer.contains("already acknowledged"), "{answer}");
}

async fn a_res_reply_resolves(backend: TestBackend) {
    let app = spawn_app_with_twilio(backend, |_| {}).await;
    let c = app.gold_customer().await;
    let (incident, code) = paged_by_sms(&app, &c, "res-reply").await;
    let (status, answer) = app
        .twilio()
        .send_inbound(NUMBER, &format!("RES {code}"))
        .await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer.contains("Incident resolved."), "{answer}");
    assert_eq!(incident_state(&app, &c, &incident).await, "resolved");
    let (_, answer) = app.twilio().send_inbound(NUMBER, "hello?").await;
    assert!(answer.contains("Reply ACK"), "{answer}");
}

async fn forged_twilio_requests_are_refused_and_change_nothing(backend: TestBackend) {
    let app = spawn_app_with_twilio(backend, |_| {}).await;
    let c = app.gold_customer().await;
    let (incident, code) = paged_by_sms(&app, &c, "forged").await;
    let body = format!("ACK {code}");
    let form = [("From", NUMBER), ("Body", body.as_str())];
    let url = app.url("/v1/twilio/sms");
    let signed_elsewhere = app
        .twilio()
        .sign("https://attacker.example/v1/twilio/sms", &form);
    for signature in [
        None,
        Some("bm90IGEgc2lnbmF0dXJl"),
        Some(signed_elsewhere.as_str()),
    ] {
        let mut req = app.client.post(&url).form(&form);
        if let Some(s) = signature {
            req = req.header("x-twilio-signature", s);
        }
        let problem = assert_problem(req.send().await.unwrap(), 403).await;
        assert!(problem["detail"]
            .as_str()
            .unwrap()
            .contains("X-Twilio-Signature"));
    }
    // A signature over other parameters does not carry over to these.
    let other = app
        .twilio()
        .sign(&url, &[("From", NUMBER), ("Body", "hello")]);
    let res = app
        .client
        .post(&url)
        .header("x-twilio-signature", other)
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_problem(res, 403).await;
    assert_eq!(incident_state(&app, &c, &incident).await, "triggered");

    // A forged status callback does not touch the delivery.
    let sid = app.twilio().received()[1].sid.clone();
    assert!(
        app.twilio().received()[0].status_callback.is_none(),
        "a verification code asks for no callbacks"
    );
    eventually(WAIT, "the real callbacks arrived", || async {
        app.twilio().callbacks().len() >= 2
    })
    .await;
    let res = app
        .client
        .post(app.url("/v1/twilio/status"))
        .header("x-twilio-signature", "AAAA")
        .form(&[("MessageSid", sid.as_str()), ("MessageStatus", "failed")])
        .send()
        .await
        .unwrap();
    assert_problem(res, 403).await;
    assert_eq!(
        sms_pages(&app, &incident, "provider_status").await,
        [Some("delivered".into())]
    );
}

async fn a_number_twilio_calls_invalid_disables_the_method(backend: TestBackend) {
    let app = spawn_app_with_twilio(backend, |_| {}).await;
    let c = app.gold_customer().await;
    let am = &c.account_manager;
    let sms = verified_sms(&app, am, NUMBER).await;
    set_my_rules(
        &app,
        am,
        json!([{ "method": "push", "delay_minutes": 0 }, { "method": "sms", "delay_minutes": 0 }]),
    )
    .await;
    // The number stopped existing since it was verified: Twilio answers 400, error 21211.
    app.twilio().fail(Some(NUMBER), Fault::status(400), None);
    let incident = press(&app, &c, "invalid-number").await;
    eventually(WAIT, "the SMS page fails", || async {
        sms_pages(&app, &incident, "state").await == [Some("failed".to_owned())]
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
    assert_eq!(list[0]["id"], sms.as_str());
    assert!(
        list[0]["disabled_reason"]
            .as_str()
            .unwrap()
            .contains("21211"),
        "{list}"
    );
    let timeline = app.timeline_rows(&incident).await;
    assert!(
        timeline
            .iter()
            .any(|e| e["kind"] == "delivery.address_dead"),
        "{timeline:?}"
    );
    // The push page still went; the next incident does not text the dead number.
    app.mocks()
        .apns
        .wait_accepted(Some(&am.push_token), 1, WAIT)
        .await;
    let res = app
        .with_token(
            Method::POST,
            &format!("/v1/incidents/{incident}/resolve"),
            &am.access_token,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let next = press(&app, &c, "invalid-number-2").await;
    app.run_due_work().await;
    assert!(sms_pages(&app, &next, "state").await.is_empty());
}

async fn readyz_shows_the_sms_channel(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let body: Value = app.get("/readyz").await.json().await.unwrap();
    assert_eq!(body["channels"]["status"], "ok", "{body}");
    assert_eq!(body["channels"]["channels"]["sms"], "not_configured");
    drop(app);

    let app = spawn_app_with_twilio(backend, |_| {}).await;
    let body: Value = app.get("/readyz").await.json().await.unwrap();
    assert_eq!(body["channels"]["channels"]["sms"], "ok", "{body}");
    // Twilio refuses our credentials: said in a word, until a send succeeds again.
    let c = app.gold_customer().await;
    let am = &c.account_manager;
    verified_sms(&app, am, NUMBER).await;
    set_my_rules(&app, am, json!([{ "method": "sms", "delay_minutes": 0 }])).await;
    app.twilio().fail(None, Fault::status(401), Some(1));
    press(&app, &c, "bad-credentials").await;
    eventually(WAIT, "readiness reports the SMS channel", || async {
        let body: Value = app.get("/readyz").await.json().await.unwrap();
        body["channels"]["channels"]["sms"] == "rejected_configuration"
    })
    .await;
    let body: Value = app.get("/readyz").await.json().await.unwrap();
    assert_eq!(body["status"], "ready");
    assert_eq!(body["channels"]["status"], "degraded");
    assert!(
        !body.to_string().contains("20003"),
        "details stay in the log"
    );
}
