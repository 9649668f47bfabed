//! The panic button: classification, tickets, incidents, idempotency, and who may press.

use reqwest::Method;
use serde_json::{json, Value};

use crate::on_both_backends;
use crate::support::{assert_problem, minor_press, p1_press, spawn_app, TestBackend};

on_both_backends!(
    p1_press_opens_a_ticket_and_incident_and_queues_the_first_pages,
    non_p1_press_files_a_p2_ticket_explains_why_and_pages_nobody,
    a_retry_replays_the_first_answer_and_a_changed_body_is_refused,
    the_idempotency_key_is_required,
    concurrent_retries_of_one_press_make_one_incident,
    concurrent_presses_for_one_service_join_one_incident,
    a_second_press_joins_the_open_incident_of_its_service,
    a_referenced_ticket_is_escalated_and_must_be_the_customers_own,
    below_gold_the_button_is_refused_and_only_audited,
    a_downgrade_or_revocation_bites_on_the_next_press,
    invalid_presses_name_the_field_and_store_nothing,
    customers_follow_only_their_own_alerts_and_incidents,
);

async fn p1_press_opens_a_ticket_and_incident_and_queues_the_first_pages(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let c = app.gold_customer().await;
    let now = app.clock_now();
    let res = app
        .press(&c.contact, "press-1", &p1_press("checkout"))
        .await;
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["outcome"], "opened");
    assert_eq!(body["priority"], "P1");
    assert_eq!(body["classification"]["matched_rule"], "Production is down");
    assert!(body["ticket_ref"].as_str().unwrap().starts_with("PG-"));
    assert_eq!(body["incident"]["state"], "triggered");
    assert_eq!(body["incident"]["alert_count"], 1);
    assert_eq!(body["paging"]["first"]["name"], "Alice Manager");
    assert_eq!(body["paging"]["first"]["role"], "account_manager");
    assert_eq!(body["paging"]["first"]["devices"], 1);
    let ack_by: chrono::DateTime<chrono::Utc> = body["sla"]["acknowledge_by"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let respond_by: chrono::DateTime<chrono::Utc> =
        body["sla"]["respond_by"].as_str().unwrap().parse().unwrap();
    assert_eq!(ack_by - now, chrono::Duration::minutes(15));
    assert_eq!(respond_by - now, chrono::Duration::minutes(120));

    // The outbox: one pending page for the account manager's phone, written with the incident.
    let incident = body["incident"]["id"].as_str().unwrap();
    let where_ = format!(
        "deliveries WHERE incident_id = '{incident}' AND device_id = '{}' AND kind = 'page'",
        c.account_manager.device_id
    );
    assert_eq!(app.count(&where_).await, 1);
    assert_eq!(app.count("incidents").await, 1);
    assert_eq!(app.count("tickets WHERE priority = 'P1'").await, 1);
}

async fn non_p1_press_files_a_p2_ticket_explains_why_and_pages_nobody(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let c = app.gold_customer().await;
    let res = app
        .press(&c.contact, "minor-1", &minor_press("reports"))
        .await;
    assert_eq!(res.status(), 202);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["outcome"], "ticket_only");
    assert_eq!(body["priority"], "P2");
    assert_eq!(body["paged"], false);
    let unmet = body["classification"]["unmet_criteria"].as_array().unwrap();
    assert_eq!(unmet.len(), 2);
    assert!(unmet[0]
        .as_str()
        .unwrap()
        .contains("production is not down"));
    assert!(unmet[1].as_str().unwrap().contains("a workaround exists"));
    assert!(body["classification"]["explanation"]
        .as_str()
        .unwrap()
        .contains("nobody is being paged"));
    assert_eq!(app.count("incidents").await, 0);
    assert_eq!(app.count("deliveries").await, 0);
    assert_eq!(app.count("tickets WHERE priority = 'P2'").await, 1);
}

