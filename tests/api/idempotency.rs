//! Idempotency keys are kept for their retention, then pruned.

use std::time::Duration as StdDuration;

use chrono::Duration;
use serde_json::{json, Value};

use crate::on_both_backends;
use crate::support::{eventually, p1_press, spawn_app_with, Phone, TestApp, TestBackend};

on_both_backends!(a_key_older_than_its_retention_is_pruned_and_a_younger_one_replays,);

const WAIT: StdDuration = StdDuration::from_secs(10);

/// A fresh access token for `phone` at the gateway's (moved) time.
async fn refreshed(app: &TestApp, phone: &mut Phone) {
    let res = app
        .client
        .post(app.url("/v1/devices/token/refresh"))
        .json(&json!({ "refresh_token": phone.refresh_token }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    phone.access_token = body["access_token"].as_str().unwrap().to_owned();
    phone.refresh_token = body["refresh_token"].as_str().unwrap().to_owned();
}

async fn a_key_older_than_its_retention_is_pruned_and_a_younger_one_replays(backend: TestBackend) {
    let app = spawn_app_with(backend, |s| {
        s.intake.idempotency_retention_hours = 48;
        s.intake.idempotency_prune_interval_ms = 10;
    })
    .await;
    let mut c = app.gold_customer().await;
    let old = app.press(&c.contact, "old-press", &p1_press("web")).await;
    assert_eq!(old.status(), 201);

    app.clock.advance(Duration::hours(30));
    refreshed(&app, &mut c.contact).await;
    let young = app.press(&c.contact, "young-press", &p1_press("api")).await;
    assert_eq!(young.status(), 201);
    let young = young.text().await.unwrap();
    assert_eq!(app.count("idempotency_keys").await, 2);

    // 49 hours after the first press, 19 after the second.
    app.clock.advance(Duration::hours(19));
    eventually(WAIT, "the key past its retention is pruned", || async {
        app.count("idempotency_keys").await == 1
    })
    .await;
    assert_eq!(
        app.count("idempotency_keys WHERE idem_key = 'young-press'")
            .await,
        1
    );

    // The younger key still replays its first answer.
    refreshed(&app, &mut c.contact).await;
    let again = app.press(&c.contact, "young-press", &p1_press("api")).await;
    assert_eq!(again.status(), 201);
    assert_eq!(again.text().await.unwrap(), young);
    assert_eq!(app.count("alerts").await, 2);
}
