//! The staff console's sign-in, sessions, CSRF and roles, through HTTP on both backends (the
//! browser half is tests/browser).

use std::time::Duration;

use crate::on_both_backends;
use crate::support::console::{input_value, location, ConsoleClient};
use crate::support::{assert_problem, p1_press, spawn_app, spawn_app_with, TestBackend};

on_both_backends!(
    sign_in_sets_a_strict_cookie_and_sign_out_ends_the_session_on_the_server,
    wrong_passwords_and_unknown_emails_look_alike_and_are_limited,
    a_forged_or_foreign_form_is_refused_and_changes_nothing,
    roles_decide_what_a_signed_in_person_sees,
    invites_are_one_time_and_expire_and_explain_refusals,
    sessions_idle_out_and_an_admin_can_revoke_them,
);

async fn sign_in_sets_a_strict_cookie_and_sign_out_ends_the_session_on_the_server(
    backend: TestBackend,
) {
    let app = spawn_app(backend).await;
    let morgan = app.staff("support_manager", false, "Morgan Manager").await;
    // Not signed in: to the sign-in page, and back afterwards.
    let anonymous = ConsoleClient::new(&app);
    let res = anonymous.get("/console/staff").await;
    assert_eq!(res.status().as_u16(), 303);
    assert_eq!(location(&res), "/console/sign-in?next=%2Fconsole%2Fstaff");

    let console = ConsoleClient::new(&app);
    let res = console.sign_in(&morgan.email, &morgan.password).await;
    assert_eq!(res.status().as_u16(), 303);
    assert_eq!(location(&res), "/console");
    let cookie = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("pgw_session="))
        .expect("a session cookie");
    for part in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"] {
        assert!(cookie.contains(part), "{cookie}");
    }
    // public_url is not https here; the cookie would be lost if it were Secure.
    assert!(!cookie.contains("Secure"), "{cookie}");
    let board = console.get("/console").await;
    assert_eq!(board.status().as_u16(), 200);
    assert_eq!(board.headers()["cache-control"], "no-store");
    assert!(board.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("frame-ancestors 'none'"));
    let html = board.text().await.unwrap();
    assert!(html.contains("Morgan Manager") && html.contains("No open incidents."));

    let session = console.cookie("pgw_session").unwrap();
    let csrf = input_value(&html, "csrf").unwrap();
    let res = console
        .post_form("/console/sign-out", &[("csrf", &csrf)])
        .await;
    assert_eq!(res.status().as_u16(), 303);
    assert_eq!(location(&res), "/console/sign-in?notice=signed-out");
    assert!(
        console.cookie("pgw_session").is_none(),
        "the cookie is cleared"
    );
    // The old cookie, kept by someone, is refused: the session ended on the server.
    let replay = ConsoleClient::new(&app);
    replay.set_cookie("pgw_session", &session);
    assert_eq!(replay.get("/console").await.status().as_u16(), 303);
    assert_eq!(
        app.count("staff_sessions WHERE revoked_at IS NOT NULL")
            .await,
        1
    );
    // With an https public address the cookie is Secure.
    let https = spawn_app_with(backend, |s| {
        s.server.public_url = "https://pager.example.com".into()
    })
    .await;
    let pat = https.staff("responder", false, "Pat Primary").await;
    let res = ConsoleClient::new(&https)
        .sign_in(&pat.email, &pat.password)
        .await;
    assert!(res.headers().get_all("set-cookie").iter().any(|c| c
        .to_str()
        .unwrap()
        .starts_with("pgw_session=")
        && c.to_str().unwrap().ends_with("; Secure")));
}

