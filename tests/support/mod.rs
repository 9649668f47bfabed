//! Shared test harness: a gateway on a random port with a database of its own.
//!
//! Every black-box test is written once as `async fn name(backend: TestBackend)` and listed in
//! [`on_both_backends!`], which makes a `sqlite` and a `postgres` test of it. SQLite tests get a
//! fresh file in a temporary directory; PostgreSQL tests get a fresh database created on the
//! server named by `TEST_DATABASE_URL` and dropped afterwards.
#![allow(dead_code)]

use std::path::PathBuf;
use std::time::Duration;

use std::sync::Arc;

pub mod console;

use panic_gateway::admin_client::AdminClient;
use panic_gateway::channels::email::mock::MockSmtp;
use panic_gateway::channels::twilio::mock::MockTwilio;
use panic_gateway::clock::ManualClock;
use panic_gateway::config::Settings;
use panic_gateway::engine::{DueWork, Engine};
use panic_gateway::push::mock::MockProviders;
use panic_gateway::startup::{Application, ShutdownHandle};
use panic_gateway::store::devkit;
use serde_json::{json, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestBackend {
    Sqlite,
    Postgres,
}

/// Writes one `sqlite` and one `postgres` test for each named `async fn(TestBackend)`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                super::$name($crate::support::TestBackend::Sqlite).await;
            }

            #[tokio::test]
            #[cfg_attr(
                not(pg_tests),
                ignore = "PostgreSQL suite skipped: TEST_DATABASE_URL is not set (REQUIRE_POSTGRES=1 makes it mandatory)"
            )]
            async fn postgres() {
                super::$name($crate::support::TestBackend::Postgres).await;
            }
        }
    )+};
}

/// A database that exists for one test.
pub enum TestDatabase {
    Sqlite {
        dir: PathBuf,
        url: String,
    },
    Postgres {
        admin_url: String,
        name: String,
        url: String,
    },
}

impl TestDatabase {
    pub async fn create(backend: TestBackend) -> Self {
        let id = uuid::Uuid::new_v4().simple().to_string();
        match backend {
            TestBackend::Sqlite => {
                let dir = std::env::temp_dir().join(format!("pgw-test-{id}"));
                std::fs::create_dir_all(&dir).expect("create temp dir");
                let url = format!("sqlite://{}/gateway.db?mode=rwc", dir.display());
                TestDatabase::Sqlite { dir, url }
            }
            TestBackend::Postgres => {
                let admin_url = std::env::var("TEST_DATABASE_URL").expect(
                    "the PostgreSQL suite is required but TEST_DATABASE_URL is not set \
                     (e.g. postgres://postgres@127.0.0.1:5432/test)",
                );
                let name = format!("pgw_test_{id}");
                devkit::create_scratch_database(&admin_url, &name)
                    .await
                    .unwrap_or_else(|e| {
                        panic!(
                            "the PostgreSQL suite needs a server at TEST_DATABASE_URL \
                             where it may create a test database: {e}"
                        )
                    });
                let mut url = reqwest::Url::parse(&admin_url).expect("TEST_DATABASE_URL is a URL");
                url.set_path(&name);
                TestDatabase::Postgres {
                    admin_url,
                    name,
                    url: url.to_string(),
                }
            }
        }
    }

    pub fn url(&self) -> &str {
        match self {
            TestDatabase::Sqlite { url, .. } | TestDatabase::Postgres { url, .. } => url,
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        match self {
            TestDatabase::Sqlite { dir, .. } => {
                let _ = std::fs::remove_dir_all(dir);
            }
            TestDatabase::Postgres {
                admin_url, name, ..
            } => {
                let (admin_url, name) = (admin_url.clone(), name.clone());
                // Drop runs inside the test's runtime; a fresh one on its own thread may block.
                let _ = std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("runtime");
                    rt.block_on(async {
                        let _ = devkit::drop_scratch_database(&admin_url, &name).await;
                    });
                })
                .join();
            }
        }
    }
}

