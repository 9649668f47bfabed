//! The real APNs and FCM clients against the local mock providers.

use std::time::Duration;

use chrono::{Duration as ChronoDuration, Utc};

use super::mock::{Fault, MockProviders};
use super::settings::PushSettings;
use super::{providers, Notification, NotificationKind, Outcome, Platform, Provider, Providers};
use crate::domain::push_token::PushToken;

struct Fixture {
    mocks: MockProviders,
    providers: Providers,
    _dir: TempDir,
}

struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn fixture(adjust: impl FnOnce(&mut PushSettings)) -> Fixture {
    let dir = std::env::temp_dir().join(format!("pgw-push-{}", uuid::Uuid::new_v4()));
    let mocks = MockProviders::start(&dir).await.unwrap();
    let mut settings = mocks.settings.clone();
    adjust(&mut settings);
    settings.validate().unwrap();
    Fixture {
        providers: providers(&settings).unwrap(),
        mocks,
        _dir: TempDir(dir),
    }
}

fn page() -> Notification {
    Notification {
        kind: NotificationKind::Page,
        incident_id: uuid::Uuid::now_v7().to_string(),
        delivery_id: uuid::Uuid::now_v7().to_string(),
        title: "P1 · Acme: checkout down".into(),
        body: "checkout is affected.".into(),
        ticket_ref: Some("PG-1".into()),
        ack_token: Some("ack-token".into()),
        expires_at: Utc::now() + ChronoDuration::minutes(5),
        critical_allowed: true,
    }
}

impl Fixture {
    fn ios(&self) -> &dyn Provider {
        self.providers[&Platform::Ios].as_ref()
    }
    fn android(&self) -> &dyn Provider {
        self.providers[&Platform::Android].as_ref()
    }
}

/// A well-formed APNs token that reads back as `name` (hex of the name, zero-padded), so
/// faults can be aimed at it.
fn ios(name: &str) -> PushToken {
    let hex: String = name.bytes().map(|b| format!("{b:02x}")).collect();
    PushToken::parse(Platform::Ios, &format!("{hex:0<64}")).unwrap()
}

fn android(name: &str) -> PushToken {
    PushToken::parse(Platform::Android, name).unwrap()
}

const WAIT: Duration = Duration::from_secs(5);

#[tokio::test]
async fn apns_page_arrives_with_headers_payload_and_a_reused_provider_token() {
    let f = fixture(|_| {}).await;
    let n = page();
    let outcome = f.ios().send(&ios("device-a"), &n, Utc::now()).await;
    assert_eq!(
        outcome,
        Outcome::Accepted {
            provider_message_id: Some(n.delivery_id.clone())
        }
    );
    f.ios().send(&ios("device-b"), &page(), Utc::now()).await;
    let got = f.mocks.apns.wait_accepted(None, 2, WAIT).await;
    assert_eq!(got.len(), 2);
    let first = &got[0];
    assert_eq!(first.device_token, ios("device-a").as_str());
    assert_eq!(first.headers["apns-push-type"], "alert");
    assert_eq!(first.headers["apns-priority"], "10");
    assert_eq!(first.headers["apns-topic"], "com.example.panicbutton");
    assert_eq!(first.body["aps"]["interruption-level"], "critical");
    assert_eq!(first.body["incident_id"], n.incident_id);
    assert_eq!(
        got[0].provider_token, got[1].provider_token,
        "the provider token is cached"
    );
}

#[tokio::test]
async fn apns_expired_provider_token_is_renewed_once() {
    let f = fixture(|_| {}).await;
    f.ios().send(&ios("device-a"), &page(), Utc::now()).await;
    f.mocks.apns.expire_provider_token();
    let outcome = f.ios().send(&ios("device-a"), &page(), Utc::now()).await;
    assert!(matches!(outcome, Outcome::Accepted { .. }), "{outcome:?}");
    let all = f.mocks.apns.received();
    assert_eq!(
        all.iter().map(|r| r.status).collect::<Vec<_>>(),
        [200, 403, 200]
    );
    assert_ne!(all[0].provider_token, all[2].provider_token);
}

