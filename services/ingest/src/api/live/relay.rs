//! One live stream's plumbing. A task reads the stream's NATS subscriptions as
//! messages come and forwards them into a small buffer, so nothing piles up in the
//! NATS client behind a client that reads slowly. A client that falls a whole
//! buffer behind is let go: the task drops the subscriptions, and the stream sends
//! what the buffer holds and ends with a comment saying why. When the service
//! drains, every stream ends at once with a `shutdown` event.
//!
//! What one stream holds is therefore bounded: its buffer (`HERALD_STREAM_BUFFER`
//! events, `HERALD_STREAM_BUFFER_BYTES` bytes), what hyper has taken to write
//! (about 400 KiB plus one event) and the socket's send buffer, which is the
//! kernel's.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use async_nats::Message;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::stream::{self, Stream, StreamExt};
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::api::limits::StreamSlot;
use crate::config::Limits;

/// The comment a stream ends with when its client fell a whole buffer behind.
pub const FELL_BEHIND: &str = "closed: the client did not keep up";

/// What to do with one message.
pub enum Step {
    Skip,
    Send(Frame),
    /// Send, and end the stream after it.
    Last(Frame),
}

/// One event ready to send, with its size for the buffer's byte budget.
pub struct Frame {
    event: SseEvent,
    bytes: usize,
}

impl Frame {
    pub fn new(name: &str, id: Option<&str>, data: &str) -> Self {
        let mut event = SseEvent::default();
        if let Some(id) = id {
            event = event.id(id);
        }
        let event = event.event(name).data(data);
        // `event: `, `id: `, `data: ` and the line ends.
        let bytes = name.len() + id.map_or(0, str::len) + data.len() + 24;
        Frame { event, bytes }
    }

    pub fn into_event(self) -> SseEvent {
        self.event
    }
}

/// How the forwarding task ended.
enum Ending {
    /// The subscriptions ended, or the last event was sent.
    Finished,
    /// The buffer was full.
    FellBehind,
    /// The stream was dropped: the client went away, or the service is draining.
    Dropped,
}

/// A running forwarder: the buffer's receiving end, and how the task ended.
pub struct Relay {
    buffer: mpsc::Receiver<(SseEvent, OwnedSemaphorePermit)>,
    ended: JoinHandle<Ending>,
}

impl Relay {
    /// Starts forwarding `messages`, turned into events by `step`, into a buffer
    /// of the configured size.
    pub fn start<S, F>(messages: S, limits: &Limits, step: F) -> Self
    where
        S: Stream<Item = Message> + Send + Unpin + 'static,
        F: FnMut(Message) -> Step + Send + 'static,
    {
        let (sender, buffer) = mpsc::channel(limits.stream_buffer);
        let budget = u32::try_from(limits.stream_buffer_bytes).unwrap_or(u32::MAX);
        let ended = tokio::spawn(forward(messages, step, sender, budget));
        Relay { buffer, ended }
    }
}

async fn forward<S, F>(
    mut messages: S,
    mut step: F,
    buffer: mpsc::Sender<(SseEvent, OwnedSemaphorePermit)>,
    budget: u32,
) -> Ending
where
    S: Stream<Item = Message> + Unpin,
    F: FnMut(Message) -> Step,
{
    let bytes = Arc::new(Semaphore::new(budget as usize));
    loop {
        let message = tokio::select! {
            () = buffer.closed() => return Ending::Dropped,
            message = messages.next() => match message {
                Some(message) => message,
                None => return Ending::Finished,
            },
        };
        let (frame, last) = match step(message) {
            Step::Skip => continue,
            Step::Send(frame) => (frame, false),
            Step::Last(frame) => (frame, true),
        };
        // An event larger than the whole budget takes all of it, so it still fits
        // in an empty buffer.
        let size = u32::try_from(frame.bytes).unwrap_or(u32::MAX).min(budget);
        let Ok(permit) = bytes.clone().try_acquire_many_owned(size) else {
            return Ending::FellBehind;
        };
        match buffer.try_send((frame.event, permit)) {
            Ok(()) if last => return Ending::Finished,
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Ending::FellBehind,
            Err(TrySendError::Closed(_)) => return Ending::Dropped,
        }
    }
}

/// The response of a live stream: `first`, then what `relay` forwards. The stream
/// holds `slot` until it ends or its client goes away.
pub fn respond(
    first: Option<SseEvent>,
    relay: Option<Relay>,
    slot: StreamSlot,
    shutdown: CancellationToken,
) -> Response {
    respond_holding(first, relay, slot, shutdown, ())
}

