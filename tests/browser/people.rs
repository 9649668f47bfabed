//! Customers and people in a real browser: an admin issues an enrollment code and sees it as
//! a QR code (SVG) and as text, and the text code enrolls a phone through the API; the admin
//! revokes a device from the list; a support manager reads the page without the buttons.

use std::time::Duration;

use fantoccini::Locator;
use panic_gateway::phone::{simulated_push_token, Phone};

use crate::harness::Browser;
use crate::support::{spawn_app, wait_for, TestBackend};

#[tokio::test]
async fn an_admin_issues_a_code_shown_as_a_qr_code_that_enrolls_and_revokes_a_device() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = spawn_app(TestBackend::Sqlite).await;
    let gold = app.gold_customer().await;
    let ada = app.staff("support_manager", true, "Ada Admin").await;
    browser.sign_in(&app, &ada).await;

    browser.goto(&app, "/console/people").await;
    let customer = browser
        .text_of(
            &format!("#customer-{}", gold.customer_id),
            Duration::from_secs(5),
        )
        .await;
    assert!(
        customer.contains("Acme Corp") && customer.contains("Alice Manager"),
        "customer, tier and account manager: {customer}"
    );
    assert!(customer.contains("Carl Contact"), "contacts: {customer}");
    browser.shot("people").await;

    // A code for Carl's new phone.
    let carl = &gold.contact.user_id;
    browser
        .client
        .find(Locator::Css(&format!("#user-{carl} td.actions button")))
        .await
        .expect("an Issue enrollment code button")
        .click()
        .await
        .unwrap();
    let svg = browser
        .client
        .wait()
        .at_most(Duration::from_secs(5))
        .for_element(Locator::Css("#enrollment svg.qr"))
        .await
        .expect("the QR code is drawn");
    let size = svg.rectangle().await.unwrap();
    assert!(
        size.2 >= 200.0 && size.3 >= 200.0,
        "large enough to scan: {size:?}"
    );
    let path = browser
        .client
        .find(Locator::Css("#enrollment svg.qr path"))
        .await
        .unwrap()
        .attr("d")
        .await
        .unwrap()
        .unwrap_or_default();
    assert!(path.len() > 500, "modules drawn");
    let code = browser
        .text_of("#enroll-code", Duration::from_secs(1))
        .await;
    let expires = browser
        .text_of("#enroll-expires", Duration::from_secs(1))
        .await;
    assert!(expires.contains("UTC"), "{expires}");
    let heading = browser
        .text_of("#enrollment h1", Duration::from_secs(1))
        .await;
    assert_eq!(heading, "Enrollment code for Carl Contact");
    browser.shot("enrollment-qr").await;
    browser.phone_sized().await;
    browser.shot("enrollment-qr-phone").await;
    browser.desktop_sized().await;

    // The text code enrolls a phone for Carl, as the app would after scanning.
    let phone = Phone::enroll(
        &app.address,
        &code,
        "android",
        &simulated_push_token("android"),
        "Carl's Pixel",
    )
    .await
    .expect("the code enrolls");
    assert_eq!(&phone.session.user_id, carl);

    // Revoke Alice's phone from the list.
    browser.goto(&app, "/console/people").await;
    let alice_device = gold.account_manager.device_id.clone();
    let row = format!("#device-{alice_device}");
    browser
        .client
        .find(Locator::Css(&format!("{row} button.danger")))
        .await
        .expect("a Revoke button")
        .click()
        .await
        .unwrap();
    wait_for(Duration::from_secs(5), "the device to show revoked", || {
        let browser = &browser;
        let row = row.clone();
        async move {
            let text = browser
                .client
                .find(Locator::Css(&row))
                .await
                .ok()?
                .text()
                .await
                .ok()?;
            text.contains("revoked").then_some(())
        }
    })
    .await;
    assert_eq!(
        app.count(&format!(
            "devices WHERE id = '{alice_device}' AND revoked_at IS NOT NULL"
        ))
        .await,
        1
    );
    assert_eq!(
        app.count(&format!(
            "audit_log WHERE action = 'device.revoked' AND actor = 'staff:{}'",
            ada.user_id
        ))
        .await,
        1
    );
    let carls = browser
        .text_of(&format!("#user-{carl}"), Duration::from_secs(1))
        .await;
    assert!(carls.contains("Carl's Pixel"), "{carls}");
    browser.shot("people-revoked").await;
    browser.close().await;
}

#[tokio::test]
async fn a_support_manager_reads_people_without_revoke_or_issue_buttons() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = spawn_app(TestBackend::Sqlite).await;
    let gold = app.gold_customer().await;
    let morgan = app.staff("support_manager", false, "Morgan Manager").await;
    browser.sign_in(&app, &morgan).await;
    browser.goto(&app, "/console/people").await;
    let row = browser
        .text_of(
            &format!("#device-{}", gold.account_manager.device_id),
            Duration::from_secs(5),
        )
        .await;
    assert!(row.contains("active"), "{row}");
    for css in ["button.danger", "td.actions button"] {
        assert!(
            browser.client.find(Locator::Css(css)).await.is_err(),
            "no {css} for a support manager"
        );
    }
    let note = browser
        .text_of(".page-head p", Duration::from_secs(1))
        .await;
    assert!(note.contains("Read-only"), "{note}");
    browser.phone_sized().await;
    browser.shot("people-manager-phone").await;
    browser.close().await;
}
