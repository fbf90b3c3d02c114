//! specguard in a real Envoy, in front of a real recording upstream: every
//! test asserts what the client got and what the upstream received.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use serde_json::{json, Value};
use specguard_integration::*;

struct Stack {
    upstream: Upstream,
    envoy: Envoy,
    _dir: TempDir,
}

/// The demo policy, optionally edited before Envoy loads it.
fn stack_with(edit: impl FnOnce(&mut Value)) -> Stack {
    let dir = TempDir::new("stack");
    let policy = dir.0.join("policy.json");
    compile(&repo_root().join("envoy/demo/openapi.yaml"), &policy);
    let mut v: Value = serde_json::from_slice(&std::fs::read(&policy).unwrap()).unwrap();
    edit(&mut v);
    std::fs::write(&policy, v.to_string()).unwrap();
    let upstream = Upstream::start();
    let envoy = Envoy::start(Some(&policy), upstream.port);
    Stack {
        upstream,
        envoy,
        _dir: dir,
    }
}

fn stack() -> Stack {
    stack_with(|_| {})
}

fn order() -> Value {
    json!({
        "status": "pending",
        "customer": {"name": "Ann", "email": "ann@example.com", "address": {"country": "DE"}},
        "items": [{"sku": "ABC-1234", "quantity": 2, "unitPrice": 9.99}],
        "couponCode": "SAVE2024"
    })
}

fn stored_order() -> Value {
    let mut o = order();
    o["id"] = json!("123e4567-e89b-12d3-a456-426614174000");
    o["createdAt"] = json!("2026-12-03T10:00:00Z");
    o["internalNote"] = json!("fraud score 0.02");
    o
}

const JSON: (&str, &str) = ("content-type", "application/json");

fn assert_problem(r: &Response, status: u16, code: &str) {
    assert_eq!(r.status, status, "body: {}", r.text());
    assert_eq!(r.header("content-type"), Some("application/problem+json"));
    let b = r.json();
    assert_eq!(b["code"], code, "body: {}", r.text());
    assert_eq!(b["status"], status);
    // Nothing but the generic fields: no detail, no echo of input.
    let keys: Vec<&String> = b.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["code", "status", "title", "type"]);
}

#[test]
fn valid_request_reaches_upstream_intact_and_response_is_filtered() {
    let s = stack();
    s.upstream
        .script("ok1", Scripted::json(201, stored_order()));
    let body = order().to_string();
    let r = s.envoy.send(
        "POST",
        "/api/orders?",
        &[JSON, ("x-test-id", "ok1")],
        body.as_bytes(),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let got = s.upstream.received("ok1");
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].body,
        body.as_bytes(),
        "upstream must receive the body byte for byte"
    );
    let client = r.json();
    assert_eq!(client["id"], "123e4567-e89b-12d3-a456-426614174000");
    assert!(
        client.get("couponCode").is_none(),
        "writeOnly field leaked: {client}"
    );
    assert!(
        client.get("internalNote").is_none(),
        "x-internal field leaked: {client}"
    );
    assert_eq!(client["customer"]["name"], "Ann");

    // A GET with valid parameters of every kind.
    s.upstream.script("ok2", Scripted::json(200, json!([])));
    let r = s.envoy.send(
        "GET",
        "/api/orders?limit=10&status=paid&tag=a&tag=b",
        &[("x-test-id", "ok2")],
        b"",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        s.upstream.received("ok2")[0].path,
        "/api/orders?limit=10&status=paid&tag=a&tag=b"
    );
}

