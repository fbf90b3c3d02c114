//! JWK Sets into verification keys. Each key is bound to one algorithm at
//! load time, so a token can only be checked with a key of the type its
//! `alg` names (no HS/RS confusion): an RSA key never becomes an HMAC secret.

use jwt_simple::prelude::*;
use serde_json::Value;

/// Smallest RSA modulus accepted, bytes (2048 bits).
const MIN_RSA_BYTES: usize = 256;
/// Smallest HMAC secret accepted, bytes (256 bits).
const MIN_HMAC_BYTES: usize = 32;

/// A verification key bound to its algorithm.
pub enum Verifier {
    RS256(RS256PublicKey),
    RS384(RS384PublicKey),
    RS512(RS512PublicKey),
    PS256(PS256PublicKey),
    PS384(PS384PublicKey),
    PS512(PS512PublicKey),
    ES256(ES256PublicKey),
    ES384(ES384PublicKey),
    EdDSA(Ed25519PublicKey),
    HS256(HS256Key),
    HS384(HS384Key),
    HS512(HS512Key),
}

impl Verifier {
    /// Verifies signature and standard claims per `options`.
    pub fn verify(
        &self,
        token: &str,
        options: VerificationOptions,
    ) -> Result<JWTClaims<Value>, jwt_simple::Error> {
        let o = Some(options);
        match self {
            Verifier::RS256(k) => k.verify_token(token, o),
            Verifier::RS384(k) => k.verify_token(token, o),
            Verifier::RS512(k) => k.verify_token(token, o),
            Verifier::PS256(k) => k.verify_token(token, o),
            Verifier::PS384(k) => k.verify_token(token, o),
            Verifier::PS512(k) => k.verify_token(token, o),
            Verifier::ES256(k) => k.verify_token(token, o),
            Verifier::ES384(k) => k.verify_token(token, o),
            Verifier::EdDSA(k) => k.verify_token(token, o),
            Verifier::HS256(k) => k.verify_token(token, o),
            Verifier::HS384(k) => k.verify_token(token, o),
            Verifier::HS512(k) => k.verify_token(token, o),
        }
    }
}

/// One usable key.
pub struct Key {
    pub kid: Option<String>,
    pub alg: &'static str,
    pub verifier: Verifier,
}

