//! What the console's On-call page reads besides the schedules themselves: the staff who can
//! be on call or cover a shift (for names and the override form), and who is away when.

use chrono::{DateTime, Utc};

use super::{db, from_millis, millis, Store, StoreError};

/// Staff listed at most; an on-call team is tens of people.
const PEOPLE_LIMIT: i64 = 1000;

/// A responder or support manager, by name.
#[derive(Debug, Clone)]
pub struct Person {
    pub id: String,
    pub name: String,
}

/// One stretch of a person's unavailability.
#[derive(Debug, Clone)]
pub struct Away {
    pub user_id: String,
    pub name: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// Who takes their account-manager pages meanwhile.
    pub delegate: Option<String>,
}

impl Store {
    /// Every responder and support manager, by name: who can be on call or cover a shift.
    pub async fn on_call_people(&self) -> Result<Vec<Person>, StoreError> {
        let rows = db::query(
            "SELECT id, name FROM users WHERE role IN ('responder', 'support_manager') \
             ORDER BY name, id LIMIT $1",
        )
        .bind(PEOPLE_LIMIT)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Person {
                    id: r.try_get("id")?,
                    name: r.try_get("name")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Unavailability overlapping `[from, to)`, by start.
    pub async fn unavailability_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Away>, StoreError> {
        let rows = db::query(
            "SELECT a.user_id, u.name, a.starts_at, a.ends_at, d.name AS delegate \
             FROM unavailability a JOIN users u ON u.id = a.user_id \
             LEFT JOIN users d ON d.id = a.delegate_id \
             WHERE a.ends_at > $1 AND a.starts_at < $2 ORDER BY a.starts_at, u.name LIMIT $3",
        )
        .bind(millis(from))
        .bind(millis(to))
        .bind(PEOPLE_LIMIT)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Away {
                    user_id: r.try_get("user_id")?,
                    name: r.try_get("name")?,
                    starts_at: from_millis(r.try_get("starts_at")?),
                    ends_at: from_millis(r.try_get("ends_at")?),
                    delegate: r.try_get("delegate")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }
}
