//! `make bench`, native part. Prints, each against a baseline measured in the
//! same run:
//! (a) specguard's validator vs the `jsonschema` crate's `is_valid` on the
//!     same schemas and documents (1 KiB and 100 KiB), and the full body path
//!     (strict parse + validate) vs `serde_json` + `is_valid`;
//! (b) route lookup with 10 .. 10,000 operations (flat = cost independent of
//!     the number of operations);
//! (c) compile time of a generated 1,000-operation multi-file spec.
// Test and benchmark code: a failed expectation should stop the run loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use specguard_bench::ns_per_op;
use specguard_filter::routing::Router;
use specguard_filter::validate::{Ctx, Direction};
use specguard_filter::{Engine, RequestHead};
use specguard_policy::compile::{compile_file, compile_text, Options};

const BUDGET: Duration = Duration::from_millis(1500);
const WIDE: specguard_filter::json::JsonLimits = specguard_filter::json::JsonLimits {
    max_depth: 64,
    max_keys: 1_000_000,
    max_string: 1 << 20,
    max_array: 1_000_000,
};

fn components() -> Value {
    json!({
        "Order": {
            "type": "object",
            "required": ["id", "customer", "items", "status"],
            "properties": {
                "id": {"type": "string", "format": "uuid"},
                "createdAt": {"type": "string", "format": "date-time"},
                "status": {"type": "string", "enum": ["pending", "paid", "shipped", "cancelled"]},
                "customer": {"$ref": "#/components/schemas/Customer"},
                "items": {"type": "array", "minItems": 1, "maxItems": 50, "items": {"$ref": "#/components/schemas/LineItem"}},
                "note": {"type": ["string", "null"], "maxLength": 500}
            }
        },
        "Customer": {
            "type": "object",
            "required": ["name", "email"],
            "properties": {
                "name": {"type": "string", "minLength": 1, "maxLength": 100},
                "email": {"type": "string", "format": "email"},
                "phone": {"type": "string", "pattern": "^\\+[1-9][0-9]{6,14}$"},
                "address": {
                    "type": "object",
                    "required": ["country"],
                    "properties": {
                        "line1": {"type": "string", "maxLength": 200},
                        "city": {"type": "string", "maxLength": 100},
                        "country": {"type": "string", "pattern": "^[A-Z]{2}$"}
                    }
                }
            }
        },
        "LineItem": {
            "type": "object",
            "required": ["sku", "quantity", "unitPrice"],
            "properties": {
                "sku": {"type": "string", "pattern": "^[A-Z]{3}-[0-9]{4}$"},
                "quantity": {"type": "integer", "minimum": 1, "maximum": 1000},
                "unitPrice": {"type": "number", "exclusiveMinimum": 0, "multipleOf": 0.01}
            }
        },
        "OrderList": {
            "type": "object",
            "required": ["orders"],
            "properties": {"orders": {"type": "array", "items": {"$ref": "#/components/schemas/Order"}}}
        }
    })
}

fn order(i: usize) -> Value {
    json!({
        "id": format!("123e4567-e89b-12d3-a456-{:012}", i),
        "createdAt": "2026-12-03T10:00:00Z",
        "status": "paid",
        "customer": {"name": "Ann Example", "email": "ann@example.com", "phone": "+4915112345678",
                     "address": {"line1": "Hauptstrasse 1", "city": "Berlin", "country": "DE"}},
        "items": (0..15).map(|k| json!({"sku": format!("ABC-{:04}", k), "quantity": k + 1, "unitPrice": 9.99})).collect::<Vec<_>>(),
        "note": "leave at the door"
    })
}

fn engine(unknown: &str) -> Engine {
    let spec = json!({
        "openapi": "3.1.0",
        "info": {"title": "bench", "version": "1"},
        "x-specguard-unknown-fields": unknown,
        "x-specguard-limits": {"json-keys": 100000, "request-body": "1MiB"},
        "paths": {
            "/order": {"post": {"requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Order"}}}}, "responses": {"204": {"description": "ok"}}}},
            "/orders": {"post": {"requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/OrderList"}}}}, "responses": {"204": {"description": "ok"}}}}
        },
        "components": {"schemas": components()}
    });
    let c = compile_text(
        &spec.to_string(),
        Path::new("bench.json"),
        &Options::default(),
    )
    .expect("bench spec compiles");
    Engine::new(c.policy).expect("engine")
}

fn body_schema(e: &Engine, path: &str) -> u32 {
    let op = e
        .policy
        .operations
        .iter()
        .find(|o| o.path == path)
        .expect("op");
    op.request_body
        .as_ref()
        .and_then(|b| b.content[0].schema)
        .expect("schema")
}

fn ratio_line(what: &str, ours: f64, base: f64) {
    println!(
        "  {what:<44} specguard {:>10.0} ns   jsonschema {:>10.0} ns   speedup {:>5.2}x",
        ours,
        base,
        base / ours
    );
}

