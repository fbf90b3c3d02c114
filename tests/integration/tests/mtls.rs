//! Service identity from mTLS in a real Envoy: the caller's SPIFFE ID comes
//! from its client certificate's URI SAN; `x-specguard-callers` admits or
//! refuses it, the caller class follows its trust domain, and the upstream
//! gets the verified service identity. Certificates are made per run.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::Command;

use serde_json::json;
use specguard_integration::*;

fn openssl(dir: &Path, args: &[&str]) {
    let o = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl");
    assert!(
        o.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A CA, a server certificate for 127.0.0.1, and client certificates with the given SPIFFE IDs.
fn certs(dir: &Path, clients: &[(&str, &str)]) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=test-ca",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
        ],
    );
    let issue = |name: &str, san: &str| {
        std::fs::write(
            dir.join(format!("{name}.ext")),
            format!("subjectAltName={san}\n"),
        )
        .unwrap();
        openssl(
            dir,
            &[
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-subj",
                &format!("/CN={name}"),
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.csr"),
            ],
        );
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &format!("{name}.csr"),
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "1",
                "-extfile",
                &format!("{name}.ext"),
                "-out",
                &format!("{name}.pem"),
            ],
        );
    };
    issue("server", "IP:127.0.0.1");
    for (name, id) in clients {
        issue(name, &format!("URI:{id}"));
    }
}

fn curl(dir: &Path, port: u16, path: &str, client: Option<&str>, test_id: &str) -> u16 {
    let mut c = Command::new("curl");
    c.current_dir(dir)
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "10",
            "--cacert",
            "ca.pem",
            "-H",
        ])
        .arg(format!("x-test-id: {test_id}"));
    c.args([
        "-H",
        "x-specguard-service: spiffe://td.test/ns/shop/sa/frontend",
    ]);
    if let Some(name) = client {
        c.args([
            "--cert",
            &format!("{name}.pem"),
            "--key",
            &format!("{name}.key"),
        ]);
    }
    let o = c
        .arg(format!("https://127.0.0.1:{port}{path}"))
        .output()
        .expect("curl");
    String::from_utf8_lossy(&o.stdout)
        .trim()
        .parse()
        .unwrap_or(0)
}

#[test]
fn spiffe_callers_from_mtls_peers() {
    let dir = TempDir::new("mtls");
    let d = &dir.0;
    certs(
        d,
        &[
            ("frontend", "spiffe://td.test/ns/shop/sa/frontend"),
            ("intruder", "spiffe://td.test/ns/shop/sa/intruder"),
            ("partner", "spiffe://other.test/ns/x/sa/y"),
        ],
    );
    let spec = json!({
        "openapi": "3.1.0",
        "info": {"title": "mtls", "version": "1"},
        "x-specguard-caller-classes": {"internal": {"spiffe-trust-domains": ["td.test"]}},
        "paths": {
            "/svc": {"get": {"operationId": "svc", "x-specguard-callers": ["spiffe://td.test/ns/shop/sa/frontend"], "responses": {"200": {"description": "ok", "content": {"application/json": {"schema": {"type": "array"}}}}}}},
            "/ops": {"get": {"operationId": "ops", "x-internal": true, "responses": {"200": {"description": "ok", "content": {"application/json": {"schema": {"type": "array"}}}}}}}
        }
    });
    std::fs::write(d.join("openapi.json"), spec.to_string()).unwrap();
    compile(&d.join("openapi.json"), &d.join("policy.json"));
    let api = Upstream::start();
    for id in ["ok", "intruder", "ops-in", "ops-out"] {
        api.script(id, Scripted::json(200, json!([])));
    }
    let envoy = Envoy::start_with(
        Some(&d.join("policy.json")),
        api.port,
        &[
            "--tls-cert",
            d.join("server.pem").to_str().unwrap(),
            "--tls-key",
            d.join("server.key").to_str().unwrap(),
            "--tls-client-ca",
            d.join("ca.pem").to_str().unwrap(),
        ],
    );
    assert_eq!(
        curl(d, envoy.port, "/svc", Some("frontend"), "ok"),
        200,
        "{}",
        envoy.log_text()
    );
    let seen = &api.received("ok")[0];
    // The verified service identity, not the one the client wrote.
    assert_eq!(
        seen.header("x-specguard-service"),
        Some("spiffe://td.test/ns/shop/sa/frontend")
    );
    assert_eq!(seen.header("x-specguard-caller-class"), Some("internal"));
    assert_eq!(
        curl(d, envoy.port, "/svc", Some("intruder"), "intruder"),
        403
    );
    assert_eq!(api.touched("intruder"), 0);
    // No client certificate: the TLS handshake itself fails.
    assert_eq!(curl(d, envoy.port, "/svc", None, "nocert"), 0);
    // Internal operation: a peer from the trust domain sees it, others get 404.
    assert_eq!(curl(d, envoy.port, "/ops", Some("intruder"), "ops-in"), 200);
    assert_eq!(curl(d, envoy.port, "/ops", Some("partner"), "ops-out"), 404);
    assert_eq!(api.touched("ops-out"), 0);
}
