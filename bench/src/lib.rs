//! Shared pieces of the benchmarks: timing, and the large-spec generator.
// Test and benchmark code: a failed expectation should stop the run loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod genspec;
pub mod jwt;

use std::hint::black_box;
use std::time::{Duration, Instant};

/// Nanoseconds per call of `f`, measured over about `budget` after a warm-up.
pub fn ns_per_op<T>(budget: Duration, mut f: impl FnMut() -> T) -> f64 {
    for _ in 0..1000 {
        black_box(f());
    }
    // Calibrate a batch that takes ~10 ms, then run batches until the budget is spent.
    let mut batch = 1u64;
    loop {
        let t = Instant::now();
        for _ in 0..batch {
            black_box(f());
        }
        if t.elapsed() > Duration::from_millis(10) || batch >= 1 << 30 {
            break;
        }
        batch *= 2;
    }
    let start = Instant::now();
    let mut n = 0u64;
    let mut best = f64::MAX;
    while start.elapsed() < budget {
        let t = Instant::now();
        for _ in 0..batch {
            black_box(f());
        }
        n += batch;
        // The fastest batch is the least disturbed by other load on the machine.
        best = best.min(t.elapsed().as_nanos() as f64 / batch as f64);
    }
    let _ = n;
    best
}
