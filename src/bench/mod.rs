//! `panic-gateway bench`: the measurement kit. Not part of `cargo test`.
//!
//! Starts the local mock APNs and FCM, runs the real gateway binary as a child process on the
//! chosen database, enrolls simulated phones, and presses the panic button at a fixed rate
//! (distinct idempotency keys and services, so every press opens an incident and pages). It
//! reports alert-accepted latency (request start to answer) and alert-to-page latency
//! (request start to the mock provider receiving the push) as p50/p90/p99/max, throughput,
//! errors, acknowledgement latency (the request that stops escalation), and the gateway's
//! peak resident memory. It also measures the floor on the same machine in the same run: one
//! durable insert transaction on that database plus one HTTP/2 request to the same mock
//! provider. The figure that matters is the gateway's p99 over that floor.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use chrono::{DateTime, Utc};
use sqlx::{Connection, Executor};

use crate::admin_client::AdminClient;
use crate::phone::press_body;
use crate::push::mock::MockProviders;
use crate::push::{Notification, NotificationKind, Provider};

pub struct BenchOptions {
    /// `None`: a fresh SQLite file; a PostgreSQL URL: a fresh database on that server.
    pub database_url: Option<String>,
    pub rate: u32,
    pub seconds: u32,
    pub devices: u32,
    pub dir: PathBuf,
}

/// Percentiles of a sample, in milliseconds.
#[derive(Debug, Clone, Copy, Default)]
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

