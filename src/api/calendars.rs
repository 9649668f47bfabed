//! Calendar feeds: on-call people subscribe their phone or desktop calendar to their shifts.
//!
//! - `GET /v1/calendars/{token}.ics` answers the feed (RFC 5545, rendered by
//!   [`crate::domain::ical`] from [`crate::domain::shift_feed`]) to whoever holds the token:
//!   calendar apps cannot send an `Authorization` header, so the URL is the credential, as in
//!   GoAlert and PagerDuty. A token that is malformed, unknown or revoked gets the same 404,
//!   which says nothing about whether it ever existed.
//! - Admins issue, list and revoke feeds of a person (`/v1/admin/users/{id}/calendar-feeds`)
//!   or of a schedule (`/v1/admin/schedules/{id}/calendar-feeds`); a responder does the same
//!   for their own shifts under `/v1/responders/me/calendar-feeds`. The URL, which holds the
//!   token, is answered once with `Cache-Control: no-store`; only its SHA-256 digest is
//!   stored, so the lists never show it. Issuing and revoking are audited.
//!
//! The feed's URL is relative to the gateway (the settings have no public base URL to build
//! an absolute one from, and the request's `Host` header is the caller's to choose).

use actix_web::http::header;
use actix_web::{delete, get, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::extract::{Admin, ResponderDevice};
use super::page::PageRequest;
use super::{no_store, FieldError, Problem};
use crate::auth::secrets;
use crate::domain::ical;
use crate::domain::identity::UserRole;
use crate::domain::shift_feed::{self, NamedSchedule};
use crate::state::AppState;
use crate::store::calendars::FeedOwner;

/// Prefix that makes a feed token recognisable in a secret scanner.
pub const FEED_TOKEN_PREFIX: &str = "pgwcal_";

/// Random bytes in a token: 256 bits, like refresh tokens and admin keys.
const FEED_TOKEN_BYTES: usize = 32;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(feed)
        .service(issue_user_feed)
        .service(list_user_feeds)
        .service(revoke_user_feed)
        .service(issue_schedule_feed)
        .service(list_schedule_feeds)
        .service(revoke_schedule_feed)
        .service(issue_my_feed)
        .service(list_my_feeds)
        .service(revoke_my_feed);
}

/// A 404 naming the path parameter that names nothing.
fn unknown(field: &str, detail: String) -> Problem {
    let mut p = Problem::not_found(detail.clone());
    p.errors = vec![FieldError::new(field, detail)];
    p
}

/// The one answer for every token that does not open a live feed.
fn no_feed() -> Problem {
    Problem::not_found("no calendar feed at this address")
}

#[get("/v1/calendars/{token}.ics")]
async fn feed(
    state: web::Data<AppState>,
    token: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let well_formed = token.len() == FEED_TOKEN_PREFIX.len() + 43
        && token.starts_with(FEED_TOKEN_PREFIX)
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !well_formed {
        return Err(no_feed());
    }
    let owner = state
        .store
        .live_calendar_feed(&secrets::digest(&token))
        .await?
        .ok_or_else(no_feed)?;
    let now = state.clock.now();
    let calendar = match owner {
        FeedOwner::User(user_id) => {
            let user = state.store.user(&user_id).await?.ok_or_else(no_feed)?;
            let stored = state.store.list_schedules().await?;
            let schedules: Vec<NamedSchedule<'_>> = stored
                .iter()
                .map(|s| NamedSchedule {
                    id: &s.id,
                    name: &s.name,
                    schedule: &s.schedule,
                })
                .collect();
            shift_feed::person_calendar(&user.id, &user.name, &schedules, now)
        }
        FeedOwner::Schedule(schedule_id) => {
            let s = state
                .store
                .schedule(&schedule_id)
                .await?
                .ok_or_else(no_feed)?;
            // Names of everyone the schedule can put on call, read once each.
            let mut names = std::collections::HashMap::new();
            let people = s.schedule.rotations().iter().flat_map(|r| &r.participants);
            let covers = s.schedule.overrides().iter().map(|o| &o.user_id);
            for user_id in people.chain(covers) {
                if !names.contains_key(user_id) {
                    let name = state.store.user(user_id).await?.map(|u| u.name);
                    names.insert(user_id.clone(), name);
                }
            }
            shift_feed::schedule_calendar(
                NamedSchedule {
                    id: &s.id,
                    name: &s.name,
                    schedule: &s.schedule,
                },
                |id| names.get(id).cloned().flatten(),
                now,
            )
        }
    };
    Ok(HttpResponse::Ok()
        .content_type("text/calendar; charset=utf-8")
        // A subscriber's own cache may keep it a few minutes; shared caches may not.
        .insert_header((header::CACHE_CONTROL, "private, max-age=300"))
        .body(ical::render(&calendar, now)))
}

/// A feed just issued: the only time its URL (which holds the token) is shown.
#[derive(Serialize)]
struct IssuedFeed {
    id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    schedule_id: Option<String>,
    /// Relative to the gateway's public address.
    url: String,
    created_at: DateTime<Utc>,
}