fn main() {
    println!("== (a) validator vs jsonschema 0.37 is_valid (same schemas, same documents)");
    let e = engine("allow");
    let closed = engine("reject");
    let cx = Ctx {
        dir: Direction::Request,
        internal: false,
    };
    let root = json!({"components": {"schemas": components()}});
    let mut failed = false;
    let mut ratios = Vec::new();
    for (label, path, doc) in [
        ("1 KiB order", "/order", order(1)),
        (
            "100 KiB order list",
            "/orders",
            json!({"orders": (0..100).map(order).collect::<Vec<_>>()}),
        ),
    ] {
        let text = doc.to_string();
        let ours_doc = specguard_filter::json::parse(text.as_bytes(), WIDE).expect("parses");
        let name = if path == "/order" {
            "Order"
        } else {
            "OrderList"
        };
        let mut schema = root.clone();
        schema["$ref"] = json!(format!("#/components/schemas/{name}"));
        let js = jsonschema::draft202012::options()
            .should_validate_formats(true)
            .build(&schema)
            .expect("jsonschema compiles");
        let id = body_schema(&e, path);
        let cid = body_schema(&closed, path);
        assert!(
            e.validator().is_valid(id, &ours_doc, cx) && js.is_valid(&doc),
            "benchmark documents must be valid"
        );
        let ours = ns_per_op(BUDGET, || e.validator().is_valid(id, &ours_doc, cx));
        let base = ns_per_op(BUDGET, || js.is_valid(&doc));
        println!("{label} ({} bytes):", text.len());
        ratio_line("is_valid", ours, base);
        ratios.push(base / ours);
        let ours_closed = ns_per_op(BUDGET, || closed.validator().is_valid(cid, &ours_doc, cx));
        println!(
            "  {:<44} specguard {:>10.0} ns   (unknown fields rejected, the default)",
            "is_valid, closed objects", ours_closed
        );
        let head = RequestHead {
            method: "POST".into(),
            path: path.into(),
            headers: vec![("content-type".into(), "application/json".into())],
            ..Default::default()
        };
        let bytes = text.as_bytes();
        let (mut ex, _) = closed.request_headers(&head, true);
        assert_eq!(
            closed.request_body(&mut ex, bytes),
            specguard_filter::Step::Continue,
            "engine must accept the document"
        );
        let ours_full = ns_per_op(BUDGET, || {
            let (mut ex, _) = closed.request_headers(&head, true);
            closed.request_body(&mut ex, bytes)
        });
        let base_full = ns_per_op(BUDGET, || {
            serde_json::from_slice::<Value>(bytes)
                .map(|v| js.is_valid(&v))
                .unwrap_or(false)
        });
        ratio_line(
            "parse + validate (engine vs serde+is_valid)",
            ours_full,
            base_full,
        );
        // A document that fails: both report invalid; ours explains only then.
        let mut bad = doc.clone();
        if let Some(o) = bad.get_mut("orders") {
            o[0]["items"][0]["sku"] = json!("bad");
        } else {
            bad["items"][0]["sku"] = json!("bad");
        }
        failed |= e
            .validator()
            .is_valid(id, &specguard_filter::json::Json::from_value(&bad), cx)
            || js.is_valid(&bad);
    }
    if failed {
        println!("ERROR: an invalid document was accepted");
        std::process::exit(1);
    }
    let min = ratios.iter().cloned().fold(f64::MAX, f64::min);
    println!(
        "target: validator at least as fast as jsonschema is_valid: {} (worst speedup {min:.2}x)",
        if min >= 1.0 { "MET" } else { "NOT MET" }
    );

    println!("\n== (b) route lookup vs number of operations");
    let mut base = 0.0;
    for n in [10usize, 100, 1000, 10_000] {
        let templates: Vec<String> = (0..n)
            .map(|i| format!("/svc{}/r{}/items/{{id}}/sub{}", i % 37, i, i % 7))
            .collect();
        let router = Router::new(
            templates
                .iter()
                .enumerate()
                .map(|(i, t)| ("GET", t.as_str(), i)),
        );
        let probe = format!(
            "/svc{}/r{}/items/12345/sub{}",
            (n / 2) % 37,
            n / 2,
            (n / 2) % 7
        );
        let ns = ns_per_op(Duration::from_millis(800), || router.lookup("GET", &probe));
        if n == 10 {
            base = ns;
        }
        println!(
            "  {n:>6} operations: {ns:>7.0} ns/lookup   ratio to 10 ops: {:.2}",
            ns / base
        );
    }

    println!("\n== (c) compile a generated spec (1,000 operations, 20 files, $ref chains 12 deep)");
    let dir = std::env::temp_dir().join(format!("specguard-bench-spec-{}", std::process::id()));
    specguard_bench::genspec::generate(&dir, 1000, 12, 20).expect("generate");
    let t = Instant::now();
    let compiled = compile_file(&dir.join("openapi.yaml"), &[], &Options::default());
    let compile_time = t.elapsed();
    let _ = std::fs::remove_dir_all(&dir);
    match compiled {
        Ok(c) => {
            let t = Instant::now();
            let ops = c.policy.operations.len();
            let schemas = c.policy.schemas.len();
            let engine = Engine::new(c.policy).expect("engine");
            println!(
                "  {ops} operations, {schemas} schemas: compiled in {:.2} s, engine built in {:.1} ms",
                compile_time.as_secs_f64(),
                t.elapsed().as_secs_f64() * 1000.0
            );
            drop(engine);
        }
        Err(d) => {
            println!("ERROR: generated spec does not compile: {}", d[0]);
            std::process::exit(1);
        }
    }
}
