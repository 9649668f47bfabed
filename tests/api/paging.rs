//! Nobody left unpaged: a press never ends with nobody paged and nobody told.
//!
//! A press on an incident whose escalation ran out starts it again; a P1 that reaches no step
//! falls back to the support managers, and when even they cannot be reached the answer says so
//! and the helpdesk hears it; one customer's backlog never delays another customer's first
//! page; a page that waited past its window is still sent; a flood of presses joins the
//! newest incident instead of opening dozens (and is never refused).

use std::time::Duration as StdDuration;

use chrono::Duration;
use reqwest::Method;
use serde_json::{json, Value};

use panic_gateway::store::devkit;

use crate::on_both_backends;
use crate::support::{
    eventually, p1_press, spawn_app, spawn_app_with, spawn_app_with_push, spawn_instance,
    GoldCustomer, Phone, TestApp, TestBackend,
};

on_both_backends!(
    a_press_on_an_unanswered_incident_pages_again_from_the_first_step,
    a_p1_no_step_can_reach_falls_back_to_the_support_managers,
    when_nobody_at_all_can_be_paged_the_answer_and_the_helpdesk_say_so,
    another_customers_first_page_is_not_queued_behind_a_backlog,
    pages_queued_before_an_upgrade_still_take_turns_by_customer,
    a_first_page_goes_out_ahead_of_escalation_pages_already_queued,
    a_page_that_waited_past_its_window_is_still_sent_once,
    a_flood_of_presses_joins_the_newest_incident_instead_of_opening_more,
);

const WAIT: StdDuration = StdDuration::from_secs(10);

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

/// The customer's own policy: one step paging only its account manager, no repeat.
async fn account_manager_only(app: &TestApp, customer_id: &str) {
    let policy = json!({
        "name": "account manager only", "customer_id": customer_id, "repeat": 0,
        "steps": [{ "targets": [{ "type": "account_manager" }], "ack_timeout_minutes": 5 }]
    });
    let res = app
        .admin(Method::PUT, "/v1/admin/policies")
        .json(&policy)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "policy stored");
}

async fn revoke(app: &TestApp, phone: &Phone) {
    let res = app
        .admin(
            Method::POST,
            &format!("/v1/admin/devices/{}/revoke", phone.device_id),
        )
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "device revoked");
}

/// Presses `service` and returns the status and the answer.
async fn press(app: &TestApp, phone: &Phone, key: &str, service: &str) -> (u16, Value) {
    let res = app.press(phone, key, &p1_press(service)).await;
    let status = res.status().as_u16();
    (status, res.json().await.unwrap())
}

/// The incident's full stored timeline (kind and detail), as responders read it; the
/// customer's own view is an allow-list that hides internal reasons.
async fn timeline_kinds(app: &TestApp, _c: &GoldCustomer, incident: &str) -> Vec<Value> {
    app.timeline_rows(incident).await
}

async fn a_press_on_an_unanswered_incident_pages_again_from_the_first_step(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let c = app.gold_customer().await;
    account_manager_only(&app, &c.customer_id).await;
    let am = &c.account_manager.user_id;
    let (status, first) = press(&app, &c.contact, "k1", "checkout").await;
    assert_eq!(status, 201);
    assert_eq!(first["paged"], true);
    let incident = first["incident"]["id"].as_str().unwrap().to_owned();

    app.clock.advance(Duration::minutes(5));
    eventually(WAIT, "the incident is unanswered", || async {
        events(&app, &incident, "unanswered").await == 1
    })
    .await;

    // Nobody is being paged any more; the customer presses again.
    let (status, again) = press(&app, &c.contact, "k2", "checkout").await;
    assert_eq!(status, 200);
    assert_eq!(again["outcome"], "joined");
    assert_eq!(again["joined_because"], "same_service");
    assert_eq!(again["incident"]["id"], incident.as_str());
    assert_eq!(again["paged"], true);
    assert_eq!(again["paging"]["restarted"], true);
    assert_eq!(again["paging"]["first"]["name"], "Alice Manager");
    assert!(
        again["paging"]["detail"]
            .as_str()
            .unwrap()
            .contains("started again"),
        "{again}"
    );
    assert_eq!(pages_to(&app, &incident, am).await, 2);
    assert_eq!(
        app.count(&format!(
            "deliveries WHERE incident_id = '{incident}' AND kind = 'page' AND first_page = 1"
        ))
        .await,
        2,
        "the restart's page goes out ahead of backlogs, like the first one"
    );
    let timeline = timeline_kinds(&app, &c, &incident).await;
    let restarted = timeline
        .iter()
        .find(|e| e["kind"] == "escalation.restarted")
        .expect("the timeline says escalation restarted");
    assert!(restarted["detail"]["reason"]
        .as_str()
        .unwrap()
        .contains("new press"));

    // The restarted escalation runs its course again, and a press while it runs pages nobody
    // twice.
    let (status, during) = press(&app, &c.contact, "k3", "checkout").await;
    assert_eq!(status, 200);
    assert_eq!(during["paging"]["restarted"], false);
    assert_eq!(during["paged"], true);
    assert_eq!(pages_to(&app, &incident, am).await, 2);
    app.clock.advance(Duration::minutes(5));
    eventually(WAIT, "unanswered a second time", || async {
        events(&app, &incident, "unanswered").await == 2
    })
    .await;
}

