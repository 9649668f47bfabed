//! `panic-gateway serve`: the HTTP API until SIGTERM. Migrating first is the gateway's own
//! decision (`database.migrate_on_start`), made in `startup`.

use clap::Args;
use panic_gateway::config::Settings;
use panic_gateway::startup::Application;

#[derive(Args, Default)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long)]
    pub host: Option<String>,
    /// Port to listen on.
    #[arg(long)]
    pub port: Option<u16>,
}

pub async fn run(settings: Settings) -> anyhow::Result<()> {
    let app = Application::build(settings.clone()).await?;
    tracing::info!(
        address = %format!("{}:{}", settings.server.host, app.port()),
        database = app.store().backend().name(),
        "panic-gateway listening"
    );
    app.run_until_stopped().await
}
