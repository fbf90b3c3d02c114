//! Keyword conformance in the style of the official JSON Schema test suite:
//! each group is a schema and instances with the expected verdict, run
//! through the whole path (OpenAPI text -> compiler -> policy -> engine ->
//! request body check) for each OpenAPI dialect the group names.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use serde_json::{json, Value};
use specguard_filter::{Engine, RequestHead, Step};
use specguard_policy::compile::{compile_text, Options};

fn spec(dialect: &str, unknown: &str, schema: &Value, components: &Value) -> String {
    let mut schemas = components.as_object().cloned().unwrap_or_default();
    schemas.insert("S".into(), schema.clone());
    json!({
        "openapi": if dialect == "3.0" { "3.0.3" } else { "3.1.0" },
        "info": {"title": "conformance", "version": "1"},
        "x-specguard-unknown-fields": unknown,
        "paths": {"/t": {"post": {
            "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/S"}}}},
            "responses": {"200": {"description": "ok"}}
        }}},
        "components": {"schemas": schemas}
    })
    .to_string()
}

fn verdict(engine: &Engine, data: &Value) -> bool {
    let head = RequestHead {
        method: "POST".into(),
        path: "/t".into(),
        headers: vec![("content-type".into(), "application/json".into())],
        ..Default::default()
    };
    let (mut ex, step) = engine.request_headers(&head, true);
    assert_eq!(step, Step::Continue);
    matches!(
        engine.request_body(&mut ex, data.to_string().as_bytes()),
        Step::Continue
    )
}

fn run_file(name: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/conformance")
        .join(name);
    let groups: Vec<Value> = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let mut failures = Vec::new();
    let mut count = 0;
    for g in &groups {
        let dialects: Vec<String> = match g.get("dialect") {
            Some(d) => serde_json::from_value(d.clone()).unwrap(),
            None => vec!["3.0".into(), "3.1".into()],
        };
        let unknown = g
            .get("unknown_fields")
            .and_then(Value::as_str)
            .unwrap_or("allow");
        for dialect in &dialects {
            let text = spec(
                dialect,
                unknown,
                &g["schema"],
                g.get("components").unwrap_or(&Value::Null),
            );
            let compiled = compile_text(&text, Path::new("conformance.json"), &Options::default())
                .unwrap_or_else(|e| {
                    panic!("{}: {dialect}: does not compile: {e:?}", g["description"])
                });
            let engine = Engine::new(compiled.policy).unwrap();
            for t in g["tests"].as_array().unwrap() {
                count += 1;
                let expected = t["valid"].as_bool().unwrap();
                if verdict(&engine, &t["data"]) != expected {
                    failures.push(format!(
                        "{} [{dialect}] / {}: expected valid={expected}",
                        g["description"], t["description"]
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {count} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(count > 0);
}

#[test]
fn core_keywords() {
    run_file("core.json");
}

#[test]
fn openapi_30_forms() {
    run_file("openapi30.json");
}

#[test]
fn openapi_31_and_2020_12_forms() {
    run_file("openapi31.json");
}

#[test]
fn specguard_rules() {
    run_file("specguard.json");
}
