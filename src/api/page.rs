//! Pagination of the admin lists: one request type and one response shape for all of them.
//!
//! A list takes `limit` (1 to [`MAX_LIMIT`], default [`DEFAULT_LIMIT`]) and `cursor` (opaque:
//! the last id of the previous page, base64url) and answers
//! `{"items": [...], "next_cursor": "..." | null}`. Lists are ordered by id, so a page that
//! starts after a given id sees every row once even while rows are added. The store is asked
//! for one row more than the limit: whether it comes back says if there is a next page,
//! without a count query.

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use futures_util::future::{ready, Ready};
use serde::{Deserialize, Serialize};

use super::validate::Validator;
use super::Problem;

pub const DEFAULT_LIMIT: i64 = 100;
pub const MAX_LIMIT: i64 = 500;

/// Longest id a cursor may carry; ids are 36-character UUIDs.
const MAX_CURSOR_ID: usize = 128;

/// Which page of a list the client wants, read from the query string (other parameters are
/// left to the handler's own filter).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: i64,
    /// The id the page starts after.
    pub after: Option<String>,
}

#[derive(Deserialize)]
struct RawPage {
    limit: Option<String>,
    cursor: Option<String>,
}

impl PageRequest {
    /// Reads `limit` and `cursor`, naming whichever is wrong.
    pub fn parse(limit: Option<&str>, cursor: Option<&str>) -> Result<Self, Problem> {
        let mut v = Validator::new();
        let limit = match limit.map(|l| l.trim().parse::<i64>()) {
            None => DEFAULT_LIMIT,
            Some(Ok(n)) if (1..=MAX_LIMIT).contains(&n) => n,
            Some(_) => {
                v.error(
                    "limit",
                    format!("must be a whole number from 1 to {MAX_LIMIT}"),
                );
                DEFAULT_LIMIT
            }
        };
        let after = match cursor {
            None => None,
            Some(c) => {
                let id = decode_cursor(c);
                if id.is_none() {
                    v.error("cursor", "is not a cursor this list returned");
                }
                id
            }
        };
        v.finish()?;
        Ok(Self { limit, after })
    }

    /// How many rows to ask the store for: one more than the page holds.
    pub fn fetch(&self) -> i64 {
        self.limit + 1
    }

    pub fn after(&self) -> Option<&str> {
        self.after.as_deref()
    }

    /// The page of `rows` (fetched with [`PageRequest::fetch`]), with the cursor of the next
    /// page when there is one.
    pub fn page<T>(&self, mut rows: Vec<T>, id: impl Fn(&T) -> &str) -> Page<T> {
        let more = rows.len() as i64 > self.limit;
        rows.truncate(self.limit as usize);
        let next_cursor = more
            .then(|| rows.last().map(|last| encode_cursor(id(last))))
            .flatten();
        Page {
            items: rows,
            next_cursor,
        }
    }
}

impl FromRequest for PageRequest {
    type Error = Problem;
    type Future = Ready<Result<Self, Problem>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            web::Query::<RawPage>::from_query(req.query_string())
                .map_err(|e| Problem::bad_request(format!("invalid query string: {e}")))
                .and_then(|raw| PageRequest::parse(raw.limit.as_deref(), raw.cursor.as_deref())),
        )
    }
}

/// One page of a list.
#[derive(Debug, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

fn encode_cursor(id: &str) -> String {
    URL_SAFE_NO_PAD.encode(id)
}

fn decode_cursor(cursor: &str) -> Option<String> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor.trim()).ok()?;
    let id = String::from_utf8(bytes).ok()?;
    (!id.is_empty() && id.len() <= MAX_CURSOR_ID && id.bytes().all(|b| b.is_ascii_graphic()))
        .then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(p: Problem) -> Vec<String> {
        p.errors.into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn limit_defaults_to_100_and_is_bounded() {
        assert_eq!(PageRequest::parse(None, None).unwrap().limit, 100);
        assert_eq!(PageRequest::parse(Some("500"), None).unwrap().limit, 500);
        assert_eq!(PageRequest::parse(Some("1"), None).unwrap().limit, 1);
        for bad in ["0", "501", "-1", "ten", "", "1.5"] {
            let p = PageRequest::parse(Some(bad), None).unwrap_err();
            assert_eq!(p.status, 422);
            assert_eq!(fields(p), ["limit"], "{bad}");
        }
    }

    #[test]
    fn cursors_round_trip_and_bad_ones_are_named() {
        let id = "0192f0c4-7c4e-7a51-8d1e-3f1f3c9a6b01";
        let req = PageRequest::parse(None, Some(&encode_cursor(id))).unwrap();
        assert_eq!(req.after(), Some(id));
        for bad in ["***", "4pyT", "", "AA"] {
            let p = PageRequest::parse(None, Some(bad)).unwrap_err();
            assert_eq!(fields(p), ["cursor"], "{bad}");
        }
        let p = PageRequest::parse(Some("0"), Some("***")).unwrap_err();
        assert_eq!(fields(p), ["limit", "cursor"]);
    }

    #[test]
    fn a_next_cursor_only_when_more_rows_came_back() {
        let req = PageRequest::parse(Some("2"), None).unwrap();
        assert_eq!(req.fetch(), 3);
        let page = req.page(vec!["a", "b", "c"], |s| s);
        assert_eq!(page.items, ["a", "b"]);
        let next = PageRequest::parse(Some("2"), page.next_cursor.as_deref()).unwrap();
        assert_eq!(next.after(), Some("b"));
        let last = req.page(vec!["c"], |s| s);
        assert_eq!(last.items, ["c"]);
        assert_eq!(last.next_cursor, None);
        let exact = req.page(vec!["a", "b"], |s| s);
        assert_eq!(exact.next_cursor, None);
    }
}
