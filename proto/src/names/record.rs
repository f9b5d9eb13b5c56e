//! What a record on `OUTCOMES` is, carried in the message: in the
//! [`RECORD_TYPE`](super::header::RECORD_TYPE) header of a record alone, in
//! `record_type` of a bundled one.

use crate::wire;

use super::subject;

pub const ATTEMPT: &str = "attempt";
pub const DECISION: &str = "decision";
pub const FAN_OUT: &str = "fanout";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordType {
    /// A [`DeliveryAttempt`](crate::DeliveryAttempt).
    Attempt,
    /// A [`RetryDecision`](crate::RetryDecision).
    Decision,
    /// A [`FanOut`](crate::FanOut).
    FanOut,
}

impl RecordType {
    /// The header value.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordType::Attempt => ATTEMPT,
            RecordType::Decision => DECISION,
            RecordType::FanOut => FAN_OUT,
        }
    }

    /// The type a header value names, if it names one.
    pub fn parse(value: &str) -> Option<Self> {
        [
            RecordType::Attempt,
            RecordType::Decision,
            RecordType::FanOut,
        ]
        .into_iter()
        .find(|t| t.as_str() == value)
    }

    pub fn to_wire(self) -> wire::RecordType {
        match self {
            RecordType::Attempt => wire::RecordType::Attempt,
            RecordType::Decision => wire::RecordType::Decision,
            RecordType::FanOut => wire::RecordType::FanOut,
        }
    }

    /// `None` when unspecified (a record of an earlier release) or unknown.
    pub fn from_wire(value: i32) -> Option<Self> {
        match wire::RecordType::try_from(value) {
            Ok(wire::RecordType::Attempt) => Some(RecordType::Attempt),
            Ok(wire::RecordType::Decision) => Some(RecordType::Decision),
            Ok(wire::RecordType::FanOut) => Some(RecordType::FanOut),
            _ => None,
        }
    }

    /// The type of a record of an earlier release, which said it only by its
    /// subject's last tokens; anything else was an attempt.
    pub fn of_legacy_subject(outcome_subject: &str) -> Self {
        let last = outcome_subject.rsplit('.').next().unwrap_or_default();
        if subject::is_fan_out(outcome_subject) {
            RecordType::FanOut
        } else if last == subject::SCHEDULED || last == subject::EXHAUSTED {
            RecordType::Decision
        } else {
            RecordType::Attempt
        }
    }
}

#[cfg(test)]
mod tests {
    use super::RecordType;

    #[test]
    fn types_round_trip_through_the_header_and_the_wire() {
        for t in [
            RecordType::Attempt,
            RecordType::Decision,
            RecordType::FanOut,
        ] {
            assert_eq!(RecordType::parse(t.as_str()), Some(t));
            assert_eq!(RecordType::from_wire(t.to_wire() as i32), Some(t));
        }
        assert_eq!(RecordType::from_wire(0), None);
        assert_eq!(RecordType::parse("Attempt"), None);
    }

    #[test]
    fn legacy_records_are_told_by_their_subject() {
        let of = RecordType::of_legacy_subject;
        assert_eq!(of("outcomes.acme._fanout.pending"), RecordType::FanOut);
        assert_eq!(of("outcomes.acme.wh_1.scheduled"), RecordType::Decision);
        assert_eq!(of("outcomes.acme.wh_1.exhausted"), RecordType::Decision);
        assert_eq!(of("outcomes.acme.wh_1.failed"), RecordType::Attempt);
        assert_eq!(of("outcomes.acme.wh_1.succeeded"), RecordType::Attempt);
    }
}
