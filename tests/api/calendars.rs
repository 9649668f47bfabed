//! Calendar feeds: a person's or a schedule's shifts as an iCalendar feed behind a secret URL.
//! Every feed here is read with the `ical` crate's parser, not by looking at our own text.

use chrono::{DateTime, Datelike, Duration, NaiveTime, Timelike, Utc, Weekday};
use reqwest::Method;
use serde_json::{json, Value};

use crate::on_both_backends;
use crate::support::{assert_problem, spawn_app, TestApp, TestBackend};

on_both_backends!(
    a_weekly_rotation_in_berlin_keeps_nine_oclock_across_the_clock_change,
    an_override_moves_the_shift_from_one_feed_to_the_other,
    a_schedule_feed_shows_everyones_shifts,
    a_revoked_feed_is_gone_like_one_that_never_existed,
    the_feed_lists_show_no_secret,
    bad_ids_name_the_field_and_create_nothing,
    a_responder_manages_their_own_feeds,
);

/// Berlin moves to summer time on Sunday 2027-03-28; the rotation starts the Monday before
/// the week before, so its turns hand off on 15, 22 and 29 March.
const BERLIN_START: &str = "2027-03-15";

fn utc(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

/// One parsed VEVENT: its UTC start and end, summary and UID.
#[derive(Debug, Clone, PartialEq)]
struct Shift {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    summary: String,
    uid: String,
}

fn prop<'a>(event: &'a ical::parser::ical::component::IcalEvent, name: &str) -> &'a str {
    event
        .properties
        .iter()
        .find(|p| p.name == name)
        .and_then(|p| p.value.as_deref())
        .unwrap_or_else(|| panic!("the event has {name}"))
}

fn utc_value(v: &str) -> DateTime<Utc> {
    chrono::NaiveDateTime::parse_from_str(v, "%Y%m%dT%H%M%SZ")
        .unwrap_or_else(|e| panic!("{v} is a UTC date-time: {e}"))
        .and_utc()
}

/// Fetches a feed by its URL, checks the transport (status, type, CRLF, 75-octet lines) and
/// parses it.
async fn read_feed(app: &TestApp, url: &str) -> (String, Vec<Shift>) {
    let res = app.get(url).await;
    assert_eq!(res.status(), 200, "GET {url}");
    assert_eq!(
        res.headers()["content-type"],
        "text/calendar; charset=utf-8"
    );
    let text = res.text().await.unwrap();
    assert!(text.ends_with("END:VCALENDAR\r\n"));
    assert_eq!(
        text.matches('\n').count(),
        text.matches("\r\n").count(),
        "every line ends in CRLF"
    );
    for line in text.split("\r\n") {
        assert!(line.len() <= 75, "{} octets: {line:?}", line.len());
    }
    let mut parser = ical::IcalParser::new(std::io::BufReader::new(text.as_bytes()));
    let calendar = parser
        .next()
        .expect("one calendar")
        .expect("the feed parses as iCalendar");
    assert!(parser.next().is_none(), "exactly one calendar");
    let name = calendar
        .properties
        .iter()
        .find(|p| p.name == "X-WR-CALNAME")
        .and_then(|p| p.value.clone())
        .expect("the calendar has a name");
    let shifts = calendar
        .events
        .iter()
        .map(|e| {
            assert!(prop(e, "DTSTAMP").ends_with('Z'));
            Shift {
                start: utc_value(prop(e, "DTSTART")),
                end: utc_value(prop(e, "DTEND")),
                summary: prop(e, "SUMMARY").to_owned(),
                uid: prop(e, "UID").to_owned(),
            }
        })
        .collect();
    (name, shifts)
}

struct Team {
    schedule: String,
    ann: String,
    ben: String,
    cat: String,
}

