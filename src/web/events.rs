//! `/console/events`: Server-Sent Events that tell an open board to refresh.
//!
//! How the gateway learns of a change: every press, escalation, acknowledgement, resolution
//! and SLA event appends to the incident timeline in the transaction that makes it, so the
//! largest timeline id ([`crate::store::Store::board_marker`], one indexed read) moves with
//! each of them. Each open stream polls it once a second and sends `event: board` when it
//! moved; the page then fetches `/console/board`, which applies the viewer's role. A poll
//! rather than an in-process broadcast because with several gateways on one PostgreSQL the
//! change is often made by another instance (its escalator, its API), which no channel in
//! this process would hear; a second is well inside the board's two-second promise. The event
//! carries no incident data, so a stream outliving its session leaks nothing; the session is
//! checked again every [`SESSION_RECHECK`] polls and the stream ends when it is gone.
//!
//! A stream lasts at most [`STREAM_LIFETIME`] and then ends; the browser's `EventSource`
//! reconnects by itself (after the `retry` we send), so a shutting-down gateway is never held
//! open by an idle board for longer than that.

use std::time::Duration;

use actix_web::http::header;
use actix_web::{get, web, HttpResponse};
use futures_util::stream;

use super::failure::PageError;
use super::session::StaffSession;
use crate::state::AppState;

/// How often each stream polls the change marker.
const POLL: Duration = Duration::from_secs(1);
/// Polls between checks that the session is still live.
const SESSION_RECHECK: u32 = 15;
/// A stream's longest life; the browser reconnects after it.
const STREAM_LIFETIME: Duration = Duration::from_secs(300);

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(events);
}

struct Stream {
    state: web::Data<AppState>,
    who: StaffSession,
    last: Option<Option<String>>,
    polls: u32,
    ends: tokio::time::Instant,
}

#[get("/console/events")]
async fn events(state: web::Data<AppState>, who: StaffSession) -> Result<HttpResponse, PageError> {
    let first = Stream {
        last: Some(state.store.board_marker().await?),
        state,
        who,
        polls: 0,
        ends: tokio::time::Instant::now() + STREAM_LIFETIME,
    };
    let hello = web::Bytes::from_static(b"retry: 1000\n: connected\n\n");
    let updates = stream::unfold(first, |mut s| async move {
        loop {
            tokio::time::sleep(POLL).await;
            if tokio::time::Instant::now() >= s.ends {
                return None;
            }
            s.polls += 1;
            if s.polls % SESSION_RECHECK == 0 && !session_live(&s).await {
                return None;
            }
            // A failed read sends nothing: the next poll tries again.
            let Ok(marker) = s.state.store.board_marker().await else {
                continue;
            };
            if s.last.as_ref() != Some(&marker) {
                s.last = Some(marker);
                let event = web::Bytes::from_static(b"event: board\ndata: changed\n\n");
                return Some((Ok::<_, actix_web::Error>(event), s));
            }
            if s.polls % 15 == 0 {
                // A comment now and then keeps proxies from closing an idle stream.
                return Some((Ok(web::Bytes::from_static(b": idle\n\n")), s));
            }
        }
    });
    let body = futures_util::StreamExt::chain(stream::once(async { Ok(hello) }), updates);
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(body))
}

async fn session_live(s: &Stream) -> bool {
    let now = s.state.clock.now();
    !matches!(
        s.state
            .store
            .staff_session(&s.who.token_hash, s.state.settings.console.idle(), now)
            .await,
        Ok(None)
    )
}
