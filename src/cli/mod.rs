//! What each `panic-gateway` command does, behind `main.rs`'s parser: `serve`, `migrate`,
//! `admin`, `apply` and `export` in every build; the developer kit's `demo`, `simulate` and
//! `bench` with `devkit`.
//! Two ways to run a command, so each says what it needs instead of a second dispatch:
//! [`with_settings`] loads the settings and logging first, [`standalone`] reads neither (the
//! simulated phone talks to a URL; the bench configures its own child gateway).

pub mod admin;
pub mod configuration;
#[cfg(feature = "devkit")]
pub mod devkit;
pub mod serve;

use std::future::Future;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use panic_gateway::config::{Settings, Sources};
use panic_gateway::telemetry;

/// Options every command accepts.
#[derive(Args)]
pub struct Global {
    /// TOML settings file (default: ./panic-gateway.toml when present).
    #[arg(long, global = true, env = "PANIC_GATEWAY_CONFIG")]
    pub config: Option<PathBuf>,
    /// Database URL, overriding the file and environment.
    #[arg(long, global = true)]
    pub database_url: Option<String>,
}

/// Loads the settings and starts logging, then runs `body`. Settings that do not load are a
/// usage error (exit 2, nothing done); a failing command is logged and printed (exit 1).
pub async fn with_settings<F, Fut>(
    global: &Global,
    serve: Option<&serve::ServeArgs>,
    body: F,
) -> ExitCode
where
    F: FnOnce(Settings) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let settings = match load_settings(global, serve) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("panic-gateway: {e}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(&settings.log);
    match body(settings).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "panic-gateway failed");
            eprintln!("panic-gateway: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs a command that needs no settings; its failure is printed under its name.
pub async fn standalone(name: &str, body: impl Future<Output = anyhow::Result<()>>) -> ExitCode {
    match body.await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("panic-gateway {name}: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn load_settings(global: &Global, serve: Option<&serve::ServeArgs>) -> Result<Settings, String> {
    let mut overrides = Vec::new();
    if let Some(url) = &global.database_url {
        overrides.push(("database.url".to_owned(), url.as_str().into()));
    }
    if let Some(args) = serve {
        if let Some(host) = &args.host {
            overrides.push(("server.host".to_owned(), host.as_str().into()));
        }
        if let Some(port) = args.port {
            overrides.push(("server.port".to_owned(), port.into()));
        }
    }
    let settings = Settings::load(&Sources {
        file: global.config.clone(),
        environment: true,
        overrides,
    })
    .map_err(|e| e.to_string())?;
    if serve.is_some() {
        settings.validate_for_serving().map_err(|e| e.to_string())?;
    }
    Ok(settings)
}
