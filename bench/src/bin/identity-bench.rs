//! `make bench`, identity part (native): the cost of authenticating a
//! request with a verified-token cache hit vs a full signature check, for
//! ES256 and RS256, through the engine's own request path.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::time::Duration;

use serde_json::json;
use specguard_bench::jwt::{material, AUDIENCE, ISSUER};
use specguard_bench::ns_per_op;
use specguard_filter::{Engine, RequestHead, Step};
use specguard_policy::compile::{compile_text, Options};

fn main() {
    let m = material("orders:read", 3600);
    let spec = json!({
        "openapi": "3.1.0",
        "info": {"title": "identity-bench", "version": "1"},
        "security": [{"bearer": ["orders:read"]}],
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "x-specguard-jwt": {
            "issuer": ISSUER, "audiences": [AUDIENCE], "algorithms": ["ES256", "RS256"], "jwks": {"inline": m.jwks}
        }}}},
        "paths": {"/orders": {"get": {"responses": {"204": {"description": "ok"}}}}}
    });
    let c = compile_text(
        &spec.to_string(),
        Path::new("identity-bench.json"),
        &Options::default(),
    )
    .expect("compiles");
    let e = Engine::new(c.policy).expect("engine");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    println!("== identity: authenticate + authorize one request (native)");
    for (alg, token) in [("ES256", &m.es256_token), ("RS256", &m.rs256_token)] {
        let head = RequestHead {
            method: "GET".into(),
            path: "/orders".into(),
            headers: vec![("authorization".into(), format!("Bearer {token}"))],
            now,
            peer_uri_san: None,
        };
        assert_eq!(
            e.request_headers(&head, false).1,
            Step::Continue,
            "benchmark token must be accepted"
        );
        let cached = ns_per_op(Duration::from_millis(1000), || {
            e.request_headers(&head, false)
        });
        let uncached = ns_per_op(Duration::from_millis(2000), || {
            e.identity.clear_token_cache();
            e.request_headers(&head, false)
        });
        println!(
            "  {alg}: cached {:>8.1} us   uncached {:>8.1} us   cache saves {:>6.1}x",
            cached / 1000.0,
            uncached / 1000.0,
            uncached / cached
        );
    }
}
