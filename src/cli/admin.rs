//! `panic-gateway migrate` and `panic-gateway admin …`: bootstrap and repair without the HTTP
//! API. Admin commands follow `database.migrate_on_start` as `serve` does: where an operator
//! migrates deliberately (the setting off), a CLI call must not change the schema behind their
//! back, so it refuses on a schema that is behind instead of migrating it.

use clap::Subcommand;
use panic_gateway::auth;
use panic_gateway::config::Settings;
use panic_gateway::domain::admin_key::Scopes;
use panic_gateway::store::admin_keys::{KeyRevocation, NewAdminKey};
use panic_gateway::store::Store;

#[derive(Subcommand)]
pub enum AdminCommand {
    /// Create an admin API key and print it once (only its digest is stored).
    CreateKey {
        /// Who or what the key is for, shown in the audit log.
        #[arg(long)]
        name: String,
        /// What the key may do: `admin` (everything), `tickets:write` (the helpdesk) or
        /// `reports:read` (the SLA report). Repeat for several.
        #[arg(long = "scope", default_value = "admin")]
        scopes: Vec<String>,
        /// Days until the key stops working; without it the key lasts until revoked.
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=3650))]
        expires_in_days: Option<u32>,
    },
    /// Revoke an admin API key: it is refused from the next request on.
    RevokeKey {
        /// The key's id (as `GET /v1/admin/api-keys` lists it).
        id: String,
    },
    /// Issue a one-time enrollment code for a user and print it once.
    EnrollmentCode {
        /// The user's id.
        #[arg(long)]
        user: String,
    },
    /// Invite a responder or support manager to the console: prints a one-time link that sets
    /// their password (only its digest is stored). They sign in with their user's e-mail.
    Invite {
        /// The user's id.
        #[arg(long)]
        user: String,
        /// Make them an admin of the console (manages people and configuration).
        #[arg(long)]
        admin: bool,
    },
}

pub async fn migrate(settings: Settings) -> anyhow::Result<()> {
    let store = Store::connect(&settings.database).await?;
    store.migrate().await?;
    let state = store.migration_state().await?;
    tracing::info!(version = state.applied, "database migrated");
    store.close().await;
    Ok(())
}

/// The store at the schema this binary expects: migrated when `migrate_on_start` allows it,
/// refused (untouched) when it does not and the schema is behind.
async fn open_store(settings: &Settings) -> anyhow::Result<Store> {
    let store = Store::connect(&settings.database).await?;
    if settings.database.migrate_on_start {
        store.migrate().await?;
        return Ok(store);
    }
    let state = store.migration_state().await?;
    if !state.is_current() {
        store.close().await;
        anyhow::bail!(
            "the database schema is at version {} but this binary needs version {}, and \
             database.migrate_on_start is off: run `panic-gateway migrate` first",
            state.applied,
            state.expected
        );
    }
    Ok(store)
}

pub async fn run(settings: Settings, command: AdminCommand) -> anyhow::Result<()> {
    let store = open_store(&settings).await?;
    let now = chrono::Utc::now();
    match command {
        AdminCommand::CreateKey {
            name,
            scopes,
            expires_in_days,
        } => {
            let scopes = Scopes::parse(scopes.iter().map(String::as_str))?;
            let expires_at =
                expires_in_days.map(|days| now + chrono::Duration::days(i64::from(days)));
            let new = NewAdminKey {
                name: &name,
                scopes: &scopes,
                expires_at,
            };
            let (stored, key) = auth::create_admin_key(&store, new, "cli", now).await?;
            let scopes = scopes.to_stored();
            let until = expires_at.map_or("revoked".to_owned(), |at| at.to_rfc3339());
            eprintln!(
                "admin key {} created for {name:?} with scopes [{scopes}], valid until {until}; \
                 it is shown once, store it now:",
                stored.id
            );
            println!("{key}");
        }
        AdminCommand::RevokeKey { id } => match store.revoke_admin_key(&id, "cli", now).await? {
            KeyRevocation::Revoked => eprintln!("admin key {id} revoked"),
            KeyRevocation::AlreadyRevoked => eprintln!("admin key {id} was already revoked"),
            KeyRevocation::Unknown => anyhow::bail!("no admin key {id}"),
        },
        AdminCommand::EnrollmentCode { user } => {
            if store.user(&user).await?.is_none() {
                anyhow::bail!("no user {user}");
            }
            let ttl = chrono::Duration::hours(settings.auth.enrollment_code_ttl_hours as i64);
            // Hashed under the same key `serve` verifies with, so the secrets are needed here.
            let keys = auth::signing_secrets(&settings.auth, &settings.database.url)?
                .enrollment_code_keys();
            let issued = auth::issue_enrollment_code(&store, &keys, &user, ttl, "cli", now).await?;
            eprintln!(
                "enrollment code {} for user {user}, valid once until {}:",
                issued.id, issued.expires_at
            );
            println!("{}", issued.code.display());
        }
        AdminCommand::Invite { user, admin } => {
            let invited = auth::invite_staff(
                &store,
                &settings.server.public_base(),
                &user,
                admin,
                settings.console.invite_ttl(),
                "cli",
                now,
            )
            .await?;
            let invited = match invited {
                Ok(invited) => invited,
                Err(refusal) => {
                    store.close().await;
                    anyhow::bail!("cannot invite user {user}: {refusal}");
                }
            };
            eprintln!(
                "console invite for {} ({}), valid once until {}; send them this link:",
                invited.email,
                if invited.admin { "admin" } else { "staff" },
                invited.expires_at
            );
            println!("{}", invited.url);
        }
    }
    store.close().await;
    Ok(())
}
