//! One notification -> the bytes each provider receives. Pure, so every rule is unit-tested:
//! critical vs time-sensitive, collapse and thread ids per incident, expiry matched to the
//! acknowledgement window, and the 4096-byte limit (text is truncated, never ids or tokens).

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::{Notification, NotificationKind};

/// APNs and FCM both refuse payloads over 4 KB.
pub const MAX_PAYLOAD: usize = 4096;

/// The APNs category whose Acknowledge action the app registers.
pub const PAGE_CATEGORY: &str = "PANIC_PAGE";
pub const UPDATE_CATEGORY: &str = "PANIC_UPDATE";
/// Android notification channels the app creates (pages bypass Do Not Disturb).
pub const PAGE_CHANNEL: &str = "panic_pages";
pub const UPDATE_CHANNEL: &str = "panic_updates";

/// An APNs request: headers besides `authorization`, and the JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct ApnsRequest {
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

fn kind_str(kind: NotificationKind) -> &'static str {
    match kind {
        NotificationKind::Page => "page",
        NotificationKind::Update => "update",
        NotificationKind::Silent => "shift_reminder",
    }
}

/// Cuts `text` to at most `max_bytes`, on a character boundary, marking the cut with "…".
fn truncate(text: &str, max_bytes: usize) -> String {
    if text.len() <= max_bytes {
        return text.to_owned();
    }
    let keep = max_bytes.saturating_sub('…'.len_utf8());
    let mut end = keep.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// Builds with the full text, then shortens the body, then the title, until it fits.
fn fit(title: &str, body: &str, build: impl Fn(&str, &str) -> String) -> String {
    let full = build(title, body);
    if full.len() <= MAX_PAYLOAD {
        return full;
    }
    // JSON escaping can make text grow, so shrink by the measured overflow until it fits.
    let (mut title, mut body) = (title.to_owned(), body.to_owned());
    loop {
        let out = build(&title, &body);
        let over = out.len().saturating_sub(MAX_PAYLOAD);
        if over == 0 {
            return out;
        }
        if !body.is_empty() {
            let target = body.len().saturating_sub(over + 8);
            body = if target == 0 {
                String::new()
            } else {
                truncate(&body, target)
            };
        } else {
            let target = title.len().saturating_sub(over + 8);
            if target == 0 && title.is_empty() {
                return out; // only ids left: nothing more to cut
            }
            title = if target == 0 {
                String::new()
            } else {
                truncate(&title, target)
            };
        }
    }
}

fn custom_fields(n: &Notification) -> Value {
    json!({
        "kind": kind_str(n.kind),
        "incident_id": n.incident_id,
        "delivery_id": n.delivery_id,
        "ticket_ref": n.ticket_ref,
        "ack_token": n.ack_token,
    })
}

/// The APNs request for `n`.
pub fn apns(n: &Notification, topic: &str, now: DateTime<Utc>) -> ApnsRequest {
    if n.kind == NotificationKind::Silent {
        return apns_silent(n, topic, now);
    }
    let critical = n.kind == NotificationKind::Page && n.critical_allowed;
    let (sound, level, category) = match (n.kind, critical) {
        (NotificationKind::Page, true) => (
            json!({ "critical": 1, "name": "default", "volume": 1.0 }),
            "critical",
            PAGE_CATEGORY,
        ),
        (NotificationKind::Page, false) => (json!("default"), "time-sensitive", PAGE_CATEGORY),
        (NotificationKind::Update | NotificationKind::Silent, _) => {
            (json!("default"), "active", UPDATE_CATEGORY)
        }
    };
    let body = fit(&n.title, &n.body, |title, text| {
        let mut payload = custom_fields(n);
        payload["aps"] = json!({
            "alert": { "title": title, "body": text },
            "sound": sound,
            "interruption-level": level,
            "category": category,
            "thread-id": n.incident_id,
        });
        payload.to_string()
    });
    let apns_id = uuid::Uuid::parse_str(&n.delivery_id).unwrap_or_else(|_| {
        uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, n.delivery_id.as_bytes())
    });
    let expiration = n.expires_at.timestamp().max(now.timestamp() + 1);
    ApnsRequest {
        headers: vec![
            ("apns-push-type", "alert".into()),
            ("apns-priority", "10".into()),
            ("apns-topic", topic.to_owned()),
            ("apns-expiration", expiration.to_string()),
            ("apns-collapse-id", collapse_id(&n.incident_id, n.kind)),
            ("apns-id", apns_id.to_string()),
        ],
        body,
    }
}

