//! Escalation policies, on-call schedules, acknowledgement and resolution.

use std::time::Duration as StdDuration;

use chrono::Duration;
use reqwest::Method;
use serde_json::{json, Value};

use panic_gateway::store::devkit;

use crate::on_both_backends;
use crate::support::{
    assert_problem, eventually, p1_press, spawn_app, spawn_app_with, spawn_second_instance,
    GoldCustomer, Phone, TestApp, TestBackend,
};

on_both_backends!(
    an_unanswered_page_climbs_the_policy_until_it_is_exhausted,
    acknowledgement_stops_escalation_and_tells_the_customer,
    an_update_a_stopped_gateway_left_is_told_once,
    the_ack_token_from_the_page_acknowledges_without_a_session,
    only_paged_responders_or_support_managers_may_act,
    a_step_with_no_deliverable_device_is_skipped_at_once,
    an_unavailable_account_manager_hands_over_to_the_delegate,
    schedules_answer_who_is_on_call_with_overrides,
    policies_that_cannot_keep_the_promise_are_refused_with_the_arithmetic,
    a_customer_policy_replaces_the_default,
    two_gateways_advance_each_deadline_once,
    driving_the_due_work_advances_a_deadline_without_the_loops,
);

struct Team {
    customer: GoldCustomer,
    primary: Phone,
    secondary: Phone,
    manager: Phone,
}

fn rotation(user: &str) -> Value {
    json!({ "name": "main", "participants": [user], "turn": "daily", "handoff_time": "09:00:00", "start_date": "2020-01-06" })
}

async fn schedule(app: &TestApp, name: &str, role: &str, user: &str) -> String {
    let body = app
        .admin_post(
            "/v1/admin/schedules",
            json!({ "name": name, "role": role, "time_zone": "Europe/Paris", "rotations": [rotation(user)] }),
            201,
        )
        .await;
    body["id"].as_str().unwrap().to_owned()
}

async fn team(app: &TestApp) -> Team {
    let customer = app.gold_customer().await;
    let e1 = app.create_user("responder", None, "Pat Primary").await;
    let e2 = app.create_user("responder", None, "Sam Secondary").await;
    let sm = app
        .create_user("support_manager", None, "Morgan Manager")
        .await;
    schedule(app, "Primary on-call", "primary", &e1).await;
    schedule(app, "Secondary on-call", "secondary", &e2).await;
    Team {
        customer,
        primary: app.enroll(&e1, "android").await,
        secondary: app.enroll(&e2, "ios").await,
        manager: app.enroll(&sm, "ios").await,
    }
}

async fn pages_to(app: &TestApp, incident: &str, user: &str) -> i64 {
    app.count(&format!(
        "deliveries WHERE incident_id = '{incident}' AND user_id = '{user}' AND kind = 'page'"
    ))
    .await
}

async fn events(app: &TestApp, incident: &str, kind: &str) -> i64 {
    app.count(&format!(
        "incident_events WHERE incident_id = '{incident}' AND kind = '{kind}'"
    ))
    .await
}

/// A P1 press for a service of its own (the key), so every press opens an incident.
async fn press(app: &TestApp, phone: &Phone, key: &str) -> Value {
    let res = app.press(phone, key, &p1_press(key)).await;
    assert_eq!(res.status(), 201);
    res.json().await.unwrap()
}

const WAIT: StdDuration = StdDuration::from_secs(10);

