//! Fault tests: crashes, several instances, a database that goes away, hostile input.
//! Deterministic and bounded: every wait is on a condition with a deadline.

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use chrono::Duration;
use panic_gateway::push::mock::{Fault, MockProviders};
use panic_gateway::store::devkit;
use reqwest::Method;
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};

use crate::group_commit::{metric, Blocker};
use crate::on_both_backends;
use crate::support::{
    assert_problem, eventually, p1_press, spawn_app_with, spawn_app_with_push, spawn_instance,
    TestApp, TestBackend, TestDatabase,
};

/// APNs device tokens (hex) of the two phones in the kill test.
const ALICE_IPHONE: &str = "a11ce000000000000000000000000000000000000000000000000000000a11ce";
const CARL_IPHONE: &str = "ca4100000000000000000000000000000000000000000000000000000000ca41";

on_both_backends!(
    sigkill_while_paging_loses_no_page,
    sigkill_mid_batch_loses_no_answered_press,
    two_instances_send_every_page_once,
    a_crashed_instances_leases_are_taken_over_when_they_expire,
    hostile_input_is_refused_and_changes_nothing,
);

const WAIT: StdDuration = StdDuration::from_secs(20);

/// The gateway binary on `db_url`, paging into `mocks`, leases of two seconds.
/// A signing secret generated for this test run, the same for every start of the gateway.
fn signing_secret() -> &'static str {
    static SECRET: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SECRET.get_or_init(|| panic_gateway::auth::secrets::random_token(32))
}