/// A background push: `content-available` and no alert, `apns-push-type: background` with
/// priority 5 (Apple refuses priority 10 for background pushes). The text rides in the custom
/// fields for the app to show as a local notification.
fn apns_silent(n: &Notification, topic: &str, now: DateTime<Utc>) -> ApnsRequest {
    let body = fit(&n.title, &n.body, |title, text| {
        let mut payload = custom_fields(n);
        payload["title"] = json!(title);
        payload["body"] = json!(text);
        payload["aps"] = json!({ "content-available": 1 });
        payload.to_string()
    });
    let apns_id = uuid::Uuid::parse_str(&n.delivery_id).unwrap_or_else(|_| {
        uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, n.delivery_id.as_bytes())
    });
    let expiration = n.expires_at.timestamp().max(now.timestamp() + 1);
    ApnsRequest {
        headers: vec![
            ("apns-push-type", "background".into()),
            ("apns-priority", "5".into()),
            ("apns-topic", topic.to_owned()),
            ("apns-expiration", expiration.to_string()),
            ("apns-id", apns_id.to_string()),
        ],
        body,
    }
}

/// One per incident and kind, at most 64 bytes: a page retried or re-sent after a lost
/// answer replaces itself on the phone instead of stacking.
fn collapse_id(incident_id: &str, kind: NotificationKind) -> String {
    let id = format!("{}-{incident_id}", kind_str(kind));
    truncate(&id, 64).replace('…', "")
}

/// The FCM v1 `messages:send` body for `n` to `token`.
pub fn fcm(n: &Notification, token: &str, now: DateTime<Utc>) -> String {
    let ttl = (n.expires_at - now).num_seconds().max(0);
    let channel = match n.kind {
        NotificationKind::Page => PAGE_CHANNEL,
        NotificationKind::Update | NotificationKind::Silent => UPDATE_CHANNEL,
    };
    if n.kind == NotificationKind::Silent {
        return fcm_data_only(n, token, ttl);
    }
    fit(&n.title, &n.body, |title, text| {
        let mut data = serde_json::Map::new();
        for (k, v) in custom_fields(n).as_object().into_iter().flatten() {
            if let Some(s) = v.as_str() {
                data.insert(k.clone(), Value::String(s.to_owned()));
            }
        }
        data.insert("title".into(), Value::String(title.to_owned()));
        data.insert("body".into(), Value::String(text.to_owned()));
        json!({
            "message": {
                "token": token,
                "android": {
                    "priority": "HIGH",
                    "ttl": format!("{ttl}s"),
                    "collapse_key": collapse_id(&n.incident_id, n.kind),
                    "notification": {
                        "channel_id": channel,
                        "title": title,
                        "body": text,
                        "tag": n.incident_id,
                    },
                },
                "data": data,
            }
        })
        .to_string()
    })
}

