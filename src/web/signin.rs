//! Signing in and out, and setting a password from an invite link.
//!
//! Sign-in checks, in order: the form's double-submit token and origin
//! ([`super::csrf::check_pre_session`]), a place among the unauthenticated requests (the gate
//! enroll and refresh share), the failure limits per client address and per e-mail (429 with
//! `Retry-After`), then the password (Argon2id on a blocking thread). An unknown e-mail, an
//! account without a password yet and a wrong password get the same answer after the same
//! work (a dummy hash is verified), so the page does not tell which e-mails have accounts.
//!
//! Setting a password uses the invite up and ends every session of the account, in one
//! transaction; a used or expired link says so and changes nothing.

use actix_web::http::header;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use maud::{html, Markup};
use serde::Deserialize;

use super::csrf::{self, CsrfForm, NoFields};
use super::failure::PageError;
use super::layout;
use super::session::{self, StaffSession, SESSION_COOKIE};
use crate::auth::{password, secrets};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(sign_in_page)
        .service(sign_in)
        .service(sign_out)
        .service(set_password_page)
        .service(set_password);
}

/// The same words for every failed sign-in.
pub const WRONG: &str = "That e-mail address and password do not match an account.";

/// Where to go after signing in: only a console page of this gateway, never another site.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with("/console")
                && !n.starts_with("/console/sign-")
                && !n.contains("//")
                && !n.contains('\\') =>
        {
            n.to_owned()
        }
        _ => "/console".to_owned(),
    }
}

#[derive(Deserialize)]
struct SignInQuery {
    next: Option<String>,
    notice: Option<String>,
}

struct SignInView<'a> {
    email: &'a str,
    next: &'a str,
    csrf: &'a str,
    error: Option<&'a str>,
    notice: Option<&'a str>,
}

fn sign_in_form(v: SignInView<'_>) -> Markup {
    let notice = match v.notice {
        Some("signed-out") => Some("You are signed out."),
        Some("password-set") => Some("Your password is set. Sign in with it now."),
        _ => None,
    };
    let body = html! {
        section.card.narrow {
            h1 { "Sign in" }
            p.muted { "The panic-gateway console, for support staff." }
            @if let Some(notice) = notice { p.notice role="status" { (notice) } }
            @if let Some(error) = v.error { p.error #sign-in-error role="alert" { (error) } }
            form method="post" action="/console/sign-in" {
                input type="hidden" name=(csrf::FIELD) value=(v.csrf);
                input type="hidden" name="next" value=(v.next);
                label for="email" { "E-mail" }
                input #email type="email" name="email" value=(v.email) autocomplete="username" required autofocus;
                label for="password" { "Password" }
                input #password type="password" name="password" autocomplete="current-password" required;
                button.primary type="submit" { "Sign in" }
            }
        }
    };
    layout::page("Sign in", None, body)
}

fn with_pre_cookie(
    mut builder: actix_web::HttpResponseBuilder,
    cookie: Option<String>,
) -> actix_web::HttpResponseBuilder {
    if let Some(cookie) = cookie {
        builder.append_header((header::SET_COOKIE, cookie));
    }
    builder
}

#[get("/console/sign-in")]
async fn sign_in_page(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<SignInQuery>,
) -> HttpResponse {
    let (token, cookie) = csrf::pre_session_token(&req, &state);
    let next = safe_next(query.next.as_deref());
    let page = sign_in_form(SignInView {
        email: "",
        next: &next,
        csrf: &token,
        error: None,
        notice: query.notice.as_deref(),
    });
    layout::respond_with(with_pre_cookie(HttpResponse::Ok(), cookie), page)
}

#[derive(Deserialize)]
struct SignInForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
    next: Option<String>,
}

#[post("/console/sign-in")]
async fn sign_in(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<SignInForm>,
) -> Result<HttpResponse, PageError> {
    let form = form.into_inner();
    csrf::check_pre_session(&req, &state, &form.csrf)?;
    let _place = state.unauthenticated.admit().ok_or(PageError::Busy)?;
    let client = state.unauthenticated.client_of(&req);
    let now = state.clock.now();
    if let Some(secs) = state
        .unauthenticated
        .sign_in_refused(client, &form.email, now)
    {
        return Err(PageError::TooMany { secs });
    }
    let account = state.store.staff_account_by_email(&form.email).await?;
    let stored = account.as_ref().and_then(|a| a.password_hash.clone());
    // Longer than any password that can be set: wrong, after the same work as any other.
    let typed = if form.password.chars().count() > password::MAX_LENGTH {
        String::new()
    } else {
        form.password.clone()
    };
    let matches = web::block(move || {
        password::verify_or_waste(&typed, stored.as_deref()) && !typed.is_empty()
    })
    .await
    .unwrap_or(false);
    let next = safe_next(form.next.as_deref());
    let Some(account) = account.filter(|_| matches) else {
        state
            .unauthenticated
            .sign_in_failed(client, &form.email, now);
        tracing::info!("console sign-in failed");
        let page = sign_in_form(SignInView {
            email: &form.email,
            next: &next,
            csrf: &form.csrf,
            error: Some(WRONG),
            notice: None,
        });
        return Ok(layout::respond_with(HttpResponse::Unauthorized(), page));
    };
    let token = secrets::random_token(32);
    let lifetime = state.settings.console.lifetime();
    state
        .store
        .create_staff_session(
            &account.user_id,
            &secrets::digest(&token),
            &secrets::random_token(32),
            now + lifetime,
            now,
        )
        .await?;
    tracing::info!(user = %account.user_id, "console sign-in");
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, next))
        .append_header((
            header::SET_COOKIE,
            session::set_cookie(&state, SESSION_COOKIE, &token, lifetime.num_seconds()),
        ))
        .append_header((
            header::SET_COOKIE,
            session::set_cookie(&state, csrf::PRE_SESSION_COOKIE, "", 0),
        ))
        .finish())
}

