//! Identity in a real Envoy: a remote JWKS served by a real HTTP server on
//! loopback (rotation picked up, outage survived on cached keys, cold start
//! without keys refuses), and canonical identity headers at the upstream.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration as StdDuration, Instant};

use jwt_simple::prelude::*;
use serde_json::{json, Value};
use specguard_integration::*;

fn b64(bytes: &[u8]) -> String {
    specguard_filter::identity::keys::b64url_encode(bytes)
}

fn jwks(keys: &[&ES256KeyPair]) -> Scripted {
    let list: Vec<Value> = keys
        .iter()
        .map(|k| {
            let p = k.public_key().public_key().to_bytes_uncompressed();
            json!({"kty": "EC", "crv": "P-256", "kid": k.key_id().clone().unwrap(), "x": b64(&p[1..33]), "y": b64(&p[33..])})
        })
        .collect();
    Scripted::json(200, json!({ "keys": list }))
}

#[derive(Serialize, Deserialize)]
struct Scope {
    scope: String,
}

/// A token valid now (Envoy's clock is the real one).
fn token(k: &ES256KeyPair, scope: &str, subject: &str) -> String {
    let c = Claims::with_custom_claims(
        Scope {
            scope: scope.into(),
        },
        Duration::from_mins(10),
    )
    .with_issuer("https://idp.test")
    .with_audience("shop")
    .with_subject(subject);
    k.sign(c).unwrap()
}

fn spec(jwks_port: u16) -> String {
    json!({
        "openapi": "3.1.0",
        "info": {"title": "identity-it", "version": "1"},
        "security": [{"bearer": ["orders:read"]}],
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "x-specguard-jwt": {
            "issuer": "https://idp.test",
            "audiences": ["shop"],
            "algorithms": ["ES256"],
            "jwks": {"uri": format!("http://127.0.0.1:{jwks_port}/jwks.json"), "refresh": "1s"}
        }}}},
        "paths": {
            "/orders": {"get": {"operationId": "list", "responses": {"200": {"description": "ok", "content": {"application/json": {"schema": {"type": "array"}}}}}}},
            "/public": {"get": {"operationId": "pub", "security": [], "responses": {"200": {"description": "ok", "content": {"application/json": {"schema": {"type": "array"}}}}}}}
        }
    })
    .to_string()
}

struct Stack {
    api: Upstream,
    envoy: Envoy,
    _dir: TempDir,
}

fn stack(jwks_port: u16) -> Stack {
    let dir = TempDir::new("identity");
    let spec_path = dir.0.join("openapi.json");
    std::fs::write(&spec_path, spec(jwks_port)).unwrap();
    let policy = dir.0.join("policy.json");
    compile(&spec_path, &policy);
    let api = Upstream::start();
    let envoy = Envoy::start(Some(&policy), api.port);
    Stack {
        api,
        envoy,
        _dir: dir,
    }
}

fn status(s: &Stack, tok: &str, id: &str) -> u16 {
    s.api.script(id, Scripted::json(200, json!([])));
    let auth = format!("Bearer {tok}");
    s.envoy
        .send(
            "GET",
            "/orders",
            &[("authorization", &auth), ("x-test-id", id)],
            b"",
        )
        .status
}

/// Polls `f` until it holds or `limit` passes.
fn eventually(limit: StdDuration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(StdDuration::from_millis(200));
    }
    false
}

