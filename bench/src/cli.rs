//! Command-line options of the parent run and of a child measurement.

use std::fmt;
use std::time::Duration;

use crate::dag::Workload;
use crate::systems::System;

pub(crate) const USAGE: &str = "\
Runs no-op workloads through flowcore, a hand-written tokio baseline and dagrs, each
measurement in a fresh child process, and prints a Markdown table of the medians.

usage: flowcore-bench [options]

options:
  --sizes LIST           task counts N (default 1000,10000,100000,1000000)
  --runtimes LIST        current, multi (default current,multi)
  --systems LIST         flowcore, tokio, dagrs (default all three), and
                         flowcore-tracing-off (flowcore under a subscriber that wants nothing)
  --workloads LIST       chain, fanout, layered, mapped (default all four)
  --repeat K             child processes per measurement; the median is shown (default 3)
  --warm-runs K|auto     for N up to 10000, builds and runs after the first in each child
                         process: their medians are the build and run times, the first
                         run is shown apart (default auto: enough runs for 200000 tasks,
                         at least 5, so 200 at N = 1000; larger sizes are run once)
  --max-dagrs-size N     skip dagrs above this N (default 100000)
  --timeout SECS         kill a child after this long (default 300)
  --smoke                the same as --sizes 1000 --repeat 1 --warm-runs 1, for CI
  -h, --help             this text

Workloads, of tasks whose value is the sum of their upstream values + 1:
  chain    N tasks, each depending on the previous one
  fanout   one source, N children, one sink depending on all children (N + 2 tasks)
  layered  100 layers of N/100 tasks, each depending on 2 or 3 seeded-random tasks
           of the layer before
  mapped   one source whose value is the N items 0..N-1, and one task mapped over them:
           N children, each returning its item + 1, made once the source has run
           (N + 1 tasks; the digest is the sum of the children's values, checked to be
           in item order). The tokio baseline spawns one task per item; dagrs has no
           mapping and is skipped

Exits with 1 when a measurement failed, timed out or computed a wrong value.";

const DEFAULT_SIZES: [usize; 4] = [1_000, 10_000, 100_000, 1_000_000];

/// The largest size run again after its first run: above it a first run is long enough
/// for the process's start (page faults, code loaded, lazy initialisation) not to matter.
pub(crate) const WARM_MAX_SIZE: usize = 10_000;

/// With `--warm-runs auto`, the warm runs of a child add up to at least this many tasks,
/// so that the median of a small graph's runs is steady: a few runs of 1,000 tasks last
/// a few milliseconds, as long as the machine's hiccups.
const WARM_TASKS: usize = 200_000;

/// The fewest warm runs `--warm-runs auto` makes.
const MIN_WARM_RUNS: usize = 5;

/// How many runs follow the first in each child process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WarmRuns {
    /// Enough for [`WARM_TASKS`] tasks, at least [`MIN_WARM_RUNS`].
    Auto,
    Fixed(usize),
}

impl WarmRuns {
    /// The warm runs of a graph of `size` tasks: none above [`WARM_MAX_SIZE`].
    pub(crate) fn for_size(self, size: usize) -> usize {
        match self {
            _ if size > WARM_MAX_SIZE => 0,
            WarmRuns::Auto => (WARM_TASKS / size.max(1)).max(MIN_WARM_RUNS),
            WarmRuns::Fixed(runs) => runs,
        }
    }
}

impl fmt::Display for WarmRuns {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WarmRuns::Auto => f.write_str("auto"),
            WarmRuns::Fixed(runs) => write!(f, "{runs}"),
        }
    }
}

/// A tokio runtime flavor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Runtime {
    /// `Builder::new_current_thread()`.
    Current,
    /// `Builder::new_multi_thread().worker_threads(2)`.
    Multi,
}

impl Runtime {
    const ALL: [Runtime; 2] = [Runtime::Current, Runtime::Multi];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Runtime::Current => "current",
            Runtime::Multi => "multi",
        }
    }

    fn parse(name: &str) -> Option<Runtime> {
        Runtime::ALL.into_iter().find(|r| r.name() == name)
    }

    /// A new runtime of this flavor.
    pub(crate) fn build(self) -> std::io::Result<tokio::runtime::Runtime> {
        match self {
            Runtime::Current => tokio::runtime::Builder::new_current_thread().build(),
            Runtime::Multi => tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .build(),
        }
    }
}

impl fmt::Display for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One measurement: what a child process runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Config {
    pub(crate) system: System,
    pub(crate) workload: Workload,
    pub(crate) size: usize,
    pub(crate) runtime: Runtime,
    /// Runs after the first, in the same process: their median is the run time.
    pub(crate) warm_runs: usize,
}

impl Config {
    /// The arguments that make a child process run this measurement.
    pub(crate) fn child_args(&self) -> Vec<String> {
        vec![
            "--child".to_string(),
            "--systems".to_string(),
            self.system.name().to_string(),
            "--workloads".to_string(),
            self.workload.name().to_string(),
            "--sizes".to_string(),
            self.size.to_string(),
            "--runtimes".to_string(),
            self.runtime.name().to_string(),
            "--warm-runs".to_string(),
            self.warm_runs.to_string(),
        ]
    }
}

