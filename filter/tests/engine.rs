//! Engine tests through the public API, natively (the same calls the
//! proxy-wasm shell and `specguard eval` make), on a compact spec.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use specguard_filter::{Engine, Exchange, RequestHead, Step};
use specguard_policy::compile::{compile_text, Options};

const SPEC: &str = r#"
openapi: 3.1.0
info: { title: engine, version: '1' }
x-specguard-limits: { request-body: 200, json-depth: 3 }
paths:
  /items:
    get:
      operationId: list
      parameters:
        - { name: page, in: query, schema: { type: integer, minimum: 1, maximum: 1000 } }
        - { name: filter, in: query, style: deepObject, schema: { type: object, properties: { color: { enum: [red, blue] }, size: { type: integer } } } }
        - { name: ids, in: query, style: pipeDelimited, explode: false, schema: { type: array, items: { type: integer }, maxItems: 3 } }
        - { name: x-tenant, in: header, required: true, schema: { type: string, pattern: '^t-[0-9]+$' } }
        - { name: session, in: cookie, schema: { type: string, minLength: 8 } }
        - { name: debug, in: query, x-internal: true, schema: { type: boolean } }
      responses:
        '2XX': { description: ok, content: { application/json: { schema: { type: array, items: { type: integer } } } } }
        default: { description: error, content: { application/problem+json: { schema: { type: object, additionalProperties: true } } } }
    post:
      operationId: create
      requestBody:
        required: true
        content:
          application/json: { schema: { type: object, required: [n], properties: { n: { type: integer }, deep: { type: object, properties: { a: { type: object, additionalProperties: true } } } } } }
          text/plain: {}
      responses:
        '204': { description: none }
  /items/{id}:
    delete:
      operationId: remove
      x-specguard-mode: monitor
      parameters:
        - { name: id, in: path, required: true, schema: { type: integer } }
      responses:
        '204': { description: none }
  /hidden:
    get:
      operationId: hidden
      x-internal: true
      responses: { '204': { description: none } }
"#;

fn engine() -> Engine {
    let c = compile_text(SPEC, Path::new("engine.yaml"), &Options::default())
        .unwrap_or_else(|d| panic!("{d:?}"));
    Engine::new(c.policy).unwrap()
}

fn head(method: &str, path: &str, headers: &[(&str, &str)]) -> RequestHead {
    RequestHead {
        method: method.into(),
        path: path.into(),
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..Default::default()
    }
}

/// The code of a refusal, or "ok".
fn code(step: &Step) -> &'static str {
    match step {
        Step::Deny(r) => r.code,
        _ => "ok",
    }
}

fn get(e: &Engine, path: &str, headers: &[(&str, &str)]) -> (Exchange, &'static str) {
    let (ex, step) = e.request_headers(&head("GET", path, headers), false);
    (ex, code(&step))
}

const TENANT: (&str, &str) = ("x-tenant", "t-1");

#[test]
fn query_header_and_cookie_parameters() {
    let e = engine();
    assert_eq!(get(&e, "/items", &[TENANT]).1, "ok");
    assert_eq!(get(&e, "/items", &[]).1, "missing-parameter");
    assert_eq!(
        get(&e, "/items", &[("x-tenant", "x")]).1,
        "invalid-parameter"
    );
    assert_eq!(get(&e, "/items?page=2", &[TENANT]).1, "ok");
    assert_eq!(get(&e, "/items?page=0", &[TENANT]).1, "invalid-parameter");
    assert_eq!(get(&e, "/items?page=two", &[TENANT]).1, "invalid-parameter");
    assert_eq!(
        get(&e, "/items?page=1&page=2", &[TENANT]).1,
        "invalid-parameter"
    );
    assert_eq!(
        get(&e, "/items?filter[color]=red&filter[size]=3", &[TENANT]).1,
        "ok"
    );
    assert_eq!(
        get(&e, "/items?filter[color]=green", &[TENANT]).1,
        "invalid-parameter"
    );
    assert_eq!(
        get(&e, "/items?filter[shape]=round", &[TENANT]).1,
        "invalid-parameter"
    );
    assert_eq!(get(&e, "/items?ids=1|2|3", &[TENANT]).1, "ok");
    assert_eq!(
        get(&e, "/items?ids=1|2|3|4", &[TENANT]).1,
        "invalid-parameter"
    );
    assert_eq!(get(&e, "/items?ids=1|x", &[TENANT]).1, "invalid-parameter");
    assert_eq!(get(&e, "/items?other=1", &[TENANT]).1, "unknown-parameter");
    // x-internal parameters do not exist for external callers.
    assert_eq!(
        get(&e, "/items?debug=true", &[TENANT]).1,
        "unknown-parameter"
    );
    assert_eq!(
        get(&e, "/items", &[TENANT, ("cookie", "a=b; session=abcdefgh")]).1,
        "ok"
    );
    assert_eq!(
        get(&e, "/items", &[TENANT, ("cookie", "session=short")]).1,
        "invalid-parameter"
    );
    assert_eq!(get(&e, "/items?page=%FF", &[TENANT]).1, "invalid-query");
}

#[test]
fn routing_refusals_and_shadow_counting() {
    let e = engine();
    let (ex, c) = get(&e, "/nope", &[]);
    assert_eq!((c, ex.shadow, ex.op), ("not-found", true, None));
    assert_eq!(get(&e, "/items/1", &[]).1, "method-not-allowed");
    assert_eq!(get(&e, "/hidden", &[]).1, "not-found");
    let (_, step) = e.request_headers(&head("DELETE", "/items/%2e%2e", &[]), false);
    // monitor mode on remove: recorded, let through
    assert_eq!(code(&step), "ok");
    let (ex, step) = e.request_headers(&head("DELETE", "/items/abc", &[]), false);
    assert_eq!(code(&step), "ok");
    assert_eq!(ex.monitored.len(), 1);
    assert_eq!(ex.monitored[0].code, "invalid-parameter");
}

