//! Configuration as code: the organisation as one document (tiers' SLAs, staff, customers,
//! schedules, teams, escalation policies), and the plan that brings the stored state to it.
//!
//! Pure: [`plan`] takes the current [`State`] and the desired [`Document`] and returns the
//! desired state (with ids: existing ones kept, new ones minted) and the changes, or every
//! error found, each with a JSON path into the document (`policies[1].steps[0].targets`).
//! The store applies the result in one transaction and runs the escalation promise check on
//! what it wrote (that check needs every tier and policy, so it is the store's).
//!
//! Objects are matched by the natural key the file uses: a tier by its id, a staff user by
//! e-mail, a customer by name, a schedule by name, a team by its id, a policy by what it serves
//! (`tier` or `customer`). References use the same keys: participants, team members and user
//! targets by e-mail, an account manager by e-mail, schedule targets by schedule name (or by
//! role), round-robin targets by team id.
//!
//! Limits: customers and staff users are created and updated, never removed (they carry
//! tickets, incidents and audit history); `prune` removes schedules, teams and policies.
//! Schedule overrides and a team's round-robin pointer are operational, not configuration: the
//! file does not carry them and an update keeps the stored ones. Contacts are outside the
//! document.
//!
//! Webhook endpoints are keyed by URL. Their signing secret never appears in a file or an
//! export: on the wire a document may carry `secret` (the CLI reads it from the environment
//! variable the file's `secret_env` names); without one, an existing endpoint keeps its secret
//! and a new one gets a generated secret, shown once. The plan compares a provided secret with
//! the stored one (opened by the store) and says "secret replaced" only when they differ.
//! `prune` disables the endpoints the file does not have, as the admin route's DELETE does.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::escalation::{EscalationPolicy, ScheduleRef, Step, Target};
use super::identity::UserRole;
use super::schedule::{Rotation, Schedule};
use super::sla::{Coverage, SlaConfigError, TierSla};
use super::team::{check_members, TeamId};

/// The organisation as a file describes it (TOML on disk, JSON on the wire).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Document {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tiers: Vec<TierDoc>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<UserDoc>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub customers: Vec<CustomerDoc>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub schedules: Vec<ScheduleDoc>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub teams: Vec<TeamDoc>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<PolicyDoc>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub webhooks: Vec<WebhookDoc>,
}

/// A webhook signing secret: compared and carried, never printed by `Debug`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecretText(pub String);

impl std::fmt::Debug for SecretText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretText(..)")
    }
}

/// A helpdesk webhook endpoint, keyed by URL, as `POST /v1/admin/webhooks` takes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookDoc {
    pub url: String,
    /// Event types, or `["*"]` (the default) for all.
    #[serde(default = "all_events")]
    pub events: Vec<String>,
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    /// The signing secret, on the wire only (never in a file, never exported).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<SecretText>,
}

fn all_events() -> Vec<String> {
    vec!["*".to_owned()]
}

fn enabled_by_default() -> bool {
    true
}

/// A tier (the tiers themselves are fixed: bronze, silver, gold) and its SLA.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierDoc {
    pub id: String,
    pub sla: SlaDoc,
}

/// A tier's SLA as the admin route `PUT /v1/admin/tiers/{id}/sla` takes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlaDoc {
    pub external_response_minutes: u32,
    pub internal_ack_minutes: u32,
    pub resolution_minutes: u32,
    pub coverage: Coverage,
    #[serde(default = "super::sla::default_warn_at")]
    pub warn_at: Vec<f64>,
}

/// A staff user (responder or support manager), keyed by e-mail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserDoc {
    pub email: String,
    pub name: String,
    pub role: UserRole,
}

/// A customer, keyed by name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomerDoc {
    pub name: String,
    pub tier: String,
    /// The account manager's e-mail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_manager: Option<String>,
}

/// A schedule, keyed by name; participants are e-mails.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleDoc {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    pub time_zone: String,
    pub rotations: Vec<Rotation>,
}

/// A team, keyed by its id; members are e-mails, in round-robin order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamDoc {
    pub id: String,
    pub name: String,
    pub members: Vec<String>,
}

/// An escalation policy for a tier or for one customer (by name).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyDoc {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer: Option<String>,
    #[serde(default)]
    pub repeat: u32,
    pub steps: Vec<StepDoc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepDoc {
    pub ack_timeout_minutes: u32,
    pub targets: Vec<TargetDoc>,
}

/// Who a step pages, by the document's keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum TargetDoc {
    AccountManager,
    /// A schedule by name.
    Schedule {
        schedule: String,
    },
    /// A schedule by role ("primary"), as the built-in default policy refers to them.
    ScheduleRole {
        role: String,
    },
    /// A user by e-mail.
    User {
        email: String,
    },
    SupportManagers,
    /// The next available member of a team (by id), in turn.
    TeamRoundRobin {
        team: String,
    },
}

