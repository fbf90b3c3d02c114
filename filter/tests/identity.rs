//! Identity: the JWT attack matrix, API keys, SPIFFE callers, scopes,
//! caller classes, identity headers and check ordering, with keys generated
//! by the test (nothing checked in).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::sync::OnceLock;

use jwt_simple::prelude::*;
use serde_json::{json, Value};
use specguard_filter::identity::HeaderOp;
use specguard_filter::{Engine, Exchange, RequestHead, Step};
use specguard_policy::compile::{compile_text, Options};

const NOW: u64 = 1_800_000_000;

fn b64(bytes: &[u8]) -> String {
    specguard_filter::identity::keys::b64url_encode(bytes)
}

struct Keys {
    rs: RS256KeyPair,
    rs384: RS384KeyPair,
    ps: PS256KeyPair,
    es: ES256KeyPair,
    es384: ES384KeyPair,
    ed: Ed25519KeyPair,
    hs: HS256Key,
    other_es: ES256KeyPair,
}

fn keys() -> &'static Keys {
    static K: OnceLock<Keys> = OnceLock::new();
    K.get_or_init(|| {
        let rs = RS256KeyPair::generate(2048).unwrap().with_key_id("rs");
        let rs384 = RS384KeyPair::from_der(&rs.to_der().unwrap())
            .unwrap()
            .with_key_id("rs");
        let ps = PS256KeyPair::from_der(&rs.to_der().unwrap())
            .unwrap()
            .with_key_id("rs");
        Keys {
            rs,
            rs384,
            ps,
            es: ES256KeyPair::generate().with_key_id("es"),
            es384: ES384KeyPair::generate().with_key_id("es384"),
            ed: Ed25519KeyPair::generate().with_key_id("ed"),
            hs: HS256Key::from_bytes(b"0123456789abcdef0123456789abcdef").with_key_id("hs"),
            other_es: ES256KeyPair::generate().with_key_id("es"),
        }
    })
}

fn jwks() -> Value {
    let k = keys();
    let rsa = k.rs.public_key().to_components();
    let ec = k.es.public_key().public_key().to_bytes_uncompressed();
    let ec384 = k.es384.public_key().public_key().to_bytes_uncompressed();
    json!({"keys": [
        {"kty": "RSA", "kid": "rs", "n": b64(&rsa.n), "e": b64(&rsa.e)},
        {"kty": "EC", "kid": "es", "crv": "P-256", "x": b64(&ec[1..33]), "y": b64(&ec[33..])},
        {"kty": "EC", "kid": "es384", "crv": "P-384", "x": b64(&ec384[1..49]), "y": b64(&ec384[49..])},
        {"kty": "OKP", "kid": "ed", "crv": "Ed25519", "x": b64(&k.ed.public_key().to_bytes())},
        {"kty": "oct", "kid": "hs", "k": b64(b"0123456789abcdef0123456789abcdef")}
    ]})
}

fn spec() -> String {
    let api_key_hash: String = hmac_sha256::Hash::hash(b"key-for-batch-job")
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    json!({
        "openapi": "3.1.0",
        "info": {"title": "identity", "version": "1"},
        "security": [{"bearer": []}],
        "x-specguard-caller-classes": {"internal": {"spiffe-trust-domains": ["corp.internal"], "scopes": ["admin"]}},
        "components": {"securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer", "x-specguard-jwt": {
                "issuer": "https://idp.example.com",
                "audiences": ["shop"],
                "algorithms": ["RS256", "PS256", "ES256", "ES384", "EdDSA", "HS256"],
                "jwks": {"inline": jwks()},
                "max-lifetime": "1h",
                "clock-skew": "30s"
            }},
            "batch": {"type": "apiKey", "in": "header", "name": "X-Api-Key",
                      "x-specguard-api-keys": {"inline": [{"id": "batch-job", "sha256": api_key_hash}]}}
        }},
        "paths": {
            "/public": {"get": {"operationId": "pub", "security": [], "responses": {"204": {"description": "ok"}}}},
            "/orders": {
                "get": {"operationId": "list", "security": [{"bearer": ["orders:read"]}], "responses": {"204": {"description": "ok"}}},
                "post": {"operationId": "create", "security": [{"bearer": ["orders:write"]}, {"batch": []}],
                         "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "properties": {"n": {"type": "integer"}}}}}},
                         "responses": {"204": {"description": "ok"}}}
            },
            "/svc": {"get": {"operationId": "svc", "security": [], "x-specguard-callers": ["spiffe://corp.internal/ns/shop/sa/frontend"], "responses": {"204": {"description": "ok"}}}},
            "/admin": {"get": {"operationId": "admin", "x-internal": true, "responses": {"204": {"description": "ok"}}}}
        }
    })
    .to_string()
}

