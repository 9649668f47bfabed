//! Builds the application (pool, migrations, HTTP server) and runs it until a shutdown signal,
//! then stops gracefully: stop accepting, let in-flight requests finish (bounded by
//! `server.shutdown_timeout_secs`), close the pool.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use anyhow::Context;
use tokio::sync::watch;

use crate::api;
use crate::api::json::BodyLimit;
use crate::auth::{self, rate_limit::FailureLimiter, tokens::TokenIssuer};
use crate::clock::{Clock, SystemClock};
use crate::config::Settings;
use crate::engine::dispatcher::{Dispatcher, ProviderHealth};
use crate::engine::escalator::Escalator;
use crate::engine::idempotency_pruner::IdempotencyPruner;
use crate::engine::sla_watch::SlaWatch;
use crate::engine::webhooks::WebhookSender;
use crate::push::Providers;
use crate::store::Store;
use crate::telemetry::{self, Metrics};

/// What every handler can reach.
pub struct AppState {
    pub settings: Arc<Settings>,
    pub store: Store,
    pub metrics: web::Data<Metrics>,
    pub clock: Arc<dyn Clock>,
    pub tokens: Arc<TokenIssuer>,
    pub enrollment_failures: FailureLimiter,
    /// Wakes the dispatcher right after a transaction queued deliveries.
    pub dispatch_wake: Arc<tokio::sync::Notify>,
    /// Push providers that rejected our configuration, for readiness.
    pub provider_health: Arc<ProviderHealth>,
    pub providers: Providers,
}

/// Asks a running [`Application`] to shut down gracefully, as SIGTERM would.
#[derive(Clone)]
pub struct ShutdownHandle(Arc<watch::Sender<bool>>);

impl ShutdownHandle {
    pub fn trigger(&self) {
        let _ = self.0.send(true);
    }
}

pub struct Application {
    port: u16,
    server: Server,
    /// The separate `/metrics` listener (`metrics.listen`), when configured.
    metrics_server: Option<(u16, Server)>,
    state: web::Data<AppState>,
    shutdown: Arc<watch::Sender<bool>>,
}

impl Application {
    /// Connects to the database, migrates it if configured, and binds the listener.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        Self::build_with_clock(settings, Arc::new(SystemClock)).await
    }

    /// As [`Application::build`], with the clock every time-based decision reads.
    pub async fn build_with_clock(
        settings: Settings,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        let store = Store::connect(&settings.database)
            .await
            .with_context(|| format!("cannot open the {} database", backend_name(&settings)))?;
        if settings.database.migrate_on_start {
            store
                .migrate()
                .await
                .context("cannot migrate the database")?;
        }
        // A stored policy that cannot keep its tier's SLA is an operator's problem to fix, not
        // a reason for every replica to refuse to start: warn, and /readyz and the policy list
        // mark it until it is fixed. Writes through the API can no longer create one.
        for misfit in store.escalation_misfits().await? {
            tracing::warn!(tier = %misfit.tier, policy = %misfit.policy, "escalation policy cannot keep its tier's SLA: {misfit}");
        }
        let auth = &settings.auth;
        let secrets = auth::signing_secrets(auth, &settings.database.url)?;
        let tokens = Arc::new(
            TokenIssuer::new(
                &secrets.current,
                &auth.issuer,
                &auth.audience,
                chrono::Duration::seconds(auth.access_token_ttl_secs as i64),
            )
            .with_previous(&secrets.previous),
        );
        let providers = crate::push::providers(&settings.push)?;
        for platform in [crate::push::Platform::Ios, crate::push::Platform::Android] {
            if !providers.contains_key(&platform) {
                tracing::warn!(
                    platform = platform.as_str(),
                    "no push provider is configured for {}: its phones will not be paged \
                     (enable push.apns or push.fcm)",
                    platform.as_str()
                );
            }
        }
        let enrollment_failures = FailureLimiter::new(
            auth.enrollment_max_failures,
            chrono::Duration::seconds(auth.enrollment_failure_window_secs as i64),
        );

        let address = format!("{}:{}", settings.server.host, settings.server.port);
        let listener =
            TcpListener::bind(&address).with_context(|| format!("cannot listen on {address}"))?;
        let port = listener.local_addr()?.port();
        let metrics_listener = match settings.metrics.address() {
            Ok(Some(addr)) => Some(
                TcpListener::bind(addr)
                    .with_context(|| format!("cannot listen on {addr} (metrics.listen)"))?,
            ),
            Ok(None) => None,
            Err(reason) => anyhow::bail!("invalid setting `metrics.listen`: {reason}"),
        };
        let state = web::Data::new(AppState {
            settings: Arc::new(settings),
            store,
            metrics: web::Data::new(Metrics::new()),
            clock,
            tokens,
            enrollment_failures,
            dispatch_wake: Arc::new(tokio::sync::Notify::new()),
            provider_health: Arc::new(ProviderHealth::default()),
            providers,
        });
        let server = run_server(listener, state.clone())?;
        let metrics_server = match metrics_listener {
            Some(l) => Some((
                l.local_addr()?.port(),
                run_metrics_server(l, state.clone())?,
            )),
            None => None,
        };
        let (shutdown, _) = watch::channel(false);
        Ok(Self {
            port,
            server,
            metrics_server,
            state,
            shutdown: Arc::new(shutdown),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port of the separate `/metrics` listener, when `metrics.listen` is set.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics_server.as_ref().map(|(port, _)| *port)
    }

    pub fn store(&self) -> &Store {
        &self.state.store
    }

    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle(self.shutdown.clone())
    }

    /// Serves until SIGTERM, SIGINT or [`ShutdownHandle::trigger`], then drains: the HTTP
    /// server stops accepting and finishes in-flight requests, the workers finish the round
    /// they are in, and the pool closes.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let Application {
            server,
            metrics_server,
            state,
            shutdown,
            ..
        } = self;
        let workers = start_workers(&state, shutdown.subscribe());
        let metrics_server = metrics_server.map(|(_, server)| {
            let handle = server.handle();
            (handle, tokio::spawn(server))
        });
        let handle = server.handle();
        let mut server = tokio::spawn(server);
        let mut requested = shutdown.subscribe();
        tokio::select! {
            result = &mut server => { result??; }
            reason = shutdown_requested(&mut requested) => {
                tracing::info!(reason, "shutting down: no new connections, finishing in-flight requests");
                handle.stop(true).await;
                server.await??;
            }
        }
        if let Some((handle, task)) = metrics_server {
            handle.stop(true).await;
            let _ = task.await;
        }
        let _ = shutdown.send(true);
        let grace = std::time::Duration::from_secs(state.settings.server.shutdown_timeout_secs);
        for worker in workers {
            if tokio::time::timeout(grace, worker).await.is_err() {
                tracing::warn!("a worker did not finish within the shutdown timeout");
            }
        }
        state.store.close().await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// Starts the background workers this instance runs.
