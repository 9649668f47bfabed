//! Outbound webhooks: signed, durable, retried, filtered, deduplicable by event id.

use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration as StdDuration, Instant};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use chrono::Duration;
use hmac::{Hmac, Mac};
use panic_gateway::store::devkit;
use reqwest::Method;
use serde_json::{json, Value};
use sha2::Sha256;
use tokio::sync::Semaphore;

use crate::on_both_backends;
use crate::support::{
    assert_problem, eventually, p1_press, spawn_app, spawn_app_with, spawn_instance,
    spawn_second_instance, TestApp, TestBackend,
};

on_both_backends!(
    the_helpdesk_hears_the_whole_lifecycle_signed,
    a_failing_receiver_gets_the_same_event_again_later,
    endpoints_get_only_what_they_subscribed_to,
    invalid_endpoints_name_the_field,
    plain_http_is_refused_unless_allowed,
    internal_addresses_are_refused_at_creation,
    a_name_that_resolves_to_loopback_is_refused_when_sending,
    a_literal_address_is_checked_again_when_sending,
    redirects_are_not_followed,
    secrets_are_stored_sealed_and_still_sign,
    plain_secrets_left_by_older_versions_are_sealed_at_start,
    a_hanging_endpoint_does_not_hold_up_another,
    a_receiver_slower_than_the_timeout_gets_one_request_per_attempt,
);

#[derive(Clone, Debug)]
struct Received {
    event: String,
    event_id: String,
    timestamp: String,
    signature: String,
    body: String,
}

#[derive(Clone)]
struct Receiver {
    got: Arc<Mutex<Vec<Received>>>,
    failures_left: Arc<AtomicUsize>,
    attempts: Arc<AtomicUsize>,
    /// When each request arrived.
    arrivals: Arc<Mutex<Vec<Instant>>>,
    /// Every request waits for a permit first: a receiver without permits hangs until
    /// [`Receiver::release`].
    hold: Arc<Semaphore>,
    /// Answer 302 to here instead of accepting.
    redirect_to: Option<String>,
}

impl Default for Receiver {
    fn default() -> Self {
        Self {
            got: Arc::default(),
            failures_left: Arc::default(),
            attempts: Arc::default(),
            arrivals: Arc::default(),
            hold: Arc::new(Semaphore::new(Semaphore::MAX_PERMITS)),
            redirect_to: None,
        }
    }
}

impl Receiver {
    /// A receiver whose requests hang until [`Receiver::release`].
    fn hanging() -> Self {
        Self {
            hold: Arc::new(Semaphore::new(0)),
            ..Self::default()
        }
    }

    fn release(&self) {
        self.hold.close();
    }

    fn events(&self) -> Vec<String> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .map(|r| r.event.clone())
            .collect()
    }
}

async fn hook(req: HttpRequest, body: String, r: web::Data<Receiver>) -> HttpResponse {
    r.attempts.fetch_add(1, Ordering::SeqCst);
    r.arrivals.lock().unwrap().push(Instant::now());
    // Closed: released. A slow helpdesk is one that has not been released yet: the test
    // decides when (or whether) it answers, not a timer.
    let _ = r.hold.acquire().await;
    if let Some(location) = &r.redirect_to {
        return HttpResponse::Found()
            .insert_header(("location", location.as_str()))
            .finish();
    }
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
    (serve(&r), r)
}

/// Serves `r` on a free loopback port; returns its hook URL.
fn serve(r: &Receiver) -> String {
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
    format!("http://127.0.0.1:{port}/hook")
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
    // The background sender runs too, so the clock moves only while no attempt is open, and
    // by less than the lease (30 s): a jump past the lease during a send would let the next
    // round claim the webhook again while its request is still in flight, which no real clock
    // does and which made this test fail now and then on PostgreSQL.
    eventually(WAIT, "the event is accepted after retries", || async {
        if app
            .count("webhook_deliveries WHERE lease_owner IS NOT NULL")
            .await
            == 0
        {
            app.clock.advance(Duration::seconds(10));
            app.run_due_work().await;
        }
        got.got.lock().unwrap().len() == 1
    })
    .await;
    // The receiver has answered before the gateway records the answer: wait for the record.
    eventually(
        WAIT,
        "the delivery is recorded as sent on its third attempt",
        || async {
            app.count("webhook_deliveries WHERE state = 'sent' AND attempts = 3")
                .await
                == 1
        },
    )
    .await;
    assert_eq!(got.attempts.load(Ordering::SeqCst), 3);
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
    app.run_due_work().await;
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
    assert_eq!(listed["items"].as_array().unwrap().len(), 0);
    let res = app
        .admin(Method::DELETE, "/v1/admin/webhooks/nope")
        .send()
        .await
        .unwrap();
    assert_problem(res, 404).await;
}