#[test]
fn refused_requests_never_reach_the_upstream() {
    let s = stack();
    let mut with_id = order();
    with_id["id"] = json!("123e4567-e89b-12d3-a456-426614174000");
    let mut unknown = order();
    unknown["customer"]["isAdmin"] = json!(true);
    let mut internal = order();
    internal["internalNote"] = json!("x");
    let mut bad_sku = order();
    bad_sku["items"][0]["sku"] = json!("abc");
    let deep = "[".repeat(40) + &"]".repeat(40);
    let big = format!("{{\"note\": \"{}\"}}", "x".repeat(70 * 1024));
    let long_id = "r".repeat(65);
    // (test id, method, path, headers, body, expected status, expected code)
    type Case<'a> = (
        &'a str,
        &'a str,
        &'a str,
        Vec<(&'a str, &'a str)>,
        Vec<u8>,
        u16,
        &'a str,
    );
    let cases: Vec<Case> = vec![
        (
            "ro",
            "POST",
            "/api/orders",
            vec![JSON],
            with_id.to_string().into_bytes(),
            400,
            "read-only-field",
        ),
        (
            "unknown",
            "POST",
            "/api/orders",
            vec![JSON],
            unknown.to_string().into_bytes(),
            400,
            "unknown-field",
        ),
        (
            "internal",
            "POST",
            "/api/orders",
            vec![JSON],
            internal.to_string().into_bytes(),
            400,
            "unknown-field",
        ),
        (
            "pattern",
            "POST",
            "/api/orders",
            vec![JSON],
            bad_sku.to_string().into_bytes(),
            400,
            "invalid-body",
        ),
        (
            "dup",
            "POST",
            "/api/orders",
            vec![JSON],
            br#"{"status":"paid","status":"paid"}"#.to_vec(),
            400,
            "invalid-json",
        ),
        (
            "utf8",
            "POST",
            "/api/orders",
            vec![JSON],
            b"{\"note\":\"\xff\"}".to_vec(),
            400,
            "invalid-json",
        ),
        (
            "syntax",
            "POST",
            "/api/orders",
            vec![JSON],
            b"{\"status\":".to_vec(),
            400,
            "invalid-json",
        ),
        (
            "deep",
            "POST",
            "/api/orders",
            vec![JSON],
            deep.into_bytes(),
            413,
            "json-limit",
        ),
        (
            "big",
            "POST",
            "/api/orders",
            vec![JSON],
            big.into_bytes(),
            413,
            "payload-too-large",
        ),
        (
            "ctype",
            "POST",
            "/api/orders",
            vec![("content-type", "text/plain")],
            b"hello".to_vec(),
            415,
            "unsupported-media-type",
        ),
        (
            "noctype",
            "POST",
            "/api/orders",
            vec![],
            b"{}".to_vec(),
            415,
            "unsupported-media-type",
        ),
        (
            "nobody",
            "POST",
            "/api/orders",
            vec![JSON],
            Vec::new(),
            400,
            "missing-body",
        ),
        (
            "limit",
            "GET",
            "/api/orders?limit=1000",
            vec![],
            Vec::new(),
            400,
            "invalid-parameter",
        ),
        (
            "enum",
            "GET",
            "/api/orders?status=lost",
            vec![],
            Vec::new(),
            400,
            "invalid-parameter",
        ),
        (
            "tags",
            "GET",
            "/api/orders?tag=1&tag=2&tag=3&tag=4&tag=5&tag=6",
            vec![],
            Vec::new(),
            400,
            "invalid-parameter",
        ),
        (
            "qunknown",
            "GET",
            "/api/orders?debug=1",
            vec![],
            Vec::new(),
            400,
            "unknown-parameter",
        ),
        (
            "qencoding",
            "GET",
            "/api/orders?limit=%zz",
            vec![],
            Vec::new(),
            400,
            "invalid-query",
        ),
        (
            "uuid",
            "GET",
            "/api/orders/not-a-uuid",
            vec![],
            Vec::new(),
            400,
            "invalid-parameter",
        ),
        (
            "header",
            "GET",
            "/api/orders/123e4567-e89b-12d3-a456-426614174000",
            vec![("x-request-id", long_id.as_str())],
            Vec::new(),
            400,
            "invalid-parameter",
        ),
        (
            "shadow",
            "GET",
            "/api/v0/orders",
            vec![],
            Vec::new(),
            404,
            "not-found",
        ),
        (
            "method",
            "DELETE",
            "/api/orders",
            vec![],
            Vec::new(),
            405,
            "method-not-allowed",
        ),
        (
            "internal-op",
            "GET",
            "/api/admin/stats",
            vec![],
            Vec::new(),
            404,
            "not-found",
        ),
        (
            "get-body",
            "GET",
            "/api/orders",
            vec![JSON],
            b"{}".to_vec(),
            400,
            "unexpected-body",
        ),
    ];
    for (id, method, path, mut headers, body, status, code) in cases {
        headers.push(("x-test-id", id));
        let r = s.envoy.send(method, path, &headers, &body);
        assert_problem(&r, status, code);
        assert_eq!(
            s.upstream.touched(id),
            0,
            "case {id}: refused request reached the upstream"
        );
    }
    // The internal operation answers exactly like a path that does not exist.
    let a = s.envoy.send("GET", "/api/admin/stats", &[], b"");
    let b = s.envoy.send("GET", "/api/admin/nothing-here", &[], b"");
    assert_eq!((a.status, a.body.clone()), (b.status, b.body.clone()));
    assert_eq!(s.upstream.total(), 0);
}