/// A data-only FCM message at normal priority: the app is woken without a visible
/// notification, and FCM still answers UNREGISTERED for a dead token.
fn fcm_data_only(n: &Notification, token: &str, ttl: i64) -> String {
    fit(&n.title, &n.body, |title, text| {
        let mut data = serde_json::Map::new();
        for (k, v) in custom_fields(n).as_object().into_iter().flatten() {
            if let Some(s) = v.as_str() {
                data.insert(k.clone(), Value::String(s.to_owned()));
            }
        }
        data.insert("title".into(), Value::String(title.to_owned()));
        data.insert("body".into(), Value::String(text.to_owned()));
        json!({
            "message": {
                "token": token,
                "android": { "priority": "NORMAL", "ttl": format!("{ttl}s") },
                "data": data,
            }
        })
        .to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    fn page(critical: bool) -> Notification {
        Notification {
            kind: NotificationKind::Page,
            incident_id: "0190b5c2-7c1e-7f00-8000-000000000001".into(),
            delivery_id: "0190b5c2-7c1e-7f00-8000-0000000000aa".into(),
            title: "P1 · Acme: checkout down".into(),
            body: "checkout is affected. Ticket PG-12345678.".into(),
            ticket_ref: Some("PG-12345678".into()),
            ack_token: Some("ack.token.value".into()),
            expires_at: now() + Duration::minutes(5),
            critical_allowed: critical,
        }
    }

    fn header<'a>(r: &'a ApnsRequest, name: &str) -> &'a str {
        &r.headers.iter().find(|(k, _)| *k == name).unwrap().1
    }

    #[test]
    fn apns_page_is_critical_when_allowed_with_ack_category_and_window_expiry() {
        let r = apns(&page(true), "com.example.panic", now());
        let body: Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(body["aps"]["interruption-level"], "critical");
        assert_eq!(body["aps"]["sound"]["critical"], 1);
        assert_eq!(body["aps"]["category"], PAGE_CATEGORY);
        assert_eq!(body["aps"]["thread-id"], page(true).incident_id);
        assert_eq!(body["ack_token"], "ack.token.value");
        assert_eq!(header(&r, "apns-push-type"), "alert");
        assert_eq!(header(&r, "apns-priority"), "10");
        assert_eq!(header(&r, "apns-topic"), "com.example.panic");
        assert_eq!(
            header(&r, "apns-expiration"),
            (now() + Duration::minutes(5)).timestamp().to_string()
        );
        assert_eq!(header(&r, "apns-id"), page(true).delivery_id);
        assert!(header(&r, "apns-collapse-id").len() <= 64);
    }

    #[test]
    fn apns_page_without_critical_permission_is_time_sensitive_and_updates_are_plain() {
        let r = apns(&page(false), "t", now());
        let body: Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(body["aps"]["interruption-level"], "time-sensitive");
        assert_eq!(body["aps"]["sound"], "default");
        let mut update = page(true);
        update.kind = NotificationKind::Update;
        update.ack_token = None;
        let body: Value = serde_json::from_str(&apns(&update, "t", now()).body).unwrap();
        assert_eq!(body["aps"]["interruption-level"], "active");
        assert_eq!(body["aps"]["category"], UPDATE_CATEGORY);
    }

    #[test]
    fn a_shift_reminder_is_a_silent_background_push_and_a_data_only_fcm_message() {
        let mut n = page(false);
        n.kind = NotificationKind::Silent;
        n.ack_token = None;
        let r = apns(&n, "t", now());
        let body: Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(
            body["aps"],
            json!({ "content-available": 1 }),
            "no alert, no sound"
        );
        assert_eq!(body["kind"], "shift_reminder");
        assert_eq!(body["body"], n.body);
        assert_eq!(header(&r, "apns-push-type"), "background");
        assert_eq!(header(&r, "apns-priority"), "5");
        let m: Value = serde_json::from_str(&fcm(&n, "tok", now())).unwrap();
        assert!(m["message"].get("notification").is_none());
        assert!(m["message"]["android"].get("notification").is_none());
        assert_eq!(m["message"]["android"]["priority"], "NORMAL");
        assert_eq!(m["message"]["data"]["kind"], "shift_reminder");
    }

    #[test]
    fn oversized_text_is_truncated_and_ids_survive() {
        let mut n = page(true);
        n.body = "é".repeat(5000);
        n.title = "T".repeat(3000);
        let r = apns(&n, "t", now());
        assert!(r.body.len() <= MAX_PAYLOAD, "{}", r.body.len());
        let body: Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(body["incident_id"], n.incident_id);
        assert_eq!(body["delivery_id"], n.delivery_id);
        assert_eq!(body["ack_token"], "ack.token.value");
        assert!(
            body["aps"]["alert"]["body"]
                .as_str()
                .unwrap()
                .ends_with('…')
                || body["aps"]["alert"]["body"] == ""
        );
        let f = fcm(&n, "fcm-token", now());
        assert!(f.len() <= MAX_PAYLOAD);
        let f: Value = serde_json::from_str(&f).unwrap();
        assert_eq!(f["message"]["data"]["delivery_id"], n.delivery_id);
        assert_eq!(f["message"]["token"], "fcm-token");
    }

    #[test]
    fn fcm_page_is_high_priority_on_the_page_channel_with_the_window_as_ttl() {
        let f: Value = serde_json::from_str(&fcm(&page(true), "tok", now())).unwrap();
        let m = &f["message"];
        assert_eq!(m["android"]["priority"], "HIGH");
        assert_eq!(m["android"]["ttl"], "300s");
        assert_eq!(m["android"]["notification"]["channel_id"], PAGE_CHANNEL);
        assert_eq!(m["data"]["kind"], "page");
        assert_eq!(m["data"]["ack_token"], "ack.token.value");
        assert!(m["data"]
            .as_object()
            .unwrap()
            .values()
            .all(|v| v.is_string()));
        let mut late = page(true);
        late.expires_at = now() - Duration::minutes(1);
        let f: Value = serde_json::from_str(&fcm(&late, "tok", now())).unwrap();
        assert_eq!(f["message"]["android"]["ttl"], "0s");
    }

    #[test]
    fn truncation_respects_char_boundaries() {
        assert_eq!(truncate("héllo", 4), "h…");
        assert_eq!(truncate("short", 10), "short");
    }
}