/// The options of a parent run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Options {
    pub(crate) sizes: Vec<usize>,
    pub(crate) runtimes: Vec<Runtime>,
    pub(crate) systems: Vec<System>,
    pub(crate) workloads: Vec<Workload>,
    pub(crate) repeat: usize,
    /// Runs after the first in each child, for sizes up to [`WARM_MAX_SIZE`].
    pub(crate) warm_runs: WarmRuns,
    pub(crate) max_dagrs_size: usize,
    pub(crate) timeout: Duration,
}

/// What the command line asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Command {
    Help,
    Bench(Options),
    Child(Config),
}

/// Parses the arguments after the program name.
pub(crate) fn parse(args: impl IntoIterator<Item = String>) -> Result<Command, String> {
    let mut args = args.into_iter();
    let mut sizes = None;
    let mut runtimes = None;
    let mut systems = None;
    let mut workloads = None;
    let mut repeat = None;
    let mut warm_runs = None;
    let mut max_dagrs_size = None;
    let mut timeout = None;
    let mut smoke = false;
    let mut child = false;
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => {
                (flag.to_string(), Some(value.to_string()))
            }
            _ => (arg, None),
        };
        let mut value = |name: &str| -> Result<String, String> {
            match inline.clone().or_else(|| args.next()) {
                Some(value) => Ok(value),
                None => Err(format!("{name} needs a value")),
            }
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "--smoke" => smoke = true,
            "--child" => child = true,
            "--sizes" => sizes = Some(list(&value("--sizes")?, parse_count)?),
            "--runtimes" => {
                runtimes = Some(list(&value("--runtimes")?, |s| {
                    Runtime::parse(s).ok_or_else(|| unknown("runtime", s, "current, multi"))
                })?)
            }
            "--systems" => {
                systems = Some(list(&value("--systems")?, |s| {
                    System::parse(s).ok_or_else(|| {
                        unknown("system", s, "flowcore, tokio, dagrs, flowcore-tracing-off")
                    })
                })?)
            }
            "--workloads" => {
                workloads = Some(list(&value("--workloads")?, |s| {
                    Workload::parse(s)
                        .ok_or_else(|| unknown("workload", s, "chain, fanout, layered, mapped"))
                })?)
            }
            "--repeat" => repeat = Some(parse_count(&value("--repeat")?)?),
            "--warm-runs" => {
                let text = value("--warm-runs")?;
                let runs = match text.as_str() {
                    "auto" => WarmRuns::Auto,
                    _ => WarmRuns::Fixed(text.parse::<usize>().map_err(|_| {
                        format!(
                            "--warm-runs takes `auto` or a whole number (0 or more), not `{text}`"
                        )
                    })?),
                };
                warm_runs = Some(runs);
            }
            "--max-dagrs-size" => max_dagrs_size = Some(parse_count(&value("--max-dagrs-size")?)?),
            "--timeout" => timeout = Some(parse_count(&value("--timeout")?)?),
            _ => return Err(format!("unknown argument `{flag}`")),
        }
    }

    if child {
        let one = |name: &str, n: Option<usize>| match n {
            Some(1) => Ok(()),
            _ => Err(format!("--child needs exactly one {name}")),
        };
        one("system", systems.as_ref().map(Vec::len))?;
        one("workload", workloads.as_ref().map(Vec::len))?;
        one("size", sizes.as_ref().map(Vec::len))?;
        one("runtime", runtimes.as_ref().map(Vec::len))?;
        let (Some(systems), Some(workloads), Some(sizes), Some(runtimes)) =
            (systems, workloads, sizes, runtimes)
        else {
            return Err("--child needs a system, a workload, a size and a runtime".to_string());
        };
        return Ok(Command::Child(Config {
            system: systems[0],
            workload: workloads[0],
            size: sizes[0],
            runtime: runtimes[0],
            warm_runs: match warm_runs {
                None => 0,
                Some(runs) => runs.for_size(sizes[0]),
            },
        }));
    }

    let smoke_sizes = smoke.then(|| vec![1_000]);
    let smoke_repeat = smoke.then_some(1);
    Ok(Command::Bench(Options {
        sizes: sizes
            .or(smoke_sizes)
            .unwrap_or_else(|| DEFAULT_SIZES.to_vec()),
        runtimes: runtimes.unwrap_or_else(|| Runtime::ALL.to_vec()),
        systems: systems.unwrap_or_else(|| System::ALL.to_vec()),
        workloads: workloads.unwrap_or_else(|| Workload::ALL.to_vec()),
        repeat: repeat.or(smoke_repeat).unwrap_or(3),
        warm_runs: warm_runs
            .or(smoke.then_some(WarmRuns::Fixed(1)))
            .unwrap_or(WarmRuns::Auto),
        max_dagrs_size: max_dagrs_size.unwrap_or(100_000),
        timeout: Duration::from_secs(timeout.unwrap_or(300) as u64),
    }))
}

