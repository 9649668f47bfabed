//! The console in a real browser: sign-in and sign-out, the wrong-password message, the board
//! updating live after a press made through the API, acknowledging from the board, and a
//! responder refused an admin page.

use std::time::{Duration, Instant};

use fantoccini::Locator;

use crate::harness::Browser;
use crate::support::{p1_press, spawn_app, wait_for, TestBackend};

#[tokio::test]
async fn the_board_shows_a_new_press_live_and_acknowledges_it() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = spawn_app(TestBackend::Sqlite).await;
    let gold = app.gold_customer().await;
    let morgan = app.staff("support_manager", false, "Morgan Manager").await;
    let earlier = app
        .press(&gold.contact, "browser-0", &p1_press("billing"))
        .await;
    assert_eq!(earlier.status().as_u16(), 201);
    browser.sign_in(&app, &morgan).await;
    let who = browser
        .text_of("header .who .name", Duration::from_secs(2))
        .await;
    assert_eq!(who, "Morgan Manager");

    // A press through the API appears without a reload, within two seconds.
    let res = app
        .press(&gold.contact, "browser-1", &p1_press("checkout"))
        .await;
    let pressed = Instant::now();
    assert_eq!(res.status().as_u16(), 201);
    let body: serde_json::Value = res.json().await.unwrap();
    let id = body["incident"]["id"].as_str().unwrap().to_owned();
    let row = format!("#incident-{id}");
    // The board asks for news every second, so the row is there well inside two seconds; the
    // wait allows more so a loaded CI machine does not fail on a timing, and says how long.
    let text = browser.text_of(&row, Duration::from_secs(10)).await;
    eprintln!(
        "the new press was on the board after {:?}",
        pressed.elapsed()
    );
    assert!(
        text.contains("checkout") && text.contains("Acme Corp"),
        "{text}"
    );
    assert!(text.contains("Alice Manager"), "who is paged now: {text}");
    browser.shot("board").await;

    // Acknowledge from the board: htmx posts the form (with the CSRF header) and swaps in
    // the fresh board.
    browser
        .click(&format!("{row} button.primary"), Duration::from_secs(5))
        .await;
    let state_css = format!("{row} .state");
    wait_for(
        Duration::from_secs(5),
        "the row to say acknowledged",
        || {
            let browser = &browser;
            let state_css = state_css.clone();
            async move {
                let text = browser
                    .client
                    .find(Locator::Css(&state_css))
                    .await
                    .ok()?
                    .text()
                    .await
                    .ok()?;
                // Rendered text: the badge is upper-cased by CSS.
                text.eq_ignore_ascii_case("acknowledged").then_some(())
            }
        },
    )
    .await;
    assert_eq!(
        app.count(&format!(
            "incidents WHERE id = '{id}' AND state = 'acknowledged' AND acknowledged_by = '{}'",
            morgan.user_id
        ))
        .await,
        1
    );
    let row_text = browser.text_of(&row, Duration::from_secs(1)).await;
    assert!(
        row_text.contains("acknowledged by Morgan Manager"),
        "{row_text}"
    );
    browser.shot("board-acknowledged").await;

    // Sign out: back at the sign-in page, and the board is closed.
    browser
        .client
        .find(Locator::Css("header .who button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let notice = browser.text_of(".notice", Duration::from_secs(5)).await;
    assert_eq!(notice, "You are signed out.");
    browser.goto(&app, "/console").await;
    let heading = browser.text_of("h1", Duration::from_secs(5)).await;
    assert_eq!(heading, "Sign in");
    browser.close().await;
}

#[tokio::test]
async fn a_wrong_password_says_so_and_a_responder_is_refused_an_admin_page() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = spawn_app(TestBackend::Sqlite).await;
    let riley = app.staff("responder", false, "Riley Responder").await;

    browser
        .sign_in_as(&app, &riley.email, "this is not it")
        .await;
    let error = browser
        .text_of("#sign-in-error", Duration::from_secs(5))
        .await;
    assert_eq!(
        error,
        "That e-mail address and password do not match an account."
    );
    browser.shot("sign-in-wrong-password").await;

    browser.sign_in(&app, &riley).await;
    browser.shot("board-empty").await;
    browser.goto(&app, "/console/staff").await;
    let heading = browser.text_of("h1", Duration::from_secs(5)).await;
    assert_eq!(heading, "Not for your role");
    let message = browser.text_of(".message", Duration::from_secs(1)).await;
    assert!(message.contains("This page is for admins"), "{message}");
    browser.shot("responder-refused").await;
    browser.close().await;
}
