//! Contact methods and notification rules through the API: addresses parsed and named when
//! wrong, codes sent through the mock Twilio and entered back, expiry and attempt limits, the
//! admin's routes and the default rule set, and that an unverified number is never paged.

use std::time::Duration as StdDuration;

use chrono::Duration;
use panic_gateway::push::mock::Fault;
use reqwest::Method;
use serde_json::{json, Value};

use crate::on_both_backends;
use crate::support::{
    assert_problem, p1_press, spawn_app_with_twilio, Phone, TestApp, TestBackend,
};

on_both_backends!(
    numbers_and_addresses_are_parsed_and_the_wrong_field_named,
    a_method_is_verified_with_the_code_it_was_sent,
    expired_and_used_up_codes_are_refused,
    an_unverified_number_is_never_paged,
    admins_manage_methods_and_rules,
);

pub const WAIT: StdDuration = StdDuration::from_secs(10);

/// POSTs a new method as `phone`'s responder.
pub async fn add_method(app: &TestApp, phone: &Phone, body: Value) -> reqwest::Response {
    app.with_token(
        Method::POST,
        "/v1/responders/me/contact-methods",
        &phone.access_token,
    )
    .json(&body)
    .send()
    .await
    .unwrap()
}

/// POSTs `code` to verify method `id` of `phone`'s responder.
pub async fn enter_code(app: &TestApp, phone: &Phone, id: &str, code: &str) -> reqwest::Response {
    app.with_token(
        Method::POST,
        &format!("/v1/responders/me/contact-methods/{id}/verify"),
        &phone.access_token,
    )
    .json(&json!({ "code": code }))
    .send()
    .await
    .unwrap()
}

/// The code in the newest text the mock Twilio accepted for `number`.
pub async fn code_sent_to(app: &TestApp, number: &str, count: usize) -> String {
    let sent = app.twilio().wait_sent(Some(number), count, WAIT).await;
    assert_eq!(sent.len(), count, "texts to {number}");
    sent.last()
        .unwrap()
        .verification_code()
        .expect("a 6-digit code")
}

