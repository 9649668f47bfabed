//! The binary itself: configuration errors, `migrate`, and graceful shutdown on SIGTERM.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use panic_gateway::store::devkit;

use crate::support::wait_for;

const BIN: &str = env!("CARGO_BIN_EXE_panic-gateway");

struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("pgw-bin-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn gateway(dir: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir)
        .env_remove("PANIC_GATEWAY_CONFIG")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null());
    cmd
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_exit(child: &mut Child, within: Duration) -> std::process::ExitStatus {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    // Past `within` the probe answers `None` itself, so the child is killed rather than left
    // running after the test fails.
    let deadline = Instant::now() + within;
    let exited = rt.block_on(wait_for(
        within + Duration::from_secs(1),
        "the gateway exits",
        || {
            let exited = match child.try_wait().unwrap() {
                Some(status) => Some(Some(status)),
                None if Instant::now() > deadline => Some(None),
                None => None,
            };
            async move { exited }
        },
    ));
    exited.unwrap_or_else(|| {
        let _ = child.kill();
        panic!("the gateway did not exit within {within:?}");
    })
}

/// Waits for `/readyz` on `port` to answer 200, and returns its body.
async fn ready(port: u16) -> serde_json::Value {
    let client = reqwest::Client::new();
    wait_for(
        Duration::from_secs(30),
        "the gateway becomes ready",
        || async {
            match client
                .get(format!("http://127.0.0.1:{port}/readyz"))
                .send()
                .await
            {
                Ok(r) if r.status() == 200 => r.json().await.ok(),
                _ => None,
            }
        },
    )
    .await
}

#[test]
fn unknown_setting_stops_the_start_and_names_it() {
    let dir = TempDir::new();
    let out = gateway(&dir.0)
        .env("PANIC_GATEWAY__SERVER__PROT", "9000")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("prot"), "{stderr}");
}

#[test]
fn invalid_value_in_config_file_names_the_setting() {
    let dir = TempDir::new();
    std::fs::write(
        dir.0.join("gateway.toml"),
        "[database]\nurl = \"mysql://db/x\"\n",
    )
    .unwrap();
    let out = gateway(&dir.0)
        .args(["--config", "gateway.toml", "migrate"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("database.url"), "{stderr}");
}

#[test]
fn an_idempotency_retention_under_a_day_stops_the_start_and_names_it() {
    let dir = TempDir::new();
    let out = gateway(&dir.0)
        .env("PANIC_GATEWAY__INTAKE__IDEMPOTENCY_RETENTION_HOURS", "12")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("intake.idempotency_retention_hours"),
        "{stderr}"
    );
}

#[test]
fn serve_warns_at_start_about_a_platform_without_a_push_provider() {
    use std::io::Read;
    let dir = TempDir::new();
    let port = free_port();
    let mut child = gateway(&dir.0)
        .env("PANIC_GATEWAY__SERVER__PORT", port.to_string())
        .env("PANIC_GATEWAY__PUSH__APNS__ENABLED", "false")
        .env("PANIC_GATEWAY__PUSH__FCM__ENABLED", "false")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let ready: serde_json::Value = rt.block_on(ready(port));
    assert_eq!(ready["push"]["platforms"]["ios"], "not_configured");
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    wait_exit(&mut child, Duration::from_secs(30));
    let mut log = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    for platform in ["ios", "android"] {
        assert!(
            log.contains(&format!("no push provider is configured for {platform}")),
            "{log}"
        );
    }
}

#[test]
fn migrate_subcommand_creates_the_schema() {
    let dir = TempDir::new();
    let url = format!("sqlite://{}/m.db?mode=rwc", dir.0.display());
    let out = gateway(&dir.0)
        .args(["migrate", "--database-url", &url])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let versions = devkit::count_where(&url, "_sqlx_migrations").await.unwrap();
        assert_eq!(versions, panic_gateway::store::latest_version());
    });
}