#[test]
fn chunked_bodies_are_checked_before_anything_is_forwarded() {
    let s = stack();
    let mut unknown = order();
    unknown["extra"] = json!(1);
    let r = s.envoy.send(
        "POST",
        "/api/orders",
        &[
            JSON,
            ("transfer-encoding", "chunked"),
            ("x-test-id", "chunk-bad"),
        ],
        unknown.to_string().as_bytes(),
    );
    assert_problem(&r, 400, "unknown-field");
    assert_eq!(
        s.upstream.touched("chunk-bad"),
        0,
        "headers must be held until the body is checked"
    );
    // Even when the body dawdles (forward mode lets headers through here).
    let r = s.envoy.send_slow(
        "POST",
        "/api/orders",
        &[JSON, ("x-test-id", "slow-bad")],
        unknown.to_string().as_bytes(),
    );
    assert_problem(&r, 400, "unknown-field");
    assert_eq!(
        s.upstream.touched("slow-bad"),
        0,
        "headers must be held until the body is checked"
    );

    s.upstream
        .script("chunk-ok", Scripted::json(201, stored_order()));
    let body = order().to_string();
    let r = s.envoy.send(
        "POST",
        "/api/orders",
        &[
            JSON,
            ("transfer-encoding", "chunked"),
            ("x-test-id", "chunk-ok"),
        ],
        body.as_bytes(),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(s.upstream.received("chunk-ok")[0].body, body.as_bytes());

    let big = format!("{{\"note\": \"{}\"}}", "x".repeat(70 * 1024));
    let r = s.envoy.send(
        "POST",
        "/api/orders",
        &[
            JSON,
            ("transfer-encoding", "chunked"),
            ("x-test-id", "chunk-big"),
        ],
        big.as_bytes(),
    );
    assert_problem(&r, 413, "payload-too-large");
    assert_eq!(s.upstream.touched("chunk-big"), 0);
}

#[test]
fn invalid_responses_become_a_generic_502() {
    let s = stack();
    let path = "/api/orders/123e4567-e89b-12d3-a456-426614174000";
    let cases = [
        (
            "leak",
            Scripted::json(
                200,
                json!({"id": "x", "debug": "stack trace at OrderService.java:42"}),
            ),
        ),
        (
            "status",
            Scripted::json(500, json!({"error": "db down at 10.0.0.7"})),
        ),
        (
            "ctype",
            Scripted {
                status: 200,
                content_type: Some("text/html".into()),
                body: b"<h1>oops</h1>".to_vec(),
            },
        ),
        (
            "notjson",
            Scripted {
                status: 200,
                content_type: Some("application/json".into()),
                body: b"{oops".to_vec(),
            },
        ),
    ];
    for (id, resp) in cases {
        s.upstream.script(id, resp);
        let r = s.envoy.send("GET", path, &[("x-test-id", id)], b"");
        assert_problem(&r, 502, "upstream-response-invalid");
        assert!(!r.text().contains("10.0.0.7") && !r.text().contains("OrderService"));
        assert_eq!(
            s.upstream.received(id).len(),
            1,
            "case {id}: the request itself was valid"
        );
    }
    // A declared error response passes through.
    s.upstream.script(
        "p404",
        Scripted {
            status: 404,
            content_type: Some("application/problem+json".into()),
            body: br#"{"title":"Not Found","status":404}"#.to_vec(),
        },
    );
    let r = s.envoy.send("GET", path, &[("x-test-id", "p404")], b"");
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["title"], "Not Found");
}

#[test]
fn monitor_mode_lets_traffic_through_and_counts_what_it_would_refuse() {
    let s = stack_with(|p| p["mode"] = json!("monitor"));
    // /api/health is monitor in the spec; its response breaks the schema.
    s.upstream
        .script("mon", Scripted::json(200, json!({"status": "degraded"})));
    let r = s
        .envoy
        .send("GET", "/api/health", &[("x-test-id", "mon")], b"");
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["status"], "degraded");
    assert_eq!(
        s.envoy.counter("wasmcustom.specguard.endpoint=health.class=response.code=upstream-response-invalid.monitored"),
        1
    );
    // Root mode monitor: unknown paths are counted, not refused.
    let r = s.envoy.send(
        "GET",
        "/api/shadow-endpoint",
        &[("x-test-id", "shadow")],
        b"",
    );
    assert_eq!(r.status, 200);
    assert_eq!(s.upstream.received("shadow").len(), 1);
    assert_eq!(
        s.envoy
            .counter("wasmcustom.specguard.endpoint=_shadow.class=shadow.code=not-found.monitored"),
        1
    );
}