fn engine() -> Engine {
    let c = compile_text(&spec(), Path::new("identity.json"), &Options::default())
        .unwrap_or_else(|d| panic!("{d:?}"));
    Engine::new(c.policy).unwrap()
}

#[derive(Serialize, Deserialize)]
struct Custom {
    scope: String,
}

fn claims(scope: &str) -> JWTClaims<Custom> {
    let mut c = Claims::with_custom_claims(
        Custom {
            scope: scope.into(),
        },
        Duration::from_secs(600),
    )
    .with_issuer("https://idp.example.com")
    .with_audience("shop")
    .with_subject("user-42");
    c.issued_at = Some(UnixTimeStamp::from_secs(NOW - 60));
    c.expires_at = Some(UnixTimeStamp::from_secs(NOW + 600));
    c.invalid_before = None;
    c
}

fn req(
    e: &Engine,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    now: u64,
) -> (Exchange, Step) {
    let head = RequestHead {
        method: method.into(),
        path: path.into(),
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        now,
        peer_uri_san: None,
    };
    e.request_headers(&head, false)
}

fn with_token(e: &Engine, path: &str, token: &str) -> Step {
    let auth = format!("Bearer {token}");
    req(e, "GET", path, &[("authorization", &auth)], NOW).1
}

fn code(s: &Step) -> (u16, &'static str) {
    match s {
        Step::Deny(r) => (r.status, r.code),
        _ => (200, "ok"),
    }
}

/// A token with the given header and claims, signed with nothing (for alg none).
fn unsigned(header: Value, claims: Value) -> String {
    format!(
        "{}.{}.",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    )
}

#[test]
fn valid_tokens_for_each_algorithm_are_accepted() {
    let e = engine();
    let k = keys();
    let c = || claims("orders:read");
    for (alg, token) in [
        ("RS256", k.rs.sign(c()).unwrap()),
        ("PS256", k.ps.sign(c()).unwrap()),
        ("ES256", k.es.sign(c()).unwrap()),
        ("ES384", k.es384.sign(c()).unwrap()),
        ("EdDSA", k.ed.sign(c()).unwrap()),
        ("HS256", k.hs.authenticate(c()).unwrap()),
    ] {
        assert_eq!(
            code(&with_token(&e, "/orders", &token)),
            (200, "ok"),
            "{alg}"
        );
    }
}

