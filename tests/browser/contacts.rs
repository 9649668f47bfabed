//! My contact methods in a real browser: a responder adds an SMS number, reads the code the
//! mock Twilio received, types it in and sees the number verified, then adds a rule for that
//! number and saves the rules. Screenshots at desktop and phone width.

use std::time::Duration;

use fantoccini::Locator;

use crate::harness::Browser;
use crate::support::{spawn_app_with_twilio, TestBackend};

const WITHIN: Duration = Duration::from_secs(5);
const PAGE: &str = "/console/me/contact-methods";

#[tokio::test]
async fn a_responder_verifies_a_number_and_saves_a_rule() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = spawn_app_with_twilio(TestBackend::Sqlite, |_| {}).await;
    let riley = app.staff("responder", false, "Riley Responder").await;
    browser.sign_in(&app, &riley).await;
    // The nav leads there.
    browser
        .click("header nav a[href='/console/me/contact-methods']", WITHIN)
        .await;
    browser.text_of("#no-methods", WITHIN).await;

    let number = "+14155550100";
    let c = &browser.client;
    c.find(Locator::Css("#kind"))
        .await
        .unwrap()
        .select_by_value("sms")
        .await
        .unwrap();
    c.find(Locator::Css("#address"))
        .await
        .unwrap()
        .send_keys("+1 415 555 0100")
        .await
        .unwrap();
    browser
        .click("#add-method button[type=submit]", WITHIN)
        .await;
    let notice = browser.text_of("#notice", WITHIN).await;
    assert!(notice.contains("code was sent"), "{notice}");
    let row = browser.text_of("tr[data-state=pending]", WITHIN).await;
    assert!(row.contains(number) && row.contains("wait"), "{row}");
    browser.shot("contact-methods-pending").await;

    let sent = app.twilio().wait_sent(Some(number), 1, WITHIN).await;
    // A fresh page before each form: no notice on it yet, so the one awaited after the click
    // is the answer to this click and not the previous page's (stale under us).
    browser.goto(&app, PAGE).await;
    let code = sent[0].verification_code().expect("a 6-digit code");
    c.find(Locator::Css("tr[data-state=pending] input[name=code]"))
        .await
        .unwrap()
        .send_keys(&code)
        .await
        .unwrap();
    browser
        .click("tr[data-state=pending] form.code-form button", WITHIN)
        .await;
    let notice = browser.text_of("#notice", WITHIN).await;
    assert!(notice.contains("Verified"), "{notice}");
    let row = browser.text_of("tr[data-state=verified]", WITHIN).await;
    assert!(row.contains(number) && row.contains("verified"), "{row}");

    // A rule for this number: the spare row (after the built-in push and SMS rules).
    browser.goto(&app, PAGE).await;
    let source = browser.text_of("#rules-source", WITHIN).await;
    assert!(source.contains("built-in"), "{source}");
    let id = c
        .find(Locator::Css("tr[data-state=verified]"))
        .await
        .unwrap()
        .attr("id")
        .await
        .unwrap()
        .unwrap()
        .trim_start_matches("method-")
        .to_owned();
    c.find(Locator::Css("#method2"))
        .await
        .unwrap()
        .select_by_value(&format!("method:{id}"))
        .await
        .unwrap();
    let delay = c.find(Locator::Css("#delay2")).await.unwrap();
    delay.clear().await.unwrap();
    delay.send_keys("3").await.unwrap();
    browser.click("#rules button[type=submit]", WITHIN).await;
    let notice = browser.text_of("#notice", WITHIN).await;
    assert!(notice.contains("Rules saved"), "{notice}");
    let source = browser.text_of("#rules-source", WITHIN).await;
    assert!(source.contains("your own rules"), "{source}");
    assert_eq!(
        app.count(&format!(
            "notification_rules WHERE subject = '{}'",
            riley.user_id
        ))
        .await,
        1
    );
    // The page as it opens: the verified number, the add form, then the rules.
    browser.goto(&app, PAGE).await;
    browser.text_of("tr[data-state=verified]", WITHIN).await;
    browser.shot("contact-methods").await;
    browser.phone_sized().await;
    browser.shot("contact-methods-phone").await;
    browser.desktop_sized().await;
    browser.close().await;
}
