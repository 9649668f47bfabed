use panic_gateway::store::devkit;

use crate::on_both_backends;
use crate::support::{assert_problem, spawn_app, spawn_app_with, spawn_app_with_push, TestBackend};

on_both_backends!(
    healthz_answers_ok,
    readyz_reports_database_and_schema,
    readyz_tells_the_network_what_is_wrong_in_a_word,
    a_platform_without_a_provider_is_not_configured_from_the_start,
    metrics_count_requests,
    metrics_can_have_a_listener_of_their_own,
    request_id_is_generated_and_echoed,
    unknown_route_is_a_problem,
);

async fn healthz_answers_ok(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let res = app.get("/healthz").await;
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["status"], "ok");
}

async fn readyz_reports_database_and_schema(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let res = app.get("/readyz").await;
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["status"], "ready");
    let expected = match backend {
        TestBackend::Sqlite => "sqlite",
        TestBackend::Postgres => "postgres",
    };
    assert_eq!(body["database"], expected);
    assert_eq!(
        body["schema_version"],
        panic_gateway::store::latest_version()
    );
    assert_eq!(body["escalation"]["status"], "ok", "{body}");
}

async fn readyz_tells_the_network_what_is_wrong_in_a_word(backend: TestBackend) {
    let app = spawn_app(backend).await;
    // The schema falls behind this binary (as after a rollback of the database).
    let latest = panic_gateway::store::latest_version();
    devkit::forget_migration(&app.db_url, latest).await.unwrap();
    let body = assert_problem(app.get("/readyz").await, 503).await;
    assert_eq!(body["reason"], "schema");
    let detail = body["detail"].as_str().unwrap();
    assert_eq!(
        detail,
        "the gateway cannot take alerts right now; the reason is in its log"
    );
    // Neither versions nor database names or errors reach whoever asks.
    let text = body.to_string();
    let latest = latest.to_string();
    for leak in [latest.as_str(), "version", "postgres", "sqlite", "pgw_test"] {
        assert!(!text.contains(leak), "{leak} in {text}");
    }
}

async fn a_platform_without_a_provider_is_not_configured_from_the_start(backend: TestBackend) {
    // No provider at all: both platforms say so before any page was tried.
    let app = spawn_app(backend).await;
    let body: serde_json::Value = app.get("/readyz").await.json().await.unwrap();
    assert_eq!(body["status"], "ready");
    assert_eq!(body["push"]["status"], "degraded", "{body}");
    assert_eq!(body["push"]["platforms"]["ios"], "not_configured");
    assert_eq!(body["push"]["platforms"]["android"], "not_configured");
    drop(app);

    // APNs only: Android is reported, iOS is fine.
    let app = spawn_app_with_push(backend, |s| s.push.fcm.enabled = false).await;
    let body: serde_json::Value = app.get("/readyz").await.json().await.unwrap();
    assert_eq!(body["push"]["platforms"]["ios"], "ok", "{body}");
    assert_eq!(body["push"]["platforms"]["android"], "not_configured");
    assert_eq!(body["push"]["status"], "degraded");

    let app = spawn_app_with_push(backend, |_| {}).await;
    let body: serde_json::Value = app.get("/readyz").await.json().await.unwrap();
    assert_eq!(body["push"]["status"], "ok", "{body}");
}

async fn metrics_count_requests(backend: TestBackend) {
    let app = spawn_app(backend).await;
    app.get("/healthz").await;
    let res = app.get("/metrics").await;
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let text = res.text().await.unwrap();
    assert!(
        text.contains(
            r#"panic_gateway_http_requests_total{method="GET",route="/healthz",status="200"} 1"#
        ),
        "{text}"
    );
    assert!(text.contains("panic_gateway_http_request_duration_seconds_bucket"));
}

async fn metrics_can_have_a_listener_of_their_own(backend: TestBackend) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let app = spawn_app_with(backend, |s| {
        s.metrics.listen = format!("127.0.0.1:{port}");
    })
    .await;
    app.get("/healthz").await;
    // The main port (phones, the load balancer) no longer serves the scrape.
    let body = assert_problem(app.get("/metrics").await, 404).await;
    assert!(body["detail"].as_str().unwrap().contains("/metrics"));
    // The metrics port does, and serves nothing else.
    let metrics = format!("http://127.0.0.1:{port}");
    let res = app
        .client
        .get(format!("{metrics}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    assert!(
        text.contains(
            r#"panic_gateway_http_requests_total{method="GET",route="/healthz",status="200"} 1"#
        ),
        "{text}"
    );
    for path in ["/healthz", "/readyz", "/v1/admin/customers"] {
        let res = app
            .client
            .get(format!("{metrics}{path}"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 404, "{path} on the metrics port");
    }
}

async fn request_id_is_generated_and_echoed(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let res = app.get("/healthz").await;
    let generated = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(generated.len(), 36, "a UUID: {generated}");

    let res = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "phone-retry-42")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "phone-retry-42");

    // An id that could forge log lines is replaced, not echoed.
    let res = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "evil id; drop")
        .send()
        .await
        .unwrap();
    assert_ne!(res.headers()["x-request-id"], "evil id; drop");
}

async fn unknown_route_is_a_problem(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let body = assert_problem(app.get("/v1/nothing-here").await, 404).await;
    assert!(body["detail"]
        .as_str()
        .unwrap()
        .contains("/v1/nothing-here"));
}
