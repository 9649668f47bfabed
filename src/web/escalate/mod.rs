//! The customer's self-escalation page: `GET /escalate/{token}` shows the ticket and the P1
//! questions, `POST /escalate/{token}` classifies the answers exactly as a panic press is
//! classified (the configured P1 definition) and, when P1, escalates the ticket and pages
//! along the tier's policy through the intake's own P1 path (`store::escalation_links`).
//!
//! No sign-in: the token in the URL (from `POST /v1/tickets/{id}/escalation-link`, put in
//! the helpdesk's e-mail) is the credential, bound to one ticket and its customer, expiring,
//! answered once. Then every visit and every further submit shows the first answer, with the
//! incident as it stands (who acknowledged). An unknown or altered token is a 404 page, an
//! expired one 410, a customer whose tier lost the panic button 403, bad form input 400
//! naming the field; none of them changes anything (a refusal for the tier is audited).
//!
//! Cross-site forgery: there is no cookie, so `SameSite` has nothing to protect and a forged
//! POST would need the token, with which the attacker could submit directly. A POST whose
//! `Origin` is another site is still refused (see [`crate::web::csrf::cross_site`]), and the pages keep the
//! token from leaking: `Referrer-Policy: same-origin`, nothing loaded from elsewhere (CSP),
//! not cached, not indexed, not framed. Limits: whoever holds the link can answer it, as with
//! any e-mailed link; the helpdesk should send it only to the ticket's contacts.

pub(crate) mod form;
pub(crate) mod page;

use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::Markup;

use crate::auth::secrets::digest;
use crate::state::AppState;
use crate::store::escalation_links::{LinkSubmission, LinkView, Submitted};
use crate::store::StoreError;

/// The page's path for `token`; the API builds the link the helpdesk sends on it.
pub fn path(token: &str) -> String {
    format!("/escalate/{token}")
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/escalate/{token}")
            .route(web::get().to(show))
            .route(web::post().to(submit)),
    );
}

/// An HTML answer with the headers that keep the token in the URL to this page.
pub(crate) fn html(status: StatusCode, markup: Markup) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        // Not `no-referrer`: under it Chromium sends `Origin: null` with the form's own POST,
        // which the cross-site check refuses (found by the browser test). `same-origin` still
        // sends no referrer, so no token, to any other site.
        .insert_header((header::REFERRER_POLICY, "same-origin"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header(("x-robots-tag", "noindex"))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            page::CONTENT_SECURITY_POLICY.as_str(),
        ))
        .body(markup.into_string())
}

fn not_found() -> HttpResponse {
    html(
        StatusCode::NOT_FOUND,
        page::message(
            "This link is not valid",
            "Check that you opened the whole link from your e-mail. If it still does not work, \
             contact your helpdesk.",
        ),
    )
}

fn expired() -> HttpResponse {
    html(
        StatusCode::GONE,
        page::message(
            "This link has expired",
            "Escalation links work for a limited time. Ask your helpdesk for a new one, or call \
             them if this is urgent.",
        ),
    )
}

fn not_in_tier(tier: &str) -> HttpResponse {
    html(
        StatusCode::FORBIDDEN,
        page::message(
            "Self-escalation is not part of your plan",
            &format!(
                "Escalating a ticket to Priority 1 yourself is a Gold feature; your \
                 organisation's support plan is now {tier}. Nothing was changed. Please contact \
                 your helpdesk."
            ),
        ),
    )
}

fn unavailable(e: StoreError) -> HttpResponse {
    tracing::error!(
        error = %crate::error_chain::error_chain(&e),
        "the escalation page could not reach the store"
    );
    let mut res = html(
        StatusCode::SERVICE_UNAVAILABLE,
        page::message(
            "Please try again in a moment",
            "We could not load this page just now. Nothing was changed; try again, or call \
             your helpdesk if this is urgent.",
        ),
    );
    res.headers_mut()
        .insert(header::RETRY_AFTER, header::HeaderValue::from_static("5"));
    res
}