async fn plain_http_is_refused_unless_allowed(backend: TestBackend) {
    let app = spawn_app_with(backend, |s| s.webhooks.allow_http = false).await;
    let body = app
        .admin_post(
            "/v1/admin/webhooks",
            json!({ "url": "http://helpdesk.example/hook" }),
            422,
        )
        .await;
    assert_eq!(body["errors"][0]["field"], "url");
    let detail = body["errors"][0]["detail"].as_str().unwrap();
    assert!(
        detail.contains("https") && detail.contains("webhooks.allow_http"),
        "{detail}"
    );
    assert_eq!(app.count("webhook_endpoints").await, 0, "nothing stored");
    app.admin_post(
        "/v1/admin/webhooks",
        json!({ "url": "https://helpdesk.example/hook" }),
        201,
    )
    .await;
    // With the setting (as the test harness has it), http is accepted.
    let allowed = spawn_app(backend).await;
    allowed
        .admin_post(
            "/v1/admin/webhooks",
            json!({ "url": "http://helpdesk.example/hook" }),
            201,
        )
        .await;
}

async fn internal_addresses_are_refused_at_creation(backend: TestBackend) {
    let app = spawn_app(backend).await;
    for (url, words) in [
        (
            "https://169.254.169.254/latest/meta-data/",
            "cloud metadata",
        ),
        ("http://[fd00:ec2::254]/", "cloud metadata"),
        ("http://10.0.0.5:8080/hook", "private"),
        ("http://[::1]:8080/hook", "loopback"),
        ("http://[::ffff:192.168.1.1]/hook", "private"),
        ("http://127.0.0.2/hook", "loopback"),
        ("http://0x7f.0.0.2/hook", "loopback"),
        ("http://100.64.1.1/hook", "carrier-grade NAT"),
        ("http://0.0.0.0:80/hook", "unspecified"),
    ] {
        let body = app
            .admin_post("/v1/admin/webhooks", json!({ "url": url }), 422)
            .await;
        assert_eq!(body["errors"][0]["field"], "url", "{url}");
        let detail = body["errors"][0]["detail"].as_str().unwrap();
        assert!(
            detail.contains(words) && detail.contains("webhooks.allow_networks"),
            "{url}: {detail}"
        );
    }
    assert_eq!(app.count("webhook_endpoints").await, 0, "nothing stored");
    // The harness allow-lists 127.0.0.1/32, and exactly that.
    app.admin_post(
        "/v1/admin/webhooks",
        json!({ "url": "http://127.0.0.1:9/hook" }),
        201,
    )
    .await;
}

async fn a_name_that_resolves_to_loopback_is_refused_when_sending(backend: TestBackend) {
    let app = spawn_app_with(backend, |s| s.webhooks.allow_networks.clear()).await;
    let (url, got) = receiver(0);
    // A name is not resolved at creation (it could resolve elsewhere by the time of sending):
    // the resolver checks what it resolves to at connection time.
    let url = url.replace("127.0.0.1", "localhost");
    endpoint(&app, &url, json!(["incident.opened"])).await;
    let c = app.gold_customer().await;
    assert_eq!(
        app.press(&c.contact, "rebind", &p1_press("crm"))
            .await
            .status(),
        201
    );
    eventually(
        WAIT,
        "the delivery fails, naming the refused address",
        || async {
            app.count(
                "webhook_deliveries WHERE state = 'failed' AND attempts = 1 \
             AND last_error LIKE '%localhost resolves only to addresses webhooks may not reach%' \
             AND last_error LIKE '%loopback%'",
            )
            .await
                == 1
        },
    )
    .await;
    assert_eq!(
        got.attempts.load(Ordering::SeqCst),
        0,
        "no connection was made"
    );

    // Allow-listed, the same name reaches the same receiver through the same resolver.
    let allowed = spawn_app(backend).await;
    endpoint(&allowed, &url, json!(["incident.opened"])).await;
    let c = allowed.gold_customer().await;
    allowed.press(&c.contact, "allowed", &p1_press("crm")).await;
    eventually(WAIT, "the allow-listed name is delivered to", || async {
        got.got.lock().unwrap().len() == 1
    })
    .await;
}

