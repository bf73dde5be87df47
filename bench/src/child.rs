//! One measurement in its own process: build and run one workload, then report one line.
//!
//! The line is `BENCH-RESULT key=value ...` on success and `BENCH-ERROR message` on failure;
//! the parent parses it with [`Measurement::parse`].

use std::time::Duration;

use crate::cli::Config;
use crate::dag::Graph;
use crate::machine;

const RESULT: &str = "BENCH-RESULT";
const ERROR: &str = "BENCH-ERROR";

/// What one child process measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Measurement {
    pub(crate) tasks: usize,
    /// The build and the run: the medians of the warm runs when there were any, else the
    /// first.
    pub(crate) build: Duration,
    pub(crate) run: Duration,
    /// The first run, in a process that had run nothing yet.
    pub(crate) first_run: Duration,
    /// Peak resident memory during every build and run, less the resident memory before the build.
    pub(crate) peak_bytes: u64,
    /// Whether the peak was reset before the build (else it may include the process's start).
    pub(crate) peak_reset: bool,
    pub(crate) digest: u64,
}

impl Measurement {
    fn to_line(self) -> String {
        format!(
            "{RESULT} tasks={} build_ns={} run_ns={} first_run_ns={} peak_bytes={} peak_reset={} digest={}",
            self.tasks,
            self.build.as_nanos(),
            self.run.as_nanos(),
            self.first_run.as_nanos(),
            self.peak_bytes,
            u8::from(self.peak_reset),
            self.digest
        )
    }

    /// The measurement in a child's standard output, or the error it reported.
    pub(crate) fn parse(stdout: &str) -> Option<Result<Measurement, String>> {
        for line in stdout.lines() {
            if let Some(error) = line.strip_prefix(ERROR) {
                return Some(Err(error.trim().to_string()));
            }
            let Some(fields) = line.strip_prefix(RESULT) else {
                continue;
            };
            let get = |key: &str| -> Option<u64> {
                fields.split_whitespace().find_map(|field| {
                    let (name, value) = field.split_once('=')?;
                    (name == key).then(|| value.parse().ok())?
                })
            };
            let measurement = (|| {
                Some(Measurement {
                    tasks: get("tasks")? as usize,
                    build: Duration::from_nanos(get("build_ns")?),
                    run: Duration::from_nanos(get("run_ns")?),
                    first_run: Duration::from_nanos(get("first_run_ns")?),
                    peak_bytes: get("peak_bytes")?,
                    peak_reset: get("peak_reset")? == 1,
                    digest: get("digest")?,
                })
            })();
            return Some(measurement.ok_or_else(|| format!("unreadable result line `{line}`")));
        }
        None
    }
}

/// Runs `config` in this process and prints its line; returns the process's exit code.
pub(crate) fn main(config: Config) -> u8 {
    let line = match measure(config) {
        Ok(measurement) => measurement.to_line(),
        Err(error) => format!("{ERROR} {}", error.replace('\n', " ")),
    };
    let ok = line.starts_with(RESULT);
    if !crate::write_stdout(&format!("{line}\n")) {
        return 3;
    }
    if ok { 0 } else { 2 }
}

fn measure(config: Config) -> Result<Measurement, String> {
    if let Some(reason) = config.system.unsupported(config.workload) {
        return Err(reason.to_string());
    }
    let graph = Graph::new(config.workload, config.size)?;
    let runtime = config
        .runtime
        .build()
        .map_err(|error| format!("starting the {} runtime: {error}", config.runtime))?;
    runtime.block_on(async {
        let peak_reset = machine::reset_peak_rss();
        let start = machine::rss_bytes()?;
        let first = config.system.run(&graph).await?;
        let mut warm = Vec::new();
        for run in 1..=config.warm_runs {
            let timings = config.system.run(&graph).await?;
            if timings.digest != first.digest {
                return Err(format!(
                    "run {} computed {}, the first run {}",
                    run + 1,
                    timings.digest,
                    first.digest
                ));
            }
            warm.push(timings);
        }
        let peak = machine::peak_rss_bytes()?;
        let (build, run) = match warm.is_empty() {
            true => (first.build, first.run),
            false => (
                median_duration(warm.iter().map(|t| t.build)),
                median_duration(warm.iter().map(|t| t.run)),
            ),
        };
        Ok(Measurement {
            tasks: graph.len(),
            build,
            run,
            first_run: first.run,
            peak_bytes: peak.saturating_sub(start),
            peak_reset,
            digest: first.digest,
        })
    })
}

/// The middle value (the mean of the two middle ones for an even count); `values` is not
/// empty.
pub(crate) fn median(mut values: Vec<u128>) -> u128 {
    values.sort_unstable();
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2
    }
}

/// The median of durations; `values` is not empty.
pub(crate) fn median_duration(values: impl Iterator<Item = Duration>) -> Duration {
    let nanos = median(values.map(|d| d.as_nanos()).collect());
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_result_line_round_trips() {
        let measurement = Measurement {
            tasks: 1002,
            build: Duration::from_nanos(123_456),
            run: Duration::from_nanos(7_890_123),
            first_run: Duration::from_nanos(9_000_001),
            peak_bytes: 4_096_000,
            peak_reset: true,
            digest: 2001,
        };
        let stdout = format!("noise\n{}\n", measurement.to_line());
        assert_eq!(Measurement::parse(&stdout), Some(Ok(measurement)));
    }

    #[test]
    fn errors_and_garbage_are_reported() {
        assert_eq!(
            Measurement::parse("BENCH-ERROR dagrs: the run failed\n"),
            Some(Err("dagrs: the run failed".to_string()))
        );
        assert!(matches!(
            Measurement::parse("BENCH-RESULT tasks=1\n"),
            Some(Err(_))
        ));
        assert_eq!(Measurement::parse("nothing\n"), None);
    }
}
