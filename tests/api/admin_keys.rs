//! Admin API keys: scopes confine a key to its routes, expiry and revocation (API and CLI) end
//! it, its last use is recorded at most once a minute, and its secret is shown once. Also the
//! pages of the admin lists.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};
use reqwest::Method;
use serde_json::{json, Value};

use crate::on_both_backends;
use crate::support::{assert_problem, spawn_app, TestApp, TestBackend};

on_both_backends!(
    a_tickets_write_key_reaches_the_ticket_routes_only,
    a_reports_read_key_reads_the_sla_report_only,
    an_expired_key_is_refused,
    a_revoked_key_is_refused_from_the_next_request,
    a_key_revoked_from_the_cli_is_refused,
    last_use_is_recorded_at_most_once_a_minute,
    the_list_shows_no_secret,
    bad_key_requests_name_the_field_and_create_nothing,
    admin_lists_come_in_pages_that_see_every_row_once,
    bad_page_parameters_name_the_parameter,
);

/// Creates a key through the API with `body`; returns its id and secret.
async fn create_key(app: &TestApp, body: Value) -> (String, String) {
    let res = app
        .admin(Method::POST, "/v1/admin/api-keys")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let created: Value = res.json().await.unwrap();
    let key = created["key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("pgw_admin_"));
    (created["id"].as_str().unwrap().to_owned(), key)
}

async fn status(app: &TestApp, key: &str, method: Method, path: &str) -> u16 {
    app.with_token(method, path, key)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn list_keys(app: &TestApp) -> Vec<Value> {
    let page: Value = app
        .admin(Method::GET, "/v1/admin/api-keys")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    page["items"].as_array().unwrap().clone()
}

async fn listed_key(app: &TestApp, id: &str) -> Value {
    list_keys(app)
        .await
        .into_iter()
        .find(|k| k["id"] == id)
        .unwrap_or_else(|| panic!("key {id} is listed"))
}

fn ticket(customer: &str, priority: &str) -> Value {
    json!({ "customer_id": customer, "external_ref": "SR-1", "subject": "Slow", "priority": priority })
}

async fn a_tickets_write_key_reaches_the_ticket_routes_only(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let customer = app.create_customer("Acme", "gold", None).await;
    let (id, helpdesk) = create_key(
        &app,
        json!({ "name": "helpdesk", "scopes": ["tickets:write"] }),
    )
    .await;

    // It creates a ticket, then escalates it (same reference, higher priority).
    let res = app
        .with_token(Method::POST, "/v1/tickets", &helpdesk)
        .json(&ticket(&customer, "P3"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let res = app
        .with_token(Method::POST, "/v1/tickets", &helpdesk)
        .json(&ticket(&customer, "P2"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let escalated: Value = res.json().await.unwrap();
    assert_eq!(escalated["priority"], "P2");
    assert_eq!(
        status(&app, &helpdesk, Method::GET, "/v1/tickets").await,
        200
    );
    // The change is on record as this key's.
    let by_key =
        format!("incident_events WHERE kind = 'ticket.priority_changed' AND actor = 'admin:{id}'");
    assert_eq!(app.count(&by_key).await, 1);

    // Nothing else: 403 naming the scope the route needs.
    for (method, path, needed) in [
        (Method::GET, "/v1/admin/customers", "admin"),
        (Method::GET, "/v1/admin/api-keys", "admin"),
        (Method::GET, "/v1/reports/sla", "reports:read"),
    ] {
        let res = app
            .with_token(method, path, &helpdesk)
            .send()
            .await
            .unwrap();
        let body = assert_problem(res, 403).await;
        assert_eq!(body["type"], "urn:panic-gateway:problem:insufficient-scope");
        assert_eq!(body["required_scope"], needed, "{path}");
        assert!(body["detail"].as_str().unwrap().contains(needed));
    }
    let res = app
        .with_token(Method::POST, "/v1/admin/customers", &helpdesk)
        .json(&json!({ "name": "Evil", "tier": "gold" }))
        .send()
        .await
        .unwrap();
    assert_problem(res, 403).await;
    assert_eq!(app.count("customers").await, 1, "nothing was created");
}

async fn a_reports_read_key_reads_the_sla_report_only(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let customer = app.create_customer("Acme", "gold", None).await;
    let (_, reports) = create_key(&app, json!({ "name": "bi", "scopes": ["reports:read"] })).await;
    assert_eq!(
        status(&app, &reports, Method::GET, "/v1/reports/sla").await,
        200
    );
    for (method, path) in [
        (Method::GET, "/v1/tickets"),
        (Method::GET, "/v1/admin/customers"),
        (Method::GET, "/v1/admin/tiers"),
        (Method::GET, "/v1/oncall"),
    ] {
        let res = app.with_token(method, path, &reports).send().await.unwrap();
        assert_problem(res, 403).await;
    }
    let res = app
        .with_token(Method::POST, "/v1/tickets", &reports)
        .json(&ticket(&customer, "P3"))
        .send()
        .await
        .unwrap();
    assert_problem(res, 403).await;
    assert_eq!(app.count("tickets").await, 0);

    // A key with both scopes has both, and still not admin.
    let (_, both) = create_key(
        &app,
        json!({ "name": "both", "scopes": ["reports:read", "tickets:write"] }),
    )
    .await;
    assert_eq!(
        status(&app, &both, Method::GET, "/v1/reports/sla").await,
        200
    );
    assert_eq!(status(&app, &both, Method::GET, "/v1/tickets").await, 200);
    assert_eq!(
        status(&app, &both, Method::GET, "/v1/admin/users").await,
        403
    );
}

async fn an_expired_key_is_refused(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let expires_at = app.clock_now() + Duration::hours(1);
    let (id, key) = create_key(
        &app,
        json!({ "name": "temp", "scopes": ["admin"], "expires_at": expires_at }),
    )
    .await;
    let listed = listed_key(&app, &id).await;
    assert_eq!(
        listed["expires_at"]
            .as_str()
            .unwrap()
            .parse::<DateTime<Utc>>()
            .unwrap(),
        expires_at
    );
    assert_eq!(
        status(&app, &key, Method::GET, "/v1/admin/tiers").await,
        200
    );
    app.clock.advance(Duration::hours(1));
    let res = app
        .with_token(Method::GET, "/v1/admin/tiers", &key)
        .send()
        .await
        .unwrap();
    let body = assert_problem(res, 401).await;
    assert!(body["detail"].as_str().unwrap().contains("expired"));
    // The suite's key, which has no expiry, still works.
    assert_eq!(
        status(&app, &app.admin_key, Method::GET, "/v1/admin/tiers").await,
        200
    );
}

async fn a_revoked_key_is_refused_from_the_next_request(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let (id, key) = create_key(&app, json!({ "name": "ops", "scopes": ["admin"] })).await;
    assert_eq!(
        status(&app, &key, Method::GET, "/v1/admin/tiers").await,
        200
    );

    // A key cannot revoke itself.
    let res = app
        .with_token(Method::DELETE, &format!("/v1/admin/api-keys/{id}"), &key)
        .send()
        .await
        .unwrap();
    assert_problem(res, 409).await;
    assert_eq!(
        status(&app, &key, Method::GET, "/v1/admin/tiers").await,
        200
    );

    let path = format!("/v1/admin/api-keys/{id}");
    assert_eq!(
        status(&app, &app.admin_key, Method::DELETE, &path).await,
        204
    );
    let res = app
        .with_token(Method::GET, "/v1/admin/tiers", &key)
        .send()
        .await
        .unwrap();
    let body = assert_problem(res, 401).await;
    assert!(body["detail"].as_str().unwrap().contains("revoked"));
    assert!(listed_key(&app, &id).await["revoked_at"].is_string());
    // Revoking again changes nothing; an unknown key is 404.
    assert_eq!(
        status(&app, &app.admin_key, Method::DELETE, &path).await,
        204
    );
    let res = app
        .admin(Method::DELETE, "/v1/admin/api-keys/no-such-key")
        .send()
        .await
        .unwrap();
    assert_problem(res, 404).await;
    assert_eq!(
        app.count(&format!(
            "audit_log WHERE action = 'admin_key.revoked' AND subject_id = '{id}'"
        ))
        .await,
        1
    );
}

fn cli_key(out: std::process::Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

async fn a_key_revoked_from_the_cli_is_refused(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let helpdesk = cli_key(
        app.admin_cli(&[
            "create-key",
            "--name",
            "helpdesk",
            "--scope",
            "tickets:write",
            "--scope",
            "reports:read",
            "--expires-in-days",
            "30",
        ])
        .await,
    );
    let doomed = cli_key(app.admin_cli(&["create-key", "--name", "doomed"]).await);
    let unknown_scope = app
        .admin_cli(&["create-key", "--name", "x", "--scope", "everything"])
        .await;
    let unknown_key = app.admin_cli(&["revoke-key", "no-such-key"]).await;
    let keys = list_keys(&app).await;
    let doomed_id = keys.iter().find(|k| k["name"] == "doomed").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let revoked = app.admin_cli(&["revoke-key", &doomed_id]).await;
    assert!(
        revoked.status.success(),
        "{}",
        String::from_utf8_lossy(&revoked.stderr)
    );

    // Unknown ids and scopes are refused with a non-zero exit, creating nothing.
    assert!(!unknown_scope.status.success());
    assert!(String::from_utf8_lossy(&unknown_scope.stderr).contains("unknown scope"));
    assert!(!unknown_key.status.success());
    assert!(String::from_utf8_lossy(&unknown_key.stderr).contains("no admin key"));
    assert_eq!(app.count("admin_keys").await, 3);

    // The revoked key is refused; the scoped one has its scopes, and `admin` is the default.
    let res = app
        .with_token(Method::GET, "/v1/admin/tiers", &doomed)
        .send()
        .await
        .unwrap();
    assert_problem(res, 401).await;
    assert_eq!(
        status(&app, &helpdesk, Method::GET, "/v1/tickets").await,
        200
    );
    assert_eq!(
        status(&app, &helpdesk, Method::GET, "/v1/admin/tiers").await,
        403
    );
    let listed = keys.iter().find(|k| k["name"] == "helpdesk").unwrap();
    assert_eq!(listed["scopes"], json!(["tickets:write", "reports:read"]));
    let expires_at: DateTime<Utc> = listed["expires_at"].as_str().unwrap().parse().unwrap();
    let created_at: DateTime<Utc> = listed["created_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(expires_at - created_at, Duration::days(30));
    let doomed = keys.iter().find(|k| k["name"] == "doomed").unwrap();
    assert_eq!(doomed["scopes"], json!(["admin"]));
    assert!(doomed["expires_at"].is_null());
}

fn last_used(key: &Value) -> Option<DateTime<Utc>> {
    key["last_used_at"].as_str().map(|t| t.parse().unwrap())
}

async fn last_use_is_recorded_at_most_once_a_minute(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let (id, key) = create_key(
        &app,
        json!({ "name": "helpdesk", "scopes": ["tickets:write"] }),
    )
    .await;
    assert_eq!(last_used(&listed_key(&app, &id).await), None);

    let first = app.clock_now();
    assert_eq!(status(&app, &key, Method::GET, "/v1/tickets").await, 200);
    assert_eq!(last_used(&listed_key(&app, &id).await), Some(first));

    // Within the minute: not written again.
    app.clock.advance(Duration::seconds(59));
    assert_eq!(status(&app, &key, Method::GET, "/v1/tickets").await, 200);
    assert_eq!(last_used(&listed_key(&app, &id).await), Some(first));

    // A minute on: written. A refused use (wrong scope) is still a use of the key.
    app.clock.advance(Duration::seconds(1));
    assert_eq!(
        status(&app, &key, Method::GET, "/v1/admin/tiers").await,
        403
    );
    assert_eq!(
        last_used(&listed_key(&app, &id).await),
        Some(first + Duration::seconds(60))
    );
}

async fn the_list_shows_no_secret(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let (id, key) = create_key(&app, json!({ "name": "ops", "scopes": ["admin"] })).await;
    let res = app
        .admin(Method::GET, "/v1/admin/api-keys")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    assert!(!text.contains(&key), "the secret is not listed");
    assert!(!text.contains(&app.admin_key));
    let page: Value = serde_json::from_str(&text).unwrap();
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "the suite's key and this one");
    let listed = items.iter().find(|k| k["id"] == id.as_str()).unwrap();
    let fields: BTreeSet<&str> = listed
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    assert_eq!(
        fields,
        BTreeSet::from([
            "id",
            "name",
            "scopes",
            "created_at",
            "expires_at",
            "last_used_at",
            "revoked_at"
        ])
    );
    assert_eq!(listed["name"], "ops");
    assert_eq!(listed["scopes"], json!(["admin"]));
}

async fn bad_key_requests_name_the_field_and_create_nothing(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let past = app.clock_now() - Duration::minutes(1);
    for (body, field) in [
        (json!({ "name": "x", "scopes": ["tickets:read"] }), "scopes"),
        (json!({ "name": "x", "scopes": [] }), "scopes"),
        (json!({ "name": "x", "scopes": ["Admin"] }), "scopes"),
        (json!({ "name": " ", "scopes": ["admin"] }), "name"),
        (
            json!({ "name": "x", "scopes": ["admin"], "expires_at": past }),
            "expires_at",
        ),
    ] {
        let res = app
            .admin(Method::POST, "/v1/admin/api-keys")
            .json(&body)
            .send()
            .await
            .unwrap();
        let problem = assert_problem(res, 422).await;
        assert_eq!(problem["errors"][0]["field"], field, "{body}");
    }
    assert_eq!(app.count("admin_keys").await, 1, "only the suite's key");
}

/// Follows `path`'s pages of `limit` to the end; the ids of every page.
async fn all_pages(app: &TestApp, path: &str, limit: u32) -> Vec<Vec<String>> {
    pages_from(app, path, limit, None).await
}

/// As [`all_pages`], starting at `cursor`.
async fn pages_from(
    app: &TestApp,
    path: &str,
    limit: u32,
    mut cursor: Option<String>,
) -> Vec<Vec<String>> {
    let sep = if path.contains('?') { '&' } else { '?' };
    let mut pages = Vec::new();
    loop {
        let mut url = format!("{path}{sep}limit={limit}");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let res = app.admin(Method::GET, &url).send().await.unwrap();
        assert_eq!(res.status(), 200, "{url}");
        let page: Value = res.json().await.unwrap();
        pages.push(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["id"].as_str().unwrap().to_owned())
                .collect(),
        );
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return pages,
        }
        assert!(pages.len() < 10, "the pages end");
    }
}

async fn admin_lists_come_in_pages_that_see_every_row_once(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let mut customers = Vec::new();
    for name in ["Echo", "Delta", "Charlie", "Bravo", "Alpha"] {
        customers.push(app.create_customer(name, "gold", None).await);
    }
    let pages = all_pages(&app, "/v1/admin/customers", 2).await;
    assert_eq!(
        pages.iter().map(Vec::len).collect::<Vec<_>>(),
        [2, 2, 1],
        "3 pages"
    );
    // Every row once, in id (creation) order.
    assert_eq!(pages.concat(), customers);

    // A filter and the pages combine.
    let mut users = Vec::new();
    for name in ["U1", "U2", "U3", "U4"] {
        users.push(app.create_user("contact", Some(&customers[0]), name).await);
    }
    app.create_user("contact", Some(&customers[1]), "Elsewhere")
        .await;
    let pages = all_pages(
        &app,
        &format!("/v1/admin/users?customer_id={}", customers[0]),
        2,
    )
    .await;
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [2, 2]);
    assert_eq!(pages.concat(), users);

    // A row added while paging is seen once, on a later page.
    let (a, _) = create_key(&app, json!({ "name": "a", "scopes": ["admin"] })).await;
    let first: Value = app
        .admin(Method::GET, "/v1/admin/api-keys?limit=1")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(first["items"].as_array().unwrap().len(), 1);
    let (b, _) = create_key(&app, json!({ "name": "b", "scopes": ["admin"] })).await;
    let cursor = first["next_cursor"].as_str().map(str::to_owned);
    let rest = pages_from(&app, "/v1/admin/api-keys", 1, cursor).await;
    assert_eq!(rest.concat(), [a, b]);

    // The other admin lists answer in the same shape.
    for path in [
        "/v1/admin/devices",
        "/v1/admin/schedules",
        "/v1/admin/policies",
        "/v1/admin/enrollment-codes",
        "/v1/admin/webhooks",
    ] {
        let page: Value = app
            .admin(Method::GET, &format!("{path}?limit=500"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(page["items"].is_array(), "{path}: {page}");
        assert!(page["next_cursor"].is_null(), "{path}: {page}");
    }
}

async fn bad_page_parameters_name_the_parameter(backend: TestBackend) {
    let app = spawn_app(backend).await;
    for (query, field) in [
        ("limit=501", "limit"),
        ("limit=0", "limit"),
        ("limit=many", "limit"),
        ("cursor=%2A%2A%2A", "cursor"),
        ("cursor=", "cursor"),
    ] {
        for path in [
            "/v1/admin/customers",
            "/v1/admin/api-keys",
            "/v1/admin/devices",
            "/v1/admin/enrollment-codes",
            "/v1/admin/webhooks",
        ] {
            let res = app
                .admin(Method::GET, &format!("{path}?{query}"))
                .send()
                .await
                .unwrap();
            let problem = assert_problem(res, 422).await;
            assert_eq!(problem["errors"][0]["field"], field, "{path}?{query}");
        }
    }
    // 500 is the most a page holds.
    let res = app
        .admin(Method::GET, "/v1/admin/customers?limit=500")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}
