//! `gen-spec DIR [OPS] [DEPTH] [FILES]`: writes a large multi-file spec.
// Test and benchmark code: a failed expectation should stop the run loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let Some(dir) = args.get(1) else {
        eprintln!("usage: gen-spec DIR [OPS=1000] [DEPTH=12] [FILES=20]");
        std::process::exit(2);
    };
    let num = |i: usize, d: usize| args.get(i).and_then(|s| s.parse().ok()).unwrap_or(d);
    if let Err(e) = specguard_bench::genspec::generate(
        std::path::Path::new(dir),
        num(2, 1000),
        num(3, 12),
        num(4, 20),
    ) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
