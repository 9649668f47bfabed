//! Teams (ordered staff members) and the round-robin pick an escalation step makes from one.
//!
//! A pick happens inside the paging transaction (`store::escalation`): the member for an
//! (incident, pass, step, team) is recorded in `round_robin_picks`, and the team's pointer moves
//! to them, in that one transaction. A second look at the same position (a retry, another
//! gateway) reads the recorded member instead of moving the pointer again; the unique key
//! refuses a second record, which rolls the second transaction back whole. Picks for two
//! incidents at once are ordered by a compare-and-set on the pointer's `picks` count: the
//! loser reads the new pointer and picks again, so two gateways on one PostgreSQL never hand
//! two incidents to the same member because they read the same pointer.
//!
//! A new pass of a policy is a new position, so it picks the next member again. A restarted
//! escalation (a new press after the chain ran out) forgets the incident's picks
//! ([`forget_picks`]): the people picked before did not answer.
//!
//! Limits: members who are away or unreachable are skipped and lose their turn (their
//! delegates are not paged: the rest of the team is the cover). A team deleted while an open
//! incident's stored policy still names it makes that target reach nobody, with the reason on
//! the timeline; a team cannot be deleted while a stored policy names it.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::reachability::{away_now, reachable};
use super::{db, millis, Store, StoreError, Tx};
use crate::domain::escalation::{EscalationPolicy, Position};
use crate::domain::skip::{Skip, SkipReason, SkipTarget};
use crate::domain::team::{turn_order, Pointer};

/// A member as the admin API shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TeamMember {
    pub user_id: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Team {
    pub id: String,
    pub name: String,
    /// In round-robin order.
    pub members: Vec<TeamMember>,
    /// The member the last round-robin pick chose (`null` before the first): the next pick
    /// starts after them.
    pub last_picked_user_id: Option<String>,
}

/// Deleting a team.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TeamDeleted {
    Deleted,
    NotFound,
    /// A stored escalation policy (named) pages the team.
    InUse(String),
}

/// A pick for the same position moved the pointer this many times in a row while this one was
/// choosing: give up, roll back, and let the escalator's next round try again.
const MAX_PICK_ATTEMPTS: usize = 10;

