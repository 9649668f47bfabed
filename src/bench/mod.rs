//! `panic-gateway bench`: the measurement kit. Not part of `cargo test`.
//!
//! Starts the local mock APNs and FCM, runs the real gateway binary as a child process on the
//! chosen database, enrolls simulated phones, and presses the panic button at a fixed rate
//! (distinct idempotency keys and services, so every press opens an incident and pages). It
//! reports alert-accepted latency (request start to answer) and alert-to-page latency
//! (request start to the mock provider receiving the push) as p50/p90/p99/max, throughput,
//! errors, acknowledgement latency (the request that stops escalation, made while the presses
//! go on), and the gateway's peak resident memory. It also measures the floor on the same machine in the same run: one
//! durable insert transaction on that database plus one HTTP/2 request to the same mock
//! provider. The figure that matters is the gateway's p99 over that floor.
//!
//! Every rate is run `--repeat` times (3 by default), each on a fresh database and a fresh
//! gateway; the run whose alert-to-page p99 is the median stands for the rate. `--find-knee`
//! searches for the highest rate that passes (no errors, every accepted press paged,
//! alert-to-page p99 under 100 ms), `--db-latency` puts a delaying proxy in front of
//! PostgreSQL, and every invocation writes `bench/results/*.json` (see [`results`]).

pub mod proxy;
pub mod results;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use self::results::RateResult;
use crate::admin_client::AdminClient;
use crate::phone::press_body;
use crate::push::mock::MockProviders;
use crate::push::{Notification, NotificationKind, Provider};
use crate::store::devkit::{self, FloorTable};

pub struct BenchOptions {
    /// `None`: a fresh SQLite file; a PostgreSQL URL: a fresh database on that server.
    pub database_url: Option<String>,
    /// The rate to run at, or with `find_knee` the rate the search starts from.
    pub rate: u32,
    pub seconds: u32,
    pub devices: u32,
    /// Customers the devices are spread over (each with an account manager of their own);
    /// presses go round them.
    pub customers: u32,
    pub dir: PathBuf,
    /// Runs per rate; the median run by alert-to-page p99 stands for the rate.
    pub repeat: u32,
    /// Each direction of every database connection delayed by this much (PostgreSQL only).
    pub db_latency: Option<Duration>,
    pub find_knee: bool,
    /// A rate passes while its alert-to-page p99 stays under this.
    pub knee_p99_limit_ms: f64,
    /// Where the results file goes.
    pub results_dir: PathBuf,
}

/// Percentiles of a sample, in milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Summary {
    pub n: usize,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

