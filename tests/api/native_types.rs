//! Migration 23 gives PostgreSQL's tables native types (timestamptz, uuid, jsonb) in place: a
//! database written under the previous schema reads back the same through the API after it.

use std::time::Duration as StdDuration;

use chrono::Duration;
use panic_gateway::store::devkit;
use reqwest::Method;
use serde_json::{json, Value};

use crate::on_both_backends;
use crate::support::{
    eventually, p1_press, spawn_app_with_push, spawn_instance, TestApp, TestBackend,
};

on_both_backends!(a_database_of_the_previous_schema_reads_back_the_same_after_migrating,);

const WAIT: StdDuration = StdDuration::from_secs(10);

async fn a_database_of_the_previous_schema_reads_back_the_same_after_migrating(
    backend: TestBackend,
) {
    let app = spawn_app_with_push(backend, |_| {}).await;
    let c = app.gold_customer().await;
    let am = &c.account_manager;

    // A P1 paged and acknowledged, with a note and a second press that joined it; a press
    // that is not P1 and became a lower ticket.
    let res = app.press(&c.contact, "first", &p1_press("checkout")).await;
    assert_eq!(res.status(), 201);
    let first: Value = res.json().await.unwrap();
    let incident = first["incident"]["id"].as_str().unwrap().to_owned();
    app.mocks()
        .apns
        .wait_accepted(Some(&am.push_token), 1, WAIT)
        .await;
    eventually(WAIT, "the page is recorded as sent", || async {
        app.count(&format!(
            "deliveries WHERE incident_id = '{incident}' AND state = 'sent'"
        ))
        .await
            >= 1
    })
    .await;
    app.clock.advance(Duration::seconds(7));
    let res = app.press(&c.contact, "second", &p1_press("checkout")).await;
    assert_eq!(
        res.status(),
        200,
        "the second press joins the open incident"
    );
    let second: Value = res.json().await.unwrap();
    app.clock.advance(Duration::milliseconds(1_234));
    let acked = app
        .with_token(
            Method::POST,
            &format!("/v1/incidents/{incident}/acknowledge"),
            &am.access_token,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(acked.status(), 200);
    // The customer's update goes out after the answer; its delivery is part of what is read
    // back below.
    eventually(
        WAIT,
        "the customer's update is recorded as sent",
        || async {
            app.count(&format!(
            "deliveries WHERE incident_id = '{incident}' AND kind = 'update' AND state = 'sent'"
        ))
            .await
                >= 1
        },
    )
    .await;
    let noted = app
        .with_token(
            Method::POST,
            &format!("/v1/incidents/{incident}/notes"),
            &am.access_token,
        )
        .json(&json!({ "text": "Rolling back the release" }))
        .send()
        .await
        .unwrap();
    assert!(noted.status().is_success(), "{}", noted.status());
    let mut lower = p1_press("reports");
    lower["p1"]["production_down"] = json!(false);
    let res = app.press(&c.contact, "third", &lower).await;
    assert_eq!(res.status(), 201);
    let third: Value = res.json().await.unwrap();
    let alerts: Vec<String> = [&first, &second, &third]
        .iter()
        .map(|a| a["alert_id"].as_str().unwrap().to_owned())
        .collect();

    let before = read_everything(
        &app,
        &c.contact.access_token,
        &am.access_token,
        &incident,
        &alerts,
    )
    .await;
    let pages_before = devkit::page_states(&app.db_url, &incident).await.unwrap();

    // Back to the previous schema, every row kept, as an older gateway left it.
    devkit::undo_native_types(&app.db_url).await.unwrap();
    let (old_instant, new_instant, old_id) = match backend {
        TestBackend::Postgres => ("bigint", "timestamp with time zone", "text"),
        TestBackend::Sqlite => ("BIGINT", "BIGINT", "TEXT"),
    };
    assert_eq!(
        column_type(&app, "incidents", "created_at").await,
        old_instant
    );
    assert_eq!(column_type(&app, "incidents", "id").await, old_id);

    // A gateway of this version starts on it and migrates it.
    let migrated = spawn_instance(&app, app.settings.clone()).await;
    assert_eq!(
        column_type(&migrated, "incidents", "created_at").await,
        new_instant
    );
    if backend == TestBackend::Postgres {
        assert_eq!(column_type(&migrated, "incidents", "id").await, "uuid");
        assert_eq!(
            column_type(&migrated, "incident_events", "detail").await,
            "jsonb"
        );
        assert_eq!(
            column_type(&migrated, "deliveries", "due_at").await,
            "timestamp with time zone"
        );
    }
    let after = read_everything(
        &migrated,
        &c.contact.access_token,
        &am.access_token,
        &incident,
        &alerts,
    )
    .await;
    assert_eq!(after, before);
    assert_eq!(
        devkit::page_states(&migrated.db_url, &incident)
            .await
            .unwrap(),
        pages_before
    );
}

async fn column_type(app: &TestApp, table: &str, column: &str) -> String {
    devkit::column_type(&app.db_url, table, column)
        .await
        .unwrap()
}

/// What the API says of the incident (to its responder, with the timeline and who was paged),
/// of each alert (to the customer), and the SLA report.
async fn read_everything(
    app: &TestApp,
    customer: &str,
    responder: &str,
    incident: &str,
    alerts: &[String],
) -> Vec<Value> {
    let mut read = Vec::new();
    let get = |path: String, token: String| async move {
        let res = app
            .with_token(Method::GET, &path, &token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "GET {path}");
        res.json::<Value>().await.unwrap()
    };
    read.push(get(format!("/v1/incidents/{incident}"), responder.to_owned()).await);
    read.push(get(format!("/v1/incidents/{incident}"), customer.to_owned()).await);
    for alert in alerts {
        read.push(get(format!("/v1/alerts/{alert}"), customer.to_owned()).await);
    }
    read.push(
        get(
            "/v1/responders/me/incidents".to_owned(),
            responder.to_owned(),
        )
        .await,
    );
    let from = (app.clock_now() - Duration::days(1)).to_rfc3339();
    let to = (app.clock_now() + Duration::days(1)).to_rfc3339();
    let report = app
        .admin(Method::GET, "/v1/reports/sla")
        .query(&[("from", from.as_str()), ("to", to.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(report.status(), 200);
    read.push(report.json().await.unwrap());
    read
}
