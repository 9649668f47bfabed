//! Staff who sign in to the console: accounts, one-time set-password invites and server-side
//! sessions. Secrets (invite and session tokens) are stored only as SHA-256 digests; they are
//! 256 random bits, so a fast hash is enough (see [`crate::auth::secrets`]). Passwords arrive
//! here already hashed (Argon2id, [`crate::auth::password`]).
//!
//! Session lookups are plain reads on the pool; `last_seen_at` is written at most once a
//! minute per session ([`SESSION_TOUCH_EVERY`]), so browsing the console does not queue for
//! SQLite's write turn on every request.

use chrono::{DateTime, Duration, Utc};

use super::{audit, db, from_millis, millis, Store, StoreError};
use crate::domain::identity::UserRole;

/// How stale `last_seen_at` may get before a request writes it again. The idle timeout is
/// therefore honoured to within this much.
pub const SESSION_TOUCH_EVERY: Duration = Duration::seconds(60);

/// A staff member's sign-in record.
#[derive(Debug, Clone)]
pub struct StaffAccount {
    pub user_id: String,
    pub name: String,
    pub email: String,
    pub role: UserRole,
    pub admin: bool,
    /// `None` until the person has used an invite.
    pub password_hash: Option<String>,
}

/// A live session and whose it is.
#[derive(Debug, Clone)]
pub struct SessionRecord {
    pub user_id: String,
    pub name: String,
    pub email: String,
    pub role: UserRole,
    pub admin: bool,
    pub csrf_token: String,
    pub last_seen_at: DateTime<Utc>,
}

/// A staff account as the admin's staff list shows it.
#[derive(Debug, Clone)]
pub struct StaffListing {
    pub user_id: String,
    pub name: String,
    pub email: String,
    pub role: UserRole,
    pub admin: bool,
    pub password_set: bool,
    pub live_sessions: i64,
}

/// Why an invite could not be stored.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum InviteRefusal {
    #[error("there is no such user")]
    NoUser,
    /// Contacts are customers' people; they never sign in to the console.
    #[error("contacts do not sign in to the console")]
    Contact,
    /// The user has no e-mail address to sign in with.
    #[error("the user has no e-mail address to sign in with")]
    NoEmail,
    /// Another staff account signs in with this e-mail address.
    #[error("another staff account signs in with this e-mail address")]
    EmailTaken,
}

fn role_of(r: &db::Row) -> Result<UserRole, sqlx::Error> {
    let role: String = r.try_get("role")?;
    UserRole::parse(&role).ok_or_else(|| sqlx::Error::Decode(format!("users.role {role:?}").into()))
}

