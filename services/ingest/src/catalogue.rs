//! The event-type catalogue: the platform's event types — name, description,
//! optional JSON Schema for `data`, optional example — from the YAML or JSON file
//! named by `HERALD_EVENT_TYPES`. With a catalogue, webhooks may subscribe only to
//! patterns that match a declared type, and events must be of a declared type with
//! `data` that passes its schema. Without one, every type is accepted.

use std::path::Path;

use herald_proto::{EventPattern, EventType};
use serde::Deserialize;
use serde_json::Value;

/// Types Herald itself sends; always declared.
use herald_proto::names::event_type::BUILT_IN;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    event_types: Vec<Entry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    name: String,
    #[serde(default)]
    description: String,
    schema: Option<Value>,
    example: Option<Value>,
}

struct Declared {
    name: EventType,
    description: String,
    schema: Option<Value>,
    example: Option<Value>,
    validator: Option<jsonschema::Validator>,
}

pub struct Catalogue {
    types: Vec<Declared>,
}

/// Why a catalogue file cannot be used; names the entry at fault.
#[derive(Debug, thiserror::Error)]
pub enum CatalogueError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("is not a valid catalogue: {0}")]
    Syntax(#[from] serde_yaml_ng::Error),
    #[error("event type `{name}` {reason}")]
    BadName { name: String, reason: String },
    #[error("event type `{0}` is declared twice")]
    Twice(EventType),
    #[error("the schema of `{name}` is not a valid JSON Schema: {reason}")]
    BadSchema { name: EventType, reason: String },
    #[error("the example of `{name}` fails its schema: {reason}")]
    BadExample { name: EventType, reason: String },
}

/// A webhook's `events` entry that matches no declared type.
#[derive(Debug, thiserror::Error)]
#[error("events entry `{0}` matches no event type in the catalogue (GET /v1/event-types)")]
pub struct Unmatched(pub EventPattern);

/// Why an event does not fit the catalogue; fit to show the producer.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error("event_type `{0}` is not in the catalogue (GET /v1/event-types)")]
    Undeclared(EventType),
    #[error("data is not valid JSON: {0}")]
    NotJson(#[from] serde_json::Error),
    #[error("data does not match the schema of `{event_type}` at {at}: {reason}")]
    Schema {
        event_type: EventType,
        /// The JSON pointer of the value at fault, `/` for the whole.
        at: String,
        reason: String,
    },
}

impl std::fmt::Debug for Catalogue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catalogue")
            .field("types", &self.types.len())
            .finish()
    }
}

impl Catalogue {
    /// Reads and checks a catalogue file (YAML, of which JSON is a subset).
    pub fn load(path: &Path) -> Result<Self, CatalogueError> {
        let text = std::fs::read_to_string(path).map_err(|source| CatalogueError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text)
    }

    pub fn parse(text: &str) -> Result<Self, CatalogueError> {
        let file: File = serde_yaml_ng::from_str(text)?;
        let mut types = Vec::new();
        for entry in file.event_types {
            let name = EventType::parse(&entry.name).map_err(|reason| CatalogueError::BadName {
                name: entry.name.clone(),
                reason: reason.to_string(),
            })?;
            if types.iter().any(|t: &Declared| t.name == name) {
                return Err(CatalogueError::Twice(name));
            }
            let validator = entry
                .schema
                .as_ref()
                .map(|schema| {
                    jsonschema::validator_for(schema).map_err(|e| CatalogueError::BadSchema {
                        name: name.clone(),
                        reason: e.to_string(),
                    })
                })
                .transpose()?;
            if let (Some(validator), Some(example)) = (&validator, &entry.example)
                && let Err(error) = validator.validate(example)
            {
                return Err(CatalogueError::BadExample {
                    name,
                    reason: error.to_string(),
                });
            }
            types.push(Declared {
                name,
                description: entry.description,
                schema: entry.schema,
                example: entry.example,
                validator,
            });
        }
        for (name, description) in BUILT_IN {
            let name = EventType::parse(name).expect("valid built-in type");
            if !types.iter().any(|t| t.name == name) {
                types.push(Declared {
                    name,
                    description: (*description).to_owned(),
                    schema: None,
                    example: None,
                    validator: None,
                });
            }
        }
        Ok(Catalogue { types })
    }

