//! The state of a delivery, in the documented words the API shows, filters by and
//! the store keeps.

pub const PENDING: &str = "pending";
pub const SUCCESS: &str = "success";
pub const RETRYING: &str = "retrying";
pub const FAILED: &str = "failed";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryStatus {
    /// Fanned out, not attempted yet.
    Pending,
    Success,
    /// Failed; another attempt is scheduled.
    Retrying,
    /// Failed with no attempt left (or refused); retryable by hand.
    Failed,
}

impl DeliveryStatus {
    pub const ALL: [DeliveryStatus; 4] = [
        DeliveryStatus::Pending,
        DeliveryStatus::Success,
        DeliveryStatus::Retrying,
        DeliveryStatus::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => PENDING,
            DeliveryStatus::Success => SUCCESS,
            DeliveryStatus::Retrying => RETRYING,
            DeliveryStatus::Failed => FAILED,
        }
    }

    /// The status named `word`, if it is one.
    pub fn parse(word: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == word)
    }
}

impl std::fmt::Display for DeliveryStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::DeliveryStatus;

    #[test]
    fn every_status_parses_from_its_word() {
        for status in DeliveryStatus::ALL {
            assert_eq!(DeliveryStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(DeliveryStatus::parse("Success"), None);
    }
}
