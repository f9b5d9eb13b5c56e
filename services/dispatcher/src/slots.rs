//! The dispatcher's capacity for attempts in flight, shared fairly between tenants.
//!
//! A slot is one attempt in flight and the bytes of its task. Slots are handed out
//! round-robin by tenant: when every slot is taken, the next one freed goes to the
//! next tenant in line that has a waiting attempt, whatever the others have queued.
//! No tenant holds more than its cap of slots or bytes, so one tenant whose
//! endpoints hang until their timeout leaves the rest of the capacity to the others.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

/// A tenant's name, shared: taking and giving back a slot copies no string.
pub type Tenant = Arc<str>;

/// What one attempt needs.
#[derive(Debug, Clone, Copy)]
struct Need {
    bytes: u64,
}

/// The limits, totals and per tenant.
#[derive(Debug, Clone, Copy)]
pub struct Capacity {
    pub slots: usize,
    pub bytes: u64,
    pub tenant_slots: usize,
    pub tenant_bytes: u64,
}

#[derive(Default)]
struct Held {
    slots: usize,
    bytes: u64,
}

struct State {
    free_slots: usize,
    free_bytes: u64,
    held: HashMap<Tenant, Held>,
    /// Waiting attempts by tenant, each in arrival order.
    waiting: HashMap<Tenant, VecDeque<(Need, oneshot::Sender<Slot>)>>,
    /// Tenants with waiting attempts, in turn order.
    turn: VecDeque<Tenant>,
}

/// The shared capacity. Cloning shares it.
#[derive(Clone)]
pub struct Slots {
    capacity: Capacity,
    state: Arc<Mutex<State>>,
}

/// One attempt's share of the capacity, given back when dropped.
pub struct Slot {
    tenant: Tenant,
    bytes: u64,
    slots: Option<Slots>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(slots) = self.slots.take() {
            slots.give_back(&self.tenant, 1, self.bytes);
        }
    }
}

impl Slots {
    pub fn new(capacity: Capacity) -> Self {
        Slots {
            capacity,
            state: Arc::new(Mutex::new(State {
                free_slots: capacity.slots,
                free_bytes: capacity.bytes,
                held: HashMap::new(),
                waiting: HashMap::new(),
                turn: VecDeque::new(),
            })),
        }
    }

    /// Waits for a slot for `tenant` holding `bytes` (capped at what one tenant may
    /// hold, so any task can run).
    pub async fn acquire(&self, tenant: &Tenant, bytes: u64) -> Slot {
        let need = Need {
            bytes: bytes.min(self.capacity.tenant_bytes),
        };
        let mut unclaimed = Vec::new();
        let receiver = {
            let mut state = self.state.lock().expect("slots lock");
            if state.turn.is_empty() && self.fits(&state, tenant, need) {
                return self.take(&mut state, tenant, need);
            }
            let (sender, receiver) = oneshot::channel();
            let queue = state.waiting.entry(tenant.clone()).or_default();
            queue.push_back((need, sender));
            if queue.len() == 1 {
                state.turn.push_back(tenant.clone());
            }
            // Others may be waiting only because they are at their cap.
            self.grant(&mut state, &mut unclaimed);
            receiver
        };
        drop(unclaimed);
        receiver
            .await
            .expect("a waiting sender is kept until granted")
    }

    /// Attempts in flight now, for metrics.
    pub fn in_flight(&self) -> usize {
        let state = self.state.lock().expect("slots lock");
        self.capacity.slots - state.free_slots
    }

    fn fits(&self, state: &State, tenant: &str, need: Need) -> bool {
        let held = state.held.get(tenant);
        let (slots, bytes) = held.map_or((0, 0), |h| (h.slots, h.bytes));
        state.free_slots > 0
            && state.free_bytes >= need.bytes
            && slots < self.capacity.tenant_slots
            && bytes + need.bytes <= self.capacity.tenant_bytes
    }

    fn take(&self, state: &mut State, tenant: &Tenant, need: Need) -> Slot {
        state.free_slots -= 1;
        state.free_bytes -= need.bytes;
        let held = match state.held.get_mut(&**tenant) {
            Some(held) => held,
            None => state.held.entry(tenant.clone()).or_default(),
        };
        held.slots += 1;
        held.bytes += need.bytes;
        Slot {
            tenant: tenant.clone(),
            bytes: need.bytes,
            slots: Some(self.clone()),
        }
    }