impl Summary {
    pub fn of(mut ms: Vec<f64>) -> Self {
        if ms.is_empty() {
            return Self::default();
        }
        ms.sort_by(|a, b| a.total_cmp(b));
        let at =
            |p: f64| ms[(((p * ms.len() as f64).ceil() as usize).max(1) - 1).min(ms.len() - 1)];
        Self {
            n: ms.len(),
            p50: at(0.5),
            p90: at(0.9),
            p99: at(0.99),
            max: *ms.last().unwrap_or(&0.0),
        }
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "n={:<6} p50={:>7.2} ms  p90={:>7.2} ms  p99={:>7.2} ms  max={:>7.2} ms",
            self.n, self.p50, self.p90, self.p99, self.max
        )
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// A database of its own for the run, and how to remove it.
struct BenchDb {
    url: String,
    drop: Option<(String, String)>,
}

async fn database(opts: &BenchOptions, dir: &std::path::Path) -> anyhow::Result<BenchDb> {
    match &opts.database_url {
        None => Ok(BenchDb {
            url: format!("sqlite://{}/bench.db?mode=rwc", dir.display()),
            drop: None,
        }),
        Some(url) if url.starts_with("postgres") => {
            let name = format!("pgw_bench_{}", uuid::Uuid::new_v4().simple());
            devkit::create_scratch_database(url, &name).await?;
            let mut parsed = reqwest::Url::parse(url)?;
            parsed.set_path(&name);
            Ok(BenchDb {
                url: parsed.to_string(),
                drop: Some((url.clone(), name)),
            })
        }
        Some(other) => bail!("unsupported database URL {other}"),
    }
}

/// The gateway under test, as its own process.
struct Gateway {
    child: Child,
    base: String,
}

impl Gateway {
    fn start(db: &str, mocks: &MockProviders, port: u16) -> anyhow::Result<Self> {
        let exe = std::env::current_exe()?;
        let a = &mocks.settings.apns;
        let f = &mocks.settings.fcm;
        let child = Command::new(exe)
            .arg("serve")
            .env_remove("PANIC_GATEWAY_CONFIG")
            .env("PANIC_GATEWAY__DATABASE__URL", db)
            .env(
                "PANIC_GATEWAY__DATABASE__MAX_CONNECTIONS",
                std::env::var("BENCH_DB_CONNECTIONS").unwrap_or_else(|_| "16".into()),
            )
            .env("PANIC_GATEWAY__SERVER__PORT", port.to_string())
            // A signing secret of the run's own (PostgreSQL refuses to start without one).
            .env(
                "PANIC_GATEWAY__AUTH__JWT_SECRET",
                crate::auth::secrets::random_token(32),
            )
            .env("PANIC_GATEWAY__LOG__LEVEL", "warn")
            .env("PANIC_GATEWAY__PUSH__APNS__ENABLED", "true")
            .env("PANIC_GATEWAY__PUSH__APNS__BASE_URL", &a.base_url)
            .env("PANIC_GATEWAY__PUSH__APNS__KEY_FILE", &a.key_file)
            .env("PANIC_GATEWAY__PUSH__APNS__KEY_ID", &a.key_id)
            .env("PANIC_GATEWAY__PUSH__APNS__TEAM_ID", &a.team_id)
            .env("PANIC_GATEWAY__PUSH__APNS__TOPIC", &a.topic)
            .env("PANIC_GATEWAY__PUSH__APNS__CA_FILE", &a.ca_file)
            .env("PANIC_GATEWAY__PUSH__FCM__ENABLED", "true")
            .env("PANIC_GATEWAY__PUSH__FCM__BASE_URL", &f.base_url)
            .env(
                "PANIC_GATEWAY__PUSH__FCM__SERVICE_ACCOUNT_FILE",
                &f.service_account_file,
            )
            .env("PANIC_GATEWAY__PUSH__FCM__CA_FILE", &f.ca_file)
            // Every press opens an incident on purpose: no flood guard in the measurement.
            .env(
                "PANIC_GATEWAY__INTAKE__FLOOD_MAX_OPEN",
                u32::MAX.to_string(),
            )
            // `BENCH_GATEWAY_LOG=sqlx::query=debug` shows every statement the gateway runs.
            .env(
                "RUST_LOG",
                std::env::var("BENCH_GATEWAY_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdin(Stdio::null())
            .stdout(match std::env::var_os("BENCH_GATEWAY_LOG") {
                Some(_) => Stdio::inherit(),
                None => Stdio::null(),
            })
            .spawn()
            .context("cannot start the gateway")?;
        Ok(Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
        })
    }

    /// Peak resident set size (VmHWM) in MiB.
    fn peak_memory_mib(&self) -> Option<f64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let kb: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        Some(kb / 1024.0)
    }

    fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
    }
}

/// CPU seconds (user + system) a process has used so far, from /proc (Linux).
fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0) // USER_HZ
}

fn admin_key(db: &str) -> anyhow::Result<String> {
    let out = Command::new(std::env::current_exe()?)
        .args([
            "admin",
            "create-key",
            "--name",
            "bench",
            "--database-url",
            db,
        ])
        .env("RUST_LOG", "error")
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "admin create-key failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8(out.stdout)?.trim().to_owned())
}

/// One durable insert transaction, timed `n` times.
async fn floor_database(url: &str, n: usize) -> anyhow::Result<Summary> {
    let mut table = FloorTable::create(url).await?;
    let mut ms = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        table.insert_one().await?;
        ms.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    table.drop_table().await?;
    Ok(Summary::of(ms))
}