fn gateway(db_url: &str, mocks: &MockProviders, port: u16) -> Child {
    let a = &mocks.settings.apns;
    let f = &mocks.settings.fcm;
    Command::new(env!("CARGO_BIN_EXE_panic-gateway"))
        .arg("serve")
        .env_remove("PANIC_GATEWAY_CONFIG")
        .env("RUST_LOG", "error")
        .env("PANIC_GATEWAY__DATABASE__URL", db_url)
        .env("PANIC_GATEWAY__SERVER__PORT", port.to_string())
        .env("PANIC_GATEWAY__AUTH__JWT_SECRET", signing_secret())
        .env("PANIC_GATEWAY__DISPATCH__LEASE_SECS", "2")
        .env("PANIC_GATEWAY__DISPATCH__SWEEP_INTERVAL_MS", "100")
        .env("PANIC_GATEWAY__PUSH__APNS__ENABLED", "true")
        .env("PANIC_GATEWAY__PUSH__APNS__BASE_URL", &a.base_url)
        .env("PANIC_GATEWAY__PUSH__APNS__KEY_FILE", &a.key_file)
        .env("PANIC_GATEWAY__PUSH__APNS__KEY_ID", &a.key_id)
        .env("PANIC_GATEWAY__PUSH__APNS__TEAM_ID", &a.team_id)
        .env("PANIC_GATEWAY__PUSH__APNS__TOPIC", &a.topic)
        .env("PANIC_GATEWAY__PUSH__APNS__CA_FILE", &a.ca_file)
        .env("PANIC_GATEWAY__PUSH__APNS__TIMEOUT_MS", "10000")
        .env("PANIC_GATEWAY__PUSH__FCM__ENABLED", "true")
        .env("PANIC_GATEWAY__PUSH__FCM__BASE_URL", &f.base_url)
        .env(
            "PANIC_GATEWAY__PUSH__FCM__SERVICE_ACCOUNT_FILE",
            &f.service_account_file,
        )
        .env("PANIC_GATEWAY__PUSH__FCM__CA_FILE", &f.ca_file)
        .env("PANIC_GATEWAY__INTAKE__FLOOD_MAX_OPEN", "1000")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// What [`seed`] made: a Gold customer whose account manager (Alice) and contact (Carl) each
/// have an iPhone.
struct Seeded {
    customer: String,
    /// Carl's access token.
    carl: String,
}

async fn seed(client: &reqwest::Client, base: &str, key: &str) -> Seeded {
    let post = |path: &str, body: Value| {
        let client = client.clone();
        let path = path.to_owned();
        async move {
            let res = client
                .post(format!("{base}{path}"))
                .bearer_auth(key)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert!(res.status().is_success(), "{path}");
            res.json::<Value>().await.unwrap()
        }
    };
    let am = post(
        "/v1/admin/users",
        json!({ "role": "responder", "name": "Alice" }),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let customer = post(
        "/v1/admin/customers",
        json!({ "name": "Acme", "tier": "gold", "account_manager_id": am }),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let contact = post(
        "/v1/admin/users",
        json!({ "role": "contact", "customer_id": customer, "name": "Carl" }),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let enroll = |user: String, token: &'static str| {
        let client = client.clone();
        async move {
            let code = post(
                &format!("/v1/admin/users/{user}/enrollment-codes"),
                json!({}),
            )
            .await["code"]
                .as_str()
                .unwrap()
                .to_owned();
            let res = client.post(format!("{base}/v1/devices/enroll"))
                .json(&json!({ "code": code, "platform": "ios", "push_token": token, "app_version": "1", "device_name": "p" }))
                .send().await.unwrap();
            res.json::<Value>().await.unwrap()["access_token"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    enroll(am.clone(), ALICE_IPHONE).await;
    let carl = enroll(contact, CARL_IPHONE).await;
    Seeded { customer, carl }
}

async fn ready(client: &reqwest::Client, base: &str) {
    eventually(WAIT, "the gateway becomes ready", || async {
        matches!(client.get(format!("{base}/readyz")).send().await, Ok(r) if r.status() == 200)
    })
    .await;
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An admin API key made with the CLI, as an operator would before the first start.
async fn admin_key(db: &TestDatabase) -> String {
    let mut command = Command::new(env!("CARGO_BIN_EXE_panic-gateway"));
    command
        .args(["admin", "create-key", "--name", "faults", "--database-url"])
        .arg(db.url())
        .env_remove("PANIC_GATEWAY_CONFIG")
        .env("RUST_LOG", "error");
    let out = crate::support::output_off_thread(command).await;
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Group commit answers a press only after its batch committed: the gateway is killed while
/// a batch of queued presses is being recorded, and every press that was answered is there
/// after the restart; the ones that were not are recorded exactly once when the phones retry.
async fn sigkill_mid_batch_loses_no_answered_press(backend: TestBackend) {
    const QUEUED: usize = 24;
    let db = TestDatabase::create(backend).await;
    let dir = std::env::temp_dir().join(format!("pgw-batch-{}", uuid::Uuid::new_v4().simple()));
    let mocks = MockProviders::start(&dir).await.unwrap();
    let key = admin_key(&db).await;
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let mut child = gateway(db.url(), &mocks, port);
    ready(&client, &base).await;
    let Seeded { customer, carl } = seed(&client, &base, &key).await;

    let press = |i: usize| {
        let (client, base, carl) = (client.clone(), base.clone(), carl.clone());
        tokio::spawn(async move {
            let res = client
                .post(format!("{base}/v1/alerts"))
                .bearer_auth(carl)
                .header("idempotency-key", format!("batch-{i}"))
                .json(&p1_press(&format!("service {i}")))
                .send()
                .await;
            res.map(|r| r.status().as_u16()).unwrap_or(0)
        })
    };
    // The first press waits for an outside transaction; the others queue behind it.
    let blocker = Blocker::hold(db.url(), &customer).await;
    let first = press(0);
    eventually(WAIT, "the first press takes the lane", || async {
        metric(&client, &base, "panic_gateway_intake_batches_total").await >= 1.0
    })
    .await;
    let rest: Vec<_> = (1..=QUEUED).map(press).collect();
    eventually(WAIT, "the presses queue behind the first", || async {
        metric(&client, &base, "panic_gateway_intake_queued").await >= QUEUED as f64
    })
    .await;
    // Let the first commit; the batch of the others is being recorded when the gateway dies.
    blocker.release().await;
    let first = first.await.unwrap();
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let mut answered = Vec::new();
    for (i, status) in std::iter::once(first)
        .chain(
            futures_util::future::join_all(rest)
                .await
                .into_iter()
                .map(Result::unwrap),
        )
        .enumerate()
    {
        assert!(status == 201 || status == 0, "press {i}: {status}");
        if status == 201 {
            answered.push(format!("batch-{i}"));
        }
    }
    assert!(answered.contains(&"batch-0".to_owned()));

    for key in &answered {
        let kept = devkit::count_where(
            db.url(),
            &format!("idempotency_keys WHERE idem_key = '{key}' AND response_status IS NOT NULL"),
        )
        .await
        .unwrap();
        assert_eq!(kept, 1, "answered press {key} was lost");
    }
    let alerts = devkit::count_where(db.url(), "alerts").await.unwrap();
    assert!(alerts >= answered.len() as i64);

    // The phones that heard nothing retry: each press is recorded exactly once.
    let mut child = gateway(db.url(), &mocks, port);
    ready(&client, &base).await;
    for i in 0..=QUEUED {
        let status = press(i).await.unwrap();
        assert!(status == 201, "retry of press {i}: {status}");
    }
    let alerts = devkit::count_where(db.url(), "alerts").await.unwrap();
    assert_eq!(alerts, QUEUED as i64 + 1);
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(dir);
}

async fn sigkill_while_paging_loses_no_page(backend: TestBackend) {
    let db = TestDatabase::create(backend).await;
    let dir = std::env::temp_dir().join(format!("pgw-kill-{}", uuid::Uuid::new_v4().simple()));
    let mocks = MockProviders::start(&dir).await.unwrap();
    let key = admin_key(&db).await;
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let mut child = gateway(db.url(), &mocks, port);
    ready(&client, &base).await;

    let Seeded { carl, .. } = seed(&client, &base, &key).await;

    // APNs hangs: every page is in flight when the gateway dies.
    mocks.apns.fail(None, Fault::Stall, None);
    let presses = (0..20).map(|i| {
        let (client, base, carl) = (client.clone(), base.clone(), carl.clone());
        async move {
            let res = client
                .post(format!("{base}/v1/alerts"))
                .bearer_auth(carl)
                .header("idempotency-key", format!("kill-{i}"))
                .json(&p1_press(&format!("service {i}")))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 201);
            res.json::<Value>().await.unwrap()["incident"]["id"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    });
    let incidents: Vec<String> = futures_util::future::join_all(presses).await;
    eventually(WAIT, "every page is being sent", || async {
        let n = devkit::count_where(db.url(), "deliveries WHERE kind = 'page' AND attempts >= 1")
            .await
            .unwrap();
        n == 20
    })
    .await;
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    // Apple accepted what was in flight, but the gateway never heard: answers lost.
    mocks.apns.heal();
    mocks.apns.release();

    let mut child = gateway(db.url(), &mocks, port);
    ready(&client, &base).await;
    eventually(
        WAIT,
        "every answered alert is paged after the restart",
        || async {
            let sent = devkit::count_where(
                db.url(),
                "deliveries WHERE kind = 'page' AND state = 'sent'",
            )
            .await
            .unwrap();
            sent == 20
        },
    )
    .await;
    let accepted: Vec<_> = mocks
        .apns
        .received()
        .into_iter()
        .filter(|r| r.status == 200 && r.device_token == ALICE_IPHONE)
        .collect();
    for incident in &incidents {
        assert!(
            accepted
                .iter()
                .any(|r| r.body["incident_id"] == incident.as_str()),
            "incident {incident} was never paged"
        );
    }
    // A page sent twice is one whose answer was lost: the same delivery (apns-id) and the same
    // collapse id, so the phone shows it once.
    let mut by_delivery: HashMap<String, Vec<String>> = HashMap::new();
    for r in &accepted {
        by_delivery
            .entry(r.headers["apns-id"].clone())
            .or_default()
            .push(r.headers["apns-collapse-id"].clone());
    }
    assert_eq!(by_delivery.len(), 20, "one delivery per incident");
    for (delivery, collapse) in &by_delivery {
        assert!(
            collapse.windows(2).all(|w| w[0] == w[1]),
            "delivery {delivery} changed collapse id"
        );
    }
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(dir);
}

async fn two_instances_send_every_page_once(backend: TestBackend) {
    let first = spawn_app_with_push(backend, |_| {}).await;
    let second = spawn_instance(&first, first.settings.clone()).await;
    let c = first.gold_customer().await;
    let presses = (0..40).map(|i| {
        let gateway = if i % 2 == 0 { &first } else { &second };
        let phone = c.contact.clone();
        async move {
            let res = gateway
                .press(&phone, &format!("twin-{i}"), &p1_press(&format!("svc {i}")))
                .await;
            assert_eq!(res.status(), 201);
        }
    });
    futures_util::future::join_all(presses).await;
    let got = first
        .mocks()
        .apns
        .wait_accepted(Some(&c.account_manager.push_token), 40, WAIT)
        .await;
    assert_eq!(got.len(), 40);
    // Every page recorded as sent, and both gateways have run whatever is still due: a page
    // sent twice would be in the mock's records now.
    eventually(WAIT, "every send's outcome is recorded", || async {
        first.count("deliveries WHERE state = 'pending'").await == 0
    })
    .await;
    first.run_due_work().await;
    second.run_due_work().await;
    let mut seen: HashMap<String, usize> = HashMap::new();
    for r in first.mocks().apns.received() {
        *seen.entry(r.headers["apns-id"].clone()).or_default() += 1;
    }
    assert_eq!(seen.len(), 40);
    assert!(
        seen.values().all(|n| *n == 1),
        "a page was sent twice: {seen:?}"
    );
}

async fn a_crashed_instances_leases_are_taken_over_when_they_expire(backend: TestBackend) {
    let first = spawn_app_with_push(backend, |s| s.dispatch.enabled = false).await;
    let c = first.gold_customer().await;
    for i in 0..5 {
        assert_eq!(
            first
                .press(
                    &c.contact,
                    &format!("lease-{i}"),
                    &p1_press(&format!("s{i}"))
                )
                .await
                .status(),
            201
        );
    }
    // Another instance claimed them and died: its leases run for 30 seconds.
    let until = first.clock_now().timestamp_millis() + 30_000;
    devkit::lease_deliveries_to_a_crashed_instance(&first.db_url, until)
        .await
        .unwrap();
    let mut settings = first.settings.clone();
    settings.dispatch.enabled = true;
    let survivor = spawn_instance(&first, settings).await;
    survivor.run_due_work().await;
    assert!(
        survivor.mocks().apns.received().is_empty(),
        "leased work is left alone until the lease ends"
    );
    first.clock.advance(Duration::seconds(31));
    let got = survivor.mocks().apns.wait_accepted(None, 5, WAIT).await;
    assert_eq!(got.len(), 5);
}

async fn hostile_input_is_refused_and_changes_nothing(backend: TestBackend) {
    let app = crate::support::spawn_app(backend).await;
    let c = app.gold_customer().await;
    let before = (
        app.count("alerts").await,
        app.count("customers").await,
        app.count("users").await,
    );
    let injections = [
        "' OR '1'='1",
        "x'; DROP TABLE incidents; --",
        "\u{0}",
        "../../etc/passwd",
        "%00",
    ];
    for bad in injections {
        let path_bad: String = bad.bytes().map(|b| format!("%{b:02X}")).collect();
        for path in [
            format!("/v1/incidents/{path_bad}"),
            format!("/v1/alerts/{path_bad}"),
        ] {
            let res = app
                .with_token(Method::GET, &path, &c.contact.access_token)
                .send()
                .await
                .unwrap();
            refused(res, bad).await;
        }
        let res = app
            .admin(Method::GET, &format!("/v1/admin/customers/{path_bad}"))
            .send()
            .await
            .unwrap();
        refused(res, bad).await;
        let res = app
            .admin(Method::POST, "/v1/admin/users")
            .json(&json!({ "role": bad, "name": bad }))
            .send()
            .await
            .unwrap();
        assert_problem(res, 422).await;
        let mut press = p1_press("svc");
        press["ticket_ref"] = bad.into();
        let res = app
            .press(&c.contact, &format!("hostile-{}", path_bad), &press)
            .await;
        assert!(res.status().is_client_error(), "{bad:?}: {}", res.status());
    }
    // Wrong shapes everywhere a body is read.
    for (method, path) in [
        (Method::POST, "/v1/devices/enroll"),
        (Method::POST, "/v1/devices/token/refresh"),
        (Method::POST, "/v1/admin/customers"),
        (Method::POST, "/v1/admin/schedules"),
        (Method::PUT, "/v1/admin/policies"),
        (Method::POST, "/v1/tickets"),
        (Method::POST, "/v1/admin/webhooks"),
    ] {
        for body in [
            json!([]),
            json!("string"),
            json!({ "deeply": { "nested": [1, 2, { "x": null }] } }),
            json!(null),
        ] {
            let res = app
                .admin(method.clone(), path)
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = res.status().as_u16();
            assert!(
                (400..500).contains(&status),
                "{method} {path} {body}: {status}"
            );
            assert_eq!(res.headers()["content-type"], "application/problem+json");
        }
    }
    let res = app
        .press(&c.contact, "bad-json", &json!({ "summary": "s" }))
        .await;
    assert_problem(res, 422).await;
    // A header far past what a phone sends is refused before any handler runs.
    let res = app
        .client
        .get(app.url("/healthz"))
        .header("x-padding", "a".repeat(64 * 1024))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_client_error(), "{}", res.status());
    let after = (
        app.count("alerts").await,
        app.count("customers").await,
        app.count("users").await,
    );
    assert_eq!(before, after);
    assert_eq!(
        app.count("incidents").await,
        0,
        "the tables are all still there and untouched"
    );
}

/// Not found (SQLite), or a bad request for a NUL byte PostgreSQL cannot store: either way a
/// client error as a problem.
async fn refused(res: reqwest::Response, input: &str) {
    let status = res.status().as_u16();
    assert!(status == 404 || status == 400, "{input:?}: {status}");
    assert_problem(res, status).await;
}

/// A TCP proxy to PostgreSQL the test can cut: the database "goes away" for the gateway only.
struct Proxy {
    port: u16,
    up: Arc<AtomicBool>,
    connections: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Proxy {
    async fn start(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let connections: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>> = Arc::default();
        let (flag, conns) = (up.clone(), connections.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    continue;
                };
                if !flag.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let upstream = upstream.clone();
                conns.lock().unwrap().push(tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                }));
            }
        });
        Self {
            port,
            up,
            connections,
        }
    }

    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for c in self.connections.lock().unwrap().drain(..) {
            c.abort();
        }
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

#[tokio::test]
#[cfg_attr(
    not(pg_tests),
    ignore = "PostgreSQL suite skipped: TEST_DATABASE_URL is not set (REQUIRE_POSTGRES=1 makes it mandatory)"
)]
async fn database_gone_means_503_with_retry_after_and_nothing_half_written() {
    let db = TestDatabase::create(TestBackend::Postgres).await;
    let mut url = reqwest::Url::parse(db.url()).unwrap();
    let upstream = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432));
    let proxy = Proxy::start(upstream).await;
    url.set_port(Some(proxy.port)).unwrap();
    let proxied = url.to_string();
    // The app migrates and serves through the proxy; `db` still owns (and drops) the database.
    let app: TestApp = spawn_app_with(TestBackend::Postgres, |s| {
        s.database.url = proxied.clone();
        s.database.acquire_timeout_ms = 500;
    })
    .await;
    let c = app.gold_customer().await;
    assert_eq!(
        app.press(&c.contact, "before", &p1_press("a"))
            .await
            .status(),
        201
    );

    proxy.cut();
    let res = app.press(&c.contact, "during", &p1_press("b")).await;
    let retry_after = res
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = assert_problem(res, 503).await;
    assert!(retry_after.is_some(), "{body}");
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 503);

    proxy.restore();
    eventually(WAIT, "ready again", || async {
        app.get("/readyz").await.status() == 200
    })
    .await;
    // The phone retries with the same key: recorded exactly once.
    let res = app.press(&c.contact, "during", &p1_press("b")).await;
    assert_eq!(res.status(), 201);
    let again = app.press(&c.contact, "during", &p1_press("b")).await;
    assert_eq!(again.status(), 201);
    assert_eq!(app.count("alerts").await, 2);
    assert_eq!(app.count("incidents").await, 2);
    assert_eq!(
        app.count("idempotency_keys WHERE response_status IS NULL")
            .await,
        0
    );
    drop(app);
    drop(db);
}