/// Settings for a test gateway: random port, small pool, nothing read from the environment.
pub fn test_settings(database_url: &str) -> Settings {
    let mut settings = Settings::default();
    settings.server.port = 0;
    settings.server.workers = 2;
    settings.server.shutdown_timeout_secs = 2;
    settings.database.url = database_url.to_owned();
    settings.database.max_connections = 5;
    settings.auth.jwt_secret = panic_gateway::auth::secrets::random_token(32);
    // Tests move a manual clock; the workers' loops notice within a few milliseconds, and
    // `TestApp::run_due_work` does what is due at once.
    settings.dispatch.sweep_interval_ms = 10;
    settings.escalation.sweep_interval_ms = 10;
    // Tests open many incidents for one customer on purpose; tests/api/paging.rs sets the
    // flood guard it tests.
    settings.intake.flood_max_open = 1000;
    // Mock helpdesks listen on plain http on loopback; tests/api/webhooks.rs shows what is
    // refused without these.
    settings.webhooks.allow_http = true;
    settings.webhooks.allow_networks = vec!["127.0.0.1/32".into()];
    // The readiness worker tells support managers by push and sends silent reminders, which
    // other tests' push counts do not expect; tests/api/readiness.rs turns it on.
    settings.readiness.enabled = false;
    settings
}

pub struct TestApp {
    pub address: String,
    pub port: u16,
    pub client: reqwest::Client,
    pub backend: TestBackend,
    pub shutdown: ShutdownHandle,
    /// The gateway's clock: starts at the real time and moves only when a test advances it.
    pub clock: ManualClock,
    pub settings: Settings,
    /// A live admin API key.
    pub admin_key: String,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    pub db_url: String,
    /// The mock APNs and FCM the gateway pages into, when started with them.
    pub push: Option<Arc<MockProviders>>,
    /// The mock Twilio the gateway sends SMS through, when started with it.
    pub twilio: Option<Arc<MockTwilio>>,
    /// The mock SMTP server the gateway sends e-mail through, when started with it.
    pub smtp: Option<Arc<MockSmtp>>,
    /// The directories of the mocks' generated keys and certificates: removed with the last
    /// instance that uses them.
    scratch: Vec<Arc<ScratchDir>>,
    /// The gateway's workers, to drive a round now ([`TestApp::run_due_work`]).
    pub engine: Engine,
    // Last: dropped after the server has been asked to stop. `None` for a second instance
    // on another app's database.
    pub db: Option<TestDatabase>,
}

