//! What the machine is, today's date, and the process's resident memory from /proc.

use std::time::{SystemTime, UNIX_EPOCH};

/// The CPU model, the number of cores and the memory, from /proc.
pub(crate) fn describe() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|line| {
            let (key, value) = line.split_once(':')?;
            (key.trim() == "model name").then(|| value.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".to_string());
    let processors = cpuinfo
        .lines()
        .filter(|line| line.split(':').next().map(str::trim) == Some("processor"))
        .count();
    let cores = match processors {
        0 => std::thread::available_parallelism().map_or(0, usize::from),
        n => n,
    };
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|meminfo| field_kib(&meminfo, "MemTotal"))
        .map(|kib| format!(", {:.1} GiB memory", kib as f64 / (1024.0 * 1024.0)))
        .unwrap_or_default();
    format!("{model}, {cores} cores{memory}")
}

/// The current date and time in UTC, as `YYYY-MM-DD HH:MM UTC`.
pub(crate) fn now_utc() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs());
    format_utc(secs)
}

fn format_utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let (year, month, day) = civil_from_days(days);
    let in_day = secs % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        in_day / 3600,
        in_day % 3600 / 60
    )
}

/// The proleptic Gregorian date of a day counted from 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// A `Key:   123 kB` field of a /proc file, in KiB.
fn field_kib(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        if name.trim() != key {
            return None;
        }
        value.split_whitespace().next()?.parse().ok()
    })
}

fn status_bytes(key: &str) -> Result<u64, String> {
    let status = std::fs::read_to_string("/proc/self/status")
        .map_err(|error| format!("reading /proc/self/status: {error}"))?;
    field_kib(&status, key)
        .map(|kib| kib * 1024)
        .ok_or_else(|| format!("/proc/self/status has no {key}"))
}

/// The process's resident memory now, in bytes (`VmRSS`).
pub(crate) fn rss_bytes() -> Result<u64, String> {
    status_bytes("VmRSS")
}

/// The process's peak resident memory, in bytes (`VmHWM`).
pub(crate) fn peak_rss_bytes() -> Result<u64, String> {
    status_bytes("VmHWM")
}

/// Resets the peak resident memory to the current one; false where the kernel does not allow it.
pub(crate) fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_gregorian() {
        assert_eq!(format_utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(format_utc(951_782_400), "2000-02-29 00:00 UTC");
        assert_eq!(format_utc(1_767_225_599), "2025-12-31 23:59 UTC");
    }

    #[test]
    fn proc_fields_are_read_in_kib() {
        let status = "Name:\tbench\nVmHWM:\t   2048 kB\nVmRSS:\t    1024 kB\n";
        assert_eq!(field_kib(status, "VmHWM"), Some(2048));
        assert_eq!(field_kib(status, "VmRSS"), Some(1024));
        assert_eq!(field_kib(status, "VmPeak"), None);
    }

    #[test]
    fn this_process_has_a_resident_set() {
        let rss = rss_bytes().unwrap();
        assert!(rss > 0);
        assert!(peak_rss_bytes().unwrap() >= rss);
    }
}
