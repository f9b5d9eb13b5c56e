//! The `PARKED` stream: where a partition's owner moves the tasks of an endpoint
//! that cannot take them yet, out of the consumer's pending set, and reads them back
//! in order as the endpoint works through them. Each endpoint's tasks are one
//! subject, `parked.<partition>.<tenant>.<endpoint_id>`, read back in batches
//! by sequence and deleted one by one once their attempt is recorded.

use std::collections::HashMap;

use async_nats::jetstream::{self, stream};
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use herald_common::nats::PARKED_STREAM;
use herald_common::publish::{Publish, PublishError, publish};
use herald_proto::names::{header, subject};

/// Bytes asked for in one batched read of parked tasks (a larger first task comes
/// alone).
pub const FETCH_BYTES: usize = 1 << 20;
/// How long a batched read may take before it is tried again.
const FETCH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// What could go wrong with `PARKED`.
#[derive(Debug, thiserror::Error)]
pub enum ParkError {
    #[error("cannot reach the PARKED stream: {0}")]
    Stream(String),
    #[error("cannot park a task: {0}")]
    Publish(#[from] PublishError),
}

/// A task read back from `PARKED`.
pub struct ParkedTask {
    pub sequence: u64,
    pub payload: Bytes,
    pub traceparent: Option<String>,
}

/// A handle on `PARKED`. Cloning is cheap.
#[derive(Clone)]
pub struct Parked {
    jetstream: jetstream::Context,
    stream: stream::Stream,
}

impl Parked {
    pub async fn open(jetstream: &jetstream::Context) -> Result<Self, ParkError> {
        let stream = jetstream
            .get_stream(PARKED_STREAM)
            .await
            .map_err(|e| ParkError::Stream(e.to_string()))?;
        Ok(Parked {
            jetstream: jetstream.clone(),
            stream,
        })
    }

    /// Stores a task on its endpoint's `subject` (see
    /// [`parked_subject`](herald_proto::delivery::parked_subject)). `origin`
    /// identifies the message it came from (its `DELIVERIES` sequence), so a task
    /// parked twice, after a crash between parking and acknowledging, is stored once.
    pub async fn park(
        &self,
        subject: &str,
        origin: u64,
        payload: Bytes,
        traceparent: Option<&str>,
    ) -> Result<(), ParkError> {
        let message_id = format!("deliveries:{origin}");
        // The task's own trace, not this span's.
        let options = Publish::once(&message_id).traceparent(traceparent);
        publish(&self.jetstream, subject, payload, options).await?;
        Ok(())
    }

    /// The parked tasks on an endpoint's `subject` from sequence `from` on, in order:
    /// at most `max` of them and about [`FETCH_BYTES`] (always at least one), read
    /// with one batched direct get. Empty when there is none.
    pub async fn next_batch(
        &self,
        subject: &str,
        from: u64,
        max: usize,
    ) -> Result<Vec<ParkedTask>, ParkError> {
        let client = self.jetstream.client();
        let inbox = client.new_inbox();
        let mut replies = client
            .subscribe(inbox.clone())
            .await
            .map_err(|e| ParkError::Stream(e.to_string()))?;
        let request = serde_json::json!({
            "seq": from.max(1),
            "next_by_subj": subject,
            "batch": max.max(1),
            "max_bytes": FETCH_BYTES,
        });
        client
            .publish_with_reply(
                format!("$JS.API.DIRECT.GET.{PARKED_STREAM}"),
                inbox,
                request.to_string().into(),
            )
            .await
            .map_err(|e| ParkError::Stream(e.to_string()))?;
        let mut tasks = Vec::new();
        loop {
            let reply = tokio::time::timeout(FETCH_TIMEOUT, replies.next())
                .await
                .map_err(|_| ParkError::Stream("no answer to a batched read".into()))?
                .ok_or_else(|| ParkError::Stream("the connection closed".into()))?;
            match reply.status.map(|s| s.as_u16()) {
                // The end of the batch, or nothing parked from `from` on.
                Some(204 | 404) => return Ok(tasks),
                Some(code) => {
                    let why = reply.description.unwrap_or_default();
                    return Err(ParkError::Stream(format!(
                        "batched read refused: {code} {why}"
                    )));
                }
                None => {}
            }
            let header = |name: &str| {
                reply
                    .headers
                    .as_ref()
                    .and_then(|h| h.get(name))
                    .map(|v| v.as_str().to_owned())
            };
            let Some(sequence) = header(header::SEQUENCE).and_then(|s| s.parse().ok()) else {
                return Err(ParkError::Stream("a batched read without sequences".into()));
            };
            tasks.push(ParkedTask {
                sequence,
                traceparent: header(header::TRACEPARENT),
                payload: reply.payload,
            });
        }
    }

    /// Removes a task whose attempt is recorded. Only the index forgets it (no
    /// secure erase): erasing rewrites the message's whole block, at every removal.
    pub async fn remove(&self, sequence: u64) -> Result<(), ParkError> {
        let request = serde_json::json!({ "seq": sequence, "no_erase": true });
        let answer: serde_json::Value = self
            .jetstream
            .request(format!("STREAM.MSG.DELETE.{PARKED_STREAM}"), &request)
            .await
            .map_err(|e| ParkError::Stream(e.to_string()))?;
        if answer["success"].as_bool() == Some(true) {
            return Ok(());
        }
        match answer["error"]["err_code"].as_u64() {
            // Already gone (removed by an earlier try): nothing left to do.
            Some(code) if code == jetstream::ErrorCode::NO_MESSAGE_FOUND.0 => Ok(()),
            _ => Err(ParkError::Stream(format!(
                "cannot remove a parked task: {}",
                answer["error"]["description"]
                    .as_str()
                    .unwrap_or("no reason given")
            ))),
        }
    }

    /// How many tasks wait parked per endpoint of one partition, by
    /// `<tenant>.<endpoint_id>`.
    pub async fn backlog(&self, partition: u32) -> Result<HashMap<String, u64>, ParkError> {
        let mut backlog = HashMap::new();
        let mut subjects = self
            .stream
            .info_with_subjects(subject::parked_of_partition(partition))
            .await
            .map_err(|e| ParkError::Stream(e.to_string()))?;
        while let Some((subject, count)) = subjects
            .try_next()
            .await
            .map_err(|e| ParkError::Stream(e.to_string()))?
        {
            if let Some(key) = herald_proto::delivery::lane_key(&subject)
                && count > 0
            {
                backlog.insert(key.to_owned(), count as u64);
            }
        }
        Ok(backlog)
    }
}
