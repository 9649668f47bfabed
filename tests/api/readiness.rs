//! Readiness before the crisis: an on-call engineer whose only device's token is dead (found
//! by the shift reminder's silent push) is reported before their shift starts, on `/readyz`,
//! on the admin route and to the support managers once; recovery clears it. An empty
//! notification policy is reported and a verified SMS is enough; the reminder goes out once
//! per shift with two gateways; a round-robin member with only a verified SMS is picked and
//! texted; the promise check counts the rules' delays.

use chrono::{DateTime, Duration, Utc};
use panic_gateway::push::mock::Fault;
use panic_gateway::store::devkit;
use reqwest::Method;
use serde_json::{json, Value};

use super::contact_methods::{set_my_rules, WAIT};
use crate::on_both_backends;
use crate::support::{
    assert_problem, eventually, p1_press, spawn_app_with_push, spawn_app_with_twilio,
    spawn_second_instance, GoldCustomer, Phone, TestApp, TestBackend,
};

on_both_backends!(
    a_dead_token_is_reported_before_the_shift_starts_and_recovery_clears_it,
    an_empty_notification_policy_is_reported_and_a_verified_sms_is_enough,
    the_reminder_goes_out_once_per_shift_with_two_gateways,
    a_team_member_with_only_a_verified_sms_is_picked_and_texted,
    the_promise_check_counts_the_rules_delays,
);

/// The readiness worker on, its loop slow: the test drives rounds with `run_due_work`.
fn readiness_on(s: &mut panic_gateway::config::Settings) {
    s.readiness.enabled = true;
    s.readiness.interval_ms = 3_600_000;
}

