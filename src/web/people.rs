//! `/console/people` (support managers read it, admins act): customers with their tier and
//! account manager, every person (staff and customers' contacts) with their devices, a Revoke
//! button per live device, and "Issue an enrollment code", which shows the code once as a QR
//! code the app scans ([`super::qr`]) and as text with its expiry. Admins reach each staff
//! member's contact methods from here ([`super::contacts`]).
//!
//! Acting goes through the same paths as the admin API: revoking is
//! [`crate::store::Store::revoke_device`] with the reason `POST /v1/admin/devices/{id}/revoke`
//! gives, and a code is [`crate::auth::issue_enrollment_code`] with the configured lifetime,
//! both audited as `staff:<id>`.
//!
//! Limits: the lists are read whole up to [`LIMIT`] rows each (three plain reads); past that
//! the page says so and the admin API's paged lists are the way to the rest. A code is shown
//! only on the answer to the POST that issued it (`no-store`): reloading does not show it
//! again, as the API never does.

use std::collections::HashMap;

use actix_web::http::header;
use actix_web::{get, post, web, HttpResponse};
use chrono::Duration;
use maud::{html, Markup};

use super::csrf::{self, CsrfForm, NoFields};
use super::failure::PageError;
use super::layout::{self, Nav, Section};
use super::qr;
use super::session::{AdminSession, ManagerSession, StaffRole, StaffSession};
use crate::domain::identity::{Device, User, UserRole};
use crate::state::AppState;

/// How many customers, people and devices the page reads at most, each.
pub const LIMIT: i64 = 500;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(people_page)
        .service(revoke_device)
        .service(issue_code);
}

fn role_label(role: UserRole) -> &'static str {
    match role {
        UserRole::Contact => "contact",
        UserRole::Responder => "responder",
        UserRole::SupportManager => "support manager",
    }
}

fn device_item(d: &Device, who: &StaffSession) -> Markup {
    html! {
        li.device #{"device-" (d.id)} data-revoked=(d.revoked) {
            span.device-name { (d.name) }
            " "
            span.muted { (d.platform.as_str()) " · app " (d.app_version) }
            " "
            @if d.revoked {
                span.badge.off { "revoked" }
                @if let Some(why) = &d.revoked_reason { " " span.muted { "(" (why) ")" } }
            } @else if d.push_token_dead {
                span.badge.warn { "push token dead" }
            } @else {
                span.badge.on { "active" }
            }
            @if !d.revoked && who.role >= StaffRole::Admin {
                form.inline method="post" action={"/console/devices/" (d.id) "/revoke"} {
                    (csrf::field(who))
                    button.danger type="submit" aria-label={"Revoke " (d.name)} { "Revoke" }
                }
            }
        }
    }
}