async fn an_unanswered_page_climbs_the_policy_until_it_is_exhausted(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let t = team(&app).await;
    let body = press(&app, &t.customer.contact, "climb").await;
    let incident = body["incident"]["id"].as_str().unwrap().to_owned();
    let am = &t.customer.account_manager.user_id;
    assert_eq!(pages_to(&app, &incident, am).await, 1);
    assert_eq!(pages_to(&app, &incident, &t.primary.user_id).await, 0);

    // Nothing moves before the deadline.
    app.clock.advance(Duration::minutes(4));
    app.run_due_work().await;
    assert_eq!(pages_to(&app, &incident, &t.primary.user_id).await, 0);

    // Step 2 after 5 minutes: the primary on-call engineer.
    app.clock.advance(Duration::minutes(1));
    eventually(WAIT, "the primary on-call engineer is paged", || async {
        pages_to(&app, &incident, &t.primary.user_id).await == 1
    })
    .await;
    // Step 3 after 5 more: secondary on-call and the support managers.
    app.clock.advance(Duration::minutes(5));
    eventually(WAIT, "secondary and support manager are paged", || async {
        pages_to(&app, &incident, &t.secondary.user_id).await == 1
            && pages_to(&app, &incident, &t.manager.user_id).await == 1
    })
    .await;
    // Then the chain repeats twice more (3 passes) and is exhausted.
    for pass in 2..=3 {
        app.clock.advance(Duration::minutes(10));
        eventually(WAIT, "the account manager is paged again", || async {
            pages_to(&app, &incident, am).await == pass
        })
        .await;
        app.clock.advance(Duration::minutes(5));
        eventually(WAIT, "primary again", || async {
            pages_to(&app, &incident, &t.primary.user_id).await == pass
        })
        .await;
        app.clock.advance(Duration::minutes(5));
        eventually(WAIT, "secondary again", || async {
            pages_to(&app, &incident, &t.secondary.user_id).await == pass
        })
        .await;
    }
    app.clock.advance(Duration::minutes(10));
    eventually(WAIT, "the incident is marked unanswered", || async {
        events(&app, &incident, "unanswered").await == 1
    })
    .await;
    assert_eq!(events(&app, &incident, "escalated").await, 8);
    app.clock.advance(Duration::minutes(60));
    app.run_due_work().await;
    assert_eq!(
        pages_to(&app, &incident, am).await,
        3,
        "no pages after the chain ran out"
    );
}

async fn acknowledge(app: &TestApp, incident: &str, phone: &Phone) -> reqwest::Response {
    app.with_token(
        Method::POST,
        &format!("/v1/incidents/{incident}/acknowledge"),
        &phone.access_token,
    )
    .send()
    .await
    .unwrap()
}

/// The acknowledgement's transaction records the customer's update; its fan-out to their
/// phones follows the answer. A gateway stopped in between leaves the update unsent: the
/// escalator's round sends it, once however many rounds and gateways look.
async fn an_update_a_stopped_gateway_left_is_told_once(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let t = team(&app).await;
    let body = press(&app, &t.customer.contact, "left").await;
    let incident = body["incident"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        acknowledge(&app, &incident, &t.customer.account_manager)
            .await
            .status(),
        200
    );
    let notices = format!("deliveries WHERE incident_id = '{incident}' AND kind = 'update'");
    eventually(
        StdDuration::from_secs(5),
        "the update fanned out",
        || async { app.count(&notices).await == 1 },
    )
    .await;

    // As a gateway stopped between the commit and the fan-out leaves it.
    devkit::forget_customer_update_fan_outs(&app.db_url)
        .await
        .unwrap();
    let second = spawn_second_instance(&app).await;
    // Two gateways' rounds at once (and their loops meanwhile): one fans it out.
    let rounds = [&app, &second].map(|g| g.engine.escalator.clone().expect("an escalator"));
    let (a, b) = tokio::join!(
        rounds[0].fan_out_pending_updates(),
        rounds[1].fan_out_pending_updates()
    );
    assert!(a.unwrap() + b.unwrap() <= 1);
    eventually(
        StdDuration::from_secs(5),
        "the update fanned out again",
        || async { app.count(&notices).await == 1 },
    )
    .await;
    app.run_due_work().await;
    second.run_due_work().await;
    assert_eq!(app.count(&notices).await, 1, "told once");
    assert_eq!(
        app.count("customer_updates WHERE fanned_out_at IS NULL")
            .await,
        0
    );
    second.stop().await;
    app.stop().await;
}

