//! The unauthenticated doors (enroll, refresh) under pressure, and enrollment codes as support
//! manages them: keyed hashes, rotation, listing, revocation, the concurrency gate, failure
//! limits per client (behind trusted proxies, per IPv6 /64) and across all clients.

use std::time::Duration as StdDuration;

use panic_gateway::auth::secrets::{digest, EnrollmentCode, EnrollmentCodeKeys};
use panic_gateway::store::devkit::OutsideTransaction;
use reqwest::Method;
use serde_json::{json, Value};

use crate::on_both_backends;
use crate::support::{
    assert_problem, p1_press, spawn_app, spawn_app_with, spawn_instance, wait_for, TestApp,
    TestBackend,
};

on_both_backends!(
    codes_are_stored_as_a_keyed_hash_and_survive_a_secret_rotation,
    codes_are_listed_without_the_code_and_a_revoked_code_fails_like_a_wrong_one,
    a_wrong_secret_is_answered_without_a_write_transaction,
    the_gate_answers_503_at_once_when_full,
    failed_refreshes_are_rate_limited_per_client,
    forwarded_for_from_an_untrusted_peer_is_ignored,
    behind_a_trusted_proxy_each_client_has_its_own_budget,
    the_global_budget_stops_enrollment_for_everyone_until_the_minute_ends,
);

const ANDROID_TOKEN: &str = "cXkB3rB6Qz6kR0pL9vS2aT:APA91bHq3f-Z_x7yK0m1N2o3P4q5R6s7T8u9V0w";

/// Enrolls with `code`, from `forwarded_for` when given.
async fn enroll(app: &TestApp, code: &str, forwarded_for: Option<&str>) -> reqwest::Response {
    let mut req = app.client.post(app.url("/v1/devices/enroll")).json(&json!({
        "code": code, "platform": "android", "push_token": ANDROID_TOKEN,
        "app_version": "2.3.1", "device_name": "Pixel"
    }));
    if let Some(xff) = forwarded_for {
        req = req.header("x-forwarded-for", xff);
    }
    req.send().await.unwrap()
}

async fn refresh(app: &TestApp, token: &str) -> reqwest::Response {
    app.client
        .post(app.url("/v1/devices/token/refresh"))
        .json(&json!({ "refresh_token": token }))
        .send()
        .await
        .unwrap()
}

async fn issue(app: &TestApp, user: &str) -> Value {
    app.admin_post(
        &format!("/v1/admin/users/{user}/enrollment-codes"),
        json!({}),
        201,
    )
    .await
}

