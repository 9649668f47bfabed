//! The customer's self-escalation link: the helpdesk gets a link for a ticket, the customer
//! answers the P1 questions on its page, and a P1 escalates the ticket and pages exactly as a
//! press does; not P1 explains itself and changes nothing. Used, expired, forged and
//! downgraded links say so. The HTML is read loosely, by ids and text.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use crate::on_both_backends;
use crate::support::{
    assert_problem, spawn_app, spawn_app_with, spawn_app_with_push, GoldCustomer, TestApp,
    TestBackend,
};
use panic_gateway::domain::p1_definition::Question;

on_both_backends!(
    the_helpdesk_gets_a_link_and_wrong_callers_get_none,
    the_link_is_built_on_the_public_url,
    the_page_shows_the_ticket_and_the_questions_of_the_configured_definition,
    a_p1_answer_escalates_the_ticket_pages_and_later_shows_who_acknowledged,
    an_answer_that_is_not_p1_explains_each_unmet_criterion_and_keeps_the_priority,
    a_second_submit_replays_the_first_answer,
    an_expired_link_says_so_and_changes_nothing,
    a_forged_or_altered_token_is_not_found,
    a_customer_downgraded_after_the_link_was_issued_is_refused,
    bad_form_input_is_a_400_page_naming_the_field,
    a_post_from_another_site_is_refused,
);

const WAIT: Duration = Duration::from_secs(20);
const P1_FORM: &str = "production_down=yes&users_affected=some&workaround_available=yes";
const MINOR_FORM: &str =
    "production_down=no&users_affected=some&workaround_available=yes&affected_service=reports";

/// A helpdesk key (`tickets:write`).
async fn helpdesk_key(app: &TestApp) -> String {
    let created = app
        .admin_post(
            "/v1/admin/api-keys",
            json!({ "name": "helpdesk", "scopes": ["tickets:write"] }),
            201,
        )
        .await;
    created["key"].as_str().unwrap().to_owned()
}

/// A P3 ticket of `customer`, as the helpdesk files it; returns its id.
async fn p3_ticket(app: &TestApp, customer: &str) -> String {
    let t = app
        .admin_post(
            "/v1/tickets",
            json!({
                "customer_id": customer, "external_ref": "HD-4711",
                "subject": "Checkout errors for some users", "priority": "P3",
            }),
            201,
        )
        .await;
    t["id"].as_str().unwrap().to_owned()
}

async fn ask_link(app: &TestApp, key: &str, ticket: &str) -> reqwest::Response {
    app.with_token(
        Method::POST,
        &format!("/v1/tickets/{ticket}/escalation-link"),
        key,
    )
    .send()
    .await
    .unwrap()
}

/// The path of a fresh link for `ticket` (`/escalate/<token>`).
async fn link(app: &TestApp, ticket: &str) -> String {
    let key = helpdesk_key(app).await;
    let res = ask_link(app, &key, ticket).await;
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    let url = body["url"].as_str().unwrap();
    url.strip_prefix(&app.address)
        .unwrap_or_else(|| panic!("{url} is on {}", app.address))
        .to_owned()
}

async fn submit(app: &TestApp, path: &str, form: &str) -> (u16, String) {
    let res = app
        .client
        .post(app.url(path))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form.to_owned())
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

async fn page(app: &TestApp, path: &str) -> (u16, String) {
    let res = app.get(path).await;
    (res.status().as_u16(), res.text().await.unwrap())
}

async fn ticket(app: &TestApp, id: &str) -> Value {
    let tickets: Value = app
        .admin(Method::GET, "/v1/tickets")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    tickets
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == id)
        .cloned()
        .unwrap()
}

/// The incident count, pages queued and the ticket's priority: what an answer may change.
async fn footprint(app: &TestApp, ticket_id: &str) -> (i64, i64, Value) {
    (
        app.count("incidents").await,
        app.count("deliveries").await,
        ticket(app, ticket_id).await["priority"].clone(),
    )
}

async fn gold_ticket(app: &TestApp) -> (GoldCustomer, String) {
    let c = app.gold_customer().await;
    let t = p3_ticket(app, &c.customer_id).await;
    (c, t)
}