#[post("/console/sign-out")]
async fn sign_out(
    state: web::Data<AppState>,
    who: StaffSession,
    _: CsrfForm<NoFields>,
) -> Result<HttpResponse, PageError> {
    state
        .store
        .end_staff_session(&who.token_hash, state.clock.now())
        .await?;
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/console/sign-in?notice=signed-out"))
        .append_header((
            header::SET_COOKIE,
            session::set_cookie(&state, SESSION_COOKIE, "", 0),
        ))
        .finish())
}

#[derive(Deserialize)]
struct TokenQuery {
    #[serde(default)]
    token: String,
}

fn link_dead() -> HttpResponse {
    let body = html! {
        section.card.narrow {
            h1 { "Link no longer valid" }
            p.error role="alert" { "This set-password link has expired or has already been used. Ask an admin for a new invite." }
            p { a href="/console/sign-in" { "Sign in" } }
        }
    };
    layout::respond_with(
        HttpResponse::Gone(),
        layout::page("Link no longer valid", None, body),
    )
}

fn set_password_form(
    name: &str,
    email: &str,
    token: &str,
    csrf: &str,
    error: Option<&str>,
) -> Markup {
    let body = html! {
        section.card.narrow {
            h1 { "Set your password" }
            p { "For " strong { (name) } " (" (email) ")." }
            @if let Some(error) = error { p.error #password-error role="alert" { "The password " (error) "." } }
            form method="post" action="/console/set-password" {
                input type="hidden" name=(csrf::FIELD) value=(csrf);
                input type="hidden" name="token" value=(token);
                input type="email" name="username" value=(email) autocomplete="username" hidden;
                label for="password" { "New password" }
                input #password type="password" name="password" autocomplete="new-password"
                    minlength=(password::MIN_LENGTH) required autofocus aria-describedby="password-help";
                p.muted #password-help { "At least " (password::MIN_LENGTH) " characters. A few unrelated words make a good one." }
                label for="repeat" { "The same password again" }
                input #repeat type="password" name="repeat" autocomplete="new-password" required;
                button.primary type="submit" { "Set password" }
            }
        }
    };
    layout::page("Set your password", None, body)
}

#[get("/console/set-password")]
async fn set_password_page(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<TokenQuery>,
) -> Result<HttpResponse, PageError> {
    let account = state
        .store
        .staff_invite(&secrets::digest(&query.token), state.clock.now())
        .await?;
    let Some(account) = account else {
        return Ok(link_dead());
    };
    let (csrf, cookie) = csrf::pre_session_token(&req, &state);
    let page = set_password_form(&account.name, &account.email, &query.token, &csrf, None);
    Ok(layout::respond_with(
        with_pre_cookie(HttpResponse::Ok(), cookie),
        page,
    ))
}

#[derive(Deserialize)]
struct SetPasswordForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    repeat: String,
}

#[post("/console/set-password")]
async fn set_password(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<SetPasswordForm>,
) -> Result<HttpResponse, PageError> {
    let form = form.into_inner();
    csrf::check_pre_session(&req, &state, &form.csrf)?;
    let token_hash = secrets::digest(&form.token);
    let Some(account) = state
        .store
        .staff_invite(&token_hash, state.clock.now())
        .await?
    else {
        return Ok(link_dead());
    };
    if let Err(error) = password::check_new(&form.password, &form.repeat) {
        let page = set_password_form(
            &account.name,
            &account.email,
            &form.token,
            &form.csrf,
            Some(&error),
        );
        return Ok(layout::respond_with(
            HttpResponse::UnprocessableEntity(),
            page,
        ));
    }
    let _place = state.unauthenticated.admit().ok_or(PageError::Busy)?;
    let typed = form.password;
    let hashed = web::block(move || password::hash(&typed))
        .await
        .map_err(|_| PageError::Busy)?;
    match state
        .store
        .set_staff_password(&token_hash, &hashed, state.clock.now())
        .await?
    {
        Some(_) => Ok(HttpResponse::SeeOther()
            .insert_header((header::LOCATION, "/console/sign-in?notice=password-set"))
            .finish()),
        None => Ok(link_dead()),
    }
}

#[cfg(test)]
mod tests {
    use super::super::error_page::encode_next;
    use super::*;

    #[test]
    fn only_console_pages_are_followed_after_sign_in() {
        assert_eq!(safe_next(Some("/console/staff")), "/console/staff");
        assert_eq!(safe_next(Some("https://evil.example/")), "/console");
        assert_eq!(safe_next(Some("//evil.example/console")), "/console");
        assert_eq!(safe_next(Some("/console//evil.example")), "/console");
        assert_eq!(safe_next(Some("/console/sign-out")), "/console");
        assert_eq!(safe_next(None), "/console");
        assert_eq!(encode_next("/console?a=b"), "%2Fconsole%3Fa%3Db");
    }
}
