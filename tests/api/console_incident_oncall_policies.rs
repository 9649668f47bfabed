//! The console's Incident, On-call and Policies pages through HTTP on both backends: who may
//! open and change what, the form refusals (shown next to the field, nothing stored), notes
//! through the console and the phones' route, overrides through the same validation as the
//! admin API, and the promise check's arithmetic on a refused policy. The browser half is
//! tests/browser/{incident,oncall,policies}.rs.

use serde_json::json;

use crate::on_both_backends;
use crate::support::console::{input_value, location};
use crate::support::{assert_problem, p1_press, spawn_app, TestApp, TestBackend};

on_both_backends!(
    the_incident_page_is_for_those_involved_and_takes_notes,
    notes_from_a_phone_go_on_the_same_timeline,
    overrides_from_the_console_are_validated_like_the_api,
    policy_edits_are_for_admins_and_a_chain_that_breaks_the_promise_is_not_saved,
);

/// A Gold customer's press; returns the incident id.
async fn pressed(app: &TestApp, phone: &crate::support::Phone, key: &str, service: &str) -> String {
    let res = app.press(phone, key, &p1_press(service)).await;
    assert_eq!(res.status().as_u16(), 201);
    let body: serde_json::Value = res.json().await.unwrap();
    body["incident"]["id"].as_str().unwrap().to_owned()
}

async fn the_incident_page_is_for_those_involved_and_takes_notes(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let gold = app.gold_customer().await;
    let id = pressed(&app, &gold.contact, "pages-1", "billing").await;
    let morgan = app.staff("support_manager", false, "Morgan Manager").await;
    let riley = app.staff("responder", false, "Riley Responder").await;

    // Riley was not paged and manages no customer: refused, as on the board.
    let riley_console = app.console_as(&riley).await;
    let res = riley_console.get(&format!("/console/incidents/{id}")).await;
    assert_eq!(res.status().as_u16(), 403);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains("This page is for the responders paged"));
    assert_eq!(
        riley_console
            .get(&format!("/console/incidents/{id}/live"))
            .await
            .status()
            .as_u16(),
        403
    );

    let console = app.console_as(&morgan).await;
    let html = console.page(&format!("/console/incidents/{id}")).await;
    assert!(
        html.contains("Acme Corp") && html.contains("billing"),
        "header"
    );
    assert!(
        html.contains("Panic alert opened this incident"),
        "timeline in words"
    );
    assert!(
        html.contains("Paged Alice Manager (step 1 of pass 1"),
        "{html}"
    );
    assert!(html.contains("id=\"pages\""), "the pages table");
    assert!(html.contains("Alice Manager") && html.contains("push · ios phone (ios)"));
    assert!(html.contains("UTC"), "times in UTC");
    // The board links here.
    assert!(console
        .page("/console")
        .await
        .contains(&format!("href=\"/console/incidents/{id}\"")));
    assert_eq!(
        console
            .get("/console/incidents/no-such-id")
            .await
            .status()
            .as_u16(),
        404
    );

    // An empty note: 422, the reason next to the field, nothing on the timeline.
    let csrf = input_value(&html, "csrf").unwrap();
    let notes = format!("/console/incidents/{id}/notes");
    let res = console
        .post_form(&notes, &[("csrf", &csrf), ("text", "   ")])
        .await;
    assert_eq!(res.status().as_u16(), 422);
    let refused = res.text().await.unwrap();
    assert!(refused.contains("id=\"note-error\"") && refused.contains("Note must not be empty."));
    let too_long = "x".repeat(2001);
    let res = console
        .post_form(&notes, &[("csrf", &csrf), ("text", &too_long)])
        .await;
    assert_eq!(res.status().as_u16(), 422);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains("must be at most 2000 characters"));
    // Without the token: the CSRF page, nothing stored.
    let res = console.post_form(&notes, &[("text", "forged")]).await;
    assert_eq!(res.status().as_u16(), 403);
    assert_eq!(
        app.count(&format!(
            "incident_events WHERE incident_id = '{id}' AND kind = 'note'"
        ))
        .await,
        0
    );

    let res = console
        .post_form(
            &notes,
            &[
                ("csrf", &csrf),
                ("text", "Looking at the billing logs <now>"),
            ],
        )
        .await;
    assert_eq!(res.status().as_u16(), 303);
    assert_eq!(location(&res), format!("/console/incidents/{id}#timeline"));
    let html = console.page(&format!("/console/incidents/{id}")).await;
    assert!(
        html.contains("Morgan Manager wrote: Looking at the billing logs &lt;now&gt;"),
        "the note, escaped, on the timeline"
    );
    let rows = app.timeline_rows(&id).await;
    let note = rows
        .iter()
        .find(|r| r["kind"] == "note")
        .expect("a note event");
    assert_eq!(note["detail"]["user_id"], morgan.user_id.as_str());

    // Acknowledge from the incident page without JavaScript: back to the incident.
    let res = console
        .post_form(
            &format!("/console/incidents/{id}/acknowledge"),
            &[("csrf", &csrf), ("view", "incident")],
        )
        .await;
    assert_eq!(res.status().as_u16(), 303);
    assert_eq!(location(&res), format!("/console/incidents/{id}"));
    // With htmx: the live part, not the board.
    let res = console
        .post_form_with(
            &format!("/console/incidents/{id}/resolve"),
            &[("view", "incident")],
            &[("hx-request", "true"), ("x-csrf-token", &csrf)],
        )
        .await;
    assert_eq!(res.status().as_u16(), 200);
    let fragment = res.text().await.unwrap();
    assert!(
        fragment.starts_with("<section id=\"incident-live\""),
        "{fragment}"
    );
    assert!(fragment.contains("Resolved by Morgan Manager."));
    assert!(!fragment.contains("<html"), "a fragment, not a page");
}

