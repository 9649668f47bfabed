//! Configuration as code: `panic-gateway apply -f org.toml` and `panic-gateway export`,
//! driven as the real binary against a running gateway (off the test's thread), on both
//! backends: creates, plans nothing the second time, shows and applies a changed timeout,
//! refuses a broken policy whole (naming the file's line), prunes only when asked, and an
//! export applied to an empty gateway reproduces the state. Webhook endpoints: a secret from
//! the variable `secret_env` names (stored sealed, compared on re-apply), a generated one shown
//! once, events changes, refusals naming the line, prune disabling.

use std::path::PathBuf;
use std::process::Output;

use crate::on_both_backends;
use crate::support::{output_off_thread, spawn_app, TestApp, TestBackend};

on_both_backends!(
    apply_creates_and_a_second_apply_plans_nothing,
    a_changed_timeout_is_planned_as_an_update_and_applied,
    a_policy_that_breaks_the_promise_check_changes_nothing,
    prune_removes_only_when_asked,
    export_applied_to_an_empty_gateway_reproduces_the_state,
    webhooks_take_their_secret_from_the_environment_and_a_second_apply_plans_nothing,
    a_webhook_without_secret_env_gets_a_generated_secret_shown_once,
    a_missing_secret_variable_or_a_bad_webhook_refuses_with_the_line,
    prune_disables_a_webhook_only_when_asked,
);

const HOOK: &str = "https://helpdesk.example.com/hooks/panic";

/// A webhook endpoint section: `{events}` a TOML list, `{more}` extra keys.
fn webhook(url: &str, events: &str, more: &str) -> String {
    format!("\n[[webhooks]]\nurl = \"{url}\"\nevents = {events}\n{more}")
}

const SECRET_ENV: &str = "secret_env = \"HELPDESK_WEBHOOK_SECRET\"\n";
const SECRET: &str = "k3y-the-helpdesk-verifies-signatures-with-0001";
const OTHER_SECRET: &str = "k3y-the-helpdesk-verifies-signatures-with-0002";

/// The 1-based line of the first line of `text` that contains `needle`.
fn line_with(text: &str, needle: &str) -> usize {
    text.lines().position(|l| l.contains(needle)).unwrap() + 1
}

const EXAMPLE: &str = include_str!("../../deploy/examples/org.toml");

/// A small organisation: `{timeout}` is the first step's timeout, `{extra}` more TOML.
fn small(timeout: u32, extra: &str) -> String {
    format!(
        r#"[[users]]
email = "ana@example.com"
name = "Ana"
role = "responder"

[[customers]]
name = "Globex"
tier = "gold"
account_manager = "ana@example.com"

[[policies]]
name = "Gold"
tier = "gold"

[[policies.steps]]
ack_timeout_minutes = {timeout}
targets = [{{ type = "account_manager" }}]

[[policies.steps]]
ack_timeout_minutes = 5
targets = [{{ type = "support_managers" }}]
{extra}"#
    )
}

const NIGHT: &str = r#"
[[schedules]]
name = "night"
time_zone = "Europe/Paris"

[[schedules.rotations]]
name = "nights"
participants = ["ana@example.com"]
turn = "daily"
handoff_time = "20:00:00"
start_date = "2026-01-05"
"#;

