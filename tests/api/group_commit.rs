//! Group commit of presses: presses that queue while a commit is in flight are recorded in one
//! transaction, each in its own savepoint, and each is answered for itself.
//!
//! To make a batch on purpose, a transaction outside the gateway holds what the first press
//! needs (SQLite's write lock; on PostgreSQL the customer's row, which a P1 press locks) while
//! more presses of the same customer queue behind it in its lane.

use std::time::Duration;

use panic_gateway::store::devkit::{self, OutsideTransaction};
use serde_json::{json, Value};

use crate::on_both_backends;
use crate::support::{assert_problem, eventually, p1_press, spawn_app, TestApp, TestBackend};

on_both_backends!(a_batch_keeps_its_good_presses_and_refuses_the_bad_ones_alone);

const WAIT: Duration = Duration::from_secs(10);

/// An outside transaction holding what the first press of `customer_id` needs.
pub(crate) struct Blocker(OutsideTransaction);

impl Blocker {
    pub(crate) async fn hold(db_url: &str, customer_id: &str) -> Self {
        Self(
            OutsideTransaction::lock_customer(db_url, customer_id)
                .await
                .expect("customer locked"),
        )
    }

    pub(crate) async fn release(self) {
        self.0.commit().await.expect("released");
    }
}

/// A gauge or counter of the gateway's `/metrics`.
pub(crate) async fn metric(client: &reqwest::Client, base: &str, name: &str) -> f64 {
    let text = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("scrape")
        .text()
        .await
        .expect("text");
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

async fn a_batch_keeps_its_good_presses_and_refuses_the_bad_ones_alone(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let acme = app.gold_customer().await;
    devkit::refuse_alerts_summarised(&app.db_url, "EXPLODE")
        .await
        .expect("trigger installed");
    let blocker = Blocker::hold(&app.db_url, &acme.customer_id).await;

    // The first press takes the lane and waits for the outside transaction.
    let press = |key: String, body: Value| {
        let app: &TestApp = &app;
        let phone = acme.contact.clone();
        async move { app.press(&phone, &key, &body).await }
    };
    let first = press("first".into(), p1_press("storage"));
    let mut bad_ticket = p1_press("billing");
    bad_ticket["ticket_ref"] = json!("TCK-NOPE-0000");
    let mut batch: Vec<(String, Value, u16)> = (0..5)
        .map(|i| (format!("good-{i}"), p1_press(&format!("service {i}")), 201))
        .collect();
    batch.insert(2, ("bad-ticket".into(), bad_ticket, 422));
    // A press whose row the database itself refuses, inside the batch's transaction: a trigger
    // raises PostgreSQL's "untranslatable character" error (text it cannot store, 400) or, on
    // SQLite, aborts the statement (a fault, 500).
    let mut refused = p1_press("search");
    refused["summary"] = json!("EXPLODE");
    let refused_status = match backend {
        TestBackend::Postgres => 400,
        TestBackend::Sqlite => 500,
    };
    batch.insert(4, ("refused".into(), refused, refused_status));
    // A phone retrying inside the same batch: the key is stored only when the first press
    // of it stores its answer, so the retry is undone and answered as the first was.
    batch.push(("good-0".into(), p1_press("service 0"), 201));
    let queued = batch.len() as f64;
    let metric_of = |name: &'static str| metric(&app.client, &app.address, name);
    let rest = async {
        eventually(WAIT, "the first press takes the lane", || async {
            metric_of("panic_gateway_intake_batches_total").await >= 1.0
        })
        .await;
        // The rest queue behind it while it waits.
        let rest = futures_util::future::join_all(
            batch
                .iter()
                .map(|(key, body, _)| press(key.clone(), body.clone())),
        );
        let watch = async {
            eventually(WAIT, "the presses queue behind the first", || async {
                metric_of("panic_gateway_intake_queued").await >= queued
            })
            .await;
            blocker.release().await;
        };
        futures_util::future::join(rest, watch).await.0
    };
    let all = futures_util::future::join(first, rest).await;
    let (first, answers) = all;
    assert_eq!(first.status(), 201, "the first press");
    let mut incidents = std::collections::HashMap::new();
    for ((key, _, status), res) in batch.iter().zip(answers) {
        assert_eq!(res.status().as_u16(), *status, "press {key}");
        if *status == 201 {
            let body: Value = res.json().await.unwrap();
            assert_eq!(body["paged"], true, "press {key} paged someone");
            let incident = body["incident"]["id"].clone();
            let first = incidents
                .entry(key.clone())
                .or_insert_with(|| incident.clone());
            assert_eq!(
                *first, incident,
                "press {key} answered again as the first time"
            );
        } else {
            assert_problem(res, *status).await;
        }
    }
    assert!(
        metric_of("panic_gateway_intake_largest_batch").await >= queued,
        "the queued presses were recorded as one batch"
    );
    // The first press and the five good ones, nothing of the refused ones.
    assert_eq!(app.count("alerts").await, 6);
    assert_eq!(app.count("incidents").await, 6);
    assert_eq!(
        app.count("incident_events WHERE kind = 'classified'").await,
        6,
        "the refused presses' timeline events were dropped with their savepoints"
    );
    // Pages are kept in the batch's transaction until it commits; the refused press had
    // queued its page before its alert was refused, and it went with its savepoint.
    assert_eq!(
        app.count("deliveries").await,
        6,
        "one page per kept press, none for the refused ones"
    );
    // The refused press claimed nothing: its key is free for the corrected press.
    let retry = app
        .press(&acme.contact, "bad-ticket", &p1_press("billing"))
        .await;
    assert_eq!(retry.status(), 201);
    // And a phone retrying a good press gets its answer again, not a second alert.
    let again = app
        .press(&acme.contact, "good-0", &p1_press("service 0"))
        .await;
    assert_eq!(again.status(), 201);
    assert_eq!(app.count("alerts").await, 7);
}
