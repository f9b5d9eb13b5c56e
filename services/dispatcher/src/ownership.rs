//! Which dispatcher replica owns which delivery partition, so that each endpoint's
//! concurrency cap and rate limit are kept by one process for all replicas.
//!
//! Replicas announce themselves in the `dispatcher-leases` bucket
//! (`members.<replica>`) and hold a lease per partition they own
//! (`partitions.<n>`), both renewed every third of `HERALD_PARTITION_LEASE`; the
//! bucket's age limit removes what is not renewed (with a marker the watch sees).
//! Each replica aims at the partitions rendezvous hashing gives it among the live
//! members, so a new replica takes its share and a dead one's share is spread over
//! the rest. A lease is taken only when absent (create) and renewed only from the
//! revision held (compare-and-set), so two replicas never both hold one. A replica
//! that cannot renew within two thirds of the lease stops pulling before its leases
//! can expire. A partition given up is first drained (its attempts in flight end)
//! and only then released.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::kv::{self, UpdateErrorKind};
use async_nats::jetstream::{self, stream};
use bytes::Bytes;
use herald_common::mirror::Mirror;
use herald_common::nats::{LEASES_BUCKET, LEASES_MAX_BYTES};
use herald_proto::DELIVERY_PARTITIONS;
use herald_proto::delivery::fnv1a;
use herald_proto::names::stream::{member_key, members_prefix, partition_key};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::partition::Partition;

/// Starts partition `n` on this replica.
pub type Start = Arc<dyn Fn(u32) -> Arc<Partition> + Send + Sync>;

/// The replica that should own `partition` among `members`: the one with the
/// highest hash of (partition, member).
pub fn owner<'a>(partition: u32, members: &[&'a str]) -> Option<&'a str> {
    members
        .iter()
        .max_by_key(|m| fnv1a(&[&partition.to_be_bytes(), m.as_bytes()]))
        .copied()
}

/// The lease bucket, created or brought to `lease`.
pub async fn bucket(
    js: &jetstream::Context,
    lease: Duration,
    replicas: usize,
) -> Result<kv::Store, async_nats::jetstream::context::CreateKeyValueError> {
    js.create_or_update_key_value(kv::Config {
        bucket: LEASES_BUCKET.to_owned(),
        description: "Herald dispatcher membership and partition leases".to_owned(),
        history: 1,
        max_age: lease,
        // Expired entries leave a marker, so watchers learn a replica is gone.
        limit_markers: Some(lease.max(Duration::from_secs(1))),
        max_bytes: LEASES_MAX_BYTES,
        num_replicas: replicas,
        storage: stream::StorageType::File,
        ..Default::default()
    })
    .await
    .inspect(|_| herald_common::nats::record_limit(format!("KV_{LEASES_BUCKET}"), LEASES_MAX_BYTES))
}

struct Held {
    partition: Arc<Partition>,
    revision: u64,
    /// Set while the partition drains before its lease is released.
    stopping: Option<JoinHandle<()>>,
}

pub struct Ownership {
    leases: kv::Store,
    members: Mirror<String>,
    me: String,
    lease: Duration,
    start: Start,
    held: HashMap<u32, Held>,
    /// When a renewal last succeeded.
    renewed: Instant,
}

impl Ownership {
    pub fn new(
        leases: kv::Store,
        me: String,
        lease: Duration,
        start: Start,
        shutdown: &CancellationToken,
    ) -> Self {
        let members = Mirror::start(
            leases.clone(),
            Arc::new(|bytes: &[u8]| Ok(String::from_utf8(bytes.to_vec())?)),
            shutdown.clone(),
        );
        Ownership {
            leases,
            members,
            me,
            lease,
            start,
            held: HashMap::new(),
            renewed: Instant::now(),
        }
    }

