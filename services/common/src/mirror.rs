//! An in-memory copy of a KV bucket, kept current by a watch, so that every replica
//! sees configuration changes within milliseconds and reads cost no round trip.
//!
//! Writers that want to read their own write at once call [`Mirror::apply`] with the
//! revision the put returned; a later watch delivery of the same revision is ignored.
//!
//! Keys are kept in order, so the values under a prefix (one tenant's endpoints) are
//! found without scanning the others, and values are shared, so a read copies none.
//!
//! The mirror also keeps the highest revision it holds. A writer passes its own on
//! with what it publishes next, and a reader in another process waits until its
//! mirror has reached that revision before acting on it: an event accepted after a
//! webhook was created is fanned out with that webhook known.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_nats::jetstream::kv::{Operation, Store};
use futures::StreamExt;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// How bytes from the bucket become values. An entry that does not decode is
/// logged with the reason and left out.
pub type Decode<T> = Arc<dyn Fn(&[u8]) -> Result<T, DecodeFailure> + Send + Sync>;

/// Why an entry did not decode: whatever error the decoder has.
pub type DecodeFailure = Box<dyn std::error::Error + Send + Sync>;

/// The slots whose keys start with `prefix`, in key order, without looking at the
/// others.
fn prefixed<'a, T>(
    entries: &'a BTreeMap<String, Slot<T>>,
    prefix: &'a str,
) -> impl Iterator<Item = &'a Slot<T>> {
    entries
        .range::<str, _>((
            std::ops::Bound::Included(prefix),
            std::ops::Bound::Unbounded,
        ))
        .take_while(move |(key, _)| key.starts_with(prefix))
        .map(|(_, slot)| slot)
}

struct Slot<T> {
    revision: u64,
    value: Option<Arc<T>>,
}

/// The mirror of one bucket. Cloning shares it.
pub struct Mirror<T> {
    entries: Arc<RwLock<BTreeMap<String, Slot<T>>>>,
    ready: watch::Receiver<bool>,
    /// The highest revision held.
    revision: Arc<watch::Sender<u64>>,
}

impl<T> Clone for Mirror<T> {
    fn clone(&self) -> Self {
        Mirror {
            entries: self.entries.clone(),
            ready: self.ready.clone(),
            revision: self.revision.clone(),
        }
    }
}

