//! Telling a customer's contacts what became of their incident ("someone is on it",
//! "resolved") without the responder waiting for it.
//!
//! An acknowledgement or a resolution records one `customer_updates` row in its own
//! transaction ([`queue`]), so the update is as durable as the change. Fanning it out, a read
//! of every live device of the customer's contacts and an outbox row for each (fifty phones
//! were most of an acknowledgement's time), is a transaction of its own right after
//! ([`Store::fan_out_customer_update`]). That transaction claims the row first, so an update
//! is fanned out once however many try; if the gateway stops in between, the escalator's
//! round fans out what is left ([`Store::fan_out_pending_customer_updates`]).

use chrono::{DateTime, Utc};

use super::outbox::{self, Message};
use super::{db, from_millis, millis, new_id, Store, StoreError, Tx};
use crate::domain::escalation::Position;
use crate::domain::reach::{self, Device, Reachable};

/// Records that the customer of `incident_id` is to be told `title`/`body` (deferred: it goes
/// with the transaction's next trip); returns the update's id.
pub(crate) fn queue(
    tx: &mut Tx,
    incident_id: &str,
    customer_id: &str,
    title: &str,
    body: &str,
    expires: DateTime<Utc>,
    now: DateTime<Utc>,
) -> String {
    let id = new_id();
    let insert = db::query(
        "INSERT INTO customer_updates (id, incident_id, customer_id, title, body, expires_at, \
         created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(id.clone())
    .bind(incident_id.to_owned())
    .bind(customer_id.to_owned())
    .bind(title.to_owned())
    .bind(body.to_owned())
    .bind(millis(expires))
    .bind(millis(now));
    tx.defer(insert, "customer_update");
    id
}

impl Store {
    /// Fans the update `id` out to every live device of its customer's contacts, unless that
    /// was done already; returns how many deliveries it queued.
    #[tracing::instrument(name = "store fan out customer update", skip_all)]
    pub async fn fan_out_customer_update(
        &self,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let mut tx = self.begin_write().await?;
        let claimed = db::query(
            "UPDATE customer_updates SET fanned_out_at = $2 \
             WHERE id = $1 AND fanned_out_at IS NULL \
             RETURNING incident_id, customer_id, title, body, expires_at, created_at",
        )
        .bind(id)
        .bind(millis(now))
        .fetch_optional(&mut *tx)
        .await?;
        let Some(update) = claimed else {
            return Ok(0);
        };
        let incident_id: String = update.try_get("incident_id")?;
        let customer_id: String = update.try_get("customer_id")?;
        let title: String = update.try_get("title")?;
        let body: String = update.try_get("body")?;
        let message = Message {
            incident_id: &incident_id,
            customer_id: &customer_id,
            kind: "update",
            pos: Position::FIRST,
            title: &title,
            body: &body,
            expires: from_millis(update.try_get("expires_at")?),
            // As of the change it tells of, so updates keep their order.
            now: from_millis(update.try_get("created_at")?),
            first_paging: false,
        };
        let told = tell_contacts(&mut tx, &message).await?;
        tx.commit().await?;
        Ok(told)
    }

    /// Fans out every update not fanned out yet (at most `limit`, oldest first): those whose
    /// gateway stopped between the change and its fan-out. Returns how many deliveries it
    /// queued.
    pub async fn fan_out_pending_customer_updates(
        &self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> Result<usize, StoreError> {
        let pending: Vec<String> = db::query_scalar(
            "SELECT id FROM customer_updates WHERE fanned_out_at IS NULL \
             ORDER BY created_at, id LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut told = 0;
        for id in pending {
            told += self.fan_out_customer_update(&id, now).await?;
        }
        Ok(told)
    }
}

/// Queues `message` to every live device of the customer's contacts, in two statements
/// however many there are; returns how many.
async fn tell_contacts(tx: &mut Tx, message: &Message<'_>) -> Result<usize, StoreError> {
    let devices = db::query(
        "SELECT d.user_id, d.id, d.platform FROM devices d JOIN users u ON u.id = d.user_id \
         WHERE u.customer_id = $1 AND u.role = 'contact' \
         AND d.revoked_at IS NULL AND d.token_dead_at IS NULL ORDER BY u.id, d.id",
    )
    .bind(message.customer_id)
    .fetch_all(&mut **tx)
    .await?;
    // Each contact's devices, in the order read (by contact).
    let mut contacts: Vec<(String, Reachable)> = Vec::new();
    for d in &devices {
        let user_id: String = d.try_get("user_id")?;
        let device = Device {
            id: d.try_get("id")?,
            platform: d.try_get("platform")?,
        };
        match contacts.last_mut() {
            Some((contact, reachable)) if *contact == user_id => reachable.devices.push(device),
            _ => contacts.push((
                user_id,
                Reachable {
                    devices: vec![device],
                    methods: Vec::new(),
                },
            )),
        }
    }
    let rows: Vec<_> = contacts
        .iter()
        .flat_map(|(contact, reachable)| {
            message.to(contact, reach::plan_update(reachable, message.now))
        })
        .collect();
    outbox::queue(tx, &rows).await?;
    Ok(rows.len())
}