async fn wrong_passwords_and_unknown_emails_look_alike_and_are_limited(backend: TestBackend) {
    let app = spawn_app_with(backend, |s| s.auth.sign_in_max_failures = 3).await;
    let morgan = app.staff("support_manager", false, "Morgan Manager").await;
    let console = ConsoleClient::new(&app);
    let wrong = console.sign_in(&morgan.email, "not the password!").await;
    assert_eq!(wrong.status().as_u16(), 401);
    let wrong = wrong.text().await.unwrap();
    let unknown = console
        .sign_in("nobody@example.com", &morgan.password)
        .await;
    assert_eq!(unknown.status().as_u16(), 401);
    let unknown = unknown.text().await.unwrap();
    let message = "That e-mail address and password do not match an account.";
    assert!(wrong.contains(message) && unknown.contains(message));
    // The form keeps the e-mail typed, never the password.
    assert!(wrong.contains(&format!("value=\"{}\"", morgan.email)));
    assert!(!wrong.contains("not the password!"));
    assert_eq!(app.count("staff_sessions").await, 0);

    // The third failure from this address closes it, even for the right password.
    assert_eq!(
        console
            .sign_in(&morgan.email, "still not it!!")
            .await
            .status()
            .as_u16(),
        401
    );
    let limited = console.sign_in(&morgan.email, &morgan.password).await;
    assert_eq!(limited.status().as_u16(), 429);
    let retry: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=900).contains(&retry), "{retry}");
    assert!(limited
        .text()
        .await
        .unwrap()
        .contains("Too many failed sign-ins"));
    assert_eq!(app.count("staff_sessions").await, 0);
}

async fn a_forged_or_foreign_form_is_refused_and_changes_nothing(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let gold = app.gold_customer().await;
    let res = app
        .press(&gold.contact, "csrf-1", &p1_press("checkout"))
        .await;
    assert_eq!(res.status().as_u16(), 201);
    let incident: serde_json::Value = res.json().await.unwrap();
    let id = incident["incident"]["id"].as_str().unwrap().to_owned();
    let morgan = app.staff("support_manager", false, "Morgan Manager").await;
    let console = app.console_as(&morgan).await;
    let board = console.page("/console").await;
    assert!(board.contains(&format!("incident-{id}")), "{board}");
    let csrf = input_value(&board, "csrf").unwrap();
    let path = format!("/console/incidents/{id}/acknowledge");

    let forged = console.post_form(&path, &[("csrf", "forged")]).await;
    assert_eq!(forged.status().as_u16(), 403);
    assert!(forged.text().await.unwrap().contains("Nothing was changed"));
    let missing = console.post_form(&path, &[]).await;
    assert_eq!(missing.status().as_u16(), 403);
    // The right token from another site's page: refused on its Origin.
    let foreign = console
        .post_form_with(
            &path,
            &[("csrf", &csrf)],
            &[("origin", "https://evil.example")],
        )
        .await;
    assert_eq!(foreign.status().as_u16(), 403);
    // Without a session cookie, the token alone is nothing.
    let stranger = ConsoleClient::new(&app);
    assert_eq!(
        stranger
            .post_form(&path, &[("csrf", &csrf)])
            .await
            .status()
            .as_u16(),
        303
    );
    assert_eq!(
        app.count(&format!(
            "incidents WHERE id = '{id}' AND state = 'triggered'"
        ))
        .await,
        1,
        "nothing changed"
    );
    // A sign-in form posted without its cookie (another site's form) is refused too.
    let res = ConsoleClient::new(&app)
        .post_form(
            "/console/sign-in",
            &[
                ("csrf", "x"),
                ("email", &morgan.email),
                ("password", &morgan.password),
            ],
        )
        .await;
    assert_eq!(res.status().as_u16(), 403);

    // The real form, and htmx's header with its own origin, work.
    let res = console.post_form(&path, &[("csrf", &csrf)]).await;
    assert_eq!(res.status().as_u16(), 303);
    assert_eq!(location(&res), "/console");
    assert_eq!(
        app.count(&format!(
            "incidents WHERE id = '{id}' AND state = 'acknowledged' AND acknowledged_by = '{}'",
            morgan.user_id
        ))
        .await,
        1
    );
    let res = console
        .post_form_with(
            &format!("/console/incidents/{id}/resolve"),
            &[],
            &[
                ("x-csrf-token", &csrf),
                ("hx-request", "true"),
                ("origin", &app.address),
            ],
        )
        .await;
    assert_eq!(res.status().as_u16(), 200);
    let fragment = res.text().await.unwrap();
    assert!(fragment.starts_with("<section id=\"board\""), "{fragment}");
    assert!(fragment.contains("No open incidents."));
    assert_eq!(
        app.count(&format!(
            "incidents WHERE id = '{id}' AND state = 'resolved'"
        ))
        .await,
        1
    );
}