fn write_file(text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pgw-org-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("org.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// `panic-gateway {args}` against `app`, on a blocking thread: the app's workers share the
/// test's runtime.
async fn cli(app: &TestApp, args: &[&str]) -> Output {
    cli_env(app, args, &[]).await
}

async fn cli_env(app: &TestApp, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_panic-gateway"));
    command
        .args(args)
        .args(["--url", &app.address])
        .env("PANIC_GATEWAY_ADMIN_KEY", &app.admin_key)
        .env_remove("PANIC_GATEWAY_CONFIG")
        .env_remove("HELPDESK_WEBHOOK_SECRET")
        .envs(env.iter().copied())
        .env("RUST_LOG", "error");
    output_off_thread(command).await
}

async fn apply(app: &TestApp, text: &str, flags: &[&str]) -> (bool, String, String) {
    apply_env(app, text, flags, &[]).await
}

async fn apply_env(
    app: &TestApp,
    text: &str,
    flags: &[&str],
    env: &[(&str, &str)],
) -> (bool, String, String) {
    let path = write_file(text);
    let mut args = vec!["apply", "-f", path.to_str().unwrap()];
    args.extend_from_slice(flags);
    let out = cli_env(app, &args, env).await;
    let _ = std::fs::remove_dir_all(path.parent().unwrap());
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn export(app: &TestApp) -> String {
    let out = cli(app, &["export"]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

async fn apply_creates_and_a_second_apply_plans_nothing(backend: TestBackend) {
    let app = spawn_app(backend).await;

    let (ok, stdout, stderr) = apply(&app, EXAMPLE, &["--dry-run"]).await;
    assert!(ok, "{stderr}");
    assert!(stdout.contains("+ customer Acme Corp (gold)"), "{stdout}");
    assert!(stdout.contains("Dry run"), "{stdout}");
    assert_eq!(app.count("customers").await, 0, "a dry run changes nothing");

    let (ok, stdout, stderr) = apply(&app, EXAMPLE, &[]).await;
    assert!(ok, "{stderr}");
    for line in [
        "+ customer Acme Corp (gold)",
        "+ user pat@example.com (Pat Primary, responder)",
        "+ schedule Primary on-call (Europe/Paris, 1 rotation(s))",
        "+ team gold (Gold team, 2 member(s))",
        "+ policy customer Acme Corp (demo: fast escalation, 3 step(s))",
    ] {
        assert!(stdout.contains(line), "{line} in {stdout}");
    }
    assert_eq!(app.count("customers WHERE name = 'Acme Corp'").await, 1);
    assert_eq!(app.count("users WHERE role <> 'contact'").await, 5);
    assert_eq!(app.count("schedules").await, 2);
    assert_eq!(app.count("escalation_policies").await, 1);
    assert_eq!(app.count("team_members WHERE team_id = 'gold'").await, 2);
    assert_eq!(
        app.count("audit_log WHERE action LIKE 'configuration.%'")
            .await,
        10
    );
    // The gateway pages by it: the customer's policy resolves the schedules by role.
    let policies: serde_json::Value = app
        .admin(reqwest::Method::GET, "/v1/admin/policies")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        policies["items"][0]["sla_misfit"],
        serde_json::Value::Null,
        "{policies}"
    );

    let (ok, stdout, stderr) = apply(&app, EXAMPLE, &[]).await;
    assert!(ok, "{stderr}");
    assert!(stdout.starts_with("No changes"), "{stdout}");
    assert_eq!(
        app.count("audit_log WHERE action LIKE 'configuration.%'")
            .await,
        10,
        "a second apply writes nothing"
    );
    app.stop().await;
}

async fn a_changed_timeout_is_planned_as_an_update_and_applied(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let (ok, _, stderr) = apply(&app, &small(5, ""), &[]).await;
    assert!(ok, "{stderr}");

    let (ok, stdout, stderr) = apply(&app, &small(3, ""), &["--dry-run"]).await;
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("~ policy gold: step 1 timeout 5 -> 3 min"),
        "{stdout}"
    );
    assert!(export(&app).await.contains("ack_timeout_minutes = 5"));

    let (ok, stdout, stderr) = apply(&app, &small(3, ""), &[]).await;
    assert!(ok, "{stderr}");
    assert_eq!(stdout.trim(), "~ policy gold: step 1 timeout 5 -> 3 min");
    let exported = export(&app).await;
    assert!(exported.contains("ack_timeout_minutes = 3"), "{exported}");
    app.stop().await;
}

async fn a_policy_that_breaks_the_promise_check_changes_nothing(backend: TestBackend) {
    let app = spawn_app(backend).await;
    // Gold promises an acknowledgement within 15 minutes: a 20-minute first step cannot
    // reach the last step in time.
    let broken = small(20, NIGHT);
    let (ok, stdout, stderr) = apply(&app, &broken, &[]).await;
    assert!(!ok, "{stdout}");
    // The first `[[policies.steps]]` of the policy is on line 15 of the file.
    assert!(
        stderr.contains("org.toml:15: policies[0].steps: tier gold"),
        "{stderr}"
    );
    assert!(stderr.contains("nothing was changed"), "{stderr}");
    for table in [
        "users",
        "customers",
        "schedules",
        "escalation_policies",
        "audit_log WHERE action LIKE 'configuration.%'",
    ] {
        assert_eq!(app.count(table).await, 0, "{table} is untouched");
    }

    // A dry run gets the same verdict.
    let (ok, _, stderr) = apply(&app, &broken, &["--dry-run"]).await;
    assert!(!ok && stderr.contains("policies[0].steps"), "{stderr}");

    // A reference to nobody names its own line, through the API's JSON path.
    let unknown = small(5, "").replace(
        "account_manager = \"ana@example.com\"",
        "account_manager = \"nobody@example.com\"",
    );
    let (ok, _, stderr) = apply(&app, &unknown, &[]).await;
    assert!(!ok);
    assert!(
        stderr.contains("org.toml:9: customers[0].account_manager: no user nobody@example.com"),
        "{stderr}"
    );
    assert_eq!(app.count("users").await, 0);
    app.stop().await;
}

async fn prune_removes_only_when_asked(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let (ok, _, stderr) = apply(&app, &small(5, NIGHT), &[]).await;
    assert!(ok, "{stderr}");
    assert_eq!(app.count("schedules").await, 1);

    let (ok, stdout, stderr) = apply(&app, &small(5, ""), &[]).await;
    assert!(ok, "{stderr}");
    assert!(stdout.starts_with("No changes"), "{stdout}");
    assert_eq!(app.count("schedules").await, 1, "kept without --prune");

    let (ok, stdout, stderr) = apply(&app, &small(5, ""), &["--prune"]).await;
    assert!(ok, "{stderr}");
    assert_eq!(stdout.trim(), "- schedule night");
    assert_eq!(app.count("schedules").await, 0);
    assert_eq!(
        app.count("customers").await,
        1,
        "customers are never pruned"
    );
    app.stop().await;
}

async fn export_applied_to_an_empty_gateway_reproduces_the_state(backend: TestBackend) {
    let first = spawn_app(backend).await;
    let (ok, _, stderr) = apply(&first, EXAMPLE, &[]).await;
    assert!(ok, "{stderr}");
    let hooks = format!(
        "{NIGHT}{}{}",
        webhook(HOOK, r#"["incident.opened"]"#, SECRET_ENV),
        webhook(
            "https://archive.example.com/in",
            r#"["*"]"#,
            "enabled = false\n"
        )
    );
    let (ok, _, stderr) = apply_env(
        &first,
        &small(5, &hooks),
        &[],
        &[("HELPDESK_WEBHOOK_SECRET", SECRET)],
    )
    .await;
    assert!(ok, "{stderr}");
    let exported = export(&first).await;
    first.stop().await;
    assert!(exported.contains("[[webhooks]]"), "{exported}");
    assert!(!exported.contains(SECRET), "secrets are never exported");

    let second = spawn_app(backend).await;
    let (ok, stdout, stderr) = apply(&second, &exported, &[]).await;
    assert!(ok, "{stderr}\n{exported}");
    assert!(stdout.contains("+ schedule night"), "{stdout}");
    assert!(
        stdout.contains(&format!("+ webhook {HOOK} (incident.opened)")),
        "{stdout}"
    );
    assert!(
        stdout.contains("+ webhook https://archive.example.com/in (*, disabled)"),
        "{stdout}"
    );
    assert_eq!(
        app_count_enabled_webhooks(&second).await,
        1,
        "the disabled endpoint stays disabled"
    );
    assert_eq!(export(&second).await, exported);
    let (_, stdout, _) = apply(&second, &exported, &[]).await;
    assert!(stdout.starts_with("No changes"), "{stdout}");
    second.stop().await;
}

async fn app_count_enabled_webhooks(app: &TestApp) -> i64 {
    app.count("webhook_endpoints WHERE disabled_at IS NULL")
        .await
}

async fn webhooks_take_their_secret_from_the_environment_and_a_second_apply_plans_nothing(
    backend: TestBackend,
) {
    let app = spawn_app(backend).await;
    let two = r#"["incident.opened", "incident.resolved"]"#;
    let file = small(5, &webhook(HOOK, two, SECRET_ENV));
    let env = [("HELPDESK_WEBHOOK_SECRET", SECRET)];

    let (ok, stdout, stderr) = apply_env(&app, &file, &["--dry-run"], &env).await;
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains(&format!(
            "+ webhook {HOOK} (incident.opened,incident.resolved)"
        )),
        "{stdout}"
    );
    assert_eq!(app.count("webhook_endpoints").await, 0, "a dry run");

    let (ok, stdout, stderr) = apply_env(&app, &file, &[], &env).await;
    assert!(ok, "{stderr}");
    assert!(stdout.contains(&format!("+ webhook {HOOK}")), "{stdout}");
    assert!(!stdout.contains("Signing secret"), "{stdout}");
    assert!(!stdout.contains(SECRET), "{stdout}");
    assert_eq!(app_count_enabled_webhooks(&app).await, 1);
    assert_eq!(
        app.count(&format!(
            "webhook_endpoints WHERE sealed_secret LIKE '%{SECRET}%'"
        ))
        .await,
        0,
        "stored sealed"
    );
    assert_eq!(
        app.count("audit_log WHERE action = 'configuration.create' AND subject_type = 'webhook'")
            .await,
        1
    );

    // The stored secret opens to the one in the environment: nothing to do.
    let (ok, stdout, stderr) = apply_env(&app, &file, &[], &env).await;
    assert!(ok, "{stderr}");
    assert!(stdout.starts_with("No changes"), "{stdout}");

    // Another secret in the variable replaces it, without showing it.
    let (ok, stdout, stderr) = apply_env(
        &app,
        &file,
        &[],
        &[("HELPDESK_WEBHOOK_SECRET", OTHER_SECRET)],
    )
    .await;
    assert!(ok, "{stderr}");
    assert_eq!(stdout.trim(), format!("~ webhook {HOOK}: secret replaced"));
    let (_, stdout, _) = apply_env(
        &app,
        &file,
        &[],
        &[("HELPDESK_WEBHOOK_SECRET", OTHER_SECRET)],
    )
    .await;
    assert!(stdout.starts_with("No changes"), "{stdout}");

    // An events change.
    let three = r#"["incident.opened", "incident.resolved", "incident.acknowledged"]"#;
    let changed = small(5, &webhook(HOOK, three, SECRET_ENV));
    let (ok, stdout, stderr) = apply_env(
        &app,
        &changed,
        &[],
        &[("HELPDESK_WEBHOOK_SECRET", OTHER_SECRET)],
    )
    .await;
    assert!(ok, "{stderr}");
    assert_eq!(
        stdout.trim(),
        format!(
            "~ webhook {HOOK}: events incident.opened,incident.resolved -> \
             incident.opened,incident.resolved,incident.acknowledged"
        )
    );
    let listed: serde_json::Value = app
        .admin(reqwest::Method::GET, "/v1/admin/webhooks")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["items"][0]["events"].as_array().unwrap().len(), 3);
    app.stop().await;
}

async fn a_webhook_without_secret_env_gets_a_generated_secret_shown_once(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let file = small(5, &webhook(HOOK, r#"["*"]"#, ""));
    let (ok, stdout, stderr) = apply(&app, &file, &["--dry-run"]).await;
    assert!(ok, "{stderr}");
    assert!(!stdout.contains("Signing secret"), "no secret on a dry run");

    let (ok, stdout, stderr) = apply(&app, &file, &[]).await;
    assert!(ok, "{stderr}");
    let shown = stdout
        .lines()
        .find(|l| l.starts_with(&format!("Signing secret of the new webhook {HOOK}")))
        .unwrap_or_else(|| panic!("{stdout}"));
    let secret = shown.rsplit(": ").next().unwrap().to_owned();
    assert!(secret.len() >= 32, "{shown}");

    // Kept without secret_env, and it is the stored one: naming it plans nothing.
    let (_, stdout, _) = apply(&app, &file, &[]).await;
    assert!(stdout.starts_with("No changes"), "{stdout}");
    assert!(!stdout.contains(&secret));
    let with_env = small(5, &webhook(HOOK, r#"["*"]"#, SECRET_ENV));
    let (ok, stdout, stderr) = apply_env(
        &app,
        &with_env,
        &[],
        &[("HELPDESK_WEBHOOK_SECRET", &secret)],
    )
    .await;
    assert!(ok, "{stderr}");
    assert!(stdout.starts_with("No changes"), "{stdout}");
    app.stop().await;
}

async fn a_missing_secret_variable_or_a_bad_webhook_refuses_with_the_line(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let file = small(5, &webhook(HOOK, r#"["*"]"#, SECRET_ENV));
    let line = line_with(&file, "secret_env");
    for env in [vec![], vec![("HELPDESK_WEBHOOK_SECRET", "")]] {
        let (ok, stdout, stderr) = apply_env(&app, &file, &[], &env).await;
        assert!(!ok, "{stdout}");
        assert!(
            stderr.contains(&format!(
                "org.toml:{line}: webhooks[0].secret_env: the environment variable \
                 HELPDESK_WEBHOOK_SECRET is not set or empty"
            )),
            "{stderr}"
        );
    }
    // A secret too short for the gateway's checks: the gateway refuses, at the same line.
    let (ok, _, stderr) =
        apply_env(&app, &file, &[], &[("HELPDESK_WEBHOOK_SECRET", "short")]).await;
    assert!(!ok);
    assert!(
        stderr.contains(&format!(
            "org.toml:{line}: webhooks[0].secret_env: must be at least"
        )),
        "{stderr}"
    );
    // The admin route's URL and event checks (the tests allow http: a scheme it never allows).
    let ftp = small(
        5,
        &webhook(
            "ftp://helpdesk.example.com/hooks",
            r#"["incident.opened", "nope"]"#,
            "",
        ),
    );
    let (ok, _, stderr) = apply(&app, &ftp, &[]).await;
    assert!(!ok);
    let url_line = line_with(&ftp, "url = ");
    let events_line = line_with(&ftp, "events = ");
    assert!(
        stderr.contains(&format!("org.toml:{url_line}: webhooks[0].url: ")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "org.toml:{events_line}: webhooks[0].events[1]: unknown event type"
        )),
        "{stderr}"
    );
    let private = small(5, &webhook("https://10.0.0.8/hooks", r#"["*"]"#, ""));
    let (ok, _, stderr) = apply(&app, &private, &[]).await;
    assert!(!ok && stderr.contains("webhooks[0].url: "), "{stderr}");
    for table in [
        "users",
        "customers",
        "escalation_policies",
        "webhook_endpoints",
        "audit_log WHERE action LIKE 'configuration.%'",
    ] {
        assert_eq!(app.count(table).await, 0, "{table} is untouched");
    }
    app.stop().await;
}

async fn prune_disables_a_webhook_only_when_asked(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let (ok, _, stderr) = apply(&app, &small(5, &webhook(HOOK, r#"["*"]"#, "")), &[]).await;
    assert!(ok, "{stderr}");
    assert_eq!(app_count_enabled_webhooks(&app).await, 1);

    let (ok, stdout, stderr) = apply(&app, &small(5, ""), &[]).await;
    assert!(ok, "{stderr}");
    assert!(stdout.starts_with("No changes"), "{stdout}");
    assert_eq!(
        app_count_enabled_webhooks(&app).await,
        1,
        "kept without --prune"
    );

    let (ok, stdout, stderr) = apply(&app, &small(5, ""), &["--prune"]).await;
    assert!(ok, "{stderr}");
    assert_eq!(stdout.trim(), format!("- webhook {HOOK}"));
    assert_eq!(app_count_enabled_webhooks(&app).await, 0);
    assert_eq!(
        app.count("audit_log WHERE action = 'configuration.disable' AND subject_type = 'webhook'")
            .await,
        1
    );
    // Disabled, not deleted (its deliveries keep their endpoint); a second prune plans nothing.
    assert_eq!(app.count("webhook_endpoints").await, 1);
    let (_, stdout, _) = apply(&app, &small(5, ""), &["--prune"]).await;
    assert!(stdout.starts_with("No changes"), "{stdout}");
    app.stop().await;
}
