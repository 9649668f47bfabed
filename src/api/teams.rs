//! Admin: teams, the ordered lists of staff that a `team_round_robin` escalation step pages
//! one member at a time.
//!
//! Order of checks: the body's shape (by the JSON extractor), then the id, the name and the
//! member list without the directory (at least one, nobody twice), then every member against
//! the directory (a staff user, not a customer's contact). Every failure is one 422 naming each
//! field (`members[2]`); nothing is stored. A taken id is 409. Deleting a team a stored policy
//! pages is 409 naming the policy. Who is picked, and the pointer, are `store::teams`'.

use actix_web::{delete, get, post, put, web, HttpResponse};
use serde::Deserialize;

use super::extract::Admin;
use super::page::PageRequest;
use super::validate::Validator;
use super::{Json, Problem};
use crate::domain::identity::UserRole;
use crate::domain::team::{check_members, TeamId};
use crate::state::AppState;
use crate::store::teams::TeamDeleted;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(create_team)
        .service(list_teams)
        .service(get_team)
        .service(replace_team)
        .service(delete_team);
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewTeam {
    id: String,
    name: String,
    /// User ids, in round-robin order.
    members: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TeamBody {
    name: String,
    members: Vec<String>,
}

/// The checks on a name and a member list shared by create and replace; returns the name.
async fn check_team(
    v: &mut Validator,
    state: &AppState,
    name: &str,
    members: &[String],
) -> Result<String, Problem> {
    let name = v.text("name", name, 100);
    let shape = check_members("", members);
    let blank_or_twice: Vec<&str> = shape.iter().map(|e| e.field.as_str()).collect();
    for e in &shape {
        v.error(&e.field, &e.reason);
    }
    for (i, user_id) in members.iter().enumerate() {
        let field = format!("members[{i}]");
        if blank_or_twice.contains(&field.as_str()) {
            continue;
        }
        match state.store.user(user_id).await? {
            None => v.error(&field, "no such user"),
            Some(u) if u.role == UserRole::Contact => v.error(
                &field,
                "must be a responder or support manager, not a customer's contact",
            ),
            Some(_) => {}
        }
    }
    Ok(name)
}

#[post("/v1/admin/teams")]
async fn create_team(
    state: web::Data<AppState>,
    _: Admin,
    Json(body): Json<NewTeam>,
) -> Result<HttpResponse, Problem> {
    let mut v = Validator::new();
    let id = TeamId::parse(&body.id)
        .map_err(|reason| v.error("id", reason))
        .ok();
    let name = check_team(&mut v, &state, &body.name, &body.members).await?;
    v.finish()?;
    let id = id.ok_or_else(|| Problem::field("id", "invalid"))?;
    let team = state
        .store
        .create_team(id.as_str(), &name, &body.members, state.clock.now())
        .await?;
    Ok(HttpResponse::Created().json(team))
}

#[get("/v1/admin/teams")]
async fn list_teams(
    state: web::Data<AppState>,
    _: Admin,
    page: PageRequest,
) -> Result<HttpResponse, Problem> {
    let rows = state.store.teams_page(page.after(), page.fetch()).await?;
    Ok(HttpResponse::Ok().json(page.page(rows, |t| &t.id)))
}

#[get("/v1/admin/teams/{id}")]
async fn get_team(
    state: web::Data<AppState>,
    _: Admin,
    id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let team = state
        .store
        .team(&id)
        .await?
        .ok_or_else(|| Problem::not_found(format!("no team {id}")))?;
    Ok(HttpResponse::Ok().json(team))
}

/// Renames the team and replaces its members; the round-robin pointer stays with the member
/// picked last (or their old position, if they are no longer in the team).
#[put("/v1/admin/teams/{id}")]
async fn replace_team(
    state: web::Data<AppState>,
    _: Admin,
    id: web::Path<String>,
    Json(body): Json<TeamBody>,
) -> Result<HttpResponse, Problem> {
    let mut v = Validator::new();
    let name = check_team(&mut v, &state, &body.name, &body.members).await?;
    v.finish()?;
    let team = state
        .store
        .replace_team(&id, &name, &body.members, state.clock.now())
        .await?
        .ok_or_else(|| Problem::not_found(format!("no team {id}")))?;
    Ok(HttpResponse::Ok().json(team))
}

#[delete("/v1/admin/teams/{id}")]
async fn delete_team(
    state: web::Data<AppState>,
    _: Admin,
    id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    match state.store.delete_team(&id).await? {
        TeamDeleted::Deleted => Ok(HttpResponse::NoContent().finish()),
        TeamDeleted::NotFound => Err(Problem::not_found(format!("no team {id}"))),
        TeamDeleted::InUse(policy) => Err(Problem::conflict(
            "team-in-use",
            format!("the escalation policy {policy:?} pages team {id}; change it first"),
        )),
    }
}