    /// A webhook's `events` entry must match at least one declared type.
    pub fn check_pattern(&self, pattern: &EventPattern) -> Result<(), Unmatched> {
        if self.types.iter().any(|t| pattern.matches(t.name.as_str())) {
            Ok(())
        } else {
            Err(Unmatched(pattern.clone()))
        }
    }

    /// An event must be of a declared type, with `data` that passes its schema.
    pub fn check_event(&self, event_type: &EventType, data: &[u8]) -> Result<(), Refused> {
        let declared = self
            .types
            .iter()
            .find(|t| &t.name == event_type)
            .ok_or_else(|| Refused::Undeclared(event_type.clone()))?;
        let Some(validator) = &declared.validator else {
            return Ok(());
        };
        let value: Value = serde_json::from_slice(data)?;
        match validator.validate(&value) {
            Ok(()) => Ok(()),
            Err(error) => {
                let at = error.instance_path().to_string();
                let at = if at.is_empty() { "/".to_owned() } else { at };
                Err(Refused::Schema {
                    event_type: event_type.clone(),
                    at,
                    reason: error.to_string(),
                })
            }
        }
    }

    /// The catalogue as `GET /v1/event-types` shows it.
    pub fn list(&self) -> herald_model::EventTypes {
        let event_types = self
            .types
            .iter()
            .map(|t| herald_model::EventTypeInfo {
                name: t.name.as_str().to_owned(),
                description: t.description.clone(),
                schema: t.schema.clone(),
                example: t.example.clone(),
            })
            .collect();
        herald_model::EventTypes { event_types }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CATALOGUE: &str = r#"
event_types:
  - name: job.completed
    description: A job finished.
    schema:
      type: object
      required: [job_id]
      properties:
        job_id: {type: string}
    example: {job_id: "job_1"}
  - name: training.progress
"#;

    #[test]
    fn declared_types_gate_patterns_and_events() {
        let catalogue = Catalogue::parse(CATALOGUE).unwrap();
        let pattern = |p| EventPattern::parse(p).unwrap();
        assert!(catalogue.check_pattern(&pattern("job.*")).is_ok());
        assert!(catalogue.check_pattern(&pattern("training.>")).is_ok());
        assert!(
            catalogue.check_pattern(&pattern("webhook.*")).is_ok(),
            "built-in types"
        );
        let err = catalogue.check_pattern(&pattern("vision.*")).unwrap_err();
        assert!(err.to_string().contains("`vision.*`"), "{err}");

        let completed = EventType::parse("job.completed").unwrap();
        assert!(
            catalogue
                .check_event(&completed, br#"{"job_id":"j"}"#)
                .is_ok()
        );
        let err = catalogue
            .check_event(&completed, br#"{"job_id":7}"#)
            .unwrap_err();
        assert!(err.to_string().contains("at /job_id"), "{err}");
        let unknown = EventType::parse("vision.done").unwrap();
        assert!(catalogue.check_event(&unknown, b"{}").is_err());
        let progress = EventType::parse("training.progress").unwrap();
        assert!(
            catalogue.check_event(&progress, b"[1]").is_ok(),
            "no schema, any data"
        );
    }

    #[test]
    fn bad_catalogues_are_refused() {
        assert!(Catalogue::parse("event_types: [{name: 'a b'}]").is_err());
        assert!(Catalogue::parse("event_types: [{name: a}, {name: a}]").is_err());
        assert!(Catalogue::parse("event_types: [{name: a, schema: {type: 12}}]").is_err());
        assert!(
            Catalogue::parse("event_types: [{name: a, schema: {type: string}, example: 1}]")
                .is_err()
        );
        assert!(Catalogue::parse("nothing: here").is_err());
    }
}

#[cfg(test)]
mod shipped {
    /// The example catalogue in `deploy/k8s/components/event-types/` loads, examples included.
    #[test]
    fn the_example_catalogue_is_valid() {
        let text = include_str!("../../../deploy/k8s/components/event-types/event-types.yaml");
        let catalogue = super::Catalogue::parse(text).unwrap();
        let listed = catalogue.list();
        let names: Vec<&str> = listed.event_types.iter().map(|t| t.name.as_str()).collect();
        for expected in [
            "job.completed",
            "training.progress",
            "batch.progress",
            "inference.completed",
            "webhook.disabled",
        ] {
            assert!(names.contains(&expected), "{expected}");
        }
    }
}
