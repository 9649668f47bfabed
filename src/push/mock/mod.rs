//! Local stand-ins for APNs and FCM that speak their wire protocols: HTTP/2 over TLS with a
//! certificate from a CA generated at run time, the providers' authentication checked for
//! real (ES256 provider tokens, RS256 OAuth grants), their headers, limits and error bodies.
//! Tests drive the real clients against them, and `panic-gateway demo` pages into them.
//! Every request is recorded; failures (any status, with `Retry-After`, or a stall) can be
//! ordered per device token. Nothing here is used unless a test or the demo starts it.

pub mod apns;
pub mod fcm;
pub(crate) mod server;

use std::path::Path;
use std::sync::OnceLock;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};

pub use apns::{ApnsReceived, MockApns, MockApnsConfig};
pub use fcm::{FcmReceived, MockFcm, MockFcmConfig};

use super::settings::{ApnsSettings, FcmSettings, PushSettings};

/// What a mock answers instead of accepting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answer this status with the provider's matching error body.
    Status {
        status: u16,
        retry_after: Option<u64>,
    },
    /// Never answer (until [`MockApns::release`]/[`MockFcm::release`]).
    Stall,
    /// Reset the HTTP/2 stream instead of answering, as a dropped connection looks.
    Reset,
}

impl Fault {
    pub fn status(status: u16) -> Self {
        Fault::Status {
            status,
            retry_after: None,
        }
    }
}

/// Faults ordered per device token, or for every token, each for a number of requests or
/// for good.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    per_token: std::collections::HashMap<String, (Fault, Option<usize>)>,
    all: Option<(Fault, Option<usize>)>,
}

impl Faults {
    pub(crate) fn set(&mut self, token: Option<&str>, fault: Fault, times: Option<usize>) {
        match token {
            Some(t) => {
                self.per_token.insert(t.to_owned(), (fault, times));
            }
            None => self.all = Some((fault, times)),
        }
    }

    pub(crate) fn clear(&mut self) {
        self.per_token.clear();
        self.all = None;
    }

    /// Takes a `Reset` fault for this request, if one is due: the server resets the stream
    /// before anything is recorded.
    pub(crate) fn reset_next(&mut self, req: &server::Received) -> bool {
        let token = match req.path.strip_prefix("/3/device/") {
            Some(t) => t.to_owned(),
            None => serde_json::from_slice::<serde_json::Value>(&req.body)
                .ok()
                .and_then(|v| v["message"]["token"].as_str().map(str::to_owned))
                .unwrap_or_default(),
        };
        let due = self.per_token.get(&token).or(self.all.as_ref());
        if matches!(due, Some((Fault::Reset, _))) {
            self.take(&token);
            true
        } else {
            false
        }
    }

    /// The fault for this request, counting it down.
    pub(crate) fn take(&mut self, token: &str) -> Option<Fault> {
        fn step(slot: &mut Option<(Fault, Option<usize>)>) -> Option<Fault> {
            let (fault, times) = slot.as_mut()?;
            let fault = fault.clone();
            match times {
                Some(0) => {
                    *slot = None;
                    return None;
                }
                Some(n) => {
                    *n -= 1;
                    if *n == 0 {
                        *slot = None;
                    }
                }
                None => {}
            }
            Some(fault)
        }
        if let Some(entry) = self.per_token.get(token).cloned() {
            let mut slot = Some(entry);
            let fault = step(&mut slot);
            match slot {
                Some(e) => self.per_token.insert(token.to_owned(), e),
                None => self.per_token.remove(token),
            };
            return fault;
        }
        step(&mut self.all)
    }
}

/// Recorded requests, and a way to wait for more of them without sleeping.
#[derive(Debug)]
pub(crate) struct Recorder<T> {
    items: std::sync::Mutex<Vec<T>>,
    added: tokio::sync::Notify,
}

impl<T: Clone> Recorder<T> {
    pub(crate) fn new() -> Self {
        Self {
            items: std::sync::Mutex::new(Vec::new()),
            added: tokio::sync::Notify::new(),
        }
    }

    pub(crate) fn push(&self, item: T) {
        self.items.lock().expect("recorder lock").push(item);
        self.added.notify_waiters();
    }

    pub(crate) fn all(&self) -> Vec<T> {
        self.items.lock().expect("recorder lock").clone()
    }

    /// Waits until `count` recorded items satisfy `keep`, or `within` passes; returns them.
    pub(crate) async fn wait_for(
        &self,
        count: usize,
        within: std::time::Duration,
        keep: impl Fn(&T) -> bool,
    ) -> Vec<T> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let notified = self.added.notified();
            let found: Vec<T> = self.all().into_iter().filter(|i| keep(i)).collect();
            if found.len() >= count {
                return found;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.all().into_iter().filter(|i| keep(i)).collect();
            }
        }
    }
}

/// A recorded request the controls can filter: to which device, and what the mock answered.
pub trait Recorded: Clone + Send + 'static {
    fn device_token(&self) -> &str;
    fn status(&self) -> u16;
}

/// What a test tells a mock and reads back from it. Both mocks dereference to their
/// controls, so `mocks.apns.fail(..)` and `mocks.fcm.fail(..)` are one piece of code.
pub struct Controls<R> {
    pub(crate) faults: std::sync::Mutex<Faults>,
    pub(crate) recorder: Recorder<R>,
    pub(crate) release: tokio::sync::Notify,
}

impl<R: Recorded> Controls<R> {
    pub(crate) fn new() -> Self {
        Self {
            faults: std::sync::Mutex::new(Faults::default()),
            recorder: Recorder::new(),
            release: tokio::sync::Notify::new(),
        }
    }

