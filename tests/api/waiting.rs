//! The two-way SLA clock: a ticket waits on its customer and back; the resolution target
//! counts only our time, the response targets count everything, and the report splits each
//! ticket's time into ours and the customer's.

use chrono::Duration;
use reqwest::Method;
use serde_json::{json, Value};

use crate::on_both_backends;
use crate::support::{assert_problem, p1_press, spawn_app, GoldCustomer, TestApp, TestBackend};

on_both_backends!(
    a_ticket_paused_two_hours_inside_a_four_hour_target_is_not_breached_at_five_hours,
    waiting_is_on_the_timeline_audited_and_sent_to_the_helpdesk,
    the_customers_own_press_resumes_the_clock,
    resolving_while_waiting_ends_the_wait,
    the_helpdesk_closing_the_ticket_ends_the_wait,
    waiting_does_not_pause_the_acknowledgement_target,
    wrong_requests_are_refused_and_change_nothing,
);

/// Moves the gateway's clock on; the phones refresh their short-lived access tokens as the
/// app does after a while in the background.
async fn advance(app: &TestApp, c: &mut GoldCustomer, by: Duration) {
    app.clock.advance(by);
    for phone in [&mut c.account_manager, &mut c.contact] {
        let mut p = panic_gateway::phone::Phone::resume(phone.clone());
        p.refresh().await.expect("refreshed");
        *phone = p.session;
    }
}

