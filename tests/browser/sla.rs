//! The SLA page in a real browser: per tier, the time-to-acknowledge and breaches-per-week
//! charts drawn as SVG, the figures, the breach list with its cause, and the CSV download
//! fetched by the page's own link in the signed-in browser.

use std::time::Duration;

use chrono::Duration as Span;
use fantoccini::Locator;
use reqwest::Method;
use serde_json::Value;

use crate::harness::Browser;
use crate::support::{p1_press, spawn_app, TestBackend};

#[tokio::test]
async fn the_sla_page_draws_charts_lists_breaches_and_downloads_csv() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = spawn_app(TestBackend::Sqlite).await;
    // Acknowledged after 3 minutes, and one nobody could be paged for (a breach).
    let gold = app.gold_customer().await;
    let body: Value = app
        .press(&gold.contact, "s1", &p1_press("web"))
        .await
        .json()
        .await
        .unwrap();
    let first = body["incident"]["id"].as_str().unwrap().to_owned();
    let am = app.create_user("responder", None, "Nora Nophone").await;
    let lonely = app.create_customer("Lonely Ltd", "gold", Some(&am)).await;
    let contact = app.create_user("contact", Some(&lonely), "Lee").await;
    let lee = app.enroll(&contact, "android").await;
    assert_eq!(app.press(&lee, "s2", &p1_press("api")).await.status(), 201);
    app.clock.advance(Span::minutes(3));
    let ack = app
        .with_token(
            Method::POST,
            &format!("/v1/incidents/{first}/acknowledge"),
            &gold.account_manager.access_token,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(ack.status(), 200);
    app.clock.advance(Span::minutes(125));

    let morgan = app.staff("support_manager", false, "Morgan Manager").await;
    browser.sign_in(&app, &morgan).await;
    browser.goto(&app, "/console/sla").await;
    let card = "#tier-gold";
    assert_eq!(
        browser
            .text_of(&format!("{card} dd.incidents"), Duration::from_secs(5))
            .await,
        "2"
    );
    assert_eq!(
        browser
            .text_of(&format!("{card} dd.p50"), Duration::from_secs(1))
            .await,
        "3m 00s"
    );
    assert_eq!(
        browser
            .text_of(&format!("{card} dd.breaches"), Duration::from_secs(1))
            .await,
        "1"
    );
    for (chart, least) in [("#tta-gold", 2), ("#breaches-gold", 1)] {
        let bars = browser
            .client
            .find_all(Locator::Css(&format!("svg{chart} rect.bar")))
            .await
            .unwrap();
        assert!(bars.len() >= least, "{chart}: {} bars", bars.len());
        // Weeks without any are drawn as zero-height bars; the measured week's has a size.
        let mut tallest = 0.0_f64;
        for bar in &bars {
            tallest = tallest.max(bar.rectangle().await.unwrap().3);
        }
        assert!(tallest > 10.0, "{chart}: a bar is drawn, {tallest} px high");
    }
    let title = browser
        .text_of("svg#tta-gold title", Duration::from_secs(1))
        .await;
    let _ = title; // SVG <title> is not rendered text; its presence is what matters.
    let breaches = browser.text_of("#breaches", Duration::from_secs(1)).await;
    assert!(
        breaches.contains("Lonely Ltd") && breaches.contains("nobody paged had a working device"),
        "{breaches}"
    );
    assert!(!breaches.contains("Acme Corp"), "met in time: {breaches}");
    browser.shot("sla").await;

    // The download link, fetched by the signed-in page itself.
    let got = browser
        .client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             fetch(document.querySelector('#csv').href)
               .then(r => r.text().then(t => done([r.status, r.headers.get('content-disposition'), t])))
               .catch(e => done([0, '', String(e)]));",
            vec![],
        )
        .await
        .expect("the CSV is fetched");
    assert_eq!(got[0], 200, "{got}");
    assert!(
        got[1]
            .as_str()
            .unwrap()
            .starts_with("attachment; filename=\"sla-"),
        "{got}"
    );
    let csv = got[2].as_str().unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 3, "{csv}");
    assert!(lines[0].starts_with("incident_id,ticket_ref,customer"));
    assert!(lines
        .iter()
        .any(|l| l.contains("Lonely Ltd") && l.contains(",no_device,")));

    browser.phone_sized().await;
    browser.shot("sla-phone").await;
    browser.close().await;
}
