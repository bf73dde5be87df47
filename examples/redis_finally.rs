//! Kestra's `finally` scenario: start a Redis container, use it, and stop it in `finally`,
//! even when a step fails; an `errors` task sends the alert.
//!
//! The container is a local stand-in: a small key-value server on a TCP port of this
//! machine that speaks `PING`, `SET key value` and `GET key`, one line each, so no Docker
//! is needed and its start and stop can be seen (the port accepts connections, then
//! refuses them).
//!
//! Run with: `cargo run -p flowcore-examples --example redis_finally`
//! (`-- --succeed` runs it with a report that exists, so nothing fails).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use flowcore::{Flow, Handle, RunReport, TaskFailure, task};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

/// A running stand-in container: its address and the switch that stops it.
#[derive(Clone)]
struct Container {
    addr: SocketAddr,
    stop: Arc<Mutex<Option<oneshot::Sender<()>>>>,
    stopped: Arc<Mutex<Option<oneshot::Receiver<()>>>>,
}

/// Serves one connection: a command per line, an answer per line.
async fn serve(stream: TcpStream, store: Arc<Mutex<HashMap<String, String>>>) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let mut words = line.split_whitespace();
        let answer = match (words.next(), words.next(), words.next()) {
            (Some("PING"), None, None) => "PONG".to_string(),
            (Some("SET"), Some(key), Some(value)) => {
                store
                    .lock()
                    .unwrap()
                    .insert(key.to_string(), value.to_string());
                "OK".to_string()
            }
            (Some("GET"), Some(key), None) => store
                .lock()
                .unwrap()
                .get(key)
                .cloned()
                .unwrap_or_else(|| "(nil)".to_string()),
            _ => format!("ERR unknown command `{line}`"),
        };
        if write
            .write_all(format!("{answer}\n").as_bytes())
            .await
            .is_err()
        {
            return;
        }
    }
}

/// Sends one command and reads the answer.
async fn command(addr: SocketAddr, line: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.write_all(format!("{line}\n").as_bytes()).await?;
    let mut answer = String::new();
    BufReader::new(stream).read_line(&mut answer).await?;
    Ok(answer.trim_end().to_string())
}

#[task]
async fn start_redis() -> Result<Container, std::io::Error> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, mut stop_requested) = oneshot::channel::<()>();
    let (stopped_tx, stopped) = oneshot::channel();
    tokio::spawn(async move {
        let store = Arc::new(Mutex::new(HashMap::new()));
        loop {
            tokio::select! {
                _ = &mut stop_requested => break,
                accepted = listener.accept() => {
                    if let Ok((stream, _)) = accepted {
                        tokio::spawn(serve(stream, store.clone()));
                    }
                }
            }
        }
        // Dropping the listener closes the port.
        drop(listener);
        let _ = stopped_tx.send(());
    });
    let pong = command(addr, "PING").await?;
    println!("started redis stand-in on {addr} ({pong})");
    Ok(Container {
        addr,
        stop: Arc::new(Mutex::new(Some(stop))),
        stopped: Arc::new(Mutex::new(Some(stopped))),
    })
}

#[task]
async fn load_metrics(redis: Container, day: &'static str) -> Result<usize, std::io::Error> {
    let metrics = [("visits", "1843"), ("signups", "37")];
    for (name, value) in metrics {
        command(redis.addr, &format!("SET metrics:{day}:{name} {value}")).await?;
    }
    Ok(metrics.len())
}

#[task]
async fn read_report(redis: Container, key: String) -> Result<String, String> {
    let value = command(redis.addr, &format!("GET {key}"))
        .await
        .map_err(|error| error.to_string())?;
    if value == "(nil)" {
        return Err(format!("key `{key}` not found"));
    }
    Ok(value)
}

#[task]
async fn send_alert(failures: Vec<TaskFailure>) -> String {
    let alert = format!("ALERT: {} task(s) failed", failures.len());
    for failure in &failures {
        println!("  {failure}");
    }
    alert
}

#[task]
async fn stop_redis(redis: Container) -> Result<String, String> {
    let stop = redis.stop.lock().unwrap().take();
    let stopped = redis.stopped.lock().unwrap().take();
    if let (Some(stop), Some(stopped)) = (stop, stopped) {
        let _ = stop.send(());
        let _ = stopped.await;
    }
    match command(redis.addr, "PING").await {
        Ok(answer) => Err(format!("{} still answers: {answer}", redis.addr)),
        Err(_) => {
            println!("stopped redis stand-in on {}", redis.addr);
            Ok(format!("{} refuses connections", redis.addr))
        }
    }
}

/// The flow and the handles a caller checks.
struct RedisFlow {
    flow: Flow,
    report: Handle<String>,
    alert: Handle<String>,
    stop: Handle<String>,
}

fn redis_flow(report_key: &str) -> RedisFlow {
    let mut flow = Flow::new("redis_finally");
    let redis = flow.add(start_redis());
    let loaded = flow.add(load_metrics(redis, "2026-11-23"));
    let report = flow.add(read_report(redis, report_key.to_string()).after(loaded));
    let failures = flow.failed_tasks();
    let alert = flow.add_errors(send_alert(failures));
    let stop = flow.add_finally(stop_redis(redis));
    RedisFlow {
        flow,
        report,
        alert,
        stop,
    }
}

async fn run(report_key: &str) -> Result<(RedisFlow, RunReport), flowcore::BuildError> {
    let redis = redis_flow(report_key);
    let report = redis.flow.run().await?;
    Ok((redis, report))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let succeed = std::env::args().any(|arg| arg == "--succeed");
    let key = if succeed {
        "metrics:2026-11-23:visits"
    } else {
        "report:2026-11-23"
    };
    let (redis, report) = run(key).await?;
    println!("\n{report}");
    println!("report: {:?}", report.result(redis.report));
    println!("alert: {:?}", report.result(redis.alert));
    println!("clean-up: {:?}", report.result(redis.stop));
    Ok(())
}

#[cfg(test)]
mod tests {
    use flowcore::StateKind::*;

    use super::*;

    #[tokio::test]
    async fn the_container_is_stopped_and_an_alert_sent_when_a_step_fails() {
        let (redis, report) = run("report:2026-11-23").await.unwrap();
        report
            .check(redis.report)
            .is(Failed)
            .message("key `report:2026-11-23` not found");
        report
            .check(redis.alert)
            .is(Success)
            .result(&"ALERT: 1 task(s) failed".to_string());
        report.check(redis.stop).is(Success);
        assert!(
            report
                .result(redis.stop)
                .unwrap()
                .ends_with("refuses connections")
        );
        report.check_flow(Failed);
    }

    #[tokio::test]
    async fn the_container_is_stopped_when_every_step_succeeds() {
        let (redis, report) = run("metrics:2026-11-23:visits").await.unwrap();
        report
            .check(redis.report)
            .is(Success)
            .result(&"1843".to_string());
        report.check(redis.alert).is(Skipped);
        report.check(redis.stop).is(Success);
        report.check_flow(Success);
    }
}