async fn a_literal_address_is_checked_again_when_sending(backend: TestBackend) {
    // Created while 127.0.0.1 was allowed; sent by an instance whose settings no longer allow
    // it. A literal never reaches the resolver, so the sender checks it itself.
    let first = spawn_app_with(backend, |s| s.dispatch.enabled = false).await;
    let (url, got) = receiver(0);
    endpoint(&first, &url, json!(["incident.opened"])).await;
    let mut settings = first.settings.clone();
    settings.dispatch.enabled = true;
    settings.webhooks.allow_networks.clear();
    let sender = spawn_instance(&first, settings).await;
    let c = first.gold_customer().await;
    first.press(&c.contact, "literal", &p1_press("crm")).await;
    eventually(
        WAIT,
        "the delivery fails, naming the refused address",
        || async {
            sender
                .count(
                    "webhook_deliveries WHERE state = 'failed' \
                 AND last_error LIKE '%127.0.0.1, a loopback address%'",
                )
                .await
                == 1
        },
    )
    .await;
    assert_eq!(
        got.attempts.load(Ordering::SeqCst),
        0,
        "no connection was made"
    );
}

async fn redirects_are_not_followed(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let (target_url, target) = receiver(0);
    let redirector = Receiver {
        redirect_to: Some(target_url),
        ..Receiver::default()
    };
    let url = serve(&redirector);
    endpoint(&app, &url, json!(["incident.opened"])).await;
    let c = app.gold_customer().await;
    app.press(&c.contact, "redirect", &p1_press("crm")).await;
    eventually(WAIT, "the 302 is recorded as a final answer", || async {
        app.count("webhook_deliveries WHERE state = 'failed' AND last_status = 302")
            .await
            == 1
    })
    .await;
    assert_eq!(redirector.attempts.load(Ordering::SeqCst), 1);
    assert_eq!(target.attempts.load(Ordering::SeqCst), 0, "not followed");
}

async fn secrets_are_stored_sealed_and_still_sign(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let (url, got) = receiver(0);
    let secret = endpoint(&app, &url, json!(["incident.opened"])).await;
    assert_eq!(
        app.count(&format!(
            "webhook_endpoints WHERE sealed_secret LIKE '%{secret}%'"
        ))
        .await,
        0,
        "the secret is not stored in clear"
    );
    assert_eq!(
        app.count("webhook_endpoints WHERE sealed_secret LIKE 'v1:%:%'")
            .await,
        1
    );
    let listed: Value = app
        .admin(Method::GET, "/v1/admin/webhooks")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(!listed.to_string().contains(&secret), "never shown again");
    assert!(!listed.to_string().contains("v1:"));
    let c = app.gold_customer().await;
    app.press(&c.contact, "sealed", &p1_press("crm")).await;
    eventually(WAIT, "the webhook arrives", || async {
        got.got.lock().unwrap().len() == 1
    })
    .await;
    verify(&secret, &got.got.lock().unwrap()[0]);
}

async fn plain_secrets_left_by_older_versions_are_sealed_at_start(backend: TestBackend) {
    let app = spawn_app_with(backend, |s| s.dispatch.enabled = false).await;
    let (url, got) = receiver(0);
    endpoint(&app, &url, json!(["incident.opened"])).await;
    // What a version before sealing left in the column.
    let plain = "c0ffee-plain-secret-from-an-older-version";
    devkit::store_plain_webhook_secrets(&app.db_url, plain)
        .await
        .unwrap();
    let mut settings = app.settings.clone();
    settings.dispatch.enabled = true;
    let restarted = spawn_instance(&app, settings).await;
    assert_eq!(
        restarted
            .count("webhook_endpoints WHERE sealed_secret LIKE '%plain-secret%'")
            .await,
        0,
        "sealed at start"
    );
    assert_eq!(
        restarted
            .count("webhook_endpoints WHERE sealed_secret LIKE 'v1:%'")
            .await,
        1
    );
    let c = restarted.gold_customer().await;
    restarted.press(&c.contact, "old", &p1_press("crm")).await;
    eventually(WAIT, "the webhook arrives", || async {
        got.got.lock().unwrap().len() == 1
    })
    .await;
    verify(plain, &got.got.lock().unwrap()[0]);
}

