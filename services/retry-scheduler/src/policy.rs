//! How long to wait before the next attempt.

use std::time::Duration;

use rand::Rng;

/// The delay before retry number `retry` (1-based) under `schedule`, with ±10 %
/// jitter so that many deliveries failing together do not retry together. A
/// receiver's `Retry-After` is honoured within [scheduled delay, 2 × scheduled delay].
/// `None` when the schedule is exhausted.
pub fn next_delay(
    schedule: &[Duration],
    retry: u32,
    retry_after: Option<Duration>,
) -> Option<Duration> {
    let index = usize::try_from(retry).ok()?.checked_sub(1)?;
    let base = *schedule.get(index)?;
    if let Some(asked) = retry_after {
        return Some(asked.clamp(base, base * 2));
    }
    let jitter = rand::rng().random_range(0.9..=1.1);
    Some(base.mul_f64(jitter))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCHEDULE: [Duration; 3] = [
        Duration::from_secs(10),
        Duration::from_secs(60),
        Duration::from_secs(600),
    ];

    #[test]
    fn follows_the_schedule_with_bounded_jitter() {
        for _ in 0..100 {
            let delay = next_delay(&SCHEDULE, 2, None).unwrap();
            assert!(
                delay >= Duration::from_secs(54) && delay <= Duration::from_secs(66),
                "{delay:?}"
            );
        }
        assert_eq!(next_delay(&SCHEDULE, 4, None), None);
        assert_eq!(next_delay(&SCHEDULE, 0, None), None);
    }

    #[test]
    fn retry_after_is_bounded_by_the_schedule() {
        let asked = |s| next_delay(&SCHEDULE, 1, Some(Duration::from_secs(s))).unwrap();
        assert_eq!(asked(1), Duration::from_secs(10));
        assert_eq!(asked(15), Duration::from_secs(15));
        assert_eq!(asked(3600), Duration::from_secs(20));
    }
}
