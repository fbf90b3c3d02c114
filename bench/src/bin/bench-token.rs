//! `bench-token SCOPE SECONDS`: prints {"jwks": ..., "es256": token, "rs256": token}
//! for the Envoy load benchmark (keys generated per run).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let scope = args.get(1).cloned().unwrap_or_else(|| "orders:read".into());
    let secs = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(3600);
    let m = specguard_bench::jwt::material(&scope, secs);
    println!(
        "{}",
        serde_json::json!({"jwks": m.jwks, "es256": m.es256_token, "rs256": m.rs256_token, "issuer": specguard_bench::jwt::ISSUER, "audience": specguard_bench::jwt::AUDIENCE})
    );
}
