//! The JSON body extractor every handler uses instead of `web::Json`.
//!
//! It exists because actix's own extractor reports errors as plain text without the path of
//! the offending field. This one answers problem+json: 415 for a wrong content type, 413 past
//! the body limit, 400 for bytes that are not JSON (including bad UTF-8), and 422 naming the
//! field (as a dotted path) when the JSON does not fit the request type.

use actix_web::dev::Payload;
use actix_web::http::{header, StatusCode};
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;

use super::problem::{FieldError, Problem};

/// The configured body limit, kept in app data so errors can state it.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

/// A JSON request body of type `T`.
#[derive(Debug)]
pub struct Json<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = Problem;
    type Future = LocalBoxFuture<'static, Result<Self, Problem>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|ct| {
                let essence = ct.split(';').next().unwrap_or("").trim();
                essence.eq_ignore_ascii_case("application/json")
                    || essence.to_ascii_lowercase().ends_with("+json")
            })
            .unwrap_or(false);
        let limit = req
            .app_data::<BodyLimit>()
            .map(|l| l.0)
            .unwrap_or(64 * 1024);
        let bytes = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            if !is_json {
                return Err(Problem::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported-media-type",
                    "Unsupported media type",
                    "the request body must be application/json",
                ));
            }
            let bytes = bytes.await.map_err(|e| {
                if e.as_response_error().status_code() == StatusCode::PAYLOAD_TOO_LARGE {
                    Problem::payload_too_large(limit)
                } else {
                    Problem::bad_request(format!("could not read the request body: {e}"))
                }
            })?;
            parse(&bytes).map(Json)
        })
    }
}

/// Deserialises `bytes`, naming the field that does not fit.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(to_problem)?;
    de.end()
        .map_err(|e| Problem::bad_request(format!("the body is not valid JSON: {e}")))?;
    Ok(value)
}

/// Converts an already parsed JSON value, naming the field that does not fit.
pub fn from_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, Problem> {
    serde_path_to_error::deserialize(value).map_err(to_problem)
}

fn to_problem(e: serde_path_to_error::Error<serde_json::Error>) -> Problem {
    let path = e.path().to_string();
    let inner = e.into_inner();
    match inner.classify() {
        serde_json::error::Category::Data => {
            let message = strip_position(&inner.to_string());
            Problem::validation(vec![FieldError::new(field_name(&path, &message), message)])
        }
        _ => Problem::bad_request(format!("the body is not valid JSON: {inner}")),
    }
}

/// serde reports a missing field on its parent's path; name the field itself.
fn field_name(path: &str, message: &str) -> String {
    let missing = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next());
    match (path, missing) {
        (".", Some(f)) => f.to_owned(),
        (p, Some(f)) => format!("{p}.{f}"),
        (".", None) => "body".to_owned(),
        (p, None) => p.to_owned(),
    }
}

fn strip_position(message: &str) -> String {
    match message.find(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        count: u32,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        inner: Inner,
    }

    #[test]
    fn wrong_type_names_the_nested_field() {
        let p = parse::<Body>(br#"{"name":"x","inner":{"count":"many"}}"#).unwrap_err();
        assert_eq!(p.status, 422);
        assert_eq!(p.errors[0].field, "inner.count");
    }

    #[test]
    fn missing_field_is_named() {
        let p = parse::<Body>(br#"{"inner":{"count":1}}"#).unwrap_err();
        assert_eq!(p.errors[0].field, "name");
        let p = parse::<Body>(br#"{"name":"x","inner":{}}"#).unwrap_err();
        assert_eq!(p.errors[0].field, "inner.count");
    }

    #[test]
    fn syntax_errors_and_bad_utf8_are_400() {
        assert_eq!(parse::<Body>(b"{").unwrap_err().status, 400);
        assert_eq!(parse::<Body>(b"\xff\xfe").unwrap_err().status, 400);
        assert_eq!(
            parse::<Body>(br#"{"name":"x","inner":{"count":1}} trailing"#)
                .unwrap_err()
                .status,
            400
        );
    }
}