async fn a_p1_no_step_can_reach_falls_back_to_the_support_managers(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let c = app.gold_customer().await;
    account_manager_only(&app, &c.customer_id).await;
    revoke(&app, &c.account_manager).await;
    let sm = app
        .create_user("support_manager", None, "Morgan Manager")
        .await;
    app.enroll(&sm, "android").await;

    let (status, body) = press(&app, &c.contact, "k1", "checkout").await;
    assert_eq!(status, 201);
    assert_eq!(body["paged"], true);
    assert_eq!(body["paging"]["first"]["name"], "Morgan Manager");
    assert_eq!(body["paging"]["first"]["role"], "support_manager");
    let incident = body["incident"]["id"].as_str().unwrap().to_owned();
    assert_eq!(pages_to(&app, &incident, &sm).await, 1);
    let timeline = timeline_kinds(&app, &c, &incident).await;
    let paged = timeline
        .iter()
        .find(|e| e["kind"] == "paged")
        .expect("paged");
    assert_eq!(paged["detail"]["fallback"], "support_managers");
    assert_eq!(events(&app, &incident, "unpaged").await, 0);

    // They get the last step's window; unacknowledged, the incident is then unanswered.
    app.clock.advance(Duration::minutes(5));
    eventually(WAIT, "unanswered after the fallback's window", || async {
        events(&app, &incident, "unanswered").await == 1
    })
    .await;
}

async fn when_nobody_at_all_can_be_paged_the_answer_and_the_helpdesk_say_so(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let c = app.gold_customer().await;
    account_manager_only(&app, &c.customer_id).await;
    revoke(&app, &c.account_manager).await;
    app.admin_post(
        "/v1/admin/webhooks",
        json!({ "url": "https://helpdesk.example/hook", "events": ["incident.unpaged"] }),
        201,
    )
    .await;

    let (status, body) = press(&app, &c.contact, "k1", "checkout").await;
    assert_eq!(status, 201, "the press is recorded: {body}");
    assert_eq!(body["outcome"], "opened");
    assert_eq!(body["paged"], false);
    assert_eq!(body["paging"]["targets"], json!([]));
    assert!(
        body["paging"]["detail"]
            .as_str()
            .unwrap()
            .contains("Nobody could be paged"),
        "{body}"
    );
    let incident = body["incident"]["id"].as_str().unwrap().to_owned();
    assert_eq!(events(&app, &incident, "unpaged").await, 1);
    assert_eq!(events(&app, &incident, "fallback.failed").await, 1);
    assert_eq!(
        app.count("webhook_deliveries WHERE event_type = 'incident.unpaged'")
            .await,
        1,
        "the helpdesk is told"
    );

    // The account manager enrols a phone again: the next press reaches them.
    let phone = app.enroll(&c.account_manager.user_id, "ios").await;
    let (status, again) = press(&app, &c.contact, "k2", "checkout").await;
    assert_eq!(status, 200);
    assert_eq!(again["paged"], true);
    assert_eq!(again["paging"]["restarted"], true);
    assert_eq!(again["paging"]["first"]["name"], "Alice Manager");
    assert_eq!(pages_to(&app, &incident, &phone.user_id).await, 1);
}

async fn another_customers_first_page_is_not_queued_behind_a_backlog(backend: TestBackend) {
    let (app, b) = a_backlog_then_another_customer(backend).await;
    b_goes_out_first(&app, &b).await;
}