async fn roles_decide_what_a_signed_in_person_sees(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let gold = app.gold_customer().await;
    let res = app
        .press(&gold.contact, "roles-1", &p1_press("checkout"))
        .await;
    let incident: serde_json::Value = res.json().await.unwrap();
    let id = incident["incident"]["id"].as_str().unwrap().to_owned();
    let riley = app.staff("responder", false, "Riley Responder").await;
    let morgan = app.staff("support_manager", false, "Morgan Manager").await;
    let ada = app.staff("responder", true, "Ada Admin").await;

    let responder = app.console_as(&riley).await;
    let board = responder.page("/console").await;
    assert!(
        !board.contains(&id),
        "a responder sees only their incidents"
    );
    assert!(board.contains("No open incidents."));
    assert!(!board.contains("/console/staff"), "no link to admin pages");
    let refused = responder.get("/console/staff").await;
    assert_eq!(refused.status().as_u16(), 403);
    assert!(refused
        .text()
        .await
        .unwrap()
        .contains("This page is for admins"));
    // Nor may they act on an incident they were not paged for.
    let csrf = responder.csrf().await;
    let res = responder
        .post_form(
            &format!("/console/incidents/{id}/acknowledge"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(res.status().as_u16(), 403);

    let manager = app.console_as(&morgan).await;
    assert!(manager.page("/console").await.contains(&id));
    assert_eq!(manager.get("/console/staff").await.status().as_u16(), 403);

    let admin = app.console_as(&ada).await;
    let staff = admin.page("/console/staff").await;
    for person in ["Riley Responder", "Morgan Manager", "Ada Admin"] {
        assert!(staff.contains(person), "{staff}");
    }
    assert!(admin.page("/console").await.contains(&id));
}

async fn invites_are_one_time_and_expire_and_explain_refusals(backend: TestBackend) {
    let app = spawn_app(backend).await;
    // Refusals name the field; nothing is stored.
    let gold = app.gold_customer().await;
    let contact = app
        .create_user("contact", Some(&gold.customer_id), "Carl Two")
        .await;
    let res = app
        .admin(
            reqwest::Method::POST,
            &format!("/v1/admin/users/{contact}/invite"),
        )
        .send()
        .await
        .unwrap();
    let body = assert_problem(res, 422).await;
    assert_eq!(body["errors"][0]["field"], "role", "{body}");
    let no_email = app.create_user("responder", None, "No Mail").await;
    let res = app
        .admin(
            reqwest::Method::POST,
            &format!("/v1/admin/users/{no_email}/invite"),
        )
        .send()
        .await
        .unwrap();
    let body = assert_problem(res, 422).await;
    assert_eq!(body["errors"][0]["field"], "email", "{body}");
    let res = app
        .admin(reqwest::Method::POST, "/v1/admin/users/nobody/invite")
        .send()
        .await
        .unwrap();
    assert_problem(res, 404).await;
    assert_eq!(app.count("staff_accounts").await, 0);

    let (_, email, link) = app.invite("responder", false, "Pat Primary").await;
    assert_eq!(email, "pat.primary@example.com");
    let console = ConsoleClient::new(&app);
    let form = console.page(&link).await;
    assert!(form.contains("Pat Primary"));
    let token = link.split("token=").nth(1).unwrap().to_owned();
    let csrf = input_value(&form, "csrf").unwrap();
    let set = |password: &'static str, repeat: &'static str| {
        let (console, csrf, token) = (&console, csrf.clone(), token.clone());
        async move {
            console
                .post_form(
                    "/console/set-password",
                    &[
                        ("csrf", &csrf),
                        ("token", &token),
                        ("password", password),
                        ("repeat", repeat),
                    ],
                )
                .await
        }
    };
    let short = set("short", "short").await;
    assert_eq!(short.status().as_u16(), 422);
    assert!(short
        .text()
        .await
        .unwrap()
        .contains("must be at least 12 characters long"));
    let differ = set("a long enough password", "a long enough passw0rd").await;
    assert_eq!(differ.status().as_u16(), 422);
    assert!(differ
        .text()
        .await
        .unwrap()
        .contains("the two passwords differ"));
    let ok = set("a long enough password", "a long enough password").await;
    assert_eq!(ok.status().as_u16(), 303);
    assert_eq!(location(&ok), "/console/sign-in?notice=password-set");
    // Used: the link says so, and a second use changes nothing.
    let used = console.get(&link).await;
    assert_eq!(used.status().as_u16(), 410);
    assert!(used
        .text()
        .await
        .unwrap()
        .contains("expired or has already been used"));
    assert_eq!(
        set("another long password", "another long password")
            .await
            .status()
            .as_u16(),
        410
    );
    assert_eq!(
        console
            .sign_in(&email, "a long enough password")
            .await
            .status()
            .as_u16(),
        303
    );
    // An invite expires (72 hours by default).
    let (_, _, late) = app.invite("responder", false, "Sam Secondary").await;
    app.clock.advance(chrono::Duration::hours(73));
    assert_eq!(console.get(&late).await.status().as_u16(), 410);
}

async fn sessions_idle_out_and_an_admin_can_revoke_them(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let morgan = app.staff("support_manager", false, "Morgan Manager").await;
    let console = app.console_as(&morgan).await;
    // Activity keeps a session alive past the idle timeout (30 minutes)...
    for _ in 0..3 {
        app.clock.advance(chrono::Duration::minutes(20));
        assert_eq!(console.get("/console").await.status().as_u16(), 200);
    }
    // ... and 31 quiet minutes end it.
    app.clock.advance(chrono::Duration::minutes(31));
    let res = console.get("/console").await;
    assert_eq!(res.status().as_u16(), 303);

    let console = app.console_as(&morgan).await;
    let res = app
        .admin(
            reqwest::Method::POST,
            &format!("/v1/admin/users/{}/sessions/revoke", morgan.user_id),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["revoked"], 1);
    assert_eq!(console.get("/console").await.status().as_u16(), 303);
    let res = app
        .admin(
            reqwest::Method::POST,
            "/v1/admin/users/nobody/sessions/revoke",
        )
        .send()
        .await
        .unwrap();
    assert_problem(res, 404).await;
    // The absolute lifetime (12 hours) ends even a busy session.
    let console = app.console_as(&morgan).await;
    for _ in 0..25 {
        app.clock.advance(chrono::Duration::minutes(29));
        if console.get("/console").await.status().as_u16() == 303 {
            break;
        }
    }
    assert_eq!(console.get("/console").await.status().as_u16(), 303);
    let _ = Duration::ZERO;
}

#[tokio::test]
async fn each_console_page_weighs_under_150_kb_and_assets_are_cached_by_version() {
    let app = spawn_app(TestBackend::Sqlite).await;
    let morgan = app.staff("support_manager", false, "Morgan Manager").await;
    let console = app.console_as(&morgan).await;
    let html = console.page("/console").await;
    let mut total = html.len();
    let assets: Vec<String> = html
        .split("\"/console/assets/")
        .skip(1)
        .map(|rest| format!("/console/assets/{}", &rest[..rest.find('"').unwrap()]))
        .collect();
    assert_eq!(assets.len(), 3, "{assets:?}");
    for asset in &assets {
        let res = console.get(asset).await;
        assert_eq!(res.status().as_u16(), 200, "{asset}");
        assert_eq!(
            res.headers()["cache-control"],
            "public, max-age=31536000, immutable"
        );
        total += res.bytes().await.unwrap().len();
    }
    assert!(total < 150 * 1024, "the board weighs {total} bytes");
    // Another version's URL still answers, without the long cache.
    let other = assets[0].replace("/console/assets/", "/console/assets/0000/");
    let other = other.split('/').collect::<Vec<_>>();
    let other = format!("/console/assets/0000/{}", other.last().unwrap());
    let res = console.get(&other).await;
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(res.headers()["cache-control"], "public, max-age=60");
}