impl Store {
    /// Creates or updates `user_id`'s staff account (its e-mail from `users`, its admin flag as
    /// given) and stores a set-password invite under `token_hash`; audited.
    #[tracing::instrument(name = "store create staff invite", skip_all, fields(user = %user_id, admin = admin))]
    pub async fn create_staff_invite(
        &self,
        user_id: &str,
        admin: bool,
        token_hash: &str,
        expires_at: DateTime<Utc>,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Result<String, InviteRefusal>, StoreError> {
        let mut tx = self.begin_write().await?;
        let Some(user) = db::query("SELECT role, email FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_optional(&mut *tx)
            .await?
        else {
            return Ok(Err(InviteRefusal::NoUser));
        };
        if role_of(&user)? == UserRole::Contact {
            return Ok(Err(InviteRefusal::Contact));
        }
        let Some(email) = user
            .try_get::<Option<String>, _>("email")?
            .map(|e| e.trim().to_lowercase())
            .filter(|e| !e.is_empty())
        else {
            return Ok(Err(InviteRefusal::NoEmail));
        };
        let taken: Option<String> =
            db::query_scalar("SELECT user_id FROM staff_accounts WHERE email = $1")
                .bind(&email)
                .fetch_optional(&mut *tx)
                .await?;
        if taken.is_some_and(|other| other != user_id) {
            return Ok(Err(InviteRefusal::EmailTaken));
        }
        db::query(
            "INSERT INTO staff_accounts (user_id, email, admin, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $4) ON CONFLICT (user_id) DO UPDATE \
             SET email = excluded.email, admin = excluded.admin, updated_at = excluded.updated_at",
        )
        .bind(user_id)
        .bind(&email)
        .bind(i64::from(admin))
        .bind(millis(now))
        .execute(&mut *tx)
        .await?;
        db::query(
            "INSERT INTO staff_invites (token_hash, user_id, created_at, expires_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(token_hash)
        .bind(user_id)
        .bind(millis(now))
        .bind(millis(expires_at))
        .execute(&mut *tx)
        .await?;
        audit(
            &mut tx,
            now,
            actor,
            "staff.invited",
            "user",
            user_id,
            serde_json::json!({ "admin": admin }),
        )
        .await?;
        tx.commit().await?;
        Ok(Ok(email))
    }

    /// The account an unused, unexpired invite is for.
    pub async fn staff_invite(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<StaffAccount>, StoreError> {
        let user_id: Option<String> = db::query_scalar(
            "SELECT user_id FROM staff_invites WHERE token_hash = $1 AND used_at IS NULL \
             AND expires_at > $2",
        )
        .bind(token_hash)
        .bind(millis(now))
        .fetch_optional(&self.pool)
        .await?;
        match user_id {
            Some(id) => self.staff_account_by("a.user_id", &id).await,
            None => Ok(None),
        }
    }

    /// Uses the invite up and sets the password; every session of the user ends (a password
    /// change is also how a lost or shared password is recovered). `false`: the invite was
    /// used or expired meanwhile, and nothing changed.
    #[tracing::instrument(name = "store set staff password", skip_all)]
    pub async fn set_staff_password(
        &self,
        token_hash: &str,
        password_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, StoreError> {
        let mut tx = self.begin_write().await?;
        let user_id: Option<String> = db::query_scalar(
            "UPDATE staff_invites SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL \
             AND expires_at > $2 RETURNING user_id",
        )
        .bind(token_hash)
        .bind(millis(now))
        .fetch_optional(&mut *tx)
        .await?;
        let Some(user_id) = user_id else {
            return Ok(None);
        };
        db::query(
            "UPDATE staff_accounts SET password_hash = $2, updated_at = $3 WHERE user_id = $1",
        )
        .bind(&user_id)
        .bind(password_hash)
        .bind(millis(now))
        .execute(&mut *tx)
        .await?;
        db::query(
            "UPDATE staff_sessions SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL",
        )
        .bind(&user_id)
        .bind(millis(now))
        .execute(&mut *tx)
        .await?;
        let actor = format!("staff:{user_id}");
        audit(
            &mut tx,
            now,
            &actor,
            "staff.password_set",
            "user",
            &user_id,
            serde_json::json!({}),
        )
        .await?;
        tx.commit().await?;
        Ok(Some(user_id))
    }

    /// The staff account that signs in with `email` (compared lower-cased).
    pub async fn staff_account_by_email(
        &self,
        email: &str,
    ) -> Result<Option<StaffAccount>, StoreError> {
        self.staff_account_by("a.email", &email.trim().to_lowercase())
            .await
    }

    async fn staff_account_by(
        &self,
        column: &'static str,
        value: &str,
    ) -> Result<Option<StaffAccount>, StoreError> {
        let row = db::query(&format!(
            "SELECT a.user_id, u.name, a.email, u.role, a.admin, a.password_hash \
             FROM staff_accounts a JOIN users u ON u.id = a.user_id WHERE {column} = $1"
        ))
        .bind(value)
        .fetch_optional(&self.pool)
        .await?;
        let Some(r) = row else { return Ok(None) };
        Ok(Some(StaffAccount {
            user_id: r.try_get("user_id")?,
            name: r.try_get("name")?,
            email: r.try_get("email")?,
            role: role_of(&r)?,
            admin: r.try_get::<i64, _>("admin")? != 0,
            password_hash: r.try_get("password_hash")?,
        }))
    }

    /// Starts a session; audited as a sign-in.
    #[tracing::instrument(name = "store create staff session", skip_all, fields(user = %user_id))]
    pub async fn create_staff_session(
        &self,
        user_id: &str,
        token_hash: &str,
        csrf_token: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        db::query(
            "INSERT INTO staff_sessions (token_hash, user_id, csrf_token, created_at, \
             last_seen_at, expires_at) VALUES ($1, $2, $3, $4, $4, $5)",
        )
        .bind(token_hash)
        .bind(user_id)
        .bind(csrf_token)
        .bind(millis(now))
        .bind(millis(expires_at))
        .execute(&mut *tx)
        .await?;
        let actor = format!("staff:{user_id}");
        audit(
            &mut tx,
            now,
            &actor,
            "staff.signed_in",
            "user",
            user_id,
            serde_json::json!({}),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The live session stored under `token_hash`: not revoked, within its absolute lifetime,
    /// and seen within `idle`. A plain read.
    pub async fn staff_session(
        &self,
        token_hash: &str,
        idle: Duration,
        now: DateTime<Utc>,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let row = db::query(
            "SELECT s.user_id, u.name, a.email, u.role, a.admin, s.csrf_token, s.last_seen_at \
             FROM staff_sessions s JOIN staff_accounts a ON a.user_id = s.user_id \
             JOIN users u ON u.id = s.user_id \
             WHERE s.token_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > $2 \
             AND s.last_seen_at > $3",
        )
        .bind(token_hash)
        .bind(millis(now))
        .bind(millis(now - idle))
        .fetch_optional(&self.pool)
        .await?;
        let Some(r) = row else { return Ok(None) };
        Ok(Some(SessionRecord {
            user_id: r.try_get("user_id")?,
            name: r.try_get("name")?,
            email: r.try_get("email")?,
            role: role_of(&r)?,
            admin: r.try_get::<i64, _>("admin")? != 0,
            csrf_token: r.try_get("csrf_token")?,
            last_seen_at: from_millis(r.try_get("last_seen_at")?),
        }))
    }

    /// Records activity on a session, for the idle timeout.
    pub async fn touch_staff_session(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.write_one(
            db::query("UPDATE staff_sessions SET last_seen_at = $2 WHERE token_hash = $1")
                .bind(token_hash)
                .bind(millis(now)),
        )
        .await?;
        Ok(())
    }

    /// Ends one session (sign-out).
    #[tracing::instrument(name = "store end staff session", skip_all)]
    pub async fn end_staff_session(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.write_one(
            db::query(
                "UPDATE staff_sessions SET revoked_at = $2 \
                 WHERE token_hash = $1 AND revoked_at IS NULL",
            )
            .bind(token_hash)
            .bind(millis(now)),
        )
        .await?;
        Ok(())
    }

    /// Ends every live session of `user_id` (those idle past `idle` are over already);
    /// audited. `None` when there is no such staff account, else how many sessions ended.
    #[tracing::instrument(name = "store revoke staff sessions", skip_all, fields(user = %user_id))]
    pub async fn revoke_staff_sessions(
        &self,
        user_id: &str,
        idle: Duration,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<u64>, StoreError> {
        let mut tx = self.begin_write().await?;
        let exists: Option<String> =
            db::query_scalar("SELECT user_id FROM staff_accounts WHERE user_id = $1")
                .bind(user_id)
                .fetch_optional(&mut *tx)
                .await?;
        if exists.is_none() {
            return Ok(None);
        }
        let done = db::query(
            "UPDATE staff_sessions SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL \
             AND expires_at > $2 AND last_seen_at > $3",
        )
        .bind(user_id)
        .bind(millis(now))
        .bind(millis(now - idle))
        .execute(&mut *tx)
        .await?;
        audit(
            &mut tx,
            now,
            actor,
            "staff.sessions_revoked",
            "user",
            user_id,
            serde_json::json!({ "sessions": done.rows_affected() }),
        )
        .await?;
        tx.commit().await?;
        Ok(Some(done.rows_affected()))
    }

    /// Every staff account, by name, with its live session count.
    pub async fn staff_accounts(
        &self,
        idle: Duration,
        now: DateTime<Utc>,
    ) -> Result<Vec<StaffListing>, StoreError> {
        let rows = db::query(
            "SELECT a.user_id, u.name, a.email, u.role, a.admin, \
             CAST(CASE WHEN a.password_hash IS NULL THEN 0 ELSE 1 END AS BIGINT) AS password_set, \
             (SELECT COUNT(*) FROM staff_sessions s WHERE s.user_id = a.user_id \
              AND s.revoked_at IS NULL AND s.expires_at > $1 AND s.last_seen_at > $2) AS live \
             FROM staff_accounts a JOIN users u ON u.id = a.user_id ORDER BY u.name, a.user_id",
        )
        .bind(millis(now))
        .bind(millis(now - idle))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(StaffListing {
                    user_id: r.try_get("user_id")?,
                    name: r.try_get("name")?,
                    email: r.try_get("email")?,
                    role: role_of(r)?,
                    admin: r.try_get::<i64, _>("admin")? != 0,
                    password_set: r.try_get::<i64, _>("password_set")? != 0,
                    live_sessions: r.try_get("live")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }
}