async fn the_helpdesk_gets_a_link_and_wrong_callers_get_none(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let (c, t) = gold_ticket(&app).await;
    let key = helpdesk_key(&app).await;

    let res = ask_link(&app, &key, &t).await;
    assert_eq!(res.status(), 201);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let body: Value = res.json().await.unwrap();
    let url = body["url"].as_str().unwrap();
    let token = url
        .strip_prefix(&format!("{}/escalate/", app.address))
        .unwrap_or_else(|| panic!("{body}"));
    assert_eq!(token.len(), 43, "256 random bits, base64url: {token}");
    let expires: chrono::DateTime<chrono::Utc> =
        body["expires_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(expires, app.clock_now() + chrono::Duration::days(7));
    // Stored as a digest, never the token itself; the issue is audited.
    assert_eq!(
        app.count(&format!("escalation_links WHERE token_hash = '{token}'"))
            .await,
        0
    );
    assert_eq!(
        app.count("audit_log WHERE action = 'escalation_link.create'")
            .await,
        1
    );

    let res = app
        .client
        .post(app.url(&format!("/v1/tickets/{t}/escalation-link")))
        .send()
        .await
        .unwrap();
    assert_problem(res, 401).await;
    let res = ask_link(&app, "pgw_admin_not-a-key", &t).await;
    assert_problem(res, 401).await;
    let reports = app
        .admin_post(
            "/v1/admin/api-keys",
            json!({ "name": "bi", "scopes": ["reports:read"] }),
            201,
        )
        .await;
    let res = ask_link(&app, reports["key"].as_str().unwrap(), &t).await;
    let problem = assert_problem(res, 403).await;
    assert_eq!(problem["required_scope"], "tickets:write");
    let res = ask_link(&app, &c.contact.access_token, &t).await;
    assert_problem(res, 401).await;

    let res = ask_link(&app, &key, "no-such-ticket").await;
    let problem = assert_problem(res, 404).await;
    assert!(problem["detail"]
        .as_str()
        .unwrap()
        .contains("no-such-ticket"));

    // A Silver customer has no panic button: its page could only refuse.
    let silver = app.create_customer("Beta Ltd", "silver", None).await;
    let silver_ticket = app
        .admin_post(
            "/v1/tickets",
            json!({ "customer_id": silver, "external_ref": "HD-1", "subject": "x", "priority": "P3" }),
            201,
        )
        .await;
    let res = ask_link(&app, &key, silver_ticket["id"].as_str().unwrap()).await;
    let problem = assert_problem(res, 409).await;
    assert!(problem["type"]
        .as_str()
        .unwrap()
        .ends_with("escalation-not-in-tier"));
    assert!(problem["detail"].as_str().unwrap().contains("silver"));
    assert_eq!(
        app.count("escalation_links").await,
        1,
        "refusals issue nothing"
    );
}

async fn the_link_is_built_on_the_public_url(backend: TestBackend) {
    let app = spawn_app_with(backend, |s| {
        s.server.public_url = "https://help.example.com/gateway/".into();
        s.escalation_links.ttl_hours = 48;
    })
    .await;
    let (_, t) = gold_ticket(&app).await;
    let key = helpdesk_key(&app).await;
    let body: Value = ask_link(&app, &key, &t).await.json().await.unwrap();
    let url = body["url"].as_str().unwrap();
    let token = url
        .strip_prefix("https://help.example.com/gateway/escalate/")
        .unwrap_or_else(|| panic!("{url}"));
    let expires: chrono::DateTime<chrono::Utc> =
        body["expires_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(expires, app.clock_now() + chrono::Duration::hours(48));
    // The same page, reached directly (as the proxy in front would).
    let (status, html) = page(&app, &format!("/escalate/{token}")).await;
    assert_eq!(status, 200);
    assert!(html.contains("HD-4711"));
}

async fn the_page_shows_the_ticket_and_the_questions_of_the_configured_definition(
    backend: TestBackend,
) {
    let app = spawn_app(backend).await;
    let (_, t) = gold_ticket(&app).await;
    let path = link(&app, &t).await;
    let res = app.get(&path).await;
    assert_eq!(res.status(), 200);
    let h = res.headers();
    assert_eq!(h["content-type"], "text/html; charset=utf-8");
    assert_eq!(h["referrer-policy"], "same-origin");
    assert_eq!(h["cache-control"], "no-store");
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"));
    let html = res.text().await.unwrap();
    for shown in [
        "HD-4711",
        "Checkout errors for some users",
        "P3",
        "open",
        "Acme Corp",
        "id=\"escalate-form\"",
        "Production is down",
        "All users are affected and there is no workaround",
    ] {
        assert!(html.contains(shown), "{shown} missing from {html}");
    }
    for q in [
        Question::ProductionDown,
        Question::UsersAffected,
        Question::WorkaroundAvailable,
    ] {
        assert!(html.contains(q.text()), "{q:?}");
        assert!(html.contains(&format!("name=\"{}\"", q.field())), "{q:?}");
    }
    assert!(!html.contains("<script"), "no script is needed");
    assert!(html.len() < 150 * 1024);

    // A definition that depends on one question asks only that one.
    let app = spawn_app_with(backend, |s| {
        s.p1 = serde_json::from_value(json!({
            "rules": [{ "name": "Most or all users", "users_affected": ["most", "all"] }]
        }))
        .unwrap();
    })
    .await;
    let (_, t) = gold_ticket(&app).await;
    let path = link(&app, &t).await;
    let (status, html) = page(&app, &path).await;
    assert_eq!(status, 200);
    assert!(html.contains("Most or all users"));
    assert!(html.contains("name=\"users_affected\""));
    assert!(!html.contains("name=\"production_down\""), "{html}");
    assert!(!html.contains("name=\"workaround_available\""));
    // And classifies by it: "most" is P1 here, without the questions it did not ask.
    let (status, html) = submit(&app, &path, "users_affected=most").await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("Escalated to Priority 1"), "{html}");
}

async fn a_p1_answer_escalates_the_ticket_pages_and_later_shows_who_acknowledged(
    backend: TestBackend,
) {
    let app = spawn_app_with_push(backend, |_| {}).await;
    let (c, t) = gold_ticket(&app).await;
    app.admin_post(
        "/v1/admin/webhooks",
        json!({ "url": "http://127.0.0.1:9/hook", "events": ["*"] }),
        201,
    )
    .await;
    let path = link(&app, &t).await;

    let (status, html) = submit(&app, &path, P1_FORM).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("id=\"answer\""));
    assert!(html.contains("Escalated to Priority 1"));
    assert!(html.contains("Production is down"), "the rule it met");
    assert!(html.contains("id=\"paging\""));
    assert!(html.contains("Alice Manager"), "who is paged: {html}");
    assert!(html.contains("id=\"not-acknowledged\""));

    // The ticket is P1 and the account manager's phone gets the page.
    assert_eq!(ticket(&app, &t).await["priority"], "P1");
    app.mocks()
        .apns
        .wait_accepted(Some(&c.account_manager.push_token), 1, WAIT)
        .await;

    // The incident is the app's: on the ticket, on the responder's list, on the timeline.
    let mine: Value = app
        .with_token(
            Method::GET,
            "/v1/responders/me/incidents",
            &c.account_manager.access_token,
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let incident = mine[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(mine[0]["ticket_ref"], "HD-4711", "{mine}");
    let kinds: Vec<String> = app
        .timeline_rows(&incident)
        .await
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_owned())
        .collect();
    for kind in ["created", "paged", "classified"] {
        assert!(kinds.iter().any(|k| k == kind), "{kind} in {kinds:?}");
    }
    let classified = app
        .timeline_rows(&incident)
        .await
        .into_iter()
        .find(|e| e["kind"] == "classified")
        .unwrap();
    assert_eq!(classified["detail"]["via"], "escalation_link");
    assert_eq!(classified["detail"]["priority"], "P1");
    for event in ["incident.opened", "ticket.priority_changed"] {
        assert_eq!(
            app.count(&format!("webhook_deliveries WHERE event_type = '{event}'"))
                .await,
            1,
            "{event} sent to the helpdesk"
        );
    }
    assert_eq!(
        app.count("audit_log WHERE action = 'escalation_link.answered'")
            .await,
        1
    );

    // Alice acknowledges; the customer's page says so.
    let res = app
        .with_token(
            Method::POST,
            &format!("/v1/incidents/{incident}/acknowledge"),
            &c.account_manager.access_token,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let (status, html) = page(&app, &path).await;
    assert_eq!(status, 200);
    assert!(html.contains("id=\"acknowledged-by\""), "{html}");
    assert!(
        html.contains("Alice Manager</strong> acknowledged"),
        "{html}"
    );
    assert!(
        !html.contains("id=\"escalate-form\""),
        "answered: no form again"
    );
}

async fn an_answer_that_is_not_p1_explains_each_unmet_criterion_and_keeps_the_priority(
    backend: TestBackend,
) {
    let app = spawn_app(backend).await;
    let (_, t) = gold_ticket(&app).await;
    let path = link(&app, &t).await;

    let (status, html) = submit(&app, &path, MINOR_FORM).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("Not escalated"));
    assert!(html.contains("id=\"unmet-criteria\""));
    for unmet in [
        "Production is down: you told us production is not down.",
        "All users are affected and there is no workaround: you told us some users are \
         affected, and this needs all users; you told us a workaround exists.",
    ] {
        assert!(html.contains(unmet), "{unmet} in {html}");
    }
    assert!(
        html.contains("<strong id=\"kept-priority\">P3</strong>"),
        "{html}"
    );
    assert_eq!(footprint(&app, &t).await, (0, 0, json!("P3")));
    assert_eq!(
        app.count("incident_events WHERE kind = 'classified'").await,
        1,
        "on the ticket's timeline"
    );
}

async fn a_second_submit_replays_the_first_answer(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let (_, t) = gold_ticket(&app).await;

    // P1 first: a second submit, even of other answers, pages nobody again.
    let path = link(&app, &t).await;
    let (status, first) = submit(&app, &path, P1_FORM).await;
    assert_eq!(status, 200);
    let before = footprint(&app, &t).await;
    assert_eq!(before.0, 1);
    let (status, again) = submit(&app, &path, MINOR_FORM).await;
    assert_eq!(status, 200);
    assert!(again.contains("Escalated to Priority 1"), "{again}");
    assert_eq!(footprint(&app, &t).await, before);
    let answered_at = |html: &str| {
        html.split("id=\"answered-at\"")
            .nth(1)
            .unwrap()
            .split('<')
            .next()
            .unwrap()
            .to_owned()
    };
    assert_eq!(answered_at(&first), answered_at(&again));
    // A bad form on a used link replays too.
    let (status, _) = submit(&app, &path, "production_down=maybe").await;
    assert_eq!(status, 200);

    // Not P1 first: a second submit that would be P1 does not escalate.
    let other = app
        .admin_post(
            "/v1/tickets",
            json!({
                "customer_id": ticket(&app, &t).await["customer_id"], "external_ref": "HD-4712",
                "subject": "Slow exports", "priority": "P3",
            }),
            201,
        )
        .await;
    let other = other["id"].as_str().unwrap();
    let path = link(&app, other).await;
    let (_, first) = submit(&app, &path, MINOR_FORM).await;
    assert!(first.contains("Not escalated"));
    app.clock.advance(chrono::Duration::minutes(1));
    let (status, again) = submit(&app, &path, P1_FORM).await;
    assert_eq!(status, 200);
    assert!(again.contains("Not escalated"), "{again}");
    assert_eq!(answered_at(&first), answered_at(&again));
    assert_eq!(ticket(&app, other).await["priority"], "P3");
    assert_eq!(app.count("incidents").await, 1);
    assert_eq!(
        app.count("audit_log WHERE action = 'escalation_link.answered'")
            .await,
        2
    );
}

async fn an_expired_link_says_so_and_changes_nothing(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let (_, t) = gold_ticket(&app).await;
    let path = link(&app, &t).await;
    app.clock
        .advance(chrono::Duration::days(7) - chrono::Duration::seconds(1));
    assert_eq!(page(&app, &path).await.0, 200, "works until it expires");
    app.clock.advance(chrono::Duration::seconds(1));
    let (status, html) = page(&app, &path).await;
    assert_eq!(status, 410);
    assert!(html.contains("This link has expired"), "{html}");
    assert!(html.contains("id=\"refusal\""));
    let (status, html) = submit(&app, &path, P1_FORM).await;
    assert_eq!(status, 410);
    assert!(html.contains("expired"));
    assert_eq!(footprint(&app, &t).await, (0, 0, json!("P3")));
}

async fn a_forged_or_altered_token_is_not_found(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let (_, t) = gold_ticket(&app).await;
    let path = link(&app, &t).await;
    let mut altered = path.clone().into_bytes();
    let last = altered.last_mut().unwrap();
    *last = if *last == b'A' { b'B' } else { b'A' };
    let altered = String::from_utf8(altered).unwrap();
    let forged = format!(
        "/escalate/{}",
        panic_gateway::auth::secrets::random_token(32)
    );
    for bad in [
        altered.as_str(),
        forged.as_str(),
        "/escalate/short",
        "/escalate/x%20y",
    ] {
        let (status, html) = page(&app, bad).await;
        assert_eq!(status, 404, "{bad}");
        assert!(html.contains("This link is not valid"), "{bad}: {html}");
        let (status, _) = submit(&app, bad, P1_FORM).await;
        assert_eq!(status, 404, "{bad}");
    }
    assert_eq!(footprint(&app, &t).await, (0, 0, json!("P3")));
    assert_eq!(page(&app, &path).await.0, 200, "the real one still works");
}

async fn a_customer_downgraded_after_the_link_was_issued_is_refused(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let (c, t) = gold_ticket(&app).await;
    let path = link(&app, &t).await;
    let tier = |tier: &'static str| {
        app.admin(
            Method::PATCH,
            &format!("/v1/admin/customers/{}", c.customer_id),
        )
        .json(&json!({ "tier": tier }))
        .send()
    };
    assert_eq!(tier("silver").await.unwrap().status(), 200);

    let (status, html) = submit(&app, &path, P1_FORM).await;
    assert_eq!(status, 403, "{html}");
    assert!(html.contains("id=\"refusal\""));
    assert!(
        html.contains("Gold feature") && html.contains("Silver"),
        "{html}"
    );
    assert_eq!(footprint(&app, &t).await, (0, 0, json!("P3")));
    assert_eq!(
        app.count("audit_log WHERE action = 'escalation_link.refused'")
            .await,
        1,
        "audited, as a refused press is"
    );
    let (status, html) = page(&app, &path).await;
    assert_eq!(status, 403, "the page refuses too, without the questions");
    assert!(!html.contains("id=\"escalate-form\""));

    // Gold again: the unused link works.
    assert_eq!(tier("gold").await.unwrap().status(), 200);
    let (status, html) = submit(&app, &path, P1_FORM).await;
    assert_eq!(status, 200);
    assert!(html.contains("Escalated to Priority 1"), "{html}");
}