/// What is stored, with ids: the input and the output of [`plan`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct State {
    pub tiers: Vec<TierState>,
    pub users: Vec<UserState>,
    pub customers: Vec<CustomerState>,
    pub schedules: Vec<ScheduleState>,
    pub teams: Vec<TeamState>,
    pub policies: Vec<PolicyState>,
    pub webhooks: Vec<WebhookState>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TeamState {
    pub id: String,
    pub name: String,
    /// User ids, in round-robin order.
    pub members: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct WebhookState {
    pub id: String,
    pub url: String,
    pub events: Vec<String>,
    pub enabled: bool,
    /// The secret in clear, when the store could open it; `None` on a new endpoint means
    /// "generate one".
    pub secret: Option<SecretText>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TierState {
    pub id: String,
    pub sla: TierSla,
}

#[derive(Debug, Clone, PartialEq)]
pub struct UserState {
    pub id: String,
    pub email: Option<String>,
    pub name: String,
    pub role: UserRole,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CustomerState {
    pub id: String,
    pub name: String,
    pub tier: String,
    pub account_manager_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleState {
    pub id: String,
    pub name: String,
    pub role: Option<String>,
    pub schedule: Schedule,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PolicyState {
    pub id: String,
    pub name: String,
    pub tier: Option<String>,
    pub customer_id: Option<String>,
    pub policy: EscalationPolicy,
}

/// One line of a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// `+` create, `~` update, `-` remove.
    pub op: char,
    /// `tier`, `user`, `customer`, `schedule`, `team`, `policy`, `webhook`.
    pub kind: &'static str,
    /// The natural key: tier id, e-mail, customer or schedule name, `gold` or `customer Acme`.
    pub key: String,
    /// Field-level "from -> to" for updates; a short description for creates.
    pub details: Vec<String>,
    /// Where the object is in the document (`policies[1]`); `None` for removals.
    pub path: Option<String>,
}

impl Change {
    /// "+ customer Acme (gold)", "~ policy gold: step 2 timeout 5 -> 3 min", "- schedule night".
    pub fn lines(&self) -> Vec<String> {
        let head = format!("{} {} {}", self.op, self.kind, self.key);
        match (self.op, self.details.as_slice()) {
            (_, []) => vec![head],
            ('+', d) => vec![format!("{head} ({})", d.join(", "))],
            (_, d) => d.iter().map(|d| format!("{head}: {d}")).collect(),
        }
    }
}

/// A problem with the document, at a JSON path into it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocError {
    pub path: String,
    pub reason: String,
}

/// The outcome of [`plan`]: the desired state and what differs from the current one.
#[derive(Debug, Clone)]
pub struct Plan {
    pub desired: State,
    pub changes: Vec<Change>,
    /// Stored policy id -> the document path of the policy, for naming promise-check failures.
    pub policy_paths: HashMap<String, String>,
    /// Tier id -> the document path of its SLA.
    pub tier_paths: HashMap<String, String>,
}

struct Errors(Vec<DocError>);

impl Errors {
    fn push(&mut self, path: impl Into<String>, reason: impl Into<String>) {
        self.0.push(DocError {
            path: path.into(),
            reason: reason.into(),
        });
    }
}

fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

fn text(errors: &mut Errors, path: String, value: &str, max: usize) -> String {
    let t = value.trim();
    if t.is_empty() {
        errors.push(path, "must not be empty");
    } else if t.chars().count() > max {
        errors.push(path, format!("must be at most {max} characters"));
    } else if t.chars().any(char::is_control) {
        errors.push(path, "must not contain control characters");
    }
    t.to_owned()
}

fn sla_error(prefix: &str, e: SlaConfigError) -> DocError {
    match e {
        SlaConfigError::Invalid { field, reason } => DocError {
            path: format!("{prefix}.{field}"),
            reason,
        },
        other => DocError {
            path: format!("{prefix}.internal_ack_minutes"),
            reason: other.to_string(),
        },
    }
}

fn minutes(m: u32) -> chrono::Duration {
    chrono::Duration::minutes(i64::from(m))
}

/// Checks `doc` against `current` and works out the state it asks for and the changes.
/// With `prune`, schedules and policies that the document does not have are removed.
pub fn plan(current: &State, doc: &Document, prune: bool) -> Result<Plan, Vec<DocError>> {
    let mut errors = Errors(Vec::new());
    let mut desired = current.clone();
    let mut tier_paths = HashMap::new();

    // Tiers: fixed rows; the file sets their SLA.
    let mut seen = HashSet::new();
    for (i, t) in doc.tiers.iter().enumerate() {
        let path = format!("tiers[{i}]");
        if !seen.insert(t.id.clone()) {
            errors.push(
                format!("{path}.id"),
                format!("tier {:?} appears twice", t.id),
            );
            continue;
        }
        let Some(stored) = desired.tiers.iter_mut().find(|s| s.id == t.id) else {
            errors.push(format!("{path}.id"), format!("unknown tier {:?}", t.id));
            continue;
        };
        let s = &t.sla;
        match TierSla::new(
            &t.id,
            minutes(s.external_response_minutes),
            minutes(s.internal_ack_minutes),
            minutes(s.resolution_minutes),
            s.coverage.clone(),
            s.warn_at.clone(),
        ) {
            Ok(sla) => stored.sla = sla,
            Err(e) => errors.0.push(sla_error(&format!("{path}.sla"), e)),
        }
        tier_paths.insert(t.id.clone(), format!("{path}.sla"));
    }

    // Staff users by e-mail (case-insensitive, as mail is).
    let mut seen = HashSet::new();
    for (i, u) in doc.users.iter().enumerate() {
        let path = format!("users[{i}]");
        let email = text(&mut errors, format!("{path}.email"), &u.email, 320);
        if !email.contains('@') {
            errors.push(format!("{path}.email"), "must be an email address");
        }
        if !seen.insert(email.to_lowercase()) {
            errors.push(format!("{path}.email"), format!("{email} appears twice"));
            continue;
        }
        let name = text(&mut errors, format!("{path}.name"), &u.name, 200);
        if u.role == UserRole::Contact {
            errors.push(
                format!("{path}.role"),
                "the file holds staff: responder or support_manager",
            );
        }
        match desired.users.iter_mut().find(|s| same_email(s, &email)) {
            Some(s) if s.role == UserRole::Contact => errors.push(
                format!("{path}.email"),
                format!("{email} is a customer's contact, not staff"),
            ),
            Some(s) => {
                s.name = name;
                s.role = u.role;
            }
            None => desired.users.push(UserState {
                id: new_id(),
                email: Some(email),
                name,
                role: u.role,
            }),
        }
    }

    // Customers by name.
    let mut seen = HashSet::new();
    for (i, c) in doc.customers.iter().enumerate() {
        let path = format!("customers[{i}]");
        let name = text(&mut errors, format!("{path}.name"), &c.name, 200);
        if !seen.insert(name.clone()) {
            errors.push(format!("{path}.name"), format!("{name:?} appears twice"));
            continue;
        }
        if !current.tiers.iter().any(|t| t.id == c.tier) {
            errors.push(format!("{path}.tier"), format!("unknown tier {:?}", c.tier));
        }
        let manager = match &c.account_manager {
            None => None,
            Some(email) => match user_by_ref(&desired, email) {
                Some(u) if u.role != UserRole::Contact => Some(u.id.clone()),
                Some(_) => {
                    errors.push(
                        format!("{path}.account_manager"),
                        "must be a responder, not a contact",
                    );
                    None
                }
                None => {
                    errors.push(
                        format!("{path}.account_manager"),
                        format!("no user {email} in the file or the gateway"),
                    );
                    None
                }
            },
        };
        let matching: Vec<usize> = (0..desired.customers.len())
            .filter(|&k| desired.customers[k].name == name)
            .collect();
        match matching.as_slice() {
            [] => desired.customers.push(CustomerState {
                id: new_id(),
                name,
                tier: c.tier.clone(),
                account_manager_id: manager,
            }),
            [k] => {
                let s = &mut desired.customers[*k];
                s.tier = c.tier.clone();
                s.account_manager_id = manager;
            }
            _ => errors.push(
                format!("{path}.name"),
                format!("the gateway has several customers named {name:?}; rename them first"),
            ),
        }
    }

    // Schedules by name; participants by e-mail; stored overrides kept.
    let mut seen = HashSet::new();
    let mut kept_schedules = Vec::new();
    for (i, s) in doc.schedules.iter().enumerate() {
        let path = format!("schedules[{i}]");
        let name = text(&mut errors, format!("{path}.name"), &s.name, 100);
        let role = s
            .role
            .as_deref()
            .map(|r| text(&mut errors, format!("{path}.role"), r, 50));
        if !seen.insert(name.clone()) {
            errors.push(format!("{path}.name"), format!("{name:?} appears twice"));
            continue;
        }
        let mut rotations = s.rotations.clone();
        for (r, rotation) in rotations.iter_mut().enumerate() {
            for (p, participant) in rotation.participants.iter_mut().enumerate() {
                match user_by_ref(&desired, participant) {
                    Some(u) => *participant = u.id.clone(),
                    None => errors.push(
                        format!("{path}.rotations[{r}].participants[{p}]"),
                        format!("no user {participant} in the file or the gateway"),
                    ),
                }
            }
        }
        let existing = desired.schedules.iter().position(|x| x.name == name);
        let overrides = existing
            .map(|k| desired.schedules[k].schedule.overrides().to_vec())
            .unwrap_or_default();
        let schedule = match Schedule::new(&s.time_zone, rotations, overrides) {
            Ok(schedule) => schedule,
            Err(e) => {
                errors.push(format!("{path}.{}", e.field), e.reason);
                continue;
            }
        };
        let id = match existing {
            Some(k) => {
                let x = &mut desired.schedules[k];
                x.role = role;
                x.schedule = schedule;
                x.id.clone()
            }
            None => {
                let id = new_id();
                desired.schedules.push(ScheduleState {
                    id: id.clone(),
                    name,
                    role,
                    schedule,
                });
                id
            }
        };
        kept_schedules.push(id);
    }
    if prune {
        desired.schedules.retain(|s| kept_schedules.contains(&s.id));
    }
    let mut roles = HashMap::new();
    for s in &desired.schedules {
        if let Some(role) = &s.role {
            if let Some(other) = roles.insert(role.clone(), s.name.clone()) {
                let at = doc
                    .schedules
                    .iter()
                    .position(|d| d.name == s.name || d.name == other)
                    .map_or("schedules".to_owned(), |i| format!("schedules[{i}].role"));
                errors.push(
                    at,
                    format!(
                        "schedules {other:?} and {:?} both have role {role:?}",
                        s.name
                    ),
                );
            }
        }
    }

    // Teams by id; members by e-mail, staff only.
    let mut seen = HashSet::new();
    let mut kept_teams = Vec::new();
    for (i, t) in doc.teams.iter().enumerate() {
        let path = format!("teams[{i}]");
        if let Err(reason) = TeamId::parse(&t.id) {
            errors.push(format!("{path}.id"), reason);
            continue;
        }
        if !seen.insert(t.id.clone()) {
            errors.push(
                format!("{path}.id"),
                format!("team {:?} appears twice", t.id),
            );
            continue;
        }
        let name = text(&mut errors, format!("{path}.name"), &t.name, 100);
        let mut members = Vec::new();
        for (m, member) in t.members.iter().enumerate() {
            match user_by_ref(&desired, member) {
                Some(u) if u.role == UserRole::Contact => errors.push(
                    format!("{path}.members[{m}]"),
                    format!("{member} is a customer's contact, not staff"),
                ),
                Some(u) => members.push(u.id.clone()),
                None => errors.push(
                    format!("{path}.members[{m}]"),
                    format!("no user {member} in the file or the gateway"),
                ),
            }
        }
        if members.len() == t.members.len() {
            for e in check_members(&format!("{path}."), &members) {
                errors.push(e.field, e.reason);
            }
        }
        match desired.teams.iter_mut().find(|x| x.id == t.id) {
            Some(x) => {
                x.name = name;
                x.members = members;
            }
            None => desired.teams.push(TeamState {
                id: t.id.clone(),
                name,
                members,
            }),
        }
        kept_teams.push(t.id.clone());
    }
    if prune {
        desired.teams.retain(|t| kept_teams.contains(&t.id));
    }

    // Policies by what they serve.
    let mut policy_paths = HashMap::new();
    let mut seen = HashSet::new();
    let mut kept_policies = Vec::new();
    for (i, p) in doc.policies.iter().enumerate() {
        let path = format!("policies[{i}]");
        let name = text(&mut errors, format!("{path}.name"), &p.name, 100);
        let (tier, customer_id) = match (&p.tier, &p.customer) {
            (Some(t), None) => {
                if !current.tiers.iter().any(|x| &x.id == t) {
                    errors.push(format!("{path}.tier"), format!("unknown tier {t:?}"));
                }
                (Some(t.clone()), None)
            }
            (None, Some(c)) => match desired.customers.iter().find(|x| &x.name == c) {
                Some(x) => (None, Some(x.id.clone())),
                None => {
                    errors.push(
                        format!("{path}.customer"),
                        format!("no customer {c:?} in the file or the gateway"),
                    );
                    continue;
                }
            },
            _ => {
                errors.push(
                    format!("{path}.tier"),
                    "give exactly one of tier and customer",
                );
                continue;
            }
        };
        if !seen.insert((tier.clone(), customer_id.clone())) {
            errors.push(
                path.clone(),
                "another policy in the file serves the same tier or customer",
            );
            continue;
        }
        let mut steps = Vec::new();
        for (s, step) in p.steps.iter().enumerate() {
            let mut targets = Vec::new();
            for (t, target) in step.targets.iter().enumerate() {
                let at = format!("{path}.steps[{s}].targets[{t}]");
                let resolved = match target {
                    TargetDoc::AccountManager => Some(Target::AccountManager),
                    TargetDoc::SupportManagers => Some(Target::SupportManagers),
                    TargetDoc::ScheduleRole { role } => Some(Target::Schedule {
                        schedule: ScheduleRef::Role(role.clone()),
                    }),
                    TargetDoc::Schedule { schedule } => {
                        match desired.schedules.iter().find(|x| &x.name == schedule) {
                            Some(x) => Some(Target::Schedule {
                                schedule: ScheduleRef::Id(x.id.clone()),
                            }),
                            None => {
                                errors.push(
                                    format!("{at}.schedule"),
                                    format!("no schedule {schedule:?} in the file or the gateway"),
                                );
                                None
                            }
                        }
                    }
                    TargetDoc::TeamRoundRobin { team } => {
                        if desired.teams.iter().any(|x| &x.id == team) {
                            Some(Target::TeamRoundRobin { team: team.clone() })
                        } else {
                            errors.push(
                                format!("{at}.team"),
                                format!("no team {team:?} in the file or the gateway"),
                            );
                            None
                        }
                    }
                    TargetDoc::User { email } => match user_by_ref(&desired, email) {
                        Some(u) => Some(Target::User {
                            user_id: u.id.clone(),
                        }),
                        None => {
                            errors.push(
                                format!("{at}.email"),
                                format!("no user {email} in the file or the gateway"),
                            );
                            None
                        }
                    },
                };
                targets.extend(resolved);
            }
            steps.push(Step {
                targets,
                ack_timeout: minutes(step.ack_timeout_minutes),
            });
        }
        let policy = match EscalationPolicy::new(steps, p.repeat) {
            Ok(policy) => policy,
            Err(e) => {
                errors.push(format!("{path}.{}", e.field), e.reason);
                continue;
            }
        };
        let existing = desired
            .policies
            .iter()
            .position(|x| x.tier == tier && x.customer_id == customer_id);
        let id = match existing {
            Some(k) => {
                let x = &mut desired.policies[k];
                x.name = name;
                x.policy = policy;
                x.id.clone()
            }
            None => {
                let id = new_id();
                desired.policies.push(PolicyState {
                    id: id.clone(),
                    name,
                    tier,
                    customer_id,
                    policy,
                });
                id
            }
        };
        policy_paths.insert(id.clone(), path);
        kept_policies.push(id);
    }
    if prune {
        desired.policies.retain(|p| kept_policies.contains(&p.id));
    }
    // A policy the file keeps by not pruning may still name a schedule that went.
    for p in &desired.policies {
        for r in p.policy.schedule_refs() {
            if let ScheduleRef::Id(id) = r {
                if !desired.schedules.iter().any(|s| &s.id == id) {
                    let at = policy_paths
                        .get(&p.id)
                        .map_or("schedules".to_owned(), |x| format!("{x}.steps"));
                    errors.push(
                        at,
                        format!("policy {:?} pages a schedule that would be removed", p.name),
                    );
                }
            }
        }
        for (field, team) in p.policy.team_refs() {
            if !desired.teams.iter().any(|t| t.id == team) {
                let at = policy_paths
                    .get(&p.id)
                    .map_or("teams".to_owned(), |x| format!("{x}.{field}"));
                errors.push(
                    at,
                    format!(
                        "policy {:?} pages team {team:?}, which would be removed",
                        p.name
                    ),
                );
            }
        }
    }

    // Webhook endpoints by URL; the URL and events are checked by the admin route's rules
    // before the plan (they need the gateway's address policy).
    let mut seen = HashSet::new();
    let mut kept_webhooks = Vec::new();
    for (i, w) in doc.webhooks.iter().enumerate() {
        let path = format!("webhooks[{i}]");
        if !seen.insert(w.url.clone()) {
            errors.push(format!("{path}.url"), format!("{} appears twice", w.url));
            continue;
        }
        match representative(&desired.webhooks, &w.url) {
            Err(()) => errors.push(
                format!("{path}.url"),
                format!(
                    "the gateway has several enabled endpoints for {}; disable all but one first",
                    w.url
                ),
            ),
            Ok(Some(k)) => {
                let x = &mut desired.webhooks[k];
                x.events = w.events.clone();
                x.enabled = w.enabled;
                if w.secret.is_some() {
                    x.secret = w.secret.clone();
                }
                kept_webhooks.push(x.id.clone());
            }
            Ok(None) => {
                let id = new_id();
                desired.webhooks.push(WebhookState {
                    id: id.clone(),
                    url: w.url.clone(),
                    events: w.events.clone(),
                    enabled: w.enabled,
                    secret: w.secret.clone(),
                });
                kept_webhooks.push(id);
            }
        }
    }
    if prune {
        // Disabled endpoints stay as they are (with their delivery history).
        desired
            .webhooks
            .retain(|w| !w.enabled || kept_webhooks.contains(&w.id));
    }

    if !errors.0.is_empty() {
        return Err(errors.0);
    }
    let changes = diff(current, &desired, doc);
    Ok(Plan {
        desired,
        changes,
        policy_paths,
        tier_paths,
    })
}

/// The endpoint a URL names: the enabled one, else the newest disabled one; `Err` when several
/// endpoints for the URL are enabled (the admin route allows that; the file cannot say which).
fn representative(webhooks: &[WebhookState], url: &str) -> Result<Option<usize>, ()> {
    let matching: Vec<usize> = (0..webhooks.len())
        .filter(|&k| webhooks[k].url == url)
        .collect();
    let enabled: Vec<usize> = matching
        .iter()
        .copied()
        .filter(|&k| webhooks[k].enabled)
        .collect();
    match enabled.as_slice() {
        [k] => Ok(Some(*k)),
        [] => Ok(matching.last().copied()),
        _ => Err(()),
    }
}

fn same_email(u: &UserState, email: &str) -> bool {
    u.email
        .as_deref()
        .is_some_and(|e| e.eq_ignore_ascii_case(email))
}

/// A user by e-mail, or by `id:<id>` (how an export names a user who has no e-mail).
fn user_by_ref<'a>(state: &'a State, reference: &str) -> Option<&'a UserState> {
    match reference.strip_prefix("id:") {
        Some(id) => state.users.iter().find(|u| u.id == id),
        None => state.users.iter().find(|u| same_email(u, reference)),
    }
}

fn user_ref(state: &State, id: &str) -> String {
    match state.users.iter().find(|u| u.id == id) {
        Some(UserState {
            email: Some(email), ..
        }) => email.clone(),
        _ => format!("id:{id}"),
    }
}

/// The document for a state: what `export` prints, and the common form plans compare.
pub fn export(state: &State) -> Document {
    let customer_name = |id: &str| {
        state
            .customers
            .iter()
            .find(|c| c.id == id)
            .map_or_else(|| format!("id:{id}"), |c| c.name.clone())
    };
    let tiers = state
        .tiers
        .iter()
        .map(|t| TierDoc {
            id: t.id.clone(),
            sla: sla_doc(&t.sla),
        })
        .collect();
    let users = state
        .users
        .iter()
        .filter(|u| u.role != UserRole::Contact && u.email.is_some())
        .map(|u| UserDoc {
            email: u.email.clone().unwrap_or_default(),
            name: u.name.clone(),
            role: u.role,
        })
        .collect();
    let customers = state
        .customers
        .iter()
        .map(|c| CustomerDoc {
            name: c.name.clone(),
            tier: c.tier.clone(),
            account_manager: c
                .account_manager_id
                .as_deref()
                .map(|id| user_ref(state, id)),
        })
        .collect();
    let schedules = state
        .schedules
        .iter()
        .map(|s| ScheduleDoc {
            name: s.name.clone(),
            role: s.role.clone(),
            time_zone: s.schedule.time_zone().name().to_owned(),
            rotations: s
                .schedule
                .rotations()
                .iter()
                .map(|r| Rotation {
                    participants: r.participants.iter().map(|p| user_ref(state, p)).collect(),
                    ..r.clone()
                })
                .collect(),
        })
        .collect();
    let teams = state
        .teams
        .iter()
        .map(|t| TeamDoc {
            id: t.id.clone(),
            name: t.name.clone(),
            members: t.members.iter().map(|m| user_ref(state, m)).collect(),
        })
        .collect();
    let policies = state
        .policies
        .iter()
        .map(|p| PolicyDoc {
            name: p.name.clone(),
            tier: p.tier.clone(),
            customer: p.customer_id.as_deref().map(customer_name),
            repeat: p.policy.repeat(),
            steps: p
                .policy
                .steps()
                .iter()
                .map(|s| StepDoc {
                    ack_timeout_minutes: u32::try_from(s.ack_timeout.num_minutes()).unwrap_or(0),
                    targets: s.targets.iter().map(|t| target_doc(state, t)).collect(),
                })
                .collect(),
        })
        .collect();
    let mut webhooks: Vec<WebhookDoc> = Vec::new();
    for w in &state.webhooks {
        if webhooks.iter().any(|d| d.url == w.url) {
            continue;
        }
        let k = match representative(&state.webhooks, &w.url) {
            Ok(Some(k)) => k,
            // Several enabled: the newest of them.
            _ => (0..state.webhooks.len())
                .rev()
                .find(|&k| state.webhooks[k].url == w.url && state.webhooks[k].enabled)
                .unwrap_or_default(),
        };
        let r = &state.webhooks[k];
        webhooks.push(WebhookDoc {
            url: r.url.clone(),
            events: r.events.clone(),
            enabled: r.enabled,
            secret: None,
        });
    }
    Document {
        tiers,
        users,
        customers,
        schedules,
        teams,
        policies,
        webhooks,
    }
}

fn target_doc(state: &State, t: &Target) -> TargetDoc {
    match t {
        Target::AccountManager => TargetDoc::AccountManager,
        Target::SupportManagers => TargetDoc::SupportManagers,
        Target::TeamRoundRobin { team } => TargetDoc::TeamRoundRobin { team: team.clone() },
        Target::User { user_id } => TargetDoc::User {
            email: user_ref(state, user_id),
        },
        Target::Schedule {
            schedule: ScheduleRef::Role(role),
        } => TargetDoc::ScheduleRole { role: role.clone() },
        Target::Schedule {
            schedule: ScheduleRef::Id(id),
        } => TargetDoc::Schedule {
            schedule: state
                .schedules
                .iter()
                .find(|s| &s.id == id)
                .map_or_else(|| format!("id:{id}"), |s| s.name.clone()),
        },
    }
}

fn sla_doc(sla: &TierSla) -> SlaDoc {
    // The SLA's own wire form has these fields (and its name, which the tier id gives).
    let v = serde_json::to_value(sla).unwrap_or_default();
    let m = |k: &str| u32::try_from(v[k].as_u64().unwrap_or(0)).unwrap_or(0);
    SlaDoc {
        external_response_minutes: m("external_response_minutes"),
        internal_ack_minutes: m("internal_ack_minutes"),
        resolution_minutes: m("resolution_minutes"),
        coverage: serde_json::from_value(v["coverage"].clone()).unwrap_or(Coverage::Always),
        warn_at: serde_json::from_value(v["warn_at"].clone()).unwrap_or_default(),
    }
}

/// Compares the two states in document form, object by object, field by field.
fn diff(current: &State, desired: &State, doc: &Document) -> Vec<Change> {
    let before = export(current);
    let after = export(desired);
    let mut out = Vec::new();
    let path_of = |kind: &str, key: &str| -> Option<String> {
        let i = match kind {
            "tier" => doc.tiers.iter().position(|x| x.id == key),
            "user" => doc
                .users
                .iter()
                .position(|x| x.email.eq_ignore_ascii_case(key)),
            "customer" => doc.customers.iter().position(|x| x.name == key),
            "webhook" => doc.webhooks.iter().position(|x| x.url == key),
            "schedule" => doc.schedules.iter().position(|x| x.name == key),
            "team" => doc.teams.iter().position(|x| x.id == key),
            _ => doc.policies.iter().position(|x| policy_key(x) == key),
        }?;
        let list = match kind {
            "policy" => "policies".to_owned(),
            k => format!("{k}s"),
        };
        Some(format!("{list}[{i}]"))
    };
    let mut section = |kind: &'static str,
                       before: Vec<(String, Value)>,
                       after: Vec<(String, Value)>,
                       describe: &dyn Fn(&Value) -> String| {
        let old: BTreeMap<_, _> = before.into_iter().collect();
        let mut new_keys = HashSet::new();
        for (key, value) in &after {
            new_keys.insert(key.clone());
            match old.get(key) {
                None => out.push(Change {
                    op: '+',
                    kind,
                    key: key.clone(),
                    details: vec![describe(value)],
                    path: path_of(kind, key),
                }),
                Some(was) if was != value => {
                    let mut details = Vec::new();
                    field_diff("", was, value, &mut details);
                    out.push(Change {
                        op: '~',
                        kind,
                        key: key.clone(),
                        details,
                        path: path_of(kind, key),
                    });
                }
                Some(_) => {}
            }
        }
        for key in old.keys().filter(|k| !new_keys.contains(*k)) {
            out.push(Change {
                op: '-',
                kind,
                key: key.clone(),
                details: Vec::new(),
                path: None,
            });
        }
    };
    section(
        "tier",
        before
            .tiers
            .iter()
            .map(|t| (t.id.clone(), json(&t.sla)))
            .collect(),
        after
            .tiers
            .iter()
            .map(|t| (t.id.clone(), json(&t.sla)))
            .collect(),
        &|_| String::new(),
    );
    section(
        "user",
        before
            .users
            .iter()
            .map(|u| (u.email.clone(), json(u)))
            .collect(),
        after
            .users
            .iter()
            .map(|u| (u.email.clone(), json(u)))
            .collect(),
        &|v| format!("{}, {}", str_of(&v["name"]), str_of(&v["role"])),
    );
    section(
        "customer",
        before
            .customers
            .iter()
            .map(|c| (c.name.clone(), json(c)))
            .collect(),
        after
            .customers
            .iter()
            .map(|c| (c.name.clone(), json(c)))
            .collect(),
        &|v| str_of(&v["tier"]),
    );
    section(
        "schedule",
        before
            .schedules
            .iter()
            .map(|s| (s.name.clone(), json(s)))
            .collect(),
        after
            .schedules
            .iter()
            .map(|s| (s.name.clone(), json(s)))
            .collect(),
        &|v| {
            let n = v["rotations"].as_array().map_or(0, Vec::len);
            format!("{}, {n} rotation(s)", str_of(&v["time_zone"]))
        },
    );
    section(
        "team",
        before
            .teams
            .iter()
            .map(|t| (t.id.clone(), json(t)))
            .collect(),
        after
            .teams
            .iter()
            .map(|t| (t.id.clone(), json(t)))
            .collect(),
        &|v| {
            let n = v["members"].as_array().map_or(0, Vec::len);
            format!("{}, {n} member(s)", str_of(&v["name"]))
        },
    );
    section(
        "policy",
        before
            .policies
            .iter()
            .map(|p| (policy_key(p), json(p)))
            .collect(),
        after
            .policies
            .iter()
            .map(|p| (policy_key(p), json(p)))
            .collect(),
        &|v| {
            let n = v["steps"].as_array().map_or(0, Vec::len);
            format!("{}, {n} step(s)", str_of(&v["name"]))
        },
    );
    section(
        "webhook",
        before
            .webhooks
            .iter()
            .map(|w| (w.url.clone(), json(w)))
            .collect(),
        after
            .webhooks
            .iter()
            .map(|w| (w.url.clone(), json(w)))
            .collect(),
        &|v| {
            let events = show_value(&v["events"]);
            if v["enabled"] == Value::Bool(false) {
                format!("{events}, disabled")
            } else {
                events
            }
        },
    );
    // A provided secret that differs from the stored one (never shown, only named).
    for w in &desired.webhooks {
        let Some(was) = current.webhooks.iter().find(|c| c.id == w.id) else {
            continue;
        };
        if w.secret.is_some() && w.secret != was.secret {
            let detail = "secret replaced".to_owned();
            match out
                .iter_mut()
                .find(|c| c.op == '~' && c.kind == "webhook" && c.key == w.url)
            {
                Some(change) => change.details.push(detail),
                None => out.push(Change {
                    op: '~',
                    kind: "webhook",
                    key: w.url.clone(),
                    details: vec![detail],
                    path: path_of("webhook", &w.url),
                }),
            }
        }
    }
    out
}

fn json<T: Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or_default()
}