async fn codes(app: &TestApp, query: &str) -> Vec<Value> {
    let res = app
        .admin(Method::GET, &format!("/v1/admin/enrollment-codes{query}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let page: Value = res.json().await.unwrap();
    page["items"].as_array().unwrap().clone()
}

async fn revoke(app: &TestApp, id: &str) -> reqwest::Response {
    app.admin(Method::DELETE, &format!("/v1/admin/enrollment-codes/{id}"))
        .send()
        .await
        .unwrap()
}

async fn codes_are_stored_as_a_keyed_hash_and_survive_a_secret_rotation(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let user = app.create_user("responder", None, "Kim").await;
    let issued = issue(&app, &user).await;
    let code = EnrollmentCode::parse(issued["code"].as_str().unwrap()).unwrap();
    let secret = panic_gateway::auth::decode_secret(&app.settings.auth.jwt_secret).unwrap();
    let keys = EnrollmentCodeKeys::new(&secret, &[] as &[&[u8]]);
    let hash = &keys.candidates(&code)[0];
    assert_eq!(
        app.count(&format!("enrollment_codes WHERE code_hash = '{hash}'"))
            .await,
        1
    );
    // Not a plain digest of the code (of any spelling of it).
    for plain in [code.display(), code.display().replace('-', "")] {
        let d = digest(&plain);
        assert_eq!(
            app.count(&format!("enrollment_codes WHERE code_hash = '{d}'"))
                .await,
            0
        );
    }

    // The secret is rotated: an instance that still accepts the old one enrolls with the code;
    // one that has forgotten it refuses it like a wrong code.
    let old = app.settings.auth.jwt_secret.clone();
    let mut rotated = app.settings.clone();
    rotated.auth.jwt_secret = panic_gateway::auth::secrets::random_token(32);
    let forgetful = spawn_instance(&app, rotated.clone()).await;
    let wrong = assert_problem(enroll(&forgetful, "AAAAA-AAAAA", None).await, 401).await;
    let refused = assert_problem(enroll(&forgetful, &code.display(), None).await, 401).await;
    assert_eq!(refused, wrong);
    rotated.auth.previous_jwt_secrets = vec![old];
    let remembering = spawn_instance(&app, rotated).await;
    assert_eq!(
        enroll(&remembering, &code.display(), None).await.status(),
        201
    );
    // Codes issued after the rotation are hashed under the new secret and work there too.
    let fresh = issue(&remembering, &user).await;
    assert_eq!(
        enroll(&remembering, fresh["code"].as_str().unwrap(), None)
            .await
            .status(),
        201
    );
}

async fn codes_are_listed_without_the_code_and_a_revoked_code_fails_like_a_wrong_one(
    backend: TestBackend,
) {
    let app = spawn_app(backend).await;
    let kim = app.create_user("responder", None, "Kim").await;
    let lee = app.create_user("responder", None, "Lee").await;
    let first = issue(&app, &kim).await;
    let second = issue(&app, &kim).await;
    let other = issue(&app, &lee).await;
    let id = first["id"].as_str().unwrap();
    assert!(!id.is_empty());
    assert_eq!(first["user_id"], kim.as_str());

    let listed = codes(&app, "").await;
    assert_eq!(listed.len(), 3);
    // In creation order; never the code, never its hash.
    assert_eq!(listed[2]["id"], other["id"]);
    let text = serde_json::to_string(&listed).unwrap();
    for issued in [&first, &second, &other] {
        let code = issued["code"].as_str().unwrap();
        assert!(!text.contains(code) && !text.contains(&code.replace('-', "")));
    }
    assert!(!text.contains("code_hash"));
    let mine = codes(&app, &format!("?user_id={kim}")).await;
    assert_eq!(mine.len(), 2);
    let entry = mine.iter().find(|c| c["id"] == id).unwrap();
    assert_eq!(entry["user_name"], "Kim");
    assert_eq!(entry["state"], "outstanding");
    assert_eq!(entry["expires_at"], first["expires_at"]);
    assert!(entry["created_at"].is_string());
    assert!(entry["used_at"].is_null() && entry["revoked_at"].is_null());

    assert_eq!(revoke(&app, id).await.status(), 204);
    assert_eq!(revoke(&app, id).await.status(), 204, "idempotent");
    let entry = codes(&app, &format!("?user_id={kim}"))
        .await
        .into_iter()
        .find(|c| c["id"] == id)
        .unwrap();
    assert_eq!(entry["state"], "revoked");
    assert!(entry["revoked_at"].is_string());
    assert_eq!(
        app.count("audit_log WHERE action = 'enrollment_code.revoked'")
            .await,
        1
    );

    // The revoked code gets exactly a wrong code's answer, and counts as a failure: after
    // five of them the address is limited, even for a good code.
    let wrong = assert_problem(enroll(&app, "AAAAA-AAAAA", None).await, 401).await;
    for _ in 0..4 {
        let revoked = assert_problem(
            enroll(&app, first["code"].as_str().unwrap(), None).await,
            401,
        )
        .await;
        assert_eq!(revoked, wrong);
    }
    assert_problem(
        enroll(&app, second["code"].as_str().unwrap(), None).await,
        429,
    )
    .await;
    app.clock.advance(chrono::Duration::seconds(301));
    assert_eq!(
        enroll(&app, second["code"].as_str().unwrap(), None)
            .await
            .status(),
        201
    );
    // A used code cannot be revoked (the device can); an unknown one is not found.
    let used = assert_problem(revoke(&app, second["id"].as_str().unwrap()).await, 409).await;
    assert!(used["detail"].as_str().unwrap().contains("device"));
    assert_problem(revoke(&app, "no-such-code").await, 404).await;
    let states: Vec<Value> = codes(&app, &format!("?user_id={kim}"))
        .await
        .iter()
        .map(|c| c["state"].clone())
        .collect();
    assert_eq!(states, [json!("revoked"), json!("used")]);
    // Expired codes leave the list.
    app.clock.advance(chrono::Duration::hours(73));
    assert!(codes(&app, "").await.is_empty());
    // Only admins see or revoke codes.
    let res = app.get("/v1/admin/enrollment-codes").await;
    assert_problem(res, 401).await;
}

/// A write lock on the database taken from outside the gateway, as a long write would hold
/// it: SQLite's write lock, or PostgreSQL locks that stop writes to the secrets' tables.
async fn hold_write_lock(app: &TestApp) -> OutsideTransaction {
    OutsideTransaction::lock_writes(&app.db_url, &["enrollment_codes", "refresh_tokens"])
        .await
        .unwrap()
}

async fn release(lock: OutsideTransaction) {
    lock.rollback().await.unwrap()
}

/// Well inside SQLite's 5 s busy timeout: an answer this fast did not wait for the lock.
const PROMPT: StdDuration = StdDuration::from_secs(2);

async fn a_wrong_secret_is_answered_without_a_write_transaction(backend: TestBackend) {
    let app = spawn_app_with(backend, |s| s.auth.enrollment_max_failures = 100).await;
    let user = app.create_user("responder", None, "Kim").await;
    issue(&app, &user).await;
    let lock = hold_write_lock(&app).await;
    for _ in 0..3 {
        let res = tokio::time::timeout(PROMPT, enroll(&app, "AAAAA-AAAAA", None))
            .await
            .expect("a wrong code is answered without waiting for the write lock");
        assert_problem(res, 401).await;
        let res = tokio::time::timeout(PROMPT, refresh(&app, "never-issued"))
            .await
            .expect("an unknown refresh token is answered without waiting for the write lock");
        assert_problem(res, 401).await;
    }
    release(lock).await;
}

async fn the_gate_answers_503_at_once_when_full(backend: TestBackend) {
    let app = spawn_app_with(backend, |s| {
        s.auth.max_concurrent_unauthenticated = 1;
        s.auth.enrollment_max_failures = 1000;
    })
    .await;
    let customer = app.gold_customer().await;
    let user = app.create_user("responder", None, "Kim").await;
    let code = issue(&app, &user).await["code"]
        .as_str()
        .unwrap()
        .to_owned();

    // A good code has to write; with the write lock held elsewhere, it waits, in the gate.
    let lock = hold_write_lock(&app).await;
    let good_enrollment = || {
        let (client, url, code) = (
            app.client.clone(),
            app.url("/v1/devices/enroll"),
            code.clone(),
        );
        tokio::spawn(async move {
            client
                .post(url)
                .json(&json!({
                    "code": code, "platform": "android", "push_token": ANDROID_TOKEN,
                    "app_version": "2.3.1", "device_name": "Pixel"
                }))
                .send()
                .await
                .unwrap()
                .status()
        })
    };
    let waiting = std::cell::RefCell::new(good_enrollment());
    // Every other unauthenticated request is turned away at once, not queued.
    let res = wait_for(
        StdDuration::from_secs(3),
        "the waiting enrollment fills the gate",
        || async {
            let res = tokio::time::timeout(PROMPT, enroll(&app, "AAAAA-AAAAA", None))
                .await
                .expect("answered at once");
            if res.status() == 503 && !waiting.borrow().is_finished() {
                return Some(res);
            }
            if waiting.borrow().is_finished() {
                // The probe was let in first and the good enrollment was the one turned away.
                let turned_away = waiting.replace(good_enrollment());
                assert_eq!(turned_away.await.unwrap(), 503);
            }
            None
        },
    )
    .await;
    let waiting = waiting.into_inner();
    assert_eq!(res.headers()["retry-after"], "1");
    let body = assert_problem(res, 503).await;
    assert!(body["detail"].as_str().unwrap().contains("at once"));
    let res = tokio::time::timeout(PROMPT, refresh(&app, &customer.contact.refresh_token))
        .await
        .expect("answered at once");
    assert_problem(res, 503).await;
    // Presses are never behind that gate. (On SQLite the outside lock stops every write, a
    // press's too; on PostgreSQL it covers only the secrets' tables.)
    if backend == TestBackend::Postgres {
        let res = app
            .press(&customer.contact, "gate-full", &p1_press("checkout"))
            .await;
        assert_eq!(res.status(), 201);
    }

    release(lock).await;
    assert_eq!(waiting.await.unwrap(), 201);
    assert_problem(enroll(&app, "AAAAA-AAAAA", None).await, 401).await;
    assert_eq!(
        refresh(&app, &customer.contact.refresh_token)
            .await
            .status(),
        200
    );
}

async fn failed_refreshes_are_rate_limited_per_client(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let user = app.create_user("responder", None, "Kim").await;
    let phone = app.enroll(&user, "ios").await;
    for i in 0..10 {
        assert_problem(refresh(&app, &format!("guess-{i}")).await, 401).await;
    }
    let res = refresh(&app, &phone.refresh_token).await;
    let retry_after: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=300).contains(&retry_after), "{retry_after}");
    let body = assert_problem(res, 429).await;
    assert!(body["detail"].as_str().unwrap().contains("refresh"));
    // Enrollment has its own budget.
    assert_problem(enroll(&app, "AAAAA-AAAAA", None).await, 401).await;
    app.clock.advance(chrono::Duration::seconds(301));
    assert_eq!(refresh(&app, &phone.refresh_token).await.status(), 200);
}

