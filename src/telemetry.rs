//! Logs and Prometheus metrics.
//!
//! Logs go through `tracing`: human-readable for a terminal, one JSON object per line when
//! configured (the HTTP side, request ids and per-request spans, is [`crate::api::observe`]).
//! Metrics live in a registry owned by the application rather than a process global, so
//! several gateways in one process (the test suite) keep separate counts.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
};
use tracing_subscriber::fmt::format::FmtSpan;
use tracing_subscriber::EnvFilter;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    pub format: LogFormat,
    /// A tracing `EnvFilter` directive; `RUST_LOG` overrides it.
    pub level: String,
    /// Logs each span as it closes with the time it was busy and idle (the request's span,
    /// the store's): where a request's time goes, for profiling. Off by default.
    pub span_times: bool,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            format: LogFormat::Pretty,
            level: "info".into(),
            span_times: false,
        }
    }
}

/// Installs the global tracing subscriber. `RUST_LOG`, when set, wins over `log.level`.
pub fn init(settings: &LogSettings) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&settings.level));
    let spans = match settings.span_times {
        true => FmtSpan::CLOSE,
        false => FmtSpan::NONE,
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_span_events(spans);
    // A second init (tests, embedded use) keeps the first subscriber.
    let _ = match settings.format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
}

/// Where the Prometheus scrape is served.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsSettings {
    /// `host:port` of a listener of its own for `GET /metrics` (e.g. `0.0.0.0:9090`), kept off
    /// the port phones and the load balancer reach; the main port then answers 404 there.
    /// Empty: `/metrics` is served on the main port.
    pub listen: String,
}

impl MetricsSettings {
    /// The separate listener's address, if one is configured; an address that does not parse
    /// is an error naming the setting.
    pub fn address(&self) -> Result<Option<std::net::SocketAddr>, String> {
        if self.listen.trim().is_empty() {
            return Ok(None);
        }
        self.listen
            .trim()
            .parse()
            .map(Some)
            .map_err(|e| format!("{:?} is not an IP address and port: {e}", self.listen))
    }
}

/// The gateway's metrics; later capabilities register theirs on `registry`.
pub struct Metrics {
    pub registry: Registry,
    http_requests: IntCounterVec,
    http_duration: HistogramVec,
    /// Panic presses recorded, by classified priority.
    pub alerts: IntCounterVec,
    /// Time from incident to acknowledgement (covered time), by tier.
    pub ack_latency: HistogramVec,
    /// Targets missed, by tier and target (internal, external).
    pub sla_breaches: IntCounterVec,
    /// Pre-breach warnings sent, by tier.
    pub sla_warnings: IntCounterVec,
    /// Group commit of presses (see `store::group_commit`), copied from the store's counters
    /// at each scrape: transactions, presses recorded in them, the largest batch.
    intake_batches: IntCounter,
    intake_presses: IntCounter,
    intake_largest_batch: IntGauge,
    intake_queued: IntGauge,
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new_custom(Some("panic_gateway".into()), None)
            .expect("static registry prefix is valid");
        let http_requests = IntCounterVec::new(
            Opts::new("http_requests_total", "HTTP requests answered"),
            &["method", "route", "status"],
        )
        .expect("static metric definition is valid");
        let http_duration = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "Time from request received to response ready",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            ]),
            &["method", "route"],
        )
        .expect("static metric definition is valid");
        let alerts = IntCounterVec::new(
            Opts::new(
                "alerts_total",
                "Panic presses recorded, by classified priority",
            ),
            &["priority"],
        )
        .expect("static metric definition is valid");
        let ack_latency = HistogramVec::new(
            HistogramOpts::new(
                "ack_latency_seconds",
                "Time from incident opened to acknowledged, in covered time",
            )
            .buckets(vec![
                10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0,
            ]),
            &["tier"],
        )
        .expect("static metric definition is valid");
        let sla_breaches = IntCounterVec::new(
            Opts::new("sla_breaches_total", "SLA targets missed"),
            &["tier", "target"],
        )
        .expect("static metric definition is valid");
        let sla_warnings = IntCounterVec::new(
            Opts::new("sla_warnings_total", "Pre-breach warnings sent"),
            &["tier"],
        )
        .expect("static metric definition is valid");
        let gauge = |name: &str, help: &str| {
            IntGauge::new(name, help).expect("static metric definition is valid")
        };
        let counter = |name: &str, help: &str| {
            IntCounter::new(name, help).expect("static metric definition is valid")
        };
        let intake_batches = counter(
            "intake_batches_total",
            "Group-commit transactions that recorded presses",
        );
        let intake_presses = counter(
            "intake_batched_presses_total",
            "Presses recorded by group-commit transactions",
        );
        let intake_largest_batch = gauge(
            "intake_largest_batch",
            "Most presses recorded by one group-commit transaction",
        );
        let intake_queued = gauge(
            "intake_queued",
            "Presses waiting for their group-commit transaction",
        );
        for c in [
            Box::new(intake_queued.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(alerts.clone()),
            Box::new(ack_latency.clone()),
            Box::new(sla_breaches.clone()),
            Box::new(sla_warnings.clone()),
            Box::new(intake_batches.clone()),
            Box::new(intake_presses.clone()),
            Box::new(intake_largest_batch.clone()),
        ] {
            registry.register(c).expect("registered once");
        }
        registry
            .register(Box::new(http_requests.clone()))
            .expect("registered once");
        registry
            .register(Box::new(http_duration.clone()))
            .expect("registered once");
        Self {
            registry,
            http_requests,
            http_duration,
            alerts,
            ack_latency,
            sla_breaches,
            sla_warnings,
            intake_batches,
            intake_presses,
            intake_largest_batch,
            intake_queued,
        }
    }

    /// Copies the store's group-commit counters (queued now, batches, presses, largest batch).
    pub fn observe_intake(&self, queued: u64, batches: u64, presses: u64, largest: u64) {
        self.intake_queued
            .set(i64::try_from(queued).unwrap_or(i64::MAX));
        for (counter, now) in [
            (&self.intake_batches, batches),
            (&self.intake_presses, presses),
        ] {
            counter.inc_by(now.saturating_sub(counter.get()));
        }
        self.intake_largest_batch
            .set(i64::try_from(largest).unwrap_or(i64::MAX));
    }

    /// Counts one answered HTTP request and its latency.
    pub fn observe_http(&self, method: &str, route: &str, status: &str, seconds: f64) {
        self.http_requests
            .with_label_values(&[method, route, status])
            .inc();
        self.http_duration
            .with_label_values(&[method, route])
            .observe(seconds);
    }

    /// The Prometheus text exposition of every registered metric.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        prometheus::TextEncoder::new()
            .encode(&self.registry.gather(), &mut buf)
            .expect("text encoding into a Vec cannot fail");
        String::from_utf8(buf).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_render_in_text_format() {
        let m = Metrics::new();
        m.http_requests
            .with_label_values(&["GET", "/healthz", "200"])
            .inc();
        let text = m.render();
        assert!(
            text.contains("panic_gateway_http_requests_total{"),
            "{text}"
        );
    }
}
