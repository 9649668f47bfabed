//! Teams and the `team_round_robin` escalation step: successive incidents go to successive
//! available members (skipping one who is away), the pointer lives in the database (a second
//! instance continues it, a repeat pass picks the next member), two gateways escalating at once
//! pick once per incident and never the same member twice, a team with nobody available is
//! skipped at once, and every user error names its field.

use std::collections::BTreeSet;
use std::time::Duration as StdDuration;

use chrono::Duration;
use reqwest::Method;
use serde_json::{json, Value};

use crate::on_both_backends;
use crate::support::{
    assert_problem, eventually, p1_press, spawn_app, spawn_app_with_push, spawn_second_instance,
    GoldCustomer, Phone, TestApp, TestBackend,
};

on_both_backends!(
    three_incidents_go_to_three_available_members_skipping_one_who_is_away,
    the_pointer_lives_in_the_database_and_a_repeat_pass_picks_the_next_member,
    two_gateways_escalating_at_once_pick_once_per_incident,
    a_team_with_nobody_available_is_skipped_at_once,
    team_and_policy_errors_name_the_field_and_change_nothing,
);

const WAIT: StdDuration = StdDuration::from_secs(10);

/// `n` responders named `names`, each with an iPhone.
async fn engineers(app: &TestApp, names: &[&str]) -> Vec<Phone> {
    let mut phones = Vec::new();
    for name in names {
        let id = app.create_user("responder", None, name).await;
        phones.push(app.enroll(&id, "ios").await);
    }
    phones
}

async fn create_team(app: &TestApp, id: &str, members: &[&Phone]) -> Value {
    let ids: Vec<&str> = members.iter().map(|p| p.user_id.as_str()).collect();
    app.admin_post(
        "/v1/admin/teams",
        json!({ "id": id, "name": format!("Team {id}"), "members": ids }),
        201,
    )
    .await
}