/// One HTTP/2 request to the mock APNs through the real client, timed `n` times.
async fn floor_push(mocks: &MockProviders, n: usize) -> anyhow::Result<Summary> {
    let client = crate::push::apns::ApnsClient::new(&mocks.settings.apns)?;
    let notification = |i: usize| Notification {
        kind: NotificationKind::Page,
        incident_id: format!("floor-{i}"),
        delivery_id: uuid::Uuid::new_v4().to_string(),
        title: "floor".into(),
        body: "floor".into(),
        ticket_ref: None,
        ack_token: None,
        expires_at: Utc::now() + chrono::Duration::minutes(5),
        critical_allowed: true,
    };
    let token =
        crate::domain::push_token::PushToken::simulated(crate::domain::platform::Platform::Ios);
    // Warm the connection and the provider token.
    client.send(&token, &notification(0), Utc::now()).await;
    let mut ms = Vec::with_capacity(n);
    for i in 0..n {
        let started = Instant::now();
        client.send(&token, &notification(i), Utc::now()).await;
        ms.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(Summary::of(ms))
}

struct Press {
    /// Which customer pressed (contact i belongs to customer i mod N).
    customer: usize,
    started: DateTime<Utc>,
    latency_ms: f64,
    status: u16,
    incident: Option<String>,
}

/// How often the account manager acknowledges while the load runs, and how many times at most.
const ACK_EVERY: Duration = Duration::from_millis(100);
const ACKS: usize = 100;

/// The first customer's account manager acknowledges that customer's incidents while the
/// presses go on, one every [`ACK_EVERY`] (up to [`ACKS`]), so an acknowledgement is measured
/// against the load, as a responder meets it; each one stops escalation and tells the
/// customer's phones. Returns each acknowledgement's latency.
async fn acknowledge_during_load(
    mut am_phone: crate::phone::Phone,
    presses: Arc<Mutex<Vec<Press>>>,
    load_done: Arc<AtomicBool>,
) -> anyhow::Result<Vec<f64>> {
    let mut acks = Vec::new();
    let mut seen = 0;
    let mut pace = tokio::time::interval(ACK_EVERY);
    pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while acks.len() < ACKS && !load_done.load(Ordering::Relaxed) {
        pace.tick().await;
        let incident = {
            let presses = presses.lock().expect("lock");
            let next = presses[seen..]
                .iter()
                .position(|p| p.customer == 0 && p.incident.is_some());
            next.and_then(|at| {
                seen += at + 1;
                presses[seen - 1].incident.clone()
            })
        };
        let Some(incident) = incident else { continue };
        let started = Instant::now();
        let (status, _) = am_phone.acknowledge(&incident).await?;
        if status == 200 {
            acks.push(started.elapsed().as_secs_f64() * 1000.0);
        }
    }
    Ok(acks)
}

/// One run at one rate: what the load generator saw and what the mocks received.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunResult {
    pub rate: u32,
    pub seconds: u32,
    pub presses: usize,
    pub throughput_per_s: f64,
    /// Failed presses by HTTP status; `connection` for a request that got no answer.
    pub errors: BTreeMap<String, usize>,
    pub pages_expected: usize,
    pub pages_received: usize,
    pub floor_db: Summary,
    pub floor_push: Summary,
    pub accepted: Summary,
    pub to_page: Summary,
    pub ack: Summary,
    pub peak_rss_mib: Option<f64>,
    pub gateway_cores: Option<f64>,
    pub bench_cores: Option<f64>,
}

impl RunResult {
    pub fn error_count(&self) -> usize {
        self.errors.values().sum()
    }

    /// No errors, every accepted press paged, and the alert-to-page p99 under `limit_ms`.
    pub fn passes(&self, limit_ms: f64) -> bool {
        self.error_count() == 0
            && self.pages_received == self.pages_expected
            && self.to_page.p99 < limit_ms
    }

    /// `0`, or the count by status: `12 (503: 10, connection: 2)`.
    pub fn errors_described(&self) -> String {
        if self.errors.is_empty() {
            return "0".into();
        }
        let by_status: Vec<String> = self
            .errors
            .iter()
            .map(|(status, n)| format!("{status}: {n}"))
            .collect();
        format!("{} ({})", self.error_count(), by_status.join(", "))
    }
}

