//! The Policies page in a real browser: an admin slows the Gold chain past its promise and
//! the edit is refused with the promise check's arithmetic shown above the steps.

use std::time::Duration;

use fantoccini::Locator;

use crate::harness::Browser;
use crate::support::{spawn_app, TestBackend};

#[tokio::test]
async fn a_policy_edit_that_breaks_the_promise_shows_the_arithmetic() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = spawn_app(TestBackend::Sqlite).await;
    app.gold_customer().await;
    let ada = app.staff("support_manager", true, "Ada Admin").await;
    browser.sign_in(&app, &ada).await;
    browser.goto(&app, "/console/policies").await;
    let gold = browser.text_of("#tier-gold", Duration::from_secs(5)).await;
    assert!(gold.contains("built-in default policy"), "{gold}");
    browser.shot("policies").await;

    browser
        .client
        .find(Locator::Css("#tier-gold a.button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let heading = browser.text_of("h1", Duration::from_secs(5)).await;
    assert_eq!(heading, "Edit the policy: Gold tier");
    // The account manager gets an hour instead of five minutes.
    let first = browser
        .client
        .find(Locator::Css("#timeout0"))
        .await
        .unwrap();
    first.clear().await.unwrap();
    first.send_keys("60").await.unwrap();
    browser
        .client
        .find(Locator::Css("form.policy-form button.primary"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let error = browser
        .text_of("#policy-error", Duration::from_secs(5))
        .await;
    assert!(
        error.contains(
            "reaches the last step of its first pass after 60 min + 5 min = 65 min, which exceeds the gold internal acknowledgement target of 15 min"
        ),
        "{error}"
    );
    assert!(error.starts_with("Nothing was saved."), "{error}");
    assert_eq!(app.count("escalation_policies").await, 0);
    browser.shot("policy-refused").await;
    browser.client.set_window_size(390, 844).await.unwrap();
    browser.shot("policy-refused-phone").await;
    browser.close().await;
}
