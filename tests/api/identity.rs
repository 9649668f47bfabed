//! Accounts, enrollment, tokens and who may call what.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use reqwest::Method;
use serde_json::{json, Value};

use crate::on_both_backends;
use crate::support::{assert_problem, spawn_app, TestApp, TestBackend};

on_both_backends!(
    enrollment_issues_tokens_and_codes_work_once,
    wrong_and_expired_codes_get_the_same_answer,
    failed_enrollments_are_rate_limited,
    refresh_rotates_and_reuse_revokes_the_device,
    bad_access_tokens_are_refused,
    each_kind_of_caller_is_confined_to_its_endpoints,
    revocation_takes_effect_on_the_next_request,
    push_token_updates_and_unenrollment,
    push_tokens_that_could_steer_the_provider_request_are_refused,
    admin_input_errors_name_the_field,
    request_body_errors_are_problems,
    cli_admin_key_works_against_the_api,
    customers_see_their_own_organisation_and_tier_changes_apply_at_once,
);

async fn enroll_raw(app: &TestApp, code: &str) -> reqwest::Response {
    app.client
        .post(app.url("/v1/devices/enroll"))
        .json(&json!({
            "code": code, "platform": "android", "push_token": "tok-1",
            "app_version": "2.3.1", "device_name": "Pixel"
        }))
        .send()
        .await
        .unwrap()
}

async fn enrollment_issues_tokens_and_codes_work_once(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let am = app.create_user("responder", None, "Alice").await;
    let code = app.enrollment_code(&am).await;
    assert_eq!(code.len(), 11, "XXXXX-XXXXX: {code}");

    let res = enroll_raw(&app, &code.to_lowercase()).await;
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["user_id"], am);
    assert_eq!(body["role"], "responder");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert_eq!(body["access_token"].as_str().unwrap().split('.').count(), 3);
    assert_eq!(body["refresh_token"].as_str().unwrap().len(), 43);

    let me = app
        .with_token(
            Method::GET,
            "/v1/devices/me",
            body["access_token"].as_str().unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    let me: Value = me.json().await.unwrap();
    assert_eq!(me["device"]["platform"], "android");
    assert_eq!(me["device"]["app_version"], "2.3.1");
    assert_eq!(me["user"]["name"], "Alice");
    assert!(
        me["device"].get("push_token").is_none(),
        "tokens are never echoed"
    );

    let again = assert_problem(enroll_raw(&app, &code).await, 401).await;
    assert_eq!(
        again["type"],
        "urn:panic-gateway:problem:invalid-enrollment-code"
    );
}

async fn wrong_and_expired_codes_get_the_same_answer(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let user = app.create_user("responder", None, "Bob").await;
    let code = app.enrollment_code(&user).await;

    let wrong = assert_problem(enroll_raw(&app, "AAAAA-AAAAA").await, 401).await;
    let malformed = assert_problem(enroll_raw(&app, "not a code").await, 401).await;
    app.clock.advance(chrono::Duration::hours(73));
    let expired = assert_problem(enroll_raw(&app, &code).await, 401).await;
    assert_eq!(wrong, expired);
    assert_eq!(wrong, malformed);
}

async fn failed_enrollments_are_rate_limited(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let user = app.create_user("responder", None, "Bob").await;
    let code = app.enrollment_code(&user).await;
    for _ in 0..5 {
        assert_problem(enroll_raw(&app, "AAAAA-AAAAA").await, 401).await;
    }
    let res = enroll_raw(&app, &code).await;
    let retry_after: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=300).contains(&retry_after), "{retry_after}");
    assert_problem(res, 429).await;

    // The window passes; the valid code still works (it was never consumed).
    app.clock.advance(chrono::Duration::seconds(301));
    assert_eq!(enroll_raw(&app, &code).await.status(), 201);
}

async fn refresh(app: &TestApp, refresh_token: &str) -> reqwest::Response {
    app.client
        .post(app.url("/v1/devices/token/refresh"))
        .json(&json!({ "refresh_token": refresh_token }))
        .send()
        .await
        .unwrap()
}