/// Gives the customer a policy of `steps` (`[(targets, minutes)]`), repeated `repeat` times.
async fn policy(app: &TestApp, customer: &GoldCustomer, steps: &[(Value, i64)], repeat: u32) {
    let steps: Vec<Value> = steps
        .iter()
        .map(|(targets, minutes)| json!({ "targets": targets, "ack_timeout_minutes": minutes }))
        .collect();
    let res = app
        .admin(Method::PUT, "/v1/admin/policies")
        .json(&json!({
            "name": "round-robin", "customer_id": customer.customer_id,
            "repeat": repeat, "steps": steps,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
}

fn round_robin(team: &str) -> Value {
    json!([{ "type": "team_round_robin", "team": team }])
}

/// A P1 press for a service of its own (the key), so every press opens an incident.
async fn press(app: &TestApp, phone: &Phone, key: &str) -> Value {
    let res = app.press(phone, key, &p1_press(key)).await;
    assert_eq!(res.status(), 201);
    res.json().await.unwrap()
}

async fn away_now(app: &TestApp, phone: &Phone) {
    let now = app.clock_now();
    let res = app
        .with_token(
            Method::POST,
            "/v1/responders/me/unavailability",
            &phone.access_token,
        )
        .json(&json!({ "starts_at": now - Duration::hours(1), "ends_at": now + Duration::days(2) }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
}

async fn pages_to(app: &TestApp, incident: &str, user: &str) -> i64 {
    app.count(&format!(
        "deliveries WHERE incident_id = '{incident}' AND user_id = '{user}' AND kind = 'page'"
    ))
    .await
}

async fn team(app: &TestApp, id: &str) -> Value {
    app.admin(Method::GET, &format!("/v1/admin/teams/{id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn incident_of(body: &Value) -> String {
    body["incident"]["id"].as_str().unwrap().to_owned()
}

async fn three_incidents_go_to_three_available_members_skipping_one_who_is_away(
    backend: TestBackend,
) {
    let app = spawn_app(backend).await;
    let customer = app.gold_customer().await;
    let e = engineers(&app, &["Ann", "Ben", "Cat", "Dan"]).await;
    let created = create_team(&app, "gold", &[&e[0], &e[1], &e[2], &e[3]]).await;
    assert_eq!(created["members"][1]["name"], "Ben");
    assert_eq!(created["last_picked_user_id"], Value::Null);
    policy(&app, &customer, &[(round_robin("gold"), 5)], 0).await;
    away_now(&app, &e[1]).await;

    let mut picked = Vec::new();
    for key in ["rr-1", "rr-2", "rr-3"] {
        let body = press(&app, &customer.contact, key).await;
        assert_eq!(
            body["paging"]["first"]["role"], "round_robin:gold",
            "{body}"
        );
        picked.push(body["paging"]["first"]["name"].as_str().unwrap().to_owned());
        // One member per incident, not the whole team.
        let incident = incident_of(&body);
        let paged = app
            .count(&format!(
                "deliveries WHERE incident_id = '{incident}' AND kind = 'page'"
            ))
            .await;
        assert_eq!(paged, 1, "{key}");
    }
    assert_eq!(picked, ["Ann", "Cat", "Dan"], "Ben is away and skipped");

    assert_eq!(
        app.count("round_robin_picks WHERE team_id = 'gold'").await,
        3,
        "one recorded pick per incident"
    );
    assert_eq!(
        team(&app, "gold").await["last_picked_user_id"],
        e[3].user_id.as_str()
    );

    // The fourth goes round to Ann again; the fifth passes over Ben, and says so.
    let body = press(&app, &customer.contact, "rr-4").await;
    assert_eq!(body["paging"]["first"]["name"], "Ann");
    let rows = app.timeline_rows(&incident_of(&body)).await;
    let paged = rows.iter().find(|r| r["kind"] == "paged").unwrap();
    assert_eq!(paged["detail"]["skipped"], json!([]), "{paged}");

    let body = press(&app, &customer.contact, "rr-5").await;
    assert_eq!(body["paging"]["first"]["name"], "Cat");
    let rows = app.timeline_rows(&incident_of(&body)).await;
    let paged = rows.iter().find(|r| r["kind"] == "paged").unwrap();
    assert_eq!(
        paged["detail"]["skipped"],
        json!([{ "team": "gold", "user_id": e[1].user_id, "reason": "unavailable" }]),
        "{paged}"
    );
}

async fn the_pointer_lives_in_the_database_and_a_repeat_pass_picks_the_next_member(
    backend: TestBackend,
) {
    let first = spawn_app(backend).await;
    let customer = first.gold_customer().await;
    let e = engineers(&first, &["Ann", "Ben", "Cat"]).await;
    create_team(&first, "gold", &[&e[0], &e[1], &e[2]]).await;
    policy(&first, &customer, &[(round_robin("gold"), 5)], 1).await;
    let body = press(&first, &customer.contact, "before").await;
    assert_eq!(body["paging"]["first"]["name"], "Ann");
    // Ann takes it and resolves it: only the next incident escalates below.
    let res = first
        .with_token(
            Method::POST,
            &format!("/v1/incidents/{}/resolve", incident_of(&body)),
            &e[0].access_token,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    // The first gateway stops; a fresh instance on the same database carries on after Ann.
    let second = spawn_second_instance(&first).await;
    first.shutdown.trigger();
    let body = press(&second, &customer.contact, "after").await;
    assert_eq!(body["paging"]["first"]["name"], "Ben");
    let incident = incident_of(&body);

    // Nobody answers: the policy's second pass is a new pick, Cat, not Ben again.
    second.clock.advance(Duration::minutes(5));
    second.run_due_work().await;
    assert_eq!(pages_to(&second, &incident, &e[2].user_id).await, 1);
    assert_eq!(pages_to(&second, &incident, &e[1].user_id).await, 1);
    assert_eq!(
        second
            .count(&format!(
                "round_robin_picks WHERE incident_id = '{incident}'"
            ))
            .await,
        2
    );

    // After the chain runs out, a new press restarts escalation and picks afresh (Ann),
    // rather than replaying the pick of the first pass.
    second.clock.advance(Duration::minutes(5));
    second.run_due_work().await;
    let res = second
        .press(&customer.contact, "again", &p1_press("after"))
        .await;
    let body: Value = res.json().await.unwrap();
    assert_eq!(incident_of(&body), incident, "{body}");
    assert_eq!(body["paging"]["first"]["name"], "Ann", "{body}");
}

async fn two_gateways_escalating_at_once_pick_once_per_incident(backend: TestBackend) {
    let first = spawn_app_with_push(backend, |_| {}).await;
    let second = spawn_second_instance(&first).await;
    let customer = first.gold_customer().await;
    let e = engineers(&first, &["Ann", "Ben", "Cat"]).await;
    create_team(&first, "gold", &[&e[0], &e[1], &e[2]]).await;
    // Step 1 the account manager, step 2 someone from the Gold team.
    policy(
        &first,
        &customer,
        &[
            (json!([{ "type": "account_manager" }]), 5),
            (round_robin("gold"), 5),
        ],
        0,
    )
    .await;
    let mut incidents = Vec::new();
    for i in 0..3 {
        let on = if i % 2 == 0 { &first } else { &second };
        incidents.push(incident_of(
            &press(on, &customer.contact, &format!("twin-{i}")).await,
        ));
    }

    // Both gateways' escalators (their loops, and a round driven on each at once) find the
    // three deadlines due together.
    first.clock.advance(Duration::minutes(5));
    tokio::join!(first.run_due_work(), second.run_due_work());
    let tokens: Vec<&str> = e.iter().map(|p| p.push_token.as_str()).collect();
    let team_pages = || {
        first
            .mocks()
            .apns
            .received()
            .into_iter()
            .filter(|r| tokens.contains(&r.device_token.as_str()))
            .map(|r| r.device_token)
            .collect::<Vec<_>>()
    };
    eventually(WAIT, "three team pages reach the mock APNs", || async {
        team_pages().len() >= 3
    })
    .await;
    first.run_due_work().await;
    second.run_due_work().await;

    let received = team_pages();
    assert_eq!(
        received.len(),
        3,
        "exactly one page per incident: {received:?}"
    );
    let distinct: BTreeSet<&String> = received.iter().collect();
    assert_eq!(
        distinct.len(),
        3,
        "three incidents, three members: {received:?}"
    );
    for incident in &incidents {
        let step_two = first
            .count(&format!(
                "deliveries WHERE incident_id = '{incident}' AND kind = 'page' \
                 AND escalation_step = 1"
            ))
            .await;
        assert_eq!(
            step_two, 1,
            "one page for the round-robin step of {incident}"
        );
        let picks = first
            .count(&format!(
                "round_robin_picks WHERE incident_id = '{incident}'"
            ))
            .await;
        assert_eq!(picks, 1);
    }

    // Six customers press at once on both gateways, each paging the team first: every pick
    // reads a pointer another transaction may be moving, and still the six incidents share the
    // team evenly, twice each.
    let res = first
        .admin(Method::PUT, "/v1/admin/policies")
        .json(&json!({ "name": "gold", "tier": "gold",
                       "steps": [{ "targets": round_robin("gold"), "ack_timeout_minutes": 5 }] }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let mut contacts = Vec::new();
    for i in 0..6 {
        let customer = first
            .create_customer(&format!("Customer {i}"), "gold", None)
            .await;
        let contact = first.create_user("contact", Some(&customer), "Carl").await;
        contacts.push(first.enroll(&contact, "android").await);
    }
    let presses = contacts.iter().enumerate().map(|(i, contact)| {
        let on = if i % 2 == 0 { &first } else { &second };
        async move { press(on, contact, &format!("burst-{i}")).await }
    });
    let answers = futures_util::future::join_all(presses).await;
    let mut names: Vec<String> = answers
        .iter()
        .map(|b| b["paging"]["first"]["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["Ann", "Ann", "Ben", "Ben", "Cat", "Cat"]);
}

async fn a_team_with_nobody_available_is_skipped_at_once(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let customer = app.gold_customer().await;
    let e = engineers(&app, &["Ann"]).await;
    // Bea has no phone at all.
    let bea = app.create_user("responder", None, "Bea").await;
    let manager = app
        .create_user("support_manager", None, "Morgan Manager")
        .await;
    app.enroll(&manager, "android").await;
    let res = app
        .admin(Method::POST, "/v1/admin/teams")
        .json(&json!({ "id": "gold", "name": "Gold", "members": [e[0].user_id, bea] }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    away_now(&app, &e[0]).await;
    policy(
        &app,
        &customer,
        &[
            (round_robin("gold"), 5),
            (json!([{ "type": "support_managers" }]), 5),
        ],
        0,
    )
    .await;

    let body = press(&app, &customer.contact, "nobody").await;
    assert_eq!(body["paging"]["first"]["name"], "Morgan Manager", "{body}");
    let incident = incident_of(&body);
    let rows = app.timeline_rows(&incident).await;
    let skipped = rows.iter().find(|r| r["kind"] == "step.skipped").unwrap();
    assert_eq!(skipped["detail"]["step"], 1);
    assert_eq!(
        skipped["detail"]["reasons"],
        json!([
            { "team": "gold", "user_id": e[0].user_id, "reason": "unavailable" },
            { "team": "gold", "user_id": bea, "reason": "no deliverable device" },
            { "target": "team_round_robin", "team": "gold", "reason": "no member can be paged now" },
        ])
    );
    assert_eq!(app.count("round_robin_picks").await, 0);
    assert_eq!(team(&app, "gold").await["last_picked_user_id"], Value::Null);
}

async fn team_and_policy_errors_name_the_field_and_change_nothing(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let customer = app.gold_customer().await;
    let e = engineers(&app, &["Ann", "Ben"]).await;
    let contact = app
        .create_user("contact", Some(&customer.customer_id), "Carla")
        .await;
    let post = |body: Value| {
        let app = &app;
        async move {
            app.admin(Method::POST, "/v1/admin/teams")
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    let fields = |body: &Value| -> Vec<String> {
        body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap().to_owned())
            .collect()
    };

    let empty = assert_problem(
        post(json!({ "id": "gold", "name": "Gold", "members": [] })).await,
        422,
    )
    .await;
    assert_eq!(fields(&empty), ["members"]);
    assert!(empty["errors"][0]["detail"]
        .as_str()
        .unwrap()
        .contains("at least one"));

    let twice = json!({ "id": "gold", "name": "Gold", "members": [e[0].user_id, e[1].user_id, e[0].user_id] });
    let body = assert_problem(post(twice).await, 422).await;
    assert_eq!(fields(&body), ["members[2]"]);
    assert_eq!(
        body["errors"][0]["detail"],
        "appears twice (also members[0])"
    );

    let strangers = json!({ "id": "Gold Team", "name": " ", "members": [contact, "no-such-user"] });
    let body = assert_problem(post(strangers).await, 422).await;
    assert_eq!(fields(&body), ["id", "name", "members[0]", "members[1]"]);
    assert_eq!(body["errors"][3]["detail"], "no such user");
    assert!(body["errors"][2]["detail"]
        .as_str()
        .unwrap()
        .contains("not a customer's contact"));
    assert_eq!(app.count("teams").await, 0, "nothing stored");

    // A policy may only name a team that exists.
    let res = app
        .admin(Method::PUT, "/v1/admin/policies")
        .json(&json!({
            "name": "rr", "customer_id": customer.customer_id,
            "steps": [
                { "targets": [{ "type": "account_manager" }], "ack_timeout_minutes": 5 },
                { "targets": [{ "type": "support_managers" }, { "type": "team_round_robin", "team": "gold" }],
                  "ack_timeout_minutes": 5 }
            ]
        }))
        .send()
        .await
        .unwrap();
    let body = assert_problem(res, 422).await;
    assert_eq!(fields(&body), ["steps[1].targets[1].team"]);
    assert_eq!(body["errors"][0]["detail"], "no team \"gold\"");
    assert_eq!(app.count("escalation_policies").await, 0);

    // Once it exists: a taken id is a conflict; the policy is accepted.
    create_team(&app, "gold", &[&e[0]]).await;
    let again = post(json!({ "id": "gold", "name": "Other", "members": [e[1].user_id] })).await;
    assert_problem(again, 409).await;
    policy(&app, &customer, &[(round_robin("gold"), 5)], 0).await;

    // Replacing the members checks them the same way, and keeps the id.
    let res = app
        .admin(Method::PUT, "/v1/admin/teams/gold")
        .json(&json!({ "name": "Gold", "members": [e[1].user_id, e[1].user_id] }))
        .send()
        .await
        .unwrap();
    assert_eq!(fields(&assert_problem(res, 422).await), ["members[1]"]);
    let res = app
        .admin(Method::PUT, "/v1/admin/teams/gold")
        .json(&json!({ "name": "Gold", "members": [e[1].user_id, e[0].user_id] }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let listed: Value = app
        .admin(Method::GET, "/v1/admin/teams")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["items"][0]["members"][0]["name"], "Ben", "{listed}");
    let res = app
        .admin(Method::PUT, "/v1/admin/teams/silver")
        .json(&json!({ "name": "Silver", "members": [e[0].user_id] }))
        .send()
        .await
        .unwrap();
    assert_problem(res, 404).await;

    // A team a policy pages cannot be deleted; an unknown one is not found.
    let res = app
        .admin(Method::DELETE, "/v1/admin/teams/gold")
        .send()
        .await
        .unwrap();
    let body = assert_problem(res, 409).await;
    assert!(
        body["type"].as_str().unwrap().ends_with("team-in-use"),
        "{body}"
    );
    assert_eq!(app.count("teams").await, 1);
    let res = app
        .admin(Method::DELETE, "/v1/admin/teams/silver")
        .send()
        .await
        .unwrap();
    assert_problem(res, 404).await;
    policy(
        &app,
        &customer,
        &[(json!([{ "type": "account_manager" }]), 5)],
        0,
    )
    .await;
    let res = app
        .admin(Method::DELETE, "/v1/admin/teams/gold")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(app.count("team_members").await, 0);
    let res = app
        .admin(Method::GET, "/v1/admin/teams/gold")
        .send()
        .await
        .unwrap();
    assert_problem(res, 404).await;
}
