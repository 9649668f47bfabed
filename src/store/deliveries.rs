//! The delivery outbox: claim due deliveries under a lease, record what the provider said.
//!
//! A claim marks a batch with this instance's id and a lease deadline. On PostgreSQL the
//! claim skips rows other instances hold (`FOR UPDATE SKIP LOCKED`), so several gateways drain
//! one queue without sending anything twice; SQLite has one writer, so one claimer. A crash
//! leaves a lease that simply expires, and the next claim takes the delivery again. Outcomes
//! are recorded only while the lease is still ours (fencing), so a slow instance whose lease
//! ran out cannot overwrite what the new holder recorded.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use super::timeline::{event, On};
use super::{
    db, decode_error, from_millis, millis, row_chunks, value_rows, Backend, Store, StoreError, Tx,
};
use crate::domain::contact::Channel;
use crate::domain::incident::IncidentState;
use crate::domain::platform::Platform;
use crate::domain::timeline::TimelineKind;
use crate::push::NotificationKind;

/// A claimed delivery with everything needed to send it.
#[derive(Debug, Clone)]
pub struct ClaimedDelivery {
    pub id: String,
    /// Who holds the lease: this claim, not merely this instance, so a delivery claimed
    /// twice in one millisecond (or under a frozen test clock) is never handed out twice.
    pub lease_token: String,
    pub incident_id: String,
    pub ticket_id: String,
    pub ticket_ref: String,
    pub incident_state: IncidentState,
    pub user_id: String,
    /// The device (push) or contact method (any other channel) it goes to.
    pub recipient: Recipient,
    pub kind: NotificationKind,
    /// The device was revoked or its token died, or the contact method was disabled, deleted
    /// or never verified, after the delivery was queued.
    pub recipient_gone: bool,
    /// The code an SMS page carries for replies.
    pub reply_code: Option<String>,
    pub title: String,
    pub body: String,
    pub expires_at: DateTime<Utc>,
    pub give_up_at: DateTime<Utc>,
    pub attempts: i64,
    pub created_at: DateTime<Utc>,
}

/// Where a delivery goes.
#[derive(Debug, Clone, PartialEq)]
pub enum Recipient {
    Device {
        device_id: String,
        platform: Platform,
        push_token: String,
        critical_alerts: bool,
    },
    Method {
        method_id: String,
        channel: Channel,
        /// As stored; parsed again before a provider sees it.
        address: String,
    },
}

impl Recipient {
    /// The health and metrics key: the platform for push, the channel otherwise.
    pub fn route(&self) -> &'static str {
        match self {
            Recipient::Device { platform, .. } => platform.as_str(),
            Recipient::Method { channel, .. } => channel.as_str(),
        }
    }

    /// Who, for the timeline.
    fn describe(&self) -> serde_json::Value {
        match self {
            Recipient::Device {
                device_id,
                platform,
                ..
            } => json!({ "device_id": device_id, "platform": platform }),
            Recipient::Method {
                method_id, channel, ..
            } => json!({ "contact_method_id": method_id, "channel": channel }),
        }
    }
}

/// What became of one send, as the store records it.
#[derive(Debug, Clone, PartialEq)]
pub enum Recorded {
    Sent {
        provider_message_id: Option<String>,
    },
    RetryAt {
        due_at: DateTime<Utc>,
        error: String,
    },
    Failed {
        error: String,
    },
    TokenDead {
        error: String,
    },
    Cancelled {
        reason: String,
    },
}

/// How far the claim counts a customer's queue (see [`Store::claim_due_deliveries`]).
const QUEUE_COUNTED: usize = 1000;

/// Depth and age of the queue, for metrics.
#[derive(Debug, Clone, Copy, Default)]
pub struct QueueStats {
    pub due: i64,
    pub oldest_due_at: Option<DateTime<Utc>>,
}