#[test]
fn sigterm_drains_and_exits_zero_with_sqlite_in_wal_mode() {
    let dir = TempDir::new();
    let port = free_port();
    let mut child = gateway(&dir.0)
        .env("PANIC_GATEWAY__SERVER__PORT", port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(ready(port));

    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = wait_exit(&mut child, Duration::from_secs(30));
    assert!(status.success(), "exit status {status:?}");

    // The embedded default: ./panic-gateway.db, created and in WAL mode.
    let db = dir.0.join("panic-gateway.db");
    assert!(db.exists());
    rt.block_on(async {
        let mode = devkit::journal_mode(&format!("sqlite://{}", db.display()))
            .await
            .unwrap();
        assert_eq!(mode, "wal");
    });
}

/// Reads a child's stdout on a thread, so a test can wait for a line with a deadline.
struct Lines(std::sync::mpsc::Receiver<String>);

impl Lines {
    fn of(child: &mut Child) -> Self {
        use std::io::BufRead;
        let out = child.stdout.take().expect("stdout piped");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self(rx)
    }

    fn wait_for(&self, needle: &str, within: Duration) -> String {
        self.try_wait_for(needle, within)
            .unwrap_or_else(|| panic!("no line containing {needle:?} within {within:?}"))
    }

    /// The first line containing `needle`, or `None` if none came within `within` (or the
    /// output ended first).
    fn try_wait_for(&self, needle: &str, within: Duration) -> Option<String> {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.0.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return Some(line),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
    }
}

#[test]
fn the_demo_pages_through_the_mock_providers_and_the_simulated_phone_enrolls() {
    let dir = TempDir::new();
    // The port was free a moment ago; another test may take it before the demo binds it, so
    // a demo that stops before it is ready starts again on another, in a fresh directory.
    let (mut child, lines, demo) = (1..=3)
        .find_map(|attempt| {
            let demo = format!("demo-{attempt}");
            let errors = dir.0.join(format!("{demo}.stderr"));
            let mut child = gateway(&dir.0)
                .args(["demo", "--port", &free_port().to_string(), "--dir", &demo])
                .stdout(Stdio::piped())
                .stderr(std::fs::File::create(&errors).unwrap())
                .spawn()
                .unwrap();
            let lines = Lines::of(&mut child);
            if lines
                .try_wait_for("[demo] ready", Duration::from_secs(60))
                .is_some()
            {
                return Some((child, lines, demo));
            }
            let _ = child.kill();
            let _ = child.wait();
            let said = std::fs::read_to_string(&errors).unwrap_or_default();
            eprintln!("the demo did not get ready (attempt {attempt}):\n{said}");
            None
        })
        .expect("the demo gets ready within three attempts");

    let env = std::fs::read_to_string(dir.0.join(&demo).join("demo-env.sh")).unwrap();
    let var = |name: &str| {
        env.lines()
            .find_map(|l| l.strip_prefix(&format!("export {name}=")))
            .unwrap()
            .to_owned()
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let incident = rt.block_on(async {
        let res = reqwest::Client::new()
            .post(format!("{}/v1/alerts", var("GATEWAY")))
            .bearer_auth(var("CUSTOMER_TOKEN"))
            .header("idempotency-key", "demo-test")
            .json(&serde_json::json!({
                "summary": "Checkout is down", "affected_service": "checkout",
                "p1": { "production_down": true, "users_affected": "all", "workaround_available": false }
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
        let body: serde_json::Value = res.json().await.unwrap();
        body["incident"]["id"].as_str().unwrap().to_owned()
    });
    lines.wait_for(
        "[mock APNs] alert -> Alice Manager",
        Duration::from_secs(30),
    );
    lines.wait_for(
        "[mock FCM] HIGH priority -> Alice Manager",
        Duration::from_secs(30),
    );

    // The simulated phone: enroll with the spare code, then acknowledge as that responder is
    // refused (never paged), while Alice's token acknowledges.
    let sim = |args: &[&str]| {
        gateway(&dir.0)
            .arg("simulate")
            .args(args)
            .args(["--state", "phone.json"])
            .output()
            .unwrap()
    };
    let out = sim(&[
        "enroll",
        "--url",
        &var("GATEWAY"),
        "--code",
        &var("SPARE_CODE"),
        "--platform",
        "android",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = sim(&["ack", "--incident", &incident]);
    assert!(
        !out.status.success(),
        "a responder who was not paged cannot acknowledge"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("not-paged"));

    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    assert!(wait_exit(&mut child, Duration::from_secs(30)).success());
}
