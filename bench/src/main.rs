//! Benchmarks flowcore against a hand-written tokio DAG and the dagrs crate.
//!
//! Runs no-op workloads (chain, fan-out/fan-in, layered, and one task mapped over N items),
//! each task's value being the sum of its upstream values plus one, through each system, with build and run timed
//! separately and each measurement in a fresh child process so its peak memory is its own.
//! Prints a Markdown table of the medians and flowcore's ratio to the tokio baseline.
//!
//! ```sh
//! cargo run --release -p flowcore-bench -- --help
//! cargo run --release -p flowcore-bench -- --smoke
//! ```

use std::io::Write as _;
use std::process::ExitCode;

mod child;
mod cli;
mod dag;
mod machine;
mod parent;
mod systems;
mod table;

/// Prints a progress line on standard error, ignoring a closed stream.
macro_rules! progress {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}
pub(crate) use progress;

/// Writes `text` to standard output; false when it cannot.
pub(crate) fn write_stdout(text: &str) -> bool {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes()).is_ok() && stdout.flush().is_ok()
}

fn main() -> ExitCode {
    let code = match cli::parse(std::env::args().skip(1)) {
        Ok(cli::Command::Help) => {
            if write_stdout(&format!("{}\n", cli::USAGE)) {
                0
            } else {
                3
            }
        }
        Ok(cli::Command::Bench(options)) => parent::main(options),
        Ok(cli::Command::Child(config)) => child::main(config),
        Err(error) => {
            progress!("error: {error}\n\n{}", cli::USAGE);
            2
        }
    };
    ExitCode::from(code)
}
