//! `panic-gateway demo`: a gateway on a fresh embedded SQLite file, paging into the local
//! mock APNs and FCM (and texting and calling through the mock Twilio, mailing through the mock
//! SMTP server) in the same process, seeded from
//! `deploy/examples/org.toml` (a Gold customer, an account manager, two on-call engineers, a
//! support manager, schedules, the round-robin Gold team and a fast escalation policy), with
//! simulated phones enrolled. It prints what to run to press the
//! button, watch the page arrive, let it escalate and acknowledge, and reports every push the
//! mocks receive.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use serde_json::{json, Value};

use crate::admin_client::AdminClient;
use crate::channels::email::mock::MockSmtp;
use crate::channels::twilio::mock::MockTwilio;
use crate::config::Settings;
use crate::push::mock::MockProviders;
use crate::startup::Application;

/// The demo's tiers, staff, customer, schedules and policy: configuration as code.
const ORGANISATION: &str = include_str!("../deploy/examples/org.toml");

/// Runs the demo until Ctrl-C. `dir` is wiped and holds the database, the mock keys and
/// `demo-env.sh`.
pub async fn run(dir: &Path, port: u16) -> anyhow::Result<()> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let dir = dir.canonicalize()?;
    let mocks = MockProviders::start(&dir.join("mock-providers")).await?;
    let (twilio, twilio_settings) = MockTwilio::start_in(&dir.join("mock-providers")).await?;
    let smtp = MockSmtp::start().await?;

    let mut settings = Settings::default();
    settings.server.port = port;
    settings.database.url = format!("sqlite://{}/demo.db?mode=rwc", dir.display());
    settings.push = mocks.settings.clone();
    settings.channels.twilio = twilio_settings;
    settings.channels.smtp = smtp.settings();
    settings.dispatch.sweep_interval_ms = 200;
    settings.escalation.sweep_interval_ms = 200;
    let app = Application::build(settings).await?;
    let base = format!("http://127.0.0.1:{}", app.port());
    let demo_key = crate::store::admin_keys::NewAdminKey {
        name: "demo",
        scopes: &crate::domain::admin_key::Scopes::admin(),
        expires_at: None,
    };
    let (_, key) =
        crate::auth::create_admin_key(app.store(), demo_key, "demo", chrono::Utc::now()).await?;
    twilio.set_inbound_url(&format!("{base}/v1/twilio/sms"));
    let store = app.store().clone();
    let shutdown = app.shutdown_handle();
    let mut server = tokio::spawn(app.run_until_stopped());

    let s = AdminClient::new(reqwest::Client::new(), &base, &key);
    // The organisation is deploy/examples/org.toml, applied as `panic-gateway apply` does.
    let document: Value = toml::from_str(ORGANISATION).context("deploy/examples/org.toml")?;
    s.post("/v1/admin/configuration", json!({ "document": document }))
        .await?;
    let users = s
        .send(
            reqwest::Method::GET,
            "/v1/admin/users?limit=500",
            Value::Null,
        )
        .await?;
    let id_of = |email: &str| -> anyhow::Result<String> {
        users["items"]
            .as_array()
            .and_then(|items| items.iter().find(|u| u["email"] == email))
            .and_then(|u| u["id"].as_str())
            .map(str::to_owned)
            .with_context(|| format!("org.toml has no user {email}"))
    };
    let (alice, pat, sam) = (
        id_of("alice@example.com")?,
        id_of("pat@example.com")?,
        id_of("sam@example.com")?,
    );
    let (morgan, spare) = (id_of("morgan@example.com")?, id_of("riley@example.com")?);
    let customers = s
        .send(reqwest::Method::GET, "/v1/admin/customers", Value::Null)
        .await?;
    let customer = customers["items"]
        .as_array()
        .and_then(|items| items.iter().find(|c| c["name"] == "Acme Corp"))
        .and_then(|c| c["id"].as_str())
        .map(str::to_owned)
        .context("org.toml has no customer Acme Corp")?;
    // Contacts are not configuration: Carl enrols like any customer's person.
    let carl = s
        .create_user("contact", "Carl Contact", Some(&customer))
        .await?;

    let carl_phone = s.enroll_phone(&carl, "ios", "Carl's iPhone").await?;
    let phones = [
        (
            s.enroll_phone(&alice, "ios", "Alice's iPhone").await?,
            "Alice Manager",
        ),
        (
            s.enroll_phone(&alice, "android", "Alice's Pixel").await?,
            "Alice Manager",
        ),
        (
            s.enroll_phone(&pat, "android", "Pat's Pixel").await?,
            "Pat Primary",
        ),
        (
            s.enroll_phone(&sam, "ios", "Sam's iPhone").await?,
            "Sam Secondary",
        ),
        (
            s.enroll_phone(&morgan, "ios", "Morgan's iPhone").await?,
            "Morgan Manager",
        ),
    ];
    // Alice can also be texted, mailed and called: methods vouched for by the admin (nobody
    // reads a code off the mocks here) and rules push at once, SMS and e-mail after a minute
    // unacknowledged, a call after two.
    let vouched = |kind: &'static str, address: &'static str| {
        let s = &s;
        let alice = &alice;
        async move {
            s.post(
                &format!("/v1/admin/users/{alice}/contact-methods"),
                json!({ "kind": kind, "address": address, "verified": true }),
            )
            .await
        }
    };
    let alice_sms = vouched("sms", "+15005550100").await?;
    let alice_email = vouched("email", "alice@example.com").await?;
    let alice_voice = vouched("voice", "+15005550100").await?;
    s.send(
        reqwest::Method::PUT,
        &format!("/v1/admin/users/{alice}/notification-rules"),
        json!({ "rules": [
            { "method": "push", "delay_minutes": 0 },
            { "method": "sms", "method_id": alice_sms["id"], "delay_minutes": 1 },
            { "method": "email", "method_id": alice_email["id"], "delay_minutes": 1 },
            { "method": "voice", "method_id": alice_voice["id"], "delay_minutes": 2 },
        ] }),
    )
    .await?;
    let spare_code = s.enrollment_code(&spare).await?;
    // Morgan signs in to the console as an admin, with a password made up now: invited as any
    // admin would be, and the link used here instead of in a browser.
    let console_password = crate::auth::secrets::random_token(12);
    let invite = s
        .post(
            &format!("/v1/admin/users/{morgan}/invite"),
            json!({ "admin": true }),
        )
        .await?;
    let invite_token = invite["url"]
        .as_str()
        .and_then(|url| url.split("token=").nth(1))
        .context("the invite has no link")?
        .to_owned();
    let typed = console_password.clone();
    let hashed = tokio::task::spawn_blocking(move || crate::auth::password::hash(&typed)).await?;
    store
        .set_staff_password(
            &crate::auth::secrets::digest(&invite_token),
            &hashed,
            chrono::Utc::now(),
        )
        .await?
        .context("the demo's console invite was not usable")?;
    let mut owners: HashMap<String, String> = phones
        .iter()
        .map(|(p, who)| (p.session.push_token.clone(), (*who).to_owned()))
        .collect();
    owners.insert(
        carl_phone.session.push_token.clone(),
        "Carl Contact (customer)".into(),
    );

    let env_file = dir.join("demo-env.sh");
    std::fs::write(
        &env_file,
        format!(
            "# Written by `panic-gateway demo`: demo credentials for a throwaway local gateway.\n\
             export GATEWAY={base}\nexport ADMIN_KEY={key}\nexport CUSTOMER_TOKEN={}\n\
             export ALICE_TOKEN={}\nexport PAT_TOKEN={}\nexport SAM_TOKEN={}\nexport SPARE_CODE={spare_code}\n",
            carl_phone.session.access_token,
            phones[0].0.session.access_token,
            phones[2].0.session.access_token,
            phones[3].0.session.access_token,
        ),
    )?;

    println!(
        r#"
panic-gateway demo is running on {base} (SQLite: {db}, mock APNs {apns}, mock FCM {fcm},
mock Twilio {twilio_url}, mock SMTP 127.0.0.1:{smtp_port}).

Seeded: Gold customer Acme Corp (contact Carl), account manager Alice (iPhone + Pixel),
primary on-call Pat (Pixel), secondary on-call Sam (iPhone), support manager Morgan.
Alice's rules: push at once, SMS to +15005550100 and e-mail after 1 minute unacknowledged,
a call to +15005550100 after 2 (the mock answers and prints what it heard; the e-mail's
acknowledge link, printed below, opens in a browser).
Escalation for Acme: Alice 1 min -> the Gold team round-robin (Pat, then Sam next time) 1 min
-> Sam + Morgan 2 min, twice.

The console (live board): {base}/console
  sign in as morgan@example.com with the password {console_password}  (admin)

In another terminal:

  source {env}

  # 1. Press the panic button as Carl (a P1: production is down)
  curl -s -X POST $GATEWAY/v1/alerts -H "Authorization: Bearer $CUSTOMER_TOKEN" \
    -H "Idempotency-Key: $(date +%s%N)" -H "Content-Type: application/json" \
    -d '{{"summary":"Checkout is down","affected_service":"checkout","p1":{{"production_down":true,"users_affected":"all","workaround_available":false}}}}'

  # 2. Watch this window: the page reaches Alice's phones through the mock APNs and FCM.
  # 3. Wait a minute without acknowledging: Alice is texted (mock Twilio, below) and it
  #    escalates to the Gold team's next in turn (Pat for the first incident), then Sam and
  #    Morgan; the second pass picks Sam from the team.
  # 4. Acknowledge as Pat (use the incident id from step 1):
  curl -s -X POST $GATEWAY/v1/incidents/INCIDENT_ID/acknowledge -H "Authorization: Bearer $PAT_TOKEN"
  # 5. Follow it as the customer: who is on it, and the timeline
  curl -s $GATEWAY/v1/incidents/INCIDENT_ID -H "Authorization: Bearer $CUSTOMER_TOKEN"

  # A non-P1 press becomes a P2 ticket and pages nobody, with the reasons:
  curl -s -X POST $GATEWAY/v1/alerts -H "Authorization: Bearer $CUSTOMER_TOKEN" \
    -H "Idempotency-Key: $(date +%s%N)" -H "Content-Type: application/json" \
    -d '{{"summary":"Reports are slow","affected_service":"reports","p1":{{"production_down":false,"users_affected":"some","workaround_available":true}}}}'

  # A simulated phone for scripts: enroll one more responder with the spare code
  panic-gateway simulate enroll --url $GATEWAY --code $SPARE_CODE --platform android

Access tokens last 15 minutes. Ctrl-C stops the demo.
"#,
        db = dir.join("demo.db").display(),
        apns = mocks.apns.url(),
        fcm = mocks.fcm.url(),
        twilio_url = twilio.url(),
        smtp_port = smtp.port(),
        env = env_file.display(),
    );
    println!("[demo] ready");

    let watch = async {
        let (mut seen_apns, mut seen_fcm, mut seen_sms) = (0, 0, 0);
        let (mut seen_mail, mut seen_calls) = (0, 0);
        loop {
            let apns = mocks.apns.received();
            for r in &apns[seen_apns..] {
                let who = owners
                    .get(&r.device_token)
                    .map(String::as_str)
                    .unwrap_or("unknown device");
                println!(
                    "[mock APNs] {} -> {who}: {} ({}, answered {})",
                    r.headers
                        .get("apns-push-type")
                        .map(String::as_str)
                        .unwrap_or("?"),
                    r.body["aps"]["alert"]["title"].as_str().unwrap_or_default(),
                    r.body["aps"]["interruption-level"]
                        .as_str()
                        .unwrap_or_default(),
                    r.status
                );
            }
            seen_apns = apns.len();
            let fcm = mocks.fcm.received();
            for r in &fcm[seen_fcm..] {
                let who = owners
                    .get(&r.device_token)
                    .map(String::as_str)
                    .unwrap_or("unknown device");
                println!(
                    "[mock FCM] {} priority -> {who}: {} (answered {})",
                    r.message["android"]["priority"].as_str().unwrap_or("?"),
                    r.message["android"]["notification"]["title"]
                        .as_str()
                        .unwrap_or_default(),
                    r.status
                );
            }
            seen_fcm = fcm.len();
            let texts = twilio.received();
            for t in &texts[seen_sms..] {
                println!(
                    "[mock Twilio] SMS -> {}: {} (answered {})",
                    t.to,
                    t.body.replace('\n', " / "),
                    t.status
                );
            }
            seen_sms = texts.len();
            let mail = smtp.received();
            for m in &mail[seen_mail..] {
                println!(
                    "[mock SMTP] e-mail -> {}: {}{}",
                    m.rcpt_to.join(", "),
                    m.header("Subject").unwrap_or_default(),
                    m.ack_link()
                        .map(|l| format!(" (acknowledge: {l})"))
                        .unwrap_or_default()
                );
            }
            seen_mail = mail.len();
            let calls = twilio.calls();
            for c in &calls[seen_calls..] {
                println!(
                    "[mock Twilio] call -> {} (answered {}); the callee picks up",
                    c.to, c.status
                );
            }
            seen_calls = calls.len();
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    tokio::select! {
        _ = watch => {}
        result = &mut server => { result??; return Ok(()); }
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate() => {}
    }
    shutdown.trigger();
    server.await??;
    Ok(())
}

async fn terminate() {
    #[cfg(unix)]
    if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        s.recv().await;
        return;
    }
    std::future::pending::<()>().await
}
