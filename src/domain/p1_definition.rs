//! The written P1 definition, as configuration, and the classification of a panic press
//! against it.
//!
//! Pressing the button does not make something P1 by itself. The customer answers three
//! questions (is production down, how many users are affected, is there a workaround); the
//! definition is a list of rules, and the press is P1 when any rule holds. A rule holds when
//! every condition it states holds. When no rule holds, the press becomes a P2 ticket and the
//! customer is told, per rule, which criteria were not met, in words a customer understands.

use serde::{Deserialize, Serialize};

use super::priority::Priority;

/// How many of the customer's users an incident affects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UsersAffected {
    One,
    Some,
    Most,
    All,
}

impl UsersAffected {
    /// Every answer, smallest first: the choices a form offers.
    pub const ALL: [UsersAffected; 4] = [
        UsersAffected::One,
        UsersAffected::Some,
        UsersAffected::Most,
        UsersAffected::All,
    ];

    /// The wire name (`one`, `some`, …), as the JSON body and a form field carry it.
    pub fn as_str(self) -> &'static str {
        match self {
            UsersAffected::One => "one",
            UsersAffected::Some => "some",
            UsersAffected::Most => "most",
            UsersAffected::All => "all",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|u| u.as_str() == s)
    }

    pub fn words(self) -> &'static str {
        match self {
            UsersAffected::One => "one user",
            UsersAffected::Some => "some users",
            UsersAffected::Most => "most users",
            UsersAffected::All => "all users",
        }
    }
}

/// The customer's answers to the P1 questions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct P1Answers {
    pub production_down: bool,
    pub users_affected: UsersAffected,
    pub workaround_available: bool,
}

/// One way to qualify as P1. Absent conditions do not matter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct P1Rule {
    /// Shown to customers, e.g. "Production is down".
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub production_down: Option<bool>,
    /// The rule holds when the answer is one of these.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub users_affected: Option<Vec<UsersAffected>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workaround_available: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct P1Definition {
    pub rules: Vec<P1Rule>,
}

impl Default for P1Definition {
    /// Production down, or all users affected with no workaround.
    fn default() -> Self {
        Self {
            rules: vec![
                P1Rule {
                    name: "Production is down".into(),
                    production_down: Some(true),
                    users_affected: None,
                    workaround_available: None,
                },
                P1Rule {
                    name: "All users are affected and there is no workaround".into(),
                    production_down: None,
                    users_affected: Some(vec![UsersAffected::All]),
                    workaround_available: Some(false),
                },
            ],
        }
    }
}

/// The outcome of classifying a press.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Classification {
    pub priority: Priority,
    /// The rule that made it P1.
    pub matched_rule: Option<String>,
    /// When not P1: per rule, what was not met.
    pub unmet_criteria: Vec<String>,
}

impl Classification {
    pub fn is_p1(&self) -> bool {
        self.priority == Priority::P1
    }

    /// A sentence for the customer.
    pub fn explanation(&self) -> String {
        match &self.matched_rule {
            Some(rule) => format!("Classified P1: {rule}."),
            None => format!(
                "Filed as a P2 ticket, and nobody is being paged: this does not meet the P1 \
                 definition. {} If the situation gets worse, press the button again with updated \
                 answers.",
                self.unmet_criteria.join(" ")
            ),
        }
    }
}

/// One of the P1 questions, as a form asks it. The app asks all three; a form built from the
/// definition asks only those some rule depends on (see [`P1Definition::questions`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Question {
    ProductionDown,
    UsersAffected,
    WorkaroundAvailable,
}

