//! Pages reaching phones through the real APNs and FCM clients, against local mock providers.

use std::time::Duration as StdDuration;

use chrono::Duration;
use panic_gateway::push::mock::Fault;
use panic_gateway::store::devkit;
use reqwest::Method;
use serde_json::{json, Value};

use crate::on_both_backends;
use crate::support::{
    eventually, p1_press, spawn_app_with_push, spawn_instance, GoldCustomer, Phone, TestApp,
    TestBackend,
};

on_both_backends!(
    a_p1_pages_the_account_managers_iphone_and_android_phone,
    a_dead_token_deactivates_only_that_device,
    a_503_then_200_is_retried_and_delivered_once,
    retry_after_is_honoured,
    an_apns_outage_does_not_hold_up_fcm,
    a_restart_between_commit_and_send_still_delivers,
    escalation_moves_on_when_a_provider_stays_down,
    the_customer_hears_who_acknowledged,
    pages_arrive_after_resets_and_refusals_stop,
    a_provider_refusing_our_configuration_is_reported_loudly,
    a_malformed_stored_token_never_reaches_the_provider,
);

const WAIT: StdDuration = StdDuration::from_secs(10);

async fn press(app: &TestApp, c: &GoldCustomer, key: &str) -> String {
    let res = app.press(&c.contact, key, &p1_press(key)).await;
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    body["incident"]["id"].as_str().unwrap().to_owned()
}

async fn delivery_states(app: &TestApp, incident: &str) -> Vec<(String, i64)> {
    devkit::page_states(&app.db_url, incident).await.unwrap()
}

