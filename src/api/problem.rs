//! RFC 9457 problem details: the one shape of every error a client sees.
//!
//! Handlers return `Result<_, Problem>`; domain and store errors convert into it. A problem
//! carries the HTTP status, a stable `type` URI per kind of problem, a human `detail`, and for
//! validation failures the list of offending fields. Internal causes are logged once, here,
//! and never sent to the client.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::error_chain::error_chain;
use crate::store::StoreError;

pub const CONTENT_TYPE: &str = "application/problem+json";

/// One offending field of a request, named by its JSON path (`p1.users_affected`) or header.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub detail: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            detail: detail.into(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    /// A stable slug per kind of problem, serialised as the `type` URI.
    #[serde(rename = "type", serialize_with = "type_uri")]
    pub kind: &'static str,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// Extra members specific to a kind of problem (RFC 9457 extension members).
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub extensions: Option<Box<serde_json::Map<String, serde_json::Value>>>,
    #[serde(skip)]
    pub retry_after_secs: Option<u64>,
}

impl Problem {
    pub fn new(
        status: StatusCode,
        slug: &'static str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            kind: slug,
            title,
            status: status.as_u16(),
            detail: detail.into(),
            errors: Vec::new(),
            extensions: None,
            retry_after_secs: None,
        }
    }

    /// 422: the request was well-formed but these fields are wrong.
    pub fn validation(errors: Vec<FieldError>) -> Self {
        let detail = match errors.as_slice() {
            [one] => format!("`{}`: {}", one.field, one.detail),
            many => format!("{} fields are invalid", many.len()),
        };
        let mut p = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation-error",
            "Request is invalid",
            detail,
        );
        p.errors = errors;
        p
    }

    /// 422 for a single field.
    pub fn field(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::validation(vec![FieldError::new(field, detail)])
    }

    /// 400: the request cannot be read at all (bad JSON, missing header).
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "bad-request",
            "Malformed request",
            detail,
        )
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", "Not found", detail)
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Authentication required",
            detail,
        )
    }

    pub fn forbidden(slug: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, slug, "Forbidden", detail)
    }

    pub fn conflict(slug: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, slug, "Conflict", detail)
    }

    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload-too-large",
            "Request body too large",
            format!("the request body exceeds the limit of {limit} bytes"),
        )
    }

    /// 503 with `Retry-After`: the client should retry the same request later.
    pub fn unavailable(detail: impl Into<String>, retry_after_secs: u64) -> Self {
        let mut p = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "Service temporarily unavailable",
            detail,
        );
        p.retry_after_secs = Some(retry_after_secs);
        p
    }

    /// 429 with `Retry-After`.
    pub fn too_many_requests(detail: impl Into<String>, retry_after_secs: u64) -> Self {
        let mut p = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate-limited",
            "Too many requests",
            detail,
        );
        p.retry_after_secs = Some(retry_after_secs);
        p
    }

    /// 500; the cause is logged, not sent.
    pub fn internal(cause: &(dyn std::error::Error + 'static)) -> Self {
        tracing::error!(error = %error_chain(cause), "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal server error",
            "the gateway failed to handle the request; it has been logged",
        )
    }

    pub fn with_extension(mut self, key: &str, value: serde_json::Value) -> Self {
        self.extensions
            .get_or_insert_with(Default::default)
            .insert(key.to_owned(), value);
        self
    }

    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

fn type_uri<S: serde::Serializer>(slug: &&'static str, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&format_args!("urn:panic-gateway:problem:{slug}"))
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status, self.title, self.detail)
    }
}

impl ResponseError for Problem {
    fn status_code(&self) -> StatusCode {
        Problem::status_code(self)
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status_code());
        res.insert_header((header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE)));
        if self.status == 401 {
            res.insert_header((
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"panic-gateway\""),
            ));
        }
        if let Some(secs) = self.retry_after_secs {
            res.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        res.body(serde_json::to_vec(self).unwrap_or_default())
    }
}

impl From<StoreError> for Problem {
    fn from(e: StoreError) -> Self {
        match &e {
            StoreError::Unavailable(_) => {
                tracing::warn!(error = %error_chain(&e), "database unavailable");
                Problem::unavailable("the database is unavailable; retry shortly", 2)
            }
            StoreError::UnstorableText(_) => Problem::bad_request(
                "the request contains a NUL byte or other text that cannot be stored",
            ),
            StoreError::Conflict(_) => Problem::conflict(
                "duplicate",
                "a record with the same unique name or key already exists",
            ),
            _ => Problem::internal(&e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::MessageBody;

    #[test]
    fn validation_problem_names_the_field() {
        let p = Problem::field("summary", "must not be empty");
        assert_eq!(p.status, 422);
        assert_eq!(p.detail, "`summary`: must not be empty");
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(json["errors"][0]["field"], "summary");
        assert_eq!(json["type"], "urn:panic-gateway:problem:validation-error");
    }

    #[test]
    fn response_has_problem_content_type_and_retry_after() {
        let res = Problem::unavailable("down", 3).error_response();
        assert_eq!(res.status(), 503);
        assert_eq!(res.headers().get("content-type").unwrap(), CONTENT_TYPE);
        assert_eq!(res.headers().get("retry-after").unwrap(), "3");
        let body = res.into_body().try_into_bytes().unwrap();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["status"], 503);
        assert!(json.get("retry_after_secs").is_none());
    }
}
