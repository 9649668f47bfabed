//! The console's contact-methods page over HTTP on both backends: a staff member adds a number
//! through the form, the code the mock Twilio received verifies it (a wrong one is named on
//! the page), rules are saved and refused with the row named; forged forms and other people's
//! pages are refused and change nothing; admins vouch for a staff member's method; a new code
//! within the cooldown is 429 on the API (with Retry-After) and "wait N s" on the page.

use chrono::Duration;
use reqwest::Method;
use serde_json::{json, Value};

use crate::contact_methods::{add_method, code_sent_to as sms_code};
use crate::on_both_backends;
use crate::support::console::{location, ConsoleClient};
use crate::support::{assert_problem, spawn_app_with_twilio, TestApp, TestBackend};

on_both_backends!(
    a_staff_member_adds_and_verifies_a_number_and_saves_rules,
    forged_forms_and_other_peoples_pages_are_refused,
    admins_vouch_for_a_staff_members_method,
    a_new_code_waits_out_the_cooldown,
);

const PAGE: &str = "/console/me/contact-methods";

/// The id of the method with `address` on the page `html` (`<tr id="method-…">` then it).
fn method_id(html: &str, address: &str) -> String {
    let at = html.find(address).expect("the method is listed");
    let start = html[..at].rfind("id=\"method-").expect("its row") + "id=\"method-".len();
    html[start..start + html[start..].find('"').unwrap()].to_owned()
}

async fn methods_json(app: &TestApp, user: &str) -> Value {
    app.admin(
        Method::GET,
        &format!("/v1/admin/users/{user}/contact-methods"),
    )
    .send()
    .await
    .unwrap()
    .json()
    .await
    .unwrap()
}

async fn post(console: &ConsoleClient, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
    let csrf = console.csrf().await;
    let mut all = vec![("csrf", csrf.as_str())];
    all.extend_from_slice(fields);
    console.post_form(path, &all).await
}

async fn a_staff_member_adds_and_verifies_a_number_and_saves_rules(backend: TestBackend) {
    let app = spawn_app_with_twilio(backend, |_| {}).await;
    let riley = app.staff("responder", false, "Riley Responder").await;
    let console = app.console_as(&riley).await;
    let html = console.page(PAGE).await;
    assert!(html.contains("No contact methods yet"), "{html}");
    assert!(
        html.contains("href=\"/console/me/contact-methods\""),
        "in the nav"
    );
    assert!(html.contains("The built-in default applies"));

    // A national number is refused next to the field, as typed; nothing stored or sent.
    let res = post(
        &console,
        PAGE,
        &[("kind", "sms"), ("address", "0415 555 0100")],
    )
    .await;
    assert_eq!(res.status(), 422);
    let html = res.text().await.unwrap();
    assert!(html.contains("id=\"address-error\""), "{html}");
    assert!(html.contains("E.164"));
    assert!(html.contains("value=\"0415 555 0100\""), "kept as typed");
    assert_eq!(app.count("contact_methods").await, 0);
    assert!(app.twilio().received().is_empty());

    let number = "+14155550100";
    let res = post(&console, PAGE, &[("kind", "sms"), ("address", number)]).await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), format!("{PAGE}?done=sent#notice"));
    let code = sms_code(&app, number, 1).await;
    let html = console.page(&location(&res)).await;
    assert!(html.contains("A 6-digit code was sent"), "{html}");
    assert!(
        html.contains("pending") && html.contains("(wait 60 s)"),
        "{html}"
    );
    let id = method_id(&html, number);
    assert_eq!(
        methods_json(&app, &riley.user_id).await[0]["verified"],
        false
    );

    // The wrong code is named on the method's row; the right one verifies it.
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let verify = format!("{PAGE}/{id}/verify");
    let res = post(&console, &verify, &[("code", wrong)]).await;
    assert_eq!(res.status(), 422);
    let html = res.text().await.unwrap();
    assert!(
        html.contains("Is not the code that was sent; 4 attempts left."),
        "{html}"
    );
    let res = post(&console, &verify, &[("code", &code)]).await;
    assert_eq!(res.status(), 303);
    let html = console.page(&location(&res)).await;
    assert!(html.contains("Verified: this method is paged from now on."));
    assert!(html.contains("data-state=\"verified\""), "{html}");
    let list = methods_json(&app, &riley.user_id).await;
    assert_eq!(list[0]["verified"], true, "{list}");
    assert_eq!(
        app.count(&format!(
            "audit_log WHERE action = 'contact_method.verify' AND subject_id = '{id}'"
        ))
        .await,
        1
    );

    // Rules: a delay past an hour is named on its row and nothing is saved.
    let one = format!("method:{id}");
    let res = post(
        &console,
        "/console/me/notification-rules",
        &[
            ("method0", "push"),
            ("delay0", "0"),
            ("method1", &one),
            ("delay1", "99"),
        ],
    )
    .await;
    assert_eq!(res.status(), 422);
    let html = res.text().await.unwrap();
    assert!(html.contains("Must be between 0 and 60."), "{html}");
    assert_eq!(app.count("notification_rules").await, 0);
    let res = post(
        &console,
        "/console/me/notification-rules",
        &[
            ("method0", "push"),
            ("delay0", "0"),
            ("method1", &one),
            ("delay1", "2"),
            ("method2", ""),
            ("delay2", ""),
        ],
    )
    .await;
    assert_eq!(res.status(), 303);
    let html = console.page(&location(&res)).await;
    assert!(html.contains("These are your own rules."), "{html}");
    let rules: Value = app
        .admin(
            Method::GET,
            &format!("/v1/admin/users/{}/notification-rules", riley.user_id),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(rules["source"], "user");
    assert_eq!(
        rules["rules"],
        json!([
            { "method": "push", "delay_minutes": 0 },
            { "method": "sms", "method_id": id, "delay_minutes": 2 }
        ])
    );

    // Deleting takes it off the page.
    let res = post(&console, &format!("{PAGE}/{id}/delete"), &[]).await;
    assert_eq!(res.status(), 303);
    assert_eq!(
        methods_json(&app, &riley.user_id)
            .await
            .as_array()
            .unwrap()
            .len(),
        0
    );
}

