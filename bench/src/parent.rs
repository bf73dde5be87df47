//! The parent run: one child process per measurement, medians, and the tables.

use std::io::Read;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::child::{Measurement, median, median_duration};
use crate::cli::{Config, Options, Runtime, WARM_MAX_SIZE};
use crate::dag::{Graph, LAYERED_SEED, Workload};
use crate::machine;
use crate::systems::System;
use crate::table::Table;
use crate::{progress, write_stdout};

/// How a row of the table ended.
#[derive(Clone, Debug)]
enum Outcome {
    /// The medians of the repeats.
    Measured {
        build: Duration,
        run: Duration,
        first_run: Duration,
        peak_bytes: u64,
    },
    Skipped(String),
    TimedOut(Duration),
    Failed(String),
    WrongValue {
        expected: u64,
        got: u64,
    },
}

#[derive(Clone, Debug)]
struct Row {
    config: Config,
    tasks: usize,
    outcome: Outcome,
}

impl Row {
    fn us_per_task(&self) -> Option<f64> {
        match self.outcome {
            Outcome::Measured { run, .. } => Some(run.as_secs_f64() * 1e6 / self.tasks as f64),
            _ => None,
        }
    }

    fn first_run(&self) -> Option<Duration> {
        match self.outcome {
            Outcome::Measured { first_run, .. } => Some(first_run),
            _ => None,
        }
    }
}

/// Runs every measurement and prints the tables; returns the process's exit code.
pub(crate) fn main(options: Options) -> u8 {
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(error) => {
            progress!("error: cannot find this program to re-run it: {error}");
            return 2;
        }
    };
    let header = header(&options);
    if !write_stdout(&header) {
        return 3;
    }

    let plan = plan(&options);
    let n_children: usize = plan.iter().filter(|(_, skip)| skip.is_none()).count() * options.repeat;
    let mut done = 0;
    let mut rows = Vec::with_capacity(plan.len());
    let mut peak_not_reset = false;
    for (config, skip) in plan {
        let (tasks, expected) = match Graph::new(config.workload, config.size) {
            Ok(graph) => (graph.len(), Some(graph.expected_digest())),
            Err(_) => (0, None),
        };
        let outcome = match (skip, expected) {
            (Some(reason), _) => Outcome::Skipped(reason),
            (None, None) => Outcome::Skipped("not a valid size for this workload".to_string()),
            (None, Some(expected)) => {
                let mut repeats = Vec::with_capacity(options.repeat);
                let mut outcome = None;
                for repeat in 1..=options.repeat {
                    done += 1;
                    let started = Instant::now();
                    let end = run_child(&exe, &config, options.timeout);
                    let label = format!(
                        "[{done}/{n_children}] {} {} N={} {} #{repeat}",
                        config.system, config.workload, config.size, config.runtime
                    );
                    match end {
                        Ok(measurement) if measurement.digest != expected => {
                            progress!("{label}: WRONG VALUE {}", measurement.digest);
                            outcome = Some(Outcome::WrongValue {
                                expected,
                                got: measurement.digest,
                            });
                        }
                        Ok(measurement) if measurement.tasks != tasks => {
                            progress!("{label}: wrong task count {}", measurement.tasks);
                            outcome = Some(Outcome::Failed(format!(
                                "ran {} tasks instead of {tasks}",
                                measurement.tasks
                            )));
                        }
                        Ok(measurement) => {
                            progress!(
                                "{label}: build {:.2} ms, run {:.2} ms, {:.2} s in all",
                                ms(measurement.build),
                                ms(measurement.run),
                                started.elapsed().as_secs_f64()
                            );
                            peak_not_reset |= !measurement.peak_reset;
                            repeats.push(measurement);
                        }
                        Err(end) => {
                            progress!("{label}: {}", describe(&end));
                            outcome = Some(end);
                        }
                    }
                    if outcome.is_some() {
                        // The remaining repeats of this row would end the same way.
                        done += options.repeat - repeat;
                        break;
                    }
                }
                outcome.unwrap_or_else(|| medians(&repeats))
            }
        };
        rows.push(Row {
            config,
            tasks,
            outcome,
        });
    }

    let mut out = String::new();
    out.push_str(&results_table(&rows).to_markdown());
    out.push('\n');
    if options.systems.contains(&System::Flowcore) && options.systems.contains(&System::Tokio) {
        out.push_str("flowcore's run time relative to the tokio baseline:\n\n");
        out.push_str(&ratio_table(&rows, &options).to_markdown());
        out.push('\n');
    }
    out.push_str(&format!(
        "Each row is the median of {} child process{} (build, run, first run and memory each \
         on its own). build: making the graph; run: executing it until every task finished; \
         µs/task: run time / tasks; peak KB/task: peak resident memory (VmHWM) during every \
         build and run of the child less the resident memory before the first build, / tasks \
         (1 KB = 1024 bytes).\n",
        options.repeat,
        if options.repeat == 1 { "" } else { "es" },
    ));
    // The warm runs of each size that has any, as "200 more at N = 1000".
    let warm: Vec<String> = options
        .sizes
        .iter()
        .map(|&size| (size, options.warm_runs.for_size(size)))
        .filter(|&(_, runs)| runs > 0)
        .map(|(size, runs)| format!("{runs} more at N = {size}"))
        .collect();
    if !warm.is_empty() {
        out.push_str(&format!(
            "Up to N = {WARM_MAX_SIZE}, each child builds and runs the graph once, then again \
             ({}): build and run are the medians of the builds and runs after the first (the \
             steady state, as a Criterion-style benchmark measures), and first run is the run \
             of the first time, whose build came just before it in a process that had run \
             nothing yet (so it also pays for the process's page faults, code loading and lazy \
             initialisation). Larger graphs are built and run once; their first run is their \
             run.\n",
            warm.join(", "),
        ));
    } else {
        out.push_str("Each child builds and runs the graph once.\n");
    }
    if options.workloads.contains(&Workload::Mapped) {
        out.push_str(
            "mapped: tasks = N + 1 (the source and one child per item); the children are made \
             by the run once the source's items are known, so build covers only the source \
             and the mapped task, and run includes the mapping. dagrs has no mapping and is \
             skipped.\n",
        );
    }
    if peak_not_reset {
        out.push_str(
            "Note: the kernel did not allow resetting the peak memory before the build, \
             so some peaks may include the child's start-up.\n",
        );
    }
    let bad: Vec<&Row> = rows
        .iter()
        .filter(|row| {
            matches!(
                row.outcome,
                Outcome::Failed(_) | Outcome::TimedOut(_) | Outcome::WrongValue { .. }
            )
        })
        .collect();
    for row in &bad {
        if let Outcome::WrongValue { expected, got } = row.outcome {
            out.push_str(&format!(
                "ERROR: {} {} N={} {}: the terminal tasks' values sum to {got}, expected {expected}; the systems disagree.\n",
                row.config.system, row.config.workload, row.config.size, row.config.runtime
            ));
        }
    }
    if !bad.is_empty() {
        out.push_str(&format!(
            "{} of {} rows did not complete (see the note column).\n",
            bad.len(),
            rows.len()
        ));
    }
    if !write_stdout(&out) {
        return 3;
    }
    if bad.is_empty() { 0 } else { 1 }
}

