//! The outbox: deliveries queued inside the transaction that decides them, so a page exists
//! exactly when its incident's change does. The dispatcher sends them. Every writer of
//! `deliveries` comes through [`queue`], a few multi-row `INSERT`s however many rows.

use chrono::{DateTime, Utc};

use super::{db, insert_rows, millis, new_id, Tx};
use crate::domain::contact::{reply_code, Channel};
use crate::domain::escalation::Position;
use crate::domain::reach::{PlannedDelivery, Recipient};

/// What every delivery of one page or update shares.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Message<'a> {
    pub incident_id: &'a str,
    /// The incident's customer: the dispatcher takes turns by it.
    pub customer_id: &'a str,
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

/// One `deliveries` row as it is written.
#[derive(Debug, Clone)]
pub(crate) struct OutboxRow {
    id: String,
    incident_id: String,
    customer_id: String,
    user_id: String,
    device_id: Option<String>,
    platform: Option<String>,
    kind: String,
    pass: i64,
    step: i64,
    title: String,
    body: String,
    due_at: i64,
    expires_at: i64,
    created_at: i64,
    first_page: i64,
    channel: &'static str,
    method_id: Option<String>,
    reply_code: Option<String>,
}

impl Delivery<'_> {
    fn row(&self) -> OutboxRow {
        let m = &self.message;
        let (device_id, platform, method_id) = match &self.planned.to {
            Recipient::Device { id, platform } => (Some(id.clone()), Some(platform.clone()), None),
            Recipient::Method { id, .. } => (None, None, Some(id.clone())),
        };
        let channel = self.planned.to.channel();
        let page = m.kind == "page";
        OutboxRow {
            id: new_id(),
            incident_id: m.incident_id.to_owned(),
            customer_id: m.customer_id.to_owned(),
            user_id: self.user_id.clone(),
            device_id,
            platform,
            kind: m.kind.to_owned(),
            pass: i64::from(m.pos.pass),
            step: m.pos.step as i64,
            title: m.title.to_owned(),
            body: m.body.to_owned(),
            due_at: millis(self.planned.due),
            expires_at: millis(m.expires),
            created_at: millis(m.now),
            first_page: i64::from(page && m.first_paging),
            channel: channel.as_str(),
            method_id,
            // SMS pages carry a short code a reply names (`ACK 4K7Q`).
            reply_code: (channel == Channel::Sms && page).then(reply_code),
        }
    }
}

/// Queues `rows`: written now, or, in a transaction that keeps its outbox rows until it
/// commits ([`Tx::keep_outbox_until_commit`], the intake lanes'), written with every other press's rows
/// of the batch in a few multi-row statements.
pub(crate) async fn queue(tx: &mut Tx, rows: &[Delivery<'_>]) -> Result<(), sqlx::Error> {
    let rows: Vec<OutboxRow> = rows.iter().map(Delivery::row).collect();
    if tx.keeps_outbox() {
        tx.add_kept_outbox(rows);
        return Ok(());
    }
    write(tx, &rows).await
}

/// Writes `rows`, a few multi-row `INSERT`s however many.
pub(crate) async fn write(conn: &mut db::Conn, rows: &[OutboxRow]) -> Result<(), sqlx::Error> {
    insert_rows(
        conn,
        "INSERT INTO deliveries (id, incident_id, user_id, device_id, platform, kind, \
         escalation_pass, escalation_step, title, body, state, due_at, expires_at, give_up_at, \
         created_at, updated_at, first_page, channel, contact_method_id, reply_code, customer_id)",
        21,
        rows,
        |query, row| {
            query
                .bind(row.id.clone())
                .bind(row.incident_id.clone())
                .bind(row.user_id.clone())
                .bind(row.device_id.clone())
                .bind(row.platform.clone())
                .bind(row.kind.clone())
                .bind(row.pass)
                .bind(row.step)
                .bind(row.title.clone())
                .bind(row.body.clone())
                .bind("pending")
                .bind(row.due_at)
                .bind(row.expires_at)
                .bind(row.expires_at)
                .bind(row.created_at)
                .bind(row.created_at)
                .bind(row.first_page)
                .bind(row.channel)
                .bind(row.method_id.clone())
                .bind(row.reply_code.clone())
                .bind(row.customer_id.clone())
        },
    )
    .await
}