async fn pages_queued_before_an_upgrade_still_take_turns_by_customer(backend: TestBackend) {
    let (app, b) = a_backlog_then_another_customer(backend).await;
    // The database goes back to before the claim read deliveries by customer, keeping the
    // queue; the gateway that sends them migrates it on start.
    devkit::undo_claim_by_customer(&app.db_url).await.unwrap();
    b_goes_out_first(&app, &b).await;
}

/// A gateway that records presses but does not send, customer A's five presses (fifty pages
/// queued), then customer B's one. Returns B.
async fn a_backlog_then_another_customer(backend: TestBackend) -> (TestApp, GoldCustomer) {
    let app = spawn_app_with_push(backend, |s| s.dispatch.enabled = false).await;
    let a = app.gold_customer().await;
    for _ in 0..9 {
        app.enroll(&a.account_manager.user_id, "ios").await;
    }
    for n in 0..5 {
        let (status, _) = press(&app, &a.contact, &format!("a{n}"), &format!("svc-{n}")).await;
        assert_eq!(status, 201);
        app.clock.advance(Duration::milliseconds(10));
    }
    let backlog = app.count("deliveries WHERE state = 'pending'").await;
    assert_eq!(backlog, 50);
    let b = app.gold_customer().await;
    let (status, _) = press(&app, &b.contact, "b", "checkout").await;
    assert_eq!(status, 201);
    (app, b)
}

/// A sending gateway starts on `app`'s database: B's first page goes out first or second,
/// not behind A's fifty.
async fn b_goes_out_first(app: &TestApp, b: &GoldCustomer) {
    // One send at a time, so the order sent is the order claimed.
    let mut settings = app.settings.clone();
    settings.dispatch.enabled = true;
    settings.dispatch.concurrency = 1;
    settings.dispatch.batch_size = 1;
    let sender = spawn_instance(app, settings).await;
    let mocks = sender.mocks();
    mocks
        .apns
        .wait_accepted(Some(&b.account_manager.push_token), 1, WAIT)
        .await;
    let order: Vec<String> = mocks
        .apns
        .received()
        .iter()
        .map(|r| r.device_token.clone())
        .collect();
    let position = order
        .iter()
        .position(|t| *t == b.account_manager.push_token)
        .expect("B's page was sent");
    assert!(
        position <= 1,
        "B's first page went out at position {position} of {}, behind A's backlog",
        order.len()
    );
    mocks.apns.wait_accepted(None, 51, WAIT).await;
}

async fn a_first_page_goes_out_ahead_of_escalation_pages_already_queued(backend: TestBackend) {
    let app = spawn_app_with_push(backend, |s| s.dispatch.enabled = false).await;
    let c = app.gold_customer().await;
    let engineer = app.create_user("responder", None, "Eve Engineer").await;
    for _ in 0..20 {
        app.enroll(&engineer, "ios").await;
    }
    let policy = json!({
        "name": "manager then engineer", "customer_id": c.customer_id, "repeat": 0,
        "steps": [
            { "targets": [{ "type": "account_manager" }], "ack_timeout_minutes": 5 },
            { "targets": [{ "type": "user", "user_id": engineer }], "ack_timeout_minutes": 5 }
        ]
    });
    let res = app
        .admin(Method::PUT, "/v1/admin/policies")
        .json(&policy)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "policy stored");
    let (status, _) = press(&app, &c.contact, "k1", "mail").await;
    assert_eq!(status, 201);
    // Nobody acknowledges: step 2 queues twenty escalation pages.
    app.clock.advance(Duration::minutes(5));
    eventually(WAIT, "the engineer's pages are queued", || async {
        app.count(&format!(
            "deliveries WHERE user_id = '{engineer}' AND state = 'pending'"
        ))
        .await
            == 20
    })
    .await;
    app.clock.advance(Duration::seconds(1));
    let (status, _) = press(&app, &c.contact, "k2", "vpn").await;
    assert_eq!(status, 201);

    let mut settings = app.settings.clone();
    settings.dispatch.enabled = true;
    settings.dispatch.concurrency = 1;
    settings.dispatch.batch_size = 1;
    let sender = spawn_instance(&app, settings).await;
    let mocks = sender.mocks();
    let am = &c.account_manager.push_token;
    mocks.apns.wait_accepted(Some(am), 2, WAIT).await;
    let order: Vec<String> = mocks
        .apns
        .received()
        .iter()
        .map(|r| r.device_token.clone())
        .collect();
    assert_eq!(
        order.iter().take(2).filter(|t| *t == am).count(),
        2,
        "both incidents' first pages go out before the escalation backlog: {order:?}"
    );
    mocks.apns.wait_accepted(None, 22, WAIT).await;
}