async fn forwarded_for_from_an_untrusted_peer_is_ignored(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let user = app.create_user("responder", None, "Kim").await;
    let code = issue(&app, &user).await["code"]
        .as_str()
        .unwrap()
        .to_owned();
    for i in 0..5 {
        let spoofed = format!("203.0.113.{i}");
        assert_problem(enroll(&app, "AAAAA-AAAAA", Some(&spoofed)).await, 401).await;
    }
    // A new X-Forwarded-For does not make a new client: the peer is the client.
    assert_problem(enroll(&app, &code, Some("198.51.100.1")).await, 429).await;
    assert_problem(enroll(&app, &code, None).await, 429).await;
}

async fn behind_a_trusted_proxy_each_client_has_its_own_budget(backend: TestBackend) {
    let app = spawn_app_with(backend, |s| {
        s.server.trusted_proxies = vec!["127.0.0.1/32".into()];
    })
    .await;
    let user = app.create_user("responder", None, "Kim").await;
    let code = issue(&app, &user).await["code"]
        .as_str()
        .unwrap()
        .to_owned();
    for _ in 0..5 {
        assert_problem(enroll(&app, "AAAAA-AAAAA", Some("203.0.113.7")).await, 401).await;
    }
    assert_problem(enroll(&app, &code, Some("203.0.113.7")).await, 429).await;
    // What the client writes to the left of what our proxy saw changes nothing.
    assert_problem(
        enroll(&app, &code, Some("198.51.100.99, 203.0.113.7")).await,
        429,
    )
    .await;
    // A trusted proxy hop on the right is skipped.
    assert_problem(
        enroll(&app, &code, Some("203.0.113.7, 127.0.0.1")).await,
        429,
    )
    .await;

    // IPv6 clients are counted per /64: other addresses in the prefix share the budget.
    for i in 1..=5 {
        let addr = format!("2001:db8:1:2::{i}");
        assert_problem(enroll(&app, "AAAAA-AAAAA", Some(&addr)).await, 401).await;
    }
    assert_problem(
        enroll(&app, &code, Some("2001:db8:1:2:ffff:ffff:ffff:ffff")).await,
        429,
    )
    .await;
    assert_problem(
        enroll(&app, "AAAAA-AAAAA", Some("2001:db8:1:3::1")).await,
        401,
    )
    .await;

    // Another client, through the same proxy, has its own budget.
    assert_eq!(enroll(&app, &code, Some("203.0.113.8")).await.status(), 201);
}

