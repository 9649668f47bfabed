//! The customer's self-escalation link in a real browser, phone-sized: the customer fills in
//! the P1 questions and submits. A P1 answer shows who is being paged (and, on a later visit,
//! who acknowledged); an answer that is not P1 lists each unmet criterion and keeps the
//! ticket's priority.

use std::time::Duration;

use fantoccini::Locator;
use reqwest::Method;
use serde_json::json;

use crate::harness::Browser;
use crate::support::{spawn_app, TestApp, TestBackend};

/// A P3 ticket of `customer` and the path of a fresh escalation link for it.
async fn ticket_and_link(app: &TestApp, customer: &str) -> (String, String) {
    let ticket = app
        .admin_post(
            "/v1/tickets",
            json!({
                "customer_id": customer, "external_ref": "HD-4711",
                "subject": "Checkout errors for some users", "priority": "P3",
            }),
            201,
        )
        .await;
    let id = ticket["id"].as_str().unwrap().to_owned();
    let link = app
        .admin_post(&format!("/v1/tickets/{id}/escalation-link"), json!({}), 201)
        .await;
    let url = link["url"].as_str().unwrap();
    let path = url
        .strip_prefix(&app.address)
        .expect("a link on this gateway");
    (id, path.to_owned())
}

async fn click(browser: &Browser, css: &str) {
    browser
        .client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css}: {e}"))
        .click()
        .await
        .unwrap_or_else(|e| panic!("click {css}: {e}"));
}

/// The answer page's `#answer`, or a panic showing what the browser got instead.
async fn answer(browser: &Browser) -> fantoccini::elements::Element {
    match browser
        .client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("#answer"))
        .await
    {
        Ok(answer) => answer,
        Err(e) => panic!(
            "no answer page ({e}); the browser shows: {}",
            browser.client.source().await.unwrap_or_default()
        ),
    }
}

async fn priority_of(app: &TestApp, ticket: &str) -> &'static str {
    let p1 = app
        .count(&format!(
            "tickets WHERE id = '{ticket}' AND priority = 'P1'"
        ))
        .await;
    if p1 == 1 {
        "P1"
    } else {
        "not P1"
    }
}

#[tokio::test]
async fn a_p1_answer_pages_and_the_page_shows_who_is_paged_then_who_acknowledged() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    browser.phone_sized().await;
    let app = spawn_app(TestBackend::Sqlite).await;
    let gold = app.gold_customer().await;
    let (ticket, path) = ticket_and_link(&app, &gold.customer_id).await;

    browser.goto(&app, &path).await;
    let subject = browser
        .text_of("#ticket-subject", Duration::from_secs(5))
        .await;
    assert_eq!(subject, "Checkout errors for some users");
    click(&browser, "#production_down-yes").await;
    click(&browser, "#users_affected-all").await;
    click(&browser, "#workaround_available-no").await;
    browser
        .client
        .find(Locator::Css("#affected_service"))
        .await
        .unwrap()
        .send_keys("checkout")
        .await
        .unwrap();
    browser.shot("escalate-form-phone").await;
    click(&browser, "#escalate-submit").await;

    let answer = answer(&browser).await;
    assert_eq!(
        answer.attr("data-priority").await.unwrap().as_deref(),
        Some("P1")
    );
    let paging = browser.text_of("#paging", Duration::from_secs(1)).await;
    assert!(paging.contains("Alice Manager"), "who is paged: {paging}");
    browser
        .text_of("#not-acknowledged", Duration::from_secs(1))
        .await;
    browser.shot("escalate-p1-phone").await;
    assert_eq!(priority_of(&app, &ticket).await, "P1");

    // Alice acknowledges from her phone; the customer's next look shows it.
    let incident: String = {
        assert_eq!(app.count("incidents").await, 1);
        let res = app
            .with_token(
                Method::GET,
                "/v1/responders/me/incidents",
                &gold.account_manager.access_token,
            )
            .send()
            .await
            .unwrap();
        let list: serde_json::Value = res.json().await.unwrap();
        list[0]["id"]
            .as_str()
            .expect("Alice sees the incident")
            .to_owned()
    };
    let ack = app
        .with_token(
            Method::POST,
            &format!("/v1/incidents/{incident}/acknowledge"),
            &gold.account_manager.access_token,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(ack.status(), 200);
    browser.goto(&app, &path).await;
    let by = browser
        .text_of("#acknowledged-by", Duration::from_secs(5))
        .await;
    assert!(by.contains("Alice Manager"), "{by}");
    assert!(
        browser
            .client
            .find(Locator::Css("#escalate-form"))
            .await
            .is_err(),
        "no form on a used link"
    );
    browser.shot("escalate-acknowledged-phone").await;
    browser.close().await;
}

#[tokio::test]
async fn an_answer_that_is_not_p1_lists_each_unmet_criterion_and_keeps_the_priority() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    browser.phone_sized().await;
    let app = spawn_app(TestBackend::Sqlite).await;
    let gold = app.gold_customer().await;
    let (ticket, path) = ticket_and_link(&app, &gold.customer_id).await;

    browser.goto(&app, &path).await;
    click(&browser, "#production_down-no").await;
    click(&browser, "#users_affected-some").await;
    click(&browser, "#workaround_available-yes").await;
    click(&browser, "#escalate-submit").await;

    let answer = answer(&browser).await;
    assert_ne!(
        answer.attr("data-priority").await.unwrap().as_deref(),
        Some("P1")
    );
    let unmet = browser
        .client
        .find_all(Locator::Css("#unmet-criteria li"))
        .await
        .unwrap();
    assert!(
        unmet.len() >= 2,
        "each unmet rule is listed: {}",
        unmet.len()
    );
    let text = browser
        .text_of("#unmet-criteria", Duration::from_secs(1))
        .await;
    assert!(!text.trim().is_empty());
    let kept = browser
        .text_of("#kept-priority", Duration::from_secs(1))
        .await;
    assert!(kept.contains("P3"), "{kept}");
    browser.shot("escalate-not-p1-phone").await;
    assert_eq!(priority_of(&app, &ticket).await, "not P1");
    assert_eq!(app.count("incidents").await, 0, "nothing opened");
    assert_eq!(app.count("deliveries").await, 0, "nobody paged");
    browser.close().await;
}