#[tokio::test]
async fn apns_failures_are_typed() {
    let f = fixture(|s| s.apns.timeout_ms = 300).await;
    let apns = &f.mocks.apns;
    apns.fail(Some(ios("gone").as_str()), Fault::status(410), None);
    apns.fail(Some(ios("bad").as_str()), Fault::status(400), None);
    apns.fail(
        Some(ios("busy").as_str()),
        Fault::Status {
            status: 503,
            retry_after: Some(7),
        },
        Some(1),
    );
    apns.fail(Some(ios("stuck").as_str()), Fault::Stall, None);
    assert!(matches!(
        f.ios().send(&ios("gone"), &page(), Utc::now()).await,
        Outcome::TokenDead { .. }
    ));
    assert!(matches!(
        f.ios().send(&ios("bad"), &page(), Utc::now()).await,
        Outcome::TokenDead { .. }
    ));
    let busy = f.ios().send(&ios("busy"), &page(), Utc::now()).await;
    assert!(
        matches!(busy, Outcome::Retry { after: Some(d), .. } if d == Duration::from_secs(7)),
        "{busy:?}"
    );
    assert!(matches!(
        f.ios().send(&ios("busy"), &page(), Utc::now()).await,
        Outcome::Accepted { .. }
    ));
    let stuck = f.ios().send(&ios("stuck"), &page(), Utc::now()).await;
    assert!(
        matches!(stuck, Outcome::Retry { ref reason, .. } if reason.contains("timed out")),
        "{stuck:?}"
    );
    apns.release();
}

#[tokio::test]
async fn apns_refuses_what_apple_refuses() {
    // A key Apple does not know: every send is a configuration error.
    let f = fixture(|s| s.apns.key_id = "WRONGKEY01".into()).await;
    let outcome = f.ios().send(&ios("device"), &page(), Utc::now()).await;
    assert!(
        matches!(outcome, Outcome::Fatal { ref reason } if reason.contains("InvalidProviderToken")),
        "{outcome:?}"
    );
    let f = fixture(|s| s.apns.topic = "com.other.app".into()).await;
    let outcome = f.ios().send(&ios("device"), &page(), Utc::now()).await;
    assert!(
        matches!(outcome, Outcome::Fatal { ref reason } if reason.contains("BadTopic")),
        "{outcome:?}"
    );
    // Oversized text is cut to fit; the mock checks the limit.
    let f = fixture(|_| {}).await;
    let mut big = page();
    big.body = "x".repeat(10_000);
    assert!(matches!(
        f.ios().send(&ios("device"), &big, Utc::now()).await,
        Outcome::Accepted { .. }
    ));
    assert!(f.mocks.apns.received()[0].body_len <= 4096);
}

#[tokio::test]
async fn fcm_message_arrives_and_the_oauth_token_is_cached() {
    let f = fixture(|_| {}).await;
    let n = page();
    let outcome = f
        .android()
        .send(&android("android-a"), &n, Utc::now())
        .await;
    assert!(
        matches!(outcome, Outcome::Accepted { provider_message_id: Some(ref id) } if id.starts_with("projects/panic-gateway-mock/messages/")),
        "{outcome:?}"
    );
    f.android()
        .send(&android("android-b"), &page(), Utc::now())
        .await;
    let got = f.mocks.fcm.wait_accepted(None, 2, WAIT).await;
    assert_eq!(got[0].message["android"]["priority"], "HIGH");
    assert_eq!(
        got[0].message["android"]["notification"]["channel_id"],
        "panic_pages"
    );
    assert_eq!(got[0].message["data"]["delivery_id"], n.delivery_id);
    assert_eq!(f.mocks.fcm.grants(), 1, "one OAuth grant for both sends");
}

