//! What a customer's contact reads of an incident, against what a responder reads.

use std::time::Duration as StdDuration;

use chrono::Duration;
use panic_gateway::push::mock::Fault;
use reqwest::Method;
use serde_json::{json, Value};

use crate::on_both_backends;
use crate::support::{eventually, p1_press, spawn_app_with_push, TestBackend};

on_both_backends!(the_customer_sees_progress_not_devices_errors_or_staff_absences,);

const WAIT: StdDuration = StdDuration::from_secs(10);

async fn the_customer_sees_progress_not_devices_errors_or_staff_absences(backend: TestBackend) {
    let app = spawn_app_with_push(backend, |_| {}).await;
    let c = app.gold_customer().await;
    let am = &c.account_manager;
    let pat = app.create_user("responder", None, "Pat Primary").await;
    app.admin_post(
        "/v1/admin/schedules",
        json!({ "name": "Primary on-call", "role": "primary", "time_zone": "Europe/Paris",
                "rotations": [{ "name": "main", "participants": [pat], "turn": "daily",
                                "handoff_time": "09:00:00", "start_date": "2020-01-06" }] }),
        201,
    )
    .await;
    let pat = app.enroll(&pat, "ios").await;
    // The account manager is away with no delegate: step 1 is skipped for that reason.
    let now = app.clock_now();
    let res = app
        .with_token(
            Method::POST,
            "/v1/responders/me/unavailability",
            &am.access_token,
        )
        .json(
            &json!({ "starts_at": now - Duration::hours(1), "ends_at": now + Duration::hours(8) }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    // Pat's phone is gone: APNs says so in its own words.
    app.mocks()
        .apns
        .fail(Some(&pat.push_token), Fault::status(410), None);

    let res = app.press(&c.contact, "view", &p1_press("checkout")).await;
    assert_eq!(res.status(), 201);
    let pressed: Value = res.json().await.unwrap();
    let incident = pressed["incident"]["id"].as_str().unwrap().to_owned();
    let ticket_ref = pressed["ticket_ref"].as_str().unwrap().to_owned();
    eventually(WAIT, "the failed delivery is on the timeline", || async {
        app.count(&format!(
            "incident_events WHERE incident_id = '{incident}' AND kind = 'delivery.token_dead'"
        ))
        .await
            == 1
    })
    .await;
    // A support engineer lowers the ticket with an admin key.
    app.clock.advance(Duration::seconds(1));
    app.admin_post(
        "/v1/tickets",
        json!({ "customer_id": c.customer_id, "external_ref": ticket_ref, "subject": "Checkout", "priority": "P2" }),
        200,
    )
    .await;
    // The account manager takes it.
    app.clock.advance(Duration::seconds(1));
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

    let read = |token: String| {
        let app = &app;
        let url = format!("/v1/incidents/{incident}");
        async move {
            let res = app
                .with_token(Method::GET, &url, &token)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200);
            res.json::<Value>().await.unwrap()
        }
    };
    let full = read(am.access_token.clone()).await;
    let full_text = full["timeline"].to_string();
    let customer = read(c.contact.access_token.clone()).await;
    let customer_text = customer["timeline"].to_string();

    // What the responder sees and the customer must not: device ids, the provider's error,
    // the absence, the admin key.
    let admin_actor = full["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "ticket.priority_changed")
        .and_then(|e| e["actor"].as_str())
        .expect("the admin change is on the responder's timeline")
        .to_owned();
    assert!(admin_actor.starts_with("admin:"), "{admin_actor}");
    let provider_error = full["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "delivery.token_dead")
        .and_then(|e| e["detail"]["error"].as_str())
        .expect("the provider's error is on the responder's timeline")
        .to_owned();
    let secrets = [
        pat.device_id.as_str(),
        c.contact.device_id.as_str(),
        pat.push_token.as_str(),
        provider_error.as_str(),
        "unavailable",
        admin_actor.as_str(),
        "device:",
        "\"device_id\"",
        "\"error\"",
        "\"actor\"",
        "step.skipped",
        "delivery.token_dead",
    ];
    assert!(full_text.contains("unavailable"), "{full_text}");
    for secret in secrets {
        assert!(
            !customer_text.contains(secret),
            "the customer sees {secret:?}: {customer_text}"
        );
    }

    // What the customer does see: paging in words, who acknowledged and when.
    let events = customer["timeline"].as_array().unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    for kind in ["opened", "paging", "priority", "acknowledged"] {
        assert!(kinds.contains(&kind), "{kind} missing from {kinds:?}");
    }
    let ack = events.iter().find(|e| e["kind"] == "acknowledged").unwrap();
    assert_eq!(ack["detail"]["name"], "Alice Manager");
    assert_eq!(ack["text"], "Acknowledged by Alice Manager.");
    assert_eq!(ack["at"], customer["acknowledged_at"]);
    let paging = events.iter().find(|e| e["kind"] == "paging").unwrap();
    assert_eq!(paging["detail"]["people_paged"], 1);
}
