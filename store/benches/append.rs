//! Durable append throughput: how many acknowledged (committed with `Durability::Immediate`)
//! appends per second one writer gets, and how many 64 concurrent writers get together
//! thanks to group commit. Each writer appends one event per `append` call and waits for it.
//!
//! ```text
//! cargo bench -p toystore-store                  # 3 s per row
//! cargo bench -p toystore-store -- --secs 10     # 10 s per row
//! ```
//!
//! Without `--bench` on the command line (as under `cargo test --benches`), it runs a short
//! smoke test instead of measuring.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};
use toystore_events::CatalogEvent;
use toystore_store::{EventLog, NoProjection, Seq};

struct Row {
    writers: usize,
    appends: u64,
    secs: f64,
}

impl Row {
    fn rate(&self) -> f64 {
        self.appends as f64 / self.secs
    }
}

fn event(writer: usize, i: u64) -> CatalogEvent {
    CatalogEvent::Purchased {
        request_id: format!("w{writer}-{i}"),
        name: "Tux".into(),
        quantity: 1,
    }
}

/// Runs `writers` concurrent writers against a fresh log for `duration`.
async fn measure(writers: usize, duration: Duration) -> Row {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(
        EventLog::<CatalogEvent>::open(dir.path().join("bench.redb"), NoProjection).unwrap(),
    );
    let start = Instant::now();
    let deadline = start + duration;
    let tasks: Vec<_> = (0..writers)
        .map(|w| {
            let log = log.clone();
            tokio::spawn(async move {
                let mut n = 0u64;
                while Instant::now() < deadline {
                    log.append(vec![event(w, n)]).await.unwrap();
                    n += 1;
                }
                n
            })
        })
        .collect();
    let mut appends = 0;
    for t in tasks {
        appends += t.await.unwrap();
    }
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(log.last_seq(), Seq(appends), "every append is in the log");
    Row {
        writers,
        appends,
        secs,
    }
}

fn parse_secs(args: &[String]) -> f64 {
    let mut secs = 3.0;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let value = if a == "--secs" {
            it.next().map(String::as_str)
        } else {
            a.strip_prefix("--secs=")
        };
        if let Some(v) = value {
            secs = v.parse().unwrap_or_else(|_| {
                eprintln!("--secs wants a number of seconds, got {v:?}");
                std::process::exit(2)
            });
        }
    }
    secs
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let measuring = args.iter().any(|a| a == "--bench");
    let duration = if measuring {
        Duration::from_secs_f64(parse_secs(&args))
    } else {
        Duration::from_millis(100)
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let rows: Vec<Row> = [1, 64]
        .into_iter()
        .map(|w| rt.block_on(measure(w, duration)))
        .collect();

    println!("durable appends (one event per append, Durability::Immediate)");
    if !measuring {
        println!("smoke run of {duration:?} per row, not a measurement: use `cargo bench`");
    }
    println!(
        "{:>8} {:>10} {:>9} {:>12}",
        "writers", "appends", "seconds", "appends/s"
    );
    for r in &rows {
        println!(
            "{:>8} {:>10} {:>9.2} {:>12.0}",
            r.writers,
            r.appends,
            r.secs,
            r.rate()
        );
    }
    println!("ratio 64/1: {:.1}x", rows[1].rate() / rows[0].rate());
}
