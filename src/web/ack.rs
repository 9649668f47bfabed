//! The acknowledge link of an e-mailed page: `GET /ack/{token}` ([`crate::channels::email::ack_link`]) shows the page and a button,
//! `POST /ack/{token}` (the button) acknowledges the incident as the person paged.
//!
//! Never on GET: mail scanners and link previews open every link in a message, and a page
//! must not be taken by a robot. The token is signed
//! ([`crate::auth::tokens::TokenIssuer::issue_link`]) and names one e-mail delivery; it works
//! while that delivery's method is a verified, live e-mail address of the person paged, and
//! once: a second POST (a replay, a double click) changes nothing and says the link was used.
//! An unknown or altered token is a 404 page; a POST from another site's page is refused as on
//! the escalation page ([`super::csrf::cross_site`]). Limits: whoever holds the
//! e-mail can use the link, as with any e-mailed link; it does not expire by itself, but it
//! does nothing once the incident is acknowledged or resolved.

use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::html;

use super::escalate::html as page;
use super::escalate::page::{message, shell};
use crate::state::AppState;
use crate::store::escalation::StateChange;
use crate::store::page_replies::{outcome_sentence, PageTarget};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/ack/{token}")
            .route(web::get().to(show))
            .route(web::post().to(acknowledge)),
    );
}

fn not_found() -> HttpResponse {
    page(
        StatusCode::NOT_FOUND,
        message(
            "This link is not valid",
            "Check that you opened the whole link from the e-mail. Nothing was changed.",
        ),
    )
}

fn unavailable() -> HttpResponse {
    let mut res = page(
        StatusCode::SERVICE_UNAVAILABLE,
        message(
            "Please try again in a moment",
            "The page could not be loaded just now. Nothing was changed.",
        ),
    );
    res.headers_mut()
        .insert(header::RETRY_AFTER, header::HeaderValue::from_static("5"));
    res
}

fn used() -> HttpResponse {
    page(
        StatusCode::GONE,
        message(
            "This link was already used",
            "The page was acknowledged with this link before. Nothing was changed.",
        ),
    )
}

/// The page a token names, or the answer saying why there is none.
async fn target(state: &AppState, token: &str) -> Result<PageTarget, HttpResponse> {
    let Some(delivery) = state.tokens.verify_link(token) else {
        return Err(not_found());
    };
    match state.store.email_link_target(&delivery).await {
        Ok(Some(target)) => Ok(target),
        Ok(None) => Err(not_found()),
        Err(e) => {
            tracing::error!(error = %crate::error_chain::error_chain(&e), "the acknowledge link could not reach the store");
            Err(unavailable())
        }
    }
}

async fn show(state: web::Data<AppState>, token: web::Path<String>) -> HttpResponse {
    let target = match target(&state, &token).await {
        Ok(t) => t,
        Err(answer) => return answer,
    };
    if target.link_used {
        return used();
    }
    if !target.incident_state.is_open() {
        return page(
            StatusCode::OK,
            message(
                "Nothing to do",
                &format!(
                    "This incident was already {}.",
                    target.incident_state.as_str()
                ),
            ),
        );
    }
    page(
        StatusCode::OK,
        shell(
            "Acknowledge the page",
            html! {
                h1 { (target.title) }
                section #page { p { (target.body) } }
                form method="post" {
                    button #acknowledge type="submit" { "Acknowledge: I am on it" }
                }
            },
        ),
    )
}

async fn acknowledge(
    state: web::Data<AppState>,
    req: HttpRequest,
    token: web::Path<String>,
) -> HttpResponse {
    if super::csrf::from_another_site(&req, &state.public_url) {
        return page(
            StatusCode::FORBIDDEN,
            message(
                "This form was sent from another site",
                "Nothing was changed. Open the link from the e-mail.",
            ),
        );
    }
    let target = match target(&state, &token).await {
        Ok(t) => t,
        Err(answer) => return answer,
    };
    if target.link_used {
        return used();
    }
    let change = match state
        .store
        .acknowledge_incident(&target.incident_id, &target.user_id, state.clock.now())
        .await
    {
        Ok(change) => change,
        Err(_) => return unavailable(),
    };
    if matches!(change, StateChange::Applied { .. }) {
        // Customer notices were queued in the same transaction.
        state.dispatch_wake.notify_one();
    }
    let text = outcome_sentence(&change, "acknowledged");
    match state
        .store
        .use_email_link(&target.delivery_id, state.clock.now())
        .await
    {
        // Two POSTs at once: both acknowledged (the second found it done); one says used.
        Ok(false) => return used(),
        Ok(true) => {}
        Err(_) => return unavailable(),
    }
    tracing::info!(incident = %target.incident_id, user = %target.user_id, "e-mail link acknowledged");
    page(StatusCode::OK, message("Acknowledged", &text))
}
