//! Starts chromedriver on a free port and a headless Chromium session through it, and saves
//! screenshots.
//!
//! A browser test:
//! ```ignore
//! #[tokio::test]
//! async fn something() {
//!     let Some(browser) = Browser::start().await else { return };   // skipped: no driver
//!     let app = spawn_app(TestBackend::Sqlite).await;
//!     let staff = app.staff("support_manager", false, "Morgan Manager").await;
//!     browser.sign_in(&app, &staff).await;
//!     browser.shot("something").await;                                // target/screenshots/
//!     browser.close().await;
//! }
//! ```
//! chromedriver is a child process killed when the [`Browser`] is dropped; nothing here
//! blocks the test's runtime (spawning does not wait, readiness is polled).

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use crate::support::console::Staff;
use crate::support::{wait_for, TestApp};

pub struct Browser {
    pub client: Client,
    driver: Child,
    /// Where screenshots go: target/screenshots/.
    shots: PathBuf,
}

fn driver_path() -> Option<PathBuf> {
    let path = std::env::var_os("CHROMEDRIVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromedriver"));
    path.exists().then_some(path)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl Browser {
    /// A headless Chromium, or `None` (after printing "skipped") when there is no
    /// chromedriver and `REQUIRE_BROWSER` is not set.
    pub async fn start() -> Option<Browser> {
        let Some(path) = driver_path() else {
            assert!(
                std::env::var("REQUIRE_BROWSER").as_deref() != Ok("1"),
                "REQUIRE_BROWSER=1 but there is no chromedriver (apt-get install chromium chromium-driver)"
            );
            eprintln!("skipped: no chromedriver (install chromium-driver, or set CHROMEDRIVER)");
            return None;
        };
        let port = free_port();
        let driver = Command::new(path)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()),
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1280,800",
                         "--force-device-scale-factor=1"],
            }),
        );
        let url = format!("http://127.0.0.1:{port}");
        let browser = Browser {
            client: wait_for(
                Duration::from_secs(20),
                "chromedriver to accept a session",
                || {
                    let caps = caps.clone();
                    let url = url.clone();
                    async move {
                        ClientBuilder::new(
                        hyper_util::client::legacy::connect::HttpConnector::new(),
                    )
                    .capabilities(caps)
                    .connect(&url)
                    .await
                    .ok()
                    }
                },
            )
            .await,
            driver,
            shots: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/screenshots"),
        };
        std::fs::create_dir_all(&browser.shots).expect("screenshot directory");
        browser.client.set_window_size(1280, 800).await.ok();
        Some(browser)
    }

    /// A phone's viewport (390 × 844, an iPhone 12-15) for pages customers open on a phone.
    pub async fn phone_sized(&self) {
        self.client
            .set_window_size(390, 844)
            .await
            .expect("window resized");
    }

    /// Back to the desktop viewport `start` opens with.
    pub async fn desktop_sized(&self) {
        self.client
            .set_window_size(1280, 800)
            .await
            .expect("window resized");
    }

    pub async fn goto(&self, app: &TestApp, path: &str) {
        self.client
            .goto(&app.url(path))
            .await
            .unwrap_or_else(|e| panic!("open {path}: {e}"));
    }

    /// Saves a PNG of the page as target/screenshots/`name`.png.
    pub async fn shot(&self, name: &str) {
        let png = self.client.screenshot().await.expect("a screenshot");
        std::fs::write(self.shots.join(format!("{name}.png")), &png).expect("screenshot saved");
        if std::env::var("UPDATE_DOCS_SCREENSHOTS").as_deref() == Ok("1") {
            let docs = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs");
            std::fs::create_dir_all(&docs).unwrap();
            std::fs::write(docs.join(format!("console-{name}.png")), &png).unwrap();
        }
    }

    /// The text of the first element matching `css`, once there is one (see [`Self::retry`]).
    pub async fn text_of(&self, css: &str, within: Duration) -> String {
        self.retry(css, within, |element| async move { element.text().await })
            .await
    }

    /// Clicks the element `css` names, as soon as there is one.
    pub async fn click(&self, css: &str, within: Duration) {
        self.retry(css, within, |element| async move { element.click().await })
            .await
    }

    /// Finds `css` and acts on it until that works or `within` runs out. The live board swaps
    /// its rows in whenever something changes, so an element found a moment ago can be gone
    /// ("stale") by the time it is read or clicked: find it again rather than fail.
    async fn retry<T, F, Fut>(&self, css: &str, within: Duration, act: F) -> T
    where
        F: Fn(fantoccini::elements::Element) -> Fut,
        Fut: std::future::Future<Output = Result<T, fantoccini::error::CmdError>>,
    {
        let deadline = std::time::Instant::now() + within;
        loop {
            let last = match self.client.find(Locator::Css(css)).await {
                Ok(element) => match act(element).await {
                    Ok(done) => return done,
                    Err(e) => e.to_string(),
                },
                Err(e) => e.to_string(),
            };
            if std::time::Instant::now() >= deadline {
                panic!("no usable element {css} within {within:?}: {last}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Fills in the sign-in form as a person would and submits it.
    pub async fn sign_in_as(&self, app: &TestApp, email: &str, password: &str) {
        self.goto(app, "/console/sign-in").await;
        let c = &self.client;
        c.find(Locator::Css("#email"))
            .await
            .unwrap()
            .send_keys(email)
            .await
            .unwrap();
        c.find(Locator::Css("#password"))
            .await
            .unwrap()
            .send_keys(password)
            .await
            .unwrap();
        c.find(Locator::Css("button[type=submit]"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
    }

    /// Signs in as `staff` and waits for the board.
    pub async fn sign_in(&self, app: &TestApp, staff: &Staff) {
        self.sign_in_as(app, &staff.email, &staff.password).await;
        self.text_of("#board", Duration::from_secs(10)).await;
    }

    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        // Reap it off the runtime's thread: it exits at once after SIGKILL.
        let _ = self.driver.try_wait();
    }
}