fn policy_key(p: &PolicyDoc) -> String {
    match (&p.tier, &p.customer) {
        (Some(t), _) => t.clone(),
        (None, Some(c)) => format!("customer {c}"),
        (None, None) => String::new(),
    }
}

fn str_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// "field a -> b" lines, recursing into objects and into arrays of one length; a policy's
/// step timeouts read "step 2 timeout 5 -> 3 min".
fn field_diff(path: &str, was: &Value, now: &Value, out: &mut Vec<String>) {
    match (was, now) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for k in keys {
                let sub = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                let null = Value::Null;
                let (x, y) = (a.get(k).unwrap_or(&null), b.get(k).unwrap_or(&null));
                if x != y {
                    field_diff(&sub, x, y, out);
                }
            }
        }
        (Value::Array(a), Value::Array(b))
            if a.len() == b.len() && a.iter().any(Value::is_object) =>
        {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                if x != y {
                    field_diff(&format!("{path}[{i}]"), x, y, out);
                }
            }
        }
        _ => out.push(describe_field(path, was, now)),
    }
}

/// A value in a plan line: a list of names as `a,b,c`.
fn show_value(v: &Value) -> String {
    match v {
        Value::Null => "none".to_owned(),
        Value::Array(items) if items.iter().all(Value::is_string) => {
            items.iter().map(str_of).collect::<Vec<_>>().join(",")
        }
        other => str_of(other),
    }
}