#[test]
fn remote_jwks_rotation_outage_and_cold_start() {
    let a = ES256KeyPair::generate().with_key_id("a");
    let b = ES256KeyPair::generate().with_key_id("b");
    let idp = Upstream::start();
    idp.serve_path("/jwks.json", jwks(&[&a]));
    let s = stack(idp.port);

    let tok_a = token(&a, "orders:read", "user-a");
    assert!(
        eventually(StdDuration::from_secs(15), || status(&s, &tok_a, "a")
            == 200),
        "key A never loaded:\n{}",
        s.envoy.log_text()
    );
    assert!(idp.hits("/jwks.json") >= 1);

    // The upstream sees the verified identity, never the token or spoofed headers.
    s.api.script("hdr", Scripted::json(200, json!([])));
    let auth = format!("Bearer {tok_a}");
    let r = s.envoy.send(
        "GET",
        "/orders",
        &[
            ("authorization", &auth),
            ("x-specguard-subject", "admin"),
            ("x-test-id", "hdr"),
        ],
        b"",
    );
    assert_eq!(r.status, 200);
    let seen = &s.api.received("hdr")[0];
    assert_eq!(seen.header("x-specguard-subject"), Some("user-a"));
    assert_eq!(seen.header("x-specguard-caller-class"), Some("external"));
    assert_eq!(seen.header("x-specguard-permissions"), Some("orders:read"));
    assert_eq!(seen.header("authorization"), None);

    // Refusals: no token, wrong scope, unknown signer; none reach the upstream.
    let r = s
        .envoy
        .send("GET", "/orders", &[("x-test-id", "none")], b"");
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header("www-authenticate"),
        Some("Bearer error=\"invalid_token\"")
    );
    assert_eq!(status(&s, &token(&a, "profile", "user-a"), "scope"), 403);
    assert_eq!(
        status(
            &s,
            &token(
                &ES256KeyPair::generate().with_key_id("a"),
                "orders:read",
                "x"
            ),
            "forged"
        ),
        401
    );
    for id in ["none", "scope", "forged"] {
        assert_eq!(s.api.touched(id), 0, "{id} reached the upstream");
    }

    // Rotation: the IdP now publishes key B only.
    idp.serve_path("/jwks.json", jwks(&[&b]));
    let tok_b = token(&b, "orders:read", "user-b");
    assert!(
        eventually(StdDuration::from_secs(15), || status(&s, &tok_b, "b")
            == 200),
        "rotation not picked up"
    );
    assert!(
        eventually(StdDuration::from_secs(10), || status(
            &s,
            &token(&a, "orders:read", "user-a2"),
            "a-after"
        ) == 401),
        "retired key still accepted"
    );

    // Outage: the endpoint fails; the last good keys keep working.
    idp.serve_path("/jwks.json", Scripted::json(500, json!({"error": "down"})));
    let before = idp.hits("/jwks.json");
    assert!(
        eventually(StdDuration::from_secs(10), || idp.hits("/jwks.json")
            >= before + 2),
        "no refresh attempts during the outage"
    );
    assert_eq!(
        status(&s, &token(&b, "orders:read", "user-b2"), "outage"),
        200,
        "outage must not lock callers out"
    );

    // Cold start while the endpoint is down: no keys, so every token is refused.
    let cold = stack(idp.port);
    let tok = token(&b, "orders:read", "user-c");
    let always_refused = (0..10).all(|i| {
        std::thread::sleep(StdDuration::from_millis(200));
        status(&cold, &tok, &format!("cold-{i}")) == 401
    });
    assert!(always_refused, "a filter without keys must refuse tokens");
    // Public endpoints still answer.
    cold.api.script("pub", Scripted::json(200, json!([])));
    assert_eq!(
        cold.envoy
            .send("GET", "/public", &[("x-test-id", "pub")], b"")
            .status,
        200
    );
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn jwt_attack_matrix_through_envoy() {
    let rs = RS256KeyPair::generate(2048).unwrap().with_key_id("rs");
    let rs384 = RS384KeyPair::from_der(&rs.to_der().unwrap())
        .unwrap()
        .with_key_id("rs");
    let es = ES256KeyPair::generate().with_key_id("es");
    let ed = Ed25519KeyPair::generate().with_key_id("ed");
    let hs = HS256Key::from_bytes(b"0123456789abcdef0123456789abcdef").with_key_id("hs");
    let rsa = rs.public_key().to_components();
    let ec = es.public_key().public_key().to_bytes_uncompressed();
    let keys = json!({"keys": [
        {"kty": "RSA", "kid": "rs", "n": b64(&rsa.n), "e": b64(&rsa.e)},
        {"kty": "EC", "kid": "es", "crv": "P-256", "x": b64(&ec[1..33]), "y": b64(&ec[33..])},
        {"kty": "OKP", "kid": "ed", "crv": "Ed25519", "x": b64(&ed.public_key().to_bytes())},
        {"kty": "oct", "kid": "hs", "k": b64(b"0123456789abcdef0123456789abcdef")}
    ]});
    let mut spec: Value = serde_json::from_str(&spec(1)).unwrap();
    spec["components"]["securitySchemes"]["bearer"]["x-specguard-jwt"] = json!({
        "issuer": "https://idp.test", "audiences": ["shop"], "max-lifetime": "1h",
        "algorithms": ["RS256", "ES256", "EdDSA", "HS256"], "jwks": {"inline": keys}
    });
    let dir = TempDir::new("matrix");
    let spec_path = dir.0.join("openapi.json");
    std::fs::write(&spec_path, spec.to_string()).unwrap();
    let policy = dir.0.join("policy.json");
    compile(&spec_path, &policy);
    let api = Upstream::start();
    let envoy = Envoy::start(Some(&policy), api.port);
    let s = Stack {
        api,
        envoy,
        _dir: dir,
    };

    let now = unix_now();
    let claims = || {
        let mut c = Claims::with_custom_claims(
            Scope {
                scope: "orders:read".into(),
            },
            Duration::from_mins(10),
        )
        .with_issuer("https://idp.test")
        .with_audience("shop")
        .with_subject("u");
        c.issued_at = Some(UnixTimeStamp::from_secs(now - 30));
        c.expires_at = Some(UnixTimeStamp::from_secs(now + 600));
        c.invalid_before = None;
        c
    };
    for (alg, tok) in [
        ("RS256", rs.sign(claims()).unwrap()),
        ("ES256", es.sign(claims()).unwrap()),
        ("EdDSA", ed.sign(claims()).unwrap()),
        ("HS256", hs.authenticate(claims()).unwrap()),
    ] {
        assert_eq!(status(&s, &tok, &format!("ok-{alg}")), 200, "{alg}");
    }
    let with = |f: &dyn Fn(&mut JWTClaims<Scope>)| {
        let mut c = claims();
        f(&mut c);
        es.sign(c).unwrap()
    };
    let good = es.sign(claims()).unwrap();
    let parts: Vec<&str> = good.split('.').collect();
    let forged_body = b64(json!({"iss": "https://idp.test", "aud": "shop", "sub": "admin", "iat": now, "exp": now + 600, "scope": "orders:read admin"}).to_string().as_bytes());
    let none = format!(
        "{}.{}.",
        b64(br#"{"alg":"none","typ":"JWT"}"#),
        b64(json!({"iss": "https://idp.test", "aud": "shop", "exp": now + 600, "scope": "orders:read"}).to_string().as_bytes())
    );
    let cases: Vec<(&str, String)> = vec![
        ("alg none", none),
        ("alg not allowed", rs384.sign(claims()).unwrap()),
        (
            "HS256 keyed with the RSA public key",
            HS256Key::from_bytes(&rs.public_key().to_der().unwrap())
                .with_key_id("rs")
                .authenticate(claims())
                .unwrap(),
        ),
        (
            "unknown kid",
            ES256KeyPair::generate()
                .with_key_id("zz")
                .sign(claims())
                .unwrap(),
        ),
        (
            "other key, same kid",
            ES256KeyPair::generate()
                .with_key_id("es")
                .sign(claims())
                .unwrap(),
        ),
        ("no exp", with(&|c| c.expires_at = None)),
        (
            "expired",
            with(&|c| c.expires_at = Some(UnixTimeStamp::from_secs(now - 120))),
        ),
        (
            "nbf in the future",
            with(&|c| c.invalid_before = Some(UnixTimeStamp::from_secs(now + 600))),
        ),
        (
            "iat in the future",
            with(&|c| c.issued_at = Some(UnixTimeStamp::from_secs(now + 600))),
        ),
        (
            "lifetime above max",
            with(&|c| c.expires_at = Some(UnixTimeStamp::from_secs(now - 30 + 7200))),
        ),
        (
            "wrong issuer",
            with(&|c| c.issuer = Some("https://evil.test".into())),
        ),
        (
            "wrong audience",
            with(&|c| {
                c.audiences = Some(jwt_simple::claims::Audiences::AsString("billing".into()))
            }),
        ),
        (
            "tampered payload",
            format!("{}.{}.{}", parts[0], forged_body, parts[2]),
        ),
    ];
    for (name, tok) in &cases {
        let id = format!("bad-{name}");
        assert_eq!(status(&s, tok, &id), 401, "{name}");
        assert_eq!(s.api.touched(&id), 0, "{name}: reached the upstream");
    }
}