impl std::fmt::Display for RunResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let floor = self.floor_db.p50 + self.floor_push.p50;
        writeln!(f, "floor: durable insert tx  {}", self.floor_db)?;
        writeln!(f, "floor: HTTP/2 push        {}", self.floor_push)?;
        writeln!(f, "floor (p50 insert + p50 push) = {floor:.2} ms")?;
        writeln!(f, "alert accepted (201)      {}", self.accepted)?;
        writeln!(f, "alert-to-page             {}", self.to_page)?;
        writeln!(f, "ack (escalation stopped)  {}", self.ack)?;
        writeln!(
            f,
            "throughput {:.1} presses/s; errors {}; pages received {} of {}",
            self.throughput_per_s,
            self.errors_described(),
            self.pages_received,
            self.pages_expected
        )?;
        if let Some(mib) = self.peak_rss_mib {
            writeln!(f, "gateway peak memory (VmHWM) {mib:.1} MiB")?;
        }
        if let (Some(g), Some(b)) = (self.gateway_cores, self.bench_cores) {
            writeln!(
                f,
                "CPU during the load: gateway {g:.2} cores, load generator + mocks {b:.2} cores"
            )?;
        }
        if floor > 0.0 {
            writeln!(
                f,
                "alert-to-page p99 / floor = {:.1}x",
                self.to_page.p99 / floor
            )?;
        }
        Ok(())
    }
}

pub async fn run(opts: BenchOptions, command: String) -> anyhow::Result<()> {
    let backend = match &opts.database_url {
        None => "SQLite",
        Some(_) => "PostgreSQL",
    };
    if opts.db_latency.is_some() && opts.database_url.is_none() {
        bail!("--db-latency needs a PostgreSQL --database-url: SQLite is a file, not a connection");
    }
    anyhow::ensure!(opts.repeat >= 1, "--repeat must be at least 1");
    anyhow::ensure!(
        (1..=opts.devices).contains(&opts.customers),
        "--customers must be between 1 and --devices"
    );
    let _ = std::fs::remove_dir_all(&opts.dir);
    std::fs::create_dir_all(&opts.dir)?;
    let mut rates: Vec<RateResult> = Vec::new();
    let knee = if opts.find_knee {
        Some(find_knee(&opts, backend, &mut rates).await?)
    } else {
        rates.push(at_rate(&opts, backend, opts.rate).await?);
        None
    };
    let file = results::ResultsFile {
        backend: backend.into(),
        command,
        git_commit: results::git_commit(),
        finished_at: Utc::now(),
        machine: results::Machine::describe(),
        db_latency_ms: opts.db_latency.map(|d| d.as_secs_f64() * 1000.0),
        knee,
        knee_p99_limit_ms: opts.knee_p99_limit_ms,
        customers: opts.customers,
        rates,
    };
    let path = file.write(&opts.results_dir)?;
    println!();
    match knee {
        Some(0) => println!("knee on {backend}: no rate tried passed"),
        Some(rate) => println!(
            "knee on {backend}: {rate} presses/s (alert-to-page p99 under {} ms, no errors)",
            opts.knee_p99_limit_ms
        ),
        None => {}
    }
    println!("results written to {}", path.display());
    Ok(())
}

/// Runs `opts.repeat` times at `rate` and picks the median run.
async fn at_rate(opts: &BenchOptions, backend: &str, rate: u32) -> anyhow::Result<RateResult> {
    let mut runs = Vec::new();
    for i in 1..=opts.repeat {
        println!(
            "== {backend}: {rate} presses/s for {} s, run {i} of {} ==",
            opts.seconds, opts.repeat
        );
        let run = one_run(opts, rate, &opts.dir.join(format!("{rate}-{i}"))).await?;
        print!("{run}");
        runs.push(run);
    }
    let passed = runs
        .iter()
        .filter(|r| r.passes(opts.knee_p99_limit_ms))
        .count()
        * 2
        > runs.len();
    let mut by_p99: Vec<&RunResult> = runs.iter().collect();
    by_p99.sort_by(|a, b| a.to_page.p99.total_cmp(&b.to_page.p99));
    let median_run = by_p99[by_p99.len() / 2].clone();
    println!(
        "-> {rate}/s {}: median alert-to-page p99 {:.1} ms",
        if passed { "passes" } else { "fails" },
        median_run.to_page.p99
    );
    Ok(RateResult {
        rate,
        passed,
        median_run,
        runs,
    })
}