async fn a_page_that_waited_past_its_window_is_still_sent_once(backend: TestBackend) {
    let app = spawn_app_with_push(backend, |s| s.dispatch.enabled = false).await;
    let c = app.gold_customer().await;
    account_manager_only(&app, &c.customer_id).await;
    let (status, body) = press(&app, &c.contact, "k1", "checkout").await;
    assert_eq!(status, 201);
    let incident = body["incident"]["id"].as_str().unwrap().to_owned();
    // The page waits in the queue past its five-minute window.
    app.clock.advance(Duration::minutes(6));

    let mut settings = app.settings.clone();
    settings.dispatch.enabled = true;
    let sender = spawn_instance(&app, settings).await;
    let got = sender
        .mocks()
        .apns
        .wait_accepted(Some(&c.account_manager.push_token), 1, WAIT)
        .await;
    assert_eq!(got.len(), 1, "the late page is sent, not dropped");
    eventually(WAIT, "recorded as sent", || async {
        app.count(&format!(
            "deliveries WHERE incident_id = '{incident}' AND state = 'sent' AND kind = 'page'"
        ))
        .await
            == 1
    })
    .await;
    assert_eq!(
        app.count(&format!(
            "deliveries WHERE incident_id = '{incident}' AND state = 'failed'"
        ))
        .await,
        0
    );
}

async fn a_flood_of_presses_joins_the_newest_incident_instead_of_opening_more(
    backend: TestBackend,
) {
    let app = spawn_app_with(backend, |s| {
        s.intake.flood_max_open = 2;
        s.intake.flood_window_secs = 300;
    })
    .await;
    let c = app.gold_customer().await;
    let (status, _) = press(&app, &c.contact, "k1", "mail").await;
    assert_eq!(status, 201);
    app.clock.advance(Duration::seconds(1));
    let (status, second) = press(&app, &c.contact, "k2", "vpn").await;
    assert_eq!(status, 201);
    let newest = second["incident"]["id"].as_str().unwrap().to_owned();

    // A third service within five minutes: joins the newest incident, never refused.
    app.clock.advance(Duration::seconds(1));
    let (status, third) = press(&app, &c.contact, "k3", "printers").await;
    assert_eq!(status, 200, "{third}");
    assert_eq!(third["outcome"], "joined");
    assert_eq!(third["joined_because"], "flood");
    assert_eq!(third["incident"]["id"], newest.as_str());
    assert_eq!(third["incident"]["alert_count"], 2);
    assert_eq!(app.count("incidents").await, 2);
    let timeline = timeline_kinds(&app, &c, &newest).await;
    let joined = timeline
        .iter()
        .find(|e| e["kind"] == "joined")
        .expect("joined");
    assert_eq!(joined["detail"]["reason"], "flood");
    assert_eq!(joined["detail"]["affected_service"], "printers");

    // Another customer's burst of presses at once, each for a service of its own: two
    // incidents, the rest join, however the presses interleave.
    let d = app.gold_customer().await;
    let burst = (0..8).map(|i| {
        let (app, phone) = (&app, d.contact.clone());
        async move { press(app, &phone, &format!("burst-{i}"), &format!("burst {i}")).await }
    });
    let answers = futures_util::future::join_all(burst).await;
    assert!(answers
        .iter()
        .all(|(status, _)| *status == 200 || *status == 201));
    let flooded = answers
        .iter()
        .filter(|(_, body)| body["joined_because"] == "flood")
        .count();
    assert_eq!(flooded, 6);
    assert_eq!(
        app.count(&format!(
            "incidents WHERE customer_id = '{}'",
            d.customer_id
        ))
        .await,
        2
    );

    // Another customer is not affected by this one's flood.
    let other = app.gold_customer().await;
    let (status, _) = press(&app, &other.contact, "o1", "printers").await;
    assert_eq!(status, 201);

    // Once the window has passed, a new service opens its own incident again.
    app.clock.advance(Duration::seconds(300));
    let (status, later) = press(&app, &c.contact, "k4", "printers").await;
    assert_eq!(status, 201, "{later}");
    assert_eq!(later["outcome"], "opened");
}
