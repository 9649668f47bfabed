//! Signing keys, token kinds, ack tokens, refresh races, and how token responses are cached.

use std::time::Duration as StdDuration;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use chrono::Duration;
use panic_gateway::startup::Application;
use reqwest::Method;
use serde_json::{json, Value};

use crate::on_both_backends;
use crate::support::{
    assert_problem, p1_press, spawn_app, spawn_app_with, spawn_app_with_push, spawn_instance,
    spawn_second_instance, test_settings, TestApp, TestBackend, TestDatabase,
};

on_both_backends!(
    without_a_secret_sqlite_keeps_a_0600_key_file_and_postgres_refuses_to_start,
    a_token_signed_with_the_previous_secret_still_verifies,
    tokens_name_their_kind_and_key,
    an_ack_token_only_acknowledges_and_dies_with_its_device,
    two_refreshes_within_the_grace_window_both_succeed,
    a_reuse_after_the_grace_window_revokes_the_device,
    racing_refreshes_both_succeed,
    without_a_grace_window_any_reuse_revokes,
    token_responses_are_not_cached,
);

const WAIT: StdDuration = StdDuration::from_secs(10);

/// A valid secret, as an operator would generate it.
fn new_secret() -> String {
    STANDARD.encode(panic_gateway::auth::secrets::random_token(24))
}

/// The decoded header (0) or payload (1) of a JWT.
fn jwt_part(token: &str, part: usize) -> Value {
    serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(token.split('.').nth(part).unwrap())
            .unwrap(),
    )
    .unwrap()
}

