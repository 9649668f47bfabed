//! Field checks shared by every request type, collecting all failures so one 422 names every
//! offending field at once.

use super::problem::{FieldError, Problem};

#[derive(Debug, Default)]
pub struct Validator {
    errors: Vec<FieldError>,
}

impl Validator {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn error(&mut self, field: &str, detail: impl Into<String>) {
        self.errors.push(FieldError::new(field, detail));
    }

    /// Required text: trimmed, 1..=`max` characters, no control characters.
    pub fn text(&mut self, field: &str, value: &str, max: usize) -> String {
        let trimmed = value.trim();
        if trimmed.is_empty() {
            self.error(field, "must not be empty");
        } else if trimmed.chars().count() > max {
            self.error(field, format!("must be at most {max} characters"));
        } else if trimmed
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t')
        {
            self.error(field, "must not contain control characters");
        }
        trimmed.to_owned()
    }

    /// Optional text: absent or blank becomes `None`, otherwise as [`Validator::text`].
    pub fn optional_text(
        &mut self,
        field: &str,
        value: Option<&str>,
        max: usize,
    ) -> Option<String> {
        match value.map(str::trim) {
            None | Some("") => None,
            Some(v) => Some(self.text(field, v, max)),
        }
    }

    /// An opaque token (push token, id): 1..=`max` visible ASCII characters.
    pub fn token(&mut self, field: &str, value: &str, max: usize) -> String {
        if value.is_empty() || value.len() > max || !value.bytes().all(|b| b.is_ascii_graphic()) {
            self.error(
                field,
                format!("must be 1 to {max} visible ASCII characters"),
            );
        }
        value.to_owned()
    }

    pub fn finish(self) -> Result<(), Problem> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(Problem::validation(self.errors))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collects_every_failure() {
        let mut v = Validator::new();
        assert_eq!(v.text("name", "  ok  ", 10), "ok");
        v.text("summary", "   ", 10);
        v.text("title", "far too long", 5);
        v.text("detail", "bell\u{7}", 10);
        v.token("push_token", "has space", 100);
        assert_eq!(v.optional_text("email", Some(" "), 10), None);
        let p = v.finish().unwrap_err();
        let fields: Vec<_> = p.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["summary", "title", "detail", "push_token"]);
    }
}
