//! The outbox: deliveries queued inside the transaction that decides them, so a page exists
//! exactly when its incident's change does. The dispatcher sends them. Every writer of
//! `deliveries` comes through [`queue`], a few multi-row `INSERT`s however many rows.

use chrono::{DateTime, Utc};

use super::{insert_rows, millis, new_id, Tx};
use crate::domain::contact::{reply_code, Channel};
use crate::domain::escalation::Position;
use crate::domain::reach::{PlannedDelivery, Recipient};

/// What every delivery of one page or update shares.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Message<'a> {
    pub incident_id: &'a str,
    /// `page` (asks for an acknowledgement) or `update` (tells a customer's contact).
    pub kind: &'a str,
    pub pos: Position,
    pub title: &'a str,
    pub body: &'a str,
    pub expires: DateTime<Utc>,
    pub now: DateTime<Utc>,
    /// The incident has never been paged: these pages go out ahead of any backlog.
    pub first_paging: bool,
}

/// One row to queue: the message, to whom, where, when.
#[derive(Debug, Clone)]
pub(crate) struct Delivery<'a> {
    pub message: Message<'a>,
    pub user_id: String,
    pub planned: PlannedDelivery,
}

impl<'a> Message<'a> {
    /// The rows that send this message to `user_id` as `plan` says.
    pub(crate) fn to(&self, user_id: &str, plan: Vec<PlannedDelivery>) -> Vec<Delivery<'a>> {
        plan.into_iter()
            .map(|planned| Delivery {
                message: *self,
                user_id: user_id.to_owned(),
                planned,
            })
            .collect()
    }
}

/// Queues `rows`.
pub(crate) async fn queue(tx: &mut Tx, rows: &[Delivery<'_>]) -> Result<(), sqlx::Error> {
    insert_rows(
        tx,
        "INSERT INTO deliveries (id, incident_id, user_id, device_id, platform, kind, \
         escalation_pass, escalation_step, title, body, state, due_at, expires_at, give_up_at, \
         created_at, updated_at, first_page, channel, contact_method_id, reply_code)",
        20,
        rows,
        |query, row| {
            let m = &row.message;
            let (device_id, platform, method_id) = match &row.planned.to {
                Recipient::Device { id, platform } => {
                    (Some(id.clone()), Some(platform.clone()), None)
                }
                Recipient::Method { id, .. } => (None, None, Some(id.clone())),
            };
            let channel = row.planned.to.channel();
            let page = m.kind == "page";
            // SMS pages carry a short code a reply names (`ACK 4K7Q`).
            let reply_code = (channel == Channel::Sms && page).then(reply_code);
            query
                .bind(new_id())
                .bind(m.incident_id.to_owned())
                .bind(row.user_id.clone())
                .bind(device_id)
                .bind(platform)
                .bind(m.kind.to_owned())
                .bind(i64::from(m.pos.pass))
                .bind(m.pos.step as i64)
                .bind(m.title.to_owned())
                .bind(m.body.to_owned())
                .bind("pending")
                .bind(millis(row.planned.due))
                .bind(millis(m.expires))
                .bind(millis(m.expires))
                .bind(millis(m.now))
                .bind(millis(m.now))
                .bind(i64::from(page && m.first_paging))
                .bind(channel.as_str())
                .bind(method_id)
                .bind(reply_code)
        },
    )
    .await
}
