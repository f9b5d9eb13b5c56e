//! Request/reply of a listening session (`herald listen`): the dispatcher sends
//! each delivery to `herald.listen.<tenant>.<session_id>` as a [`ListenRequest`]
//! (exactly the headers and body of the HTTP request it stands for); ingest relays
//! it to the session's CLI and sends the CLI's [`ListenReply`] back. The messages
//! are the wire types themselves: they never leave Herald.

pub use crate::names::subject::listen as subject;
pub use crate::wire::{ListenReply, ListenRequest};

/// Bytes of a local answer's body kept in a reply, as of an HTTP attempt.
pub const EXCERPT_BYTES: usize = 4096;
