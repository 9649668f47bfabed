//! The binary itself: configuration errors, `migrate`, and graceful shutdown on SIGTERM.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the gateway did not exit within {within:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
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
        use sqlx::Connection;
        let mut conn = sqlx::sqlite::SqliteConnection::connect(&url).await.unwrap();
        let versions: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
            .fetch_one(&mut conn)
            .await
            .unwrap();
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

    let deadline = Instant::now() + Duration::from_secs(30);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let client = reqwest::Client::new();
        loop {
            let res = client
                .get(format!("http://127.0.0.1:{port}/readyz"))
                .send()
                .await;
            if matches!(&res, Ok(r) if r.status() == 200) {
                break;
            }
            assert!(Instant::now() < deadline, "the gateway never became ready");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });

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
        use sqlx::Connection;
        let mut conn =
            sqlx::sqlite::SqliteConnection::connect(&format!("sqlite://{}", db.display()))
                .await
                .unwrap();
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(mode, "wal");
    });
}
