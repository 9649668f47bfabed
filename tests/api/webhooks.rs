//! Outbound webhooks: signed, durable, retried, filtered, deduplicable by event id.

use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use chrono::Duration;
use hmac::{Hmac, Mac};
use reqwest::Method;
use serde_json::{json, Value};
use sha2::Sha256;

use crate::on_both_backends;
use crate::support::{assert_problem, eventually, p1_press, spawn_app, TestApp, TestBackend};

on_both_backends!(
    the_helpdesk_hears_the_whole_lifecycle_signed,
    a_failing_receiver_gets_the_same_event_again_later,
    endpoints_get_only_what_they_subscribed_to,
    invalid_endpoints_name_the_field,
);

#[derive(Clone, Debug)]
struct Received {
    event: String,
    event_id: String,
    timestamp: String,
    signature: String,
    body: String,
}

#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<Received>>>,
    failures_left: Arc<AtomicUsize>,
    attempts: Arc<AtomicUsize>,
}

async fn hook(req: HttpRequest, body: String, r: web::Data<Receiver>) -> HttpResponse {
    r.attempts.fetch_add(1, Ordering::SeqCst);
    if r.failures_left
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        return HttpResponse::ServiceUnavailable().finish();
    }
    let h = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    r.got.lock().unwrap().push(Received {
        event: h("x-panicgateway-event"),
        event_id: h("x-panicgateway-event-id"),
        timestamp: h("x-panicgateway-timestamp"),
        signature: h("x-panicgateway-signature"),
        body,
    });
    HttpResponse::NoContent().finish()
}

/// A helpdesk on loopback that records what it receives; it answers 503 `fail_first` times.
fn receiver(fail_first: usize) -> (String, Receiver) {
    let r = Receiver::default();
    r.failures_left.store(fail_first, Ordering::SeqCst);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let data = web::Data::new(r.clone());
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route("/hook", web::post().to(hook))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .unwrap()
    .run();
    tokio::spawn(server);
    (format!("http://127.0.0.1:{port}/hook"), r)
}

async fn endpoint(app: &TestApp, url: &str, events: Value) -> String {
    let body = app
        .admin_post(
            "/v1/admin/webhooks",
            json!({ "url": url, "events": events }),
            201,
        )
        .await;
    body["secret"].as_str().unwrap().to_owned()
}

fn verify(secret: &str, r: &Received) {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{}.{}", r.timestamp, r.body).as_bytes());
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(r.signature, format!("sha256={expected}"));
}

const WAIT: StdDuration = StdDuration::from_secs(10);

async fn the_helpdesk_hears_the_whole_lifecycle_signed(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let (url, got) = receiver(0);
    let secret = endpoint(&app, &url, json!(["*"])).await;
    let c = app.gold_customer().await;
    let body: Value = app
        .press(&c.contact, "wh", &p1_press("crm"))
        .await
        .json()
        .await
        .unwrap();
    let incident = body["incident"]["id"].as_str().unwrap().to_owned();
    for action in ["acknowledge", "resolve"] {
        let res = app
            .with_token(
                Method::POST,
                &format!("/v1/incidents/{incident}/{action}"),
                &c.account_manager.access_token,
            )
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }
    eventually(WAIT, "three webhooks arrive", || async {
        got.got.lock().unwrap().len() == 3
    })
    .await;
    let received = got.got.lock().unwrap().clone();
    let mut types: Vec<&str> = received.iter().map(|r| r.event.as_str()).collect();
    types.sort();
    assert_eq!(
        types,
        [
            "incident.acknowledged",
            "incident.opened",
            "incident.resolved"
        ]
    );
    for r in &received {
        verify(&secret, r);
        let payload: Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(payload["id"], r.event_id.as_str());
        assert_eq!(payload["type"], r.event.as_str());
        assert_eq!(payload["incident_id"], incident.as_str());
        assert_eq!(payload["ticket"]["external_ref"], body["ticket_ref"]);
    }
    let ack = received
        .iter()
        .find(|r| r.event == "incident.acknowledged")
        .unwrap();
    let payload: Value = serde_json::from_str(&ack.body).unwrap();
    assert_eq!(payload["data"]["name"], "Alice Manager");
}

async fn a_failing_receiver_gets_the_same_event_again_later(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let (url, got) = receiver(2);
    endpoint(&app, &url, json!(["incident.opened"])).await;
    let c = app.gold_customer().await;
    app.press(&c.contact, "retry", &p1_press("crm")).await;
    eventually(WAIT, "a first refused attempt", || async {
        got.attempts.load(Ordering::SeqCst) >= 1
    })
    .await;
    // Backoff is measured on the gateway's clock: move it on until the receiver accepts.
    eventually(WAIT, "the event is accepted after retries", || async {
        app.clock.advance(Duration::seconds(30));
        tokio::time::sleep(StdDuration::from_millis(20)).await;
        got.got.lock().unwrap().len() == 1
    })
    .await;
    assert_eq!(got.attempts.load(Ordering::SeqCst), 3);
    assert_eq!(
        app.count("webhook_deliveries WHERE state = 'sent' AND attempts = 3")
            .await,
        1
    );
}

async fn endpoints_get_only_what_they_subscribed_to(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let (all_url, all) = receiver(0);
    let (tickets_url, tickets) = receiver(0);
    endpoint(&app, &all_url, json!(["*"])).await;
    endpoint(&app, &tickets_url, json!(["ticket.priority_changed"])).await;
    let c = app.gold_customer().await;
    app.admin_post(
        "/v1/tickets",
        json!({ "customer_id": c.customer_id, "external_ref": "SR-7", "subject": "Slow", "priority": "P3" }),
        201,
    )
    .await;
    let mut press = p1_press("erp");
    press["ticket_ref"] = "SR-7".into();
    assert_eq!(app.press(&c.contact, "sub", &press).await.status(), 201);
    eventually(
        WAIT,
        "the ticket subscriber hears the priority change",
        || async { tickets.got.lock().unwrap().len() == 1 },
    )
    .await;
    eventually(WAIT, "the catch-all hears it and the opening", || async {
        all.got.lock().unwrap().len() == 2
    })
    .await;
    let change: Value = serde_json::from_str(&tickets.got.lock().unwrap()[0].body).unwrap();
    assert_eq!(change["type"], "ticket.priority_changed");
    assert_eq!(change["data"]["from"], "P3");
    assert_eq!(change["data"]["to"], "P1");
    tokio::time::sleep(StdDuration::from_millis(100)).await;
    assert_eq!(tickets.got.lock().unwrap().len(), 1);
}

async fn invalid_endpoints_name_the_field(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let body = app
        .admin_post(
            "/v1/admin/webhooks",
            json!({ "url": "ftp://helpdesk" }),
            422,
        )
        .await;
    assert_eq!(body["errors"][0]["field"], "url");
    let body = app
        .admin_post(
            "/v1/admin/webhooks",
            json!({ "url": "https://helpdesk.example/hook", "events": ["incident.opened", "incident.exploded"] }),
            422,
        )
        .await;
    assert_eq!(body["errors"][0]["field"], "events[1]");
    let listed: Value = app
        .admin(Method::GET, "/v1/admin/webhooks")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 0);
    let res = app
        .admin(Method::DELETE, "/v1/admin/webhooks/nope")
        .send()
        .await
        .unwrap();
    assert_problem(res, 404).await;
}