#[test]
fn refusals_are_counted_per_endpoint_and_class() {
    let s = stack();
    for _ in 0..3 {
        s.envoy.send("GET", "/api/orders?limit=0", &[], b"");
    }
    s.envoy.send("GET", "/nowhere", &[], b"");
    s.upstream.script("c", Scripted::json(200, json!([])));
    s.envoy
        .send("GET", "/api/orders", &[("x-test-id", "c")], b"");
    assert_eq!(s.envoy.counter("wasmcustom.specguard.endpoint=listOrders.class=validation.code=invalid-parameter.denied"), 3);
    assert_eq!(
        s.envoy
            .counter("wasmcustom.specguard.endpoint=_shadow.class=shadow.code=not-found.denied"),
        1
    );
    assert_eq!(
        s.envoy
            .counter("wasmcustom.specguard.endpoint=listOrders.class=enforce.allowed"),
        1
    );
    // Prometheus output carries them as labels.
    let prom = request(s.envoy.admin, "GET", "/stats/prometheus", &[], b"")
        .unwrap()
        .text();
    assert!(
        prom.lines().any(|l| l.starts_with("specguard_denied{")
            && l.contains("endpoint=\"listOrders\"")
            && l.contains("class=\"validation\"")),
        "{}",
        prom.lines()
            .filter(|l| l.contains("specguard"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn forward_mode_still_refuses_bodies_but_headers_go_first() {
    let s = stack_with(|p| p["host"]["request_headers"] = json!("forward"));
    let mut unknown = order();
    unknown["extra"] = json!(1);
    let r = s.envoy.send_slow(
        "POST",
        "/api/orders",
        &[JSON, ("x-test-id", "fwd")],
        unknown.to_string().as_bytes(),
    );
    assert_problem(&r, 400, "unknown-field");
    // The weaker guarantee of forward mode: the headers went upstream, the
    // body never did, and the upstream stream was reset.
    assert_eq!(s.upstream.touched("fwd"), 1);
    assert!(s.upstream.received("fwd").is_empty());
    s.upstream
        .script("fwd-ok", Scripted::json(201, stored_order()));
    let r = s.envoy.send(
        "POST",
        "/api/orders",
        &[JSON, ("x-test-id", "fwd-ok")],
        order().to_string().as_bytes(),
    );
    assert_eq!(r.status, 201, "{}", r.text());
}

#[test]
fn envoy_refuses_a_bad_policy() {
    let dir = TempDir::new("bad");
    let policy = dir.0.join("policy.json");
    compile(&repo_root().join("envoy/demo/openapi.yaml"), &policy);
    let config = dir.0.join("envoy.yaml");
    let o = std::process::Command::new(cli())
        .args(["envoy-config", "--wasm", &wasm(), "--policy"])
        .arg(&policy)
        .arg("-o")
        .arg(&config)
        .output()
        .unwrap();
    assert!(o.status.success());
    let (ok, _) = envoy_validate(&config);
    assert!(ok, "the good config must validate");
    // Break the embedded policy: a version this build does not read.
    let mut cfg: Value = serde_json::from_slice(&std::fs::read(&config).unwrap()).unwrap();
    let slot = &mut cfg["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]
        ["typed_config"]["http_filters"][0]["typed_config"]["config"]["configuration"]["value"];
    let mut p: Value = serde_json::from_str(slot.as_str().unwrap()).unwrap();
    p["version"] = json!(99);
    *slot = Value::String(p.to_string());
    let bad = dir.0.join("bad.yaml");
    std::fs::write(&bad, cfg.to_string()).unwrap();
    let (ok, out) = envoy_validate(&bad);
    assert!(!ok, "envoy must refuse a config whose policy is refused");
    assert!(
        out.contains("policy refused") && out.contains("version 99"),
        "{out}"
    );
    let _ = PathBuf::new();
}