    /// Keeps membership and leases until `shutdown`, then stops every partition
    /// (each drains) and gives up its leases and membership.
    pub async fn run(mut self, shutdown: CancellationToken) {
        let member_key = member_key(&self.me);
        loop {
            self.tick(&member_key).await;
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(self.lease / 3) => {}
            }
        }
        let held = std::mem::take(&mut self.held);
        let stops = held.into_iter().map(|(number, held)| {
            let leases = self.leases.clone();
            async move {
                match held.stopping {
                    Some(stopping) => {
                        let _ = stopping.await;
                    }
                    None => held.partition.stop().await,
                }
                let _ = leases
                    .delete_expect_revision(lease_key(number), Some(held.revision))
                    .await;
            }
        });
        futures::future::join_all(stops).await;
        let _ = self.leases.delete(&member_key).await;
        herald_common::metrics::metrics().partitions_owned.set(0);
    }

    async fn tick(&mut self, member_key: &str) {
        let sent = Instant::now();
        let mut reached = self
            .leases
            .put(member_key, Bytes::from(self.me.clone()))
            .await
            .is_ok();
        // Every lease at once: one round trip, not one per partition.
        let renewals = self.held.iter().map(|(number, held)| {
            let leases = self.leases.clone();
            let (number, revision) = (*number, held.revision);
            let me = Bytes::from(self.me.clone());
            async move { (number, leases.update(lease_key(number), me, revision).await) }
        });
        for (number, renewed) in futures::future::join_all(renewals).await {
            match renewed {
                Ok(revision) => {
                    self.held.get_mut(&number).expect("held").revision = revision;
                }
                Err(err) if err.kind() == UpdateErrorKind::WrongLastRevision => {
                    tracing::warn!(
                        partition = number,
                        "partition lease lost to another replica"
                    );
                    self.drop_partition(number);
                }
                Err(err) => {
                    tracing::warn!(partition = number, error = %err, "cannot renew a partition lease");
                    reached = false;
                }
            }
        }
        if reached {
            self.renewed = sent;
        } else if self.renewed.elapsed() >= self.lease * 2 / 3 {
            // The leases may expire before this replica can renew them: stop before
            // another replica may take over.
            let numbers: Vec<u32> = self.held.keys().copied().collect();
            if !numbers.is_empty() {
                tracing::warn!(
                    "cannot renew partition leases; stopping delivery until NATS answers"
                );
            }
            for number in numbers {
                self.drop_partition(number);
            }
            return;
        }
        self.release_finished().await;
        // The first round waits (briefly) for the other members to be known.
        if tokio::time::timeout(self.lease / 3, self.members.wait_ready())
            .await
            .is_err()
        {
            return;
        }
        let mut members: Vec<String> = self
            .members
            .values_with_prefix(&members_prefix())
            .iter()
            .map(|m| m.as_ref().clone())
            .collect();
        if !members.contains(&self.me) {
            members.push(self.me.clone());
        }
        let members: Vec<&str> = members.iter().map(String::as_str).collect();
        for number in 0..DELIVERY_PARTITIONS {
            let mine = owner(number, &members) == Some(self.me.as_str());
            match self.held.get_mut(&number) {
                Some(held) if !mine && held.stopping.is_none() => {
                    tracing::info!(partition = number, "handing a partition to another replica");
                    let partition = held.partition.clone();
                    held.stopping = Some(tokio::spawn(async move { partition.stop().await }));
                }
                None if mine => self.take(number).await,
                _ => {}
            }
        }
        herald_common::metrics::metrics()
            .partitions_owned
            .set(self.held.len() as i64);
    }

    /// Takes partition `number` if no replica holds it (or this replica did, before
    /// a restart under the same name).
    async fn take(&mut self, number: u32) {
        let key = lease_key(number);
        let revision = match self.leases.create(&key, Bytes::from(self.me.clone())).await {
            Ok(revision) => revision,
            Err(_) => match self.leases.entry(&key).await {
                Ok(Some(entry))
                    if entry.operation == kv::Operation::Put
                        && entry.value.as_ref() == self.me.as_bytes() =>
                {
                    match self
                        .leases
                        .update(&key, Bytes::from(self.me.clone()), entry.revision)
                        .await
                    {
                        Ok(revision) => revision,
                        Err(_) => return,
                    }
                }
                _ => return,
            },
        };
        let partition = (self.start)(number);
        self.held.insert(
            number,
            Held {
                partition,
                revision,
                stopping: None,
            },
        );
    }

    /// Stops a partition whose lease is gone, without releasing it.
    fn drop_partition(&mut self, number: u32) {
        if let Some(held) = self.held.remove(&number)
            && held.stopping.is_none()
        {
            tokio::spawn(async move { held.partition.stop().await });
        }
    }

    /// Releases the leases of partitions that finished draining.
    async fn release_finished(&mut self) {
        let finished: Vec<u32> = self
            .held
            .iter()
            .filter(|(_, h)| h.stopping.as_ref().is_some_and(JoinHandle::is_finished))
            .map(|(n, _)| *n)
            .collect();
        for number in finished {
            let held = self.held.remove(&number).expect("listed above");
            let _ = self
                .leases
                .delete_expect_revision(lease_key(number), Some(held.revision))
                .await;
        }
    }
}

fn lease_key(partition: u32) -> String {
    partition_key(partition)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_spread_over_members_and_move_little() {
        let two = ["dispatcher-a", "dispatcher-b"];
        let three = ["dispatcher-a", "dispatcher-b", "dispatcher-c"];
        let share = |members: &[&str], me: &str| {
            (0..DELIVERY_PARTITIONS)
                .filter(|p| owner(*p, members) == Some(me))
                .count()
        };
        assert_eq!(
            share(&two, "dispatcher-a") + share(&two, "dispatcher-b"),
            DELIVERY_PARTITIONS as usize
        );
        assert!(share(&two, "dispatcher-a") >= 8, "a fair share each");
        // A third member takes partitions only from the others, none moves between them.
        for p in 0..DELIVERY_PARTITIONS {
            let before = owner(p, &two).unwrap();
            let after = owner(p, &three).unwrap();
            assert!(after == before || after == "dispatcher-c");
        }
        assert_eq!(owner(3, &[]), None);
    }
}