#[test]
fn jwt_attack_matrix_is_refused_with_401() {
    let e = engine();
    let k = keys();
    let good = k.es.sign(claims("orders:read")).unwrap();
    let mut cases: Vec<(&str, String)> = Vec::new();
    cases.push(("alg none", unsigned(json!({"alg": "none", "typ": "JWT"}), json!({"iss": "https://idp.example.com", "aud": "shop", "exp": NOW + 60, "scope": "orders:read"}))));
    cases.push((
        "alg not allowed (RS384)",
        k.rs384.sign(claims("orders:read")).unwrap(),
    ));
    // HS/RS confusion: HMAC keyed with the RSA public key, naming the RSA kid.
    let confused = HS256Key::from_bytes(&k.rs.public_key().to_der().unwrap()).with_key_id("rs");
    cases.push((
        "HS256 with the RSA public key",
        confused.authenticate(claims("orders:read")).unwrap(),
    ));
    cases.push((
        "unknown kid",
        ES256KeyPair::generate()
            .with_key_id("nope")
            .sign(claims("orders:read"))
            .unwrap(),
    ));
    cases.push((
        "forged with another key, same kid",
        k.other_es.sign(claims("orders:read")).unwrap(),
    ));
    let mut no_exp = claims("orders:read");
    no_exp.expires_at = None;
    cases.push(("no exp", k.es.sign(no_exp).unwrap()));
    let mut expired = claims("orders:read");
    expired.expires_at = Some(UnixTimeStamp::from_secs(NOW - 31));
    cases.push(("expired beyond skew", k.es.sign(expired).unwrap()));
    let mut nbf = claims("orders:read");
    nbf.invalid_before = Some(UnixTimeStamp::from_secs(NOW + 120));
    cases.push(("nbf in the future", k.es.sign(nbf).unwrap()));
    let mut iat = claims("orders:read");
    iat.issued_at = Some(UnixTimeStamp::from_secs(NOW + 120));
    cases.push(("iat in the future", k.es.sign(iat).unwrap()));
    let mut long = claims("orders:read");
    long.issued_at = Some(UnixTimeStamp::from_secs(NOW - 60));
    long.expires_at = Some(UnixTimeStamp::from_secs(NOW - 60 + 7200));
    cases.push(("lifetime above max-lifetime", k.es.sign(long).unwrap()));
    cases.push((
        "wrong issuer",
        k.es.sign(claims("orders:read").with_issuer("https://evil.example.com"))
            .unwrap(),
    ));
    cases.push((
        "wrong audience",
        k.es.sign(claims("orders:read").with_audience("billing"))
            .unwrap(),
    ));
    let mut no_aud = claims("orders:read");
    no_aud.audiences = None;
    cases.push(("no audience", k.es.sign(no_aud).unwrap()));
    let parts: Vec<&str> = good.split('.').collect();
    let tampered_claims = b64(json!({"iss": "https://idp.example.com", "aud": "shop", "sub": "admin", "iat": NOW - 60, "exp": NOW + 600, "scope": "orders:read admin"}).to_string().as_bytes());
    cases.push((
        "tampered payload",
        format!("{}.{}.{}", parts[0], tampered_claims, parts[2]),
    ));
    cases.push(("garbage", "not.a.token".into()));
    cases.push(("empty", String::new()));
    for (name, token) in &cases {
        let s = with_token(&e, "/orders", token);
        assert_eq!(code(&s), (401, "unauthenticated"), "{name}");
        let Step::Deny(r) = s else { unreachable!() };
        assert!(
            r.headers()
                .contains(&("www-authenticate", "Bearer error=\"invalid_token\"")),
            "{name}"
        );
    }
    // Within the clock skew an expired token still passes; beyond, never.
    let mut recent = claims("orders:read");
    recent.expires_at = Some(UnixTimeStamp::from_secs(NOW - 10));
    assert_eq!(
        code(&with_token(&e, "/orders", &k.es.sign(recent).unwrap())),
        (200, "ok")
    );
    // Not a bearer credential, or none at all.
    assert_eq!(
        code(
            &req(
                &e,
                "GET",
                "/orders",
                &[("authorization", "Basic dTpw")],
                NOW
            )
            .1
        ),
        (401, "unauthenticated")
    );
    assert_eq!(
        code(&req(&e, "GET", "/orders", &[], NOW).1),
        (401, "unauthenticated")
    );
}

#[test]
fn verified_tokens_are_cached_but_never_past_exp() {
    let e = engine();
    let token = keys().es.sign(claims("orders:read")).unwrap();
    assert_eq!(code(&with_token(&e, "/orders", &token)), (200, "ok"));
    assert_eq!(code(&with_token(&e, "/orders", &token)), (200, "ok"));
    let auth = format!("Bearer {token}");
    // Past exp + skew: refused although it was cached.
    assert_eq!(
        code(
            &req(
                &e,
                "GET",
                "/orders",
                &[("authorization", &auth)],
                NOW + 600 + 31
            )
            .1
        ),
        (401, "unauthenticated")
    );
}