/// As [`respond`], also holding `held` until the stream ends or its client goes
/// away (what the stream keeps running beside it stops when `held` is dropped).
pub fn respond_holding(
    first: Option<SseEvent>,
    relay: Option<Relay>,
    slot: StreamSlot,
    shutdown: CancellationToken,
    held: impl Send + 'static,
) -> Response {
    let live = Live {
        first,
        relay,
        shutdown,
        done: false,
        _slot: slot,
        _held: Box::new(held),
    };
    let events = stream::unfold(live, Live::next).map(Ok::<_, Infallible>);
    Sse::new(events)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

struct Live {
    /// The event sent before any the relay forwards.
    first: Option<SseEvent>,
    /// `None` when there is nothing to follow after `first`.
    relay: Option<Relay>,
    shutdown: CancellationToken,
    /// The last event has been sent.
    done: bool,
    _slot: StreamSlot,
    _held: Box<dyn Send>,
}

impl Live {
    async fn next(mut self) -> Option<(SseEvent, Self)> {
        if self.done {
            return None;
        }
        if self.shutdown.is_cancelled() {
            return Some(self.last(shutdown_event()));
        }
        if let Some(event) = self.first.take() {
            return Some((event, self));
        }
        let relay = self.relay.as_mut()?;
        let next = tokio::select! {
            biased;
            () = self.shutdown.cancelled() => None,
            next = relay.buffer.recv() => Some(next),
        };
        match next {
            None => Some(self.last(shutdown_event())),
            Some(Some((event, _bytes))) => Some((event, self)),
            Some(None) => match (&mut relay.ended).await {
                Ok(Ending::FellBehind) => Some(self.last(SseEvent::default().comment(FELL_BEHIND))),
                Ok(Ending::Finished | Ending::Dropped) | Err(_) => None,
            },
        }
    }

    /// Sends `event` and ends the stream, letting go of what it follows.
    fn last(mut self, event: SseEvent) -> (SseEvent, Self) {
        self.done = true;
        self.relay = None;
        (event, self)
    }
}

/// The last event of every stream when the service drains.
fn shutdown_event() -> SseEvent {
    SseEvent::default()
        .event("shutdown")
        .data(r#"{"reason":"shutdown"}"#)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::limits::Limits as Counts;
    use crate::config::Config;

    fn message() -> Message {
        Message {
            subject: "events.acme.test".into(),
            reply: None,
            payload: Default::default(),
            headers: None,
            status: None,
            description: None,
            length: 0,
        }
    }

    /// `count` messages, and then nothing more, ever.
    fn messages(count: usize) -> impl Stream<Item = Message> + Send + Unpin + 'static {
        stream::iter((0..count).map(|_| message())).chain(stream::pending())
    }

    /// Starts a relay sending events of `size` bytes of data, and waits until it
    /// has stopped on its own.
    async fn stopped_relay(config: &Config, count: usize, size: usize) -> Relay {
        let data = "x".repeat(size);
        let relay = Relay::start(messages(count), &config.limits, move |_| {
            Step::Send(Frame::new("test", None, &data))
        });
        let stopped = async {
            while !relay.ended.is_finished() {
                tokio::task::yield_now().await;
            }
        };
        tokio::time::timeout(Duration::from_secs(10), stopped)
            .await
            .expect("the relay stops on its own");
        relay
    }

    async fn body(response: Response) -> String {
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn a_full_buffer_closes_the_stream_after_what_it_holds() {
        let config = Config::test_with(&[("HERALD_STREAM_BUFFER", "2")]);
        let counts = Counts::new(&config);
        let relay = stopped_relay(&config, 5, 10).await;
        let slot = counts.open_stream("acme").unwrap();
        let text = body(respond(None, Some(relay), slot, Default::default())).await;
        assert_eq!(text.matches("event: test\n").count(), 2, "{text}");
        assert!(text.ends_with(&format!(": {FELL_BEHIND}\n\n")), "{text}");
    }

    #[tokio::test]
    async fn the_buffer_holds_so_many_bytes_but_always_one_event() {
        let config = Config::test_with(&[("HERALD_STREAM_BUFFER_BYTES", "1024")]);
        let relay = stopped_relay(&config, 5, 600).await;
        assert!(matches!(relay.ended.await, Ok(Ending::FellBehind)));
        assert_eq!(relay.buffer.len(), 1);
        let relay = stopped_relay(&config, 2, 4096).await;
        assert!(matches!(relay.ended.await, Ok(Ending::FellBehind)));
        assert_eq!(
            relay.buffer.len(),
            1,
            "a large event fits in an empty buffer"
        );
    }

    #[tokio::test]
    async fn the_last_event_ends_the_stream_without_a_comment() {
        let config = Config::test_with(&[]);
        let counts = Counts::new(&config);
        let mut sent = 0;
        let relay = Relay::start(messages(5), &config.limits, move |_| {
            sent += 1;
            let frame = Frame::new("job", None, &sent.to_string());
            if sent == 3 {
                Step::Last(frame)
            } else {
                Step::Send(frame)
            }
        });
        let first = Some(Frame::new("job", None, "0").into_event());
        let slot = counts.open_stream("acme").unwrap();
        let text = body(respond(first, Some(relay), slot, Default::default())).await;
        assert_eq!(
            text,
            "event: job\ndata: 0\n\nevent: job\ndata: 1\n\n\
             event: job\ndata: 2\n\nevent: job\ndata: 3\n\n"
        );
    }

    #[tokio::test]
    async fn draining_ends_every_stream_at_once_and_gives_its_place_back() {
        let config = Config::test_with(&[("HERALD_STREAM_MAX_PER_TENANT", "1")]);
        let counts = Counts::new(&config);
        let shutdown = CancellationToken::new();
        let relay = Relay::start(messages(0), &config.limits, |_| Step::Skip);
        let slot = counts.open_stream("acme").unwrap();
        assert!(counts.open_stream("acme").is_err());
        let response = respond(None, Some(relay), slot, shutdown.clone());
        let reading = tokio::spawn(body(response));
        shutdown.cancel();
        let text = reading.await.unwrap();
        assert_eq!(text, "event: shutdown\ndata: {\"reason\":\"shutdown\"}\n\n");
        assert!(counts.open_stream("acme").is_ok());
    }
}