/// Every row to produce, in table order, with the reason a row is skipped.
fn plan(options: &Options) -> Vec<(Config, Option<String>)> {
    let mut plan = Vec::new();
    for &workload in &options.workloads {
        for &size in &options.sizes {
            for &runtime in &options.runtimes {
                for &system in &options.systems {
                    let warm_runs = options.warm_runs.for_size(size);
                    let config = Config {
                        system,
                        workload,
                        size,
                        runtime,
                        warm_runs,
                    };
                    let skip = system
                        .unsupported(workload)
                        .map(|reason| format!("skipped: {reason}"));
                    let skip = skip.or_else(|| {
                        (system == System::Dagrs && size > options.max_dagrs_size).then(|| {
                            format!("skipped: N > --max-dagrs-size {}", options.max_dagrs_size)
                        })
                    });
                    let skip = skip.or_else(|| {
                        Graph::new(workload, size)
                            .err()
                            .map(|error| format!("skipped: {error}"))
                    });
                    plan.push((config, skip));
                }
            }
        }
    }
    plan
}

fn header(options: &Options) -> String {
    let join = |items: Vec<String>| items.join(",");
    format!(
        "## flowcore benchmark\n\n\
         - machine: {}\n\
         - date: {}\n\
         - command: `cargo run --release -p flowcore-bench -- --sizes {} --runtimes {} --systems {} --workloads {} --repeat {} --warm-runs {} --max-dagrs-size {} --timeout {}`\n\
         - runtimes: current = `new_current_thread()`, multi = `new_multi_thread().worker_threads(2)`; \
           the graph is built and run inside `block_on`\n\
         - layered seed: {LAYERED_SEED:#x}; dagrs only up to N = {}\n\n",
        machine::describe(),
        machine::now_utc(),
        join(options.sizes.iter().map(usize::to_string).collect()),
        join(
            options
                .runtimes
                .iter()
                .map(|r| r.name().to_string())
                .collect()
        ),
        join(
            options
                .systems
                .iter()
                .map(|s| s.name().to_string())
                .collect()
        ),
        join(
            options
                .workloads
                .iter()
                .map(|w| w.name().to_string())
                .collect()
        ),
        options.repeat,
        options.warm_runs,
        options.max_dagrs_size,
        options.timeout.as_secs(),
        options.max_dagrs_size,
    )
}

