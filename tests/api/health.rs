use crate::on_both_backends;
use crate::support::{assert_problem, spawn_app, TestBackend};

on_both_backends!(
    healthz_answers_ok,
    readyz_reports_database_and_schema,
    metrics_count_requests,
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