impl<T: Clone + Send + Sync + 'static> Mirror<T> {
    /// Starts watching `store`; the mirror fills in the background until `shutdown`.
    pub fn start(store: Store, decode: Decode<T>, shutdown: CancellationToken) -> Self {
        let entries = Arc::new(RwLock::new(BTreeMap::new()));
        let (ready_tx, ready) = watch::channel(false);
        let mirror = Mirror {
            entries,
            ready,
            revision: Arc::new(watch::Sender::new(0)),
        };
        let task = mirror.clone();
        tokio::spawn(async move { task.follow(store, decode, ready_tx, shutdown).await });
        mirror
    }

    /// Whether the mirror holds everything the bucket held when it started.
    pub fn is_ready(&self) -> bool {
        *self.ready.borrow()
    }

    /// Waits until [`Mirror::is_ready`].
    pub async fn wait_ready(&self) {
        let mut ready = self.ready.clone();
        let _ = ready.wait_for(|r| *r).await;
    }

    /// The highest revision the mirror holds: every change up to it when the watch
    /// brought it, or a write of this process's own.
    pub fn revision(&self) -> u64 {
        *self.revision.borrow()
    }

    /// Waits until the mirror holds `revision`, at most `timeout`. Returns whether it
    /// does.
    pub async fn wait_revision(&self, revision: u64, timeout: Duration) -> bool {
        let mut held = self.revision.subscribe();
        tokio::time::timeout(timeout, held.wait_for(|held| *held >= revision))
            .await
            .is_ok_and(|waited| waited.is_ok())
    }

    pub fn get(&self, key: &str) -> Option<Arc<T>> {
        let entries = self.entries.read().expect("mirror lock");
        entries.get(key).and_then(|slot| slot.value.clone())
    }

    /// Every live value whose key starts with `prefix`, in key order.
    pub fn values_with_prefix(&self, prefix: &str) -> Vec<Arc<T>> {
        let entries = self.entries.read().expect("mirror lock");
        prefixed(&entries, prefix)
            .filter_map(|slot| slot.value.clone())
            .collect()
    }

    /// How many live values have keys starting with `prefix`.
    pub fn count_with_prefix(&self, prefix: &str) -> usize {
        let entries = self.entries.read().expect("mirror lock");
        prefixed(&entries, prefix)
            .filter(|slot| slot.value.is_some())
            .count()
    }

    /// Records a write made by this process (`None` for a delete) at `revision`;
    /// `u64::MAX` hides a key until the watch brings its real revision.
    pub fn apply(&self, key: &str, revision: u64, value: Option<T>) {
        if revision != u64::MAX {
            self.advance(revision);
        }
        let mut entries = self.entries.write().expect("mirror lock");
        match entries.get(key) {
            Some(slot) if slot.revision >= revision => {}
            _ => {
                entries.insert(
                    key.to_owned(),
                    Slot {
                        revision,
                        value: value.map(Arc::new),
                    },
                );
            }
        }
    }

    fn advance(&self, revision: u64) {
        self.revision.send_if_modified(|held| {
            let higher = revision > *held;
            *held = (*held).max(revision);
            higher
        });
    }

    async fn follow(
        self,
        store: Store,
        decode: Decode<T>,
        ready: watch::Sender<bool>,
        shutdown: CancellationToken,
    ) {
        let mut resume_from = 0u64;
        while !shutdown.is_cancelled() {
            if resume_from == 0 {
                match store.status().await {
                    Ok(status) if status.values() == 0 => {
                        let _ = ready.send(true);
                    }
                    Ok(_) => {}
                    Err(err) => tracing::warn!(error = %err, "cannot read bucket status"),
                }
            }
            let watch = if resume_from == 0 {
                store.watch_with_history(">").await
            } else {
                store.watch_all_from_revision(resume_from + 1).await
            };
            let mut watch = match watch {
                Ok(watch) => watch,
                Err(err) => {
                    tracing::warn!(error = %err, "cannot watch bucket; retrying");
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                    }
                }
            };
            loop {
                let next = tokio::select! {
                    _ = shutdown.cancelled() => return,
                    next = watch.next() => next,
                };
                let entry = match next {
                    Some(Ok(entry)) => entry,
                    Some(Err(err)) => {
                        tracing::warn!(error = %err, "bucket watch failed; resuming");
                        break;
                    }
                    None => break,
                };
                resume_from = resume_from.max(entry.revision);
                let value = match entry.operation {
                    Operation::Put => match decode(&entry.value) {
                        Ok(value) => Some(value),
                        Err(reason) => {
                            tracing::error!(key = %entry.key, %reason, "undecodable bucket entry ignored");
                            self.advance(entry.revision);
                            continue;
                        }
                    },
                    Operation::Delete | Operation::Purge => None,
                };
                self.apply(&entry.key, entry.revision, value);
                if entry.delta == 0 || entry.seen_current {
                    let _ = ready.send(true);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_reads_take_only_that_prefix_and_respect_revisions() {
        let (_tx, ready) = watch::channel(true);
        let mirror: Mirror<u32> = Mirror {
            entries: Arc::default(),
            ready,
            revision: Arc::new(watch::Sender::new(0)),
        };
        for (key, value) in [
            ("acme.a", 1),
            ("acme.b", 2),
            ("acmex.c", 3),
            ("globex.d", 4),
        ] {
            mirror.apply(key, 1, Some(value));
        }
        let acme: Vec<u32> = mirror
            .values_with_prefix("acme.")
            .iter()
            .map(|v| **v)
            .collect();
        assert_eq!(acme, [1, 2]);
        mirror.apply("acme.a", 0, Some(9));
        assert_eq!(
            mirror.get("acme.a").as_deref(),
            Some(&1),
            "an older revision is ignored"
        );
        mirror.apply("acme.a", 2, None);
        assert!(mirror.get("acme.a").is_none());
        assert_eq!(mirror.values_with_prefix("acme.").len(), 1);
    }

    #[tokio::test]
    async fn readers_wait_for_a_revision_until_it_arrives() {
        let (_tx, ready) = watch::channel(true);
        let mirror: Mirror<u32> = Mirror {
            entries: Arc::default(),
            ready,
            revision: Arc::new(watch::Sender::new(0)),
        };
        mirror.apply("acme.a", 3, Some(1));
        assert_eq!(mirror.revision(), 3);
        assert!(mirror.wait_revision(3, Duration::ZERO).await);
        assert!(
            !mirror.wait_revision(5, Duration::from_millis(20)).await,
            "a revision not held yet times out"
        );
        let waiting = {
            let mirror = mirror.clone();
            tokio::spawn(async move { mirror.wait_revision(5, Duration::from_secs(60)).await })
        };
        mirror.apply("acme.b", 5, Some(2));
        assert!(
            waiting.await.unwrap(),
            "the wait ends when the revision arrives"
        );
        mirror.apply("acme.c", u64::MAX, None);
        assert_eq!(mirror.revision(), 5, "a hidden key is no revision");
    }
}
