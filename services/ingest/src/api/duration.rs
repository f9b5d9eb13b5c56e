//! Durations clients write (`retry_schedule` entries, the stats `window`): `250ms`,
//! `30s`, `5m`, `2h` or `7d`, read as configuration reads them
//! ([`parse_duration`], checked so that no value overflows: a number too large for
//! its unit is out of range like any other), and the caller's bounds decide the
//! rest.

use std::time::Duration;

use herald_common::config::parse_duration;

/// Parses `value` and checks it lies within `min..=max`; `None` when it is not a
/// duration or lies outside.
pub fn parse_within(value: &str, min: Duration, max: Duration) -> Option<Duration> {
    parse(value).filter(|d| (min..=max).contains(d))
}

/// A duration exactly as written: unlike a configuration value, with no spaces
/// around it.
fn parse(value: &str) -> Option<Duration> {
    if value.trim() != value {
        return None;
    }
    parse_duration(value).ok()
}

/// `90s` → `90s`, `300s` → `5m`, `7200s` → `2h`: the shortest exact form.
pub fn format(d: Duration) -> String {
    let secs = d.as_secs();
    match secs {
        s if s > 0 && s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s > 0 && s % 3600 == 0 => format!("{}h", s / 3600),
        s if s > 0 && s % 60 == 0 => format!("{}m", s / 60),
        s if d.subsec_millis() == 0 => format!("{s}s"),
        _ => format!("{}ms", d.as_millis()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Duration = Duration::from_secs(86_400);

    #[test]
    fn durations_in_every_unit() {
        assert_eq!(parse("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse("30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse("5m"), Some(Duration::from_secs(300)));
        assert_eq!(parse("2h"), Some(Duration::from_secs(7200)));
        assert_eq!(parse("7d"), Some(7 * DAY));
        for bad in [
            "", "5", "m", "-1m", "1.5h", "5 m", " 5m", "5M", "5mins", "٣m",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn numbers_too_large_for_their_unit_are_no_durations() {
        for huge in [
            "100000000000000000d",
            "213503982334602d",
            "18446744073709551615m",
            "18446744073709551616ms",
            "99999999999999999999s",
        ] {
            assert_eq!(parse(huge), None, "{huge}");
        }
        assert_eq!(
            parse("18446744073709551615s"),
            Some(Duration::from_secs(u64::MAX))
        );
        assert_eq!(parse_within("18446744073709551615s", DAY, 7 * DAY), None);
        assert_eq!(parse_within("7d", DAY, 7 * DAY), Some(7 * DAY));
        assert_eq!(parse_within("8d", DAY, 7 * DAY), None);
    }

    #[test]
    fn formats_in_the_largest_exact_unit() {
        assert_eq!(format(Duration::from_secs(90)), "90s");
        assert_eq!(format(Duration::from_secs(300)), "5m");
        assert_eq!(format(Duration::from_secs(7200)), "2h");
        assert_eq!(format(2 * DAY), "2d");
        assert_eq!(format(Duration::from_millis(1500)), "1500ms");
    }
}