/// A gateway with default test settings.
pub async fn spawn_app(backend: TestBackend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

/// A gateway whose settings `customize` adjusts first.
pub async fn spawn_app_with(
    backend: TestBackend,
    customize: impl FnOnce(&mut Settings),
) -> TestApp {
    init_test_logging();
    let db = TestDatabase::create(backend).await;
    let mut settings = test_settings(db.url());
    customize(&mut settings);
    // Whole milliseconds: the resolution timestamps are stored at.
    let clock = ManualClock::new(chrono::SubsecRound::trunc_subsecs(chrono::Utc::now(), 3));
    start(backend, settings, clock, Some(db)).await
}

/// Another gateway instance on `first`'s database, with its settings and its clock: two
/// gateways sharing one database, as in production.
pub async fn spawn_second_instance(first: &TestApp) -> TestApp {
    spawn_instance(first, first.settings.clone()).await
}

/// Another gateway instance on `first`'s database and clock, with `settings`.
pub async fn spawn_instance(first: &TestApp, settings: Settings) -> TestApp {
    let mut app = start(first.backend, settings, first.clock.clone(), None).await;
    app.push = first.push.clone();
    app.twilio = first.twilio.clone();
    app.smtp = first.smtp.clone();
    app.scratch = first.scratch.clone();
    app
}

/// A directory under the system's temporary one, removed when dropped.
struct ScratchDir(std::path::PathBuf);

impl ScratchDir {
    fn new(prefix: &str) -> Self {
        Self(std::env::temp_dir().join(format!("{prefix}-{}", uuid::Uuid::new_v4().simple())))
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A gateway paging into fresh mock APNs and FCM servers.
pub async fn spawn_app_with_push(
    backend: TestBackend,
    customize: impl FnOnce(&mut Settings),
) -> TestApp {
    let dir = ScratchDir::new("pgw-mocks");
    let mocks = MockProviders::start(&dir.0)
        .await
        .expect("mock providers start");
    let push = mocks.settings.clone();
    let mut app = spawn_app_with(backend, |s| {
        s.push = push;
        customize(s);
    })
    .await;
    app.push = Some(Arc::new(mocks));
    app.scratch.push(Arc::new(dir));
    app
}

/// A gateway paging into fresh mock APNs and FCM, and sending SMS through a fresh mock Twilio
/// whose inbound-SMS webhook points at the gateway.
pub async fn spawn_app_with_twilio(
    backend: TestBackend,
    customize: impl FnOnce(&mut Settings),
) -> TestApp {
    let dir = ScratchDir::new("pgw-twilio");
    let (twilio, settings) = MockTwilio::start_in(&dir.0)
        .await
        .expect("mock Twilio starts");
    let mut app = spawn_app_with_push(backend, |s| {
        s.channels.twilio = settings;
        customize(s);
    })
    .await;
    twilio.set_inbound_url(&app.url("/v1/twilio/sms"));
    app.twilio = Some(Arc::new(twilio));
    app.scratch.push(Arc::new(dir));
    app
}

/// [`spawn_app_with_twilio`] and e-mail through a fresh mock SMTP server: every channel.
pub async fn spawn_app_with_channels(
    backend: TestBackend,
    customize: impl FnOnce(&mut Settings),
) -> TestApp {
    let smtp = MockSmtp::start().await.expect("mock SMTP starts");
    let smtp_settings = smtp.settings();
    let mut app = spawn_app_with_twilio(backend, |s| {
        s.channels.smtp = smtp_settings;
        customize(s);
    })
    .await;
    app.smtp = Some(Arc::new(smtp));
    app
}

/// Starts a gateway on `settings` and gives it an admin key.
async fn start(
    backend: TestBackend,
    settings: Settings,
    clock: ManualClock,
    db: Option<TestDatabase>,
) -> TestApp {
    let app = Application::build_with_clock(settings.clone(), Arc::new(clock.clone()))
        .await
        .expect("the test gateway starts");
    let (_, admin_key) = panic_gateway::auth::create_admin_key(
        app.store(),
        panic_gateway::store::admin_keys::NewAdminKey {
            name: "test suite",
            scopes: &panic_gateway::domain::admin_key::Scopes::admin(),
            expires_at: None,
        },
        "cli",
        chrono::Utc::now(),
    )
    .await
    .expect("admin key");
    let port = app.port();
    let shutdown = app.shutdown_handle();
    let engine = app.engine();
    let server = tokio::spawn(app.run_until_stopped());
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client"),
        backend,
        shutdown,
        clock,
        db_url: settings.database.url.clone(),
        settings,
        admin_key,
        server: Some(server),
        push: None,
        twilio: None,
        smtp: None,
        scratch: Vec::new(),
        engine,
        db,
    }
}

/// Waits until `condition` holds, checking every 10 ms, and fails the test after `within`.
pub async fn eventually<F, Fut>(within: Duration, what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    wait_for(within, what, || {
        let checked = condition();
        async move { checked.await.then_some(()) }
    })
    .await
}

/// Waits until `probe` gives a value, checking every 10 ms, and returns it; fails the test
/// after `within`. The one polling loop of the suite: every wait for another process, task or
/// server goes through it (or [`eventually`]).
pub async fn wait_for<T, F, Fut>(within: Duration, what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + within;
    let mut poll = tokio::time::interval(Duration::from_millis(10));
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        poll.tick().await;
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {within:?} waiting for: {what}"
        );
    }
}

/// An enrolled phone's credentials: the simulated phone's session (`panic-gateway simulate`,
/// the demo and the bench keep the same), which tests read and replace field by field.
pub type Phone = panic_gateway::phone::Session;