/// A token as `random_token(32)` makes it: 43 base64url characters. Anything else is not
/// looked up.
fn well_formed(token: &str) -> bool {
    token.len() == 43
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The link behind `token` when it can still be shown, or the page saying why not.
async fn link(state: &AppState, token: &str) -> Result<LinkView, HttpResponse> {
    if !well_formed(token) {
        return Err(not_found());
    }
    let link = state
        .store
        .escalation_link(&digest(token))
        .await
        .map_err(unavailable)?
        .ok_or_else(not_found)?;
    if link.expires_at <= state.clock.now() {
        return Err(expired());
    }
    Ok(link)
}

fn shown(link: &LinkView, state: &AppState) -> HttpResponse {
    match &link.answer {
        Some(answer) => html(StatusCode::OK, page::answer(link, answer)),
        None if !link.panic_button => not_in_tier(&link.tier_name),
        None => html(
            StatusCode::OK,
            page::form(link, &state.settings.p1, &Default::default(), &[]),
        ),
    }
}

async fn show(state: web::Data<AppState>, token: web::Path<String>) -> HttpResponse {
    match link(&state, &token).await {
        Ok(link) => shown(&link, &state),
        Err(page) => page,
    }
}

async fn submit(
    state: web::Data<AppState>,
    req: HttpRequest,
    token: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    // The link's token is the only credential (no cookie), so a forged cross-site POST needs
    // the token already, and with it the attacker could submit directly: this check is defence
    // in depth, not the protection.
    if crate::web::csrf::from_another_site(&req, &state.public_url) {
        return html(
            StatusCode::FORBIDDEN,
            page::message(
                "This form was sent from another site",
                "Nothing was changed. Open the link from your e-mail and answer the questions \
                 there.",
            ),
        );
    }
    let link = match link(&state, &token).await {
        Ok(link) => link,
        Err(page) => return page,
    };
    // Answered: the first answer, whatever this form says.
    if link.answer.is_some() {
        return shown(&link, &state);
    }
    if !link.panic_button {
        if let Err(e) = state
            .store
            .refuse_escalation_link(&link, state.clock.now())
            .await
        {
            return unavailable(e);
        }
        return not_in_tier(&link.tier_name);
    }
    let definition = &state.settings.p1;
    let fields = form::fields(&body);
    let answer = match form::parse(&fields, &definition.questions()) {
        Ok(answer) => answer,
        Err(errors) => {
            return html(
                StatusCode::BAD_REQUEST,
                page::form(&link, definition, &fields, &errors),
            )
        }
    };
    let classification = definition.classify(&answer.answers);
    let submitted = state
        .store
        .answer_escalation_link(
            &LinkSubmission {
                token_digest: &digest(&token),
                answers: answer.answers,
                affected_service: answer.affected_service.as_deref(),
                classification: &classification,
                flood: state.settings.intake.flood_guard(),
            },
            state.clock.now(),
        )
        .await;
    match submitted {
        Ok(Submitted::Answered { pages, .. }) => {
            if pages > 0 {
                state.dispatch_wake.notify_one();
            }
            show_fresh(&state, &token).await
        }
        Ok(Submitted::Replay(_)) => show_fresh(&state, &token).await,
        Ok(Submitted::Unknown) => not_found(),
        Ok(Submitted::Expired) => expired(),
        Ok(Submitted::NotInTier { tier }) => not_in_tier(&tier),
        Err(e) => unavailable(e),
    }
}

/// The link read again after an answer: the answer page with the incident as it now stands.
async fn show_fresh(state: &AppState, token: &str) -> HttpResponse {
    match state.store.escalation_link(&digest(token)).await {
        Ok(Some(link)) => shown(&link, state),
        Ok(None) => not_found(),
        Err(e) => unavailable(e),
    }
}