/// The highest rate that passes: doubles from `opts.rate` until a rate fails (halving first
/// if the start already fails), then bisects until the bounds are within 10 %. Returns 0 when
/// no rate down to 10/s passes.
async fn find_knee(
    opts: &BenchOptions,
    backend: &str,
    tried: &mut Vec<RateResult>,
) -> anyhow::Result<u32> {
    const MAX_RATE: u32 = 50_000;
    let mut pass: Option<u32> = None;
    let mut fail: Option<u32> = None;
    let mut rate = opts.rate.max(10);
    loop {
        let result = at_rate(opts, backend, rate).await?;
        let passed = result.passed;
        tried.push(result);
        if passed {
            pass = Some(rate);
        } else {
            fail = Some(rate);
        }
        rate = match (pass, fail) {
            (Some(p), None) if p >= MAX_RATE => break,
            (Some(p), None) => (p * 2).min(MAX_RATE),
            (None, Some(f)) if f <= 10 => break,
            (None, Some(f)) => (f / 2).max(10),
            (Some(p), Some(f)) if f as f64 <= p as f64 * 1.1 => break,
            (Some(p), Some(f)) => (p + f) / 2,
            (None, None) => unreachable!("every rate tried passes or fails"),
        };
    }
    Ok(pass.unwrap_or(0))
}

/// A fresh database, mocks and gateway; `rate` presses/s for `opts.seconds`.
async fn one_run(
    opts: &BenchOptions,
    rate: u32,
    dir: &std::path::Path,
) -> anyhow::Result<RunResult> {
    std::fs::create_dir_all(dir)?;
    let mocks = MockProviders::start(&dir.join("mocks")).await?;
    let db = database(opts, dir).await?;
    let url = match opts.db_latency {
        Some(delay) => behind_latency_proxy(&db.url, delay).await?,
        None => db.url.clone(),
    };
    let result = measure(opts, rate, &url, &mocks).await;
    if let Some((admin_url, name)) = db.drop {
        devkit::drop_scratch_database(&admin_url, &name).await?;
    }
    result
}

/// `url` with its host and port replaced by a delaying proxy's.
async fn behind_latency_proxy(url: &str, delay: Duration) -> anyhow::Result<String> {
    let mut parsed = reqwest::Url::parse(url)?;
    let upstream = format!(
        "{}:{}",
        parsed.host_str().unwrap_or("127.0.0.1"),
        parsed.port().unwrap_or(5432)
    );
    let proxy = proxy::start(upstream, delay)?;
    parsed
        .set_host(Some(&proxy.ip().to_string()))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    parsed
        .set_port(Some(proxy.port()))
        .map_err(|()| anyhow::anyhow!("cannot set the proxy's port"))?;
    Ok(parsed.to_string())
}