/// A Gold customer with an account manager and a contact, each with an enrolled phone.
#[derive(Debug, Clone)]
pub struct GoldCustomer {
    pub customer_id: String,
    pub account_manager: Phone,
    pub contact: Phone,
}

impl TestApp {
    /// The mock providers; panics if the app was started without them.
    pub fn mocks(&self) -> &MockProviders {
        self.push
            .as_deref()
            .expect("started with spawn_app_with_push")
    }

    /// The mock SMTP server; panics if the app was started without it.
    pub fn smtp(&self) -> &MockSmtp {
        self.smtp
            .as_deref()
            .expect("started with spawn_app_with_channels")
    }

    /// The mock Twilio; panics if the app was started without it.
    pub fn twilio(&self) -> &MockTwilio {
        self.twilio
            .as_deref()
            .expect("started with spawn_app_with_twilio")
    }

    /// Runs every worker's round until nothing more is due at the gateway's current time:
    /// escalations, SLA warnings and breaches, push sends, webhooks, key pruning. After moving
    /// the clock, this makes what is due happen now; after it returns, whatever did not happen
    /// was not due (the background loops keep running too, so a wait for an effect they may
    /// have started still uses [`eventually`]).
    pub async fn run_due_work(&self) -> DueWork {
        let done = self
            .engine
            .run_due_work()
            .await
            .expect("the engine's rounds run");
        assert!(done.settled, "the due work never settled: {done:?}");
        done
    }

    /// The gateway's current time.
    pub fn clock_now(&self) -> chrono::DateTime<chrono::Utc> {
        use panic_gateway::clock::Clock;
        self.clock.now()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request sent")
    }

    /// `panic-gateway admin {args}` on the app's database (see [`output_off_thread`]).
    pub async fn admin_cli(&self, args: &[&str]) -> std::process::Output {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_panic-gateway"));
        command
            .arg("admin")
            .args(args)
            .args(["--database-url", &self.db_url])
            .env_remove("PANIC_GATEWAY_CONFIG")
            .env("RUST_LOG", "error");
        output_off_thread(command).await
    }

    /// How many rows of `from_where` (a table, optionally with a `WHERE` clause) the test's
    /// database holds, for checking what was (not) stored.
    pub async fn count(&self, from_where: &str) -> i64 {
        devkit::count_where(&self.db_url, from_where)
            .await
            .expect("count query")
    }

    /// Like [`TestApp::count`], with `$1` in the clause standing for the instant `at`.
    pub async fn count_at(&self, from_where: &str, at: chrono::DateTime<chrono::Utc>) -> i64 {
        devkit::count_where_at(&self.db_url, from_where, at)
            .await
            .expect("count query")
    }

    /// The stored timeline of an incident, oldest first, as `{kind, detail}` objects.
    pub async fn timeline_rows(&self, incident_id: &str) -> Vec<Value> {
        devkit::incident_timeline(&self.db_url, incident_id)
            .await
            .expect("timeline query")
            .into_iter()
            .map(|(kind, detail)| {
                json!({ "kind": kind, "detail": serde_json::from_str::<Value>(&detail).unwrap() })
            })
            .collect()
    }

