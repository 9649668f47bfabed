//! Logs, request ids and Prometheus metrics.
//!
//! Logs go through `tracing`: human-readable for a terminal, one JSON object per line when
//! configured. Every request runs inside a span carrying its request id (taken from a sane
//! incoming `X-Request-Id`, else generated) and the id is echoed on the response. Metrics live
//! in a registry owned by the application rather than a process global, so several gateways
//! in one process (the test suite) keep separate counts.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage};
use prometheus::{Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};
use tracing::Instrument;
use tracing_subscriber::EnvFilter;

use crate::config::{LogFormat, LogSettings};

pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Request headers past this size are refused with a 431 problem: phones send a few hundred
/// bytes, and nothing legitimate needs more. (actix itself only drops a connection at 128 KiB,
/// without an answer.)
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// Installs the global tracing subscriber. `RUST_LOG`, when set, wins over `log.level`.
pub fn init(settings: &LogSettings) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&settings.level));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
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

/// The id of the current request, available to handlers as an extension.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

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
        for c in [
            Box::new(alerts.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(ack_latency.clone()),
            Box::new(sla_breaches.clone()),
            Box::new(sla_warnings.clone()),
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
        }
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

/// An incoming request id is kept only if it is short and plain, so it can be logged safely.
fn acceptable_request_id(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 64
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

/// Middleware: header-size limit, request id, request span, access log line and HTTP metrics.
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let header_bytes: usize = req
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if header_bytes > MAX_HEADER_BYTES {
        let problem = crate::api::Problem::new(
            actix_web::http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers-too-large",
            "Request headers too large",
            format!("the request headers exceed {MAX_HEADER_BYTES} bytes"),
        );
        let response = actix_web::ResponseError::error_response(&problem);
        return Ok(req.into_response(response).map_into_right_body());
    }
    let request_id = req
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| acceptable_request_id(v))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    req.extensions_mut().insert(RequestId(request_id.clone()));
    let metrics = req.app_data::<web::Data<Metrics>>().cloned();
    let method = req.method().as_str().to_owned();
    let span =
        tracing::info_span!("request", request_id = %request_id, %method, path = %req.path());
    let started = Instant::now();

    let result = next.call(req).instrument(span.clone()).await;
    let elapsed = started.elapsed();
    let mut res = result?.map_into_left_body();

    let route = res
        .request()
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let status = res.status();
    if let Some(m) = metrics {
        m.http_requests
            .with_label_values(&[method.as_str(), route.as_str(), status.as_str()])
            .inc();
        m.http_duration
            .with_label_values(&[method.as_str(), route.as_str()])
            .observe(elapsed.as_secs_f64());
    }
    span.in_scope(|| {
        tracing::info!(
            status = status.as_u16(),
            latency_ms = elapsed.as_secs_f64() * 1000.0,
            route = %route,
            "request completed"
        )
    });
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        res.headers_mut()
            .insert(HeaderName::from_static(REQUEST_ID_HEADER), value);
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_filtered() {
        assert!(acceptable_request_id("abc-123_x.y"));
        assert!(!acceptable_request_id(""));
        assert!(!acceptable_request_id("a b"));
        assert!(!acceptable_request_id("x\r\ny"));
        assert!(!acceptable_request_id(&"a".repeat(65)));
    }

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