fn post(e: &Engine, ct: Option<&str>, body: &[u8]) -> &'static str {
    let mut headers = vec![];
    if let Some(c) = ct {
        headers.push(("content-type", c));
    }
    let len = body.len().to_string();
    headers.push(("content-length", &len));
    let (mut ex, step) = e.request_headers(&head("POST", "/items", &headers), !body.is_empty());
    if step != Step::Continue {
        return code(&step);
    }
    if ex.wants_request_body {
        return code(&e.request_body(&mut ex, body));
    }
    "ok"
}

#[test]
fn request_bodies() {
    let e = engine();
    assert_eq!(post(&e, Some("application/json"), br#"{"n": 1}"#), "ok");
    assert_eq!(
        post(&e, Some("application/json; charset=utf-8"), br#"{"n": 1}"#),
        "ok"
    );
    assert_eq!(post(&e, Some("Application/JSON"), br#"{"n": 1}"#), "ok");
    assert_eq!(
        post(&e, Some("application/json"), br#"{"n": "1"}"#),
        "invalid-body"
    );
    assert_eq!(
        post(&e, Some("application/json"), br#"{"n": 1, "m": 2}"#),
        "unknown-field"
    );
    assert_eq!(post(&e, Some("application/json"), b""), "missing-body");
    assert_eq!(
        post(&e, Some("application/xml"), b"<a/>"),
        "unsupported-media-type"
    );
    // Declared but not validatable, and not allowed: refused.
    assert_eq!(
        post(&e, Some("text/plain"), b"hi"),
        "unsupported-media-type"
    );
    assert_eq!(post(&e, None, br#"{"n": 1}"#), "unsupported-media-type");
    let big = format!(r#"{{"n": 1, "pad": "{}"}}"#, "x".repeat(300));
    assert_eq!(
        post(&e, Some("application/json"), big.as_bytes()),
        "payload-too-large"
    );
    assert_eq!(
        post(
            &e,
            Some("application/json"),
            br#"{"n": 1, "deep": {"a": {"b": {}}}}"#
        ),
        "json-limit"
    );
    assert_eq!(
        post(
            &e,
            Some("application/json"),
            br#"{"n": 1, "deep": {"a": {"b": 1}}}"#
        ),
        "ok"
    );
    // A body on an operation that declares none.
    let (mut ex, step) = e.request_headers(&head("GET", "/items", &[TENANT]), true);
    assert_eq!(step, Step::Continue);
    assert!(ex.wants_request_body);
    assert_eq!(code(&e.request_body(&mut ex, b"x")), "unexpected-body");
}

#[test]
fn responses() {
    let e = engine();
    let respond = |status: u16, ct: Option<&str>, body: &[u8]| {
        let (mut ex, _) = e.request_headers(&head("GET", "/items", &[TENANT]), false);
        let s = e.response_headers(&mut ex, status, ct, !body.is_empty());
        if s != Step::Continue {
            return code(&s);
        }
        if ex.wants_response_body {
            return code(&e.response_body(&mut ex, body));
        }
        "ok"
    };
    assert_eq!(respond(200, Some("application/json"), b"[1,2]"), "ok");
    assert_eq!(respond(206, Some("application/json"), b"[1,2]"), "ok");
    assert_eq!(
        respond(200, Some("application/json"), b"[\"x\"]"),
        "upstream-response-invalid"
    );
    assert_eq!(
        respond(200, Some("text/html"), b"<p>"),
        "upstream-response-invalid"
    );
    assert_eq!(
        respond(500, Some("application/problem+json"), b"{\"title\": \"x\"}"),
        "ok"
    );
    assert_eq!(
        respond(500, Some("application/json"), b"{}"),
        "upstream-response-invalid"
    );
    assert_eq!(
        respond(200, Some("application/json"), b"{\"a\":1,\"a\":2}"),
        "upstream-response-invalid"
    );
    // Declared without content: no body may follow.
    let (mut ex, _) = e.request_headers(
        &head("POST", "/items", &[("content-type", "application/json")]),
        true,
    );
    assert_eq!(e.request_body(&mut ex, br#"{"n": 1}"#), Step::Continue);
    assert_eq!(
        e.response_headers(&mut ex, 204, None, false),
        Step::Continue
    );
    assert_eq!(
        code(&e.response_headers(&mut ex, 200, None, false)),
        "upstream-response-invalid"
    );
}

#[test]
fn bad_policies_are_refused_with_a_reason() {
    assert!(Engine::from_json(b"{}").err().unwrap().contains("policy"));
    assert!(Engine::from_json(b"not json").is_err());
    let c = compile_text(SPEC, Path::new("engine.yaml"), &Options::default()).unwrap();
    let mut v = serde_json::to_value(&c.policy).unwrap();
    let list = c
        .policy
        .operations
        .iter()
        .position(|o| o.id == "list")
        .unwrap();
    v["operations"][list]["parameters"][0]["schema"] = serde_json::json!(99999);
    let e = Engine::from_json(v.to_string().as_bytes()).err().unwrap();
    assert!(e.contains("out of range"), "{e}");
    v["surprise"] = serde_json::json!(1);
    assert!(Engine::from_json(v.to_string().as_bytes())
        .err()
        .unwrap()
        .contains("unknown field"));
}
