//! The readiness worker: before anyone presses the button, make sure paging could reach
//! someone. Each round plans the shift reminders due (a silent test push to each device of
//! whoever goes on call within the lead time), judges every Gold customer's first-pass steps
//! now and at the next hand-off (`Store::check_readiness`: support managers told once per
//! break), and sends the due notices through the push providers, recording their answers: a
//! dead token marks the device dead, so the next round reports the person before their shift
//! starts rather than during a P1.
//!
//! Several instances may run it: every write is guarded in the database (see
//! `store::readiness`). Limits: the silent push tests the token, not whether the person looks
//! at their phone; reminders go to push devices only.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::clock::Clock;
use crate::domain::platform::Platform;
use crate::domain::push_token::PushToken;
use crate::push::{Notification, NotificationKind, Outcome, Providers};
use crate::store::readiness::{ClaimedNotice, NoticeResult};
use crate::store::{Store, StoreError};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ReadinessSettings {
    /// Run the readiness check, shift reminders and notices on this instance.
    pub enabled: bool,
    /// Between rounds, in milliseconds.
    pub interval_ms: u64,
    /// How long before a shift starts its reminder (and silent test push) goes out.
    pub reminder_lead_minutes: u32,
}

impl Default for ReadinessSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            interval_ms: 60_000,
            reminder_lead_minutes: 60,
        }
    }
}

/// What one round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadinessWork {
    pub reminders_planned: usize,
    pub problems_told: usize,
    pub notices_sent: usize,
}

pub struct ReadinessWorker {
    store: Store,
    providers: Providers,
    clock: Arc<dyn Clock>,
    settings: ReadinessSettings,
    owner: String,
}

impl ReadinessWorker {
    pub fn new(
        store: Store,
        providers: Providers,
        clock: Arc<dyn Clock>,
        settings: ReadinessSettings,
    ) -> Self {
        Self {
            store,
            providers,
            clock,
            settings,
            owner: format!("readiness-{}", uuid::Uuid::new_v4().simple()),
        }
    }

    pub async fn run(self: Arc<Self>, stop: watch::Receiver<bool>) {
        let interval = std::time::Duration::from_millis(self.settings.interval_ms);
        super::every("readiness", interval, stop, || self.run_once()).await;
    }

    /// One round: plan reminders, judge readiness, send due notices. The count is the work
    /// that creates more work (reminders planned, problems told, notices sent), so
    /// `Engine::run_due_work` settles once nothing new happens.
    #[tracing::instrument(name = "readiness round", skip_all)]
    pub async fn run_once(&self) -> Result<ReadinessWork, StoreError> {
        let now = self.clock.now();
        let lead = chrono::Duration::minutes(i64::from(self.settings.reminder_lead_minutes));
        let reminders_planned = self.store.plan_shift_reminders(now, lead).await?;
        let notices_sent = self.send_due().await?;
        // Judged after the sends, so a token found dead this round is reported this round.
        let round = self.store.check_readiness(self.clock.now()).await?;
        let notices_sent = notices_sent + self.send_due().await?;
        Ok(ReadinessWork {
            reminders_planned,
            problems_told: round.told,
            notices_sent,
        })
    }

    #[tracing::instrument(name = "readiness notices", skip_all, fields(claimed))]
    async fn send_due(&self) -> Result<usize, StoreError> {
        let now = self.clock.now();
        let claimed = self
            .store
            .claim_due_notices(&self.owner, now, chrono::Duration::seconds(60), 100)
            .await?;
        let count = claimed.len();
        tracing::Span::current().record("claimed", count);
        for notice in claimed {
            let result = self.send(&notice).await;
            self.store
                .record_notice(&notice, result, self.clock.now())
                .await?;
        }
        Ok(count)
    }

    #[tracing::instrument(name = "readiness notice send", skip_all, fields(notice = %n.id, kind = %n.kind, platform = %n.platform, attempts = n.attempts))]
    async fn send(&self, n: &ClaimedNotice) -> NoticeResult {
        let now = self.clock.now();
        let Some(platform) = Platform::parse(&n.platform) else {
            return NoticeResult::Failed {
                error: format!("unknown platform {:?}", n.platform),
            };
        };
        let Some(provider) = self.providers.get(&platform) else {
            return NoticeResult::Failed {
                error: format!("no push provider for {}", n.platform),
            };
        };
        let token = match PushToken::parse(platform, &n.push_token) {
            Ok(t) => t,
            Err(e) => {
                return NoticeResult::TokenDead {
                    error: e.to_string(),
                }
            }
        };
        let notification = Notification {
            kind: if n.kind == "shift_reminder" {
                NotificationKind::Silent
            } else {
                NotificationKind::Update
            },
            // Groups a notice with nothing else on the phone.
            incident_id: format!("notice-{}", n.id),
            delivery_id: n.id.clone(),
            title: n.title.clone(),
            body: n.body.clone(),
            ticket_ref: None,
            ack_token: None,
            expires_at: n.give_up_at,
            critical_allowed: false,
        };
        match provider.send(&token, &notification, now).await {
            Outcome::Accepted { .. } => NoticeResult::Sent,
            Outcome::Retry { after, reason } => {
                let wait = after.unwrap_or(std::time::Duration::from_secs(
                    10u64.saturating_mul(1 << n.attempts.clamp(0, 6)),
                ));
                NoticeResult::Retry {
                    at: now + chrono::Duration::from_std(wait).unwrap_or_default(),
                    error: reason,
                }
            }
            Outcome::TokenDead { reason } => NoticeResult::TokenDead { error: reason },
            Outcome::Fatal { reason } => NoticeResult::Failed { error: reason },
        }
    }
}
