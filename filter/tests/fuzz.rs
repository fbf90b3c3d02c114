//! Deterministic differential fuzzing of the network-facing code, bounded
//! so it runs in `make test`: mutated JSON documents against serde_json,
//! member splicing, and random requests and responses against the engine.
//! (cargo-fuzz needs a nightly toolchain, which this project does not pin.)

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use serde_json::Value;
use specguard_filter::json::{json_eq, parse, removal_ranges, splice, Json, JsonError, JsonLimits};
use specguard_filter::{Engine, RequestHead, Step};
use specguard_policy::compile::{compile_file, Options};

/// xorshift64*: small, deterministic, good enough to drive mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Equality where floats may differ by one unit in the last place: serde_json
/// without `float_roundtrip` rounds some decimals imprecisely; ours (`str::parse`)
/// is correctly rounded.
fn same(a: &Json, b: &Value) -> bool {
    match (a, b) {
        (Json::Num(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64(), y.as_f64().unwrap());
            x == y || (x.to_bits() as i64 - y.to_bits() as i64).abs() <= 1
        }
        (Json::Arr(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q))
        }
        (Json::Obj(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|m| y.get(m.key.as_ref()).is_some_and(|w| same(&m.value, w)))
        }
        _ => json_eq(a, &Json::from_value(b)),
    }
}

const WIDE: JsonLimits = JsonLimits {
    max_depth: 64,
    max_keys: 10_000,
    max_string: 100_000,
    max_array: 10_000,
};

const SEEDS: &[&str] = &[
    r#"{"id": "123e4567-e89b-12d3-a456-426614174000", "items": [{"sku": "ABC-0001", "quantity": 2, "unitPrice": 9.99}], "note": null}"#,
    r#"[1, -2.5e3, true, false, null, "a\"b\\c\u00e9\ud83d\ude00", {"": {}}, []]"#,
    r#"{"a": {"b": {"c": [0, 1e-7, 18446744073709551615, -9223372036854775808]}}}"#,
    r#""just a string""#,
    "  123  ",
];

const ALPHABET: &[u8] = b"{}[]\",:\\/ -+.eE0123456789tfnulrsau\x00\x1f\x7f\xc3\xa9\xff";

fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut b = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(b.len() + 1);
        match rng.below(4) {
            0 if at < b.len() => b[at] = ALPHABET[rng.below(ALPHABET.len())],
            1 => b.insert(at, ALPHABET[rng.below(ALPHABET.len())]),
            2 if at < b.len() => {
                b.remove(at);
            }
            _ => {
                let end = (at + rng.below(8)).min(b.len());
                let chunk = b[at.min(end)..end].to_vec();
                b.splice(at..at, chunk);
            }
        }
    }
    b
}

#[test]
fn parser_agrees_with_serde_json_on_mutated_documents() {
    let mut rng = Rng(0x5eed_5eed_1234_5678);
    let (mut accepted, mut refused) = (0, 0);
    for i in 0..30_000 {
        let input = mutate(&mut rng, SEEDS[i % SEEDS.len()].as_bytes());
        let ours = parse(&input, WIDE);
        let theirs = serde_json::from_slice::<Value>(&input);
        match (&ours, &theirs) {
            (Ok(a), Ok(b)) => {
                assert!(
                    same(a, b),
                    "disagree on {:?}",
                    String::from_utf8_lossy(&input)
                );
                accepted += 1;
            }
            (Err(_), Err(_)) => refused += 1,
            // serde_json keeps the last of duplicate keys; we refuse them.
            (Err(JsonError::DuplicateKey), Ok(_)) => refused += 1,
            _ => panic!(
                "ours {ours:?} vs serde_json {theirs:?} on {:?}",
                String::from_utf8_lossy(&input)
            ),
        }
        // Splicing out any members leaves a document that still parses.
        if let Ok(Json::Obj(m)) = &ours {
            let drop: Vec<bool> = m.iter().map(|_| rng.below(2) == 0).collect();
            let mut ranges = Vec::new();
            removal_ranges(m, &drop, &mut ranges);
            let out = splice(&input, &mut ranges);
            let Ok(Json::Obj(kept)) = parse(&out, WIDE) else {
                panic!(
                    "splice broke {:?} -> {:?}",
                    String::from_utf8_lossy(&input),
                    String::from_utf8_lossy(&out)
                )
            };
            assert_eq!(kept.len(), drop.iter().filter(|d| !**d).count());
        }
    }
    assert!(
        accepted > 1000 && refused > 1000,
        "mutations too tame or too wild: {accepted} accepted, {refused} refused"
    );
}

#[test]
fn engine_survives_hostile_requests_and_responses() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let c = compile_file(
        &root.join("envoy/demo/openapi.yaml"),
        &[],
        &Options::default(),
    )
    .unwrap();
    let e = Engine::new(c.policy).unwrap();
    let mut rng = Rng(42);
    let paths = [
        "/api/orders",
        "/api/orders/123e4567-e89b-12d3-a456-426614174000",
        "/api/orders?limit=5&tag=a",
        "/api/health",
        "/api/admin/stats",
        "/api/orders/%zz",
        "/api//orders",
        "/api/orders/../admin/stats",
    ];
    let methods = ["GET", "POST", "PUT", "DELETE", "get", ""];
    let known = [400u16, 404, 405, 413, 415, 502];
    for i in 0..5_000 {
        let mut path = paths[i % paths.len()].as_bytes().to_vec();
        if rng.below(2) == 0 {
            path = mutate(&mut rng, &path);
        }
        let head = RequestHead {
            method: methods[rng.below(methods.len())].to_string(),
            path: String::from_utf8_lossy(&path).into_owned(),
            headers: vec![
                (
                    "content-type".into(),
                    [
                        "application/json",
                        "text/plain",
                        "application/json; x=1",
                        "",
                    ][rng.below(4)]
                    .into(),
                ),
                ("x-request-id".into(), "r".repeat(rng.below(80))),
                ("cookie".into(), "a=b; ;=;c".into()),
            ],
            ..Default::default()
        };
        let seed = SEEDS[rng.below(SEEDS.len())];
        let body = mutate(&mut rng, seed.as_bytes());
        let (mut ex, step) = e.request_headers(&head, rng.below(2) == 0);
        let check = |s: &Step| {
            if let Step::Deny(r) = s {
                assert!(known.contains(&r.status), "{r:?}");
                let text = String::from_utf8(r.body()).unwrap();
                assert!(
                    !text.contains("ABC-") && !text.contains("request-id"),
                    "refusal echoes input: {text}"
                );
            }
        };
        check(&step);
        if step == Step::Continue && ex.wants_request_body {
            check(&e.request_body(&mut ex, &body));
        }
        let status = [200u16, 201, 204, 404, 500][rng.below(5)];
        let s = e.response_headers(&mut ex, status, Some("application/json"), true);
        check(&s);
        if s == Step::Continue && ex.wants_response_body {
            let resp = e.response_body(&mut ex, &body);
            check(&resp);
            if let Step::Rewrite(b) = resp {
                assert!(parse(&b, WIDE).is_ok(), "rewritten body is not JSON");
            }
        }
    }
}