    /// Presses the panic button from `phone` with `key` and `body`.
    pub async fn press(&self, phone: &Phone, key: &str, body: &Value) -> reqwest::Response {
        self.with_token(reqwest::Method::POST, "/v1/alerts", &phone.access_token)
            .header("idempotency-key", key)
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    /// A request carrying `token` as a bearer credential.
    pub fn with_token(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
    ) -> reqwest::RequestBuilder {
        self.client
            .request(method, self.url(path))
            .bearer_auth(token)
    }

    /// A request with the admin key.
    pub fn admin(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.with_token(method, path, &self.admin_key)
    }

    /// POSTs `body` with the admin key and returns the JSON answer, asserting `status`.
    pub async fn admin_post(&self, path: &str, body: Value, status: u16) -> Value {
        let res = self
            .admin(reqwest::Method::POST, path)
            .json(&body)
            .send()
            .await
            .expect("request sent");
        assert_eq!(res.status().as_u16(), status, "POST {path}");
        res.json().await.expect("JSON body")
    }

    /// The devkit's admin client under this app's admin key: the demo and the bench seed
    /// through the same one.
    pub fn admin_client(&self) -> AdminClient {
        AdminClient::new(self.client.clone(), &self.address, &self.admin_key)
    }

    pub async fn create_customer(
        &self,
        name: &str,
        tier: &str,
        account_manager: Option<&str>,
    ) -> String {
        self.admin_client()
            .create_customer(name, tier, account_manager)
            .await
            .expect("customer created")
    }

    pub async fn create_user(&self, role: &str, customer_id: Option<&str>, name: &str) -> String {
        self.admin_client()
            .create_user(role, name, customer_id)
            .await
            .expect("user created")
    }

    pub async fn enrollment_code(&self, user_id: &str) -> String {
        self.admin_client()
            .enrollment_code(user_id)
            .await
            .expect("enrollment code issued")
    }

    /// Enrolls a new phone for `user_id` on `platform`, as the simulated phone does.
    pub async fn enroll(&self, user_id: &str, platform: &str) -> Phone {
        let phone = self
            .admin_client()
            .enroll_phone(user_id, platform, &format!("{platform} phone"))
            .await
            .expect("enrolled");
        assert_eq!(phone.session.user_id, user_id, "enrolled for that user");
        phone.session
    }

    /// A Gold customer, its account manager and one contact, both with an iOS phone.
    pub async fn gold_customer(&self) -> GoldCustomer {
        let am = self.create_user("responder", None, "Alice Manager").await;
        let customer_id = self.create_customer("Acme Corp", "gold", Some(&am)).await;
        let contact = self
            .create_user("contact", Some(&customer_id), "Carl Contact")
            .await;
        GoldCustomer {
            account_manager: self.enroll(&am, "ios").await,
            contact: self.enroll(&contact, "ios").await,
            customer_id,
        }
    }

    /// Stops the gateway gracefully and waits for it to finish.
    pub async fn stop(mut self) {
        self.shutdown.trigger();
        if let Some(server) = self.server.take() {
            server
                .await
                .expect("server task joins")
                .expect("server stops cleanly");
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.trigger();
    }
}

/// A press whose answers meet the default P1 definition (production down).
pub fn p1_press(service: &str) -> Value {
    json!({
        "summary": "Checkout is failing for everyone",
        "details": "HTTP 500 on every order since 19:02",
        "affected_service": service,
        "p1": { "production_down": true, "users_affected": "all", "workaround_available": false },
        "app_local_time": "2026-11-22T20:05:00+01:00",
    })
}

/// A press that meets no rule of the default P1 definition.
pub fn minor_press(service: &str) -> Value {
    json!({
        "summary": "Reports are slow",
        "affected_service": service,
        "p1": { "production_down": false, "users_affected": "some", "workaround_available": true },
    })
}

/// Asserts that `res` is an RFC 9457 problem with `status` and returns its body.
pub async fn assert_problem(res: reqwest::Response, status: u16) -> serde_json::Value {
    assert_eq!(res.status().as_u16(), status, "status of {}", res.url());
    let content_type = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(content_type, "application/problem+json");
    let body: serde_json::Value = res.json().await.expect("problem body is JSON");
    assert_eq!(body["status"], status);
    assert!(body["type"].is_string() && body["title"].is_string() && body["detail"].is_string());
    body
}

fn init_test_logging() {
    if std::env::var("TEST_LOG").is_ok() {
        panic_gateway::telemetry::init(&panic_gateway::telemetry::LogSettings::default());
    }
}

/// Runs `command` to completion off the test's thread. A gateway's workers share the test's
/// single-threaded runtime: a test that blocked it while a child process ran could freeze a
/// worker inside a SQLite write transaction, and a CLI writing to the same database would
/// then wait out its busy timeout ("database is locked").
pub async fn output_off_thread(mut command: std::process::Command) -> std::process::Output {
    tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("the child's thread")
        .expect("the child runs")
}
