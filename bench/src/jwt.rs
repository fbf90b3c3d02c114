// Benchmark code: a failed expectation should stop the run loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

//! Keys, JWK Sets and tokens for the identity benchmarks (generated per run).

use jwt_simple::prelude::*;
use serde_json::{json, Value};

pub fn b64(bytes: &[u8]) -> String {
    specguard_filter::identity::keys::b64url_encode(bytes)
}

#[derive(Serialize, Deserialize)]
struct Scope {
    scope: String,
}

/// An ES256 key and an RS256 key, their JWK Set, and one long-lived token for each.
pub struct Material {
    pub jwks: Value,
    pub es256_token: String,
    pub rs256_token: String,
}

pub const ISSUER: &str = "https://idp.bench";
pub const AUDIENCE: &str = "shop";

pub fn material(scope: &str, valid_for_s: u64) -> Material {
    let es = ES256KeyPair::generate().with_key_id("es");
    let rs = RS256KeyPair::generate(2048)
        .expect("rsa keygen")
        .with_key_id("rs");
    let ec = es.public_key().public_key().to_bytes_uncompressed();
    let rsa = rs.public_key().to_components();
    let jwks = json!({"keys": [
        {"kty": "EC", "kid": "es", "crv": "P-256", "alg": "ES256", "x": b64(&ec[1..33]), "y": b64(&ec[33..])},
        {"kty": "RSA", "kid": "rs", "alg": "RS256", "n": b64(&rsa.n), "e": b64(&rsa.e)}
    ]});
    let claims = || {
        Claims::with_custom_claims(
            Scope {
                scope: scope.to_string(),
            },
            Duration::from_secs(valid_for_s),
        )
        .with_issuer(ISSUER)
        .with_audience(AUDIENCE)
        .with_subject("bench-user")
    };
    Material {
        jwks,
        es256_token: es.sign(claims()).expect("sign"),
        rs256_token: rs.sign(claims()).expect("sign"),
    }
}