/// Encodes unpadded base64url (JWK fields, JWT segments).
pub fn b64url_encode(bytes: &[u8]) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len() * 4 / 3 + 3);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..chunk.len() + 1 {
            out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// Decodes unpadded base64url (JWK fields).
pub fn b64url(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for c in s.trim_end_matches('=').bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

fn field(jwk: &Value, name: &str) -> Result<Vec<u8>, String> {
    jwk.get(name)
        .and_then(Value::as_str)
        .and_then(b64url)
        .ok_or_else(|| format!("`{name}` missing or not base64url"))
}

const ALGS: [&str; 12] = [
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA", "HS256",
    "HS384", "HS512",
];

/// The keys of a JWK Set usable with `allowed` algorithms. Keys that are
/// malformed, too weak, or not for signing are reported in the error list
/// and left out; the set is refused only when nothing usable remains.
pub fn load(jwks: &Value, allowed: &[String]) -> (Vec<Key>, Vec<String>) {
    let mut keys = Vec::new();
    let mut problems = Vec::new();
    let Some(list) = jwks.get("keys").and_then(Value::as_array) else {
        problems.push("not a JWK Set (no `keys` list)".to_string());
        return (keys, problems);
    };
    for (i, jwk) in list.iter().enumerate() {
        let kid = jwk.get("kid").and_then(Value::as_str).map(str::to_string);
        if jwk
            .get("use")
            .and_then(Value::as_str)
            .is_some_and(|u| u != "sig")
        {
            continue;
        }
        let declared = jwk.get("alg").and_then(Value::as_str);
        let algs: Vec<&'static str> = ALGS
            .into_iter()
            .filter(|a| allowed.iter().any(|x| x == a) && declared.is_none_or(|d| d == *a))
            .collect();
        for alg in algs {
            match build(jwk, alg) {
                Ok(Some(verifier)) => keys.push(Key {
                    kid: kid.clone(),
                    alg,
                    verifier,
                }),
                Ok(None) => {}
                Err(e) => problems.push(format!(
                    "key {i} ({}): {e}",
                    kid.as_deref().unwrap_or("no kid")
                )),
            }
        }
    }
    (keys, problems)
}

/// A verifier for `alg` from `jwk`, `None` when the key type does not fit the algorithm.
fn build(jwk: &Value, alg: &'static str) -> Result<Option<Verifier>, String> {
    let kty = jwk.get("kty").and_then(Value::as_str).unwrap_or_default();
    let crv = jwk.get("crv").and_then(Value::as_str).unwrap_or_default();
    let err = |e: jwt_simple::Error| e.to_string();
    Ok(Some(match (kty, alg) {
        ("RSA", "RS256" | "RS384" | "RS512" | "PS256" | "PS384" | "PS512") => {
            let n = field(jwk, "n")?;
            let e = field(jwk, "e")?;
            let significant = n.iter().skip_while(|b| **b == 0).count();
            if significant < MIN_RSA_BYTES {
                return Err(format!(
                    "RSA modulus of {} bits is below 2048",
                    significant * 8
                ));
            }
            match alg {
                "RS256" => Verifier::RS256(RS256PublicKey::from_components(&n, &e).map_err(err)?),
                "RS384" => Verifier::RS384(RS384PublicKey::from_components(&n, &e).map_err(err)?),
                "RS512" => Verifier::RS512(RS512PublicKey::from_components(&n, &e).map_err(err)?),
                "PS256" => Verifier::PS256(PS256PublicKey::from_components(&n, &e).map_err(err)?),
                "PS384" => Verifier::PS384(PS384PublicKey::from_components(&n, &e).map_err(err)?),
                _ => Verifier::PS512(PS512PublicKey::from_components(&n, &e).map_err(err)?),
            }
        }
        ("EC", "ES256") if crv == "P-256" => {
            Verifier::ES256(ES256PublicKey::from_bytes(&ec_point(jwk, 32)?).map_err(err)?)
        }
        ("EC", "ES384") if crv == "P-384" => {
            Verifier::ES384(ES384PublicKey::from_bytes(&ec_point(jwk, 48)?).map_err(err)?)
        }
        ("OKP", "EdDSA") if crv == "Ed25519" => {
            Verifier::EdDSA(Ed25519PublicKey::from_bytes(&field(jwk, "x")?).map_err(err)?)
        }
        ("oct", "HS256" | "HS384" | "HS512") => {
            let k = field(jwk, "k")?;
            if k.len() < MIN_HMAC_BYTES {
                return Err(format!("HMAC secret of {} bits is below 256", k.len() * 8));
            }
            match alg {
                "HS256" => Verifier::HS256(HS256Key::from_bytes(&k)),
                "HS384" => Verifier::HS384(HS384Key::from_bytes(&k)),
                _ => Verifier::HS512(HS512Key::from_bytes(&k)),
            }
        }
        _ => return Ok(None),
    }))
}

/// The SEC1 uncompressed point `04 || x || y` of an EC JWK.
fn ec_point(jwk: &Value, len: usize) -> Result<Vec<u8>, String> {
    let x = field(jwk, "x")?;
    let y = field(jwk, "y")?;
    if x.len() != len || y.len() != len {
        return Err("EC coordinates have the wrong length".into());
    }
    let mut p = Vec::with_capacity(1 + 2 * len);
    p.push(4);
    p.extend_from_slice(&x);
    p.extend_from_slice(&y);
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url() {
        for len in 0..20 {
            let data: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            assert_eq!(b64url(&b64url_encode(&data)).unwrap(), data);
        }
        assert_eq!(b64url("aGVsbG8").unwrap(), b"hello");
        assert_eq!(b64url("AQAB").unwrap(), vec![1, 0, 1]);
        assert!(b64url("a+b").is_none());
    }

    #[test]
    fn weak_and_mismatched_keys_are_left_out() {
        let allowed: Vec<String> = ["HS256", "ES256"].iter().map(|s| s.to_string()).collect();
        let jwks = serde_json::json!({"keys": [
            {"kty": "oct", "kid": "short", "k": "c2hvcnQ"},
            {"kty": "oct", "kid": "enc", "use": "enc", "k": "MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDE"},
            {"kty": "oct", "kid": "ok", "k": "MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDE"}
        ]});
        let (keys, problems) = load(&jwks, &allowed);
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].kid.as_deref(), Some("ok"));
        assert_eq!(keys[0].alg, "HS256");
        assert!(problems[0].contains("below 256"), "{problems:?}");
    }
}
