//! A process's memory as Linux reports it in `/proc/<pid>/status`, for tests that
//! check memory stays bounded.

/// Resident memory now (`VmRSS`), in KiB.
pub fn rss_kib(pid: u32) -> u64 {
    status_kib(pid, "VmRSS")
}

/// The most resident memory the process has had (`VmHWM`), in KiB.
pub fn peak_rss_kib(pid: u32) -> u64 {
    status_kib(pid, "VmHWM")
}

fn status_kib(pid: u32, field: &str) -> u64 {
    let path = format!("/proc/{pid}/status");
    let status =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
    parse_kib(&status, field).unwrap_or_else(|| panic!("{path} has no {field} in kB"))
}

/// The value of a `Field:   1234 kB` line.
fn parse_kib(status: &str, field: &str) -> Option<u64> {
    status.lines().find_map(|line| {
        let value = line.strip_prefix(field)?.strip_prefix(':')?;
        value.trim().strip_suffix("kB")?.trim().parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_kib_fields() {
        let status = "Name:\therald\nVmHWM:\t   20480 kB\nVmRSS:\t   15360 kB\n";
        assert_eq!(parse_kib(status, "VmRSS"), Some(15360));
        assert_eq!(parse_kib(status, "VmHWM"), Some(20480));
        assert_eq!(parse_kib(status, "VmSwap"), None);
    }

    #[test]
    fn reads_this_process() {
        let pid = std::process::id();
        assert!(rss_kib(pid) > 0);
        // One reading of both: other tests' threads may grow the process between two.
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let (peak, now) = (
            parse_kib(&status, "VmHWM").unwrap(),
            parse_kib(&status, "VmRSS").unwrap(),
        );
        assert!(peak >= now, "VmHWM {peak} < VmRSS {now}");
    }
}
