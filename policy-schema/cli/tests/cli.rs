//! The `specguard` binary end to end: compile, check, eval (single, array,
//! monitor, identity), envoy-config, and clear errors with exit codes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{json, Value};

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_specguard"))
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn run(args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .current_dir(root())
        .output()
        .unwrap()
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("specguard-cli-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn demo_policy(dir: &Path) -> PathBuf {
    let p = dir.join("policy.json");
    let o = run(&[
        "compile",
        "envoy/demo/openapi.yaml",
        "-o",
        p.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    p
}

fn eval(policy: &Path, req: &Value, extra: &[&str]) -> (i32, Vec<Value>, String) {
    let dir = policy.parent().unwrap();
    let r = dir.join(format!("req-{}.json", extra.len()));
    std::fs::write(&r, req.to_string()).unwrap();
    let mut args = vec![
        "eval",
        "--policy",
        policy.to_str().unwrap(),
        "--request",
        r.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let o = run(&args);
    let lines = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (
        o.status.code().unwrap(),
        lines,
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn compile_check_and_eval_the_demo() {
    let dir = tmp("demo");
    let policy = demo_policy(&dir);
    let o = run(&["check", policy.to_str().unwrap()]);
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stdout).contains("5 operations"));

    let order = json!({"status": "pending", "customer": {"name": "Ann", "email": "ann@example.com"}, "items": [{"sku": "ABC-1234", "quantity": 1, "unitPrice": 9.99}], "couponCode": "SAVE2024"});
    let mut stored = order.clone();
    stored["id"] = json!("123e4567-e89b-12d3-a456-426614174000");
    stored["internalNote"] = json!("x");
    let (code, lines, _) = eval(
        &policy,
        &json!({"method": "POST", "path": "/api/orders", "json": order, "response": {"status": 201, "json": stored}}),
        &[],
    );
    assert_eq!(code, 0);
    let l = &lines[0];
    assert_eq!(
        (
            l["decision"].as_str(),
            l["status"].as_u64(),
            l["code"].as_str(),
            l["operation"].as_str()
        ),
        (
            Some("allow"),
            Some(201),
            Some("allowed"),
            Some("createOrder")
        )
    );
    assert!(
        l["response"]["json"].get("couponCode").is_none()
            && l["response"]["json"].get("internalNote").is_none()
    );

    // An array keeps going, one line per request.
    let (code, lines, _) = eval(
        &policy,
        &json!([
            {"method": "GET", "path": "/api/orders?limit=0"},
            {"method": "GET", "path": "/api/nope"},
            {"method": "POST", "path": "/api/orders", "headers": {"content-type": "application/json"}, "body": "{\"a\":1,\"a\":2}"},
            {"method": "GET", "path": "/api/health", "response": {"status": 200, "json": {"status": "bad"}}}
        ]),
        &[],
    );
    assert_eq!(code, 0);
    let got: Vec<(String, u64, String)> = lines
        .iter()
        .map(|l| {
            (
                l["decision"].as_str().unwrap().to_string(),
                l["status"].as_u64().unwrap_or(0),
                l["code"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("deny".into(), 400, "invalid-parameter".into()),
            ("deny".into(), 404, "not-found".into()),
            ("deny".into(), 400, "invalid-json".into()),
            ("allow".into(), 200, "monitored".into()),
        ]
    );
    assert_eq!(lines[3]["monitored"], json!(["upstream-response-invalid"]));
    assert!(lines[1]["operation"].is_null());
}

#[test]
fn bad_input_is_exit_2_with_a_clear_message() {
    let dir = tmp("bad");
    let policy = demo_policy(&dir);
    let (code, _, err) = eval(&policy, &json!({"path": "/x"}), &[]);
    assert_eq!(code, 2);
    assert!(err.contains("method is required"), "{err}");
    let (code, _, err) = eval(
        &policy,
        &json!({"method": "GET", "path": "/x", "bogus": 1}),
        &[],
    );
    assert_eq!(code, 2);
    assert!(err.contains("unknown field"), "{err}");
    std::fs::write(dir.join("broken.json"), "{").unwrap();
    let o = run(&[
        "eval",
        "--policy",
        dir.join("broken.json").to_str().unwrap(),
        "--request",
        dir.join("broken.json").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    let o = run(&["check", dir.join("broken.json").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    // A spec with errors: every error printed, nothing written, exit 1.
    let out = dir.join("never.json");
    let o = run(&[
        "compile",
        "policy-schema/tests/fixtures/errors/openapi.yaml",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(!out.exists());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("error(s); no policy written") && err.contains("#/x-specguard-limits/color"),
        "{err}"
    );
    let o = run(&["compile", "does/not/exist.yaml"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("cannot open"));
}

#[test]
fn eval_checks_identity_with_an_injected_clock_and_peer() {
    let dir = tmp("identity");
    let hs_key = "MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDE"; // 32 bytes, base64url
    let spec = json!({
        "openapi": "3.1.0",
        "info": {"title": "eval-identity", "version": "1"},
        "security": [{"bearer": ["read"]}],
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "x-specguard-jwt": {
            "algorithms": ["HS256"], "jwks": {"inline": {"keys": [{"kty": "oct", "kid": "k", "k": hs_key}]}}
        }}}},
        "paths": {
            "/r": {"get": {"responses": {"204": {"description": "ok"}}}},
            "/svc": {"get": {"security": [], "x-specguard-callers": ["spiffe://td/ns/a/sa/b"], "responses": {"204": {"description": "ok"}}}}
        }
    });
    std::fs::write(dir.join("spec.json"), spec.to_string()).unwrap();
    let policy = dir.join("policy.json");
    let o = run(&[
        "compile",
        dir.join("spec.json").to_str().unwrap(),
        "-o",
        policy.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // HS256 token {"alg":"HS256","kid":"k"} . {"sub":"u","scope":"read","exp":2000000000} signed with the key above.
    let token = hs256_token(
        b"01234567890123456789012345678901",
        r#"{"alg":"HS256","typ":"JWT","kid":"k"}"#,
        r#"{"sub":"u","scope":"read","exp":2000000000,"iat":1999999000}"#,
    );
    let req = json!([
        {"method": "GET", "path": "/r", "headers": {"authorization": format!("Bearer {token}")}},
        {"method": "GET", "path": "/r"},
        {"method": "GET", "path": "/svc", "peer": {"uri_san": "spiffe://td/ns/a/sa/b"}},
        {"method": "GET", "path": "/svc", "peer": {"uri_san": "spiffe://td/ns/a/sa/c"}}
    ]);
    let (code, lines, err) = eval(&policy, &req, &["--now", "1999999500"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(lines[0]["decision"], "allow");
    assert_eq!(lines[0]["identity"]["subject"], "u");
    assert_eq!(
        lines[0]["identity"]["forwarded_headers"]["x-specguard-subject"],
        "u"
    );
    assert_eq!(
        (lines[1]["status"].as_u64(), lines[1]["code"].as_str()),
        (Some(401), Some("unauthenticated"))
    );
    assert_eq!(lines[2]["decision"], "allow");
    assert_eq!(
        (lines[3]["status"].as_u64(), lines[3]["code"].as_str()),
        (Some(403), Some("forbidden"))
    );
    // The same token after its exp (the clock is the --now given).
    let (_, lines, _) = eval(&policy, &req, &["--now", "2000000100"]);
    assert_eq!(lines[0]["status"], 401);
}

fn hs256_token(key: &[u8], header: &str, claims: &str) -> String {
    let b64 = specguard_filter::identity::keys::b64url_encode;
    let signing_input = format!("{}.{}", b64(header.as_bytes()), b64(claims.as_bytes()));
    let sig = hmac_sha256::HMAC::mac(signing_input.as_bytes(), key);
    format!("{signing_input}.{}", b64(&sig))
}

#[test]
fn envoy_config_is_generated_from_a_policy() {
    let dir = tmp("envoy");
    let policy = demo_policy(&dir);
    let out = dir.join("envoy.json");
    let o = run(&[
        "envoy-config",
        "--policy",
        policy.to_str().unwrap(),
        "--listen",
        "127.0.0.1:1",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success());
    let cfg: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let hcm =
        &cfg["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"];
    let wasm = &hcm["http_filters"][0]["typed_config"]["config"];
    assert_eq!(wasm["allow_on_headers_stop_iteration"], true);
    assert_eq!(wasm["failure_policy"], "FAIL_CLOSED");
    // The demo's 6s timeout becomes route timeouts.
    let routes = hcm["route_config"]["virtual_hosts"][0]["routes"]
        .as_array()
        .unwrap();
    assert!(routes.iter().any(|r| r["route"]["timeout"] == "6.000s"));
    let o = run(&["envoy-config", "--listen", "nonsense"]);
    assert_eq!(o.status.code(), Some(2));
}