async fn me_status(app: &TestApp, access_token: &str) -> u16 {
    app.with_token(Method::GET, "/v1/devices/me", access_token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn refresh(app: &TestApp, refresh_token: &str) -> reqwest::Response {
    app.client
        .post(app.url("/v1/devices/token/refresh"))
        .json(&json!({ "refresh_token": refresh_token }))
        .send()
        .await
        .unwrap()
}

async fn refreshed(app: &TestApp, refresh_token: &str) -> Value {
    let res = refresh(app, refresh_token).await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

async fn device_revoked(app: &TestApp, user_id: &str) -> bool {
    let devices: Value = app
        .admin(Method::GET, &format!("/v1/admin/devices?user_id={user_id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    devices["items"][0]["revoked"].as_bool().unwrap()
}

/// `panic-gateway serve` on `database_url`, configured by nothing but the environment given.
fn serve_command(database_url: &str) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_panic-gateway"));
    command
        .args(["--database-url", database_url, "serve", "--port", "0"])
        .env_remove("PANIC_GATEWAY_CONFIG")
        .env("RUST_LOG", "error");
    command
}

async fn without_a_secret_sqlite_keeps_a_0600_key_file_and_postgres_refuses_to_start(
    backend: TestBackend,
) {
    if backend == TestBackend::Postgres {
        let db = TestDatabase::create(backend).await;
        // `serve` stops with a configuration error (exit 2) naming the setting.
        let out = serve_command(db.url()).output().unwrap();
        assert_eq!(out.status.code(), Some(2));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("`auth.jwt_secret_file`"), "{stderr}");
        let mut settings = test_settings(db.url());
        settings.auth.jwt_secret.clear();
        settings.validate().unwrap();
        let err = settings.validate_for_serving().unwrap_err().to_string();
        assert!(err.contains("`auth.jwt_secret_file`"), "{err}");
        assert!(err.contains("PostgreSQL"), "{err}");
        let Err(err) = Application::build(settings).await else {
            panic!("the gateway started on PostgreSQL without a signing secret");
        };
        let err = format!("{err:#}");
        assert!(err.contains("auth.jwt_secret_file"), "{err}");
        return;
    }
    let app = spawn_app_with(backend, |s| s.auth.jwt_secret.clear()).await;
    app.settings.validate_for_serving().unwrap();
    let path = panic_gateway::auth::dev_key_path(&app.db_url).unwrap();
    let db_file = app.db_url["sqlite://".len()..].split('?').next().unwrap();
    assert_eq!(path.parent(), std::path::Path::new(db_file).parent());
    let key = std::fs::read_to_string(&path).unwrap();
    assert_eq!(panic_gateway::auth::decode_secret(&key).unwrap().len(), 32);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "mode {mode:o}");
    }
    // Not in the database.
    assert_eq!(
        app.count("gateway_settings WHERE key LIKE '%jwt%'").await,
        0
    );

    // The next start reuses the key: tokens from before still verify.
    let user = app.create_user("responder", None, "Rita").await;
    let phone = app.enroll(&user, "ios").await;
    let restarted = spawn_second_instance(&app).await;
    assert_eq!(std::fs::read_to_string(&path).unwrap(), key);
    assert_eq!(me_status(&restarted, &phone.access_token).await, 200);
}

async fn a_token_signed_with_the_previous_secret_still_verifies(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let user = app.create_user("responder", None, "Rita").await;
    let phone = app.enroll(&user, "ios").await;
    let old_kid = jwt_part(&phone.access_token, 0)["kid"].clone();

    // The operator rotates: a new secret signs, the old one only verifies.
    let mut rotated_settings = app.settings.clone();
    rotated_settings.auth.jwt_secret = new_secret();
    rotated_settings.auth.previous_jwt_secrets = vec![app.settings.auth.jwt_secret.clone()];
    rotated_settings.validate().unwrap();
    let rotated = spawn_instance(&app, rotated_settings.clone()).await;
    assert_eq!(me_status(&rotated, &phone.access_token).await, 200);

    // New tokens are signed with the new key, which the old instance does not know.
    let pair = refreshed(&rotated, &phone.refresh_token).await;
    let new_access = pair["access_token"].as_str().unwrap();
    assert_ne!(jwt_part(new_access, 0)["kid"], old_kid);
    assert_eq!(me_status(&rotated, new_access).await, 200);
    assert_eq!(me_status(&app, new_access).await, 401);

    // Once the old secret is dropped from the list, its tokens are refused.
    let mut dropped = rotated_settings;
    dropped.auth.previous_jwt_secrets.clear();
    let dropped = spawn_instance(&app, dropped).await;
    let res = dropped
        .with_token(Method::GET, "/v1/devices/me", &phone.access_token)
        .send()
        .await
        .unwrap();
    let problem = assert_problem(res, 401).await;
    assert!(problem["detail"].as_str().unwrap().contains("invalid"));
    // And it expires like any token on the instance that still knows the old key.
    rotated.clock.advance(Duration::minutes(15));
    assert_eq!(me_status(&rotated, &phone.access_token).await, 401);
}

async fn tokens_name_their_kind_and_key(backend: TestBackend) {
    let app = spawn_app(backend).await;
    // The example's placeholder never signs anything: `serve` refuses to start with it.
    let out = serve_command(&app.db_url)
        .env(
            "PANIC_GATEWAY__AUTH__JWT_SECRET",
            "CHANGE_ME: base64 of 32 random bytes",
        )
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("`auth.jwt_secret`") && stderr.contains("placeholder"),
        "{stderr}"
    );

    let user = app.create_user("responder", None, "Rita").await;
    let phone = app.enroll(&user, "ios").await;
    let header = jwt_part(&phone.access_token, 0);
    assert_eq!(header["alg"], "HS256");
    assert_eq!(header["typ"], "at+jwt");
    let secret = panic_gateway::auth::decode_secret(&app.settings.auth.jwt_secret).unwrap();
    assert_eq!(header["kid"], panic_gateway::auth::tokens::key_id(&secret));

    // The configured secret itself signs nothing: a token signed with it is refused even with
    // the right typ and kid (each kind has its own derived key).
    let forged = jsonwebtoken::encode(
        &jsonwebtoken::decode_header(&phone.access_token).unwrap(),
        &jwt_part(&phone.access_token, 1),
        &jsonwebtoken::EncodingKey::from_secret(&secret),
    )
    .unwrap();
    let problem = assert_problem(
        app.with_token(Method::GET, "/v1/devices/me", &forged)
            .send()
            .await
            .unwrap(),
        401,
    )
    .await;
    assert!(problem["detail"].as_str().unwrap().contains("invalid"));
}