impl Store {
    /// Leases up to `limit` due deliveries to one claim of `owner` until `now + lease`.
    #[tracing::instrument(name = "store claim deliveries", skip_all, fields(limit = limit))]
    pub async fn claim_due_deliveries(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease: Duration,
        limit: i64,
    ) -> Result<Vec<ClaimedDelivery>, StoreError> {
        // On SQLite, on the dispatcher's own thread (see `TurnThread`), as is the record.
        let (this, owner) = (self.clone(), owner.to_owned());
        self.on_turn_thread(async move { this.claim(&owner, now, lease, limit).await })
            .await
    }

    async fn claim(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease: Duration,
        limit: i64,
    ) -> Result<Vec<ClaimedDelivery>, StoreError> {
        let until = millis(now + lease);
        let token = format!("{owner}/{}", uuid::Uuid::new_v4().simple());
        // Claim order: the pages of an incident's first paging before anything else; then
        // round-robin across customers (each customer's oldest due delivery, then each one's
        // second, ...), ties going to the customer with the shorter queue; then age. A
        // customer with a backlog of thousands waits its turn behind everyone else's next
        // page, and nobody's first page queues behind it.
        //
        // No claim can take more than a customer's first `limit` deliveries in that order,
        // so only those are read and ranked: the customers are walked through the index of
        // pending deliveries (one seek each), each one's first `limit` due ones are read from
        // it, and its queues are counted there up to [`QUEUE_COUNTED`] (longer ones count as
        // equal). Ranking every due delivery took milliseconds a claim under a backlog of
        // thousands, inside the write turn, and grew with the backlog it was working off.
        //
        // SQLite's planner, without statistics, prefers the older (state, ...) indexes and
        // then sorts every pending row.
        let by_customer = match self.backend {
            Backend::Sqlite => "INDEXED BY deliveries_pending_by_customer",
            Backend::Postgres => "",
        };
        let queue = |first_page: u8| {
            format!(
                "(SELECT COUNT(*) FROM (SELECT 1 FROM deliveries q {by_customer} \
                 WHERE q.state = 'pending' AND q.customer_id = walk.cid \
                 AND q.first_page = {first_page} AND q.due_at <= $3 \
                 LIMIT {QUEUE_COUNTED}) counted)"
            )
        };
        let ranked = |heads: &str| {
            format!(
                "WITH RECURSIVE walk(cid) AS ( \
                 SELECT MIN(customer_id) FROM deliveries {by_customer} WHERE state = 'pending' \
                 UNION ALL SELECT (SELECT MIN(customer_id) FROM deliveries {by_customer} \
                 WHERE state = 'pending' AND customer_id > walk.cid) \
                 FROM walk WHERE walk.cid IS NOT NULL), \
                 owners AS MATERIALIZED (SELECT cid, {first} AS first_pages, {other} AS others \
                 FROM walk WHERE cid IS NOT NULL) \
                 SELECT id FROM (SELECT h.id, h.first_page, h.due_at, \
                 ROW_NUMBER() OVER (PARTITION BY h.customer_id, h.first_page \
                 ORDER BY h.due_at, h.id) AS turn, \
                 CASE WHEN h.first_page = 1 THEN owners.first_pages ELSE owners.others END \
                 AS queued FROM {heads}) ranked \
                 ORDER BY first_page DESC, turn, queued, due_at, id LIMIT $4",
                first = queue(1),
                other = queue(0),
            )
        };
        let next_of_owner = |columns: &str| {
            format!(
                "SELECT {columns} FROM deliveries x {by_customer} \
                 WHERE x.state = 'pending' AND x.customer_id = owners.cid \
                 AND x.due_at <= $3 AND (x.lease_until IS NULL OR x.lease_until <= $3) \
                 ORDER BY x.first_page DESC, x.due_at, x.id LIMIT $4"
            )
        };
        let candidates = match self.backend {
            // The ranked ids are locked, each re-checked on the row it locks: a row another
            // instance claimed meanwhile is skipped, not claimed twice. (`= ANY(ARRAY(..))`
            // makes it look them up by key; joined, it scanned the table.)
            Backend::Postgres => format!(
                "SELECT dl.id FROM deliveries dl WHERE dl.id = ANY(ARRAY({})) \
                 AND dl.state = 'pending' AND dl.due_at <= $3 \
                 AND (dl.lease_until IS NULL OR dl.lease_until <= $3) \
                 FOR UPDATE OF dl SKIP LOCKED",
                ranked(&format!(
                    "owners CROSS JOIN LATERAL ({}) h",
                    next_of_owner("x.id, x.customer_id, x.first_page, x.due_at")
                ))
            ),
            // SQLite has one writer, so nothing to lock; it has no LATERAL, and reads each
            // customer's next ones as a correlated list, looked up by key.
            Backend::Sqlite => ranked(&format!(
                "owners JOIN deliveries h ON h.id IN ({})",
                next_of_owner("x.id")
            )),
        };
        let mut tx = self.begin_write().await?;
        let claimed = db::query(&format!(
            "UPDATE deliveries SET lease_owner = $1, lease_until = $2, attempts = attempts + 1, \
             updated_at = $3 WHERE id IN ({candidates})"
        ))
        .bind(&token)
        .bind(until)
        .bind(millis(now))
        .bind(limit)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if claimed == 0 {
            tx.commit().await?;
            return Ok(Vec::new());
        }
        let rows = db::query(
            "SELECT dl.id, dl.incident_id, i.ticket_id, t.external_ref, i.state, dl.user_id, \
             dl.device_id, dl.platform, dl.kind, d.push_token, d.critical_alerts, d.revoked_at, \
             d.token_dead_at, dl.channel, dl.contact_method_id, dl.reply_code, cm.address, \
             cm.verified_at, cm.disabled_at, cm.deleted_at, dl.title, dl.body, dl.expires_at, \
             dl.give_up_at, dl.attempts, dl.created_at \
             FROM deliveries dl LEFT JOIN devices d ON d.id = dl.device_id \
             LEFT JOIN contact_methods cm ON cm.id = dl.contact_method_id \
             JOIN incidents i ON i.id = dl.incident_id JOIN tickets t ON t.id = i.ticket_id \
             WHERE dl.lease_owner = $1 AND dl.state = 'pending' \
             ORDER BY dl.first_page DESC, dl.due_at",
        )
        .bind(&token)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        rows.iter()
            .map(|r| {
                let state: String = r.try_get("state")?;
                let kind: String = r.try_get("kind")?;
                let channel: String = r.try_get("channel")?;
                let is_set = |column: &str| -> Result<bool, sqlx::Error> {
                    Ok(r.try_get::<Option<i64>, _>(column)?.is_some())
                };
                let (recipient, recipient_gone) = match Channel::parse(&channel) {
                    Some(Channel::Push) => {
                        let platform: String = r.try_get("platform")?;
                        (
                            Recipient::Device {
                                device_id: r.try_get("device_id")?,
                                platform: Platform::parse(&platform).ok_or_else(|| {
                                    decode_error("deliveries.platform", &platform)
                                })?,
                                push_token: r.try_get("push_token")?,
                                critical_alerts: r.try_get::<i64, _>("critical_alerts")? != 0,
                            },
                            is_set("revoked_at")? || is_set("token_dead_at")?,
                        )
                    }
                    Some(channel) => (
                        Recipient::Method {
                            method_id: r.try_get("contact_method_id")?,
                            channel,
                            address: r.try_get("address")?,
                        },
                        !is_set("verified_at")? || is_set("disabled_at")? || is_set("deleted_at")?,
                    ),
                    None => return Err(decode_error("deliveries.channel", &channel)),
                };
                Ok(ClaimedDelivery {
                    id: r.try_get("id")?,
                    lease_token: token.clone(),
                    incident_id: r.try_get("incident_id")?,
                    ticket_id: r.try_get("ticket_id")?,
                    ticket_ref: r.try_get("external_ref")?,
                    incident_state: IncidentState::parse(&state)
                        .ok_or_else(|| decode_error("incidents.state", &state))?,
                    user_id: r.try_get("user_id")?,
                    recipient,
                    kind: match kind.as_str() {
                        "page" => NotificationKind::Page,
                        _ => NotificationKind::Update,
                    },
                    recipient_gone,
                    reply_code: r.try_get("reply_code")?,
                    title: r.try_get("title")?,
                    body: r.try_get("body")?,
                    expires_at: from_millis(r.try_get("expires_at")?),
                    give_up_at: from_millis(r.try_get("give_up_at")?),
                    attempts: r.try_get("attempts")?,
                    created_at: from_millis(r.try_get("created_at")?),
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Records a batch of outcomes in one transaction (one commit, one fsync, however many
    /// sends), each only if its claim still holds the lease. Returns how many were recorded.
    ///
    /// A few multi-row statements however large the batch: the recorder shares SQLite's one
    /// writer with intake, and one `UPDATE` per outcome held it for a third of the time a
    /// loaded gateway spent in statements.
    #[tracing::instrument(name = "store record deliveries", skip_all, fields(outcomes = batch.len()))]
    pub async fn record_deliveries(
        &self,
        batch: &[(ClaimedDelivery, Recorded)],
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let (this, batch) = (self.clone(), batch.to_vec());
        self.on_turn_thread(async move { this.record(&batch, now).await })
            .await
    }

    async fn record(
        &self,
        batch: &[(ClaimedDelivery, Recorded)],
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let mut tx = self.begin_write().await?;
        // Lock order: an incident before its deliveries, as acknowledging and resolving take
        // them (`change_state` updates the incident, then cancels its pending deliveries).
        // Updating a delivery first and its incident second deadlocked on PostgreSQL against
        // an acknowledgement of the same incident, answering the responder 500. So on
        // PostgreSQL every incident of the batch is locked first, whatever its outcome: a
        // failed send's timeline event checks its incident's key, and against a resolve
        // (which frees the incident's open key) that deadlocked too. (SQLite's write turn
        // already keeps writers apart.)
        if self.backend == Backend::Postgres {
            let mut incidents: Vec<&str> =
                batch.iter().map(|(d, _)| d.incident_id.as_str()).collect();
            incidents.sort_unstable();
            incidents.dedup();
            for chunk in row_chunks(&incidents) {
                lock_incidents(&mut tx, chunk).await?;
            }
        }
        // The provider has accepted these, so the time stands even if a lease turns out to be
        // lost below.
        let mut accepted: Vec<&str> = batch
            .iter()
            .filter(|(_, outcome)| matches!(outcome, Recorded::Sent { .. }))
            .map(|(d, _)| d.incident_id.as_str())
            .collect();
        accepted.sort_unstable();
        accepted.dedup();
        for chunk in row_chunks(&accepted) {
            mark_first_accepted(&mut tx, chunk, now).await?;
        }
        // A delivery claimed twice (its lease ran out mid-send) can finish twice in one batch;
        // only one of the two holds the lease, and a multi-row update could not say which.
        let mut seen = HashMap::new();
        for (d, _) in batch {
            *seen.entry(d.id.as_str()).or_insert(0) += 1;
        }
        let (single, twice): (Vec<_>, Vec<_>) =
            batch.iter().partition(|(d, _)| seen[d.id.as_str()] == 1);
        let mut kept = HashSet::new();
        for chunk in row_chunks(&single) {
            kept.extend(update_outcomes(&mut tx, self.backend, chunk, now).await?);
        }
        let mut recorded = 0;
        for (d, outcome) in single {
            if kept.contains(&d.id) {
                record_consequences(&mut tx, d, outcome, now).await?;
                recorded += 1;
            }
        }
        for entry in twice {
            if !update_outcomes(&mut tx, self.backend, std::slice::from_ref(&entry), now)
                .await?
                .is_empty()
            {
                let (d, outcome) = entry;
                record_consequences(&mut tx, d, outcome, now).await?;
                recorded += 1;
            }
        }
        tx.commit().await?;
        Ok(recorded)
    }

    /// How many deliveries are due now and since when the oldest has waited.
    pub async fn delivery_queue_stats(&self, now: DateTime<Utc>) -> Result<QueueStats, StoreError> {
        let row = db::query(
            "SELECT COUNT(*) AS due, MIN(due_at) AS oldest FROM deliveries \
             WHERE state = 'pending' AND due_at <= $1",
        )
        .bind(millis(now))
        .fetch_one(&self.pool)
        .await?;
        Ok(QueueStats {
            due: row.try_get("due")?,
            oldest_due_at: row.try_get::<Option<i64>, _>("oldest")?.map(from_millis),
        })
    }
}

/// The columns an outcome sets: state, when it is due again, the provider's id, the error.
fn outcome_columns(
    outcome: &Recorded,
) -> (&'static str, Option<i64>, Option<String>, Option<String>) {
    match outcome {
        Recorded::Sent {
            provider_message_id,
        } => ("sent", None, provider_message_id.clone(), None),
        Recorded::RetryAt { due_at, error } => {
            ("pending", Some(millis(*due_at)), None, Some(error.clone()))
        }
        Recorded::Failed { error } | Recorded::TokenDead { error } => {
            ("failed", None, None, Some(error.clone()))
        }
        Recorded::Cancelled { reason } => ("cancelled", None, None, Some(reason.clone())),
    }
}

/// What an outcome does to its delivery row, given as `v` (the outcome) and `$1` (now).
const SET_OUTCOME: &str = "state = v.column3, due_at = COALESCE(v.column4, deliveries.due_at), \
     provider_message_id = COALESCE(v.column5, deliveries.provider_message_id), \
     last_error = v.column6, \
     sent_at = CASE WHEN v.column3 = 'sent' THEN $1 ELSE deliveries.sent_at END, \
     lease_owner = NULL, lease_until = NULL, updated_at = $1";

/// The types of `v`'s columns (delivery id, lease token, state, due at, provider's id, error)
/// by backend: PostgreSQL infers a parameter's type from where it is used, and in a `VALUES`
/// list nothing says, so the first row names them.
fn outcome_types(backend: Backend) -> &'static [&'static str] {
    match backend {
        Backend::Sqlite => &["TEXT", "TEXT", "TEXT", "BIGINT", "TEXT", "TEXT"],
        Backend::Postgres => &["uuid", "TEXT", "TEXT", "timestamptz", "TEXT", "TEXT"],
    }
}

/// Like [`value_rows`], with the first row's placeholders cast to `types`.
fn typed_value_rows(rows: usize, types: &[&str], before: usize) -> String {
    let first: Vec<String> = types
        .iter()
        .enumerate()
        .map(|(c, ty)| format!("CAST(${} AS {ty})", before + c + 1))
        .collect();
    let rest = value_rows(rows - 1, types.len(), before + types.len());
    if rest.is_empty() {
        format!("({})", first.join(", "))
    } else {
        format!("({}), {rest}", first.join(", "))
    }
}

/// Writes the outcomes of `chunk` (distinct deliveries) in one statement, each only where its
/// claim still holds the lease; returns the ids written.
async fn update_outcomes(
    tx: &mut Tx,
    backend: Backend,
    chunk: &[&(ClaimedDelivery, Recorded)],
    now: DateTime<Utc>,
) -> Result<Vec<String>, StoreError> {
    let sql = format!(
        "UPDATE deliveries SET {SET_OUTCOME} FROM (VALUES {}) AS v \
         WHERE deliveries.id = v.column1 AND deliveries.lease_owner = v.column2 \
         AND deliveries.state = 'pending' RETURNING deliveries.id",
        typed_value_rows(chunk.len(), outcome_types(backend), 1)
    );
    let mut query = db::query(&sql).bind(millis(now));
    for (d, outcome) in chunk {
        let (state, due_at, provider_id, error) = outcome_columns(outcome);
        query = query
            .bind(d.id.clone())
            .bind(d.lease_token.clone())
            .bind(state)
            .bind(due_at)
            .bind(provider_id)
            .bind(error);
    }
    let rows = query.fetch_all(&mut **tx).await?;
    rows.iter()
        .map(|r| r.try_get::<String, _>(0))
        .collect::<Result<_, _>>()
        .map_err(StoreError::from)
}

/// Locks the incidents of `ids` (sorted) on PostgreSQL, in id order, so two recorders never
/// take them crosswise, and with the lock an `UPDATE` takes (`FOR NO KEY UPDATE`), not
/// `FOR UPDATE`: that one also blocks the key-share lock a foreign key check takes, so a
/// transaction writing a timeline event of the incident while holding one of its deliveries
/// (a provider's status callback) deadlocked against the recorder.
async fn lock_incidents(tx: &mut Tx, ids: &[&str]) -> Result<(), StoreError> {
    let sql = format!(
        "SELECT id FROM incidents WHERE id IN ({}) ORDER BY id FOR NO KEY UPDATE",
        numbered(1, ids.len())
    );
    let mut query = db::query(&sql);
    for id in ids {
        query = query.bind(id.to_string());
    }
    query.fetch_all(&mut **tx).await?;
    Ok(())
}

/// Sets `first_accepted_at` on the incidents of `ids` that had none (on PostgreSQL already
/// locked by [`lock_incidents`]).
async fn mark_first_accepted(
    tx: &mut Tx,
    ids: &[&str],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    // `$1` is `now`; the ids follow.
    let sql = format!(
        "UPDATE incidents SET first_accepted_at = $1 \
         WHERE id IN ({}) AND first_accepted_at IS NULL",
        numbered(2, ids.len())
    );
    let mut query = db::query(&sql).bind(millis(now));
    for id in ids {
        query = query.bind(id.to_string());
    }
    query.execute(&mut **tx).await?;
    Ok(())
}

/// `count` placeholders numbered from `first`: `$2, $3, $4`.
fn numbered(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What a recorded outcome means beyond its row: the timeline, and a dead token or address
/// taken out of paging.
async fn record_consequences(
    tx: &mut Tx,
    d: &ClaimedDelivery,
    outcome: &Recorded,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let on = On {
        ticket: &d.ticket_id,
        incident: Some(&d.incident_id),
        alert: None,
    };
    let mut who = d.recipient.describe();
    who["user_id"] = json!(d.user_id);
    who["kind"] = json!(d.kind);
    match outcome {
        Recorded::Sent {
            provider_message_id,
        } => {
            let mut detail = who;
            detail["provider_message_id"] = json!(provider_message_id);
            detail["attempts"] = json!(d.attempts);
            event(tx, on, now, TimelineKind::Delivered, None, detail).await?;
        }
        Recorded::TokenDead { error } => {
            let kind = match &d.recipient {
                Recipient::Device { device_id, .. } => {
                    db::query(
                        "UPDATE devices SET token_dead_at = $2, updated_at = $2 \
                         WHERE id = $1 AND token_dead_at IS NULL",
                    )
                    .bind(device_id)
                    .bind(millis(now))
                    .execute(&mut **tx)
                    .await?;
                    TimelineKind::DeliveryTokenDead
                }
                // The address will never work: the method is taken out of paging (the
                // person's other methods still fire) and says why.
                Recipient::Method { method_id, .. } => {
                    db::query(
                        "UPDATE contact_methods SET disabled_at = $2, disabled_reason = $3, \
                         updated_at = $2 WHERE id = $1 AND disabled_at IS NULL",
                    )
                    .bind(method_id)
                    .bind(millis(now))
                    .bind(error)
                    .execute(&mut **tx)
                    .await?;
                    TimelineKind::DeliveryAddressDead
                }
            };
            let mut detail = who;
            detail["error"] = json!(error);
            event(tx, on, now, kind, None, detail).await?;
        }
        Recorded::Failed { error } => {
            let mut detail = who;
            detail["error"] = json!(error);
            detail["attempts"] = json!(d.attempts);
            event(tx, on, now, TimelineKind::DeliveryFailed, None, detail).await?;
        }
        Recorded::RetryAt { .. } | Recorded::Cancelled { .. } => {}
    }
    Ok(())
}