/// Ann and Ben take weekly turns from Monday 09:00 Europe/Berlin; Cat is on no rotation. The
/// gateway's clock is moved (forward) to the day after the rotation starts.
async fn berlin_team(app: &TestApp) -> Team {
    app.clock.set(utc("2027-03-16T00:00:00Z"));
    let ann = app.create_user("responder", None, "Ann Berlin").await;
    let ben = app.create_user("responder", None, "Ben Berlin").await;
    let cat = app.create_user("responder", None, "Cat Cover").await;
    let body = app
        .admin_post(
            "/v1/admin/schedules",
            json!({
                "name": "Primary, Berlin", "time_zone": "Europe/Berlin",
                "rotations": [{ "name": "weekly", "participants": [ann, ben], "turn": "weekly",
                                "handoff_time": "09:00:00", "start_date": BERLIN_START }]
            }),
            201,
        )
        .await;
    Team {
        schedule: body["id"].as_str().unwrap().to_owned(),
        ann,
        ben,
        cat,
    }
}

/// Issues a feed through the admin API (`users` or `schedules`); returns (id, url).
async fn issue(app: &TestApp, of: &str, id: &str) -> (String, String) {
    let res = app
        .admin(Method::POST, &format!("/v1/admin/{of}/{id}/calendar-feeds"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let body: Value = res.json().await.unwrap();
    let url = body["url"].as_str().unwrap().to_owned();
    assert!(
        url.starts_with("/v1/calendars/pgwcal_") && url.ends_with(".ics"),
        "{url}"
    );
    (body["id"].as_str().unwrap().to_owned(), url)
}

fn berlin(t: DateTime<Utc>) -> chrono::DateTime<chrono_tz::Tz> {
    t.with_timezone(&chrono_tz::Europe::Berlin)
}

async fn a_weekly_rotation_in_berlin_keeps_nine_oclock_across_the_clock_change(
    backend: TestBackend,
) {
    let app = spawn_app(backend).await;
    let team = berlin_team(&app).await;
    let (_, ann_url) = issue(&app, "users", &team.ann).await;
    let (_, ben_url) = issue(&app, "users", &team.ben).await;

    let (name, ann) = read_feed(&app, &ann_url).await;
    assert_eq!(name, "On call: Ann Berlin");
    // 60 days from 16 March: Ann's turns start on 15 and 29 March, 12 and 26 April, 10 May.
    let starts: Vec<_> = ann.iter().map(|s| s.start).collect();
    assert_eq!(
        starts,
        [
            utc("2027-03-15T08:00:00Z"), // 09:00 CET
            utc("2027-03-29T07:00:00Z"), // 09:00 CEST
            utc("2027-04-12T07:00:00Z"),
            utc("2027-04-26T07:00:00Z"),
            utc("2027-05-10T07:00:00Z"),
        ]
    );
    for shift in &ann {
        for t in [shift.start, shift.end] {
            let local = berlin(t);
            assert_eq!(local.weekday(), Weekday::Mon, "{t}");
            assert_eq!(
                local.time(),
                NaiveTime::from_hms_opt(9, 0, 0).unwrap(),
                "{t}"
            );
        }
        assert_eq!(shift.summary, "On call: Primary\\, Berlin");
    }
    // Ben's week holds the clock change: one hour short.
    let (_, ben) = read_feed(&app, &ben_url).await;
    assert_eq!(ben[0].start, utc("2027-03-22T08:00:00Z"));
    assert_eq!(ben[0].end, utc("2027-03-29T07:00:00Z"));
    assert_eq!(ben[0].end - ben[0].start, Duration::hours(167));
    assert_eq!(berlin(ben[0].end).hour(), 9);
    // Nobody's feed shows another's turn.
    assert!(ann.iter().all(|a| ben.iter().all(|b| a.uid != b.uid)));
}

async fn an_override_moves_the_shift_from_one_feed_to_the_other(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let team = berlin_team(&app).await;
    let (_, ann_url) = issue(&app, "users", &team.ann).await;
    let (_, cat_url) = issue(&app, "users", &team.cat).await;
    let (_, before) = read_feed(&app, &ann_url).await;
    let (_, cat_before) = read_feed(&app, &cat_url).await;
    assert!(cat_before.is_empty());

    // Cat covers Ann's turn after the clock change, the whole of it.
    app.admin_post(
        &format!("/v1/admin/schedules/{}/overrides", team.schedule),
        json!({ "user_id": team.cat, "start": "2027-03-29T07:00:00Z", "end": "2027-04-05T07:00:00Z" }),
        201,
    )
    .await;

    let (_, ann) = read_feed(&app, &ann_url).await;
    assert_eq!(ann.len(), before.len() - 1);
    assert!(
        ann.iter().all(|s| s.start != utc("2027-03-29T07:00:00Z")),
        "{ann:?}"
    );
    // The turns the override leaves alone keep their UIDs, so calendars update in place.
    let kept: Vec<_> = before
        .iter()
        .filter(|s| s.start != utc("2027-03-29T07:00:00Z"))
        .cloned()
        .collect();
    assert_eq!(ann, kept);
    let (_, cat) = read_feed(&app, &cat_url).await;
    assert_eq!(cat.len(), 1, "{cat:?}");
    assert_eq!(
        (cat[0].start, cat[0].end),
        (utc("2027-03-29T07:00:00Z"), utc("2027-04-05T07:00:00Z"))
    );
    assert_eq!(cat[0].summary, "On call: Primary\\, Berlin");
}

async fn a_schedule_feed_shows_everyones_shifts(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let team = berlin_team(&app).await;
    let (_, url) = issue(&app, "schedules", &team.schedule).await;
    let (name, shifts) = read_feed(&app, &url).await;
    assert_eq!(name, "On call: Primary\\, Berlin");
    let who: Vec<_> = shifts.iter().take(3).map(|s| s.summary.as_str()).collect();
    assert_eq!(
        who,
        [
            "On call: Primary\\, Berlin (Ann Berlin)",
            "On call: Primary\\, Berlin (Ben Berlin)",
            "On call: Primary\\, Berlin (Ann Berlin)",
        ]
    );
    // Back to back: each turn ends where the next begins.
    for pair in shifts.windows(2) {
        assert_eq!(pair[0].end, pair[1].start);
    }
    assert_eq!(
        app.count("audit_log WHERE action = 'calendar_feed.issued' AND subject_type = 'schedule'")
            .await,
        1
    );
}

async fn a_revoked_feed_is_gone_like_one_that_never_existed(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let team = berlin_team(&app).await;
    let (id, url) = issue(&app, "users", &team.ann).await;
    let (_, other_url) = issue(&app, "users", &team.ann).await;
    read_feed(&app, &url).await;

    let res = app
        .admin(
            Method::DELETE,
            &format!("/v1/admin/users/{}/calendar-feeds/{id}", team.ann),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let revoked = assert_problem(app.get(&url).await, 404).await;
    // A token that never existed, one that is malformed: the same answer.
    let never = "/v1/calendars/pgwcal_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.ics";
    let unknown = assert_problem(app.get(never).await, 404).await;
    let malformed = assert_problem(app.get("/v1/calendars/nope.ics").await, 404).await;
    assert_eq!(revoked, unknown);
    assert_eq!(revoked, malformed);
    // The other feed of the same person still works; revoking again is not an error.
    read_feed(&app, &other_url).await;
    let again = app
        .admin(
            Method::DELETE,
            &format!("/v1/admin/users/{}/calendar-feeds/{id}", team.ann),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 204);
    assert_eq!(
        app.count("audit_log WHERE action = 'calendar_feed.revoked'")
            .await,
        1
    );
}

async fn the_feed_lists_show_no_secret(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let team = berlin_team(&app).await;
    let (first, url) = issue(&app, "users", &team.ann).await;
    let (second, _) = issue(&app, "users", &team.ann).await;
    issue(&app, "users", &team.ben).await;
    app.admin(
        Method::DELETE,
        &format!("/v1/admin/users/{}/calendar-feeds/{first}", team.ann),
    )
    .send()
    .await
    .unwrap();

    let res = app
        .admin(
            Method::GET,
            &format!("/v1/admin/users/{}/calendar-feeds", team.ann),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    let token = url
        .trim_start_matches("/v1/calendars/")
        .trim_end_matches(".ics");
    assert!(!text.contains(token), "the list shows no token: {text}");
    assert!(!text.contains("pgwcal_") && !text.contains("url"), "{text}");
    let page: Value = serde_json::from_str(&text).unwrap();
    let items = page["items"].as_array().unwrap();
    let states: Vec<_> = items
        .iter()
        .map(|f| (f["id"].as_str().unwrap(), f["state"].as_str().unwrap()))
        .collect();
    assert_eq!(
        states,
        [(first.as_str(), "revoked"), (second.as_str(), "active")]
    );
    assert!(items.iter().all(|f| f["user_id"] == team.ann.as_str()));
    // Nor is the token in the database, only its digest.
    assert_eq!(
        app.count(&format!("calendar_feeds WHERE token_hash = '{token}'"))
            .await,
        0
    );
    assert_eq!(app.count("calendar_feeds").await, 3);
}

async fn bad_ids_name_the_field_and_create_nothing(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let team = berlin_team(&app).await;
    let customer = app.create_customer("Acme", "gold", None).await;
    let contact = app.create_user("contact", Some(&customer), "Carl").await;

    for path in [
        "/v1/admin/users/no-such-user/calendar-feeds",
        "/v1/admin/schedules/no-such-schedule/calendar-feeds",
    ] {
        let res = app.admin(Method::POST, path).send().await.unwrap();
        let body = assert_problem(res, 404).await;
        assert_eq!(body["errors"][0]["field"], "id", "{path}: {body}");
        let res = app.admin(Method::GET, path).send().await.unwrap();
        assert_eq!(assert_problem(res, 404).await["errors"][0]["field"], "id");
    }
    let res = app
        .admin(
            Method::POST,
            &format!("/v1/admin/users/{contact}/calendar-feeds"),
        )
        .send()
        .await
        .unwrap();
    let body = assert_problem(res, 422).await;
    assert_eq!(body["errors"][0]["field"], "id");
    assert!(
        body["detail"].as_str().unwrap().contains("contact"),
        "{body}"
    );

    // A feed of Ben's cannot be revoked as Ann's, nor as the schedule's.
    let (bens, ben_url) = issue(&app, "users", &team.ben).await;
    assert_eq!(app.count("calendar_feeds").await, 1);
    for path in [
        format!("/v1/admin/users/{}/calendar-feeds/{bens}", team.ann),
        format!(
            "/v1/admin/schedules/{}/calendar-feeds/{bens}",
            team.schedule
        ),
        format!("/v1/admin/users/{}/calendar-feeds/no-such-feed", team.ben),
    ] {
        let res = app.admin(Method::DELETE, &path).send().await.unwrap();
        let body = assert_problem(res, 404).await;
        assert_eq!(body["errors"][0]["field"], "feed_id", "{path}: {body}");
    }
    read_feed(&app, &ben_url).await;
    assert_eq!(
        app.count("calendar_feeds WHERE revoked_at IS NOT NULL")
            .await,
        0
    );
    assert_eq!(
        app.count("audit_log WHERE action LIKE 'calendar_feed.%'")
            .await,
        1
    );
}

async fn a_responder_manages_their_own_feeds(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let team = berlin_team(&app).await;
    let ann = app.enroll(&team.ann, "ios").await;
    let res = app
        .with_token(
            Method::POST,
            "/v1/responders/me/calendar-feeds",
            &ann.access_token,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["user_id"], team.ann.as_str());
    let (_, shifts) = read_feed(&app, body["url"].as_str().unwrap()).await;
    assert_eq!(shifts[0].start, utc("2027-03-15T08:00:00Z"));

    let list: Value = app
        .with_token(
            Method::GET,
            "/v1/responders/me/calendar-feeds",
            &ann.access_token,
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    let id = body["id"].as_str().unwrap();
    let res = app
        .with_token(
            Method::DELETE,
            &format!("/v1/responders/me/calendar-feeds/{id}"),
            &ann.access_token,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert_problem(app.get(body["url"].as_str().unwrap()).await, 404).await;
    // The admin key is not a responder's device.
    let res = app
        .admin(Method::POST, "/v1/responders/me/calendar-feeds")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(
        app.count("audit_log WHERE action LIKE 'calendar_feed.%' AND actor LIKE 'device:%'")
            .await,
        2
    );
}