async fn database(opts: &BenchOptions) -> anyhow::Result<BenchDb> {
    match &opts.database_url {
        None => Ok(BenchDb {
            url: format!("sqlite://{}/bench.db?mode=rwc", opts.dir.display()),
            drop: None,
        }),
        Some(url) if url.starts_with("postgres") => {
            let name = format!("pgw_bench_{}", uuid::Uuid::new_v4().simple());
            let mut admin = sqlx::postgres::PgConnection::connect(url).await?;
            admin
                .execute(format!("CREATE DATABASE \"{name}\"").as_str())
                .await?;
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
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
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
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(url).await?;
    let sqlite = url.starts_with("sqlite:");
    if sqlite {
        conn.execute(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 5000;",
        )
        .await?;
    }
    conn.execute(
        "CREATE TABLE IF NOT EXISTS bench_floor (id TEXT PRIMARY KEY, at BIGINT NOT NULL)",
    )
    .await?;
    let mut ms = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        conn.execute(if sqlite { "BEGIN IMMEDIATE" } else { "BEGIN" })
            .await?;
        sqlx::query("INSERT INTO bench_floor (id, at) VALUES ($1, $2)")
            .bind(uuid::Uuid::new_v4().to_string())
            .bind(Utc::now().timestamp_millis())
            .execute(&mut conn)
            .await?;
        conn.execute("COMMIT").await?;
        ms.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    conn.execute("DROP TABLE bench_floor").await?;
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
    started: DateTime<Utc>,
    latency_ms: f64,
    status: u16,
    incident: Option<String>,
}

pub async fn run(opts: BenchOptions) -> anyhow::Result<()> {
    let _ = std::fs::remove_dir_all(&opts.dir);
    std::fs::create_dir_all(&opts.dir)?;
    let mocks = MockProviders::start(&opts.dir.join("mocks")).await?;
    let db = database(&opts).await?;
    let backend = if db.url.starts_with("sqlite") {
        "SQLite"
    } else {
        "PostgreSQL"
    };
    let result = measure(&opts, &db.url, backend, &mocks).await;
    if let Some((admin_url, name)) = db.drop {
        let mut admin = sqlx::postgres::PgConnection::connect(&admin_url).await?;
        admin
            .execute(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)").as_str())
            .await?;
    }
    result
}

async fn measure(
    opts: &BenchOptions,
    db: &str,
    backend: &str,
    mocks: &MockProviders,
) -> anyhow::Result<()> {
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
    let manager = admin
        .create_user("responder", "Bench Manager", None)
        .await?;
    let customer = admin
        .create_customer("Bench Corp", "gold", Some(&manager))
        .await?;
    let mut am_phone = admin.enroll_phone(&manager, "ios", "bench phone").await?;
    let mut phones = Vec::new();
    for i in 0..opts.devices {
        let contact = admin
            .create_user("contact", &format!("Contact {i}"), Some(&customer))
            .await?;
        let platform = if i % 2 == 0 { "ios" } else { "android" };
        phones.push(
            admin
                .enroll_phone(&contact, platform, "bench phone")
                .await?,
        );
    }

    println!("floor on {backend}: measuring one durable insert transaction and one HTTP/2 push…");
    let floor_db = floor_database(db, 200).await?;
    let floor_push = floor_push(mocks, 200).await?;

    let total = (opts.rate * opts.seconds) as usize;
    println!(
        "load: {} presses at {}/s for {} s from {} phones…",
        total, opts.rate, opts.seconds, opts.devices
    );
    let presses: Arc<Mutex<Vec<Press>>> = Arc::new(Mutex::new(Vec::with_capacity(total)));
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(opts.rate)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let load_started = Instant::now();
    let gateway_pid = gateway.child.id().to_string();
    let cpu_before = (cpu_seconds(&gateway_pid), cpu_seconds("self"));
    let mut tasks = Vec::with_capacity(total);
    for i in 0..total {
        ticker.tick().await;
        let mut phone = phones[i % phones.len()].clone();
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
    let load_seconds = load_started.elapsed().as_secs_f64();
    let cpu_after = (cpu_seconds(&gateway_pid), cpu_seconds("self"));
    let cores = |before: Option<f64>, after: Option<f64>| Some((after? - before?) / load_seconds);
    let gateway_cores = cores(cpu_before.0, cpu_after.0);
    let bench_cores = cores(cpu_before.1, cpu_after.1);

    let presses = std::mem::take(&mut *presses.lock().expect("lock"));
    let ok: Vec<&Press> = presses.iter().filter(|p| p.status == 201).collect();
    let errors = presses.len() - ok.len();
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

    let mut acks = Vec::new();
    for p in ok.iter().take(100) {
        if let Some(incident) = &p.incident {
            let started = Instant::now();
            let (status, _) = am_phone.acknowledge(incident).await?;
            if status == 200 {
                acks.push(started.elapsed().as_secs_f64() * 1000.0);
            }
        }
    }
    let ack = Summary::of(acks);
    let memory = gateway.peak_memory_mib();
    gateway.stop();

    let floor = floor_db.p50 + floor_push.p50;
    println!();
    println!(
        "== panic-gateway bench: {backend}, {} presses at {}/s, {} phones ==",
        total, opts.rate, opts.devices
    );
    println!("floor: durable insert tx  {floor_db}");
    println!("floor: HTTP/2 push        {floor_push}");
    println!("floor (p50 insert + p50 push) = {floor:.2} ms");
    println!("alert accepted (201)      {accepted}");
    println!("alert-to-page             {to_page}");
    println!("ack (escalation stopped)  {ack}");
    println!(
        "throughput {:.1} presses/s over {:.1} s; errors {} of {}; pages received {} of {}",
        presses.len() as f64 / load_seconds,
        load_seconds,
        errors,
        presses.len(),
        paged,
        expected
    );
    if let Some(mib) = memory {
        println!("gateway peak memory (VmHWM) {mib:.1} MiB");
    }
    if let (Some(g), Some(b)) = (gateway_cores, bench_cores) {
        println!(
            "CPU during the load: gateway {g:.2} cores, load generator + mock providers {b:.2} cores, of {} available",
            std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
        );
    }
    if floor > 0.0 {
        println!("alert-to-page p99 / floor = {:.1}x", to_page.p99 / floor);
    }
    Ok(())
}