    /// Answer `fault` to requests for `device_token` (`None`: every token), `times` times or
    /// for good.
    pub fn fail(&self, device_token: Option<&str>, fault: Fault, times: Option<usize>) {
        self.faults
            .lock()
            .expect("lock")
            .set(device_token, fault, times);
    }

    pub fn heal(&self) {
        self.faults.lock().expect("lock").clear();
    }

    /// Answers every stalled request (with success).
    pub fn release(&self) {
        self.release.notify_waiters();
    }

    /// Every request so far, in arrival order.
    pub fn received(&self) -> Vec<R> {
        self.recorder.all()
    }

    /// Waits for `count` accepted requests to `device_token` (any token if `None`).
    pub async fn wait_accepted(
        &self,
        device_token: Option<&str>,
        count: usize,
        within: std::time::Duration,
    ) -> Vec<R> {
        let token = device_token.map(str::to_owned);
        self.recorder
            .wait_for(count, within, move |r| {
                r.status() == 200 && token.as_deref().is_none_or(|t| t == r.device_token())
            })
            .await
    }
}

/// A certificate authority made up at run time, and a server certificate for 127.0.0.1 and
/// localhost signed by it.
pub struct TestCa {
    pub ca_pem: String,
    pub(crate) server_cert: rustls::pki_types::CertificateDer<'static>,
    pub(crate) server_key: Vec<u8>,
}

impl TestCa {
    pub fn generate() -> Self {
        let ca_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("P-256 key");
        let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "panic-gateway mock providers CA");
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_cert = ca.self_signed(&ca_key).expect("CA certificate");
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("P-256 key");
        let leaf = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .expect("server params")
            .signed_by(&key, &ca_cert, &ca_key)
            .expect("server certificate");
        Self {
            ca_pem: ca_cert.pem(),
            server_cert: leaf.der().clone(),
            server_key: key.serialize_der(),
        }
    }

    pub(crate) fn server_config(&self) -> std::sync::Arc<rustls::ServerConfig> {
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(
                vec![self.server_cert.clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(self.server_key.clone().into()),
            )
            .expect("server certificate and key match");
        config.alpn_protocols = vec![b"h2".to_vec()];
        std::sync::Arc::new(config)
    }
}

/// An APNs .p8 key (PKCS#8 PEM) and its public key (SPKI PEM).
pub fn apns_key() -> (String, String) {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("P-256 key");
    (key.serialize_pem(), key.public_key_pem())
}

/// An RSA service-account key (PKCS#8 PEM) and its public key, made once per process:
/// generating RSA keys is slow.
pub fn service_account_key() -> &'static (String, String) {
    static KEY: OnceLock<(String, String)> = OnceLock::new();
    KEY.get_or_init(|| {
        use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
        let private = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).expect("RSA key");
        let public = private.to_public_key();
        (
            private
                .to_pkcs8_pem(LineEnding::LF)
                .expect("PKCS#8")
                .to_string(),
            public.to_public_key_pem(LineEnding::LF).expect("SPKI"),
        )
    })
}

/// Both mocks, and gateway settings pointing at them (keys, service account and CA written
/// to a directory).
pub struct MockProviders {
    pub apns: MockApns,
    pub fcm: MockFcm,
    pub settings: PushSettings,
}

impl MockProviders {
    pub async fn start(dir: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let ca = TestCa::generate();
        let ca_file = dir.join("mock-ca.pem");
        std::fs::write(&ca_file, &ca.ca_pem)?;

        let (apns_private, apns_public) = apns_key();
        let key_file = dir.join("AuthKey_MOCKKEY001.p8");
        std::fs::write(&key_file, apns_private)?;
        let apns = MockApns::start(
            MockApnsConfig {
                team_id: "MOCKTEAM01".into(),
                key_id: "MOCKKEY001".into(),
                topic: "com.example.panicbutton".into(),
                public_key_pem: apns_public,
            },
            &ca,
        )
        .await?;

        let (fcm_private, fcm_public) = service_account_key().clone();
        let fcm = MockFcm::start(
            MockFcmConfig {
                project_id: "panic-gateway-mock".into(),
                client_email: "gateway@panic-gateway-mock.iam.gserviceaccount.com".into(),
                public_key_pem: fcm_public,
            },
            &ca,
        )
        .await?;
        let account = super::fcm::ServiceAccount {
            kind: "service_account".into(),
            project_id: "panic-gateway-mock".into(),
            private_key_id: "mock-key-1".into(),
            private_key: fcm_private,
            client_email: "gateway@panic-gateway-mock.iam.gserviceaccount.com".into(),
            token_uri: fcm.token_url(),
        };
        let account_file = dir.join("service-account.json");
        std::fs::write(
            &account_file,
            serde_json::to_string_pretty(&account).unwrap_or_default(),
        )?;

        let path = |p: &Path| p.display().to_string();
        let settings = PushSettings {
            apns: ApnsSettings {
                enabled: true,
                base_url: apns.url().to_owned(),
                key_file: path(&key_file),
                key_id: "MOCKKEY001".into(),
                team_id: "MOCKTEAM01".into(),
                topic: "com.example.panicbutton".into(),
                ca_file: path(&ca_file),
                timeout_ms: 2_000,
            },
            fcm: FcmSettings {
                enabled: true,
                service_account_file: path(&account_file),
                project_id: String::new(),
                token_url: String::new(),
                base_url: fcm.url().to_owned(),
                ca_file: path(&ca_file),
                timeout_ms: 2_000,
            },
        };
        Ok(Self {
            apns,
            fcm,
            settings,
        })
    }
}