fn start_workers(
    state: &web::Data<AppState>,
    stop: watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut workers = Vec::new();
    let settings = &state.settings;
    if settings.dispatch.enabled {
        let dispatcher = Dispatcher::new(
            state.store.clone(),
            state.providers.clone(),
            state.clock.clone(),
            state.tokens.clone(),
            settings.dispatch.clone(),
            state.dispatch_wake.clone(),
            state.provider_health.clone(),
            &state.metrics.registry,
        );
        workers.push(tokio::spawn(dispatcher.run(stop.clone())));
        let webhooks = WebhookSender::new(
            state.store.clone(),
            state.clock.clone(),
            settings.dispatch.clone(),
        );
        workers.push(tokio::spawn(webhooks.run(stop.clone())));
    }
    let pruner = IdempotencyPruner::new(
        state.store.clone(),
        state.clock.clone(),
        chrono::Duration::hours(settings.intake.idempotency_retention_hours as i64),
        std::time::Duration::from_millis(settings.intake.idempotency_prune_interval_ms),
    );
    workers.push(tokio::spawn(pruner.run(stop.clone())));
    if settings.escalation.enabled {
        let escalator = Escalator::new(
            state.store.clone(),
            state.clock.clone(),
            settings.escalation.clone(),
            state.dispatch_wake.clone(),
        );
        workers.push(tokio::spawn(escalator.run(stop.clone())));
        let watch = SlaWatch::new(
            state.store.clone(),
            state.clock.clone(),
            std::time::Duration::from_millis(settings.escalation.sweep_interval_ms),
            state.dispatch_wake.clone(),
            state.metrics.clone(),
        );
        workers.push(tokio::spawn(watch.run(stop)));
    }
    workers
}

fn backend_name(settings: &Settings) -> &'static str {
    crate::store::Backend::from_url(&settings.database.url)
        .map(|b| b.name())
        .unwrap_or("configured")
}

fn run_server(listener: TcpListener, state: web::Data<AppState>) -> std::io::Result<Server> {
    let server_settings = state.settings.server.clone();
    let limit = server_settings.body_limit_bytes;
    let mut server = HttpServer::new(move || {
        App::new()
            .wrap(from_fn(telemetry::observe))
            .app_data(state.clone())
            .app_data(state.metrics.clone())
            .app_data(BodyLimit(limit))
            .app_data(web::PayloadConfig::new(limit))
            .configure(api::configure)
    })
    .disable_signals()
    .shutdown_timeout(server_settings.shutdown_timeout_secs)
    .client_request_timeout(Duration::from_secs(10));
    if server_settings.workers > 0 {
        server = server.workers(server_settings.workers);
    }
    Ok(server.listen(listener)?.run())
}

/// The scrape on a listener of its own: one worker, no other route, so the metrics port can be
/// left out of the Service that phones reach.
fn run_metrics_server(
    listener: TcpListener,
    state: web::Data<AppState>,
) -> std::io::Result<Server> {
    let shutdown_timeout = state.settings.server.shutdown_timeout_secs;
    Ok(HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .configure(api::health::configure_metrics_listener)
    })
    .disable_signals()
    .workers(1)
    .shutdown_timeout(shutdown_timeout)
    .listen(listener)?
    .run())
}

async fn shutdown_requested(trigger: &mut watch::Receiver<bool>) -> &'static str {
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => "SIGINT",
        _ = terminate => "SIGTERM",
        _ = trigger.wait_for(|stop| *stop) => "requested",
    }
}