fn describe_field(path: &str, was: &Value, now: &Value) -> String {
    let show = show_value;
    if let Some(rest) = path.strip_prefix("steps[") {
        if let Some((n, field)) = rest.split_once("].") {
            if let Ok(n) = n.parse::<usize>() {
                if field == "ack_timeout_minutes" {
                    return format!("step {} timeout {} -> {} min", n + 1, show(was), show(now));
                }
                return format!("step {} {field} {} -> {}", n + 1, show(was), show(now));
            }
        }
    }
    format!("{path} {} -> {}", show(was), show(now))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gold() -> TierState {
        TierState {
            id: "gold".into(),
            sla: TierSla::gold(),
        }
    }

    fn doc(v: Value) -> Document {
        serde_json::from_value(v).unwrap()
    }

    fn sample() -> Document {
        doc(serde_json::json!({
            "users": [{"email": "ana@example.com", "name": "Ana", "role": "responder"}],
            "customers": [{"name": "Acme", "tier": "gold", "account_manager": "ana@example.com"}],
            "schedules": [{"name": "night", "role": "primary", "time_zone": "Europe/Paris",
                "rotations": [{"name": "r", "participants": ["ana@example.com"], "turn": "weekly",
                    "handoff_time": "09:00:00", "start_date": "2026-01-05"}]}],
            "policies": [{"name": "Gold", "tier": "gold", "steps": [
                {"ack_timeout_minutes": 5, "targets": [{"type": "schedule", "schedule": "night"}]}]}]
        }))
    }

    #[test]
    fn a_new_document_creates_and_a_second_plan_is_empty() {
        let current = State {
            tiers: vec![gold()],
            ..State::default()
        };
        let first = plan(&current, &sample(), false).unwrap();
        let lines: Vec<String> = first.changes.iter().flat_map(Change::lines).collect();
        assert!(
            lines.contains(&"+ customer Acme (gold)".to_owned()),
            "{lines:?}"
        );
        assert!(lines.contains(&"+ schedule night (Europe/Paris, 1 rotation(s))".to_owned()));
        let again = plan(&first.desired, &sample(), false).unwrap();
        assert!(again.changes.is_empty(), "{:?}", again.changes);
    }

    #[test]
    fn a_changed_timeout_reads_step_n_timeout() {
        let current = State {
            tiers: vec![gold()],
            ..State::default()
        };
        let first = plan(&current, &sample(), false).unwrap();
        let mut changed = sample();
        changed.policies[0].steps[0].ack_timeout_minutes = 3;
        let second = plan(&first.desired, &changed, false).unwrap();
        let lines: Vec<String> = second.changes.iter().flat_map(Change::lines).collect();
        assert_eq!(lines, vec!["~ policy gold: step 1 timeout 5 -> 3 min"]);
    }

    #[test]
    fn errors_name_the_path() {
        let current = State {
            tiers: vec![gold()],
            ..State::default()
        };
        let mut bad = sample();
        bad.policies[0].steps[0].targets = vec![TargetDoc::User {
            email: "nobody@example.com".into(),
        }];
        bad.customers[0].tier = "platinum".into();
        let errors = plan(&current, &bad, false).unwrap_err();
        let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
        assert!(paths.contains(&"customers[0].tier"), "{paths:?}");
        assert!(
            paths.contains(&"policies[0].steps[0].targets[0].email"),
            "{paths:?}"
        );
    }

    #[test]
    fn webhooks_diff_events_and_secrets_and_prune_disables() {
        let hook = |events: &[&str], secret: Option<&str>| WebhookDoc {
            url: "https://desk.example.com/in".into(),
            events: events.iter().map(|e| (*e).to_owned()).collect(),
            enabled: true,
            secret: secret.map(|s| SecretText(s.into())),
        };
        let with = |w: WebhookDoc| Document {
            webhooks: vec![w],
            ..Document::default()
        };
        let lines =
            |p: &Plan| -> Vec<String> { p.changes.iter().flat_map(Change::lines).collect() };
        let first = plan(&State::default(), &with(hook(&["a", "b"], None)), false).unwrap();
        assert_eq!(
            lines(&first),
            vec!["+ webhook https://desk.example.com/in (a,b)"]
        );
        assert_eq!(
            first.desired.webhooks[0].secret, None,
            "the store generates it"
        );
        let mut stored = first.desired.clone();
        stored.webhooks[0].secret = Some(SecretText("old".into()));

        let same = plan(&stored, &with(hook(&["a", "b"], Some("old"))), false).unwrap();
        assert!(same.changes.is_empty(), "{:?}", same.changes);
        let kept = plan(&stored, &with(hook(&["a", "b"], None)), false).unwrap();
        assert!(kept.changes.is_empty());
        assert_eq!(
            kept.desired.webhooks[0].secret,
            Some(SecretText("old".into()))
        );

        let both = plan(&stored, &with(hook(&["a", "b", "c"], Some("new"))), false).unwrap();
        assert_eq!(
            lines(&both),
            vec![
                "~ webhook https://desk.example.com/in: events a,b -> a,b,c",
                "~ webhook https://desk.example.com/in: secret replaced",
            ]
        );
        assert!(
            !format!("{both:?}").contains("new\""),
            "secrets are not in Debug"
        );

        let empty = Document::default();
        assert!(plan(&stored, &empty, false).unwrap().changes.is_empty());
        let pruned = plan(&stored, &empty, true).unwrap();
        assert_eq!(
            lines(&pruned),
            vec!["- webhook https://desk.example.com/in"]
        );
    }

    /// The sample with a team of Ana and Bo, paged round-robin by the Gold policy's 2nd step.
    fn with_team() -> Document {
        let mut d = sample();
        d.users.push(UserDoc {
            email: "bo@example.com".into(),
            name: "Bo".into(),
            role: UserRole::Responder,
        });
        d.teams.push(TeamDoc {
            id: "gold".into(),
            name: "Gold team".into(),
            members: vec!["ana@example.com".into(), "bo@example.com".into()],
        });
        d.policies[0].steps.push(StepDoc {
            ack_timeout_minutes: 5,
            targets: vec![TargetDoc::TeamRoundRobin {
                team: "gold".into(),
            }],
        });
        d
    }

    #[test]
    fn teams_are_planned_exported_and_referenced_by_id() {
        let current = State {
            tiers: vec![gold()],
            ..State::default()
        };
        let first = plan(&current, &with_team(), false).unwrap();
        let lines: Vec<String> = first.changes.iter().flat_map(Change::lines).collect();
        assert!(
            lines.contains(&"+ team gold (Gold team, 2 member(s))".to_owned()),
            "{lines:?}"
        );
        let exported = export(&first.desired);
        assert_eq!(
            exported.teams,
            with_team().teams,
            "members by e-mail, in order"
        );
        assert_eq!(
            exported.policies[0].steps[1].targets,
            [TargetDoc::TeamRoundRobin {
                team: "gold".into()
            }]
        );
        assert!(plan(&first.desired, &exported, false)
            .unwrap()
            .changes
            .is_empty());

        let mut reordered = with_team();
        reordered.teams[0].members.reverse();
        let second = plan(&first.desired, &reordered, false).unwrap();
        let lines: Vec<String> = second.changes.iter().flat_map(Change::lines).collect();
        assert_eq!(
            lines,
            ["~ team gold: members ana@example.com,bo@example.com -> bo@example.com,ana@example.com"]
        );
    }

    #[test]
    fn team_errors_name_the_path() {
        let current = State {
            tiers: vec![gold()],
            ..State::default()
        };
        let mut bad = with_team();
        bad.teams[0].members = vec![
            "ana@example.com".into(),
            "ANA@example.com".into(),
            "nobody@example.com".into(),
        ];
        bad.policies[0].steps[1].targets = vec![TargetDoc::TeamRoundRobin {
            team: "silver".into(),
        }];
        let errors = plan(&current, &bad, false).unwrap_err();
        let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
        assert!(paths.contains(&"teams[0].members[2]"), "{paths:?}");
        assert!(
            paths.contains(&"policies[0].steps[1].targets[0].team"),
            "{paths:?}"
        );
        bad.teams[0].members.pop();
        let errors = plan(&current, &bad, false).unwrap_err();
        assert_eq!(errors[0].path, "teams[0].members[1]");
        assert_eq!(errors[0].reason, "appears twice (also members[0])");
        let mut empty = with_team();
        empty.teams[0].members.clear();
        assert_eq!(
            plan(&current, &empty, false).unwrap_err()[0].path,
            "teams[0].members"
        );

        // Pruning a team a kept policy pages is refused.
        let applied = plan(&current, &with_team(), false).unwrap().desired;
        let mut without = with_team();
        without.teams.clear();
        without.policies.clear();
        assert!(plan(&applied, &without, true).is_ok(), "both go");
        let mut orphan = with_team();
        orphan.teams.clear();
        let errors = plan(&applied, &orphan, true).unwrap_err();
        assert_eq!(errors[0].path, "policies[0].steps[1].targets[0].team");
    }

    #[test]
    fn prune_removes_only_when_asked() {
        let current = State {
            tiers: vec![gold()],
            ..State::default()
        };
        let first = plan(&current, &sample(), false).unwrap();
        let mut smaller = sample();
        smaller.policies.clear();
        let kept = plan(&first.desired, &smaller, false).unwrap();
        assert!(kept.changes.is_empty());
        let pruned = plan(&first.desired, &smaller, true).unwrap();
        let lines: Vec<String> = pruned.changes.iter().flat_map(Change::lines).collect();
        assert_eq!(lines, vec!["- policy gold"]);
    }
}