fn list<T: PartialEq>(
    value: &str,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<Vec<T>, String> {
    let mut items = Vec::new();
    for item in value
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
    {
        let item = parse(item)?;
        if !items.contains(&item) {
            items.push(item);
        }
    }
    if items.is_empty() {
        return Err(format!("`{value}` is an empty list"));
    }
    Ok(items)
}

/// A positive whole number; `_` may separate digits (`1_000_000`).
fn parse_count(value: &str) -> Result<usize, String> {
    let digits: String = value.chars().filter(|&c| c != '_').collect();
    match digits.parse::<usize>() {
        Ok(0) | Err(_) => Err(format!("`{value}` is not a positive whole number")),
        Ok(n) => Ok(n),
    }
}

fn unknown(what: &str, value: &str, known: &str) -> String {
    format!("unknown {what} `{value}` (known: {known})")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_string).collect()
    }

    fn bench(line: &str) -> Options {
        match parse(args(line)).unwrap() {
            Command::Bench(options) => options,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_defaults_are_every_size_runtime_system_and_workload() {
        let options = bench("");
        assert_eq!(options.sizes, DEFAULT_SIZES);
        assert_eq!(options.runtimes, [Runtime::Current, Runtime::Multi]);
        assert_eq!(options.systems, System::ALL);
        assert_eq!(options.workloads, Workload::ALL);
        assert_eq!(options.repeat, 3);
        assert_eq!(options.warm_runs, WarmRuns::Auto);
        assert_eq!(options.max_dagrs_size, 100_000);
        assert_eq!(options.timeout, Duration::from_secs(300));
    }

    #[test]
    fn lists_and_numbers_parse() {
        let options = bench(
            "--sizes 1_000,20000 --runtimes=multi --systems tokio,flowcore --workloads fanout --repeat 5",
        );
        assert_eq!(options.sizes, [1000, 20000]);
        assert_eq!(options.runtimes, [Runtime::Multi]);
        assert_eq!(options.systems, [System::Tokio, System::Flowcore]);
        assert_eq!(options.workloads, [Workload::Fanout]);
        assert_eq!(options.repeat, 5);
    }

    #[test]
    fn smoke_is_the_smallest_size_once_unless_overridden() {
        let options = bench("--smoke");
        assert_eq!((options.sizes, options.repeat), (vec![1000], 1));
        assert_eq!(options.warm_runs, WarmRuns::Fixed(1));
        let options = bench("--repeat 2 --smoke");
        assert_eq!((options.sizes, options.repeat), (vec![1000], 2));
    }

    #[test]
    fn mistakes_are_errors() {
        assert!(parse(args("--sizes")).is_err());
        assert!(parse(args("--sizes 0")).is_err());
        assert!(parse(args("--sizes ten")).is_err());
        assert!(parse(args("--systems airflow")).is_err());
        assert!(parse(args("--frobnicate")).is_err());
        assert!(parse(args("--child --systems tokio")).is_err());
        assert!(parse(args("--warm-runs -1")).is_err());
        assert!(parse(args("--warm-runs many")).is_err());
        assert_eq!(bench("--warm-runs 0").warm_runs, WarmRuns::Fixed(0));
        assert_eq!(bench("--warm-runs auto").warm_runs, WarmRuns::Auto);
    }

    #[test]
    fn auto_warm_runs_add_up_to_the_warm_tasks_and_stop_above_the_warm_sizes() {
        assert_eq!(WarmRuns::Auto.for_size(1_000), 200);
        assert_eq!(WarmRuns::Auto.for_size(10_000), 20);
        assert_eq!(WarmRuns::Auto.for_size(100_000), 0);
        assert_eq!(WarmRuns::Auto.for_size(5_000), 40);
        assert_eq!(WarmRuns::Fixed(7).for_size(1_000), 7);
        assert_eq!(WarmRuns::Fixed(7).for_size(20_000), 0);
        // A child told `auto` for its one size runs what the parent would have asked.
        match parse(args(
            "--child --systems tokio --workloads chain --sizes 1000 --runtimes current --warm-runs auto",
        ))
        .unwrap()
        {
            Command::Child(config) => assert_eq!(config.warm_runs, 200),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_config_round_trips_through_child_arguments() {
        let config = Config {
            system: System::Dagrs,
            workload: Workload::Layered,
            size: 10_000,
            runtime: Runtime::Multi,
            warm_runs: 5,
        };
        assert_eq!(parse(config.child_args()).unwrap(), Command::Child(config));
        let mapped = Config {
            system: System::Flowcore,
            workload: Workload::Mapped,
            size: 100_000,
            runtime: Runtime::Current,
            warm_runs: 0,
        };
        assert_eq!(parse(mapped.child_args()).unwrap(), Command::Child(mapped));
    }

    #[test]
    fn smoke_includes_the_mapped_workload() {
        assert!(bench("--smoke").workloads.contains(&Workload::Mapped));
        assert_eq!(bench("--workloads mapped").workloads, [Workload::Mapped]);
    }
}
