//! The Webhooks page in a real browser: an admin sends a test event to each endpoint; the
//! deliveries list then shows one accepted (HTTP 204) and one failing with its error.

use std::net::TcpListener;
use std::time::Duration;

use actix_web::{web, App, HttpResponse, HttpServer};
use fantoccini::Locator;
use serde_json::json;

use crate::harness::Browser;
use crate::support::{spawn_app, TestBackend};

/// A helpdesk on loopback that accepts every webhook; returns its URL.
fn accepting_receiver() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = HttpServer::new(|| {
        App::new().route(
            "/hook",
            web::post().to(|| async { HttpResponse::NoContent().finish() }),
        )
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .unwrap()
    .run();
    tokio::spawn(server);
    format!("http://127.0.0.1:{port}/hook")
}

/// A loopback address nothing listens on.
fn closed_port_url() -> String {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("http://127.0.0.1:{port}/gone")
}

#[tokio::test]
async fn an_admin_sends_test_events_and_sees_each_outcome() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = spawn_app(TestBackend::Sqlite).await;
    let good = app
        .admin_post(
            "/v1/admin/webhooks",
            json!({ "url": accepting_receiver() }),
            201,
        )
        .await;
    let bad = app
        .admin_post(
            "/v1/admin/webhooks",
            json!({ "url": closed_port_url() }),
            201,
        )
        .await;
    let ada = app.staff("support_manager", true, "Ada Admin").await;
    browser.sign_in(&app, &ada).await;
    browser.goto(&app, "/console/webhooks").await;
    browser
        .text_of("#no-deliveries", Duration::from_secs(5))
        .await;

    for endpoint in [&good, &bad] {
        let id = endpoint["id"].as_str().unwrap();
        // A fresh page each time: no outcome notice yet, so the one awaited below is the
        // answer to this click (not the previous page's, which would go stale under us).
        browser.goto(&app, "/console/webhooks").await;
        browser
            .client
            .find(Locator::Css(&format!("#endpoint-{id} button")))
            .await
            .expect("a Send a test event button")
            .click()
            .await
            .unwrap();
        let outcome = browser
            .text_of("#test-outcome", Duration::from_secs(5))
            .await;
        assert!(outcome.contains("queued"), "{outcome}");
    }
    assert_eq!(
        app.count("webhook_deliveries WHERE event_type = 'webhook.test'")
            .await,
        2
    );
    app.run_due_work().await;

    browser.goto(&app, "/console/webhooks").await;
    let rows = browser.text_of("#deliveries", Duration::from_secs(5)).await;
    assert!(rows.contains("webhook.test"), "{rows}");
    let sent = browser
        .text_of("#deliveries tr[data-state=sent]", Duration::from_secs(1))
        .await;
    assert!(sent.contains("204") && sent.contains("/hook"), "{sent}");
    let failing = browser
        .text_of(
            "#deliveries tr[data-state=pending], #deliveries tr[data-state=failed]",
            Duration::from_secs(1),
        )
        .await;
    assert!(failing.contains("/gone"), "{failing}");
    let error = browser
        .text_of(
            "#deliveries tr[data-state=pending] td.error-text, #deliveries tr[data-state=failed] td.error-text",
            Duration::from_secs(1),
        )
        .await;
    assert!(
        error.len() > 3 && error != "—",
        "the error is shown: {error}"
    );
    browser.shot("webhooks").await;
    browser.close().await;
}
