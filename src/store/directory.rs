//! The admin console's directory: customers, users and devices, a page at a time.
//!
//! Pages are keyset pages on the primary key (`id > $after ORDER BY id LIMIT $limit`): ids are
//! UUIDv7, so the order is creation order, stable while rows are added, and each page costs one
//! index range scan however deep into the list it is. Rows are mapped by the same functions
//! as the single-row reads in `identity.rs`.

use super::identity::{customer_row, device_row, user_row, DEVICE_COLUMNS};
use super::{db, Store, StoreError};
use crate::domain::identity::{Customer, Device, User};

impl Store {
    /// Up to `limit` customers with ids after `after`.
    pub async fn customers_page(
        &self,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Customer>, StoreError> {
        let rows = db::query(
            "SELECT id, name, tier_id, account_manager_id FROM customers \
             WHERE (id > $1 OR $1 IS NULL) ORDER BY id LIMIT $2",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(customer_row).collect::<Result<_, _>>()?)
    }

    /// Up to `limit` users (of `customer_id`, when given) with ids after `after`.
    pub async fn users_page(
        &self,
        customer_id: Option<&str>,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<User>, StoreError> {
        let rows = db::query(
            "SELECT id, role, customer_id, name, email FROM users \
             WHERE (customer_id = $1 OR $1 IS NULL) AND (id > $2 OR $2 IS NULL) \
             ORDER BY id LIMIT $3",
        )
        .bind(customer_id)
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(user_row).collect::<Result<_, _>>()?)
    }

    /// Up to `limit` devices (of `user_id`, when given) with ids after `after`.
    pub async fn devices_page(
        &self,
        user_id: Option<&str>,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Device>, StoreError> {
        let rows = db::query(&format!(
            "{DEVICE_COLUMNS} WHERE (user_id = $1 OR $1 IS NULL) AND (id > $2 OR $2 IS NULL) \
             ORDER BY id LIMIT $3"
        ))
        .bind(user_id)
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(device_row).collect::<Result<_, _>>()?)
    }
}
