//! Contact methods, their verification codes, notification rules, and what Twilio's
//! callbacks change: the reads and writes behind `api/contact_methods.rs` and
//! `api/twilio.rs`, and the rule lookup (`effective_rules_on`).
//!
//! Codes are stored hashed ([`crate::domain::contact::code_hash`]) and checked by the domain;
//! a wrong entry is counted in the same transaction that read the code, so parallel guesses
//! cannot exceed the limit. A deleted method keeps its row (past deliveries name it).

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;

use super::timeline::{event, On};
use super::{audit, db, from_millis, millis, new_id, Store, StoreError};
use crate::domain::contact::{
    code_sent_at, resend_wait, CodeCheck, ContactAddress, MethodKind, NotificationRule,
    PendingCode, RuleSet, VerificationCode, RESEND_COOLDOWN_SECS,
};
use crate::domain::timeline::TimelineKind;

/// A contact method as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ContactMethod {
    pub id: String,
    pub user_id: String,
    pub kind: MethodKind,
    pub address: String,
    pub verified: bool,
    pub verified_at: Option<DateTime<Utc>>,
    /// Why the method is not paged any more (a provider called the address dead).
    pub disabled_reason: Option<String>,
    pub disabled_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// When the pending code stops working (`None`: none pending). Not in the API's answer;
    /// the console shows it and the resend cooldown ([`code_sent_at`]) is judged from it.
    #[serde(skip)]
    pub code_expires_at: Option<DateTime<Utc>>,
}

/// What asking for a new code did.
#[derive(Debug, Clone)]
pub enum Renewed {
    /// A new code, to be sent now.
    Sent(VerificationCode),
    /// The last code went out too recently: a new one may be asked for in `secs`.
    Wait {
        secs: u64,
    },
    AlreadyVerified,
    NotFound,
}

/// What entering a code did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verified {
    Now,
    Already,
    Refused(CodeCheck),
    NotFound,
}

const COLUMNS: &str = "id, user_id, kind, address, verified_at, disabled_at, disabled_reason, \
     created_at, code_expires_at";

fn method_from_row(r: &db::Row) -> Result<ContactMethod, sqlx::Error> {
    let kind: String = r.try_get("kind")?;
    let verified_at = r.try_get::<Option<i64>, _>("verified_at")?.map(from_millis);
    Ok(ContactMethod {
        id: r.try_get("id")?,
        user_id: r.try_get("user_id")?,
        kind: MethodKind::parse(&kind)
            .ok_or_else(|| super::decode_error("contact_methods.kind", &kind))?,
        address: r.try_get("address")?,
        verified: verified_at.is_some(),
        verified_at,
        disabled_reason: r.try_get("disabled_reason")?,
        disabled_at: r.try_get::<Option<i64>, _>("disabled_at")?.map(from_millis),
        created_at: from_millis(r.try_get("created_at")?),
        code_expires_at: r
            .try_get::<Option<i64>, _>("code_expires_at")?
            .map(from_millis),
    })
}

/// The subject under which the admin's default rule set is stored.
pub(crate) const DEFAULT_SUBJECT: &str = "default";

/// The rules that apply to `user_id`: theirs, else the admin's default, else the built-in
/// (for the promise check; paging reads them with everything else it needs, in
/// `store::reach`).
pub(crate) async fn effective_rules_on(
    conn: &mut db::Conn,
    user_id: &str,
) -> Result<RuleSet, StoreError> {
    let stored: Option<String> = db::query_scalar(
        "SELECT rules FROM notification_rules WHERE subject = $1 \
         UNION ALL SELECT rules FROM notification_rules WHERE subject = $2 LIMIT 1",
    )
    .bind(user_id)
    .bind(DEFAULT_SUBJECT)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(match stored {
        Some(text) => RuleSet::from_stored(parse_rules(&text)?),
        None => RuleSet::builtin_default(),
    })
}

pub(crate) fn parse_rules(text: &str) -> Result<Vec<NotificationRule>, StoreError> {
    serde_json::from_str(text).map_err(|e| {
        StoreError::Database(sqlx::Error::Decode(
            format!("notification_rules.rules: {e}").into(),
        ))
    })
}