fn results_table(rows: &[Row]) -> Table {
    let mut table = Table::new(&[
        ("workload", false),
        ("N", true),
        ("tasks", true),
        ("runtime", false),
        ("system", false),
        ("build ms", true),
        ("run ms", true),
        ("first run ms", true),
        ("µs/task", true),
        ("peak KB/task", true),
        ("note", false),
    ]);
    for row in rows {
        let config = &row.config;
        let mut cells = vec![
            config.workload.to_string(),
            config.size.to_string(),
            if row.tasks == 0 {
                "-".to_string()
            } else {
                row.tasks.to_string()
            },
            config.runtime.to_string(),
            config.system.to_string(),
        ];
        match row.outcome {
            Outcome::Measured {
                build,
                run,
                first_run,
                peak_bytes,
            } => {
                cells.push(format!("{:.2}", ms(build)));
                cells.push(format!("{:.2}", ms(run)));
                cells.push(format!("{:.2}", ms(first_run)));
                cells.push(format!("{:.3}", row.us_per_task().unwrap_or(0.0)));
                cells.push(format!(
                    "{:.3}",
                    peak_bytes as f64 / 1024.0 / row.tasks as f64
                ));
                cells.push(String::new());
            }
            _ => {
                cells.extend(["-", "-", "-", "-", "-"].map(str::to_string));
                cells.push(describe(&row.outcome));
            }
        }
        table.push(cells);
    }
    table
}

fn ratio_table(rows: &[Row], options: &Options) -> Table {
    let mut table = Table::new(&[
        ("workload", false),
        ("N", true),
        ("runtime", false),
        ("flowcore µs/task", true),
        ("tokio µs/task", true),
        ("flowcore / tokio", true),
        ("first run: flowcore / tokio", true),
    ]);
    let find = |system: System, workload: Workload, size: usize, runtime: Runtime| {
        rows.iter().find(|row| {
            let config = &row.config;
            (config.system, config.workload, config.size, config.runtime)
                == (system, workload, size, runtime)
        })
    };
    for &workload in &options.workloads {
        for &size in &options.sizes {
            for &runtime in &options.runtimes {
                let flowcore_row = find(System::Flowcore, workload, size, runtime);
                let tokio_row = find(System::Tokio, workload, size, runtime);
                let flowcore = flowcore_row.and_then(Row::us_per_task);
                let tokio = tokio_row.and_then(Row::us_per_task);
                let show = |us: Option<f64>| us.map_or("-".to_string(), |us| format!("{us:.3}"));
                let ratio = |flowcore: Option<f64>, tokio: Option<f64>| match (flowcore, tokio) {
                    (Some(flowcore), Some(tokio)) if tokio > 0.0 => {
                        format!("{:.2}x", flowcore / tokio)
                    }
                    _ => "n/a".to_string(),
                };
                let first = |row: Option<&Row>| row.and_then(Row::first_run).map(ms);
                let first_ratio = match options.warm_runs.for_size(size) > 0 {
                    true => ratio(first(flowcore_row), first(tokio_row)),
                    false => "same".to_string(),
                };
                table.push(vec![
                    workload.to_string(),
                    size.to_string(),
                    runtime.to_string(),
                    show(flowcore),
                    show(tokio),
                    ratio(flowcore, tokio),
                    first_ratio,
                ]);
            }
        }
    }
    table
}

fn describe(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Measured { .. } => String::new(),
        Outcome::Skipped(reason) => reason.clone(),
        Outcome::TimedOut(limit) => format!("timed out (killed after {} s)", limit.as_secs()),
        Outcome::Failed(error) => format!("failed: {error}"),
        Outcome::WrongValue { expected, got } => {
            format!("WRONG VALUE: {got}, expected {expected}")
        }
    }
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

/// Each metric's median over the repeats.
fn medians(repeats: &[Measurement]) -> Outcome {
    if repeats.is_empty() {
        return Outcome::Failed("no repeats".to_string());
    }
    let of = |pick: fn(&Measurement) -> Duration| median_duration(repeats.iter().map(pick));
    let peak = median(repeats.iter().map(|m| u128::from(m.peak_bytes)).collect());
    Outcome::Measured {
        build: of(|m| m.build),
        run: of(|m| m.run),
        first_run: of(|m| m.first_run),
        peak_bytes: u64::try_from(peak).unwrap_or(u64::MAX),
    }
}