async fn gold_with_four_hour_resolution(app: &TestApp) {
    let res = app
        .admin(Method::PUT, "/v1/admin/tiers/gold/sla")
        .json(&json!({
            "external_response_minutes": 120,
            "internal_ack_minutes": 15,
            "resolution_minutes": 240,
            "coverage": { "type": "always" },
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

/// Presses P1 for `c` and returns the incident's id and its ticket's id.
async fn incident(app: &TestApp, c: &GoldCustomer, key: &str) -> (String, String) {
    let res = app.press(&c.contact, key, &p1_press("checkout")).await;
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    let incident = body["incident"]["id"].as_str().unwrap().to_owned();
    let reference = body["ticket_ref"].as_str().unwrap().to_owned();
    let tickets: Value = app
        .admin(Method::GET, "/v1/tickets")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ticket = tickets
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["external_ref"] == reference)
        .unwrap_or_else(|| panic!("ticket {reference} listed: {tickets}"));
    (incident, ticket["id"].as_str().unwrap().to_owned())
}

async fn responder(
    app: &TestApp,
    c: &GoldCustomer,
    incident: &str,
    action: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let req = app.with_token(
        Method::POST,
        &format!("/v1/incidents/{incident}/{action}"),
        &c.account_manager.access_token,
    );
    match body {
        Some(b) => req.json(&b),
        None => req,
    }
    .send()
    .await
    .unwrap()
}

async fn helpdesk(app: &TestApp, key: &str, ticket: &str, action: &str) -> reqwest::Response {
    app.with_token(Method::POST, &format!("/v1/tickets/{ticket}/{action}"), key)
        .send()
        .await
        .unwrap()
}

async fn helpdesk_key(app: &TestApp, scopes: Value) -> String {
    let created = app
        .admin_post(
            "/v1/admin/api-keys",
            json!({ "name": "helpdesk", "scopes": scopes }),
            201,
        )
        .await;
    created["key"].as_str().unwrap().to_owned()
}

async fn report(app: &TestApp) -> Value {
    let now = app.clock_now();
    let url = format!(
        "/v1/reports/sla?from={}&to={}",
        (now - Duration::days(1)).to_rfc3339(),
        (now + Duration::minutes(1)).to_rfc3339()
    )
    .replace('+', "%2B");
    app.admin(Method::GET, &url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn a_ticket_paused_two_hours_inside_a_four_hour_target_is_not_breached_at_five_hours(
    backend: TestBackend,
) {
    let app = spawn_app(backend).await;
    gold_with_four_hour_resolution(&app).await;
    let mut c = app.gold_customer().await;
    let (incident, ticket) = incident(&app, &c, "k1").await;
    // A second incident that never waits, for the per-tier totals and the contrast.
    let other = app.press(&c.contact, "k2", &p1_press("erp")).await;
    assert_eq!(other.status(), 201);
    let key = helpdesk_key(&app, json!(["tickets:write"])).await;

    advance(&app, &mut c, Duration::hours(1)).await;
    let res = responder(
        &app,
        &c,
        &incident,
        "wait-on-customer",
        Some(json!({ "reason": "gateway logs" })),
    )
    .await;
    assert_eq!(res.status(), 200);
    let view: Value = res.json().await.unwrap();
    assert_eq!(view["waiting_on_customer"], true, "{view}");
    assert_eq!(view["state"], "triggered");

    advance(&app, &mut c, Duration::hours(2)).await;
    let res = helpdesk(&app, &key, &ticket, "resume").await;
    assert_eq!(res.status(), 200);
    let t: Value = res.json().await.unwrap();
    assert_eq!(t["waiting_on_customer_since"], Value::Null, "{t}");

    advance(&app, &mut c, Duration::hours(2)).await; // 5 h after the press
    let report = report(&app).await;
    let tickets = report["tickets"].as_array().unwrap();
    assert_eq!(tickets.len(), 2, "{report}");
    let paused = tickets
        .iter()
        .find(|t| t["incident_id"] == incident)
        .unwrap();
    assert_eq!(paused["resolution"], "pending", "{paused}");
    assert_eq!(paused["elapsed_seconds"], 5 * 3600);
    assert_eq!(paused["our_time_seconds"], 3 * 3600);
    assert_eq!(paused["customer_time_seconds"], 2 * 3600);
    assert_eq!(paused["waiting_on_customer"], false);
    let intervals = paused["paused_intervals"].as_array().unwrap();
    assert_eq!(intervals.len(), 1);
    assert_eq!(intervals[0]["seconds"], 2 * 3600);
    assert!(intervals[0]["paused_by"]
        .as_str()
        .unwrap()
        .starts_with("user:"));
    assert!(intervals[0]["resumed_by"]
        .as_str()
        .unwrap()
        .starts_with("admin:"));
    assert_eq!(intervals[0]["resumed_because"], "agent");
    let resolve_by: chrono::DateTime<chrono::Utc> =
        paused["resolve_by"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        resolve_by,
        app.clock_now() + Duration::hours(1),
        "4 h of ours, 3 used"
    );
    // The one that never waited is breached at 5 h.
    let plain = tickets
        .iter()
        .find(|t| t["incident_id"] != incident)
        .unwrap();
    assert_eq!(plain["resolution"], "breached");
    assert_eq!(plain["customer_time_seconds"], 0);
    // Every split adds up, and so do the tier's totals.
    for t in tickets {
        assert_eq!(
            t["our_time_seconds"].as_i64().unwrap() + t["customer_time_seconds"].as_i64().unwrap(),
            t["elapsed_seconds"].as_i64().unwrap()
        );
    }
    let gold = &report["per_tier"][0];
    assert_eq!(gold["tier"], "gold");
    assert_eq!(gold["tickets"], 2);
    assert_eq!(gold["elapsed_seconds"], 10 * 3600);
    assert_eq!(gold["our_time_seconds"], 8 * 3600);
    assert_eq!(gold["customer_time_seconds"], 2 * 3600);
    assert_eq!(gold["resolution_pending"], 1);
    assert_eq!(gold["resolution_breached"], 1);

    // One more hour of ours breaches it.
    advance(&app, &mut c, Duration::hours(1) + Duration::seconds(1)).await;
    let report = self::report(&app).await;
    let paused = report["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["incident_id"] == incident)
        .unwrap()
        .clone();
    assert_eq!(paused["resolution"], "breached");
}

async fn waiting_is_on_the_timeline_audited_and_sent_to_the_helpdesk(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let mut c = app.gold_customer().await;
    let (incident, ticket) = incident(&app, &c, "k1").await;
    app.admin_post(
        "/v1/admin/webhooks",
        json!({
            "url": "https://helpdesk.example.com/hook",
            "events": ["ticket.waiting_on_customer", "ticket.resumed"],
        }),
        201,
    )
    .await;

    // The admin key pauses the ticket; the responder resumes through the incident.
    let res = app
        .admin(
            Method::POST,
            &format!("/v1/tickets/{ticket}/wait-on-customer"),
        )
        .json(&json!({ "reason": "access to the staging box" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let t: Value = res.json().await.unwrap();
    assert_eq!(t["waiting_on_customer_since"], json!(app.clock_now()));
    let seen: Value = app
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
    assert_eq!(seen["waiting_on_customer"], true);
    advance(&app, &mut c, Duration::minutes(30)).await;
    assert_eq!(
        responder(&app, &c, &incident, "resume", None)
            .await
            .status(),
        200
    );

    let timeline = app.timeline_rows(&incident).await;
    let waited = timeline
        .iter()
        .find(|e| e["kind"] == "ticket.waiting_on_customer")
        .unwrap_or_else(|| panic!("{timeline:?}"));
    assert_eq!(waited["detail"]["reason"], "access to the staging box");
    let resumed = timeline
        .iter()
        .find(|e| e["kind"] == "ticket.resumed")
        .unwrap();
    assert_eq!(resumed["detail"]["resumed_by"], "agent");
    assert_eq!(resumed["detail"]["waited_seconds"], 1800);
    assert_eq!(
        app.count(&format!(
            "audit_log WHERE subject_id = '{ticket}' AND action IN \
             ('ticket.waiting_on_customer', 'ticket.resumed')"
        ))
        .await,
        2
    );
    for event_type in ["ticket.waiting_on_customer", "ticket.resumed"] {
        assert_eq!(
            app.count(&format!(
                "webhook_deliveries WHERE event_type = '{event_type}'"
            ))
            .await,
            1,
            "{event_type}"
        );
    }
}

async fn the_customers_own_press_resumes_the_clock(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let mut c = app.gold_customer().await;
    let (incident, ticket) = incident(&app, &c, "k1").await;
    assert_eq!(
        responder(&app, &c, &incident, "wait-on-customer", None)
            .await
            .status(),
        200
    );
    advance(&app, &mut c, Duration::minutes(45)).await;
    // The customer presses again about the same service: the press joins the incident.
    let res = app.press(&c.contact, "k2", &p1_press("checkout")).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["outcome"], "joined", "{body}");
    assert_eq!(body["incident"]["id"], incident.as_str());
    let seen: Value = app
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
    assert_eq!(seen["waiting_on_customer"], false, "{seen}");
    assert_eq!(
        app.count(&format!(
            "ticket_pauses WHERE ticket_id = '{ticket}' AND resumed_because = 'customer' \
             AND resumed_by LIKE 'device:%'"
        ))
        .await,
        1
    );
    let timeline = app.timeline_rows(&incident).await;
    assert!(
        timeline
            .iter()
            .any(|e| e["kind"] == "ticket.resumed" && e["detail"]["resumed_by"] == "customer"),
        "{timeline:?}"
    );
    let report = report(&app).await;
    assert_eq!(report["tickets"][0]["customer_time_seconds"], 45 * 60);
    assert_eq!(
        report["tickets"][0]["paused_intervals"][0]["resumed_because"],
        "customer"
    );
}

async fn resolving_while_waiting_ends_the_wait(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let mut c = app.gold_customer().await;
    let (incident, ticket) = incident(&app, &c, "k1").await;
    assert_eq!(
        responder(&app, &c, &incident, "wait-on-customer", None)
            .await
            .status(),
        200
    );
    advance(&app, &mut c, Duration::minutes(20)).await;
    let res = responder(&app, &c, &incident, "resolve", None).await;
    assert_eq!(res.status(), 200);
    let view: Value = res.json().await.unwrap();
    assert_eq!(view["state"], "resolved");
    assert_eq!(view["waiting_on_customer"], false);
    assert_eq!(
        app.count(&format!(
            "ticket_pauses WHERE ticket_id = '{ticket}' AND resumed_because = 'resolved' \
             AND resumed_at IS NOT NULL"
        ))
        .await,
        1
    );
    advance(&app, &mut c, Duration::hours(1)).await;
    let report = report(&app).await;
    let t = &report["tickets"][0];
    assert_eq!(t["resolution"], "met");
    assert_eq!(t["elapsed_seconds"], 20 * 60);
    assert_eq!(t["customer_time_seconds"], 20 * 60);
    // A resolved incident cannot wait again.
    let res = responder(&app, &c, &incident, "wait-on-customer", None).await;
    let body = assert_problem(res, 409).await;
    assert!(body["type"]
        .as_str()
        .unwrap()
        .ends_with("incident-resolved"));
}

async fn the_helpdesk_closing_the_ticket_ends_the_wait(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let customer = app.create_customer("Acme", "gold", None).await;
    let key = helpdesk_key(&app, json!(["tickets:write"])).await;
    let upsert = |status: &'static str| {
        app.with_token(Method::POST, "/v1/tickets", &key)
            .json(&json!({
                "customer_id": customer, "external_ref": "SR-7", "subject": "Slow exports",
                "priority": "P3", "status": status,
            }))
            .send()
    };
    let res = upsert("open").await.unwrap();
    assert_eq!(res.status(), 201);
    let ticket = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = helpdesk(&app, &key, &ticket, "wait-on-customer").await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.json::<Value>().await.unwrap()["waiting_on_customer_since"],
        json!(app.clock_now())
    );
    let closed: Value = upsert("closed").await.unwrap().json().await.unwrap();
    assert_eq!(closed["waiting_on_customer_since"], Value::Null, "{closed}");
    assert_eq!(
        app.count(&format!(
            "ticket_pauses WHERE ticket_id = '{ticket}' AND resumed_because = 'resolved'"
        ))
        .await,
        1
    );
    // A closed ticket cannot wait again.
    let res = helpdesk(&app, &key, &ticket, "wait-on-customer").await;
    let body = assert_problem(res, 409).await;
    assert!(body["type"].as_str().unwrap().ends_with("ticket-closed"));
}

async fn waiting_does_not_pause_the_acknowledgement_target(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let mut c = app.gold_customer().await;
    let (incident, _) = incident(&app, &c, "k1").await;
    assert_eq!(
        responder(&app, &c, &incident, "wait-on-customer", None)
            .await
            .status(),
        200
    );
    // Gold's 15-minute acknowledgement target runs on while the ticket waits.
    advance(&app, &mut c, Duration::minutes(16)).await;
    app.run_due_work().await;
    assert_eq!(
        app.count(&format!(
            "incident_events WHERE incident_id = '{incident}' AND kind = 'ack_target_missed'"
        ))
        .await,
        1
    );
}

async fn wrong_requests_are_refused_and_change_nothing(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let c = app.gold_customer().await;
    let (incident, ticket) = incident(&app, &c, "k1").await;
    let pauses = format!("ticket_pauses WHERE ticket_id = '{ticket}'");

    // Bad bodies name the field.
    let res = responder(
        &app,
        &c,
        &incident,
        "wait-on-customer",
        Some(json!({ "reason": 5 })),
    )
    .await;
    assert_eq!(
        assert_problem(res, 422).await["errors"][0]["field"],
        "reason"
    );
    let res = responder(
        &app,
        &c,
        &incident,
        "wait-on-customer",
        Some(json!({ "reason": "x".repeat(501) })),
    )
    .await;
    assert_eq!(
        assert_problem(res, 422).await["errors"][0]["field"],
        "reason"
    );
    let res = app
        .admin(
            Method::POST,
            &format!("/v1/tickets/{ticket}/wait-on-customer"),
        )
        .json(&json!("logs"))
        .send()
        .await
        .unwrap();
    assert_eq!(assert_problem(res, 422).await["errors"][0]["field"], "body");
    assert_eq!(app.count(&pauses).await, 0);

    // Resuming what does not wait, and pausing twice, are conflicts.
    let res = helpdesk(&app, &app.admin_key, &ticket, "resume").await;
    let body = assert_problem(res, 409).await;
    assert!(body["type"]
        .as_str()
        .unwrap()
        .ends_with("not-waiting-on-customer"));
    assert_eq!(
        helpdesk(&app, &app.admin_key, &ticket, "wait-on-customer")
            .await
            .status(),
        200
    );
    let res = responder(&app, &c, &incident, "wait-on-customer", None).await;
    let body = assert_problem(res, 409).await;
    assert!(body["type"]
        .as_str()
        .unwrap()
        .ends_with("already-waiting-on-customer"));
    assert_eq!(app.count(&pauses).await, 1);

    // Unknown ids.
    assert_problem(
        responder(&app, &c, "nope", "wait-on-customer", None).await,
        404,
    )
    .await;
    assert_problem(helpdesk(&app, &app.admin_key, "nope", "resume").await, 404).await;

    // The wrong callers: a customer's device, a responder not involved, a key without scope.
    let res = app
        .with_token(
            Method::POST,
            &format!("/v1/incidents/{incident}/resume"),
            &c.contact.access_token,
        )
        .send()
        .await
        .unwrap();
    assert_problem(res, 403).await;
    let stranger = app.create_user("responder", None, "Stan Stranger").await;
    let stranger = app.enroll(&stranger, "ios").await;
    let res = app
        .with_token(
            Method::POST,
            &format!("/v1/incidents/{incident}/resume"),
            &stranger.access_token,
        )
        .send()
        .await
        .unwrap();
    assert_problem(res, 404).await;
    let reports = helpdesk_key(&app, json!(["reports:read"])).await;
    assert_problem(helpdesk(&app, &reports, &ticket, "resume").await, 403).await;
    let tickets = helpdesk_key(&app, json!(["tickets:write"])).await;
    assert_eq!(
        helpdesk(&app, &tickets, &ticket, "resume").await.status(),
        200
    );
    assert_eq!(
        app.count(&format!("{pauses} AND resumed_at IS NULL")).await,
        0
    );
}