async fn a_hanging_endpoint_does_not_hold_up_another(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let slow = Receiver::hanging();
    let slow_url = serve(&slow);
    let (fast_url, fast) = receiver(0);
    // The hanging endpoint first, so its webhook is first in every batch.
    endpoint(&app, &slow_url, json!(["*"])).await;
    let secret = endpoint(&app, &fast_url, json!(["*"])).await;
    let c = app.gold_customer().await;
    let body: Value = app
        .press(&c.contact, "slow", &p1_press("crm"))
        .await
        .json()
        .await
        .unwrap();
    let incident = body["incident"]["id"].as_str().unwrap().to_owned();
    let soon = StdDuration::from_secs(3);
    eventually(soon, "the other endpoint hears of the opening", || async {
        fast.got.lock().unwrap().len() == 1
    })
    .await;
    // Its request may reach the receiver after the other endpoint's was answered.
    eventually(
        soon,
        "the hanging endpoint has its first request",
        || async { slow.attempts.load(Ordering::SeqCst) == 1 },
    )
    .await;
    // A later event reaches the other endpoint too, while the first request still hangs;
    // the hanging endpoint gets nothing more until it answers (its webhooks go in order).
    let res = app
        .with_token(
            Method::POST,
            &format!("/v1/incidents/{incident}/acknowledge"),
            &c.account_manager.access_token,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    eventually(
        soon,
        "the other endpoint hears of the acknowledgement",
        || async { fast.got.lock().unwrap().len() == 2 },
    )
    .await;
    assert_eq!(slow.attempts.load(Ordering::SeqCst), 1);
    assert!(slow.got.lock().unwrap().is_empty());
    for r in fast.got.lock().unwrap().iter() {
        verify(&secret, r);
    }

    slow.release();
    eventually(WAIT, "the hanging endpoint gets both, in order", || async {
        slow.events() == ["incident.opened", "incident.acknowledged"]
    })
    .await;
    assert_eq!(slow.attempts.load(Ordering::SeqCst), 2);
}

async fn a_receiver_slower_than_the_timeout_gets_one_request_per_attempt(backend: TestBackend) {
    const TIMEOUT_MS: u64 = 500;
    let first = spawn_app_with(backend, |s| {
        s.webhooks.request_timeout_ms = TIMEOUT_MS;
        s.webhooks.lease_secs = 2;
    })
    .await;
    // Two instances compete for the webhook, as in production.
    let second = spawn_second_instance(&first).await;
    // Never answers while the test runs: every request outlasts the gateway's timeout.
    let slow = Receiver::hanging();
    let url = serve(&slow);
    endpoint(&first, &url, json!(["incident.opened"])).await;
    let c = first.gold_customer().await;

    // The gateways' clock follows real time from here, so leases run out as they would.
    let clock = first.clock.clone();
    let (start_real, start_clock) = (Instant::now(), first.clock_now());
    // A fixture, not a wait: the clock ticks every 5 ms.
    let follow = tokio::spawn(async move {
        let mut tick = tokio::time::interval(StdDuration::from_millis(5));
        loop {
            tick.tick().await;
            clock.set(start_clock + Duration::from_std(start_real.elapsed()).unwrap());
        }
    });
    first.press(&c.contact, "slow", &p1_press("crm")).await;
    // Three attempts take at least three timeouts plus backoff: well past the 2 s lease.
    eventually(
        WAIT,
        "three attempts have timed out and been recorded",
        || async {
            second
                .count(
                    "webhook_deliveries WHERE attempts >= 3 AND lease_owner IS NULL \
                 AND last_error LIKE '%timed out%'",
                )
                .await
                == 1
        },
    )
    .await;
    follow.abort();
    // The clock stands still now: wait until no attempt is open.
    eventually(WAIT, "no attempt is in flight", || async {
        first
            .count("webhook_deliveries WHERE lease_owner IS NULL")
            .await
            == 1
    })
    .await;
    let attempts = devkit::webhook_attempts(&first.db_url).await.unwrap();
    let arrivals = slow.arrivals.lock().unwrap().clone();
    slow.release();
    assert_eq!(arrivals.len() as i64, attempts, "one request per attempt");
    // Each request began only after the one before had been given up on: never two at once.
    for pair in arrivals.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(
            gap >= StdDuration::from_millis(TIMEOUT_MS - 20),
            "a request began {gap:?} after the previous one, before that one timed out"
        );
    }
}