async fn a_retry_replays_the_first_answer_and_a_changed_body_is_refused(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let c = app.gold_customer().await;
    let first = app.press(&c.contact, "retry-key", &p1_press("api")).await;
    assert_eq!(first.status(), 201);
    let first = first.text().await.unwrap();
    let again = app.press(&c.contact, "retry-key", &p1_press("api")).await;
    assert_eq!(again.status(), 201);
    assert_eq!(again.text().await.unwrap(), first);
    assert_eq!(app.count("alerts").await, 1);
    assert_eq!(app.count("deliveries").await, 1);

    let res = app
        .press(&c.contact, "retry-key", &p1_press("a different service"))
        .await;
    let body = assert_problem(res, 422).await;
    assert_eq!(
        body["type"],
        "urn:panic-gateway:problem:idempotency-key-reused"
    );
    assert_eq!(app.count("alerts").await, 1);
}

async fn the_idempotency_key_is_required(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let c = app.gold_customer().await;
    let res = app
        .with_token(Method::POST, "/v1/alerts", &c.contact.access_token)
        .json(&p1_press("api"))
        .send()
        .await
        .unwrap();
    let body = assert_problem(res, 400).await;
    assert_eq!(body["errors"][0]["field"], "Idempotency-Key");
    let res = app.press(&c.contact, "has space", &p1_press("api")).await;
    assert_problem(res, 400).await;
    assert_eq!(app.count("alerts").await, 0);
}

async fn concurrent_retries_of_one_press_make_one_incident(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let c = app.gold_customer().await;
    let body = p1_press("payments");
    let presses = (0..10).map(|_| app.press(&c.contact, "same-key", &body));
    let answers = futures_util::future::join_all(presses).await;
    let mut bodies = Vec::new();
    for res in answers {
        assert_eq!(res.status(), 201);
        bodies.push(res.text().await.unwrap());
    }
    assert!(
        bodies.windows(2).all(|w| w[0] == w[1]),
        "every retry gets the same answer"
    );
    assert_eq!(app.count("alerts").await, 1);
    assert_eq!(app.count("incidents").await, 1);
    assert_eq!(app.count("deliveries").await, 1);
}

async fn concurrent_presses_for_one_service_join_one_incident(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let c = app.gold_customer().await;
    let body = p1_press("payments");
    let keys: Vec<String> = (0..8).map(|i| format!("key-{i}")).collect();
    let presses = keys.iter().map(|k| app.press(&c.contact, k, &body));
    let answers = futures_util::future::join_all(presses).await;
    let mut statuses: Vec<u16> = answers.iter().map(|r| r.status().as_u16()).collect();
    statuses.sort();
    assert_eq!(statuses, [200, 200, 200, 200, 200, 200, 200, 201]);
    assert_eq!(app.count("incidents").await, 1);
    assert_eq!(app.count("incidents WHERE alert_count = 8").await, 1);
    assert_eq!(app.count("alerts").await, 8);
    assert_eq!(
        app.count("deliveries").await,
        1,
        "joining pages nobody again"
    );
}

