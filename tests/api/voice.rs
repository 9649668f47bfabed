//! Paging by voice through the real Twilio client against the mock Twilio's Calls API: a
//! number verified by the code read on a call; a page that calls after the rule's delay and
//! is acknowledged by pressing 1 (not by another digit) or resolved by 9; a call nobody
//! answers recorded as such; forged voice callbacks refused, changing nothing.

use chrono::Duration;
use panic_gateway::channels::twilio::mock::Callee;
use panic_gateway::store::devkit;
use serde_json::{json, Value};

use super::contact_methods::{add_method, enter_code, set_my_rules, WAIT};
use super::sms::{incident_state, press};
use crate::on_both_backends;
use crate::support::{
    assert_problem, eventually, spawn_app_with_twilio, Phone, TestApp, TestBackend,
};

on_both_backends!(
    a_voice_number_is_verified_with_the_code_read_on_a_call,
    a_page_calls_after_the_rules_delay_and_digit_1_acknowledges,
    digit_9_resolves,
    a_call_nobody_answers_is_recorded_as_not_answered,
    forged_voice_callbacks_are_refused_and_change_nothing,
);

const NUMBER: &str = "+14155550142";

/// A deliveries column of the incident's pages over `channel`.
pub async fn channel_pages(
    app: &TestApp,
    incident: &str,
    channel: &str,
    column: &str,
) -> Vec<Option<String>> {
    devkit::delivery_column(&app.db_url, incident, channel, column)
        .await
        .unwrap()
}