async fn acknowledgement_stops_escalation_and_tells_the_customer(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let t = team(&app).await;
    let body = press(&app, &t.customer.contact, "ack").await;
    let incident = body["incident"]["id"].as_str().unwrap().to_owned();
    let am = &t.customer.account_manager;

    let res = acknowledge(&app, &incident, am).await;
    assert_eq!(res.status(), 200);
    let view: Value = res.json().await.unwrap();
    assert_eq!(view["state"], "acknowledged");
    assert_eq!(view["acknowledged_by"]["name"], "Alice Manager");
    assert!(view["acknowledged_at"].is_string());
    // The customer's phone gets a normal notification saying who is on it, queued right
    // after the answer.
    let notices = format!(
        "deliveries WHERE incident_id = '{incident}' AND user_id = '{}' AND kind = 'update' AND body LIKE '%Alice Manager%'",
        t.customer.contact.user_id
    );
    eventually(
        StdDuration::from_secs(5),
        "the customer's update queued",
        || async { app.count(&notices).await == 1 },
    )
    .await;
    assert_eq!(
        app.count(&format!(
            "deliveries WHERE incident_id = '{incident}' AND kind = 'page' AND state = 'pending'"
        ))
        .await,
        0,
        "no page is left pending"
    );

    // Twice is fine.
    let again = acknowledge(&app, &incident, am).await;
    assert_eq!(again.status(), 200);
    assert_eq!(events(&app, &incident, "acknowledged").await, 1);

    // The customer sees who and when.
    let seen: Value = app
        .with_token(
            Method::GET,
            &format!("/v1/incidents/{incident}"),
            &t.customer.contact.access_token,
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(seen["acknowledged_by"]["name"], "Alice Manager", "{seen}");

    // Resolve, then acknowledging is a conflict; a new press opens a new incident.
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
    let resolved: Value = res.json().await.unwrap();
    assert_eq!(resolved["state"], "resolved");
    let body = assert_problem(acknowledge(&app, &incident, am).await, 409).await;
    assert_eq!(body["type"], "urn:panic-gateway:problem:incident-resolved");
    let next = press(&app, &t.customer.contact, "after-resolve").await;
    assert_eq!(next["outcome"], "opened");
    assert_ne!(next["incident"]["id"], incident.as_str());

    let mine: Value = app
        .with_token(Method::GET, "/v1/responders/me/incidents", &am.access_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(mine.as_array().unwrap().len(), 2);
    assert_eq!(mine[0]["id"], next["incident"]["id"], "newest first");

    // Escalation stopped with the acknowledgement: nobody else was paged for the first one.
    app.clock.advance(Duration::minutes(30));
    app.run_due_work().await;
    assert_eq!(pages_to(&app, &incident, &t.primary.user_id).await, 0);
}

async fn the_ack_token_from_the_page_acknowledges_without_a_session(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let t = team(&app).await;
    let body = press(&app, &t.customer.contact, "token").await;
    let incident = body["incident"]["id"].as_str().unwrap().to_owned();
    let auth = &app.settings.auth;
    let issuer = panic_gateway::auth::tokens::TokenIssuer::new(
        &panic_gateway::auth::decode_secret(&auth.jwt_secret).unwrap(),
        &auth.issuer,
        &auth.audience,
        Duration::minutes(15),
    );
    let am = &t.customer.account_manager.user_id;
    let am_device = &t.customer.account_manager.device_id;
    let now = app.clock_now();
    let expires = app.clock_now() + Duration::minutes(5);
    let ack = |incident: &str, token: String| {
        let app = &app;
        let url = format!("/v1/incidents/{incident}/acknowledge");
        async move {
            app.client
                .post(app.url(&url))
                .json(&json!({ "ack_token": token }))
                .send()
                .await
                .unwrap()
        }
    };
    // A token for another incident, a forged one, none at all.
    let wrong = issuer.issue_ack(am, am_device, "another-incident", expires, now);
    assert_problem(ack(&incident, wrong).await, 403).await;
    assert_problem(ack(&incident, "forged.token.value".into()).await, 401).await;
    let res = app
        .client
        .post(app.url(&format!("/v1/incidents/{incident}/acknowledge")))
        .send()
        .await
        .unwrap();
    assert_problem(res, 401).await;
    // An access token is no ack token.
    assert_problem(
        ack(&incident, t.customer.account_manager.access_token.clone()).await,
        401,
    )
    .await;

    let res = ack(
        &incident,
        issuer.issue_ack(am, am_device, &incident, expires, now),
    )
    .await;
    assert_eq!(res.status(), 200);
    let view: Value = res.json().await.unwrap();
    assert_eq!(view["acknowledged_by"]["name"], "Alice Manager");

    // Expired with its window.
    app.clock.advance(Duration::minutes(6));
    let late = issuer.issue_ack(am, am_device, &incident, expires, now);
    assert_problem(ack(&incident, late).await, 401).await;
}

async fn only_paged_responders_or_support_managers_may_act(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let t = team(&app).await;
    let body = press(&app, &t.customer.contact, "who").await;
    let incident = body["incident"]["id"].as_str().unwrap().to_owned();
    // The primary engineer has not been paged yet; a customer is no responder.
    let body = assert_problem(acknowledge(&app, &incident, &t.primary).await, 403).await;
    assert_eq!(body["type"], "urn:panic-gateway:problem:not-paged");
    assert_problem(acknowledge(&app, &incident, &t.customer.contact).await, 403).await;
    // A support manager may act on any incident.
    let res = acknowledge(&app, &incident, &t.manager).await;
    assert_eq!(res.status(), 200);
    let view: Value = res.json().await.unwrap();
    assert_eq!(view["acknowledged_by"]["name"], "Morgan Manager");
    assert_problem(acknowledge(&app, "no-such-incident", &t.manager).await, 404).await;
}

async fn a_step_with_no_deliverable_device_is_skipped_at_once(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let t = team(&app).await;
    // The account manager's only phone is revoked: step 1 reaches nobody.
    app.admin(
        Method::POST,
        &format!(
            "/v1/admin/devices/{}/revoke",
            t.customer.account_manager.device_id
        ),
    )
    .send()
    .await
    .unwrap();
    let body = press(&app, &t.customer.contact, "skip").await;
    assert_eq!(body["paging"]["first"]["name"], "Pat Primary");
    assert_eq!(body["paging"]["first"]["role"], "on_call:Primary on-call");
    let incident = body["incident"]["id"].as_str().unwrap().to_owned();
    assert_eq!(pages_to(&app, &incident, &t.primary.user_id).await, 1);
    assert_eq!(events(&app, &incident, "step.skipped").await, 1);
}

async fn an_unavailable_account_manager_hands_over_to_the_delegate(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let t = team(&app).await;
    let am = &t.customer.account_manager;
    let now = app.clock_now();
    let res = app
        .with_token(Method::POST, "/v1/responders/me/unavailability", &am.access_token)
        .json(&json!({ "starts_at": now - Duration::hours(1), "ends_at": now + Duration::hours(8), "delegate_id": t.secondary.user_id }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let body = press(&app, &t.customer.contact, "away").await;
    assert_eq!(body["paging"]["first"]["name"], "Sam Secondary");
    assert_eq!(body["paging"]["first"]["role"], "account_manager_delegate");

    let res = app
        .with_token(
            Method::POST,
            "/v1/responders/me/unavailability",
            &am.access_token,
        )
        .json(&json!({ "starts_at": now, "ends_at": now - Duration::hours(1) }))
        .send()
        .await
        .unwrap();
    let problem = assert_problem(res, 422).await;
    assert_eq!(problem["errors"][0]["field"], "ends_at");
}

async fn schedules_answer_who_is_on_call_with_overrides(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let a = app.create_user("responder", None, "Ann").await;
    let b = app.create_user("responder", None, "Ben").await;
    let body = app
        .admin_post(
            "/v1/admin/schedules",
            json!({
                "name": "Follow the sun", "time_zone": "Europe/London",
                "rotations": [{ "name": "weekly", "participants": [a, b], "turn": "weekly",
                                "handoff_time": "09:00:00", "start_date": "2024-01-01" }]
            }),
            201,
        )
        .await;
    let id = body["id"].as_str().unwrap();
    let who = |at: &str| {
        let app = &app;
        let url = format!("/v1/schedules/{id}/on-call?at={at}");
        async move {
            let v: Value = app
                .admin(Method::GET, &url)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            v["on_call"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["name"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    // Monday 2024-01-01 09:00 London (UTC in winter): Ann's week, then Ben's.
    assert_eq!(who("2024-01-01T09:00:00Z").await, ["Ann"]);
    assert_eq!(who("2024-01-08T08:59:59Z").await, ["Ann"]);
    assert_eq!(who("2024-01-08T09:00:00Z").await, ["Ben"]);
    // Summer time: the hand-off stays at 09:00 London, 08:00 UTC.
    assert_eq!(
        who("2024-04-01T07:59:00Z").await,
        who("2024-03-25T09:00:00Z").await
    );
    assert_ne!(
        who("2024-04-01T08:00:00Z").await,
        who("2024-04-01T07:59:00Z").await
    );

    let res = app
        .admin(Method::POST, &format!("/v1/admin/schedules/{id}/overrides"))
        .json(&json!({ "user_id": b, "start": "2024-01-02T00:00:00Z", "end": "2024-01-03T00:00:00Z" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    assert_eq!(who("2024-01-02T12:00:00Z").await, ["Ben"]);
    assert_eq!(who("2024-01-03T12:00:00Z").await, ["Ann"]);

    let bad = app
        .admin_post(
            "/v1/admin/schedules",
            json!({ "name": "Empty", "time_zone": "Europe/London",
                    "rotations": [{ "name": "r", "participants": [], "turn": "daily", "handoff_time": "09:00:00", "start_date": "2024-01-01" }] }),
            422,
        )
        .await;
    assert_eq!(bad["errors"][0]["field"], "rotations[0].participants");
    let bad = app
        .admin_post(
            "/v1/admin/schedules",
            json!({ "name": "Mars", "time_zone": "Mars/Olympus", "rotations": [rotation(&a)] }),
            422,
        )
        .await;
    assert_eq!(bad["errors"][0]["field"], "time_zone");
    let dup = app
        .admin(Method::POST, "/v1/admin/schedules")
        .json(&json!({ "name": "Follow the sun", "time_zone": "UTC", "rotations": [rotation(&a)] }))
        .send()
        .await
        .unwrap();
    assert_problem(dup, 409).await;

    let all: Value = app
        .admin(Method::GET, "/v1/oncall")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(all.as_array().unwrap().len(), 1);
    let res = app.get(&format!("/v1/schedules/{id}/on-call")).await;
    assert_problem(res, 401).await;
}

async fn policies_that_cannot_keep_the_promise_are_refused_with_the_arithmetic(
    backend: TestBackend,
) {
    let app = spawn_app(backend).await;
    let slow = json!({
        "name": "too slow", "tier": "gold", "repeat": 0,
        "steps": [
            { "targets": [{ "type": "account_manager" }], "ack_timeout_minutes": 10 },
            { "targets": [{ "type": "support_managers" }], "ack_timeout_minutes": 10 },
            { "targets": [{ "type": "support_managers" }], "ack_timeout_minutes": 10 }
        ]
    });
    let res = app
        .admin(Method::PUT, "/v1/admin/policies")
        .json(&slow)
        .send()
        .await
        .unwrap();
    let body = assert_problem(res, 422).await;
    let detail = body["errors"][0]["detail"].as_str().unwrap();
    assert!(detail.contains("10 min + 10 min = 20 min"), "{detail}");
    assert!(detail.contains("15 min"), "{detail}");

    let empty = json!({ "name": "none", "tier": "gold", "steps": [] });
    let res = app
        .admin(Method::PUT, "/v1/admin/policies")
        .json(&empty)
        .send()
        .await
        .unwrap();
    assert_eq!(
        assert_problem(res, 422).await["errors"][0]["field"],
        "steps"
    );
    let policies: Value = app
        .admin(Method::GET, "/v1/admin/policies")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        policies["items"].as_array().unwrap().len(),
        0,
        "nothing stored"
    );
}

async fn a_customer_policy_replaces_the_default(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let t = team(&app).await;
    let policy = json!({
        "name": "straight to the manager", "customer_id": t.customer.customer_id, "repeat": 1,
        "steps": [{ "targets": [{ "type": "support_managers" }], "ack_timeout_minutes": 5 }]
    });
    let res = app
        .admin(Method::PUT, "/v1/admin/policies")
        .json(&policy)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body = press(&app, &t.customer.contact, "custom").await;
    assert_eq!(body["paging"]["first"]["name"], "Morgan Manager");
    let incident = body["incident"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        pages_to(&app, &incident, &t.customer.account_manager.user_id).await,
        0
    );
    app.clock.advance(Duration::minutes(5));
    eventually(WAIT, "the repeat pages the manager again", || async {
        pages_to(&app, &incident, &t.manager.user_id).await == 2
    })
    .await;
}

async fn two_gateways_advance_each_deadline_once(backend: TestBackend) {
    let first = spawn_app(backend).await;
    let second = spawn_second_instance(&first).await;
    let t = team(&first).await;
    let mut incidents = Vec::new();
    for i in 0..5 {
        let body = press(&second, &t.customer.contact, &format!("twin-{i}")).await;
        let _ = body;
        let res = first
            .press(
                &t.customer.contact,
                &format!("twin-other-{i}"),
                &p1_press(&format!("service {i}")),
            )
            .await;
        let body: Value = res.json().await.unwrap();
        incidents.push(body["incident"]["id"].as_str().unwrap().to_owned());
    }
    first.clock.advance(Duration::minutes(5));
    for incident in &incidents {
        eventually(WAIT, "step 2 is paged", || async {
            pages_to(&first, incident, &t.primary.user_id).await >= 1
        })
        .await;
    }
    // Both gateways run whatever is still due: still exactly one advance per deadline.
    first.run_due_work().await;
    second.run_due_work().await;
    for incident in &incidents {
        assert_eq!(pages_to(&first, incident, &t.primary.user_id).await, 1);
        assert_eq!(events(&first, incident, "escalated").await, 1);
    }
}

/// `run_due_work` is what the suite proves things with, so it must work alone: with the
/// escalator's and SLA watch's loops asleep for an hour after their first round, the deadline
/// advances exactly when the test drives it, and once.
async fn driving_the_due_work_advances_a_deadline_without_the_loops(backend: TestBackend) {
    let app = spawn_app_with(backend, |s| s.escalation.sweep_interval_ms = 3_600_000).await;
    let t = team(&app).await;
    let body = press(&app, &t.customer.contact, "driven").await;
    let incident = body["incident"]["id"].as_str().unwrap().to_owned();

    app.clock.advance(Duration::minutes(4));
    assert_eq!(app.run_due_work().await.escalated, 0, "not due yet");
    assert_eq!(pages_to(&app, &incident, &t.primary.user_id).await, 0);

    app.clock.advance(Duration::minutes(1));
    let done = app.run_due_work().await;
    assert_eq!(done.escalated, 1, "{done:?}");
    assert!(done.settled);
    assert_eq!(pages_to(&app, &incident, &t.primary.user_id).await, 1);
    assert_eq!(events(&app, &incident, "escalated").await, 1);
    assert_eq!(app.run_due_work().await.escalated, 0, "each deadline once");
}
