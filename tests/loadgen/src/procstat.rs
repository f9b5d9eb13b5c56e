//! What a process has cost, read from `/proc`: its resident memory now and at its peak
//! (`VmRSS` and `VmHWM` in `/proc/<pid>/status`) and its CPU time (`utime + stime` in
//! `/proc/<pid>/stat`, in clock ticks of `getconf CLK_TCK`).

use std::sync::OnceLock;

use serde::Serialize;

/// A process of the stack (or the load generator itself), by name and pid.
#[derive(Debug, Clone)]
pub struct Watched {
    pub name: String,
    /// `None` means this process (`/proc/self`).
    pub pid: Option<u32>,
}

impl Watched {
    fn proc_path(&self, file: &str) -> String {
        match self.pid {
            Some(pid) => format!("/proc/{pid}/{file}"),
            None => format!("/proc/self/{file}"),
        }
    }

    /// CPU seconds used so far (user and system), or `None` once the process is gone.
    pub fn cpu_seconds(&self) -> Option<f64> {
        let stat = std::fs::read_to_string(self.proc_path("stat")).ok()?;
        let ticks = parse_cpu_ticks(&stat)?;
        Some(ticks as f64 / clock_ticks() as f64)
    }

    /// Peak resident set size in MiB.
    pub fn peak_rss_mib(&self) -> Option<f64> {
        self.status_mib("VmHWM:")
    }

    /// Resident set size now, in MiB.
    pub fn rss_mib(&self) -> Option<f64> {
        self.status_mib("VmRSS:")
    }

    fn status_mib(&self, field: &str) -> Option<f64> {
        let status = std::fs::read_to_string(self.proc_path("status")).ok()?;
        parse_status_kib(&status, field).map(|kib| kib as f64 / 1024.0)
    }
}

/// One process's cost over a scenario.
#[derive(Debug, Clone, Serialize)]
pub struct Usage {
    pub name: String,
    /// Resident set size when the load began: the stack started and its webhooks
    /// warmed up, nothing else yet.
    pub idle_rss_mib: f64,
    /// Peak RSS over the process's life (it was started for this scenario).
    pub peak_rss_mib: f64,
    /// CPU seconds spent between the start and the end of the load.
    pub cpu_seconds: f64,
}

/// CPU time and resident memory of each watched process at one moment.
#[derive(Debug, Clone)]
pub struct Snapshot {
    cpu: Vec<Option<f64>>,
    rss_mib: Vec<Option<f64>>,
}

impl Snapshot {
    pub fn take(processes: &[Watched]) -> Self {
        Snapshot {
            cpu: processes.iter().map(Watched::cpu_seconds).collect(),
            rss_mib: processes.iter().map(Watched::rss_mib).collect(),
        }
    }

    /// Each process's RSS at `self`, its peak RSS now, and its CPU seconds since `self`.
    pub fn usage_since(&self, processes: &[Watched]) -> Vec<Usage> {
        processes
            .iter()
            .zip(self.cpu.iter().zip(&self.rss_mib))
            .map(|(process, (before, idle))| Usage {
                name: process.name.clone(),
                idle_rss_mib: round2(idle.unwrap_or(0.0)),
                peak_rss_mib: round2(process.peak_rss_mib().unwrap_or(0.0)),
                cpu_seconds: round2(
                    (process.cpu_seconds().unwrap_or(0.0) - before.unwrap_or(0.0)).max(0.0),
                ),
            })
            .collect()
    }
}

/// `getconf CLK_TCK` (100 on Linux nearly everywhere), asked once.
pub fn clock_ticks() -> u64 {
    static TICKS: OnceLock<u64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|out| String::from_utf8(out.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .filter(|&t| t > 0)
            .unwrap_or(100)
    })
}

/// `utime + stime` from the text of `/proc/<pid>/stat`. The command name (field 2)
/// may hold spaces and parentheses, so fields are counted after its last `)`.
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: field 3 (state) is index 0, so utime (14) and stime (15)
    // are indexes 11 and 12.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// A field such as `VmHWM:` in KiB from the text of `/proc/<pid>/status`.
fn parse_status_kib(status: &str, field: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
}

pub(crate) fn round2(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cpu_ticks_after_the_command_name() {
        let stat = "4242 (herald (all) x) S 1 2 3 4 5 6 7 8 9 10 250 31 0 0 20 0 8 0 99";
        assert_eq!(parse_cpu_ticks(stat), Some(281));
        assert_eq!(parse_cpu_ticks("garbage"), None);
    }

    #[test]
    fn reads_the_peak_and_the_current_rss() {
        let status = "Name:\therald\nVmPeak:\t  900 kB\nVmHWM:\t   51200 kB\nVmRSS:\t 40000 kB\n";
        assert_eq!(parse_status_kib(status, "VmHWM:"), Some(51_200));
        assert_eq!(parse_status_kib(status, "VmRSS:"), Some(40_000));
        assert_eq!(parse_status_kib(status, "VmSwap:"), None);
    }

    #[test]
    fn this_process_has_a_cost() {
        let me = Watched {
            name: "self".into(),
            pid: None,
        };
        assert!(me.peak_rss_mib().is_some_and(|m| m > 0.0));
        assert!(me.rss_mib().is_some_and(|m| m > 0.0));
        assert!(me.cpu_seconds().is_some());
    }
}