impl Store {
    /// Adds a method for `user_id`, unverified, with `code` pending (or verified at once when
    /// `verified`). `None` when the user already has this address for this kind.
    #[tracing::instrument(name = "store create contact method", skip_all, fields(user = %user_id, kind = ?kind, verified = verified))]
    pub async fn create_contact_method(
        &self,
        user_id: &str,
        address: &ContactAddress,
        kind: MethodKind,
        verified: bool,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<(ContactMethod, Option<VerificationCode>)>, StoreError> {
        let mut tx = self.begin_write().await?;
        let exists: Option<String> = db::query_scalar(
            "SELECT id FROM contact_methods WHERE user_id = $1 AND kind = $2 AND address = $3 \
             AND deleted_at IS NULL",
        )
        .bind(user_id)
        .bind(kind.as_str())
        .bind(address.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        if exists.is_some() {
            return Ok(None);
        }
        let id = new_id();
        let code = (!verified).then(|| VerificationCode::generate(&id, now));
        db::query(
            "INSERT INTO contact_methods (id, user_id, kind, address, verified_at, code_hash, \
             code_expires_at, code_attempts, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8, $8)",
        )
        .bind(&id)
        .bind(user_id)
        .bind(kind.as_str())
        .bind(address.as_str())
        .bind(verified.then(|| millis(now)))
        .bind(code.as_ref().map(|c| c.hash.clone()))
        .bind(code.as_ref().map(|c| millis(c.expires_at)))
        .bind(millis(now))
        .execute(&mut *tx)
        .await?;
        audit(
            &mut tx,
            now,
            actor,
            "contact_method.create",
            "contact_method",
            &id,
            json!({ "user_id": user_id, "kind": kind, "verified": verified }),
        )
        .await?;
        tx.commit().await?;
        let method = self
            .contact_method(user_id, &id)
            .await?
            .ok_or_else(|| StoreError::Database(sqlx::Error::RowNotFound))?;
        Ok(Some((method, code)))
    }

    /// The user's methods that are not deleted, oldest first.
    pub async fn contact_methods(&self, user_id: &str) -> Result<Vec<ContactMethod>, StoreError> {
        let rows = db::query(&format!(
            "SELECT {COLUMNS} FROM contact_methods WHERE user_id = $1 AND deleted_at IS NULL \
             ORDER BY created_at, id"
        ))
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(method_from_row)
            .collect::<Result<_, _>>()
            .map_err(StoreError::from)
    }

    pub async fn contact_method(
        &self,
        user_id: &str,
        id: &str,
    ) -> Result<Option<ContactMethod>, StoreError> {
        let row = db::query(&format!(
            "SELECT {COLUMNS} FROM contact_methods WHERE id = $1 AND user_id = $2 \
             AND deleted_at IS NULL"
        ))
        .bind(id)
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(method_from_row).transpose()?)
    }

    /// A new code for an unverified method (attempts start over), unless the last one went
    /// out less than [`RESEND_COOLDOWN_SECS`](crate::domain::contact::RESEND_COOLDOWN_SECS)
    /// ago ([`resend_wait`]). The stored expiry is read, judged and then required unchanged by
    /// the update, so two requests at once send one code.
    #[tracing::instrument(name = "store renew verification code", skip_all, fields(user = %user_id, method = %id))]
    pub async fn renew_verification_code(
        &self,
        user_id: &str,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<Renewed, StoreError> {
        let mut tx = self.begin_write().await?;
        let row = db::query(
            "SELECT verified_at, code_expires_at FROM contact_methods \
             WHERE id = $1 AND user_id = $2 AND deleted_at IS NULL",
        )
        .bind(id)
        .bind(user_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(Renewed::NotFound);
        };
        if row.try_get::<Option<i64>, _>("verified_at")?.is_some() {
            return Ok(Renewed::AlreadyVerified);
        }
        let expires: Option<i64> = row.try_get("code_expires_at")?;
        let last_sent = expires.map(|e| code_sent_at(from_millis(e)));
        if let Some(secs) = resend_wait(last_sent, now) {
            return Ok(Renewed::Wait { secs });
        }
        let code = VerificationCode::generate(id, now);
        let changed = db::query(
            "UPDATE contact_methods SET code_hash = $3, code_expires_at = $4, code_attempts = 0, \
             updated_at = $5 WHERE id = $1 AND user_id = $2 AND deleted_at IS NULL \
             AND verified_at IS NULL AND code_expires_at IS NOT DISTINCT FROM $6",
        )
        .bind(id)
        .bind(user_id)
        .bind(&code.hash)
        .bind(millis(code.expires_at))
        .bind(millis(now))
        .bind(expires)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(if changed == 1 {
            Renewed::Sent(code)
        } else {
            // Another request renewed (or verified, or deleted) it in between.
            Renewed::Wait {
                secs: RESEND_COOLDOWN_SECS as u64,
            }
        })
    }

    /// Checks an entered code and, when right, marks the method verified; a wrong one counts.
    #[tracing::instrument(name = "store verify contact method", skip_all, fields(user = %user_id, method = %id))]
    pub async fn verify_contact_method(
        &self,
        user_id: &str,
        id: &str,
        entered: &str,
        now: DateTime<Utc>,
    ) -> Result<Verified, StoreError> {
        let mut tx = self.begin_write().await?;
        let row = db::query(
            "SELECT verified_at, code_hash, code_expires_at, code_attempts FROM contact_methods \
             WHERE id = $1 AND user_id = $2 AND deleted_at IS NULL",
        )
        .bind(id)
        .bind(user_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(Verified::NotFound);
        };
        if row.try_get::<Option<i64>, _>("verified_at")?.is_some() {
            return Ok(Verified::Already);
        }
        let pending = PendingCode {
            hash: row.try_get("code_hash")?,
            expires_at: row
                .try_get::<Option<i64>, _>("code_expires_at")?
                .map(from_millis),
            attempts: row.try_get("code_attempts")?,
        };
        let verdict = pending.check(id, entered, now);
        let sql = match verdict {
            CodeCheck::Correct => {
                "UPDATE contact_methods SET verified_at = $2, code_hash = NULL, \
                 code_expires_at = NULL, code_attempts = 0, disabled_at = NULL, \
                 disabled_reason = NULL, updated_at = $2 WHERE id = $1"
            }
            CodeCheck::Wrong { .. } => {
                "UPDATE contact_methods SET code_attempts = code_attempts + 1, updated_at = $2 \
                 WHERE id = $1"
            }
            CodeCheck::Expired | CodeCheck::NoCode => {
                tx.commit().await?;
                return Ok(Verified::Refused(verdict));
            }
        };
        db::query(sql)
            .bind(id)
            .bind(millis(now))
            .execute(&mut *tx)
            .await?;
        if verdict == CodeCheck::Correct {
            audit(
                &mut tx,
                now,
                &format!("user:{user_id}"),
                "contact_method.verify",
                "contact_method",
                id,
                json!({ "by": "code" }),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(match verdict {
            CodeCheck::Correct => Verified::Now,
            other => Verified::Refused(other),
        })
    }

    /// An admin vouches for a method (for channels that cannot send a code yet).
    #[tracing::instrument(name = "store mark contact method verified", skip_all, fields(user = %user_id, method = %id))]
    pub async fn mark_contact_method_verified(
        &self,
        user_id: &str,
        id: &str,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let changed = db::query(
            "UPDATE contact_methods SET verified_at = COALESCE(verified_at, $3), \
             code_hash = NULL, code_expires_at = NULL, disabled_at = NULL, \
             disabled_reason = NULL, updated_at = $3 \
             WHERE id = $1 AND user_id = $2 AND deleted_at IS NULL",
        )
        .bind(id)
        .bind(user_id)
        .bind(millis(now))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed == 1 {
            audit(
                &mut tx,
                now,
                actor,
                "contact_method.verify",
                "contact_method",
                id,
                json!({ "by": "admin" }),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(changed == 1)
    }

    /// Deletes a method: it is never paged again, its pending deliveries are cancelled.
    #[tracing::instrument(name = "store delete contact method", skip_all, fields(user = %user_id, method = %id))]
    pub async fn delete_contact_method(
        &self,
        user_id: &str,
        id: &str,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let changed = db::query(
            "UPDATE contact_methods SET deleted_at = $3, code_hash = NULL, updated_at = $3 \
             WHERE id = $1 AND user_id = $2 AND deleted_at IS NULL",
        )
        .bind(id)
        .bind(user_id)
        .bind(millis(now))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed == 1 {
            db::query(
                "UPDATE deliveries SET state = 'cancelled', last_error = 'contact method deleted', \
                 lease_owner = NULL, lease_until = NULL, updated_at = $2 \
                 WHERE contact_method_id = $1 AND state = 'pending'",
            )
            .bind(id)
            .bind(millis(now))
            .execute(&mut *tx)
            .await?;
            audit(
                &mut tx,
                now,
                actor,
                "contact_method.delete",
                "contact_method",
                id,
                json!({ "user_id": user_id }),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(changed == 1)
    }

    /// Takes a method out of paging because its provider called the address dead.
    #[tracing::instrument(name = "store disable contact method", skip_all, fields(method = %id))]
    pub async fn disable_contact_method(
        &self,
        id: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let update = db::query(
            "UPDATE contact_methods SET disabled_at = $2, disabled_reason = $3, updated_at = $2 \
             WHERE id = $1 AND disabled_at IS NULL",
        )
        .bind(id)
        .bind(millis(now))
        .bind(reason);
        self.write_one(update).await?;
        Ok(())
    }

    /// `user_id`'s own rules (`None`: they set none).
    pub async fn user_rules(&self, user_id: &str) -> Result<Option<RuleSet>, StoreError> {
        self.stored_rules(user_id).await
    }

    /// The admin's default rules (`None`: the built-in default applies).
    pub async fn default_rules(&self) -> Result<Option<RuleSet>, StoreError> {
        self.stored_rules(DEFAULT_SUBJECT).await
    }

    async fn stored_rules(&self, subject: &str) -> Result<Option<RuleSet>, StoreError> {
        let text: Option<String> =
            db::query_scalar("SELECT rules FROM notification_rules WHERE subject = $1")
                .bind(subject)
                .fetch_optional(&self.pool)
                .await?;
        text.map(|t| parse_rules(&t).map(RuleSet::from_stored))
            .transpose()
    }

    /// Replaces `user_id`'s rules, or the default with `None`.
    #[tracing::instrument(name = "store set rules", skip_all, fields(user = user_id))]
    pub async fn set_rules(
        &self,
        user_id: Option<&str>,
        rules: &RuleSet,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let subject = user_id.unwrap_or(DEFAULT_SUBJECT);
        let text = serde_json::to_string(rules).unwrap_or_else(|_| "[]".into());
        let mut tx = self.begin_write().await?;
        db::query(
            "INSERT INTO notification_rules (subject, rules, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (subject) DO UPDATE SET rules = excluded.rules, \
             updated_at = excluded.updated_at",
        )
        .bind(subject)
        .bind(&text)
        .bind(millis(now))
        .execute(&mut *tx)
        .await?;
        audit(
            &mut tx,
            now,
            actor,
            "notification_rules.set",
            "notification_rules",
            subject,
            json!({ "rules": rules }),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records what Twilio's status callback said about the message `sid`. Returns whether a
    /// delivery had that message id (a verification text has none).
    #[tracing::instrument(name = "store record provider status", skip_all, fields(sid = %sid, status = %status, error_code = error_code))]
    pub async fn record_provider_status(
        &self,
        sid: &str,
        status: &str,
        error_code: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        // Delivered or not is worth a line in the timeline; the steps between are not.
        let timeline = match status {
            "delivered" => Some(TimelineKind::DeliveryDelivered),
            "undelivered" => Some(TimelineKind::DeliveryUndelivered),
            "failed" => Some(TimelineKind::DeliveryFailed),
            _ => None,
        };
        self.record_status(
            "d.provider_message_id = $1",
            sid,
            status,
            timeline,
            json!({ "error_code": error_code }),
            now,
        )
        .await
    }

    /// Stores a provider's `status` on the delivery `WHERE {condition}` (`$1` = `key`) and,
    /// when `timeline` names an event, records it with `detail` added. Returns whether the
    /// delivery exists.
    pub(super) async fn record_status(
        &self,
        condition: &str,
        key: &str,
        status: &str,
        timeline: Option<TimelineKind>,
        detail: serde_json::Value,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let row = db::query(&format!(
            "SELECT d.id, d.incident_id, d.user_id, d.contact_method_id, i.ticket_id \
             FROM deliveries d JOIN incidents i ON i.id = d.incident_id WHERE {condition}"
        ))
        .bind(key)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(false);
        };
        let id: String = row.try_get("id")?;
        db::query("UPDATE deliveries SET provider_status = $2, updated_at = $3 WHERE id = $1")
            .bind(&id)
            .bind(status)
            .bind(millis(now))
            .execute(&mut *tx)
            .await?;
        if let Some(kind) = timeline {
            let incident_id: String = row.try_get("incident_id")?;
            let ticket_id: String = row.try_get("ticket_id")?;
            let mut detail_all = json!({
                "delivery_id": id,
                "user_id": row.try_get::<String, _>("user_id")?,
                "contact_method_id": row.try_get::<Option<String>, _>("contact_method_id")?,
            });
            if let (Some(all), Some(extra)) = (detail_all.as_object_mut(), detail.as_object()) {
                all.extend(extra.clone());
            }
            event(
                &mut tx,
                On {
                    ticket: &ticket_id,
                    incident: Some(&incident_id),
                    alert: None,
                },
                now,
                kind,
                None,
                detail_all,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// The incident and user an SMS reply from `from` with `code` acts on: the newest SMS page
    /// that carried `code` to a verified, live SMS method with that number.
    #[tracing::instrument(name = "store sms reply target", skip_all)]
    pub async fn sms_reply_target(
        &self,
        from: &str,
        code: &str,
    ) -> Result<Option<(String, String)>, StoreError> {
        let row = db::query(
            "SELECT d.incident_id, d.user_id FROM deliveries d \
             JOIN contact_methods cm ON cm.id = d.contact_method_id \
             WHERE d.reply_code = $1 AND d.channel = 'sms' AND cm.address = $2 \
             AND cm.kind = 'sms' AND cm.verified_at IS NOT NULL AND cm.deleted_at IS NULL \
             ORDER BY d.created_at DESC LIMIT 1",
        )
        .bind(code)
        .bind(from)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| Ok((r.try_get("incident_id")?, r.try_get("user_id")?)))
            .transpose()
            .map_err(|e: sqlx::Error| e.into())
    }
}
