//! SLA targets per tier, the promise check, pre-breach warnings, breaches and reports.

use std::time::Duration as StdDuration;

use chrono::Duration;
use panic_gateway::store::devkit;
use reqwest::Method;
use serde_json::{json, Value};

use crate::on_both_backends;
use crate::support::{
    assert_problem, eventually, p1_press, spawn_app, spawn_instance, TestApp, TestBackend,
};

on_both_backends!(
    incident_deadlines_follow_the_tier_sla,
    an_unkeepable_sla_is_refused_with_the_arithmetic,
    warnings_page_support_managers_before_the_breach,
    the_report_measures_acknowledgement_and_explains_breaches,
    the_report_range_is_forward_and_at_most_366_days,
    a_stored_policy_that_cannot_keep_its_promise_is_marked_and_the_gateway_serves,
    moving_a_customer_to_a_stricter_tier_is_refused_when_its_policy_cannot_keep_up,
    concurrent_policy_and_tier_writes_never_leave_a_policy_that_cannot_keep_up,
    the_report_view_gives_dashboards_the_same_instants,
);

fn gold_sla(internal: i64, external: i64) -> Value {
    json!({
        "external_response_minutes": external,
        "internal_ack_minutes": internal,
        "resolution_minutes": 480,
        "coverage": { "type": "always" },
    })
}