async fn the_global_budget_stops_enrollment_for_everyone_until_the_minute_ends(
    backend: TestBackend,
) {
    let app = spawn_app_with(backend, |s| {
        s.server.trusted_proxies = vec!["127.0.0.1/32".into()];
        s.auth.enrollment_global_failures_per_minute = 3;
    })
    .await;
    let user = app.create_user("responder", None, "Kim").await;
    let code = issue(&app, &user).await["code"]
        .as_str()
        .unwrap()
        .to_owned();
    // Keep the three failures inside one clock minute of the gateway's clock.
    let now = app.clock_now();
    let into_minute = chrono::Timelike::second(&now);
    if into_minute > 50 {
        app.clock
            .advance(chrono::Duration::seconds(i64::from(61 - into_minute)));
    }
    for i in 1..=3 {
        let addr = format!("198.51.100.{i}");
        assert_problem(enroll(&app, "AAAAA-AAAAA", Some(&addr)).await, 401).await;
    }
    // Every address is refused now, with a good code too, until the minute ends.
    let res = enroll(&app, &code, Some("203.0.113.50")).await;
    let retry_after: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    let body = assert_problem(res, 429).await;
    assert!(body["detail"].as_str().unwrap().contains("all addresses"));
    app.clock
        .advance(chrono::Duration::seconds(retry_after as i64));
    assert_eq!(
        enroll(&app, &code, Some("203.0.113.50")).await.status(),
        201
    );
}