async fn an_ack_token_only_acknowledges_and_dies_with_its_device(backend: TestBackend) {
    let app = spawn_app_with_push(backend, |_| {}).await;
    // The gateway's clock is hours away from the wall clock: tokens must follow the former.
    app.clock.advance(Duration::hours(3));
    let c = app.gold_customer().await;
    let mut incidents = Vec::new();
    for key in ["first", "second"] {
        let res = app.press(&c.contact, key, &p1_press(key)).await;
        assert_eq!(res.status(), 201);
        let body: Value = res.json().await.unwrap();
        incidents.push(body["incident"]["id"].as_str().unwrap().to_owned());
    }
    let pages = app
        .mocks()
        .apns
        .wait_accepted(Some(&c.account_manager.push_token), 2, WAIT)
        .await;
    let token_for = |incident: &str| {
        pages
            .iter()
            .find(|p| p.body["aps"]["thread-id"] == incident)
            .unwrap()
            .body["ack_token"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (first, second) = (token_for(&incidents[0]), token_for(&incidents[1]));
    assert_eq!(jwt_part(&first, 0)["typ"], "ack+jwt");
    let claims = jwt_part(&first, 1);
    assert_eq!(claims["did"], c.account_manager.device_id.as_str());
    assert_eq!(claims["sub"], c.account_manager.user_id.as_str());
    assert_eq!(claims["iat"], app.clock_now().timestamp());

    // Not an access token.
    let res = app
        .with_token(Method::GET, "/v1/responders/me", &first)
        .send()
        .await
        .unwrap();
    assert_problem(res, 401).await;

    let act = |incident: &str, action: &str, token: &str| {
        let req = app
            .client
            .post(app.url(&format!("/v1/incidents/{incident}/{action}")))
            .json(&json!({ "ack_token": token }));
        async move { req.send().await.unwrap() }
    };
    // It does not resolve, and trying leaves the incident as it was.
    let problem = assert_problem(act(&incidents[0], "resolve", &first).await, 403).await;
    assert!(
        problem["type"]
            .as_str()
            .unwrap()
            .ends_with("ack-token-only-acknowledges"),
        "{problem}"
    );
    assert!(problem["detail"].as_str().unwrap().contains("responder"));
    let res = act(&incidents[0], "acknowledge", &first).await;
    assert_eq!(res.status(), 200);
    let view: Value = res.json().await.unwrap();
    assert_eq!(view["state"], "acknowledged");

    // Its device is revoked: the page's token for the other incident stops working.
    let res = app
        .admin(
            Method::POST,
            &format!("/v1/admin/devices/{}/revoke", c.account_manager.device_id),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let problem = assert_problem(act(&incidents[1], "acknowledge", &second).await, 401).await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("no longer enrolled"),
        "{problem}"
    );
}

async fn two_refreshes_within_the_grace_window_both_succeed(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let user = app.create_user("responder", None, "Rita").await;
    let phone = app.enroll(&user, "ios").await;

    let first = refreshed(&app, &phone.refresh_token).await;
    // The response was lost; the app retries 29 seconds later with the same token.
    app.clock.advance(Duration::seconds(29));
    let second = refreshed(&app, &phone.refresh_token).await;
    assert_eq!(first["device_id"], phone.device_id.as_str());
    assert_eq!(second["device_id"], phone.device_id.as_str());
    assert_ne!(first["refresh_token"], second["refresh_token"]);
    for pair in [&first, &second] {
        assert_eq!(
            me_status(&app, pair["access_token"].as_str().unwrap()).await,
            200
        );
    }
    assert!(!device_revoked(&app, &user).await);
    // The first successor stays valid, and so does the second.
    refreshed(&app, first["refresh_token"].as_str().unwrap()).await;
    refreshed(&app, second["refresh_token"].as_str().unwrap()).await;
    assert!(!device_revoked(&app, &user).await);
}

async fn a_reuse_after_the_grace_window_revokes_the_device(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let user = app.create_user("responder", None, "Rita").await;
    let phone = app.enroll(&user, "ios").await;
    let first = refreshed(&app, &phone.refresh_token).await;
    // Inside the window, measured from the first use: still fine.
    app.clock.advance(Duration::seconds(20));
    refreshed(&app, &phone.refresh_token).await;
    // 30 seconds after the first use, the window is closed: someone holds a copy.
    app.clock.advance(Duration::seconds(10));
    let problem = assert_problem(refresh(&app, &phone.refresh_token).await, 401).await;
    assert!(problem["detail"].as_str().unwrap().contains("already used"));
    assert!(device_revoked(&app, &user).await);
    assert_problem(
        refresh(&app, first["refresh_token"].as_str().unwrap()).await,
        401,
    )
    .await;
    assert_eq!(
        me_status(&app, first["access_token"].as_str().unwrap()).await,
        401
    );
}

async fn racing_refreshes_both_succeed(backend: TestBackend) {
    // Room for both at once: with the test pool of 5 the gate would admit one and answer the
    // other 503 (tests/api/access.rs shows that); this test is about the store's race.
    let app = spawn_app_with(backend, |s| s.auth.max_concurrent_unauthenticated = 2).await;
    let user = app.create_user("responder", None, "Rita").await;
    let phone = app.enroll(&user, "ios").await;
    let (a, b) = tokio::join!(
        refresh(&app, &phone.refresh_token),
        refresh(&app, &phone.refresh_token)
    );
    assert_eq!((a.status().as_u16(), b.status().as_u16()), (200, 200));
    let (a, b): (Value, Value) = (a.json().await.unwrap(), b.json().await.unwrap());
    assert_eq!(a["device_id"], b["device_id"]);
    assert!(!device_revoked(&app, &user).await);
    refreshed(&app, a["refresh_token"].as_str().unwrap()).await;
    refreshed(&app, b["refresh_token"].as_str().unwrap()).await;
}

async fn without_a_grace_window_any_reuse_revokes(backend: TestBackend) {
    let app = spawn_app_with(backend, |s| s.auth.refresh_reuse_grace_secs = 0).await;
    let user = app.create_user("responder", None, "Rita").await;
    let phone = app.enroll(&user, "ios").await;
    refreshed(&app, &phone.refresh_token).await;
    assert_problem(refresh(&app, &phone.refresh_token).await, 401).await;
    assert!(device_revoked(&app, &user).await);

    let mut settings = app.settings.clone();
    settings.auth.refresh_reuse_grace_secs = 301;
    let err = settings.validate().unwrap_err().to_string();
    assert!(err.contains("`auth.refresh_reuse_grace_secs`"), "{err}");
}

fn assert_no_store(res: &reqwest::Response) {
    assert_eq!(res.headers()["cache-control"], "no-store", "{}", res.url());
    assert_eq!(res.headers()["pragma"], "no-cache", "{}", res.url());
}

async fn token_responses_are_not_cached(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let user = app.create_user("responder", None, "Rita").await;

    let res = app
        .admin(
            Method::POST,
            &format!("/v1/admin/users/{user}/enrollment-codes"),
        )
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    assert_no_store(&res);
    let code: Value = res.json().await.unwrap();

    let res = app
        .client
        .post(app.url("/v1/devices/enroll"))
        .json(&json!({
            "code": code["code"], "platform": "ios", "push_token": "0123456789abcdef".repeat(4),
            "app_version": "1.0", "device_name": "Rita's phone",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    assert_no_store(&res);
    let pair: Value = res.json().await.unwrap();

    let res = refresh(&app, pair["refresh_token"].as_str().unwrap()).await;
    assert_eq!(res.status(), 200);
    assert_no_store(&res);

    let res = app
        .admin(Method::POST, "/v1/admin/webhooks")
        .json(&json!({ "url": "http://127.0.0.1:9/hook" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    assert_no_store(&res);
}
