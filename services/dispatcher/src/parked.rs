//! The `PARKED` stream: where a partition's owner moves the tasks of an endpoint
//! that cannot take them yet, out of the consumer's pending set, and reads them back
//! in order as the endpoint works through them. Each endpoint's tasks are one
//! subject, `parked.<partition>.<tenant>.<endpoint_id>`, read by sequence and
//! deleted one by one once their attempt is recorded.

use std::collections::HashMap;

use async_nats::HeaderMap;
use async_nats::jetstream::{self, stream};
use bytes::Bytes;
use futures::TryStreamExt;
use herald_common::nats::PARKED_STREAM;

/// What could go wrong with `PARKED`.
#[derive(Debug, thiserror::Error)]
pub enum ParkError {
    #[error("cannot reach the PARKED stream: {0}")]
    Stream(String),
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
        let mut headers = HeaderMap::new();
        if let Some(traceparent) = traceparent {
            headers.insert("traceparent", traceparent);
        }
        // Not `publish_once`: the header is the task's own trace, not this span's.
        headers.insert("Nats-Msg-Id", format!("deliveries:{origin}").as_str());
        self.jetstream
            .publish_with_headers(subject.to_owned(), headers, payload)
            .await
            .map_err(|e| ParkError::Stream(e.to_string()))?
            .await
            .map_err(|e| ParkError::Stream(e.to_string()))?;
        Ok(())
    }

    /// The first parked task on an endpoint's `subject` at or after sequence `from`,
    /// or `None` when there is none.
    pub async fn next(&self, subject: &str, from: u64) -> Result<Option<ParkedTask>, ParkError> {
        let found = self
            .stream
            .raw_message_builder()
            .sequence(from.max(1))
            .next_by_subject(subject)
            .send()
            .await;
        match found {
            Ok(message) => Ok(Some(ParkedTask {
                sequence: message.sequence,
                traceparent: message
                    .headers
                    .get("traceparent")
                    .map(|v| v.as_str().to_owned()),
                payload: message.payload,
            })),
            Err(err) if err.kind() == stream::LastRawMessageErrorKind::NoMessageFound => Ok(None),
            Err(err) => Err(ParkError::Stream(err.to_string())),
        }
    }

    /// Removes a task whose attempt is recorded.
    pub async fn remove(&self, sequence: u64) -> Result<(), ParkError> {
        match self.stream.delete_message(sequence).await {
            Ok(_) => Ok(()),
            // Already gone (removed by an earlier try): nothing left to do.
            Err(err)
                if matches!(
                    err.kind(),
                    stream::DeleteMessageErrorKind::JetStream(e)
                        if e.error_code() == jetstream::ErrorCode::NO_MESSAGE_FOUND
                ) =>
            {
                Ok(())
            }
            Err(err) => Err(ParkError::Stream(err.to_string())),
        }
    }

    /// How many tasks wait parked per endpoint of one partition, by
    /// `<tenant>.<endpoint_id>`.
    pub async fn backlog(&self, partition: u32) -> Result<HashMap<String, u64>, ParkError> {
        let mut backlog = HashMap::new();
        let mut subjects = self
            .stream
            .info_with_subjects(format!("parked.{partition}.>"))
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