/// Adds `number` as an SMS method of `phone`'s responder and verifies it with the code the
/// mock Twilio received; returns the method id.
pub async fn verified_sms(app: &TestApp, phone: &Phone, number: &str) -> String {
    let res = add_method(app, phone, json!({ "kind": "sms", "address": number })).await;
    assert_eq!(res.status(), 201);
    let created: Value = res.json().await.unwrap();
    assert_eq!(created["verification"]["sent"], true, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    let code = code_sent_to(app, number, 1).await;
    let res = enter_code(app, phone, &id, &code).await;
    assert_eq!(res.status(), 200);
    let method: Value = res.json().await.unwrap();
    assert_eq!(method["verified"], true);
    id
}

/// Replaces `phone`'s responder's rules.
pub async fn set_my_rules(app: &TestApp, phone: &Phone, rules: Value) -> reqwest::Response {
    app.with_token(
        Method::PUT,
        "/v1/responders/me/notification-rules",
        &phone.access_token,
    )
    .json(&json!({ "rules": rules }))
    .send()
    .await
    .unwrap()
}

async fn numbers_and_addresses_are_parsed_and_the_wrong_field_named(backend: TestBackend) {
    let app = spawn_app_with_twilio(backend, |_| {}).await;
    let c = app.gold_customer().await;
    let am = &c.account_manager;
    for (body, field, says) in [
        (
            json!({ "kind": "sms", "address": "0415 555 0100" }),
            "address",
            "E.164",
        ),
        (
            json!({ "kind": "voice", "address": "+0441234567" }),
            "address",
            "never starts with 0",
        ),
        (
            json!({ "kind": "sms", "address": "+1234567" }),
            "address",
            "8 to 15 digits",
        ),
        (
            json!({ "kind": "email", "address": "alice@" }),
            "address",
            "domain",
        ),
        (
            json!({ "kind": "pager", "address": "+14155550100" }),
            "kind",
            "sms, voice or email",
        ),
        (
            json!({ "kind": "sms", "address": "+14155550100", "verified": true }),
            "verified",
            "admin",
        ),
    ] {
        let problem = assert_problem(add_method(&app, am, body.clone()).await, 422).await;
        assert_eq!(problem["errors"][0]["field"], field, "{body}: {problem}");
        assert!(
            problem["errors"][0]["detail"]
                .as_str()
                .unwrap()
                .contains(says),
            "{body}: {problem}"
        );
    }
    assert_eq!(app.count("contact_methods").await, 0, "nothing stored");
    assert!(app.twilio().received().is_empty(), "nothing sent");

    // Spaces and dashes between digit groups are fine; the stored form is E.164.
    let res = add_method(
        &app,
        am,
        json!({ "kind": "sms", "address": "+1 415-555-0100" }),
    )
    .await;
    assert_eq!(res.status(), 201);
    let created: Value = res.json().await.unwrap();
    assert_eq!(created["address"], "+14155550100");
    // The same number twice is named too.
    let problem = assert_problem(
        add_method(
            &app,
            am,
            json!({ "kind": "sms", "address": "+14155550100" }),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(problem["errors"][0]["field"], "address");
    // A customer's phone cannot add methods.
    let res = add_method(
        &app,
        &c.contact,
        json!({ "kind": "sms", "address": "+14155550111" }),
    )
    .await;
    assert_problem(res, 403).await;
}

async fn a_method_is_verified_with_the_code_it_was_sent(backend: TestBackend) {
    let app = spawn_app_with_twilio(backend, |_| {}).await;
    let c = app.gold_customer().await;
    let am = &c.account_manager;
    let number = "+14155550100";
    let res = add_method(&app, am, json!({ "kind": "sms", "address": number })).await;
    assert_eq!(res.status(), 201);
    let created: Value = res.json().await.unwrap();
    assert_eq!(created["verified"], false);
    assert_eq!(created["verification"]["sent"], true);
    let id = created["id"].as_str().unwrap();
    let code = code_sent_to(&app, number, 1).await;
    // The text came from the configured number, through the Messages API.
    let text = &app.twilio().received()[0];
    assert_eq!(text.from, app.twilio().from_number());
    assert!(text.body.contains("expires in 10 minutes"), "{}", text.body);
    // The code is stored hashed, never as sent.
    assert_eq!(
        app.count(&format!("contact_methods WHERE code_hash LIKE '%{code}%'"))
            .await,
        0
    );

    let wrong = if code == "000000" { "111111" } else { "000000" };
    let problem = assert_problem(enter_code(&app, am, id, wrong).await, 422).await;
    assert_eq!(problem["errors"][0]["field"], "code");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("4 attempts left"),
        "{problem}"
    );
    let problem = assert_problem(enter_code(&app, am, id, "12ab").await, 422).await;
    assert_eq!(problem["errors"][0]["field"], "code");

    let res = enter_code(&app, am, id, &code).await;
    assert_eq!(res.status(), 200);
    let list: Value = app
        .with_token(
            Method::GET,
            "/v1/responders/me/contact-methods",
            &am.access_token,
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["verified"], true);
    // Deleting takes it away; the number can be added again.
    let res = app
        .with_token(
            Method::DELETE,
            &format!("/v1/responders/me/contact-methods/{id}"),
            &am.access_token,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let res = add_method(&app, am, json!({ "kind": "sms", "address": number })).await;
    assert_eq!(res.status(), 201);
}

async fn expired_and_used_up_codes_are_refused(backend: TestBackend) {
    let app = spawn_app_with_twilio(backend, |_| {}).await;
    let c = app.gold_customer().await;
    let am = &c.account_manager;
    let number = "+447700900123";
    let created: Value = add_method(&app, am, json!({ "kind": "sms", "address": number }))
        .await
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap();
    let code = code_sent_to(&app, number, 1).await;

    app.clock.advance(Duration::minutes(10));
    let problem = assert_problem(enter_code(&app, am, id, &code).await, 422).await;
    assert!(
        problem["detail"].as_str().unwrap().contains("expired"),
        "{problem}"
    );

    // A new code; five wrong entries use it up, and then even the right one is refused.
    let res = app
        .with_token(
            Method::POST,
            &format!("/v1/responders/me/contact-methods/{id}/resend"),
            &am.access_token,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let code = code_sent_to(&app, number, 2).await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for _ in 0..5 {
        assert_problem(enter_code(&app, am, id, wrong).await, 422).await;
    }
    let problem = assert_problem(enter_code(&app, am, id, &code).await, 422).await;
    assert!(
        problem["detail"].as_str().unwrap().contains("resend"),
        "{problem}"
    );
    assert_eq!(
        app.count("contact_methods WHERE verified_at IS NOT NULL")
            .await,
        0
    );
}

async fn an_unverified_number_is_never_paged(backend: TestBackend) {
    let app = spawn_app_with_twilio(backend, |_| {}).await;
    let c = app.gold_customer().await;
    let am = &c.account_manager;
    let number = "+14155550100";
    let res = add_method(&app, am, json!({ "kind": "sms", "address": number })).await;
    assert_eq!(res.status(), 201);
    app.twilio().wait_sent(Some(number), 1, WAIT).await;
    // Push cannot reach Alice; the default rules would text her after a minute.
    app.mocks()
        .apns
        .fail(Some(&am.push_token), Fault::status(410), None);
    let res = app
        .press(&c.contact, "unverified", &p1_press("unverified"))
        .await;
    assert_eq!(res.status(), 201);
    app.run_due_work().await;
    app.clock.advance(Duration::minutes(2));
    app.run_due_work().await;
    assert_eq!(app.count("deliveries WHERE channel = 'sms'").await, 0);
    assert_eq!(
        app.twilio().received().len(),
        1,
        "only the verification code was texted"
    );
}

async fn admins_manage_methods_and_rules(backend: TestBackend) {
    let app = spawn_app_with_twilio(backend, |_| {}).await;
    let c = app.gold_customer().await;
    let user = &c.account_manager.user_id;
    let base = format!("/v1/admin/users/{user}");

    // E-mail has no provider in this gateway: an admin vouches for the address instead of a
    // code.
    let created = app
        .admin_post(
            &format!("{base}/contact-methods"),
            json!({ "kind": "email", "address": "alice.work@example.com" }),
            201,
        )
        .await;
    assert_eq!(created["verified"], false);
    assert_eq!(created["verification"]["sent"], false);
    assert!(created["verification"]["detail"]
        .as_str()
        .unwrap()
        .contains("no provider"));
    let vouched = created["id"].as_str().unwrap().to_owned();
    let verified = app
        .admin_post(
            &format!("{base}/contact-methods/{vouched}/verify"),
            json!({}),
            200,
        )
        .await;
    assert_eq!(verified["verified"], true);
    let sms = app
        .admin_post(
            &format!("{base}/contact-methods"),
            json!({ "kind": "sms", "address": "+14155550100", "verified": true }),
            201,
        )
        .await;
    assert_eq!(sms["verified"], true);
    assert!(
        app.twilio().received().is_empty(),
        "no code for a vouched method"
    );
    let sms = sms["id"].as_str().unwrap().to_owned();
    let list: Value = app
        .admin(Method::GET, &format!("{base}/contact-methods"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list.as_array().unwrap().len(), 2);

    // Rules: the built-in default until the admin sets one; every bad rule is named.
    let rules: Value = app
        .admin(Method::GET, &format!("{base}/notification-rules"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(rules["source"], "builtin");
    assert_eq!(
        rules["rules"],
        json!([{ "method": "push", "delay_minutes": 0 }, { "method": "sms", "delay_minutes": 1 }])
    );
    let res = app
        .admin(Method::PUT, &format!("{base}/notification-rules"))
        .json(&json!({ "rules": [
            { "method": "push", "method_id": sms, "delay_minutes": 0 },
            { "method": "sms", "method_id": vouched, "delay_minutes": 1 },
            { "method": "voice", "delay_minutes": 99 },
        ] }))
        .send()
        .await
        .unwrap();
    let problem = assert_problem(res, 422).await;
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        [
            "rules[0].method_id",
            "rules[1].method_id",
            "rules[2].delay_minutes"
        ]
    );
    let res = app
        .admin(Method::PUT, "/v1/admin/notification-rules/default")
        .json(&json!({ "rules": [
            { "method": "push", "delay_minutes": 0 },
            { "method": "voice", "delay_minutes": 3 },
        ] }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let rules: Value = app
        .admin(Method::GET, &format!("{base}/notification-rules"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(rules["source"], "default");
    let res = app
        .admin(Method::PUT, &format!("{base}/notification-rules"))
        .json(&json!({ "rules": [
            { "method": "push", "delay_minutes": 0 },
            { "method": "sms", "method_id": sms, "delay_minutes": 1 },
            { "method": "email", "method_id": vouched, "delay_minutes": 3 },
        ] }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let rules: Value = res.json().await.unwrap();
    assert_eq!(rules["source"], "user");
    assert_eq!(rules["rules"][2]["method_id"], vouched.as_str());
    // A customer's contact has no methods.
    let contact = &c.contact.user_id;
    let res = app
        .admin(
            Method::GET,
            &format!("/v1/admin/users/{contact}/contact-methods"),
        )
        .send()
        .await
        .unwrap();
    assert_problem(res, 422).await;
    assert_eq!(
        app.count("audit_log WHERE action LIKE 'contact_method.%'")
            .await,
        3
    );
}
