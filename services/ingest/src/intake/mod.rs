//! The intake core: what accepting an event means, whichever way it came. It knows
//! nothing of HTTP or of NATS messages; `POST /v1/events` ([`crate::api`]) and the
//! `INGEST` consumer ([`crate::nats_intake`]) each decode what they received, call
//! [`Intake::accept`], and map its answer to their own terms.
//!
//! # Layout
//! - [`draft`]: reading what a producer sent (JSON or protobuf) into a [`Draft`], and
//!   the rules that make a draft an event.
//! - [`accept`]: [`Intake`], which validates a draft for a tenant (the catalogue
//!   included), remembers a job's callback and publishes the event, and
//!   [`IntakeError`], whose kinds each side maps (422 or parked; 503/500 or retried).
//! - [`callback`]: a job's own delivery target, and where callbacks and the tenant's
//!   callback secret are kept.
//! - [`target`]: the checks a delivery target's URL and headers pass, shared by
//!   webhooks and job callbacks.

pub mod accept;
pub mod callback;
pub mod draft;
pub mod target;

pub use accept::{Accepted, Intake, IntakeError, Source, validate};
pub use callback::{Buckets, CallbackInput};
pub use draft::{Draft, EventInput, Invalid, MAX_CALLBACK_BYTES, check_size, new_event_id};

/// How many characters of a client's own text an error message repeats.
const SHOWN_CHARS: usize = 64;

/// `text` as an error message repeats it: at most 64 characters, then `…`.
pub fn shown(text: &str) -> String {
    match text.char_indices().nth(SHOWN_CHARS) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_is_shortened_in_messages() {
        assert_eq!(shown("wh_1"), "wh_1");
        let long = "é".repeat(100);
        assert_eq!(shown(&long), format!("{}…", "é".repeat(SHOWN_CHARS)));
    }
}