#[test]
fn scopes_api_keys_and_order_of_checks() {
    let e = engine();
    let k = keys();
    let reader = k.es.sign(claims("orders:read")).unwrap();
    let writer = k.es.sign(claims("orders:read orders:write")).unwrap();
    // Authenticated but without the permission: 403.
    assert_eq!(
        code(&with_token(
            &e,
            "/orders",
            &k.es.sign(claims("profile")).unwrap()
        )),
        (403, "forbidden")
    );
    let post = |headers: &[(&str, &str)], body: &[u8]| {
        let mut h = headers.to_vec();
        h.push(("content-type", "application/json"));
        let head = RequestHead {
            method: "POST".into(),
            path: "/orders".into(),
            headers: h
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            now: NOW,
            peer_uri_san: None,
        };
        let (mut ex, s) = e.request_headers(&head, true);
        if s != Step::Continue {
            return code(&s);
        }
        code(&e.request_body(&mut ex, body))
    };
    let bad_body = br#"{"n": "not a number"}"#;
    // An unauthenticated caller never learns whether its body was valid.
    assert_eq!(post(&[], bad_body), (401, "unauthenticated"));
    assert_eq!(
        post(&[("authorization", &format!("Bearer {reader}"))], bad_body),
        (403, "forbidden")
    );
    assert_eq!(
        post(&[("authorization", &format!("Bearer {writer}"))], bad_body),
        (400, "invalid-body")
    );
    assert_eq!(
        post(
            &[("authorization", &format!("Bearer {writer}"))],
            br#"{"n": 1}"#
        ),
        (200, "ok")
    );
    // The API key alternative.
    assert_eq!(
        post(&[("x-api-key", "key-for-batch-job")], br#"{"n": 1}"#),
        (200, "ok")
    );
    assert_eq!(
        post(&[("x-api-key", "key-for-batch-jo")], br#"{"n": 1}"#),
        (401, "unauthenticated")
    );
    // Public on purpose.
    assert_eq!(code(&req(&e, "GET", "/public", &[], NOW).1), (200, "ok"));
}

#[test]
fn spiffe_callers_and_internal_operations() {
    let e = engine();
    let call = |path: &str, peer: Option<&str>, auth: Option<&str>| {
        let mut headers = vec![];
        if let Some(a) = auth {
            headers.push(("authorization".to_string(), format!("Bearer {a}")));
        }
        let head = RequestHead {
            method: "GET".into(),
            path: path.into(),
            headers,
            now: NOW,
            peer_uri_san: peer.map(str::to_string),
        };
        e.request_headers(&head, false)
    };
    assert_eq!(
        code(
            &call(
                "/svc",
                Some("spiffe://corp.internal/ns/shop/sa/frontend"),
                None
            )
            .1
        ),
        (200, "ok")
    );
    assert_eq!(
        code(
            &call(
                "/svc",
                Some("spiffe://corp.internal/ns/shop/sa/other"),
                None
            )
            .1
        ),
        (403, "forbidden")
    );
    assert_eq!(code(&call("/svc", None, None).1), (403, "forbidden"));
    // Internal operation: external callers get exactly what an unknown path gets.
    let unknown = code(&call("/nothing-here", None, None).1);
    assert_eq!(code(&call("/admin", None, None).1), unknown);
    let user = keys().es.sign(claims("orders:read")).unwrap();
    assert_eq!(code(&call("/admin", None, Some(&user)).1), unknown);
    let admin = keys().es.sign(claims("admin")).unwrap();
    assert_eq!(code(&call("/admin", None, Some(&admin)).1), (200, "ok"));
    // Internal by trust domain (and the bearer still required by root security).
    let (ex, s) = call(
        "/admin",
        Some("spiffe://corp.internal/ns/ops/sa/cron"),
        Some(&user),
    );
    assert_eq!(code(&s), (200, "ok"));
    assert!(ex.caller.unwrap().internal);
}

#[test]
fn the_upstream_gets_canonical_identity_headers_only() {
    let e = engine();
    let token = keys().es.sign(claims("orders:read")).unwrap();
    let auth = format!("Bearer {token}");
    let (ex, s) = req(
        &e,
        "GET",
        "/orders",
        &[
            ("authorization", &auth),
            ("x-specguard-subject", "admin"),
            ("x-specguard-caller-class", "internal"),
            ("x-specguard-anything", "x"),
        ],
        NOW,
    );
    assert_eq!(s, Step::Continue);
    let removed: Vec<&str> = ex
        .header_ops
        .iter()
        .filter_map(|o| {
            if let HeaderOp::Remove(n) = o {
                Some(n.as_str())
            } else {
                None
            }
        })
        .collect();
    for h in [
        "authorization",
        "x-specguard-subject",
        "x-specguard-caller-class",
        "x-specguard-anything",
    ] {
        assert!(removed.contains(&h), "{h} must be removed: {removed:?}");
    }
    let set: Vec<(&str, &str)> = ex
        .header_ops
        .iter()
        .filter_map(|o| {
            if let HeaderOp::Set(n, v) = o {
                Some((n.as_str(), v.as_str()))
            } else {
                None
            }
        })
        .collect();
    assert!(set.contains(&("x-specguard-subject", "user-42")));
    assert!(set.contains(&("x-specguard-caller-class", "external")));
    assert!(set.contains(&("x-specguard-permissions", "orders:read")));
    // Public endpoints strip spoofed identity too.
    let (ex, _) = req(
        &e,
        "GET",
        "/public",
        &[("x-specguard-subject", "admin")],
        NOW,
    );
    assert!(ex
        .header_ops
        .contains(&HeaderOp::Remove("x-specguard-subject".into())));
    assert!(!ex
        .header_ops
        .iter()
        .any(|o| matches!(o, HeaderOp::Set(n, _) if n == "x-specguard-subject")));
}

#[test]
fn weak_or_broken_key_sets_are_refused_at_compile_and_configure_time() {
    let mut v: Value = serde_json::from_str(&spec()).unwrap();
    v["components"]["securitySchemes"]["bearer"]["x-specguard-jwt"]["jwks"] =
        json!({"inline": {"keys": [{"kty": "oct", "k": "c2hvcnQ"}]}});
    let c = compile_text(&v.to_string(), Path::new("weak.json"), &Options::default()).unwrap();
    let err = Engine::new(c.policy).err().unwrap();
    assert!(err.contains("below 256"), "{err}");
    v["components"]["securitySchemes"]["bearer"]["x-specguard-jwt"]["algorithms"] = json!(["none"]);
    let d = compile_text(&v.to_string(), Path::new("none.json"), &Options::default()).unwrap_err();
    assert!(
        d.iter()
            .any(|x| x.message.contains("`none` is never accepted")),
        "{d:?}"
    );
}

#[test]
fn identity_policies_round_trip_through_json() {
    let c = compile_text(&spec(), Path::new("identity.json"), &Options::default()).unwrap();
    let text = serde_json::to_string(&c.policy).unwrap();
    let back = specguard_policy::Policy::from_json(text.as_bytes()).unwrap();
    assert_eq!(back, c.policy);
    assert!(Engine::from_json(text.as_bytes()).is_ok());
}

#[test]
fn token_header_and_query_parameter_are_configurable_and_key_files_embed() {
    let dir = std::env::temp_dir().join(format!("specguard-identity-files-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("keys.json"), jwks().to_string()).unwrap();
    let hash: String = hmac_sha256::Hash::hash(b"s3cret-key")
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    std::fs::write(
        dir.join("api-keys.yaml"),
        format!("- id: nightly\n  sha256: {hash}\n"),
    )
    .unwrap();
    let mut v: Value = serde_json::from_str(&spec()).unwrap();
    let jwt = &mut v["components"]["securitySchemes"]["bearer"]["x-specguard-jwt"];
    jwt["jwks"] = json!({"file": "keys.json"});
    jwt["header"] = json!("X-Token");
    jwt["query"] = json!("access_token");
    v["components"]["securitySchemes"]["batch"]["x-specguard-api-keys"] =
        json!({"file": "api-keys.yaml"});
    let spec_path = dir.join("openapi.json");
    std::fs::write(&spec_path, v.to_string()).unwrap();
    let c = specguard_policy::compile::compile_file(&spec_path, &[], &Options::default())
        .unwrap_or_else(|d| panic!("{d:?}"));
    let e = Engine::new(c.policy).unwrap();
    let token = keys().es.sign(claims("orders:read")).unwrap();
    let bearer = format!("Bearer {token}");
    assert_eq!(
        code(&req(&e, "GET", "/orders", &[("x-token", &bearer)], NOW).1),
        (200, "ok")
    );
    // The standard header is not looked at any more.
    assert_eq!(
        code(&req(&e, "GET", "/orders", &[("authorization", &bearer)], NOW).1),
        (401, "unauthenticated")
    );
    // The declared query parameter carries tokens and is not an unknown parameter.
    assert_eq!(
        code(
            &req(
                &e,
                "GET",
                &format!("/orders?access_token={token}"),
                &[],
                NOW
            )
            .1
        ),
        (200, "ok")
    );
    // API keys from the file.
    let head = RequestHead {
        method: "POST".into(),
        path: "/orders".into(),
        headers: vec![
            ("x-api-key".into(), "s3cret-key".into()),
            ("content-type".into(), "application/json".into()),
        ],
        now: NOW,
        peer_uri_san: None,
    };
    assert_eq!(e.request_headers(&head, true).1, Step::Continue);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn mutated_tokens_never_crash_and_never_pass_as_someone_else() {
    let e = engine();
    let token = keys().es.sign(claims("orders:read")).unwrap();
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ ";
    let mut accepted = 0;
    // Bounded: each refusal that gets as far as a signature check costs an
    // ES256 verification (slow in debug builds).
    for _ in 0..400 {
        let mut t = token.clone().into_bytes();
        for _ in 0..1 + next() % 3 {
            let i = (next() % t.len() as u64) as usize;
            match next() % 3 {
                0 => t[i] = alphabet[(next() % alphabet.len() as u64) as usize],
                1 => {
                    t.remove(i);
                }
                _ => t.insert(i, alphabet[(next() % alphabet.len() as u64) as usize]),
            }
        }
        let Ok(t) = String::from_utf8(t) else {
            continue;
        };
        let (ex, s) = req(
            &e,
            "GET",
            "/orders",
            &[("authorization", &format!("Bearer {t}"))],
            NOW,
        );
        match code(&s) {
            (401, "unauthenticated") => {}
            (200, "ok") => {
                // Only a non-canonical spelling of the same token can pass, and
                // then as the same caller.
                accepted += 1;
                assert_eq!(ex.caller.unwrap().subject.as_deref(), Some("user-42"));
            }
            other => panic!("{other:?} for {t}"),
        }
    }
    assert!(accepted < 40, "{accepted} mutated tokens accepted");
}
