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
use crate::auth::unauthenticated::UnauthenticatedGuard;
use crate::auth::{self, tokens::TokenIssuer};
use crate::clock::{Clock, SystemClock};
use crate::config::Settings;
use crate::engine::dispatcher::{Dispatcher, ProviderHealth};
use crate::engine::escalator::Escalator;
use crate::engine::idempotency_pruner::IdempotencyPruner;
use crate::engine::readiness::ReadinessWorker;
use crate::engine::sla_watch::SlaWatch;
use crate::engine::webhooks::WebhookSender;
use crate::engine::Engine;
use crate::secret_box::SecretBox;
use crate::state::AppState;
use crate::store::Store;
use crate::telemetry::Metrics;

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
    /// This instance's workers: spawned as loops by `run_until_stopped`, driven directly by
    /// [`Engine::run_due_work`] in tests.
    engine: Engine,
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
        let webhook_policy = Arc::new(
            settings
                .webhooks
                .policy()
                .map_err(|r| anyhow::anyhow!("invalid setting `webhooks.allow_networks`: {r}"))?,
        );
        let webhook_key = settings
            .webhooks
            .secret_key()
            .map_err(|r| anyhow::anyhow!("invalid setting `webhooks.secret_key`: {r}"))?;
        let webhook_secrets = Arc::new(SecretBox::from_settings(webhook_key, &secrets));
        seal_webhook_secrets(&store, &webhook_secrets).await?;
        let providers = crate::push::providers(&settings.push)?;
        for platform in [
            crate::domain::platform::Platform::Ios,
            crate::domain::platform::Platform::Android,
        ] {
            if !providers.contains_key(&platform) {
                tracing::warn!(
                    platform = platform.as_str(),
                    "no push provider is configured for {}: its phones will not be paged \
                     (enable push.apns or push.fcm)",
                    platform.as_str()
                );
            }
        }
        let enrollment_codes = secrets.enrollment_code_keys();
        let unauthenticated = UnauthenticatedGuard::new(
            &settings.auth,
            settings.max_concurrent_unauthenticated(),
            &settings.server.trusted_proxies,
        )
        .map_err(|reason| anyhow::anyhow!("invalid setting `server.trusted_proxies`: {reason}"))?;

        let address = format!("{}:{}", settings.server.host, settings.server.port);
        let listener =
            TcpListener::bind(&address).with_context(|| format!("cannot listen on {address}"))?;
        let port = listener.local_addr()?.port();
        // One reading of `server.public_url` for everything built on it, without a trailing
        // slash so paths can be appended.
        let public_url = match settings.server.public_url.trim_end_matches('/') {
            "" => format!("http://{}:{port}", settings.server.host),
            base => base.to_owned(),
        };
        let channels = crate::channels::providers(&settings.channels, &public_url)?;
        let twilio_auth_token = if settings.channels.twilio.enabled {
            Some(settings.channels.twilio.auth_token()?)
        } else {
            None
        };
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
            enrollment_codes,
            unauthenticated,
            dispatch_wake: Arc::new(tokio::sync::Notify::new()),
            provider_health: Arc::new(ProviderHealth::default()),
            providers,
            channels,
            public_url,
            twilio_auth_token,
            webhook_policy,
            webhook_secrets,
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
        let engine = build_engine(&state);
        Ok(Self {
            port,
            server,
            metrics_server,
            state,
            engine,
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

    /// The workers `run_until_stopped` runs in loops, to drive a round now.
    pub fn engine(&self) -> Engine {
        self.engine.clone()
    }

    /// Serves until SIGTERM, SIGINT or [`ShutdownHandle::trigger`], then drains: the HTTP
    /// server stops accepting and finishes in-flight requests, the workers finish the round
    /// they are in, and the pool closes.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let Application {
            server,
            metrics_server,
            state,
            engine,
            shutdown,
            ..
        } = self;
        let workers = engine.spawn(shutdown.subscribe());
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

/// The background workers this instance runs, as its settings enable them.
fn build_engine(state: &web::Data<AppState>) -> Engine {
    let settings = &state.settings;
    let (dispatcher, webhooks) = if settings.dispatch.enabled {
        let dispatcher = Dispatcher::new(
            state.store.clone(),
            state.providers.clone(),
            state.channels.clone(),
            state.clock.clone(),
            state.tokens.clone(),
            settings.dispatch.clone(),
            state.dispatch_wake.clone(),
            state.provider_health.clone(),
            &state.metrics.registry,
        );
        let webhooks = WebhookSender::new(
            state.store.clone(),
            state.clock.clone(),
            settings.dispatch.clone(),
            settings.webhooks.clone(),
            state.webhook_policy.clone(),
            state.webhook_secrets.clone(),
        );
        (Some(Arc::new(dispatcher)), Some(Arc::new(webhooks)))
    } else {
        (None, None)
    };
    let idempotency_pruner = Arc::new(IdempotencyPruner::new(
        state.store.clone(),
        state.clock.clone(),
        chrono::Duration::hours(settings.intake.idempotency_retention_hours as i64),
        std::time::Duration::from_millis(settings.intake.idempotency_prune_interval_ms),
    ));
    let (escalator, sla_watch) = if settings.escalation.enabled {
        let escalator = Escalator::new(
            state.store.clone(),
            state.clock.clone(),
            settings.escalation.clone(),
            state.dispatch_wake.clone(),
        );
        let watch = SlaWatch::new(
            state.store.clone(),
            state.clock.clone(),
            std::time::Duration::from_millis(settings.escalation.sweep_interval_ms),
            state.dispatch_wake.clone(),
            state.metrics.clone(),
        );
        (Some(Arc::new(escalator)), Some(Arc::new(watch)))
    } else {
        (None, None)
    };
    let readiness = settings.readiness.enabled.then(|| {
        Arc::new(ReadinessWorker::new(
            state.store.clone(),
            state.providers.clone(),
            state.clock.clone(),
            settings.readiness.clone(),
        ))
    });
    Engine {
        dispatcher,
        webhooks,
        escalator,
        sla_watch,
        idempotency_pruner,
        readiness,
    }
}

/// Seals endpoint secrets that are not sealed under the current key: plain text written by
/// versions before sealing, and values sealed under a key an earlier configuration used. Done
/// at every start, before anything is sent, so the database holds no plain secret after the
/// first start of this version. A value no configured key opens is left alone and logged: its
/// webhooks fail with the reason until the key is configured again.
async fn seal_webhook_secrets(store: &Store, secrets: &SecretBox) -> anyhow::Result<()> {
    let mut sealed = 0;
    for (id, stored) in store
        .webhook_secrets()
        .await
        .context("cannot read webhook endpoint secrets")?
    {
        match secrets.reseal(&stored) {
            Ok(None) => {}
            Ok(Some(new)) => {
                if store
                    .replace_webhook_secret(&id, &stored, &new)
                    .await
                    .context("cannot seal a webhook endpoint secret")?
                {
                    sealed += 1;
                }
            }
            Err(e) => tracing::error!(endpoint = %id, "webhook endpoint secret left as it is: {e}"),
        }
    }
    if sealed > 0 {
        tracing::info!(
            sealed,
            "webhook endpoint secrets sealed under the current key"
        );
    }
    Ok(())
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
            .wrap(from_fn(api::observe::observe))
            .app_data(state.clone())
            .app_data(state.metrics.clone())
            .app_data(BodyLimit(limit))
            .app_data(web::PayloadConfig::new(limit))
            .configure(crate::web::configure)
            .configure(api::configure)
    })
    .disable_signals()
    .shutdown_timeout(server_settings.shutdown_timeout_secs)
    .client_request_timeout(Duration::from_secs(10));
    let workers = match server_settings.workers {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    // actix counts connections per worker.
    let per_worker = server_settings.max_connections.div_ceil(workers).max(1);
    server = server.workers(workers).max_connections(per_worker);
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