/// Adds `number` as a voice method of `phone`'s responder and verifies it with the code the
/// mock Twilio's call read out; returns the method id.
async fn verified_voice(app: &TestApp, phone: &Phone, number: &str) -> String {
    let res = add_method(app, phone, json!({ "kind": "voice", "address": number })).await;
    assert_eq!(res.status(), 201);
    let created: Value = res.json().await.unwrap();
    assert_eq!(created["verification"]["sent"], true, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    let heard = app.twilio().wait_answered(number, 1, WAIT).await;
    assert_eq!(heard.len(), 1, "the verification call");
    let code = heard[0].spoken_code().expect("a code read digit by digit");
    assert!(
        heard[0].said()[0].contains(
            &code
                .chars()
                .map(String::from)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        "{:?}",
        heard[0].said()
    );
    let res = enter_code(app, phone, &id, &code).await;
    assert_eq!(res.status(), 200);
    let method: Value = res.json().await.unwrap();
    assert_eq!(method["verified"], true);
    id
}

/// The account manager, with a verified voice number called `delay` minutes into a page.
async fn voice_rules(app: &TestApp, phone: &Phone, delay: i64) {
    let voice = verified_voice(app, phone, NUMBER).await;
    let res = set_my_rules(
        app,
        phone,
        json!([{ "method": "push", "delay_minutes": 0 }, { "method": "voice", "method_id": voice, "delay_minutes": delay }]),
    )
    .await;
    assert_eq!(res.status(), 200);
}

async fn a_voice_number_is_verified_with_the_code_read_on_a_call(backend: TestBackend) {
    let app = spawn_app_with_twilio(backend, |_| {}).await;
    let c = app.gold_customer().await;
    verified_voice(&app, &c.account_manager, NUMBER).await;
    let calls = app.twilio().calls();
    assert_eq!(calls.len(), 1);
    // Read inline: the code never travels in a URL, and no callback is asked for.
    assert!(calls[0].url.is_none());
    assert!(calls[0].twiml.as_deref().unwrap().contains("<Say>"));
    assert!(calls[0].status_callback.is_none());
    assert_eq!(calls[0].from, app.twilio().from_number());
}

async fn a_page_calls_after_the_rules_delay_and_digit_1_acknowledges(backend: TestBackend) {
    let app = spawn_app_with_twilio(backend, |_| {}).await;
    let c = app.gold_customer().await;
    let am = &c.account_manager;
    voice_rules(&app, am, 3).await;
    let incident = press(&app, &c, "voice-ack").await;
    app.mocks()
        .apns
        .wait_accepted(Some(&am.push_token), 1, WAIT)
        .await;
    app.clock.advance(Duration::minutes(2));
    app.run_due_work().await;
    assert_eq!(
        app.twilio().calls().len(),
        1,
        "no page call before 3 minutes"
    );

    app.clock.advance(Duration::minutes(1));
    app.run_due_work().await;
    let heard = app.twilio().wait_answered(NUMBER, 2, WAIT).await;
    assert_eq!(heard.len(), 2, "the code, then the page");
    let page = &heard[1];
    assert_eq!(page.fetched, 200, "the gateway served the TwiML");
    let said = page.said().join(" ");
    assert!(said.contains("Acme Corp"), "{said}");
    assert!(said.contains("Press 1 to acknowledge"), "{said}");
    let delivery = channel_pages(&app, &incident, "voice", "id").await[0]
        .clone()
        .unwrap();
    assert_eq!(
        page.placed.url.as_deref(),
        Some(
            app.url(&format!("/v1/twilio/voice?delivery={delivery}"))
                .as_str()
        )
    );
    assert_eq!(
        page.gather_action().as_deref(),
        Some(
            app.url(&format!("/v1/twilio/voice/gather?delivery={delivery}"))
                .as_str()
        )
    );

    // Another digit: said so, the choices again, nothing changes.
    let (status, twiml) = app.twilio().press(&page.sid, "3").await;
    assert_eq!(status, 200);
    assert!(twiml.contains("That is not one of the choices."), "{twiml}");
    assert!(twiml.contains("<Gather"), "{twiml}");
    assert_eq!(incident_state(&app, &c, &incident).await, "triggered");

    let (status, twiml) = app.twilio().press(&page.sid, "1").await;
    assert_eq!(status, 200);
    assert!(
        twiml.contains("<Say>Incident acknowledged. Thank you. Goodbye.</Say><Hangup/>"),
        "{twiml}"
    );
    assert_eq!(incident_state(&app, &c, &incident).await, "acknowledged");
    let timeline = app.timeline_rows(&incident).await;
    let ack = timeline
        .iter()
        .find(|e| e["kind"] == "acknowledged")
        .expect("acknowledged in the timeline");
    assert_eq!(ack["detail"]["name"], "Alice Manager");
    // The call ends: Twilio's signed status callback records it answered.
    eventually(WAIT, "the call is recorded as answered", || async {
        channel_pages(&app, &incident, "voice", "provider_status").await
            == [Some("completed".to_owned())]
    })
    .await;
    assert_eq!(
        channel_pages(&app, &incident, "voice", "provider_message_id").await,
        [Some(page.sid.clone())]
    );
    let timeline = app.timeline_rows(&incident).await;
    assert!(
        timeline.iter().any(|e| e["kind"] == "delivery.answered"),
        "{timeline:?}"
    );
    // Twilio retrying the same digit (a timeout on its side): already done, nothing new.
    let form = [
        ("CallSid", page.sid.as_str()),
        ("To", NUMBER),
        ("From", app.twilio().from_number()),
        ("Digits", "1"),
    ];
    let gather = page.gather_action().unwrap();
    let res = app
        .client
        .post(&gather)
        .header("x-twilio-signature", app.twilio().sign(&gather, &form))
        .form(&form)
        .send()
        .await
        .unwrap();
    let twiml = res.text().await.unwrap();
    assert!(twiml.contains("already acknowledged"), "{twiml}");
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains(
            r#"panic_gateway_deliveries_total{outcome="accepted",provider="twilio_voice"} 1"#
        ),
        "{metrics}"
    );
}

async fn digit_9_resolves(backend: TestBackend) {
    let app = spawn_app_with_twilio(backend, |_| {}).await;
    let c = app.gold_customer().await;
    voice_rules(&app, &c.account_manager, 0).await;
    let incident = press(&app, &c, "voice-res").await;
    let heard = app.twilio().wait_answered(NUMBER, 2, WAIT).await;
    let (_, twiml) = app.twilio().press(&heard[1].sid, "9").await;
    assert!(twiml.contains("Incident resolved."), "{twiml}");
    assert_eq!(incident_state(&app, &c, &incident).await, "resolved");
}

async fn a_call_nobody_answers_is_recorded_as_not_answered(backend: TestBackend) {
    let app = spawn_app_with_twilio(backend, |_| {}).await;
    let c = app.gold_customer().await;
    voice_rules(&app, &c.account_manager, 0).await;
    app.twilio().callee(NUMBER, Callee::NoAnswer);
    let incident = press(&app, &c, "voice-no-answer").await;
    eventually(WAIT, "the call is recorded as not answered", || async {
        channel_pages(&app, &incident, "voice", "provider_status").await
            == [Some("no-answer".to_owned())]
    })
    .await;
    let timeline = app.timeline_rows(&incident).await;
    let event = timeline
        .iter()
        .find(|e| e["kind"] == "delivery.not_answered")
        .unwrap_or_else(|| panic!("{timeline:?}"));
    assert_eq!(event["detail"]["call_status"], "no-answer");
    assert_eq!(incident_state(&app, &c, &incident).await, "triggered");
    assert_eq!(
        app.twilio()
            .wait_answered(NUMBER, 2, std::time::Duration::from_millis(200))
            .await
            .len(),
        1,
        "only the verification call was answered"
    );
}

async fn forged_voice_callbacks_are_refused_and_change_nothing(backend: TestBackend) {
    let app = spawn_app_with_twilio(backend, |_| {}).await;
    let c = app.gold_customer().await;
    voice_rules(&app, &c.account_manager, 0).await;
    let incident = press(&app, &c, "voice-forged").await;
    let heard = app.twilio().wait_answered(NUMBER, 2, WAIT).await;
    let page = &heard[1];
    let gather = page.gather_action().unwrap();
    let form = [
        ("CallSid", page.sid.as_str()),
        ("To", NUMBER),
        ("From", app.twilio().from_number()),
        ("Digits", "1"),
    ];
    let signed_elsewhere = app
        .twilio()
        .sign("https://attacker.example/v1/twilio/voice/gather", &form);
    // Signed for this URL with another delivery's id: the query is part of what is signed.
    let other_delivery = app.twilio().sign(
        &app.url("/v1/twilio/voice/gather?delivery=00000000-0000-0000-0000-000000000000"),
        &form,
    );
    for signature in [
        None,
        Some("bm90IGEgc2lnbmF0dXJl"),
        Some(signed_elsewhere.as_str()),
        Some(other_delivery.as_str()),
    ] {
        let mut req = app.client.post(&gather).form(&form);
        if let Some(s) = signature {
            req = req.header("x-twilio-signature", s);
        }
        let problem = assert_problem(req.send().await.unwrap(), 403).await;
        assert!(problem["detail"]
            .as_str()
            .unwrap()
            .contains("X-Twilio-Signature"));
    }
    assert_eq!(incident_state(&app, &c, &incident).await, "triggered");
    // The TwiML route and the status callback too.
    let twiml_url = page.placed.url.clone().unwrap();
    let res = app
        .client
        .post(&twiml_url)
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_problem(res, 403).await;
    let status_url = page.placed.status_callback.clone().unwrap();
    let res = app
        .client
        .post(&status_url)
        .header("x-twilio-signature", "AAAA")
        .form(&[("CallSid", page.sid.as_str()), ("CallStatus", "no-answer")])
        .send()
        .await
        .unwrap();
    assert_problem(res, 403).await;
    assert_eq!(
        channel_pages(&app, &incident, "voice", "provider_status").await,
        [None]
    );
    // Correctly signed, but from a number that is not the person's: the call is refused.
    let stranger = [
        ("CallSid", page.sid.as_str()),
        ("To", "+14155550999"),
        ("From", app.twilio().from_number()),
        ("Digits", "1"),
    ];
    let res = app
        .client
        .post(&gather)
        .header("x-twilio-signature", app.twilio().sign(&gather, &stranger))
        .form(&stranger)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let twiml = res.text().await.unwrap();
    assert!(
        twiml.contains("not about a page for this number"),
        "{twiml}"
    );
    assert_eq!(incident_state(&app, &c, &incident).await, "triggered");
}
