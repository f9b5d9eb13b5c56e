//! The event types Herald sends itself, always declared in the catalogue.

use crate::EventType;

/// A test delivery asked for through the API.
pub const WEBHOOK_TEST: &str = "webhook.test";
/// A webhook was disabled.
pub const WEBHOOK_DISABLED: &str = "webhook.disabled";

/// Every built-in type with its description for the catalogue.
pub const BUILT_IN: &[(&str, &str)] = &[
    (WEBHOOK_TEST, "A test delivery asked for through the API."),
    (
        WEBHOOK_DISABLED,
        "A webhook was disabled after its deliveries kept failing or it answered 410 Gone.",
    ),
];

/// `name`, one of the constants above, as an [`EventType`].
pub fn built_in(name: &'static str) -> EventType {
    EventType::parse(name).expect("built-in event types are valid")
}

#[cfg(test)]
mod tests {
    #[test]
    fn built_in_types_are_valid() {
        for (name, _) in super::BUILT_IN {
            assert_eq!(super::built_in(name).as_str(), *name);
        }
    }
}