async fn put_sla(app: &TestApp, tier: &str, body: Value) -> reqwest::Response {
    app.admin(Method::PUT, &format!("/v1/admin/tiers/{tier}/sla"))
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn incident_deadlines_follow_the_tier_sla(backend: TestBackend) {
    let app = spawn_app(backend).await;
    assert_eq!(put_sla(&app, "gold", gold_sla(12, 60)).await.status(), 200);
    let tiers: Value = app
        .admin(Method::GET, "/v1/admin/tiers")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(tiers[0]["sla"]["internal_ack_minutes"], 12);
    let c = app.gold_customer().await;
    let now = app.clock_now();
    let body: Value = app
        .press(&c.contact, "sla", &p1_press("db"))
        .await
        .json()
        .await
        .unwrap();
    let ack_by: chrono::DateTime<chrono::Utc> = body["sla"]["acknowledge_by"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let respond_by: chrono::DateTime<chrono::Utc> =
        body["sla"]["respond_by"].as_str().unwrap().parse().unwrap();
    assert_eq!(ack_by - now, Duration::minutes(12));
    assert_eq!(respond_by - now, Duration::minutes(60));
}

async fn an_unkeepable_sla_is_refused_with_the_arithmetic(backend: TestBackend) {
    let app = spawn_app(backend).await;
    // The default policy reaches its last step after 5 + 5 = 10 minutes.
    let body = assert_problem(put_sla(&app, "gold", gold_sla(8, 120)).await, 422).await;
    let detail = body["errors"][0]["detail"].as_str().unwrap();
    assert!(detail.contains("5 min + 5 min = 10 min"), "{detail}");
    assert!(detail.contains("8 min"), "{detail}");
    // Three passes of 20 minutes do not fit a 45-minute response SLA.
    let body = assert_problem(put_sla(&app, "gold", gold_sla(15, 45)).await, 422).await;
    assert!(
        body["errors"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("60 min"),
        "{body}"
    );
    let body = assert_problem(put_sla(&app, "gold", gold_sla(130, 120)).await, 422).await;
    assert!(!body["errors"].as_array().unwrap().is_empty());
    let body = assert_problem(put_sla(&app, "gold", gold_sla(0, 120)).await, 422).await;
    assert_eq!(body["errors"][0]["field"], "internal_ack_minutes");
    assert_problem(put_sla(&app, "platinum", gold_sla(15, 120)).await, 404).await;
    // Nothing changed.
    let tiers: Value = app
        .admin(Method::GET, "/v1/admin/tiers")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(tiers[0]["sla"]["internal_ack_minutes"], 15);
}

async fn events(app: &TestApp, incident: &str, kind: &str) -> i64 {
    app.count(&format!(
        "incident_events WHERE incident_id = '{incident}' AND kind = '{kind}'"
    ))
    .await
}

async fn warnings_page_support_managers_before_the_breach(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let c = app.gold_customer().await;
    let sm = app.create_user("support_manager", None, "Morgan").await;
    app.enroll(&sm, "ios").await;
    let body: Value = app
        .press(&c.contact, "warn", &p1_press("erp"))
        .await
        .json()
        .await
        .unwrap();
    let incident = body["incident"]["id"].as_str().unwrap().to_owned();
    let warnings = format!(
        "deliveries WHERE incident_id = '{incident}' AND user_id = '{sm}' AND title LIKE 'SLA warning%'"
    );
    const WAIT: StdDuration = StdDuration::from_secs(10);

    app.clock.advance(Duration::minutes(16));
    eventually(
        WAIT,
        "the internal target is recorded as missed",
        || async { events(&app, &incident, "ack_target_missed").await == 1 },
    )
    .await;
    assert_eq!(app.count(&warnings).await, 0);
    app.clock.advance(Duration::minutes(44)); // 60 min: half the 120-minute SLA
    eventually(WAIT, "the 50% warning", || async {
        app.count(&warnings).await == 1
    })
    .await;
    app.clock.advance(Duration::minutes(36)); // 96 min: 80%
    eventually(WAIT, "the 80% warning", || async {
        app.count(&warnings).await == 2
    })
    .await;
    app.clock.advance(Duration::minutes(24)); // 120 min
    eventually(WAIT, "the breach", || async {
        events(&app, &incident, "sla_breached").await == 1
    })
    .await;
    app.run_due_work().await;
    assert_eq!(events(&app, &incident, "sla_warning").await, 2);
    assert_eq!(events(&app, &incident, "sla_breached").await, 1);
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains(r#"panic_gateway_sla_breaches_total{target="external",tier="gold"} 1"#),
        "{metrics}"
    );
    assert!(metrics.contains(r#"panic_gateway_sla_warnings_total{tier="gold"} 2"#));
}

async fn the_report_measures_acknowledgement_and_explains_breaches(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let start = app.clock_now();
    let answered = app.gold_customer().await;
    let body: Value = app
        .press(&answered.contact, "r1", &p1_press("web"))
        .await
        .json()
        .await
        .unwrap();
    let first = body["incident"]["id"].as_str().unwrap().to_owned();
    // A customer whose account manager has no phone, and no schedules exist: nobody to page.
    let am = app.create_user("responder", None, "Nora Nophone").await;
    let lonely = app.create_customer("Lonely Ltd", "gold", Some(&am)).await;
    let contact = app.create_user("contact", Some(&lonely), "Lee").await;
    let lee = app.enroll(&contact, "android").await;
    let res = app.press(&lee, "r2", &p1_press("api")).await;
    assert_eq!(res.status(), 201);

    app.clock.advance(Duration::minutes(3));
    let ack = app
        .with_token(
            Method::POST,
            &format!("/v1/incidents/{first}/acknowledge"),
            &answered.account_manager.access_token,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(ack.status(), 200);
    app.clock.advance(Duration::minutes(125));

    let url = format!(
        "/v1/reports/sla?from={}&to={}",
        (start - Duration::minutes(1)).to_rfc3339(),
        (start + Duration::hours(3)).to_rfc3339()
    );
    let url = url.replace('+', "%2B");
    let report: Value = app
        .admin(Method::GET, &url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(report["incidents"], 2, "{report}");
    assert_eq!(report["acknowledged"], 1);
    assert_eq!(report["time_to_acknowledge_seconds"]["median"], 180);
    assert_eq!(report["within_internal_target"], 0.5);
    assert_eq!(report["within_external_sla"], 0.5);
    let breaches = report["breaches"].as_array().unwrap();
    assert_eq!(breaches.len(), 1);
    assert_eq!(breaches[0]["customer"], "Lonely Ltd");
    assert_eq!(breaches[0]["breach_cause"], "no_device");
    assert_eq!(report["per_responder"][0]["name"], "Alice Manager");
    assert_eq!(report["per_responder"][0]["acknowledged"], 1);

    let csv = app
        .admin(Method::GET, &url)
        .header("accept", "text/csv")
        .send()
        .await
        .unwrap();
    assert!(csv.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let text = csv.text().await.unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[0].starts_with("incident_id,ticket_ref,customer"));
    assert!(lines
        .iter()
        .any(|l| l.contains("Lonely Ltd") && l.contains(",no_device,")));

    let bad = app
        .admin(Method::GET, "/v1/reports/sla?from=yesterday")
        .send()
        .await
        .unwrap();
    assert_problem(bad, 400).await;
}

async fn a_stored_policy_that_cannot_keep_its_promise_is_marked_and_the_gateway_serves(
    backend: TestBackend,
) {
    let app = spawn_app(backend).await;
    let c = app.gold_customer().await;
    // Reaches its last step after 10 minutes: fits Gold's 15.
    let res = app
        .admin(Method::PUT, "/v1/admin/policies")
        .json(&json!({
            "name": "acme", "customer_id": c.customer_id, "repeat": 0,
            "steps": [
                { "targets": [{ "type": "account_manager" }], "ack_timeout_minutes": 10 },
                { "targets": [{ "type": "support_managers" }], "ack_timeout_minutes": 5 }
            ]
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let policy_id = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Someone edits the database behind the API's back: 6 minutes to acknowledge.
    devkit::overwrite_tier_sla(
        &app.db_url,
        "gold",
        &json!({
            "name": "gold", "external_response_minutes": 120, "internal_ack_minutes": 6,
            "resolution_minutes": 480, "coverage": { "type": "always" }
        })
        .to_string(),
    )
    .await
    .unwrap();

    // A replica starting now serves, and says which policies are out of line.
    let restarted = spawn_instance(&app, app.settings.clone()).await;
    let ready = restarted.get("/readyz").await;
    assert_eq!(ready.status(), 200);
    let ready: Value = ready.json().await.unwrap();
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["escalation"]["status"], "degraded", "{ready}");
    let marked = ready["escalation"]["policies_exceeding_sla"]
        .as_array()
        .unwrap();
    assert!(
        marked.contains(&json!({ "tier": "gold", "policy_id": policy_id })),
        "{ready}"
    );
    // The built-in default (5 + 5 minutes) no longer fits either; it has no id.
    assert!(
        marked.contains(&json!({ "tier": "gold", "policy_id": null })),
        "{ready}"
    );
    assert!(
        !ready.to_string().contains("6 min"),
        "the arithmetic is for the log"
    );

    // The policy list shows the arithmetic to the admin.
    let policies: Value = restarted
        .admin(Method::GET, "/v1/admin/policies")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let misfit = policies["items"][0]["sla_misfit"].as_str().unwrap();
    assert!(misfit.contains("10 min"), "{misfit}");
    assert!(misfit.contains("6 min"), "{misfit}");

    // And alerts are still taken and paged.
    let res = restarted.press(&c.contact, "still", &p1_press("db")).await;
    assert_eq!(res.status(), 201);

    // Fixing the policy through the API clears its mark.
    let res = restarted
        .admin(Method::PUT, "/v1/admin/policies")
        .json(&json!({
            "name": "acme", "customer_id": c.customer_id, "repeat": 0,
            "steps": [
                { "targets": [{ "type": "account_manager" }], "ack_timeout_minutes": 5 },
                { "targets": [{ "type": "support_managers" }], "ack_timeout_minutes": 5 }
            ]
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let policies: Value = restarted
        .admin(Method::GET, "/v1/admin/policies")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(policies["items"][0]["sla_misfit"].is_null(), "{policies}");
}

async fn moving_a_customer_to_a_stricter_tier_is_refused_when_its_policy_cannot_keep_up(
    backend: TestBackend,
) {
    let app = spawn_app(backend).await;
    let customer = app.create_customer("Slowpoke", "silver", None).await;
    // Reaches its last step after 20 minutes: fits Silver's 30, not Gold's 15.
    let res = app
        .admin(Method::PUT, "/v1/admin/policies")
        .json(&json!({
            "name": "relaxed", "customer_id": customer, "repeat": 0,
            "steps": [
                { "targets": [{ "type": "account_manager" }], "ack_timeout_minutes": 20 },
                { "targets": [{ "type": "support_managers" }], "ack_timeout_minutes": 20 }
            ]
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    let res = app
        .admin(Method::PATCH, &format!("/v1/admin/customers/{customer}"))
        .json(&json!({ "tier": "gold" }))
        .send()
        .await
        .unwrap();
    let body = assert_problem(res, 422).await;
    assert_eq!(body["errors"][0]["field"], "tier");
    let detail = body["errors"][0]["detail"].as_str().unwrap();
    assert!(detail.contains("\"relaxed\""), "{detail}");
    assert!(detail.contains("20 min"), "{detail}");
    assert!(detail.contains("15 min"), "{detail}");
    // Nothing changed, and the next start has nothing to complain about.
    let stored: Value = app
        .admin(Method::GET, &format!("/v1/admin/customers/{customer}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stored["tier"], "silver");
    let ready: Value = app.get("/readyz").await.json().await.unwrap();
    assert_eq!(ready["escalation"]["status"], "ok", "{ready}");

    // Other changes to the customer still go through.
    let res = app
        .admin(Method::PATCH, &format!("/v1/admin/customers/{customer}"))
        .json(&json!({ "name": "Slowpoke Ltd", "tier": "bronze" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

async fn the_report_range_is_forward_and_at_most_366_days(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let report = |from: &str, to: &str| {
        let url = format!("/v1/reports/sla?from={from}&to={to}");
        let app = &app;
        async move { app.admin(Method::GET, &url).send().await.unwrap() }
    };
    // A year and a day is too wide: the report would read every incident in it.
    let body = assert_problem(
        report("2024-01-01T00:00:00Z", "2025-01-02T00:00:01Z").await,
        422,
    )
    .await;
    assert_eq!(body["errors"][0]["field"], "from");
    assert!(
        body["errors"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("366 days"),
        "{body}"
    );
    // Inverted.
    let body = assert_problem(
        report("2024-02-01T00:00:00Z", "2024-01-01T00:00:00Z").await,
        422,
    )
    .await;
    assert_eq!(body["errors"][0]["field"], "from");
    // Only `from`, far back: `to` defaults to now, so the range is too wide too.
    let res = app
        .admin(Method::GET, "/v1/reports/sla?from=2000-01-01T00:00:00Z")
        .send()
        .await
        .unwrap();
    assert_eq!(assert_problem(res, 422).await["errors"][0]["field"], "from");
    // A leap year exactly is fine.
    let res = report("2024-01-01T00:00:00Z", "2025-01-01T00:00:00Z").await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["incidents"], 0);
}

async fn concurrent_policy_and_tier_writes_never_leave_a_policy_that_cannot_keep_up(
    backend: TestBackend,
) {
    let app = spawn_app(backend).await;
    let customer = app.create_customer("Racy", "silver", None).await;
    // 20 minutes to the last step: fits Silver (30), not Gold (15).
    let slow = json!({
        "name": "slow", "customer_id": customer, "repeat": 0,
        "steps": [
            { "targets": [{ "type": "account_manager" }], "ack_timeout_minutes": 20 },
            { "targets": [{ "type": "support_managers" }], "ack_timeout_minutes": 20 }
        ]
    });
    let fast = json!({
        "name": "fast", "customer_id": customer, "repeat": 0,
        "steps": [
            { "targets": [{ "type": "account_manager" }], "ack_timeout_minutes": 5 },
            { "targets": [{ "type": "support_managers" }], "ack_timeout_minutes": 5 }
        ]
    });
    let put = |body: Value| {
        let app = &app;
        async move {
            app.admin(Method::PUT, "/v1/admin/policies")
                .json(&body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    let patch = |tier: &'static str| {
        let app = &app;
        let url = format!("/v1/admin/customers/{customer}");
        async move {
            app.admin(Method::PATCH, &url)
                .json(&json!({ "tier": tier }))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    for _ in 0..8 {
        let (a, b, c, d) = tokio::join!(
            put(slow.clone()),
            patch("gold"),
            put(fast.clone()),
            patch("silver")
        );
        // Each write either lands or is refused with the arithmetic; none fails or deadlocks.
        for status in [a, b, c, d] {
            assert!(status == 200 || status == 422, "status {status}");
        }
        let ready: Value = app.get("/readyz").await.json().await.unwrap();
        assert_eq!(ready["escalation"]["status"], "ok", "{ready}");
    }
}

/// What the API says of an instant, as the report view writes it: UTC to the millisecond.
fn iso_millis(api: &Value) -> String {
    chrono::DateTime::parse_from_rfc3339(api.as_str().unwrap())
        .unwrap()
        .with_timezone(&chrono::Utc)
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

async fn the_report_view_gives_dashboards_the_same_instants(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let c = app.gold_customer().await;
    let body: Value = app
        .press(&c.contact, "view", &p1_press("web"))
        .await
        .json()
        .await
        .unwrap();
    let incident = body["incident"]["id"].as_str().unwrap().to_owned();
    app.clock.advance(Duration::minutes(3));
    let acked: Value = app
        .with_token(
            Method::POST,
            &format!("/v1/incidents/{incident}/acknowledge"),
            &c.account_manager.access_token,
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (column_type, created, acknowledged, by, seconds) =
        devkit::report_view_row(&app.db_url, &incident)
            .await
            .unwrap();
    // A dashboard on PostgreSQL gets timestamptz, not milliseconds to convert.
    let expected_type = match backend {
        TestBackend::Postgres => "timestamp with time zone",
        TestBackend::Sqlite => "text",
    };
    assert_eq!(column_type, expected_type);
    assert_eq!(created, iso_millis(&acked["created_at"]));
    assert_eq!(
        acknowledged.as_deref(),
        Some(iso_millis(&acked["acknowledged_at"]).as_str())
    );
    assert_eq!(by.as_deref(), Some("Alice Manager"));
    assert_eq!(seconds, Some(180.0));
}