async fn notes_from_a_phone_go_on_the_same_timeline(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let gold = app.gold_customer().await;
    let id = pressed(&app, &gold.contact, "pages-2", "checkout").await;
    let path = format!("/v1/incidents/{id}/notes");
    let am = &gold.account_manager.access_token;

    let res = app
        .with_token(reqwest::Method::POST, &path, am)
        .json(&json!({ "text": "  " }))
        .send()
        .await
        .unwrap();
    let problem = assert_problem(res, 422).await;
    assert_eq!(problem["errors"][0]["field"], "text", "{problem}");
    // A customer's contact is no responder.
    let res = app
        .with_token(reqwest::Method::POST, &path, &gold.contact.access_token)
        .json(&json!({ "text": "hello" }))
        .send()
        .await
        .unwrap();
    assert_problem(res, 403).await;
    // A responder with no part in it.
    let other = app.create_user("responder", None, "Olly Other").await;
    let olly = app.enroll(&other, "android").await;
    let res = app
        .with_token(reqwest::Method::POST, &path, &olly.access_token)
        .json(&json!({ "text": "hello" }))
        .send()
        .await
        .unwrap();
    let problem = assert_problem(res, 403).await;
    assert!(problem["detail"]
        .as_str()
        .unwrap()
        .contains("may add a note"));
    assert_eq!(
        app.count(&format!(
            "incident_events WHERE incident_id = '{id}' AND kind = 'note'"
        ))
        .await,
        0
    );

    let res = app
        .with_token(reqwest::Method::POST, &path, am)
        .json(&json!({ "text": "Calling the customer" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 201);
    let note: serde_json::Value = res.json().await.unwrap();
    assert_eq!(note["kind"], "note");
    assert_eq!(note["detail"]["name"], "Alice Manager");
    // Responders read it back; the customer's allow-listed view never shows it.
    let full: serde_json::Value = app
        .with_token(reqwest::Method::GET, &format!("/v1/incidents/{id}"), am)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(full["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["kind"] == "note"));
    let customer: serde_json::Value = app
        .with_token(
            reqwest::Method::GET,
            &format!("/v1/incidents/{id}"),
            &gold.contact.access_token,
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(!customer.to_string().contains("Calling the customer"));
}

/// A schedule in `zone` with `user` on call all the time (daily turns from 2020).
async fn schedule(app: &TestApp, name: &str, zone: &str, user: &str) -> String {
    let body = app
        .admin_post(
            "/v1/admin/schedules",
            json!({ "name": name, "role": "primary", "time_zone": zone,
                    "rotations": [{ "name": "daily", "participants": [user], "turn": "daily",
                                    "handoff_time": "09:00:00", "start_date": "2020-01-01" }] }),
            201,
        )
        .await;
    body["id"].as_str().unwrap().to_owned()
}

async fn overrides_from_the_console_are_validated_like_the_api(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let pat = app.create_user("responder", None, "Pat Primary").await;
    let sam = app.create_user("responder", None, "Sam Second").await;
    let id = schedule(&app, "Primary on-call", "Europe/Paris", &pat).await;
    let riley = app.staff("responder", false, "Riley Responder").await;
    let morgan = app.staff("support_manager", false, "Morgan Manager").await;
    let path = format!("/console/oncall/{id}/overrides");
    let overrides = || {
        let app = &app;
        let id = id.clone();
        async move {
            let s: serde_json::Value = app
                .admin(reqwest::Method::GET, &format!("/v1/admin/schedules/{id}"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            s["overrides"].as_array().unwrap().clone()
        }
    };

    // A responder sees who is on call, but no form, and may not post one.
    let console = app.console_as(&riley).await;
    let html = console.page("/console/oncall").await;
    assert!(
        html.contains("Primary on-call")
            && html.contains("On call now: <strong>Pat Primary</strong>"),
        "{html}"
    );
    assert!(!html.contains("Add an override"));
    let csrf = input_value(&html, "csrf").unwrap();
    let res = console
        .post_form(
            &path,
            &[
                ("csrf", &csrf),
                ("user_id", &sam),
                ("start", "2030-01-01T18:00"),
                ("end", "2030-01-01T22:00"),
            ],
        )
        .await;
    assert_eq!(res.status().as_u16(), 403);
    assert!(overrides().await.is_empty());

    let console = app.console_as(&morgan).await;
    let html = console.page("/console/oncall").await;
    assert!(html.contains("Add an override") && html.contains("Times are in Europe/Paris"));
    let csrf = input_value(&html, "csrf").unwrap();
    // The end before the start: the domain's rule, shown next to "Until", typed values kept.
    let res = console
        .post_form(
            &path,
            &[
                ("csrf", &csrf),
                ("user_id", &sam),
                ("start", "2030-01-01T22:00"),
                ("end", "2030-01-01T18:00"),
            ],
        )
        .await;
    assert_eq!(res.status().as_u16(), 422);
    let html = res.text().await.unwrap();
    assert!(
        html.contains("id=\"error-end\"") && html.contains("Must be after the start."),
        "{html}"
    );
    assert!(
        html.contains("value=\"2030-01-01T22:00\""),
        "what was typed is kept"
    );
    assert!(
        html.contains("<details class=\"override-form\" open"),
        "the form stays open"
    );
    // Nonsense time, nobody chosen, and an unknown person.
    let res = console
        .post_form(
            &path,
            &[
                ("csrf", &csrf),
                ("user_id", ""),
                ("start", "tuesday"),
                ("end", "2030-01-01T18:00"),
            ],
        )
        .await;
    assert_eq!(res.status().as_u16(), 422);
    let html = res.text().await.unwrap();
    assert!(html.contains("id=\"error-user_id\"") && html.contains("Choose who covers."));
    assert!(html.contains("id=\"error-start\""));
    let res = console
        .post_form(
            &path,
            &[
                ("csrf", &csrf),
                ("user_id", "nobody"),
                ("start", "2030-01-01T18:00"),
                ("end", "2030-01-01T22:00"),
            ],
        )
        .await;
    assert_eq!(res.status().as_u16(), 422);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains("There is no such person."));
    assert!(overrides().await.is_empty(), "nothing stored by a refusal");
    // The API route refuses the unknown person the same way, through the same store call.
    let res = app
        .admin(reqwest::Method::POST, &format!("/v1/admin/schedules/{id}/overrides"))
        .json(&json!({ "user_id": "nobody", "start": "2030-01-01T17:00:00Z", "end": "2030-01-01T21:00:00Z" }))
        .send()
        .await
        .unwrap();
    let problem = assert_problem(res, 422).await;
    assert_eq!(problem["errors"][0]["field"], "user_id", "{problem}");

    // A good one: 18:00-22:00 Paris time is 17:00-21:00 UTC in winter.
    let res = console
        .post_form(
            &path,
            &[
                ("csrf", &csrf),
                ("user_id", &sam),
                ("start", "2030-01-01T18:00"),
                ("end", "2030-01-01T22:00"),
            ],
        )
        .await;
    assert_eq!(res.status().as_u16(), 303);
    assert_eq!(
        location(&res),
        format!("/console/oncall?added={id}#schedule-{id}")
    );
    let stored = overrides().await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0]["user_id"], sam.as_str());
    assert_eq!(stored[0]["start"], "2030-01-01T17:00:00Z");
    assert_eq!(stored[0]["end"], "2030-01-01T21:00:00Z");
    assert!(console
        .page(&location(&res))
        .await
        .contains("Override added."));
}

async fn policy_edits_are_for_admins_and_a_chain_that_breaks_the_promise_is_not_saved(
    backend: TestBackend,
) {
    let app = spawn_app(backend).await;
    let riley = app.staff("responder", false, "Riley Responder").await;
    let morgan = app.staff("support_manager", false, "Morgan Manager").await;
    let ada = app.staff("support_manager", true, "Ada Admin").await;

    let console = app.console_as(&riley).await;
    assert_eq!(
        console.get("/console/policies").await.status().as_u16(),
        403
    );
    assert!(!console
        .page("/console")
        .await
        .contains("href=\"/console/policies\""));

    let console = app.console_as(&morgan).await;
    let html = console.page("/console/policies").await;
    assert!(html.contains("Gold tier") && html.contains("built-in default policy"));
    assert!(
        html.contains("the customer&#39;s account manager")
            || html.contains("the customer's account manager")
    );
    assert!(
        html.contains("Acknowledge within <strong>15 min</strong>"),
        "{html}"
    );
    assert!(
        !html.contains("/console/policies/edit"),
        "no edit links for a manager"
    );
    assert_eq!(
        console
            .get("/console/policies/edit?tier=gold")
            .await
            .status()
            .as_u16(),
        403
    );
    let csrf = input_value(&html, "csrf").unwrap();
    let res = console
        .post_form(
            "/console/policies/edit",
            &[
                ("csrf", &csrf),
                ("tier", "gold"),
                ("name", "x"),
                ("targets0", "account_manager"),
                ("timeout0", "5"),
            ],
        )
        .await;
    assert_eq!(res.status().as_u16(), 403);

    let console = app.console_as(&ada).await;
    let form = console.page("/console/policies/edit?tier=gold").await;
    assert!(form.contains("Edit the policy: Gold tier"));
    assert_eq!(
        console
            .get("/console/policies/edit?tier=platinum")
            .await
            .status()
            .as_u16(),
        404
    );
    let csrf = input_value(&form, "csrf").unwrap();
    // Two 60-minute steps: the last step is reached after 60 min, past Gold's 15.
    let slow = [
        ("csrf", csrf.as_str()),
        ("tier", "gold"),
        ("name", "Slow gold"),
        ("targets0", "account_manager"),
        ("timeout0", "60"),
        ("targets1", "support_managers"),
        ("timeout1", "60"),
        ("repeat", "0"),
    ];
    let res = console.post_form("/console/policies/edit", &slow).await;
    assert_eq!(res.status().as_u16(), 422);
    let html = res.text().await.unwrap();
    assert!(html.contains("id=\"policy-error\""), "{html}");
    assert!(
        html.contains("reaches the last step of its first pass after 60 min = 60 min, which exceeds the gold internal acknowledgement target of 15 min"),
        "the promise check's own arithmetic: {html}"
    );
    assert!(
        html.contains("value=\"Slow gold\""),
        "what was typed is kept"
    );
    assert_eq!(app.count("escalation_policies").await, 0, "nothing saved");

    // A step with no wait is named on its row.
    let res = console
        .post_form(
            "/console/policies/edit",
            &[
                ("csrf", &csrf),
                ("tier", "gold"),
                ("name", "G"),
                ("targets0", "account_manager"),
                ("timeout0", ""),
            ],
        )
        .await;
    assert_eq!(res.status().as_u16(), 422);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains("Give the wait in whole minutes, at least 1."));

    // One that fits is saved, and the page shows it by name.
    let res = console
        .post_form(
            "/console/policies/edit",
            &[
                ("csrf", &csrf),
                ("tier", "gold"),
                ("name", "Quick gold"),
                ("targets0", "account_manager"),
                ("targets0", "support_managers"),
                ("timeout0", "10"),
                ("repeat", "2"),
            ],
        )
        .await;
    assert_eq!(res.status().as_u16(), 303);
    assert_eq!(
        app.count("escalation_policies WHERE tier_id = 'gold'")
            .await,
        1
    );
    let html = console.page("/console/policies").await;
    assert!(html.contains("Quick gold") && html.contains("every support manager"));
}
