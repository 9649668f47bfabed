//! Console pages 5-7 over HTTP on both backends: Customers and people (read by managers,
//! acted on by admins: revoke a device, issue an enrollment code shown as a QR code), SLA
//! (charts, CSV, a bad range named) and Webhooks (test events). Who may do what, forged forms
//! refused, and that a refusal changes nothing.

use chrono::Duration;
use panic_gateway::phone::{simulated_push_token, Phone};
use serde_json::{json, Value};

use crate::on_both_backends;
use crate::support::console::location;
use crate::support::{p1_press, spawn_app, TestBackend};

on_both_backends!(
    managers_read_people_and_only_admins_revoke_devices,
    an_admin_issues_an_enrollment_code_as_a_qr_code_that_enrolls_once,
    the_sla_page_charts_each_tier_and_downloads_the_report_csv,
    admins_send_test_webhooks_to_live_endpoints_only,
);

async fn managers_read_people_and_only_admins_revoke_devices(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let gold = app.gold_customer().await;
    let device = gold.account_manager.device_id.clone();
    let live = format!("devices WHERE id = '{device}' AND revoked_at IS NULL");
    let morgan = app.staff("support_manager", false, "Morgan Manager").await;
    let riley = app.staff("responder", false, "Riley Responder").await;
    let ada = app.staff("responder", true, "Ada Admin").await;

    // A responder may not open it.
    let res = app.console_as(&riley).await.get("/console/people").await;
    assert_eq!(res.status(), 403);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains("support managers and admins"));

    // A manager reads it, without buttons, and is refused the revoke itself.
    let manager = app.console_as(&morgan).await;
    let html = manager.page("/console/people").await;
    assert!(html.contains("Acme Corp") && html.contains("Alice Manager") && html.contains("Gold"));
    assert!(html.contains(&format!("id=\"device-{device}\"")));
    assert!(
        !html.contains("/revoke\"") && !html.contains("enrollment-code\""),
        "read-only"
    );
    let csrf = manager.csrf().await;
    let res = manager
        .post_form(
            &format!("/console/devices/{device}/revoke"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(res.status(), 403);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains("This page is for admins"));
    assert_eq!(app.count(&live).await, 1, "nothing changed");

    // An admin: a forged form is refused, the real one revokes (audited as the admin).
    let admin = app.console_as(&ada).await;
    let html = admin.page("/console/people").await;
    assert!(html.contains(&format!("/console/devices/{device}/revoke")));
    let res = admin
        .post_form(
            &format!("/console/devices/{device}/revoke"),
            &[("csrf", "forged")],
        )
        .await;
    assert_eq!(res.status(), 403);
    assert_eq!(app.count(&live).await, 1, "nothing changed");
    let csrf = admin.csrf().await;
    let res = admin
        .post_form(
            &format!("/console/devices/{device}/revoke"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert!(location(&res).starts_with("/console/people#user-"));
    assert_eq!(app.count(&live).await, 0, "revoked");
    assert_eq!(
        app.count(&format!(
            "audit_log WHERE action = 'device.revoked' AND subject_id = '{device}' AND actor = 'staff:{}'",
            ada.user_id
        ))
        .await,
        1
    );
    // The revoked phone is refused by the API, as after the admin route.
    let me = app
        .with_token(
            reqwest::Method::GET,
            "/v1/devices/me",
            &gold.account_manager.access_token,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 401);
    let res = admin
        .post_form("/console/devices/no-such-device/revoke", &[("csrf", &csrf)])
        .await;
    assert_eq!(res.status(), 404);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains("There is no device no-such-device."));
}

async fn an_admin_issues_an_enrollment_code_as_a_qr_code_that_enrolls_once(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let gold = app.gold_customer().await;
    let carl = gold.contact.user_id.clone();
    let ada = app.staff("support_manager", true, "Ada Admin").await;
    let morgan = app.staff("support_manager", false, "Morgan Manager").await;
    let path = format!("/console/people/{carl}/enrollment-code");

    let manager = app.console_as(&morgan).await;
    let csrf = manager.csrf().await;
    let res = manager.post_form(&path, &[("csrf", &csrf)]).await;
    assert_eq!(res.status(), 403);
    assert_eq!(
        app.count("enrollment_codes").await,
        2,
        "only the fixture's codes"
    );

    let admin = app.console_as(&ada).await;
    let csrf = admin.csrf().await;
    let res = admin.post_form(&path, &[("csrf", &csrf)]).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let html = res.text().await.unwrap();
    assert!(
        html.contains("<svg role=\"img\" class=\"qr\""),
        "an inline SVG QR code"
    );
    assert!(!html.contains("<?xml"));
    let code_at = html.find("id=\"enroll-code\">").expect("the text code") + 17;
    let code = &html[code_at..code_at + 11];
    assert_eq!(code.len(), 11);
    assert_eq!(&code[5..6], "-", "{code}");
    assert!(html.contains("id=\"enroll-expires\""));
    assert!(html.contains(&app.address), "names the gateway");
    assert_eq!(app.count("enrollment_codes").await, 3);

    // The code works once, for Carl.
    let phone = Phone::enroll(
        &app.address,
        code,
        "ios",
        &simulated_push_token("ios"),
        "New",
    )
    .await
    .expect("the code enrolls");
    assert_eq!(phone.session.user_id, carl);
    let again = app
        .client
        .post(app.url("/v1/devices/enroll"))
        .json(&json!({
            "code": code, "platform": "ios", "push_token": simulated_push_token("ios"),
            "app_version": "1", "device_name": "Again",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 401);

    let res = admin
        .post_form("/console/people/nobody/enrollment-code", &[("csrf", &csrf)])
        .await;
    assert_eq!(res.status(), 404);
    assert_eq!(app.count("enrollment_codes").await, 3, "none for nobody");
}

async fn the_sla_page_charts_each_tier_and_downloads_the_report_csv(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let gold = app.gold_customer().await;
    let body: Value = app
        .press(&gold.contact, "s1", &p1_press("web"))
        .await
        .json()
        .await
        .unwrap();
    assert!(body["incident"]["id"].is_string());
    app.clock.advance(Duration::minutes(40));
    let morgan = app.staff("support_manager", false, "Morgan Manager").await;
    let riley = app.staff("responder", false, "Riley Responder").await;

    assert_eq!(
        app.console_as(&riley)
            .await
            .get("/console/sla")
            .await
            .status(),
        403
    );
    let manager = app.console_as(&morgan).await;
    let html = manager.page("/console/sla").await;
    assert!(html.contains("id=\"tier-gold\""));
    assert!(html.contains("<svg id=\"tta-gold\"") && html.contains("<svg id=\"breaches-gold\""));
    assert!(
        html.contains("id=\"breaches\""),
        "the unacknowledged press breached"
    );
    assert!(html.contains("Acme Corp"));
    assert!(!html.contains("style="), "nothing the CSP would refuse");

    let res = manager.get("/console/sla.csv?weeks=4").await;
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    assert!(res.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment; filename=\"sla-"));
    let csv = res.text().await.unwrap();
    assert_eq!(csv.lines().count(), 2, "{csv}");
    assert!(csv.starts_with("incident_id,ticket_ref,customer"));

    for bad in ["0", "53", "eight"] {
        let res = manager.get(&format!("/console/sla?weeks={bad}")).await;
        assert_eq!(res.status(), 400, "weeks={bad}");
        assert!(res
            .text()
            .await
            .unwrap()
            .contains("weeks: must be a whole number"));
    }
}

async fn admins_send_test_webhooks_to_live_endpoints_only(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let live = app
        .admin_post(
            "/v1/admin/webhooks",
            json!({ "url": "https://helpdesk.example.com/hook" }),
            201,
        )
        .await;
    let gone = app
        .admin_post(
            "/v1/admin/webhooks",
            json!({ "url": "https://old.example.com/hook" }),
            201,
        )
        .await;
    let gone_id = gone["id"].as_str().unwrap();
    let res = app
        .admin(
            reqwest::Method::DELETE,
            &format!("/v1/admin/webhooks/{gone_id}"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let morgan = app.staff("support_manager", false, "Morgan Manager").await;
    let ada = app.staff("support_manager", true, "Ada Admin").await;
    let tests = "webhook_deliveries WHERE event_type = 'webhook.test'";

    let manager = app.console_as(&morgan).await;
    assert_eq!(manager.get("/console/webhooks").await.status(), 403);

    let admin = app.console_as(&ada).await;
    let html = admin.page("/console/webhooks").await;
    assert!(html.contains("https://helpdesk.example.com/hook") && html.contains("disabled"));
    let live_id = live["id"].as_str().unwrap();
    assert!(html.contains(&format!("/console/webhooks/{live_id}/test")));
    assert!(
        !html.contains(&format!("/console/webhooks/{gone_id}/test")),
        "no button"
    );
    assert!(
        !html.contains(live["secret"].as_str().unwrap()),
        "secrets never shown"
    );

    let csrf = admin.csrf().await;
    let res = admin
        .post_form(
            &format!("/console/webhooks/{live_id}/test"),
            &[("csrf", "forged")],
        )
        .await;
    assert_eq!(res.status(), 403);
    assert_eq!(app.count(tests).await, 0);

    let res = admin
        .post_form(
            &format!("/console/webhooks/{gone_id}/test"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(location(&res), "/console/webhooks?test=disabled");
    assert_eq!(app.count(tests).await, 0, "nothing for a disabled endpoint");
    assert!(admin
        .page(&location(&res))
        .await
        .contains("That endpoint is disabled"));

    let res = admin
        .post_form(
            &format!("/console/webhooks/{live_id}/test"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/console/webhooks?test=queued");
    assert_eq!(
        app.count(&format!("{tests} AND endpoint_id = '{live_id}'"))
            .await,
        1
    );
    assert_eq!(
        app.count(&format!(
            "audit_log WHERE action = 'webhook.test_queued' AND actor = 'staff:{}'",
            ada.user_id
        ))
        .await,
        1
    );
    let html = admin.page("/console/webhooks?test=queued").await;
    assert!(html.contains("A test event was queued") && html.contains("webhook.test"));

    let res = admin
        .post_form("/console/webhooks/nope/test", &[("csrf", &csrf)])
        .await;
    assert_eq!(res.status(), 404);
}
