//! The one page layout every console page renders into, and the headers every page carries.
//!
//! A page handler builds its body with maud and returns
//! `layout::respond(layout::page("Title", Some(Nav::new(&session, Section::X)), body))`.
//! `page` adds the navigation (the sections the session's role may open), the signed-in person
//! with a sign-out form, the stylesheet and scripts (versioned URLs, [`super::assets`]), and
//! the session's CSRF token as `hx-headers` on `<body>`, so every htmx request sends it.
//! Forms that work without JavaScript carry it themselves: [`super::csrf::field`].
//!
//! A new section: add a [`Section`] variant and its line in [`SECTIONS`] with the least role
//! that may open it (the handler still says so with its extractor; the list only hides links).

use actix_web::http::header;
use actix_web::{HttpResponse, HttpResponseBuilder};
use maud::{html, Markup, DOCTYPE};

use super::assets;
use super::session::{StaffRole, StaffSession};

/// The console's sections, in navigation order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Board,
    OnCall,
    Policies,
    People,
    Sla,
    Webhooks,
    Staff,
    /// The signed-in person's own contact methods and rules.
    Contacts,
}

/// Label, address and the least role that sees the link.
const SECTIONS: &[(Section, &str, &str, StaffRole)] = &[
    (Section::Board, "Board", "/console", StaffRole::Responder),
    (
        Section::OnCall,
        "On call",
        "/console/oncall",
        StaffRole::Responder,
    ),
    (
        Section::Policies,
        "Policies",
        "/console/policies",
        StaffRole::SupportManager,
    ),
    (
        Section::People,
        "People",
        "/console/people",
        StaffRole::SupportManager,
    ),
    (
        Section::Sla,
        "SLA",
        "/console/sla",
        StaffRole::SupportManager,
    ),
    (
        Section::Webhooks,
        "Webhooks",
        "/console/webhooks",
        StaffRole::Admin,
    ),
    (Section::Staff, "Staff", "/console/staff", StaffRole::Admin),
    (
        Section::Contacts,
        "My contact methods",
        "/console/me/contact-methods",
        StaffRole::Responder,
    ),
];

/// Who is looking and where they are, for the navigation.
pub struct Nav<'a> {
    pub session: &'a StaffSession,
    pub current: Section,
}

impl<'a> Nav<'a> {
    pub fn new(session: &'a StaffSession, current: Section) -> Self {
        Self { session, current }
    }
}

/// A whole page: `title`, the navigation when signed in, and `body`.
pub fn page(title: &str, nav: Option<Nav<'_>>, body: Markup) -> Markup {
    // htmx would otherwise inject an inline <style>, which the CSP refuses.
    let htmx_config = r#"{"includeIndicatorStyles":false,"allowEval":false}"#;
    let csrf_headers = nav
        .as_ref()
        .map(|n| format!(r#"{{"X-CSRF-Token":"{}"}}"#, n.session.csrf));
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="htmx-config" content=(htmx_config);
                title { (title) " · panic-gateway" }
                link rel="stylesheet" href=(assets::url("console.css"));
                script src=(assets::url("htmx.min.js")) defer {}
                script src=(assets::url("console.js")) defer {}
            }
            body hx-headers=[csrf_headers] {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href="/console" { span.dot aria-hidden="true" {} "panic-gateway" }
                    @if let Some(nav) = &nav {
                        nav aria-label="Console" {
                            ul {
                                @for (section, label, href, least) in SECTIONS {
                                    @if nav.session.role >= *least {
                                        li {
                                            @if *section == nav.current {
                                                a href=(href) aria-current="page" { (label) }
                                            } @else {
                                                a href=(href) { (label) }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                        div.who {
                            span.name { (nav.session.name) }
                            " "
                            span.role { (nav.session.role.label()) }
                            form method="post" action="/console/sign-out" {
                                (super::csrf::field(nav.session))
                                button.link type="submit" { "Sign out" }
                            }
                        }
                    }
                }
                main #main { (body) }
            }
        }
    }
}

/// `200 OK` with `markup` and the console's headers.
pub fn respond(markup: Markup) -> HttpResponse {
    respond_with(HttpResponse::Ok(), markup)
}

/// `markup` under `builder`'s status, with the console's headers: no caching (pages show
/// live, per-person data), no framing, and a CSP that allows only our own scripts and styles.
pub fn respond_with(mut builder: HttpResponseBuilder, markup: Markup) -> HttpResponse {
    builder
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        ))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "same-origin"))
        .body(markup.into_string())
}

/// A fragment for htmx to swap in: the same headers, no layout.
pub fn fragment(markup: Markup) -> HttpResponse {
    respond(markup)
}
