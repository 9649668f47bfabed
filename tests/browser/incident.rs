//! The Incident page in a real browser: after a press through the API it shows the timeline
//! in words and each page's provider outcome (one phone accepted, one with a dead token), it
//! updates live as pages are answered, acknowledges through htmx, and takes a note.

use std::time::Duration;

use fantoccini::Locator;
use panic_gateway::push::mock::Fault;

use crate::harness::Browser;
use crate::support::{p1_press, spawn_app_with_push, wait_for, TestBackend};

#[tokio::test]
async fn the_incident_page_shows_the_timeline_and_page_outcomes_and_acknowledges() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = spawn_app_with_push(TestBackend::Sqlite, |_| {}).await;
    let gold = app.gold_customer().await;
    // Alice's old phone was wiped: APNs answers 410 Unregistered for its token.
    let old_phone = app.enroll(&gold.account_manager.user_id, "ios").await;
    app.mocks()
        .apns
        .fail(Some(&old_phone.push_token), Fault::status(410), None);
    let morgan = app.staff("support_manager", false, "Morgan Manager").await;
    browser.sign_in(&app, &morgan).await;

    let res = app
        .press(&gold.contact, "browser-incident", &p1_press("payments"))
        .await;
    assert_eq!(res.status().as_u16(), 201);
    let body: serde_json::Value = res.json().await.unwrap();
    let id = body["incident"]["id"].as_str().unwrap().to_owned();

    // From the board to the incident, by its link.
    let link = format!("#incident-{id} a.incident-link");
    browser.text_of(&link, Duration::from_secs(5)).await;
    browser
        .client
        .find(Locator::Css(&link))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let heading = browser.text_of("h1", Duration::from_secs(5)).await;
    assert!(
        heading.contains("payments") || !heading.is_empty(),
        "{heading}"
    );

    // Both outcomes arrive without a reload (the dispatcher sends, the SSE signal refreshes).
    let pages = wait_for(
        Duration::from_secs(10),
        "both pages' outcomes on the page",
        || {
            let browser = &browser;
            async move {
                let text = browser
                    .client
                    .find(Locator::Css("#pages"))
                    .await
                    .ok()?
                    .text()
                    .await
                    .ok()?;
                (text.contains("accepted by the provider") && text.contains("dead token"))
                    .then_some(text)
            }
        },
    )
    .await;
    assert!(pages.contains("Alice Manager"), "{pages}");
    assert!(
        pages.contains("Unregistered"),
        "the provider's words: {pages}"
    );
    let timeline = browser.text_of("#timeline", Duration::from_secs(2)).await;
    assert!(
        timeline.contains("Panic alert opened this incident (payments)."),
        "{timeline}"
    );
    assert!(
        timeline.contains("Paged Alice Manager (step 1 of pass 1"),
        "{timeline}"
    );
    assert!(timeline.contains("the push token is dead"), "{timeline}");
    assert!(timeline.contains("UTC"), "{timeline}");
    browser.shot("incident").await;

    // Acknowledge on this page: htmx swaps the live part in place.
    browser
        .client
        .find(Locator::Css("#incident-live .actions button.primary"))
        .await
        .expect("an Acknowledge button")
        .click()
        .await
        .unwrap();
    wait_for(
        Duration::from_secs(5),
        "the state to say acknowledged",
        || {
            let browser = &browser;
            async move {
                let t = browser
                    .client
                    .find(Locator::Css("#incident-state"))
                    .await
                    .ok()?
                    .text()
                    .await
                    .ok()?;
                t.eq_ignore_ascii_case("acknowledged").then_some(())
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
    let timeline = browser.text_of("#timeline", Duration::from_secs(2)).await;
    assert!(
        timeline.contains("Acknowledged by Morgan Manager."),
        "{timeline}"
    );

    // A note, through the plain form.
    browser
        .client
        .find(Locator::Css("#note"))
        .await
        .unwrap()
        .send_keys("Billing provider confirms an outage; customer informed.")
        .await
        .unwrap();
    browser
        .client
        .find(Locator::Css("form.note button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for(Duration::from_secs(5), "the note on the timeline", || {
        let browser = &browser;
        async move {
            let t = browser
                .client
                .find(Locator::Css("#timeline"))
                .await
                .ok()?
                .text()
                .await
                .ok()?;
            t.contains("Morgan Manager wrote: Billing provider confirms an outage")
                .then_some(())
        }
    })
    .await;
    browser.shot("incident-acknowledged").await;
    browser.client.set_window_size(390, 844).await.unwrap();
    browser
        .goto(&app, &format!("/console/incidents/{id}"))
        .await;
    browser.text_of("#timeline", Duration::from_secs(5)).await;
    browser.shot("incident-phone").await;
    browser.close().await;
}
