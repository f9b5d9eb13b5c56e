//! Event types (`job.completed`) and the patterns endpoints subscribe with
//! (`job.*`, `training.>`), with NATS subject-wildcard semantics.

use std::fmt;

const MAX_LEN: usize = 128;

/// An event type or pattern not of the form Herald takes; the text reads after
/// the value's name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most {MAX_LEN} characters")]
    TooLong,
    #[error("must not have empty parts between dots")]
    EmptyPart,
    #[error("part `{0}` may hold only letters, digits, `_` and `-`")]
    Part(String),
    #[error("part `{0}` may hold only letters, digits, `_` and `-`, or be `*` (or `>` at the end)")]
    PatternPart(String),
}

/// A dotted event type such as `job.completed`: tokens of letters, digits, `_` and `-`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EventType(String);

impl EventType {
    pub fn parse(value: &str) -> Result<Self, PatternError> {
        check_tokens(value, false)?;
        Ok(EventType(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An event type, or a pattern where `*` stands for one token and a final `>` for
/// one or more tokens.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EventPattern(String);

impl EventPattern {
    pub fn parse(value: &str) -> Result<Self, PatternError> {
        check_tokens(value, true)?;
        Ok(EventPattern(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `event_type` falls under this pattern.
    pub fn matches(&self, event_type: &str) -> bool {
        let mut pattern = self.0.split('.');
        let mut tokens = event_type.split('.');
        loop {
            match (pattern.next(), tokens.next()) {
                (Some(">"), Some(_)) => return true,
                (Some("*"), Some(_)) => {}
                (Some(p), Some(t)) if p == t => {}
                (None, None) => return true,
                _ => return false,
            }
        }
    }
}

impl fmt::Display for EventPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn check_tokens(value: &str, wildcards: bool) -> Result<(), PatternError> {
    if value.is_empty() {
        return Err(PatternError::Empty);
    }
    if value.len() > MAX_LEN {
        return Err(PatternError::TooLong);
    }
    let count = value.split('.').count();
    for (index, token) in value.split('.').enumerate() {
        let is_wildcard = token == "*" || (token == ">" && index + 1 == count);
        if wildcards && is_wildcard {
            continue;
        }
        if token.is_empty() {
            return Err(PatternError::EmptyPart);
        }
        if !token
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            let part = token.to_owned();
            return Err(if wildcards {
                PatternError::PatternPart(part)
            } else {
                PatternError::Part(part)
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(pattern: &str, event_type: &str) -> bool {
        EventPattern::parse(pattern).unwrap().matches(event_type)
    }

    #[test]
    fn wildcards_follow_nats_rules() {
        assert!(matches("job.*", "job.completed"));
        assert!(!matches("job.*", "job.training.completed"));
        assert!(!matches("job.*", "job"));
        assert!(matches("training.>", "training.progress"));
        assert!(matches("training.>", "training.epoch.done"));
        assert!(!matches("training.>", "training"));
        assert!(matches(">", "anything.at.all"));
        assert!(matches("job.completed", "job.completed"));
        assert!(!matches("job.completed", "vision.completed"));
        assert!(matches("*.completed", "vision.completed"));
    }

    #[test]
    fn rejects_malformed_types_and_patterns() {
        assert!(EventType::parse("job.*").is_err());
        assert!(EventType::parse("job..done").is_err());
        assert!(EventType::parse("job done").is_err());
        assert!(EventType::parse("").is_err());
        assert!(EventPattern::parse("job.>.x").is_err());
        assert!(EventPattern::parse("job.>").is_ok());
        assert!(EventPattern::parse("job.com*").is_err());
    }
}