async fn refresh_rotates_and_reuse_revokes_the_device(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let user = app.create_user("responder", None, "Rita").await;
    let phone = app.enroll(&user, "ios").await;

    let res = refresh(&app, &phone.refresh_token).await;
    assert_eq!(res.status(), 200);
    let rotated: Value = res.json().await.unwrap();
    let new_refresh = rotated["refresh_token"].as_str().unwrap().to_owned();
    let new_access = rotated["access_token"].as_str().unwrap().to_owned();
    assert_ne!(new_refresh, phone.refresh_token);
    assert_eq!(rotated["device_id"], phone.device_id.as_str());
    let ok = app
        .with_token(Method::GET, "/v1/responders/me", &new_access)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);

    // The old refresh token again, after the grace window for retries: someone has a copy.
    // Refused, and the device is signed out.
    app.clock.advance(chrono::Duration::seconds(31));
    let reuse = assert_problem(refresh(&app, &phone.refresh_token).await, 401).await;
    assert!(reuse["detail"].as_str().unwrap().contains("already used"));
    let res = app
        .with_token(Method::GET, "/v1/responders/me", &new_access)
        .send()
        .await
        .unwrap();
    assert_problem(res, 401).await;
    assert_problem(refresh(&app, &new_refresh).await, 401).await;
    assert_problem(refresh(&app, "never-issued").await, 401).await;

    let devices: Value = app
        .admin(Method::GET, &format!("/v1/admin/devices?user_id={user}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(devices["items"][0]["revoked"], true);
    assert_eq!(
        devices["items"][0]["revoked_reason"],
        "refresh token reuse detected"
    );
}

fn forge(app: &TestApp, header: Value, claims: Value, secret: Option<&[u8]>) -> String {
    let encode = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
    let signing_input = format!("{}.{}", encode(&header), encode(&claims));
    match secret {
        None => format!("{signing_input}."),
        Some(secret) => {
            let alg = match header["alg"].as_str().unwrap() {
                "HS512" => jsonwebtoken::Algorithm::HS512,
                _ => jsonwebtoken::Algorithm::HS256,
            };
            let mut h = jsonwebtoken::Header::new(alg);
            h.typ = Some("JWT".into());
            let _ = app;
            jsonwebtoken::encode(&h, &claims, &jsonwebtoken::EncodingKey::from_secret(secret))
                .unwrap()
        }
    }
}

async fn bad_access_tokens_are_refused(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let customer = app.gold_customer().await;
    let secret = panic_gateway::auth::decode_secret(&app.settings.auth.jwt_secret).unwrap();
    let token = &customer.contact.access_token;
    let claims: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(token.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();

    let call = |t: String| {
        let app = &app;
        async move {
            let res = app
                .with_token(Method::GET, "/v1/customers/me", &t)
                .send()
                .await
                .unwrap();
            assert_eq!(
                res.headers()["www-authenticate"],
                "Bearer realm=\"panic-gateway\""
            );
            assert_problem(res, 401).await
        }
    };

    // Signed with the gateway's own keys (right typ, kid and derived key), but for another
    // audience or from another issuer.
    let auth = &app.settings.auth;
    let subject = || panic_gateway::auth::tokens::Subject {
        user_id: &customer.contact.user_id,
        device_id: &customer.contact.device_id,
        role: panic_gateway::domain::identity::DeviceRole::Customer,
    };
    for (iss, aud) in [
        (auth.issuer.as_str(), "someone-else"),
        ("evil", auth.audience.as_str()),
    ] {
        let other = panic_gateway::auth::tokens::TokenIssuer::new(
            &secret,
            iss,
            aud,
            chrono::Duration::minutes(15),
        );
        call(other.issue(subject(), app.clock_now()).0).await;
    }
    // Signed with the configured secret itself rather than the derived access-token key.
    call(forge(
        &app,
        serde_json::to_value(jsonwebtoken::decode_header(token).unwrap()).unwrap(),
        claims.clone(),
        Some(&secret),
    ))
    .await;
    call(forge(
        &app,
        json!({"alg":"none","typ":"JWT"}),
        claims.clone(),
        None,
    ))
    .await;
    call(forge(
        &app,
        json!({"alg":"HS512","typ":"JWT"}),
        claims.clone(),
        Some(&secret),
    ))
    .await;
    call(forge(
        &app,
        json!({"alg":"HS256","typ":"JWT"}),
        claims.clone(),
        Some(b"not-the-gateway-secret-not-the-gateway"),
    ))
    .await;
    // Tampered: a customer's token claiming to be a responder's, signature kept.
    let parts: Vec<&str> = token.split('.').collect();
    let mut tampered = claims.clone();
    tampered["role"] = "responder".into();
    call(format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(tampered.to_string()),
        parts[2]
    ))
    .await;
    call("garbage".into()).await;

    // The genuine token works until it expires, 15 minutes later.
    let ok = app
        .with_token(Method::GET, "/v1/customers/me", token)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    app.clock.advance(chrono::Duration::minutes(15));
    let expired = call(token.clone()).await;
    assert!(expired["detail"].as_str().unwrap().contains("expired"));
}

async fn each_kind_of_caller_is_confined_to_its_endpoints(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let c = app.gold_customer().await;
    let customer = &c.contact.access_token;
    let responder = &c.account_manager.access_token;

    let res = app
        .with_token(Method::GET, "/v1/responders/me", customer)
        .send()
        .await
        .unwrap();
    let body = assert_problem(res, 403).await;
    assert!(body["detail"]
        .as_str()
        .unwrap()
        .contains("responder devices"));
    let res = app
        .with_token(Method::GET, "/v1/customers/me", responder)
        .send()
        .await
        .unwrap();
    assert_problem(res, 403).await;
    let res = app.get("/v1/customers/me").await;
    assert_problem(res, 401).await;

    // Device tokens are no admin keys, and a bad admin key is refused.
    let res = app
        .with_token(Method::GET, "/v1/admin/customers", responder)
        .send()
        .await
        .unwrap();
    assert_problem(res, 401).await;
    let res = app
        .with_token(
            Method::GET,
            "/v1/admin/customers",
            "pgw_admin_not-a-real-key",
        )
        .send()
        .await
        .unwrap();
    assert_problem(res, 401).await;
    // And an admin key is no device token.
    let res = app
        .admin(Method::GET, "/v1/customers/me")
        .send()
        .await
        .unwrap();
    assert_problem(res, 401).await;
}

async fn revocation_takes_effect_on_the_next_request(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let c = app.gold_customer().await;
    let token = &c.contact.access_token;
    let ok = app
        .with_token(Method::GET, "/v1/customers/me", token)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let revoked = app
        .admin(
            Method::POST,
            &format!("/v1/admin/devices/{}/revoke", c.contact.device_id),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    let res = app
        .with_token(Method::GET, "/v1/customers/me", token)
        .send()
        .await
        .unwrap();
    assert_problem(res, 401).await;
    assert_problem(refresh(&app, &c.contact.refresh_token).await, 401).await;
}

async fn enroll_with_token(
    app: &TestApp,
    code: &str,
    platform: &str,
    push_token: &str,
) -> reqwest::Response {
    app.client
        .post(app.url("/v1/devices/enroll"))
        .json(&json!({
            "code": code, "platform": platform, "push_token": push_token,
            "app_version": "2.3.1", "device_name": "Phone"
        }))
        .send()
        .await
        .unwrap()
}

async fn push_tokens_that_could_steer_the_provider_request_are_refused(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let user = app.create_user("responder", None, "Tess").await;
    let code = app.enrollment_code(&user).await;
    let hex = "0123456789abcdef".repeat(4);
    let fcm = "cXkB3rB6Qz6kR0pL9vS2aT:APA91bHq3f-Z_x7yK0m1N2o3P4q5R6s7T8u9V0w";
    let refused = [
        ("ios", "not-hex-at-all".to_owned()),
        ("ios", hex[..63].to_owned()),
        ("ios", "ab".repeat(101)),
        ("ios", fcm.to_owned()),
        ("ios", format!("{hex}/../../3/device/other")),
        (
            "android",
            format!("{fcm}/../../v1/projects/other/messages:send"),
        ),
        ("android", format!("{fcm}?x=1")),
        ("android", format!("{fcm}#frag")),
        ("android", format!("{fcm}%2F")),
        ("android", format!("{fcm} ")),
        ("android", "..".to_owned()),
        ("android", "a.b".to_owned()),
        ("android", "a".repeat(4097)),
    ];
    for (platform, token) in &refused {
        let body = assert_problem(enroll_with_token(&app, &code, platform, token).await, 422).await;
        assert_eq!(
            body["errors"][0]["field"], "push_token",
            "{platform} {token:?}"
        );
        assert_eq!(body["errors"].as_array().unwrap().len(), 1);
    }
    // Nothing was stored and the code was not used up.
    assert_eq!(app.count("devices").await, 0);
    let res = enroll_with_token(&app, &code, "ios", &hex.to_uppercase()).await;
    assert_eq!(res.status(), 201);
    let ios_access = res.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let code = app.enrollment_code(&user).await;
    let res = enroll_with_token(&app, &code, "android", fcm).await;
    assert_eq!(res.status(), 201);
    let android_access = res.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();

    // The same rules when the OS rotates the token, checked for the device's own platform.
    let update = |access: String, token: String| {
        let app = &app;
        async move {
            app.with_token(Method::PUT, "/v1/devices/me/push-token", &access)
                .json(&json!({ "push_token": token }))
                .send()
                .await
                .unwrap()
        }
    };
    for (platform, token) in refused {
        let access = if platform == "ios" {
            &ios_access
        } else {
            &android_access
        };
        let body = assert_problem(update(access.clone(), token.clone()).await, 422).await;
        assert_eq!(
            body["errors"][0]["field"], "push_token",
            "{platform} {token:?}"
        );
    }
    let body = assert_problem(update(android_access.clone(), "../x".into()).await, 422).await;
    assert!(body["errors"][0]["detail"]
        .as_str()
        .unwrap()
        .contains("FCM"));
    let body = assert_problem(update(ios_access.clone(), fcm.into()).await, 422).await;
    assert!(body["errors"][0]["detail"]
        .as_str()
        .unwrap()
        .contains("hexadecimal"));
    let unchanged = format!(
        "devices WHERE push_token IN ('{}', '{fcm}')",
        hex.to_uppercase()
    );
    assert_eq!(
        app.count(&unchanged).await,
        2,
        "refused updates change nothing"
    );
    assert_eq!(
        update(ios_access, "fedcba9876543210".repeat(5))
            .await
            .status(),
        204
    );
    assert_eq!(
        update(android_access, "new:APA91b-token_2".into())
            .await
            .status(),
        204
    );
}

async fn push_token_updates_and_unenrollment(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let c = app.gold_customer().await;
    let token = &c.account_manager.access_token;
    let res = app
        .with_token(Method::PUT, "/v1/devices/me/push-token", token)
        .json(&json!({ "push_token": "0f1e2d3c".repeat(8) }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let res = app
        .with_token(Method::PUT, "/v1/devices/me/push-token", token)
        .json(&json!({ "push_token": "" }))
        .send()
        .await
        .unwrap();
    let body = assert_problem(res, 422).await;
    assert_eq!(body["errors"][0]["field"], "push_token");

    let res = app
        .with_token(Method::DELETE, "/v1/devices/me", token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let res = app
        .with_token(Method::GET, "/v1/devices/me", token)
        .send()
        .await
        .unwrap();
    assert_problem(res, 401).await;
}

async fn admin_input_errors_name_the_field(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let body = app
        .admin_post(
            "/v1/admin/customers",
            json!({ "name": "X", "tier": "platinum" }),
            422,
        )
        .await;
    assert_eq!(body["errors"][0]["field"], "tier");
    let body = app
        .admin_post(
            "/v1/admin/users",
            json!({ "role": "contact", "name": "Y" }),
            422,
        )
        .await;
    assert_eq!(body["errors"][0]["field"], "customer_id");
    let body = app
        .admin_post(
            "/v1/admin/users",
            json!({ "role": "overlord", "name": "Y" }),
            422,
        )
        .await;
    assert_eq!(body["errors"][0]["field"], "role");
    let body = app
        .admin_post("/v1/admin/customers", json!({ "tier": "gold" }), 422)
        .await;
    assert_eq!(body["errors"][0]["field"], "name");
    let contact_customer = app.create_customer("Z", "gold", None).await;
    let contact = app
        .create_user("contact", Some(&contact_customer), "C")
        .await;
    let body = app
        .admin_post(
            "/v1/admin/customers",
            json!({ "name": "X", "tier": "gold", "account_manager_id": contact }),
            422,
        )
        .await;
    assert_eq!(body["errors"][0]["field"], "account_manager_id");
    // Nothing was created by the refused requests.
    let customers: Value = app
        .admin(Method::GET, "/v1/admin/customers")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(customers["items"].as_array().unwrap().len(), 1);
    let res = app
        .admin(
            Method::POST,
            "/v1/admin/users/no-such-user/enrollment-codes",
        )
        .send()
        .await
        .unwrap();
    assert_problem(res, 404).await;
}

async fn request_body_errors_are_problems(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let url = app.url("/v1/devices/enroll");
    let res = app
        .client
        .post(&url)
        .header("content-type", "application/json")
        .body("{ not json")
        .send()
        .await
        .unwrap();
    assert_problem(res, 400).await;
    let res = app
        .client
        .post(&url)
        .header("content-type", "application/json")
        .body(vec![0xff, 0xfe, 0xfd])
        .send()
        .await
        .unwrap();
    assert_problem(res, 400).await;
    let res = app.client.post(&url).body("code=x").send().await.unwrap();
    assert_problem(res, 415).await;
    let huge = json!({ "code": "x".repeat(100_000) });
    let res = app.client.post(&url).json(&huge).send().await.unwrap();
    let body = assert_problem(res, 413).await;
    assert!(body["detail"].as_str().unwrap().contains("65536"));
    let res = app
        .client
        .post(&url)
        .json(&json!({ "code": "AAAAA-AAAAA", "platform": "windows-phone" }))
        .send()
        .await
        .unwrap();
    let body = assert_problem(res, 422).await;
    assert_eq!(body["errors"][0]["field"], "platform");
}

async fn cli_admin_key_works_against_the_api(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let out = app.admin_cli(&["create-key", "--name", "ops"]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(key.starts_with("pgw_admin_"));
    let res = app
        .with_token(Method::GET, "/v1/admin/tiers", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let tiers: Value = res.json().await.unwrap();
    let ids: Vec<&str> = tiers
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["gold", "silver", "bronze"]);
    assert_eq!(tiers[0]["panic_button"], true);
}

async fn customers_see_their_own_organisation_and_tier_changes_apply_at_once(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let a = app.gold_customer().await;
    let b = app.gold_customer().await;
    let me_a: Value = app
        .with_token(Method::GET, "/v1/customers/me", &a.contact.access_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me_a["id"], a.customer_id.as_str());
    assert_ne!(me_a["id"], b.customer_id.as_str());
    assert_eq!(me_a["panic_button"], true);
    assert_eq!(me_a["account_manager"]["name"], "Alice Manager");

    let res = app
        .admin(
            Method::PATCH,
            &format!("/v1/admin/customers/{}", a.customer_id),
        )
        .json(&json!({ "tier": "silver" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let me_a: Value = app
        .with_token(Method::GET, "/v1/customers/me", &a.contact.access_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me_a["tier"], "silver");
    assert_eq!(me_a["panic_button"], false);
}
