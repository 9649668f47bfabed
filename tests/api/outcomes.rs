//! Recording what the providers said: an outcome counts only for the claim that holds the
//! delivery's lease, also when one batch carries the same delivery twice, and a batch of any
//! size keeps every outcome with its consequences (the timeline, the incident's first
//! accepted page). The recorder writes a batch in a few multi-row statements.

use chrono::Duration;
use panic_gateway::store::deliveries::{ClaimedDelivery, Recorded};
use panic_gateway::store::{DatabaseSettings, Store};
use serde_json::Value;

use crate::on_both_backends;
use crate::support::{p1_press, spawn_app_with_push, TestApp, TestBackend};

on_both_backends!(
    an_outcome_counts_only_for_the_claim_holding_the_lease,
    a_large_batch_keeps_every_outcome,
);

async fn press(app: &TestApp, contact: &crate::support::Phone, key: &str) -> String {
    let res = app.press(contact, key, &p1_press(key)).await;
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    body["incident"]["id"].as_str().unwrap().to_owned()
}

/// A second handle on the app's database, to claim and record as the dispatcher does.
async fn store_of(app: &TestApp) -> Store {
    Store::connect(&DatabaseSettings {
        url: app.db_url.clone(),
        ..DatabaseSettings::default()
    })
    .await
    .unwrap()
}

fn sent(id: &str) -> Recorded {
    Recorded::Sent {
        provider_message_id: Some(id.into()),
    }
}

async fn an_outcome_counts_only_for_the_claim_holding_the_lease(backend: TestBackend) {
    let app = spawn_app_with_push(backend, |s| s.dispatch.enabled = false).await;
    let c = app.gold_customer().await;
    press(&app, &c.contact, "lease").await;
    let store = store_of(&app).await;
    let lease = Duration::seconds(30);
    let t0 = app.clock_now();
    let first = store
        .claim_due_deliveries("a", t0, lease, 10)
        .await
        .unwrap();
    assert_eq!(first.len(), 1);
    // The first claim's lease runs out mid-send and a second claim takes the delivery; both
    // sends finish and their outcomes reach the recorder in one batch.
    let t1 = t0 + Duration::seconds(31);
    let second = store
        .claim_due_deliveries("b", t1, lease, 10)
        .await
        .unwrap();
    assert_eq!(second.len(), 1);
    assert_eq!(first[0].id, second[0].id);
    let batch = [
        (first[0].clone(), sent("from-first")),
        (second[0].clone(), sent("from-second")),
    ];
    assert_eq!(store.record_deliveries(&batch, t1).await.unwrap(), 1);
    assert_eq!(
        app.count("deliveries WHERE state = 'sent' AND provider_message_id = 'from-second'")
            .await,
        1
    );
    assert_eq!(
        app.count("incident_events WHERE kind = 'delivered'").await,
        1
    );

    // The first claim's outcome arriving later still changes nothing.
    let late = [(
        first[0].clone(),
        Recorded::Failed {
            error: "late".into(),
        },
    )];
    assert_eq!(store.record_deliveries(&late, t1).await.unwrap(), 0);
    assert_eq!(app.count("deliveries WHERE state = 'sent'").await, 1);
    assert_eq!(
        app.count("incident_events WHERE kind = 'delivery.failed'")
            .await,
        0
    );
}

async fn a_large_batch_keeps_every_outcome(backend: TestBackend) {
    let app = spawn_app_with_push(backend, |s| s.dispatch.enabled = false).await;
    let c = app.gold_customer().await;
    // 70 devices: a batch of 70 is written as chunks of 64, 4, 1 and 1.
    for _ in 0..69 {
        app.enroll(&c.account_manager.user_id, "ios").await;
    }
    press(&app, &c.contact, "many").await;
    let store = store_of(&app).await;
    let now = app.clock_now();
    let claimed: Vec<ClaimedDelivery> = store
        .claim_due_deliveries("a", now, Duration::seconds(30), 100)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 70);
    let retry_at = now + Duration::seconds(5);
    let batch: Vec<(ClaimedDelivery, Recorded)> = claimed
        .into_iter()
        .enumerate()
        .map(|(i, d)| {
            let outcome = match i % 3 {
                0 => sent(&format!("m{i}")),
                1 => Recorded::RetryAt {
                    due_at: retry_at,
                    error: "503".into(),
                },
                _ => Recorded::Failed {
                    error: "400 BadDeviceToken".into(),
                },
            };
            (d, outcome)
        })
        .collect();
    assert_eq!(store.record_deliveries(&batch, now).await.unwrap(), 70);
    // 24 sent (i = 0, 3, …, 69), 23 to retry, 23 failed.
    assert_eq!(
        app.count("deliveries WHERE state = 'sent' AND provider_message_id LIKE 'm%'")
            .await,
        24
    );
    assert_eq!(
        app.count_at(
            "deliveries WHERE state = 'pending' AND lease_owner IS NULL AND due_at = $1",
            retry_at
        )
        .await,
        23
    );
    assert_eq!(app.count("deliveries WHERE state = 'failed'").await, 23);
    assert_eq!(
        app.count("incident_events WHERE kind = 'delivered'").await,
        24
    );
    assert_eq!(
        app.count("incident_events WHERE kind = 'delivery.failed'")
            .await,
        23
    );
    assert_eq!(
        app.count("incidents WHERE first_accepted_at IS NOT NULL")
            .await,
        1
    );
}