async fn load_team(conn: &mut db::Conn, id: &str) -> Result<Option<Team>, StoreError> {
    let Some(row) = db::query("SELECT id, name, last_user_id FROM teams WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
    else {
        return Ok(None);
    };
    let members = db::query(
        "SELECT m.user_id, u.name FROM team_members m JOIN users u ON u.id = m.user_id \
         WHERE m.team_id = $1 ORDER BY m.position",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| {
        Ok(TeamMember {
            user_id: r.try_get("user_id")?,
            name: r.try_get("name")?,
        })
    })
    .collect::<Result<Vec<_>, sqlx::Error>>()?;
    Ok(Some(Team {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        members,
        last_picked_user_id: row.try_get("last_user_id")?,
    }))
}

/// Replaces the member list of `team_id` with `members`, in order.
pub(crate) async fn write_members(
    tx: &mut Tx,
    team_id: &str,
    members: &[String],
) -> Result<(), StoreError> {
    db::query("DELETE FROM team_members WHERE team_id = $1")
        .bind(team_id)
        .execute(&mut **tx)
        .await?;
    for (position, user_id) in members.iter().enumerate() {
        db::query("INSERT INTO team_members (team_id, position, user_id) VALUES ($1, $2, $3)")
            .bind(team_id)
            .bind(position as i64)
            .bind(user_id)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

impl Store {
    /// Creates a team; a taken id is [`StoreError::Conflict`].
    #[tracing::instrument(name = "store create team", skip_all)]
    pub async fn create_team(
        &self,
        id: &str,
        name: &str,
        members: &[String],
        now: DateTime<Utc>,
    ) -> Result<Team, StoreError> {
        let mut tx = self.begin_write().await?;
        db::query("INSERT INTO teams (id, name, created_at, updated_at) VALUES ($1, $2, $3, $3)")
            .bind(id)
            .bind(name)
            .bind(millis(now))
            .execute(&mut *tx)
            .await?;
        write_members(&mut tx, id, members).await?;
        let team = load_team(&mut tx, id).await?;
        tx.commit().await?;
        team.ok_or_else(|| StoreError::Database(sqlx::Error::RowNotFound))
    }

    /// Renames a team and replaces its members (the pointer stays); `None` if there is none.
    #[tracing::instrument(name = "store replace team", skip_all)]
    pub async fn replace_team(
        &self,
        id: &str,
        name: &str,
        members: &[String],
        now: DateTime<Utc>,
    ) -> Result<Option<Team>, StoreError> {
        let mut tx = self.begin_write().await?;
        let updated = db::query("UPDATE teams SET name = $2, updated_at = $3 WHERE id = $1")
            .bind(id)
            .bind(name)
            .bind(millis(now))
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if updated == 0 {
            return Ok(None);
        }
        write_members(&mut tx, id, members).await?;
        let team = load_team(&mut tx, id).await?;
        tx.commit().await?;
        Ok(team)
    }

    pub async fn team(&self, id: &str) -> Result<Option<Team>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        load_team(&mut conn, id).await
    }

    /// Up to `limit` teams with ids after `after`, by id (the admin list's pages).
    pub async fn teams_page(
        &self,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Team>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let ids: Vec<String> = db::query_scalar(
            "SELECT id FROM teams WHERE (id > $1 OR $1 IS NULL) ORDER BY id LIMIT $2",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(&mut *conn)
        .await?;
        let mut teams = Vec::with_capacity(ids.len());
        for id in ids {
            teams.extend(load_team(&mut conn, &id).await?);
        }
        Ok(teams)
    }

    /// Deletes a team unless a stored escalation policy pages it.
    #[tracing::instrument(name = "store delete team", skip_all)]
    pub async fn delete_team(&self, id: &str) -> Result<TeamDeleted, StoreError> {
        let mut tx = self.begin_write().await?;
        let exists: Option<String> = db::query_scalar("SELECT id FROM teams WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            return Ok(TeamDeleted::NotFound);
        }
        for row in db::query("SELECT name, definition FROM escalation_policies ORDER BY name")
            .fetch_all(&mut *tx)
            .await?
        {
            let definition: String = row.try_get("definition")?;
            let policy: EscalationPolicy = serde_json::from_str(&definition).map_err(|e| {
                StoreError::Database(sqlx::Error::Decode(format!("stored policy: {e}").into()))
            })?;
            if policy.team_refs().iter().any(|(_, team)| *team == id) {
                return Ok(TeamDeleted::InUse(row.try_get("name")?));
            }
        }
        db::query("DELETE FROM team_members WHERE team_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        db::query("DELETE FROM teams WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(TeamDeleted::Deleted)
    }

    /// Whether a team with this id exists (policies may only name existing teams).
    pub async fn team_exists(&self, id: &str) -> Result<bool, StoreError> {
        let found: Option<String> = db::query_scalar("SELECT id FROM teams WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(found.is_some())
    }
}

/// The member of `team_id` that the round-robin target at `pos` of `incident_id` pages: the
/// one recorded for that position, else the next member in turn who is not away and is
/// reachable now, recorded and made the team's pointer in the caller's transaction. `None`
/// when nobody can be paged. The members passed over, and the target's reason when nobody
/// was picked, go to `skipped`.
pub(crate) async fn pick_member(
    tx: &mut Tx,
    team_id: &str,
    incident_id: &str,
    pos: Position,
    now: DateTime<Utc>,
    skipped: &mut Vec<Skip>,
) -> Result<Option<String>, StoreError> {
    let recorded: Option<String> = db::query_scalar(
        "SELECT user_id FROM round_robin_picks WHERE incident_id = $1 AND escalation_pass = $2 \
         AND escalation_step = $3 AND team_id = $4",
    )
    .bind(incident_id)
    .bind(i64::from(pos.pass))
    .bind(pos.step as i64)
    .bind(team_id)
    .fetch_optional(&mut **tx)
    .await?;
    if recorded.is_some() {
        return Ok(recorded);
    }
    for _ in 0..MAX_PICK_ATTEMPTS {
        let Some(row) =
            db::query("SELECT last_user_id, last_position, picks FROM teams WHERE id = $1")
                .bind(team_id)
                .fetch_optional(&mut **tx)
                .await?
        else {
            skipped.push(
                Skip::target(SkipTarget::TeamRoundRobin, SkipReason::NoSuchTeam).team(team_id),
            );
            return Ok(None);
        };
        let picks: i64 = row.try_get("picks")?;
        let last = match (
            row.try_get::<Option<String>, _>("last_user_id")?,
            row.try_get::<Option<i64>, _>("last_position")?,
        ) {
            (Some(user_id), Some(position)) => Some(Pointer {
                user_id,
                position: usize::try_from(position).unwrap_or(0),
            }),
            _ => None,
        };
        let members: Vec<String> = db::query_scalar(
            "SELECT user_id FROM team_members WHERE team_id = $1 ORDER BY position",
        )
        .bind(team_id)
        .fetch_all(&mut **tx)
        .await?;
        let mut passed_over = Vec::new();
        let mut chosen = None;
        for k in turn_order(&members, last.as_ref()) {
            let user_id = &members[k];
            if away_now(tx, user_id, now).await?.is_some() {
                passed_over.push(Skip::person(user_id, SkipReason::Unavailable).team(team_id));
            } else if !reachable(tx, user_id, now).await? {
                passed_over
                    .push(Skip::person(user_id, SkipReason::NoDeliverableDevice).team(team_id));
            } else {
                chosen = Some(k);
                break;
            }
        }
        let Some(k) = chosen else {
            let reason = if members.is_empty() {
                SkipReason::TeamHasNoMembers
            } else {
                SkipReason::NoMemberCanBePaged
            };
            skipped.extend(passed_over);
            skipped.push(Skip::target(SkipTarget::TeamRoundRobin, reason).team(team_id));
            return Ok(None);
        };
        // Compare-and-set: only if nobody moved the pointer since it was read.
        let moved = db::query(
            "UPDATE teams SET last_user_id = $2, last_position = $3, picks = picks + 1 \
             WHERE id = $1 AND picks = $4",
        )
        .bind(team_id)
        .bind(&members[k])
        .bind(k as i64)
        .bind(picks)
        .execute(&mut **tx)
        .await?
        .rows_affected();
        if moved == 0 {
            continue;
        }
        // A second record for this position fails the unique key and rolls this whole
        // transaction back, pointer move included.
        db::query(
            "INSERT INTO round_robin_picks (incident_id, escalation_pass, escalation_step, \
             team_id, user_id, picked_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(incident_id)
        .bind(i64::from(pos.pass))
        .bind(pos.step as i64)
        .bind(team_id)
        .bind(&members[k])
        .bind(millis(now))
        .execute(&mut **tx)
        .await?;
        skipped.extend(passed_over);
        return Ok(Some(members[k].clone()));
    }
    Err(StoreError::Database(sqlx::Error::Protocol(format!(
        "the round-robin pointer of team {team_id} kept moving; the pick is retried"
    ))))
}

/// Forgets an incident's round-robin picks: a restarted escalation picks afresh.
pub(crate) async fn forget_picks(tx: &mut Tx, incident_id: &str) -> Result<(), StoreError> {
    db::query("DELETE FROM round_robin_picks WHERE incident_id = $1")
        .bind(incident_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