fn utc(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

/// Ann and Ben take daily turns at 09:00 Europe/Berlin (Ann's turn on 2027-03-16); the clock
/// is 08:30 Berlin on 2027-03-17, half an hour before Ben's shift. Returns (schedule, Ann, Ben).
async fn berlin_daily(app: &TestApp) -> (String, Phone, Phone) {
    app.clock.set(utc("2027-03-17T07:30:00Z"));
    let ann = app.create_user("responder", None, "Ann Berlin").await;
    let ben = app.create_user("responder", None, "Ben Berlin").await;
    let body = app
        .admin_post(
            "/v1/admin/schedules",
            json!({
                "name": "Primary, Berlin", "time_zone": "Europe/Berlin",
                "rotations": [{ "name": "daily", "participants": [ann, ben], "turn": "daily",
                                "handoff_time": "09:00:00", "start_date": "2027-03-16" }]
            }),
            201,
        )
        .await;
    let schedule = body["id"].as_str().unwrap().to_owned();
    (
        schedule,
        app.enroll(&ann, "ios").await,
        app.enroll(&ben, "ios").await,
    )
}

/// Gives the customer a one-step policy paging `targets`, 5 minutes.
async fn one_step_policy(app: &TestApp, customer: &GoldCustomer, targets: Value) {
    let res = app
        .admin(Method::PUT, "/v1/admin/policies")
        .json(&json!({
            "name": "readiness", "customer_id": customer.customer_id,
            "steps": [{ "targets": targets, "ack_timeout_minutes": 5 }],
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
}

async fn admin_readiness(app: &TestApp) -> Value {
    let res = app
        .admin(Method::GET, "/v1/admin/readiness")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

async fn readyz(app: &TestApp) -> Value {
    let res = app.get("/readyz").await;
    assert_eq!(
        res.status(),
        200,
        "readiness problems never make the gateway unready"
    );
    res.json().await.unwrap()
}

/// The pushes the mock APNs accepted or refused for `token`.
fn pushes_to(app: &TestApp, token: &str) -> Vec<panic_gateway::push::mock::ApnsReceived> {
    app.mocks()
        .apns
        .received()
        .into_iter()
        .filter(|r| r.device_token == token)
        .collect()
}

async fn vouch_sms(app: &TestApp, user_id: &str, number: &str) -> Value {
    app.admin_post(
        &format!("/v1/admin/users/{user_id}/contact-methods"),
        json!({ "kind": "sms", "address": number, "verified": true }),
        201,
    )
    .await
}

async fn a_dead_token_is_reported_before_the_shift_starts_and_recovery_clears_it(
    backend: TestBackend,
) {
    let app = spawn_app_with_push(backend, readiness_on).await;
    let customer = app.gold_customer().await;
    let (schedule, ann, ben) = berlin_daily(&app).await;
    let sam = app
        .create_user("support_manager", None, "Sam Support")
        .await;
    let sam = app.enroll(&sam, "ios").await;
    one_step_policy(
        &app,
        &customer,
        json!([{ "type": "schedule", "schedule": { "id": schedule } }]),
    )
    .await;
    // Ben's only phone is gone from APNs; nobody knows until something is sent to it.
    app.mocks()
        .apns
        .fail(Some(&ben.push_token), Fault::status(410), None);

    app.run_due_work().await;

    // The reminder: a silent background push, low priority, with the local start time.
    let to_ben = pushes_to(&app, &ben.push_token);
    assert_eq!(to_ben.len(), 1, "one reminder push");
    assert_eq!(to_ben[0].headers["apns-push-type"], "background");
    assert_eq!(to_ben[0].headers["apns-priority"], "5");
    assert_eq!(to_ben[0].body["aps"], json!({ "content-available": 1 }));
    assert_eq!(
        to_ben[0].body["body"],
        "You are on call from 09:00 (Europe/Berlin)"
    );
    assert!(
        pushes_to(&app, &ann.push_token).is_empty(),
        "Ann's shift is under way: no reminder"
    );
    assert_eq!(
        app.count(&format!(
            "devices WHERE id = '{}' AND token_dead_at IS NOT NULL",
            ben.device_id
        ))
        .await,
        1,
        "the answer to the silent push counts"
    );

    // Reported before the shift starts: now Ann is on call and fine; from 09:00 nobody is.
    let report = admin_readiness(&app).await;
    assert_eq!(report["status"], "degraded");
    let problems = report["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{report}");
    assert_eq!(problems[0]["customer_name"], "Acme Corp");
    assert_eq!(problems[0]["step"], 1);
    assert_eq!(problems[0]["horizon"], "next_shift");
    assert_eq!(problems[0]["at"], "2027-03-17T08:00:00Z");
    assert_eq!(
        problems[0]["people"],
        json!([{ "user_id": ben.user_id, "name": "Ben Berlin",
                 "role": "on_call:Primary, Berlin", "reason": "dead_push_token" }])
    );
    let ready = readyz(&app).await;
    assert_eq!(
        ready["paging_readiness"],
        json!({ "status": "degraded", "steps_reaching_nobody": 1 })
    );
    assert_eq!(ready["status"], "ready");

    // The support managers are told once, not every round.
    let told = pushes_to(&app, &sam.push_token);
    assert_eq!(told.len(), 1);
    let text = told[0].body["aps"]["alert"]["body"].as_str().unwrap();
    assert!(text.contains("Acme Corp, step 1"), "{text}");
    assert!(
        text.contains("Ben Berlin: their only device's push token is dead"),
        "{text}"
    );
    app.clock.advance(Duration::minutes(1));
    app.run_due_work().await;
    app.clock.advance(Duration::minutes(1));
    app.run_due_work().await;
    assert_eq!(pushes_to(&app, &sam.push_token).len(), 1, "told once");

    // Recovery: Ben gets a verified number; the problem is gone everywhere.
    vouch_sms(&app, &ben.user_id, "+14155550111").await;
    assert_eq!(admin_readiness(&app).await["problems"], json!([]));
    app.run_due_work().await;
    assert_eq!(
        readyz(&app).await["paging_readiness"],
        json!({ "status": "ok", "steps_reaching_nobody": 0 })
    );
    assert_eq!(app.count("readiness_problems").await, 0);

    // Broken again (the number disabled): told again, once.
    devkit::disable_every_contact_method(&app.db_url)
        .await
        .unwrap();
    app.run_due_work().await;
    app.run_due_work().await;
    assert_eq!(
        pushes_to(&app, &sam.push_token).len(),
        2,
        "a new break is told"
    );
}

async fn an_empty_notification_policy_is_reported_and_a_verified_sms_is_enough(
    backend: TestBackend,
) {
    let app = spawn_app_with_push(backend, readiness_on).await;
    let customer = app.gold_customer().await;
    let alice = &customer.account_manager;
    one_step_policy(&app, &customer, json!([{ "type": "account_manager" }])).await;
    app.run_due_work().await;
    assert_eq!(admin_readiness(&app).await["problems"], json!([]));

    // Alice's rules only text her, and she has no number: nothing would be sent.
    let res = set_my_rules(
        &app,
        alice,
        json!([{ "method": "sms", "delay_minutes": 0 }]),
    )
    .await;
    assert_eq!(res.status(), 200);
    app.run_due_work().await;
    let report = admin_readiness(&app).await;
    assert_eq!(
        report["problems"][0]["people"][0]["reason"], "empty_notification_policy",
        "{report}"
    );
    assert_eq!(report["problems"][0]["horizon"], "now");
    assert_eq!(
        readyz(&app).await["paging_readiness"]["steps_reaching_nobody"],
        1
    );

    // A verified number is enough.
    vouch_sms(&app, &alice.user_id, "+14155550122").await;
    app.run_due_work().await;
    assert_eq!(admin_readiness(&app).await["problems"], json!([]));
    assert_eq!(readyz(&app).await["paging_readiness"]["status"], "ok");

    // The admin route is the admin's.
    let res = app.get("/v1/admin/readiness").await;
    assert_problem(res, 401).await;
}

async fn the_reminder_goes_out_once_per_shift_with_two_gateways(backend: TestBackend) {
    let app = spawn_app_with_push(backend, readiness_on).await;
    let (_schedule, _ann, ben) = berlin_daily(&app).await;
    let second = spawn_second_instance(&app).await;
    let (a, b) = tokio::join!(app.engine.run_due_work(), second.engine.run_due_work());
    a.unwrap();
    b.unwrap();
    app.run_due_work().await;
    second.run_due_work().await;
    eventually(WAIT, "the reminder reaches Ben", || async {
        pushes_to(&app, &ben.push_token).len() == 1
    })
    .await;
    assert_eq!(app.count("shift_reminders").await, 1);
    assert_eq!(app.count("notices WHERE kind = 'shift_reminder'").await, 1);
    // The clock is about to jump past every lease: the push that reached Ben must be recorded
    // first, or the other gateway would rightly take a notice still in flight as abandoned and
    // send it again.
    eventually(WAIT, "the reminder is recorded as sent", || async {
        app.count("notices WHERE kind = 'shift_reminder' AND state = 'pending'")
            .await
            == 0
    })
    .await;

    // The next day's shift is Ann's; Ben's the day after gets its own reminder.
    app.clock.advance(Duration::days(2));
    app.run_due_work().await;
    second.run_due_work().await;
    assert_eq!(pushes_to(&app, &ben.push_token).len(), 2);
    second.stop().await;
}

async fn a_team_member_with_only_a_verified_sms_is_picked_and_texted(backend: TestBackend) {
    const NUMBER: &str = "+14155550133";
    let app = spawn_app_with_twilio(backend, |_| {}).await;
    let customer = app.gold_customer().await;
    // Dan has no phone enrolled, only a number an admin vouched for.
    let dan = app.create_user("responder", None, "Dan Desk").await;
    vouch_sms(&app, &dan, NUMBER).await;
    app.admin_post(
        "/v1/admin/teams",
        json!({ "id": "gold", "name": "Gold", "members": [dan] }),
        201,
    )
    .await;
    one_step_policy(
        &app,
        &customer,
        json!([{ "type": "team_round_robin", "team": "gold" }]),
    )
    .await;
    let res = app
        .press(&customer.contact, "sms-only", &p1_press("sms-only"))
        .await;
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    let incident = body["incident"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        app.count(&format!(
            "round_robin_picks WHERE incident_id = '{incident}' AND user_id = '{dan}'"
        ))
        .await,
        1,
        "Dan is reachable by SMS, so he is picked"
    );
    // The built-in rules text after a minute.
    app.clock.advance(Duration::minutes(1));
    app.run_due_work().await;
    let texts = app.twilio().wait_sent(Some(NUMBER), 1, WAIT).await;
    assert!(texts[0].body.contains("Acme Corp"), "{}", texts[0].body);
}

async fn the_promise_check_counts_the_rules_delays(backend: TestBackend) {
    let app = spawn_app_with_push(backend, |_| {}).await;
    let customer = app.gold_customer().await;
    let alice = &customer.account_manager;
    vouch_sms(&app, &alice.user_id, "+14155550144").await;
    let put = |steps: Value| {
        app.admin(Method::PUT, "/v1/admin/policies").json(&json!({
            "name": "slow", "customer_id": customer.customer_id, "steps": steps,
        }))
    };
    let two_steps = json!([
        { "targets": [{ "type": "user", "user_id": alice.user_id }], "ack_timeout_minutes": 5 },
        { "targets": [{ "type": "account_manager" }], "ack_timeout_minutes": 5 },
    ]);
    // Push at once: 5 min to page the last step, within Gold's 15 min.
    let res = put(two_steps.clone()).send().await.unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    // Alice can only be texted, after 11 minutes: 5 + 11 = 16 min is too slow.
    let res = set_my_rules(
        &app,
        alice,
        json!([{ "method": "sms", "delay_minutes": 11 }]),
    )
    .await;
    assert_eq!(res.status(), 200);
    let res = put(two_steps).send().await.unwrap();
    let body = assert_problem(res, 422).await;
    assert!(
        body["type"].as_str().unwrap().ends_with("validation-error"),
        "{body}"
    );
    assert_eq!(body["errors"][0]["field"], "steps");
    let detail = body["errors"][0]["detail"].as_str().unwrap();
    assert!(
        detail.contains("5 min + 11 min (rules' delay) = 16 min"),
        "{detail}"
    );
}
