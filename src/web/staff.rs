//! `/console/staff` (admins): who can sign in to the console, whether they have set a
//! password, how many sessions they have open, and a button that ends them all (as
//! `POST /v1/admin/users/{id}/sessions/revoke` does). Invites are issued from the CLI or the
//! API, which show the link once.

use actix_web::http::header;
use actix_web::{get, post, web, HttpResponse};
use maud::html;

use super::csrf::{self, CsrfForm, NoFields};
use super::failure::PageError;
use super::layout::{self, Nav, Section};
use super::session::{AdminSession, StaffRole};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(staff_page).service(revoke_sessions);
}

#[get("/console/staff")]
async fn staff_page(
    state: web::Data<AppState>,
    AdminSession(who): AdminSession,
) -> Result<HttpResponse, PageError> {
    let accounts = state
        .store
        .staff_accounts(state.settings.console.idle(), state.clock.now())
        .await?;
    let body = html! {
        div.page-head {
            h1 { "Staff" }
            p.muted { "People who sign in to this console. Invite with " code { "panic-gateway admin invite --user ID" } "." }
        }
        div.table-wrap {
            table {
                thead { tr {
                    th scope="col" { "Name" } th scope="col" { "E-mail" } th scope="col" { "Role" }
                    th scope="col" { "Password" } th scope="col" { "Open sessions" }
                    th scope="col" { span.visually-hidden { "Actions" } }
                } }
                tbody {
                    @for a in &accounts {
                        tr {
                            td data-label="Name" { (a.name) }
                            td data-label="E-mail" { (a.email) }
                            td data-label="Role" { (StaffRole::from_account(a.role, a.admin).label()) }
                            td data-label="Password" { @if a.password_set { "set" } @else { span.muted { "invited" } } }
                            td data-label="Open sessions" { (a.live_sessions) }
                            td.actions {
                                @if a.live_sessions > 0 {
                                    form method="post" action={"/console/staff/" (a.user_id) "/revoke-sessions"} {
                                        (csrf::field(&who))
                                        button type="submit" { "Sign out everywhere" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(layout::respond(layout::page(
        "Staff",
        Some(Nav::new(&who, Section::Staff)),
        body,
    )))
}

#[post("/console/staff/{id}/revoke-sessions")]
async fn revoke_sessions(
    state: web::Data<AppState>,
    AdminSession(who): AdminSession,
    _: CsrfForm<NoFields>,
    id: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    state
        .store
        .revoke_staff_sessions(
            &id,
            state.settings.console.idle(),
            &who.actor(),
            state.clock.now(),
        )
        .await?
        .ok_or_else(|| PageError::NotFound(format!("There is no staff account {id}.")))?;
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/console/staff"))
        .finish())
}
