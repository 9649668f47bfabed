//! The On-call page in a real browser: a support manager adds an override from the form and
//! it appears in the week's timeline, marked as an override; a mistake is shown by the field.

use std::time::Duration;

use chrono::Days;
use fantoccini::Locator;
use serde_json::json;

use crate::harness::Browser;
use crate::support::{spawn_app, TestBackend};

/// Sets a form field's value as a person picking from the browser's own picker would.
async fn set_value(browser: &Browser, css: &str, value: &str) {
    browser
        .client
        .execute(
            "document.querySelector(arguments[0]).value = arguments[1];",
            vec![json!(css), json!(value)],
        )
        .await
        .unwrap_or_else(|e| panic!("set {css}: {e}"));
}

#[tokio::test]
async fn a_manager_adds_an_override_and_it_appears_in_the_timeline() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = spawn_app(TestBackend::Sqlite).await;
    let pat = app.create_user("responder", None, "Pat Primary").await;
    let sam = app.create_user("responder", None, "Sam Second").await;
    let lee = app.create_user("responder", None, "Lee Later").await;
    let body = app
        .admin_post(
            "/v1/admin/schedules",
            json!({ "name": "Primary on-call", "role": "primary", "time_zone": "UTC",
                    "rotations": [{ "name": "daily", "participants": [pat, lee], "turn": "daily",
                                    "handoff_time": "09:00:00", "start_date": "2020-01-01" }] }),
            201,
        )
        .await;
    let id = body["id"].as_str().unwrap().to_owned();
    let morgan = app.staff("support_manager", false, "Morgan Manager").await;
    browser.sign_in(&app, &morgan).await;
    browser.goto(&app, "/console/oncall").await;
    let card = format!("#schedule-{id}");
    let now_line = browser
        .text_of(&format!("{card} .now"), Duration::from_secs(5))
        .await;
    assert!(now_line.starts_with("On call now:"), "{now_line}");

    // "Cover Pat tomorrow 18:00-22:00", first with the times the wrong way round.
    let tomorrow = app
        .clock_now()
        .date_naive()
        .checked_add_days(Days::new(1))
        .unwrap();
    let c = &browser.client;
    c.find(Locator::Css(&format!(
        "{card} details.override-form summary"
    )))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    c.find(Locator::Css(&format!("#user-{id} option[value='{sam}']")))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    set_value(
        &browser,
        &format!("#start-{id}"),
        &format!("{tomorrow}T22:00"),
    )
    .await;
    set_value(
        &browser,
        &format!("#end-{id}"),
        &format!("{tomorrow}T18:00"),
    )
    .await;
    c.find(Locator::Css(&format!(
        "{card} details.override-form button.primary"
    )))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    let error = browser.text_of("#error-end", Duration::from_secs(5)).await;
    assert_eq!(error, "Must be after the start.");
    browser.shot("oncall-override-refused").await;

    set_value(
        &browser,
        &format!("#start-{id}"),
        &format!("{tomorrow}T18:00"),
    )
    .await;
    set_value(
        &browser,
        &format!("#end-{id}"),
        &format!("{tomorrow}T22:00"),
    )
    .await;
    c.find(Locator::Css(&format!(
        "{card} details.override-form button.primary"
    )))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    let notice = browser.text_of(".notice", Duration::from_secs(5)).await;
    assert_eq!(notice, "Override added.");

    // In the timeline: a hatched bar on tomorrow's row titled with Sam, and in the list.
    let title = browser
        .text_of(
            &format!("{card} rect.override title"),
            Duration::from_secs(2),
        )
        .await;
    // Hidden SVG titles have no rendered text; read the DOM's instead.
    let title = if title.is_empty() {
        c.execute(
            "return document.querySelector(arguments[0]).textContent;",
            vec![json!(format!("{card} rect.override title"))],
        )
        .await
        .unwrap()
        .as_str()
        .unwrap()
        .to_owned()
    } else {
        title
    };
    assert!(title.starts_with("Sam Second (override)"), "{title}");
    assert!(
        title.contains("18:00") && title.contains("22:00"),
        "{title}"
    );
    let legend = browser
        .text_of(&format!("{card} .legend"), Duration::from_secs(1))
        .await;
    assert!(
        legend.contains("Sam Second") && legend.contains("override"),
        "{legend}"
    );
    browser.shot("oncall").await;
    browser.client.set_window_size(390, 844).await.unwrap();
    browser.goto(&app, "/console/oncall").await;
    browser
        .text_of(&format!("{card} .now"), Duration::from_secs(5))
        .await;
    browser.shot("oncall-phone").await;
    browser.close().await;
}