async fn forged_forms_and_other_peoples_pages_are_refused(backend: TestBackend) {
    let app = spawn_app_with_twilio(backend, |_| {}).await;
    let riley = app.staff("responder", false, "Riley Responder").await;
    let sam = app.staff("responder", false, "Sam Second").await;
    let console = app.console_as(&riley).await;

    for fields in [
        vec![("kind", "sms"), ("address", "+14155550100")],
        vec![
            ("csrf", "forged"),
            ("kind", "sms"),
            ("address", "+14155550100"),
        ],
    ] {
        let res = console.post_form(PAGE, &fields).await;
        assert_eq!(res.status(), 403);
        assert!(res.text().await.unwrap().contains("Nothing was changed"));
    }
    let res = console
        .post_form(
            "/console/me/notification-rules",
            &[("method0", "voice"), ("delay0", "0")],
        )
        .await;
    assert_eq!(res.status(), 403);
    assert_eq!(app.count("contact_methods").await, 0);
    assert_eq!(app.count("notification_rules").await, 0);
    assert!(app.twilio().received().is_empty());

    // Sam's page is an admin's page: refused for a responder, reading and acting.
    let theirs = format!("/console/people/{}/contact-methods", sam.user_id);
    let res = console.get(&theirs).await;
    assert_eq!(res.status(), 403);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains("This page is for admins"));
    let res = post(
        &console,
        &theirs,
        &[("kind", "sms"), ("address", "+14155550100")],
    )
    .await;
    assert_eq!(res.status(), 403);
    assert_eq!(app.count("contact_methods").await, 0);

    // A method of Sam's is not found through Riley's own page either.
    let res = app
        .admin(
            Method::POST,
            &format!("/v1/admin/users/{}/contact-methods", sam.user_id),
        )
        .json(&json!({ "kind": "sms", "address": "+14155550199" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let sams: Value = res.json().await.unwrap();
    let sams = sams["id"].as_str().unwrap();
    let res = post(&console, &format!("{PAGE}/{sams}/delete"), &[]).await;
    assert_eq!(res.status(), 404);
    let res = post(
        &console,
        &format!("{PAGE}/{sams}/verify"),
        &[("code", "123456")],
    )
    .await;
    assert_eq!(res.status(), 404);
    assert_eq!(
        app.count("contact_methods WHERE deleted_at IS NULL").await,
        1
    );
}

async fn admins_vouch_for_a_staff_members_method(backend: TestBackend) {
    let app = spawn_app_with_twilio(backend, |_| {}).await;
    let gold = app.gold_customer().await;
    let riley = app.staff("responder", false, "Riley Responder").await;
    let ada = app.staff("support_manager", true, "Ada Admin").await;
    let admin = app.console_as(&ada).await;

    let people = admin.page("/console/people").await;
    let theirs = format!("/console/people/{}/contact-methods", riley.user_id);
    assert!(people.contains(&format!("href=\"{theirs}\"")), "linked");
    // A customer's contact has no methods: no link, and no page.
    let contact = format!("/console/people/{}/contact-methods", gold.contact.user_id);
    assert!(!people.contains(&contact));
    assert_eq!(admin.get(&contact).await.status(), 404);

    // E-mail has no provider here: the admin adds it and vouches for it.
    let res = post(
        &admin,
        &theirs,
        &[("kind", "email"), ("address", "riley.pager@example.com")],
    )
    .await;
    assert_eq!(res.status(), 303);
    assert!(location(&res).contains("done=no-provider"));
    let html = admin.page(&location(&res)).await;
    assert!(html.contains("Contact methods of Riley Responder"));
    assert!(html.contains("Mark verified") && !html.contains("name=\"code\""));
    let id = method_id(&html, "riley.pager@example.com");
    let res = post(&admin, &format!("{theirs}/{id}/vouch"), &[]).await;
    assert_eq!(res.status(), 303);
    assert_eq!(
        methods_json(&app, &riley.user_id).await[0]["verified"],
        true
    );
    assert_eq!(
        app.count(&format!(
            "audit_log WHERE action = 'contact_method.verify' AND subject_id = '{id}' \
             AND actor = 'staff:{}'",
            ada.user_id
        ))
        .await,
        1
    );
    // Riley sees it verified on their own page.
    let html = app.console_as(&riley).await.page(PAGE).await;
    assert!(html.contains("riley.pager@example.com") && html.contains("data-state=\"verified\""));
}

async fn a_new_code_waits_out_the_cooldown(backend: TestBackend) {
    let app = spawn_app_with_twilio(backend, |_| {}).await;
    let gold = app.gold_customer().await;
    let am = &gold.account_manager;
    let number = "+447700900123";

    // The API: 429 with Retry-After until a minute has passed since the code went out.
    let created: Value = add_method(&app, am, json!({ "kind": "sms", "address": number }))
        .await
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap();
    sms_code(&app, number, 1).await;
    let resend = || async {
        app.with_token(
            Method::POST,
            &format!("/v1/responders/me/contact-methods/{id}/resend"),
            &am.access_token,
        )
        .send()
        .await
        .unwrap()
    };
    app.clock.advance(Duration::seconds(20));
    let res = resend().await;
    assert_eq!(
        res.headers().get("retry-after").unwrap().to_str().unwrap(),
        "40"
    );
    let problem = assert_problem(res, 429).await;
    assert!(
        problem["detail"].as_str().unwrap().contains("40 s"),
        "{problem}"
    );
    assert_eq!(app.twilio().received().len(), 1, "no second text");
    app.clock.advance(Duration::seconds(40));
    let res = resend().await;
    assert_eq!(res.status(), 200);
    sms_code(&app, number, 2).await;
    assert_eq!(
        resend().await.status(),
        429,
        "and again for a minute from now"
    );

    // The console: "wait N s" by the method, 429, and no text sent.
    let riley = app.staff("responder", false, "Riley Responder").await;
    let console = app.console_as(&riley).await;
    let other = "+14155550123";
    let res = post(&console, PAGE, &[("kind", "sms"), ("address", other)]).await;
    assert_eq!(res.status(), 303);
    sms_code(&app, other, 1).await;
    let html = console.page(PAGE).await;
    let mine = method_id(&html, other);
    app.clock.advance(Duration::seconds(15));
    let res = post(&console, &format!("{PAGE}/{mine}/resend"), &[]).await;
    assert_eq!(res.status(), 429);
    assert_eq!(
        res.headers().get("retry-after").unwrap().to_str().unwrap(),
        "45"
    );
    let html = res.text().await.unwrap();
    assert!(
        html.contains("wait 45 s before asking for a new one"),
        "{html}"
    );
    // The code goes out inside the request, so what the mock holds now is final.
    let texts = app.twilio().received();
    assert_eq!(texts.iter().filter(|m| m.to == other).count(), 1);
    app.clock.advance(Duration::seconds(45));
    let res = post(&console, &format!("{PAGE}/{mine}/resend"), &[]).await;
    assert_eq!(res.status(), 303);
    assert!(location(&res).contains("done=sent"));
    sms_code(&app, other, 2).await;
}