async fn issue(state: &AppState, owner: FeedOwner, actor: &str) -> Result<HttpResponse, Problem> {
    let token = format!(
        "{FEED_TOKEN_PREFIX}{}",
        secrets::random_token(FEED_TOKEN_BYTES)
    );
    let record = state
        .store
        .create_calendar_feed(&owner, &secrets::digest(&token), actor, state.clock.now())
        .await?;
    Ok(no_store(HttpResponse::Created()).json(IssuedFeed {
        id: record.id,
        user_id: record.user_id,
        schedule_id: record.schedule_id,
        url: format!("/v1/calendars/{token}.ics"),
        created_at: record.created_at,
    }))
}

async fn list(
    state: &AppState,
    owner: FeedOwner,
    page: PageRequest,
) -> Result<HttpResponse, Problem> {
    let feeds = state
        .store
        .calendar_feeds_page(&owner, page.after(), page.fetch())
        .await?;
    Ok(HttpResponse::Ok().json(page.page(feeds, |f| &f.id)))
}

async fn revoke(
    state: &AppState,
    owner: FeedOwner,
    feed_id: &str,
    actor: &str,
) -> Result<HttpResponse, Problem> {
    if state
        .store
        .revoke_calendar_feed(&owner, feed_id, actor, state.clock.now())
        .await?
    {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(unknown("feed_id", format!("no calendar feed {feed_id}")))
    }
}

/// A person who can be on call: a responder, not a customer's contact.
async fn staff(state: &AppState, id: &str) -> Result<FeedOwner, Problem> {
    match state.store.user(id).await? {
        None => Err(unknown("id", format!("no user {id}"))),
        Some(u) if u.role == UserRole::Contact => Err(Problem::field(
            "id",
            "is a customer's contact, who is never on call; give a responder",
        )),
        Some(u) => Ok(FeedOwner::User(u.id)),
    }
}

async fn schedule(state: &AppState, id: &str) -> Result<FeedOwner, Problem> {
    match state.store.schedule(id).await? {
        None => Err(unknown("id", format!("no schedule {id}"))),
        Some(s) => Ok(FeedOwner::Schedule(s.id)),
    }
}

#[post("/v1/admin/users/{id}/calendar-feeds")]
async fn issue_user_feed(
    state: web::Data<AppState>,
    admin: Admin,
    id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let owner = staff(&state, &id).await?;
    issue(&state, owner, &admin.actor()).await
}

#[get("/v1/admin/users/{id}/calendar-feeds")]
async fn list_user_feeds(
    state: web::Data<AppState>,
    _: Admin,
    id: web::Path<String>,
    page: PageRequest,
) -> Result<HttpResponse, Problem> {
    let owner = staff(&state, &id).await?;
    list(&state, owner, page).await
}

#[delete("/v1/admin/users/{id}/calendar-feeds/{feed_id}")]
async fn revoke_user_feed(
    state: web::Data<AppState>,
    admin: Admin,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, Problem> {
    let (id, feed_id) = path.into_inner();
    let owner = staff(&state, &id).await?;
    revoke(&state, owner, &feed_id, &admin.actor()).await
}

#[post("/v1/admin/schedules/{id}/calendar-feeds")]
async fn issue_schedule_feed(
    state: web::Data<AppState>,
    admin: Admin,
    id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let owner = schedule(&state, &id).await?;
    issue(&state, owner, &admin.actor()).await
}

#[get("/v1/admin/schedules/{id}/calendar-feeds")]
async fn list_schedule_feeds(
    state: web::Data<AppState>,
    _: Admin,
    id: web::Path<String>,
    page: PageRequest,
) -> Result<HttpResponse, Problem> {
    let owner = schedule(&state, &id).await?;
    list(&state, owner, page).await
}

#[delete("/v1/admin/schedules/{id}/calendar-feeds/{feed_id}")]
async fn revoke_schedule_feed(
    state: web::Data<AppState>,
    admin: Admin,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, Problem> {
    let (id, feed_id) = path.into_inner();
    let owner = schedule(&state, &id).await?;
    revoke(&state, owner, &feed_id, &admin.actor()).await
}

#[post("/v1/responders/me/calendar-feeds")]
async fn issue_my_feed(
    state: web::Data<AppState>,
    ResponderDevice(p): ResponderDevice,
) -> Result<HttpResponse, Problem> {
    let actor = format!("device:{}", p.device_id);
    issue(&state, FeedOwner::User(p.user_id), &actor).await
}

#[get("/v1/responders/me/calendar-feeds")]
async fn list_my_feeds(
    state: web::Data<AppState>,
    ResponderDevice(p): ResponderDevice,
    page: PageRequest,
) -> Result<HttpResponse, Problem> {
    list(&state, FeedOwner::User(p.user_id), page).await
}

#[delete("/v1/responders/me/calendar-feeds/{feed_id}")]
async fn revoke_my_feed(
    state: web::Data<AppState>,
    ResponderDevice(p): ResponderDevice,
    feed_id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let actor = format!("device:{}", p.device_id);
    revoke(&state, FeedOwner::User(p.user_id), &feed_id, &actor).await
}