    fn give_back(&self, tenant: &str, slots: usize, bytes: u64) {
        // Slots whose waiter went away are dropped after the lock is released.
        let mut unclaimed = Vec::new();
        {
            let mut state = self.state.lock().expect("slots lock");
            state.free_slots += slots;
            state.free_bytes += bytes;
            if let Some(held) = state.held.get_mut(tenant) {
                held.slots -= slots;
                held.bytes -= bytes;
                if held.slots == 0 && held.bytes == 0 {
                    state.held.remove(tenant);
                }
            }
            self.grant(&mut state, &mut unclaimed);
        }
        drop(unclaimed);
    }

    /// Hands free capacity to waiting attempts, one per tenant in turn. A tenant at
    /// its cap is passed over; the turn stops at the first waiter that does not fit
    /// in what is free, so large tasks are not starved by small ones.
    fn grant(&self, state: &mut State, unclaimed: &mut Vec<Slot>) {
        let mut passed = 0;
        while passed < state.turn.len() && state.free_slots > 0 {
            let tenant = state.turn[0].clone();
            let need = state.waiting[&tenant]
                .front()
                .expect("queued tenants wait")
                .0;
            if !self.fits(state, &tenant, need) {
                if !self.at_cap(state, &tenant, need) {
                    break;
                }
                state.turn.rotate_left(1);
                passed += 1;
                continue;
            }
            passed = 0;
            state.turn.pop_front();
            let queue = state.waiting.get_mut(&tenant).expect("queued tenants wait");
            let (need, sender) = queue.pop_front().expect("queued tenants wait");
            if queue.is_empty() {
                state.waiting.remove(&tenant);
            } else {
                state.turn.push_back(tenant.clone());
            }
            let slot = self.take(state, &tenant, need);
            if let Err(slot) = sender.send(slot) {
                unclaimed.push(slot);
            }
        }
    }

    /// Whether `tenant` holds all it may, for a task of `need`.
    fn at_cap(&self, state: &State, tenant: &str, need: Need) -> bool {
        state.held.get(tenant).is_some_and(|h| {
            h.slots >= self.capacity.tenant_slots
                || h.bytes + need.bytes > self.capacity.tenant_bytes
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn slots(slots: usize, tenant_slots: usize) -> Slots {
        Slots::new(Capacity {
            slots,
            bytes: 1000,
            tenant_slots,
            tenant_bytes: 500,
        })
    }

    async fn granted(receiver: &mut tokio::task::JoinHandle<Slot>) -> bool {
        tokio::time::timeout(Duration::from_millis(50), receiver)
            .await
            .is_ok()
    }

    #[tokio::test]
    async fn a_tenant_at_its_cap_waits_while_others_go_ahead() {
        let slots = slots(4, 2);
        let _a1 = slots.acquire(&"a".into(), 1).await;
        let a2 = slots.acquire(&"a".into(), 1).await;
        let mut a3 = tokio::spawn({
            let slots = slots.clone();
            async move { slots.acquire(&"a".into(), 1).await }
        });
        assert!(!granted(&mut a3).await, "a is at its cap of 2");
        let _b1 = slots.acquire(&"b".into(), 1).await;
        let _b2 = slots.acquire(&"b".into(), 1).await;
        drop(a2);
        assert!(granted(&mut a3).await);
    }

    #[tokio::test]
    async fn freed_slots_go_round_robin_by_tenant() {
        let slots = slots(2, 2);
        let a1 = slots.acquire(&"a".into(), 1).await;
        let a2 = slots.acquire(&"a".into(), 1).await;
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut waiters = Vec::new();
        for tenant in ["a", "a", "a", "b"] {
            let (slots, order) = (slots.clone(), order.clone());
            waiters.push(tokio::spawn(async move {
                let slot = slots.acquire(&tenant.into(), 1).await;
                order.lock().unwrap().push(tenant);
                tokio::time::sleep(Duration::from_millis(20)).await;
                drop(slot);
            }));
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        drop(a1);
        drop(a2);
        for waiter in waiters {
            waiter.await.unwrap();
        }
        // b queued last but is served in the first round, not after a's backlog.
        let order = order.lock().unwrap().clone();
        let b = order.iter().position(|t| *t == "b").unwrap();
        assert!(b <= 1, "{order:?}");
    }

    #[tokio::test]
    async fn bytes_are_capped_and_given_back() {
        let slots = slots(10, 10);
        let big = slots.acquire(&"a".into(), 10_000).await;
        assert_eq!(big.bytes, 500, "capped at the tenant's share");
        let mut second = tokio::spawn({
            let slots = slots.clone();
            async move { slots.acquire(&"a".into(), 100).await }
        });
        assert!(!granted(&mut second).await);
        drop(big);
        assert!(granted(&mut second).await);
    }
}
