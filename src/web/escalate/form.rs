//! The escalation form's input and the cross-site check of its POST, as pure functions.
//!
//! The form asks only the P1 questions the configured definition depends on
//! ([`P1Definition::questions`]); an answer to a question it did not ask cannot change the
//! classification, so it is filled with a fixed value.

use std::collections::HashMap;

use crate::domain::p1_definition::{P1Answers, Question, UsersAffected};

pub use crate::store::escalation_links::SERVICE_MAX_CHARS;

/// What a submitted form says, once it is valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub answers: P1Answers,
    /// `None`: the ticket's subject stands for the service.
    pub affected_service: Option<String>,
}

/// One offending form field, by its `name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: &'static str,
    pub detail: String,
}

/// The submitted fields, first value of each name: what the form shows again on an error.
pub fn fields(body: &[u8]) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(body) {
        out.entry(k.into_owned()).or_insert_with(|| v.into_owned());
    }
    out
}

fn yes_no(
    fields: &HashMap<String, String>,
    q: Question,
    errors: &mut Vec<FieldError>,
) -> Option<bool> {
    match fields.get(q.field()).map(String::as_str) {
        Some("yes") => Some(true),
        Some("no") => Some(false),
        _ => {
            errors.push(FieldError {
                field: q.field(),
                detail: "choose yes or no".into(),
            });
            None
        }
    }
}

/// Checks the submitted `fields` against the questions the form asked.
pub fn parse(
    fields: &HashMap<String, String>,
    asked: &[Question],
) -> Result<Answer, Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut answers = P1Answers {
        production_down: false,
        users_affected: UsersAffected::One,
        workaround_available: true,
    };
    for q in asked {
        match q {
            Question::ProductionDown => {
                if let Some(v) = yes_no(fields, *q, &mut errors) {
                    answers.production_down = v;
                }
            }
            Question::WorkaroundAvailable => {
                if let Some(v) = yes_no(fields, *q, &mut errors) {
                    answers.workaround_available = v;
                }
            }
            Question::UsersAffected => {
                match fields.get(q.field()).and_then(|v| UsersAffected::parse(v)) {
                    Some(u) => answers.users_affected = u,
                    None => errors.push(FieldError {
                        field: q.field(),
                        detail: "choose how many users are affected".into(),
                    }),
                }
            }
        }
    }
    let service = fields
        .get("affected_service")
        .map(|s| s.trim())
        .filter(|s| !s.is_empty());
    if let Some(s) = service {
        if s.chars().count() > SERVICE_MAX_CHARS {
            errors.push(FieldError {
                field: "affected_service",
                detail: format!("must be at most {SERVICE_MAX_CHARS} characters"),
            });
        } else if s.chars().any(char::is_control) {
            errors.push(FieldError {
                field: "affected_service",
                detail: "must be one line of text".into(),
            });
        }
    }
    if errors.is_empty() {
        Ok(Answer {
            answers,
            affected_service: service.map(str::to_owned),
        })
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Question; 3] = [
        Question::ProductionDown,
        Question::UsersAffected,
        Question::WorkaroundAvailable,
    ];

    #[test]
    fn a_complete_form_is_the_answers() {
        let f = fields(
            b"production_down=no&users_affected=all&workaround_available=no&affected_service=+EU+checkout+",
        );
        let a = parse(&f, &ALL).unwrap();
        assert_eq!(
            a.answers,
            P1Answers {
                production_down: false,
                users_affected: UsersAffected::All,
                workaround_available: false,
            }
        );
        assert_eq!(a.affected_service.as_deref(), Some("EU checkout"));
    }

    #[test]
    fn every_missing_or_wrong_field_is_named() {
        let long = "x".repeat(101);
        let f = fields(format!("production_down=maybe&affected_service={long}").as_bytes());
        let errors = parse(&f, &ALL).unwrap_err();
        let named: Vec<_> = errors.iter().map(|e| e.field).collect();
        assert_eq!(
            named,
            [
                "production_down",
                "users_affected",
                "workaround_available",
                "affected_service"
            ]
        );
    }

    #[test]
    fn questions_not_asked_are_not_required() {
        let f = fields(b"users_affected=most");
        let a = parse(&f, &[Question::UsersAffected]).unwrap();
        assert_eq!(a.answers.users_affected, UsersAffected::Most);
        assert_eq!(a.affected_service, None);
    }
}
