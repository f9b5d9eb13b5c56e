//! Read-your-writes for events: the ids of events this replica accepted in the
//! last moments, so that `GET /v1/events/{event_id}` right after `POST /v1/events`
//! waits the few milliseconds the status tracker takes to record the event
//! instead of answering 404. Bounded: the newest [`CAPACITY`] ids of the last
//! [`KEEP`] are kept, across tenants; an id it no longer holds is answered as
//! before.

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How many accepted ids are kept at most.
pub const CAPACITY: usize = 10_000;
/// How long an accepted id is kept.
pub const KEEP: Duration = Duration::from_secs(10);
/// How long a read waits for an event this replica just accepted.
pub const WAIT: Duration = Duration::from_secs(2);

type Key = (String, String);

#[derive(Debug, Default)]
pub struct RecentEvents {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    ids: HashSet<Key>,
    order: VecDeque<(Key, Instant)>,
}

impl RecentEvents {
    /// `event_id` of `tenant` was just accepted here.
    pub fn accepted(&self, tenant: &str, event_id: &str) {
        let now = Instant::now();
        let key = (tenant.to_owned(), event_id.to_owned());
        let mut inner = self.inner.lock().expect("not poisoned");
        inner.forget_older_than(now);
        if inner.ids.insert(key.clone()) {
            inner.order.push_back((key, now));
        }
        while inner.order.len() > CAPACITY {
            if let Some((old, _)) = inner.order.pop_front() {
                inner.ids.remove(&old);
            }
        }
    }

    /// Whether `event_id` of `tenant` was accepted here within [`KEEP`].
    pub fn contains(&self, tenant: &str, event_id: &str) -> bool {
        let mut inner = self.inner.lock().expect("not poisoned");
        inner.forget_older_than(Instant::now());
        inner
            .ids
            .contains(&(tenant.to_owned(), event_id.to_owned()))
    }
}

impl Inner {
    fn forget_older_than(&mut self, now: Instant) {
        while let Some((key, at)) = self.order.front() {
            if now.duration_since(*at) < KEEP {
                break;
            }
            let key = key.clone();
            self.order.pop_front();
            self.ids.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_ids_of_each_tenant() {
        let recent = RecentEvents::default();
        recent.accepted("acme", "evt_1");
        assert!(recent.contains("acme", "evt_1"));
        assert!(!recent.contains("globex", "evt_1"));
        for i in 0..CAPACITY {
            recent.accepted("acme", &format!("evt_more_{i}"));
        }
        assert!(!recent.contains("acme", "evt_1"), "the oldest goes first");
        assert!(recent.contains("acme", &format!("evt_more_{}", CAPACITY - 1)));
        assert_eq!(recent.inner.lock().unwrap().ids.len(), CAPACITY);
    }
}