async fn bad_form_input_is_a_400_page_naming_the_field(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let (_, t) = gold_ticket(&app).await;
    let path = link(&app, &t).await;
    let long = "x".repeat(101);
    let (status, html) = submit(
        &app,
        &path,
        &format!("production_down=maybe&users_affected=all&affected_service={long}"),
    )
    .await;
    assert_eq!(status, 400, "{html}");
    assert!(html.contains("id=\"form-errors\""));
    for field in [
        "production_down",
        "workaround_available",
        "affected_service",
    ] {
        assert!(
            html.contains(&format!("data-field=\"{field}\"")),
            "{field} named in {html}"
        );
    }
    assert!(!html.contains("data-field=\"users_affected\""));
    assert!(
        html.contains("id=\"users_affected-all\" value=\"all\" required checked"),
        "what was chosen stays chosen: {html}"
    );
    assert_eq!(footprint(&app, &t).await, (0, 0, json!("P3")));
    // Nothing was used up: the form is still there and works.
    let (status, html) = page(&app, &path).await;
    assert_eq!(status, 200);
    assert!(html.contains("id=\"escalate-form\""));
    let (status, _) = submit(&app, &path, P1_FORM).await;
    assert_eq!(status, 200);
}

async fn a_post_from_another_site_is_refused(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let (_, t) = gold_ticket(&app).await;
    let path = link(&app, &t).await;
    let post = |origin: &str| {
        app.client
            .post(app.url(&path))
            .header("origin", origin)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(MINOR_FORM)
            .send()
    };
    for origin in ["https://evil.example", "null"] {
        let res = post(origin).await.unwrap();
        assert_eq!(res.status(), 403, "{origin}");
        assert!(res.text().await.unwrap().contains("another site"));
    }
    assert_eq!(
        app.count("escalation_links WHERE used_at IS NOT NULL")
            .await,
        0
    );
    let res = post(&app.address).await.unwrap();
    assert_eq!(res.status(), 200, "the page's own origin");
    assert!(res.text().await.unwrap().contains("Not escalated"));
}