async fn a_second_press_joins_the_open_incident_of_its_service(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let c = app.gold_customer().await;
    let first: Value = app
        .press(&c.contact, "k1", &p1_press("Checkout"))
        .await
        .json()
        .await
        .unwrap();
    let res = app.press(&c.contact, "k2", &p1_press("  checkout ")).await;
    assert_eq!(res.status(), 200);
    let joined: Value = res.json().await.unwrap();
    assert_eq!(joined["outcome"], "joined");
    assert_eq!(joined["incident"]["id"], first["incident"]["id"]);
    assert_eq!(joined["incident"]["alert_count"], 2);
    assert_eq!(joined["ticket_ref"], first["ticket_ref"]);

    let other: Value = app
        .press(&c.contact, "k3", &p1_press("search"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(other["outcome"], "opened");
    assert_ne!(other["incident"]["id"], first["incident"]["id"]);

    let incident = first["incident"]["id"].as_str().unwrap();
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
    // The responder's full timeline; the customer's allow-listed view is tested in lifecycle.
    let kinds: Vec<&str> = view["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    for kind in ["created", "paged", "classified", "joined"] {
        assert!(kinds.contains(&kind), "{kind} missing from {kinds:?}");
    }
    assert_eq!(kinds.iter().filter(|k| **k == "classified").count(), 2);
}

async fn a_referenced_ticket_is_escalated_and_must_be_the_customers_own(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let c = app.gold_customer().await;
    let other = app.gold_customer().await;
    let ticket = |customer: &str, reference: &str, priority: &str| json!({ "customer_id": customer, "external_ref": reference, "subject": "Known issue", "priority": priority });
    app.admin_post("/v1/tickets", ticket(&c.customer_id, "SR-100", "P3"), 201)
        .await;
    app.admin_post("/v1/tickets", ticket(&c.customer_id, "SR-200", "P4"), 201)
        .await;
    app.admin_post(
        "/v1/tickets",
        ticket(&other.customer_id, "SR-999", "P3"),
        201,
    )
    .await;
    // Upsert by reference: the same reference updates.
    let updated = app
        .admin_post("/v1/tickets", ticket(&c.customer_id, "SR-200", "P4"), 200)
        .await;
    assert_eq!(updated["external_ref"], "SR-200");

    let mut press = p1_press("erp");
    press["ticket_ref"] = "SR-100".into();
    let res = app.press(&c.contact, "t1", &press).await;
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["outcome"], "escalated");
    assert_eq!(body["ticket_ref"], "SR-100");

    let mut minor = minor_press("erp reports");
    minor["ticket_ref"] = "SR-200".into();
    let res = app.press(&c.contact, "t2", &minor).await;
    assert_eq!(res.status(), 202);

    let tickets: Value = app
        .admin(
            Method::GET,
            &format!("/v1/tickets?customer={}", c.customer_id),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let priority_of = |r: &str| {
        tickets
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["external_ref"] == r)
            .unwrap()["priority"]
            .clone()
    };
    assert_eq!(priority_of("SR-100"), "P1");
    assert_eq!(priority_of("SR-200"), "P2");

    let mut foreign = p1_press("erp");
    foreign["ticket_ref"] = "SR-999".into();
    let res = app.press(&c.contact, "t3", &foreign).await;
    let body = assert_problem(res, 422).await;
    assert_eq!(body["errors"][0]["field"], "ticket_ref");
    assert_eq!(app.count("alerts").await, 2);
}

async fn below_gold_the_button_is_refused_and_only_audited(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let am = app.create_user("responder", None, "Sven").await;
    let customer = app.create_customer("Small Co", "silver", Some(&am)).await;
    let contact = app.create_user("contact", Some(&customer), "Sue").await;
    let phone = app.enroll(&contact, "android").await;
    let res = app.press(&phone, "s1", &p1_press("web")).await;
    let body = assert_problem(res, 403).await;
    assert_eq!(
        body["type"],
        "urn:panic-gateway:problem:panic-button-not-in-tier"
    );
    assert!(body["detail"].as_str().unwrap().contains("Gold"));
    assert_eq!(app.count("alerts").await, 0);
    assert_eq!(app.count("tickets").await, 0);
    assert_eq!(app.count("idempotency_keys").await, 0);
    assert_eq!(
        app.count("audit_log WHERE action = 'alert.refused'").await,
        1
    );

    // A responder's phone is not a customer's.
    let am_phone = app.enroll(&am, "ios").await;
    assert_problem(app.press(&am_phone, "s2", &p1_press("web")).await, 403).await;
}

async fn a_downgrade_or_revocation_bites_on_the_next_press(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let c = app.gold_customer().await;
    assert_eq!(
        app.press(&c.contact, "d1", &p1_press("a")).await.status(),
        201
    );
    let res = app
        .admin(
            Method::PATCH,
            &format!("/v1/admin/customers/{}", c.customer_id),
        )
        .json(&json!({ "tier": "bronze" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_problem(app.press(&c.contact, "d2", &p1_press("b")).await, 403).await;

    let c2 = app.gold_customer().await;
    app.admin(
        Method::POST,
        &format!("/v1/admin/devices/{}/revoke", c2.contact.device_id),
    )
    .send()
    .await
    .unwrap();
    assert_problem(app.press(&c2.contact, "d3", &p1_press("c")).await, 401).await;
}

async fn invalid_presses_name_the_field_and_store_nothing(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let c = app.gold_customer().await;
    let cases: [(Value, &str); 6] = [
        (
            json!({ "affected_service": "x", "p1": { "production_down": true, "users_affected": "all", "workaround_available": false } }),
            "summary",
        ),
        (
            json!({ "summary": " ", "affected_service": "x", "p1": { "production_down": true, "users_affected": "all", "workaround_available": false } }),
            "summary",
        ),
        (
            json!({ "summary": "s".repeat(201), "affected_service": "x", "p1": { "production_down": true, "users_affected": "all", "workaround_available": false } }),
            "summary",
        ),
        (
            json!({ "summary": "s", "affected_service": "x", "p1": { "production_down": true, "users_affected": "everyone", "workaround_available": false } }),
            "p1.users_affected",
        ),
        (
            json!({ "summary": "s", "affected_service": "x", "p1": { "production_down": "yes", "users_affected": "all", "workaround_available": false } }),
            "p1.production_down",
        ),
        (
            json!({ "summary": "s", "affected_service": "x", "app_local_time": "yesterday", "p1": { "production_down": true, "users_affected": "all", "workaround_available": false } }),
            "app_local_time",
        ),
    ];
    for (i, (body, field)) in cases.iter().enumerate() {
        let res = app.press(&c.contact, &format!("bad-{i}"), body).await;
        let problem = assert_problem(res, 422).await;
        assert_eq!(problem["errors"][0]["field"], *field, "case {i}: {problem}");
    }
    assert_eq!(app.count("alerts").await, 0);
    assert_eq!(app.count("idempotency_keys").await, 0);
}

async fn customers_follow_only_their_own_alerts_and_incidents(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let a = app.gold_customer().await;
    let b = app.gold_customer().await;
    let pressed: Value = app
        .press(&a.contact, "f1", &p1_press("core"))
        .await
        .json()
        .await
        .unwrap();
    let alert = pressed["alert_id"].as_str().unwrap();
    let incident = pressed["incident"]["id"].as_str().unwrap();

    let get = |path: String, token: String| {
        let app = &app;
        async move {
            app.with_token(Method::GET, &path, &token)
                .send()
                .await
                .unwrap()
        }
    };
    let res = get(
        format!("/v1/alerts/{alert}"),
        a.contact.access_token.clone(),
    )
    .await;
    assert_eq!(res.status(), 200);
    let view: Value = res.json().await.unwrap();
    assert_eq!(view["alert"]["priority"], "P1");
    assert_eq!(view["incident"]["state"], "triggered");

    assert_problem(
        get(
            format!("/v1/alerts/{alert}"),
            b.contact.access_token.clone(),
        )
        .await,
        404,
    )
    .await;
    assert_problem(
        get(
            format!("/v1/incidents/{incident}"),
            b.contact.access_token.clone(),
        )
        .await,
        404,
    )
    .await;
    // B's account manager is not involved in A's incident; A's is.
    assert_problem(
        get(
            format!("/v1/incidents/{incident}"),
            b.account_manager.access_token.clone(),
        )
        .await,
        404,
    )
    .await;
    let res = get(
        format!("/v1/incidents/{incident}"),
        a.account_manager.access_token.clone(),
    )
    .await;
    assert_eq!(res.status(), 200);
    let view: Value = res.json().await.unwrap();
    assert_eq!(view["state"], "triggered");
    assert_eq!(view["ticket_ref"], pressed["ticket_ref"]);
    assert!(view["acknowledged_by"].is_null());
}