async fn measure(
    opts: &BenchOptions,
    rate: u32,
    db: &str,
    mocks: &MockProviders,
) -> anyhow::Result<RunResult> {
    // Migrate and make a key before the gateway starts, as an operator would.
    let key = admin_key(db)?;
    let gateway = Gateway::start(db, mocks, free_port()?)?;
    let base = gateway.base.clone();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .timeout(Duration::from_secs(30))
        .build()?;
    let ready = Instant::now();
    while http
        .get(format!("{base}/readyz"))
        .send()
        .await
        .map(|r| r.status() != 200)
        .unwrap_or(true)
    {
        anyhow::ensure!(
            ready.elapsed() < Duration::from_secs(30),
            "the gateway did not become ready"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let admin = AdminClient::new(http.clone(), &base, &key);
    let mut customers = Vec::new();
    let mut manager_phones = Vec::new();
    for c in 0..opts.customers {
        let manager = admin
            .create_user("responder", &format!("Bench Manager {c}"), None)
            .await?;
        customers.push(
            admin
                .create_customer(&format!("Bench Corp {c}"), "gold", Some(&manager))
                .await?,
        );
        manager_phones.push(admin.enroll_phone(&manager, "ios", "bench phone").await?);
    }
    // Contact i belongs to customer i mod N, so presses go round the customers.
    let mut phones = Vec::new();
    for i in 0..opts.devices {
        let customer = &customers[i as usize % customers.len()];
        let contact = admin
            .create_user("contact", &format!("Contact {i}"), Some(customer))
            .await?;
        let platform = if i % 2 == 0 { "ios" } else { "android" };
        phones.push(
            admin
                .enroll_phone(&contact, platform, "bench phone")
                .await?,
        );
    }

    let floor_db = floor_database(db, 200).await?;
    let floor_push = floor_push(mocks, 200).await?;

    let total = (rate * opts.seconds) as usize;
    let presses: Arc<Mutex<Vec<Press>>> = Arc::new(Mutex::new(Vec::with_capacity(total)));
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let load_started = Instant::now();
    let gateway_pid = gateway.child.id().to_string();
    let cpu_before = (cpu_seconds(&gateway_pid), cpu_seconds("self"));
    let load_done = Arc::new(AtomicBool::new(false));
    let acker = tokio::spawn(acknowledge_during_load(
        manager_phones.swap_remove(0),
        presses.clone(),
        load_done.clone(),
    ));
    let mut tasks = Vec::with_capacity(total);
    for i in 0..total {
        ticker.tick().await;
        let mut phone = phones[i % phones.len()].clone();
        let customer = (i % phones.len()) % customers.len();
        let presses = presses.clone();
        tasks.push(tokio::spawn(async move {
            let body = press_body(
                "Bench: production down",
                &format!("svc-{i}"),
                true,
                "all",
                false,
            );
            let started = Utc::now();
            let clock = Instant::now();
            let answer = phone.press(&uuid::Uuid::new_v4().to_string(), &body).await;
            let latency_ms = clock.elapsed().as_secs_f64() * 1000.0;
            let (status, incident) = match answer {
                Ok((status, body)) => (status, body["incident"]["id"].as_str().map(str::to_owned)),
                Err(_) => (0, None),
            };
            presses.lock().expect("lock").push(Press {
                customer,
                started,
                latency_ms,
                status,
                incident,
            });
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    load_done.store(true, Ordering::Relaxed);
    let acks = acker.await.context("the acknowledging task")??;
    let load_seconds = load_started.elapsed().as_secs_f64();
    let cpu_after = (cpu_seconds(&gateway_pid), cpu_seconds("self"));
    let cores = |before: Option<f64>, after: Option<f64>| Some((after? - before?) / load_seconds);
    let gateway_cores = cores(cpu_before.0, cpu_after.0);
    let bench_cores = cores(cpu_before.1, cpu_after.1);

    let presses = std::mem::take(&mut *presses.lock().expect("lock"));
    let ok: Vec<&Press> = presses.iter().filter(|p| p.status == 201).collect();
    let mut errors: BTreeMap<String, usize> = BTreeMap::new();
    for p in presses.iter().filter(|p| p.status != 201) {
        let status = match p.status {
            0 => "connection".to_owned(),
            s => s.to_string(),
        };
        *errors.entry(status).or_default() += 1;
    }
    // Wait for every page to reach the mocks.
    let expected = ok.len();
    let wanted: std::collections::HashSet<&str> =
        ok.iter().filter_map(|p| p.incident.as_deref()).collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut received: HashMap<String, DateTime<Utc>> = HashMap::new();
    loop {
        received.clear();
        for r in mocks
            .apns
            .received()
            .into_iter()
            .filter(|r| r.status == 200)
        {
            match r.body["incident_id"].as_str() {
                Some(incident) if wanted.contains(incident) => {
                    received.entry(incident.to_owned()).or_insert(r.at);
                }
                _ => {}
            }
        }
        if received.len() >= expected || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let accepted = Summary::of(ok.iter().map(|p| p.latency_ms).collect());
    let to_page = Summary::of(
        ok.iter()
            .filter_map(|p| {
                let at = received.get(p.incident.as_deref()?)?;
                Some((*at - p.started).num_microseconds()? as f64 / 1000.0)
            })
            .collect(),
    );
    let paged = to_page.n;

    let ack = Summary::of(acks);
    let memory = gateway.peak_memory_mib();
    gateway.stop();

    Ok(RunResult {
        rate,
        seconds: opts.seconds,
        presses: presses.len(),
        throughput_per_s: presses.len() as f64 / load_seconds,
        errors,
        pages_expected: expected,
        pages_received: paged,
        floor_db,
        floor_push,
        accepted,
        to_page,
        ack,
        peak_rss_mib: memory,
        gateway_cores,
        bench_cores,
    })
}