impl Question {
    /// The answer's field name in [`P1Answers`] (and in a form).
    pub fn field(self) -> &'static str {
        match self {
            Question::ProductionDown => "production_down",
            Question::UsersAffected => "users_affected",
            Question::WorkaroundAvailable => "workaround_available",
        }
    }

    /// The question in a customer's words.
    pub fn text(self) -> &'static str {
        match self {
            Question::ProductionDown => "Is your production system down?",
            Question::UsersAffected => "How many of your users are affected?",
            Question::WorkaroundAvailable => "Is there a workaround your users can use meanwhile?",
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DefinitionError {
    #[error("`p1.rules`: at least one rule is needed")]
    NoRules,
    #[error("`p1.rules[{0}].name`: must not be empty")]
    UnnamedRule(usize),
    #[error("`p1.rules[{0}]`: a rule needs at least one condition, or everything would be P1")]
    EmptyRule(usize),
    #[error("`p1.rules[{0}].users_affected`: must list at least one value")]
    EmptyUsersAffected(usize),
}

impl P1Definition {
    pub fn validate(&self) -> Result<(), DefinitionError> {
        if self.rules.is_empty() {
            return Err(DefinitionError::NoRules);
        }
        for (i, rule) in self.rules.iter().enumerate() {
            if rule.name.trim().is_empty() {
                return Err(DefinitionError::UnnamedRule(i));
            }
            if rule.production_down.is_none()
                && rule.users_affected.is_none()
                && rule.workaround_available.is_none()
            {
                return Err(DefinitionError::EmptyRule(i));
            }
            if rule.users_affected.as_ref().is_some_and(|v| v.is_empty()) {
                return Err(DefinitionError::EmptyUsersAffected(i));
            }
        }
        Ok(())
    }

    /// The questions some rule depends on, in the app's order. An answer to any other question
    /// cannot change the classification, so a form need not ask it.
    pub fn questions(&self) -> Vec<Question> {
        let asks = |q: Question| {
            self.rules.iter().any(|r| match q {
                Question::ProductionDown => r.production_down.is_some(),
                Question::UsersAffected => r.users_affected.is_some(),
                Question::WorkaroundAvailable => r.workaround_available.is_some(),
            })
        };
        [
            Question::ProductionDown,
            Question::UsersAffected,
            Question::WorkaroundAvailable,
        ]
        .into_iter()
        .filter(|q| asks(*q))
        .collect()
    }

    pub fn classify(&self, answers: &P1Answers) -> Classification {
        let mut unmet = Vec::new();
        for rule in &self.rules {
            let misses = rule.misses(answers);
            if misses.is_empty() {
                return Classification {
                    priority: Priority::P1,
                    matched_rule: Some(rule.name.clone()),
                    unmet_criteria: Vec::new(),
                };
            }
            unmet.push(format!("{}: {}.", rule.name, misses.join("; ")));
        }
        Classification {
            priority: Priority::P2,
            matched_rule: None,
            unmet_criteria: unmet,
        }
    }
}

impl P1Rule {
    /// What this rule needs, in words, e.g. `["production is down"]`.
    pub fn conditions(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(down) = self.production_down {
            out.push(
                if down {
                    "production is down"
                } else {
                    "production is not down"
                }
                .to_owned(),
            );
        }
        if let Some(allowed) = &self.users_affected {
            let words: Vec<&str> = allowed.iter().map(|u| u.words()).collect();
            out.push(format!("{} affected", words.join(" or ")));
        }
        if let Some(workaround) = self.workaround_available {
            out.push(
                if workaround {
                    "a workaround exists"
                } else {
                    "there is no workaround"
                }
                .to_owned(),
            );
        }
        out
    }

    /// The conditions of this rule the answers do not meet, in words.
    fn misses(&self, a: &P1Answers) -> Vec<String> {
        let mut misses = Vec::new();
        if let Some(want) = self.production_down {
            if a.production_down != want {
                misses.push(if want {
                    "you told us production is not down".to_owned()
                } else {
                    "you told us production is down".to_owned()
                });
            }
        }
        if let Some(allowed) = &self.users_affected {
            if !allowed.contains(&a.users_affected) {
                let wanted: Vec<&str> = allowed.iter().map(|u| u.words()).collect();
                misses.push(format!(
                    "you told us {} {} affected, and this needs {}",
                    a.users_affected.words(),
                    if a.users_affected == UsersAffected::One {
                        "is"
                    } else {
                        "are"
                    },
                    wanted.join(" or ")
                ));
            }
        }
        if let Some(want) = self.workaround_available {
            if a.workaround_available != want {
                misses.push(if want {
                    "you told us there is no workaround".to_owned()
                } else {
                    "you told us a workaround exists".to_owned()
                });
            }
        }
        misses
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answers(down: bool, users: UsersAffected, workaround: bool) -> P1Answers {
        P1Answers {
            production_down: down,
            users_affected: users,
            workaround_available: workaround,
        }
    }

    #[test]
    fn default_definition_production_down_is_p1() {
        let c = P1Definition::default().classify(&answers(true, UsersAffected::One, true));
        assert!(c.is_p1());
        assert_eq!(c.matched_rule.as_deref(), Some("Production is down"));
        assert!(c.unmet_criteria.is_empty());
    }

    #[test]
    fn default_definition_all_users_without_workaround_is_p1() {
        let c = P1Definition::default().classify(&answers(false, UsersAffected::All, false));
        assert!(c.is_p1());
        assert_eq!(
            c.matched_rule.as_deref(),
            Some("All users are affected and there is no workaround")
        );
    }

    #[test]
    fn not_p1_explains_every_unmet_criterion() {
        let c = P1Definition::default().classify(&answers(false, UsersAffected::Some, true));
        assert_eq!(c.priority, Priority::P2);
        assert_eq!(
            c.unmet_criteria,
            vec![
                "Production is down: you told us production is not down.".to_owned(),
                "All users are affected and there is no workaround: you told us some users are \
                 affected, and this needs all users; you told us a workaround exists."
                    .to_owned(),
            ]
        );
        assert!(c.explanation().contains("nobody is being paged"));
    }

    #[test]
    fn all_users_with_workaround_is_not_p1() {
        let c = P1Definition::default().classify(&answers(false, UsersAffected::All, true));
        assert_eq!(c.priority, Priority::P2);
        assert!(c.unmet_criteria[1].contains("a workaround exists"));
        assert!(!c.unmet_criteria[1].contains("you told us all users"));
    }

    #[test]
    fn custom_rules_from_toml() {
        let def: P1Definition = serde_json::from_value(serde_json::json!({
            "rules": [{ "name": "Most or all users", "users_affected": ["most", "all"] }]
        }))
        .unwrap();
        def.validate().unwrap();
        assert!(def
            .classify(&answers(false, UsersAffected::Most, true))
            .is_p1());
        let c = def.classify(&answers(true, UsersAffected::One, false));
        assert!(!c.is_p1());
        assert!(c.unmet_criteria[0]
            .contains("one user is affected, and this needs most users or all users"));
    }

    #[test]
    fn a_form_asks_only_what_some_rule_depends_on() {
        assert_eq!(
            P1Definition::default().questions(),
            vec![
                Question::ProductionDown,
                Question::UsersAffected,
                Question::WorkaroundAvailable
            ]
        );
        let def: P1Definition = serde_json::from_value(serde_json::json!({
            "rules": [{ "name": "Most or all users", "users_affected": ["most", "all"] }]
        }))
        .unwrap();
        assert_eq!(def.questions(), vec![Question::UsersAffected]);
        assert_eq!(
            def.rules[0].conditions(),
            vec!["most users or all users affected"]
        );
        assert_eq!(
            P1Definition::default().rules[1].conditions(),
            vec!["all users affected", "there is no workaround"]
        );
        for u in UsersAffected::ALL {
            assert_eq!(UsersAffected::parse(u.as_str()), Some(u));
            assert_eq!(serde_json::to_value(u).unwrap(), u.as_str());
        }
        assert_eq!(UsersAffected::parse("everyone"), None);
    }

    #[test]
    fn validation_names_the_rule() {
        assert_eq!(
            P1Definition { rules: vec![] }.validate(),
            Err(DefinitionError::NoRules)
        );
        let def = P1Definition {
            rules: vec![P1Rule {
                name: "Anything".into(),
                production_down: None,
                users_affected: None,
                workaround_available: None,
            }],
        };
        assert_eq!(def.validate(), Err(DefinitionError::EmptyRule(0)));
        assert!(def
            .validate()
            .unwrap_err()
            .to_string()
            .contains("p1.rules[0]"));
    }
}