/// Runs one measurement in a child process, killing it after `timeout`.
fn run_child(exe: &Path, config: &Config, timeout: Duration) -> Result<Measurement, Outcome> {
    let mut child = Command::new(exe)
        .args(config.child_args())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| Outcome::Failed(format!("cannot start a child process: {error}")))?;
    let stdout = child.stdout.take().map(read_in_background);
    let stderr = child.stderr.take().map(read_in_background);
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Ok(status),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                break Err(Outcome::TimedOut(timeout));
            }
            Ok(None) => thread::sleep(Duration::from_millis(5)),
            Err(error) => {
                let _ = child.kill();
                let _ = child.wait();
                break Err(Outcome::Failed(format!("waiting for the child: {error}")));
            }
        }
    };
    let stdout = stdout.map(join_output).unwrap_or_default();
    let stderr = stderr.map(join_output).unwrap_or_default();
    let status = status?;
    match Measurement::parse(&stdout) {
        Some(Ok(measurement)) if status.success() => Ok(measurement),
        Some(Err(error)) => Err(Outcome::Failed(error)),
        _ => Err(Outcome::Failed(child_failure(status, &stderr))),
    }
}

fn read_in_background<R: Read + Send + 'static>(mut pipe: R) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

fn join_output(handle: thread::JoinHandle<String>) -> String {
    handle.join().unwrap_or_default()
}

fn child_failure(status: ExitStatus, stderr: &str) -> String {
    use std::os::unix::process::ExitStatusExt;
    let how = match (status.code(), status.signal()) {
        (Some(code), _) => format!("the child exited with code {code}"),
        (None, Some(9)) => "the child was killed (signal 9; out of memory?)".to_string(),
        (None, Some(signal)) => format!("the child was killed by signal {signal}"),
        (None, None) => format!("the child ended: {status}"),
    };
    let last = stderr
        .lines()
        .rev()
        .find(|line| !line.trim().is_empty())
        .map(|line| format!(": {}", line.trim()))
        .unwrap_or_default();
    format!("{how}{last}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measurement(build_ns: u64, run_ns: u64, peak_bytes: u64) -> Measurement {
        Measurement {
            tasks: 10,
            build: Duration::from_nanos(build_ns),
            run: Duration::from_nanos(run_ns),
            first_run: Duration::from_nanos(run_ns * 3),
            peak_bytes,
            peak_reset: true,
            digest: 10,
        }
    }

    #[test]
    fn medians_are_taken_per_metric() {
        let repeats = [
            measurement(3, 10, 500),
            measurement(1, 30, 700),
            measurement(2, 20, 600),
        ];
        match medians(&repeats) {
            Outcome::Measured {
                build,
                run,
                first_run,
                peak_bytes,
            } => {
                assert_eq!(build, Duration::from_nanos(2));
                assert_eq!(run, Duration::from_nanos(20));
                assert_eq!(first_run, Duration::from_nanos(60));
                assert_eq!(peak_bytes, 600);
            }
            other => panic!("{other:?}"),
        }
        match medians(&repeats[..2]) {
            Outcome::Measured { run, .. } => assert_eq!(run, Duration::from_nanos(20)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn dagrs_is_skipped_above_its_limit_and_layered_below_a_task_per_layer() {
        let options = match crate::cli::parse(
            "--sizes 50,1000,200000 --runtimes current"
                .split_whitespace()
                .map(str::to_string),
        )
        .unwrap()
        {
            crate::cli::Command::Bench(options) => options,
            other => panic!("{other:?}"),
        };
        let plan = plan(&options);
        assert_eq!(plan.len(), 3 * 3 * 4);
        let skipped = |system, workload, size| {
            plan.iter()
                .find(|(c, _)| c.system == system && c.workload == workload && c.size == size)
                .unwrap()
                .1
                .is_some()
        };
        assert!(skipped(System::Dagrs, Workload::Chain, 200_000));
        assert!(!skipped(System::Dagrs, Workload::Chain, 1000));
        assert!(!skipped(System::Flowcore, Workload::Chain, 200_000));
        assert!(skipped(System::Tokio, Workload::Layered, 50));
        assert!(!skipped(System::Tokio, Workload::Chain, 50));
    }

    #[test]
    fn dagrs_skips_mapped_at_every_size_and_the_others_do_not() {
        let options = match crate::cli::parse(
            "--sizes 50,1000,200000 --workloads mapped"
                .split_whitespace()
                .map(str::to_string),
        )
        .unwrap()
        {
            crate::cli::Command::Bench(options) => options,
            other => panic!("{other:?}"),
        };
        let plan = plan(&options);
        assert_eq!(plan.len(), 3 * 2 * 3);
        for (config, skip) in &plan {
            match config.system {
                System::Dagrs => assert_eq!(
                    skip.as_deref(),
                    Some("skipped: dagrs has no mapping"),
                    "{config:?}"
                ),
                _ => assert_eq!(skip, &None, "{config:?}"),
            }
        }
    }
}
