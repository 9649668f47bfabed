//! The console's static files, embedded in the binary (`include_bytes!`): one hand-written
//! stylesheet, one hand-written script, and htmx vendored from its npm package (see
//! `assets/htmx.VERSION`). Nothing is fetched from a CDN.
//!
//! URLs carry a version, the first 12 hex digits of the SHA-256 of all the files together
//! (`/console/assets/3f2a…/console.css`), so they are cached for a year as immutable and a new
//! binary's files are new URLs. A request for another version (a page from the previous
//! release during a rolling deploy) still gets today's file, but not cached for long.

use std::sync::OnceLock;

use actix_web::http::header;
use actix_web::{get, web, HttpResponse};
use sha2::{Digest, Sha256};

const FILES: &[(&str, &str, &[u8])] = &[
    (
        "console.css",
        "text/css; charset=utf-8",
        include_bytes!("assets/console.css"),
    ),
    (
        "console.js",
        "text/javascript; charset=utf-8",
        include_bytes!("assets/console.js"),
    ),
    (
        "htmx.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("assets/htmx.min.js"),
    ),
];

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(asset);
}

/// The version in every asset URL.
pub fn version() -> &'static str {
    static VERSION: OnceLock<String> = OnceLock::new();
    VERSION.get_or_init(|| {
        let mut hasher = Sha256::new();
        for (name, _, bytes) in FILES {
            hasher.update(name.as_bytes());
            hasher.update(bytes);
        }
        hasher.finalize()[..6]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    })
}

/// The URL of the asset `name`.
pub fn url(name: &str) -> String {
    format!("/console/assets/{}/{name}", version())
}

#[get("/console/assets/{version}/{name}")]
async fn asset(path: web::Path<(String, String)>) -> HttpResponse {
    let (wanted, name) = path.into_inner();
    let Some((_, content_type, bytes)) = FILES.iter().find(|(n, _, _)| *n == name) else {
        return HttpResponse::NotFound().finish();
    };
    let cache = if wanted == version() {
        "public, max-age=31536000, immutable"
    } else {
        "public, max-age=60"
    };
    HttpResponse::Ok()
        .content_type(*content_type)
        .insert_header((header::CACHE_CONTROL, cache))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(*bytes)
}
