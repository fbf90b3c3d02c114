//! Native cost of one whole exchange through the engine on the demo policy
//! (what the wasm filter runs per request, minus the host boundary).
// Test and benchmark code: a failed expectation should stop the run loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use serde_json::json;
use specguard_bench::ns_per_op;
use specguard_filter::{Engine, RequestHead, Step};
use specguard_policy::compile::{compile_file, Options};

fn main() {
    let root = std::path::PathBuf::from(
        std::env::var("SPECGUARD_ROOT")
            .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/..").to_string()),
    );
    let c = compile_file(
        &root.join("envoy/demo/openapi.yaml"),
        &[],
        &Options::default(),
    )
    .expect("demo compiles");
    let e = Engine::new(c.policy).expect("engine");
    let order = |server: bool| {
        let mut o = json!({
            "status": "paid",
            "customer": {"name": "Ann Example", "email": "ann@example.com", "phone": "+4915112345678",
                         "address": {"line1": "Hauptstrasse 1", "city": "Berlin", "country": "DE"}},
            "items": (0..9).map(|k| json!({"sku": format!("ABC-{k:04}"), "quantity": k + 1, "unitPrice": 9.99})).collect::<Vec<_>>(),
            "note": "leave at the door, ring twice"
        });
        if server {
            o["id"] = json!("123e4567-e89b-12d3-a456-426614174000");
            o["createdAt"] = json!("2026-12-03T10:00:00Z");
            o["internalNote"] = json!("fraud score 0.02");
        }
        o.to_string().into_bytes()
    };
    let req_body = order(false);
    let resp_body = order(true);
    let get = RequestHead {
        method: "GET".into(),
        path: "/api/orders/123e4567-e89b-12d3-a456-426614174000".into(),
        headers: vec![],
        ..Default::default()
    };
    let post = RequestHead {
        method: "POST".into(),
        path: "/api/orders".into(),
        headers: vec![("content-type".into(), "application/json".into())],
        ..Default::default()
    };
    let budget = Duration::from_millis(1500);
    let run = |head: &RequestHead, body: Option<&[u8]>, status: u16| {
        let (mut ex, s) = e.request_headers(head, body.is_some());
        assert_eq!(s, Step::Continue);
        if let Some(b) = body {
            assert_eq!(e.request_body(&mut ex, b), Step::Continue);
        }
        assert_eq!(
            e.response_headers(&mut ex, status, Some("application/json"), true),
            Step::Continue
        );
        matches!(e.response_body(&mut ex, &resp_body), Step::Rewrite(_))
    };
    assert!(run(&get, None, 200) && run(&post, Some(&req_body), 201));
    let g = ns_per_op(budget, || run(&get, None, 200));
    let p = ns_per_op(budget, || run(&post, Some(&req_body), 201));
    println!(
        "== engine per exchange, native (demo policy, {}-byte request, {}-byte response)",
        req_body.len(),
        resp_body.len()
    );
    println!(
        "  GET  (validate + filter the response):                 {:>7.1} us",
        g / 1000.0
    );
    println!(
        "  POST (validate request and response, filter response): {:>7.1} us",
        p / 1000.0
    );
}