#[get("/console/people")]
async fn people_page(
    state: web::Data<AppState>,
    ManagerSession(who): ManagerSession,
) -> Result<HttpResponse, PageError> {
    let store = &state.store;
    let customers = store.customers_page(None, LIMIT).await?;
    let users = store.users_page(None, None, LIMIT).await?;
    let devices = store.devices_page(None, None, LIMIT).await?;
    let tiers: HashMap<String, String> = store
        .list_tiers()
        .await?
        .into_iter()
        .map(|t| (t.id, t.name))
        .collect();
    let names: HashMap<&str, &str> = users
        .iter()
        .map(|u| (u.id.as_str(), u.name.as_str()))
        .collect();
    let customer_names: HashMap<&str, &str> = customers
        .iter()
        .map(|c| (c.id.as_str(), c.name.as_str()))
        .collect();
    let mut by_user: HashMap<&str, Vec<&Device>> = HashMap::new();
    for d in &devices {
        by_user.entry(d.user_id.as_str()).or_default().push(d);
    }
    let contacts_of = |customer: &str| -> Vec<&User> {
        users
            .iter()
            .filter(|u| u.customer_id.as_deref() == Some(customer))
            .collect()
    };
    let truncated = [customers.len(), users.len(), devices.len()]
        .iter()
        .any(|n| *n as i64 >= LIMIT);
    let admin = who.role >= StaffRole::Admin;
    let body = html! {
        div.page-head {
            h1 { "Customers and people" }
            p.muted {
                @if admin { "Revoke a lost phone, or issue an enrollment code for a new one." }
                @else { "Read-only for support managers: admins revoke devices and issue enrollment codes." }
            }
            @if truncated {
                p.notice #truncated { "Showing the first " (LIMIT) " of each list; the admin API (" code { "GET /v1/admin/users" } ") pages through all." }
            }
        }
        h2 { "Customers" }
        div.table-wrap {
            table #customers {
                thead { tr {
                    th scope="col" { "Customer" } th scope="col" { "Tier" }
                    th scope="col" { "Account manager" } th scope="col" { "Contacts" }
                } }
                tbody {
                    @for c in &customers {
                        tr #{"customer-" (c.id)} {
                            td data-label="Customer" { strong { (c.name) } }
                            td data-label="Tier" { span.tier { (tiers.get(&c.tier).map_or(c.tier.as_str(), String::as_str)) } }
                            td data-label="Account manager" {
                                @match c.account_manager_id.as_deref().and_then(|id| names.get(id)) {
                                    Some(name) => { (name) }
                                    None => { span.muted { "none" } }
                                }
                            }
                            td data-label="Contacts" {
                                @let contacts = contacts_of(&c.id);
                                @if contacts.is_empty() { span.muted { "none" } }
                                @else { (contacts.iter().map(|u| u.name.as_str()).collect::<Vec<_>>().join(", ")) }
                            }
                        }
                    }
                }
            }
        }
        h2 { "People and devices" }
        div.table-wrap {
            table #people {
                thead { tr {
                    th scope="col" { "Person" } th scope="col" { "Role" }
                    th scope="col" { "Organisation" } th scope="col" { "Devices" }
                    @if admin { th scope="col" { span.visually-hidden { "Actions" } } }
                } }
                tbody {
                    @for u in &users {
                        tr #{"user-" (u.id)} {
                            td data-label="Person" {
                                strong { (u.name) }
                                @if let Some(email) = &u.email { div.muted { (email) } }
                            }
                            td data-label="Role" { (role_label(u.role)) }
                            td data-label="Organisation" {
                                @match u.customer_id.as_deref() {
                                    Some(id) => { (customer_names.get(id).copied().unwrap_or(id)) }
                                    None => { span.muted { "staff" } }
                                }
                            }
                            td data-label="Devices" {
                                @match by_user.get(u.id.as_str()) {
                                    Some(list) => { ul.devices { @for d in list { (device_item(d, &who)) } } }
                                    None => { span.muted { "no devices" } }
                                }
                            }
                            @if admin {
                                td.actions {
                                    @if u.role != UserRole::Contact {
                                        a.button.contacts-link href={"/console/people/" (u.id) "/contact-methods"} { "Contact methods" }
                                    }
                                    form method="post" action={"/console/people/" (u.id) "/enrollment-code"} {
                                        (csrf::field(&who))
                                        button type="submit" { "Issue enrollment code" }
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
        "Customers and people",
        Some(Nav::new(&who, Section::People)),
        body,
    )))
}

/// Revokes a device as `POST /v1/admin/devices/{id}/revoke` does, then back to the list.
#[post("/console/devices/{id}/revoke")]
async fn revoke_device(
    state: web::Data<AppState>,
    AdminSession(who): AdminSession,
    _: CsrfForm<NoFields>,
    id: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let now = state.clock.now();
    let device = state
        .store
        .device(&id)
        .await?
        .ok_or_else(|| PageError::NotFound(format!("There is no device {id}.")))?;
    // Already revoked: nothing to do, and the list shows it so.
    state
        .store
        .revoke_device(&id, "revoked by an admin", &who.actor(), now)
        .await?;
    Ok(HttpResponse::SeeOther()
        .insert_header((
            header::LOCATION,
            format!("/console/people#user-{}", device.user_id),
        ))
        .finish())
}

/// Issues a code for a person and shows it once: QR code, text, expiry.
#[post("/console/people/{id}/enrollment-code")]
async fn issue_code(
    state: web::Data<AppState>,
    AdminSession(who): AdminSession,
    _: CsrfForm<NoFields>,
    id: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let user = state
        .store
        .user(&id)
        .await?
        .ok_or_else(|| PageError::NotFound(format!("There is no person {id}.")))?;
    let now = state.clock.now();
    let ttl = Duration::hours(state.settings.auth.enrollment_code_ttl_hours as i64);
    let issued = crate::auth::issue_enrollment_code(
        &state.store,
        &state.enrollment_codes,
        &user.id,
        ttl,
        &who.actor(),
        now,
    )
    .await?;
    let code = issued.code.display();
    let uri = qr::enroll_uri(&state.public_url, &code);
    let body = html! {
        section.card.enroll #enrollment {
            h1 { "Enrollment code for " (user.name) }
            p { "Scan with the panic-gateway app, or type the code into it. It works once." }
            div.enroll-body {
                (qr::svg(&uri, &format!("QR code enrolling a phone for {}", user.name)))
                dl {
                    dt { "Code" } dd { code #enroll-code { (code) } }
                    dt { "Gateway" } dd #enroll-server { (state.public_url) }
                    dt { "Expires" }
                    dd #enroll-expires data-at=(issued.expires_at.to_rfc3339()) {
                        (issued.expires_at.format("%Y-%m-%d %H:%M UTC"))
                        " (in " (crate::domain::countdown::span(issued.expires_at - now)) ")"
                    }
                }
            }
            p.muted { "This page is the only place the code is shown. It is stored only as a keyed hash." }
            p { a href={"/console/people#user-" (user.id)} { "Back to customers and people" } }
        }
    };
    Ok(layout::respond(layout::page(
        "Enrollment code",
        Some(Nav::new(&who, Section::People)),
        body,
    )))
}
