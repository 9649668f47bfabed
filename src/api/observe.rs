//! Middleware around every request: header-size limit, request id, request span, access log
//! line and HTTP metrics.
//!
//! Every request runs inside a span carrying its request id (taken from a sane incoming
//! `X-Request-Id`, else generated) and the id is echoed on the response.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage};
use tracing::Instrument;

use crate::telemetry::Metrics;

pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Request headers past this size are refused with a 431 problem: phones send a few hundred
/// bytes, and nothing legitimate needs more. (actix itself only drops a connection at 128 KiB,
/// without an answer.)
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// The id of the current request, available to handlers as an extension.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

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
        let problem = super::Problem::new(
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
        m.observe_http(&method, &route, status.as_str(), elapsed.as_secs_f64());
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
}