#[tokio::test]
async fn fcm_failures_are_typed_and_a_revoked_token_is_refreshed() {
    let f = fixture(|_| {}).await;
    let fcm = &f.mocks.fcm;
    fcm.fail(Some(android("gone").as_str()), Fault::status(404), None);
    fcm.fail(Some(android("bad").as_str()), Fault::status(400), None);
    fcm.fail(
        Some(android("quota").as_str()),
        Fault::Status {
            status: 429,
            retry_after: Some(9),
        },
        Some(1),
    );
    assert!(matches!(
        f.android()
            .send(&android("gone"), &page(), Utc::now())
            .await,
        Outcome::TokenDead { .. }
    ));
    assert!(matches!(
        f.android().send(&android("bad"), &page(), Utc::now()).await,
        Outcome::TokenDead { .. }
    ));
    let quota = f
        .android()
        .send(&android("quota"), &page(), Utc::now())
        .await;
    assert!(
        matches!(quota, Outcome::Retry { after: Some(d), .. } if d == Duration::from_secs(9)),
        "{quota:?}"
    );
    fcm.revoke_access_tokens();
    assert!(matches!(
        f.android()
            .send(&android("fine"), &page(), Utc::now())
            .await,
        Outcome::Accepted { .. }
    ));
    assert_eq!(fcm.grants(), 2);
}

#[tokio::test]
async fn fcm_with_a_foreign_service_account_key_is_a_configuration_error() {
    let f = fixture(|_| {}).await;
    // Same account, another key: the token endpoint refuses the grant.
    let dir = std::env::temp_dir().join(format!("pgw-push-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut account: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(&f.mocks.settings.fcm.service_account_file).unwrap(),
    )
    .unwrap();
    use rsa::pkcs8::{EncodePrivateKey, LineEnding};
    let other = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap();
    account["private_key"] = other
        .to_pkcs8_pem(LineEnding::LF)
        .unwrap()
        .to_string()
        .into();
    let file = dir.join("sa.json");
    std::fs::write(&file, account.to_string()).unwrap();
    let mut settings = f.mocks.settings.clone();
    settings.fcm.service_account_file = file.display().to_string();
    let client = super::fcm::FcmClient::new(&settings.fcm).unwrap();
    let outcome = client.send(&android("tok"), &page(), Utc::now()).await;
    assert!(
        matches!(outcome, Outcome::Fatal { ref reason } if reason.contains("refused")),
        "{outcome:?}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn unreadable_keys_stop_the_start_with_the_setting_named() {
    let f = fixture(|_| {}).await;
    let mut settings = f.mocks.settings.clone();
    settings.apns.key_file = settings.fcm.ca_file.clone(); // a certificate, not a key
    let err = providers(&settings).err().unwrap();
    assert_eq!(err.key, "push.apns.key_file");
    settings = f.mocks.settings.clone();
    settings.fcm.service_account_file = "/nonexistent.json".into();
    assert_eq!(
        settings.validate().unwrap_err().key,
        "push.fcm.service_account_file"
    );
}

#[tokio::test]
async fn reset_streams_are_retried() {
    let f = fixture(|_| {}).await;
    f.mocks
        .apns
        .fail(Some(ios("apns-reset").as_str()), Fault::Reset, Some(1));
    f.mocks
        .fcm
        .fail(Some(android("fcm-reset").as_str()), Fault::Reset, Some(1));
    let apns = f.ios().send(&ios("apns-reset"), &page(), Utc::now()).await;
    assert!(matches!(apns, Outcome::Retry { .. }), "{apns:?}");
    let fcm = f
        .android()
        .send(&android("fcm-reset"), &page(), Utc::now())
        .await;
    assert!(matches!(fcm, Outcome::Retry { .. }), "{fcm:?}");
    // The connection survives a reset stream: the next sends go through.
    assert!(matches!(
        f.ios().send(&ios("apns-reset"), &page(), Utc::now()).await,
        Outcome::Accepted { .. }
    ));
    assert!(matches!(
        f.android()
            .send(&android("fcm-reset"), &page(), Utc::now())
            .await,
        Outcome::Accepted { .. }
    ));
}