async fn a_p1_pages_the_account_managers_iphone_and_android_phone(backend: TestBackend) {
    let app = spawn_app_with_push(backend, |_| {}).await;
    let c = app.gold_customer().await;
    let android = app.enroll(&c.account_manager.user_id, "android").await;
    let incident = press(&app, &c, "both").await;

    let apns = app
        .mocks()
        .apns
        .wait_accepted(Some(&c.account_manager.push_token), 1, WAIT)
        .await;
    let fcm = app
        .mocks()
        .fcm
        .wait_accepted(Some(&android.push_token), 1, WAIT)
        .await;
    assert_eq!(apns.len(), 1);
    assert_eq!(fcm.len(), 1);
    let page = &apns[0];
    assert_eq!(page.headers["apns-push-type"], "alert");
    assert_eq!(page.headers["apns-priority"], "10");
    assert_eq!(page.headers["apns-topic"], "com.example.panicbutton");
    assert!(page.headers["apns-collapse-id"].contains(&incident));
    assert_eq!(page.body["aps"]["interruption-level"], "critical");
    assert_eq!(page.body["aps"]["category"], "PANIC_PAGE");
    assert_eq!(page.body["aps"]["thread-id"], incident.as_str());
    assert!(page.body["aps"]["alert"]["title"]
        .as_str()
        .unwrap()
        .contains("Acme Corp"));
    let message = &fcm[0].message;
    assert_eq!(message["android"]["priority"], "HIGH");
    assert_eq!(
        message["android"]["notification"]["channel_id"],
        "panic_pages"
    );
    assert_eq!(message["data"]["incident_id"], incident.as_str());
    eventually(WAIT, "both deliveries are recorded as sent", || async {
        delivery_states(&app, &incident)
            .await
            .iter()
            .filter(|(s, _)| s == "sent")
            .count()
            == 2
    })
    .await;

    // The ack token in the payload acknowledges straight from the notification.
    let token = page.body["ack_token"].as_str().unwrap();
    let res = app
        .client
        .post(app.url(&format!("/v1/incidents/{incident}/acknowledge")))
        .json(&json!({ "ack_token": token }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let view: Value = res.json().await.unwrap();
    assert_eq!(view["acknowledged_by"]["name"], "Alice Manager");
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains(r#"panic_gateway_deliveries_total{outcome="accepted",provider="apns"}"#),
        "{metrics}"
    );
    assert!(metrics.contains("panic_gateway_push_send_seconds_bucket"));
}

async fn a_dead_token_deactivates_only_that_device(backend: TestBackend) {
    let app = spawn_app_with_push(backend, |_| {}).await;
    let c = app.gold_customer().await;
    let second: Phone = app.enroll(&c.account_manager.user_id, "ios").await;
    app.mocks().apns.fail(
        Some(&c.account_manager.push_token),
        Fault::status(410),
        None,
    );
    let incident = press(&app, &c, "dead").await;
    app.mocks()
        .apns
        .wait_accepted(Some(&second.push_token), 1, WAIT)
        .await;
    eventually(WAIT, "the dead device is deactivated", || async {
        app.count(&format!(
            "devices WHERE id = '{}' AND token_dead_at IS NOT NULL",
            c.account_manager.device_id
        ))
        .await
            == 1
    })
    .await;
    let devices: Value = app
        .admin(
            Method::GET,
            &format!("/v1/admin/devices?user_id={}", c.account_manager.user_id),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let dead: Vec<bool> = devices["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["push_token_dead"].as_bool().unwrap())
        .collect();
    assert_eq!(dead, [true, false]);
    assert_eq!(
        app.count(&format!(
            "incident_events WHERE incident_id = '{incident}' AND kind = 'delivery.token_dead'"
        ))
        .await,
        1
    );
    // A new token from the phone revives it.
    let res = app
        .with_token(
            Method::PUT,
            "/v1/devices/me/push-token",
            &c.account_manager.access_token,
        )
        .json(&json!({ "push_token": "f7e5".repeat(16) }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(
        app.count("devices WHERE token_dead_at IS NOT NULL").await,
        0
    );
}

async fn a_503_then_200_is_retried_and_delivered_once(backend: TestBackend) {
    let app = spawn_app_with_push(backend, |_| {}).await;
    let c = app.gold_customer().await;
    let token = c.account_manager.push_token.clone();
    app.mocks()
        .apns
        .fail(Some(&token), Fault::status(503), Some(1));
    let incident = press(&app, &c, "flaky").await;
    eventually(WAIT, "the refused first attempt is recorded", || async {
        app.count(&format!("deliveries WHERE incident_id = '{incident}' AND state = 'pending' AND last_error LIKE '%503%'")).await == 1
    })
    .await;
    // The retry waits for its backoff on the gateway's clock.
    app.clock.advance(Duration::seconds(2));
    app.mocks().apns.wait_accepted(Some(&token), 1, WAIT).await;
    eventually(WAIT, "recorded as sent after two attempts", || async {
        delivery_states(&app, &incident).await == [("sent".to_owned(), 2)]
    })
    .await;
    app.clock.advance(Duration::minutes(1));
    app.run_due_work().await;
    let to_token: Vec<u16> = app
        .mocks()
        .apns
        .received()
        .iter()
        .filter(|r| r.device_token == token)
        .map(|r| r.status)
        .collect();
    assert_eq!(to_token, [503, 200], "delivered exactly once");
}

async fn retry_after_is_honoured(backend: TestBackend) {
    let app = spawn_app_with_push(backend, |_| {}).await;
    let c = app.gold_customer().await;
    let token = c.account_manager.push_token.clone();
    app.mocks().apns.fail(
        Some(&token),
        Fault::Status {
            status: 429,
            retry_after: Some(120),
        },
        Some(1),
    );
    let incident = press(&app, &c, "slow-down").await;
    eventually(WAIT, "the provider asked to slow down", || async {
        delivery_states(&app, &incident).await == [("pending".to_owned(), 1)]
            && app
                .count(&format!(
                    "deliveries WHERE incident_id = '{incident}' AND last_error IS NOT NULL"
                ))
                .await
                == 1
    })
    .await;
    app.clock.advance(Duration::seconds(110));
    app.run_due_work().await;
    assert_eq!(
        app.mocks().apns.received().len(),
        1,
        "not before Retry-After"
    );
    app.clock.advance(Duration::seconds(11));
    app.mocks().apns.wait_accepted(Some(&token), 1, WAIT).await;
}

async fn an_apns_outage_does_not_hold_up_fcm(backend: TestBackend) {
    let app = spawn_app_with_push(backend, |_| {}).await;
    let c = app.gold_customer().await;
    let android = app.enroll(&c.account_manager.user_id, "android").await;
    app.mocks().apns.fail(None, Fault::Stall, None);
    press(&app, &c, "outage").await;
    let got = app
        .mocks()
        .fcm
        .wait_accepted(Some(&android.push_token), 1, StdDuration::from_secs(1))
        .await;
    assert_eq!(got.len(), 1, "FCM delivered while APNs hangs");
    app.mocks().apns.release();
}

async fn a_restart_between_commit_and_send_still_delivers(backend: TestBackend) {
    // The first gateway records the alert but dies before its dispatcher sends anything.
    let app = spawn_app_with_push(backend, |s| s.dispatch.enabled = false).await;
    let c = app.gold_customer().await;
    let incident = press(&app, &c, "crash").await;
    assert_eq!(
        delivery_states(&app, &incident).await,
        [("pending".to_owned(), 0)]
    );
    let mut settings = app.settings.clone();
    settings.dispatch.enabled = true;
    app.shutdown.trigger();
    let restarted = spawn_instance(&app, settings).await;
    restarted
        .mocks()
        .apns
        .wait_accepted(Some(&c.account_manager.push_token), 1, WAIT)
        .await;
    eventually(WAIT, "sent after the restart", || async {
        delivery_states(&restarted, &incident).await == [("sent".to_owned(), 1)]
    })
    .await;
}

async fn escalation_moves_on_when_a_provider_stays_down(backend: TestBackend) {
    let app = spawn_app_with_push(backend, |_| {}).await;
    let c = app.gold_customer().await;
    let engineer = app.create_user("responder", None, "Eve Engineer").await;
    app.admin_post(
        "/v1/admin/schedules",
        json!({ "name": "Primary", "role": "primary", "time_zone": "UTC",
                "rotations": [{ "name": "r", "participants": [engineer], "turn": "weekly", "handoff_time": "09:00:00", "start_date": "2020-01-06" }] }),
        201,
    )
    .await;
    let eve = app.enroll(&engineer, "android").await;
    app.mocks().apns.fail(None, Fault::status(503), None);
    let incident = press(&app, &c, "apns-down").await;
    // The account manager's iPhone cannot be reached; five minutes later the page moves on.
    for _ in 0..10 {
        app.clock.advance(Duration::seconds(30));
        app.run_due_work().await;
    }
    app.mocks()
        .fcm
        .wait_accepted(Some(&eve.push_token), 1, WAIT)
        .await;
    eventually(WAIT, "the unreachable page was given up", || async {
        app.count(&format!(
            "deliveries WHERE incident_id = '{incident}' AND user_id = '{}' AND state = 'failed'",
            c.account_manager.user_id
        ))
        .await
            == 1
    })
    .await;
}

async fn the_customer_hears_who_acknowledged(backend: TestBackend) {
    let app = spawn_app_with_push(backend, |_| {}).await;
    let c = app.gold_customer().await;
    let incident = press(&app, &c, "notify").await;
    app.mocks()
        .apns
        .wait_accepted(Some(&c.account_manager.push_token), 1, WAIT)
        .await;
    let res = app
        .with_token(
            Method::POST,
            &format!("/v1/incidents/{incident}/acknowledge"),
            &c.account_manager.access_token,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let update = app
        .mocks()
        .apns
        .wait_accepted(Some(&c.contact.push_token), 1, WAIT)
        .await;
    assert_eq!(update.len(), 1);
    assert_eq!(update[0].body["aps"]["interruption-level"], "active");
    assert_eq!(
        update[0].body["aps"]["alert"]["body"],
        "Acknowledged by Alice Manager."
    );
    assert!(update[0].body["ack_token"].is_null());
}

async fn pages_arrive_after_resets_and_refusals_stop(backend: TestBackend) {
    let app = spawn_app_with_push(backend, |_| {}).await;
    let c = app.gold_customer().await;
    let android = app.enroll(&c.account_manager.user_id, "android").await;
    let token = c.account_manager.push_token.clone();
    // APNs resets the stream twice; FCM is over quota once, then both recover.
    app.mocks().apns.fail(Some(&token), Fault::Reset, Some(2));
    app.mocks().fcm.fail(
        Some(&android.push_token),
        Fault::Status {
            status: 429,
            retry_after: None,
        },
        Some(1),
    );
    let incident = press(&app, &c, "reset").await;
    for _ in 0..40 {
        if delivery_states(&app, &incident)
            .await
            .iter()
            .all(|(s, _)| s == "sent")
        {
            break;
        }
        app.clock.advance(Duration::seconds(5));
        app.run_due_work().await;
    }
    app.mocks().apns.wait_accepted(Some(&token), 1, WAIT).await;
    app.mocks()
        .fcm
        .wait_accepted(Some(&android.push_token), 1, WAIT)
        .await;
    let states = delivery_states(&app, &incident).await;
    assert!(states.iter().all(|(s, _)| s == "sent"), "{states:?}");
    let apns_attempts = states.iter().map(|(_, a)| *a).max().unwrap();
    assert!(apns_attempts >= 3, "two resets, then delivered: {states:?}");
}

async fn a_provider_refusing_our_configuration_is_reported_loudly(backend: TestBackend) {
    // A key id Apple does not know: every APNs send is refused as InvalidProviderToken.
    let app = spawn_app_with_push(backend, |s| s.push.apns.key_id = "WRONGKEY01".into()).await;
    let c = app.gold_customer().await;
    let android = app.enroll(&c.account_manager.user_id, "android").await;
    let incident = press(&app, &c, "bad-key").await;
    // Android is still paged; iOS fails as a configuration error, not a retry.
    app.mocks()
        .fcm
        .wait_accepted(Some(&android.push_token), 1, WAIT)
        .await;
    eventually(WAIT, "the iOS page fails as fatal", || async {
        app.count(&format!("deliveries WHERE incident_id = '{incident}' AND state = 'failed' AND last_error LIKE '%InvalidProviderToken%'")).await == 1
    })
    .await;
    let ready: Value = app.get("/readyz").await.json().await.unwrap();
    assert_eq!(ready["status"], "ready", "alerts are still accepted");
    assert_eq!(ready["push"]["status"], "degraded");
    assert_eq!(
        ready["push"]["platforms"]["ios"], "rejected_configuration",
        "{ready}"
    );
    assert_eq!(ready["push"]["platforms"]["android"], "ok");
    // Apple's own words are in the log, not on the network.
    assert!(
        !ready.to_string().contains("InvalidProviderToken"),
        "{ready}"
    );
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains(r#"panic_gateway_deliveries_total{outcome="fatal",provider="apns"} 1"#),
        "{metrics}"
    );
}

/// A token stored before tokens were checked, that could steer the provider request, is
/// treated as dead: that device is deactivated and the provider never sees the token.
async fn a_malformed_stored_token_never_reaches_the_provider(backend: TestBackend) {
    let app = spawn_app_with_push(backend, |_| {}).await;
    let c = app.gold_customer().await;
    let android = app.enroll(&c.account_manager.user_id, "android").await;
    let evil = "../../v1/projects/other/messages:send";
    devkit::store_unchecked_push_token(&app.db_url, &android.device_id, evil)
        .await
        .unwrap();
    let incident = press(&app, &c, "malformed").await;
    app.mocks()
        .apns
        .wait_accepted(Some(&c.account_manager.push_token), 1, WAIT)
        .await;
    eventually(WAIT, "the malformed token is marked dead", || {
        let app = &app;
        let device = android.device_id.clone();
        async move {
            app.count(&format!(
                "devices WHERE id = '{device}' AND token_dead_at IS NOT NULL"
            ))
            .await
                == 1
        }
    })
    .await;
    assert_eq!(
        app.count(&format!(
            "incident_events WHERE incident_id = '{incident}' AND kind = 'delivery.token_dead'"
        ))
        .await,
        1
    );
    assert!(app
        .mocks()
        .fcm
        .received()
        .iter()
        .all(|r| r.device_token != evil));
}
