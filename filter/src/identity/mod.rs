//! Authentication and endpoint authorization (REC-API-11, 12, 14, 19.1):
//! bearer JWTs, API keys, SPIFFE callers from the mTLS peer, `security`
//! requirements with scopes, caller classes, and the canonical identity
//! headers the upstream receives (seed section 2.7).
//!
//! Key sets and the verified-token cache live behind `RefCell`s: the engine
//! is shared by every stream of one single-threaded VM, and key sets change
//! when a remote JWKS is refreshed.

pub mod keys;

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::num::NonZeroUsize;

use jwt_simple::prelude::*;
use jwt_simple::JWTError;
use lru::LruCache;
use serde_json::Value;
use specguard_policy::model::Operation;
use specguard_policy::security::{
    ApiKeyLocation, IdentityHeaders, JwksSource, JwtScheme, SchemeKind, Security,
};

use crate::problem::Reject;

/// Verified tokens kept per scheme.
const TOKEN_CACHE: usize = 4096;
/// Longest token looked at.
const MAX_TOKEN: usize = 16 * 1024;

/// Who is calling, as verified.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Caller {
    pub subject: Option<String>,
    pub issuer: Option<String>,
    pub permissions: Vec<String>,
    /// SPIFFE ID of the calling service (mTLS peer URI SAN).
    pub service: Option<String>,
    /// Id of the API key presented.
    pub api_key: Option<String>,
    /// Classed `internal` by `x-specguard-caller-classes`.
    pub internal: bool,
}

/// A change to the request headers before forwarding.
#[derive(Debug, Clone, PartialEq)]
pub enum HeaderOp {
    Remove(String),
    Set(String, String),
}

/// A remote JWK Set: which scheme it serves and where the host fetches it.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteSource {
    pub scheme: usize,
    pub name: String,
    pub cluster: String,
    pub authority: String,
    pub path: String,
    pub refresh_s: u64,
}

/// What the request carries for identity (gathered by the host).
pub struct Credentials<'r> {
    pub headers: &'r [(String, String)],
    pub query: &'r [(String, String)],
    pub peer_uri_san: Option<&'r str>,
    pub now: u64,
}

impl Credentials<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Clone)]
struct Verified {
    subject: Option<String>,
    issuer: Option<String>,
    permissions: Vec<String>,
    exp: u64,
}

struct JwtRuntime {
    cfg: JwtScheme,
    keys: RefCell<Vec<keys::Key>>,
    cache: RefCell<LruCache<u64, (String, Verified)>>,
    /// A token named a key we do not have: the host may refresh early.
    kid_miss: Cell<bool>,
}

struct ApiKeyRuntime {
    location: ApiKeyLocation,
    param: String,
    hashes: Vec<(String, [u8; 32])>,
}

enum SchemeRuntime {
    Jwt(Box<JwtRuntime>),
    ApiKey(ApiKeyRuntime),
}

/// Outcome of one scheme on one request.
enum Attempt {
    Absent,
    Invalid(&'static str),
    Jwt(Verified),
    ApiKey(String),
}

/// The compiled identity part of a policy.
pub struct Identity {
    schemes: Vec<SchemeRuntime>,
    names: Vec<String>,
    internal: specguard_policy::security::CallerClass,
    headers: IdentityHeaders,
}

fn hex32(s: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    if s.len() != 64 {
        return None;
    }
    for (i, chunk) in s.as_bytes().chunks(2).enumerate() {
        let hi = (chunk[0] as char).to_digit(16)?;
        let lo = (chunk[1] as char).to_digit(16)?;
        out[i] = (hi * 16 + lo) as u8;
    }
    Some(out)
}

/// Equality that takes the same time wherever the inputs differ.
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn token_hash(t: &str) -> u64 {
    t.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, c| {
        (h ^ u64::from(c)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl Identity {
    pub fn new(sec: &Security) -> Result<Identity, String> {
        let mut schemes = Vec::new();
        for s in &sec.schemes {
            schemes.push(match &s.kind {
                SchemeKind::Jwt(cfg) => {
                    let loaded = match &cfg.jwks {
                        JwksSource::Inline { keys: jwks } => {
                            let (k, problems) = keys::load(jwks, &cfg.algorithms);
                            if k.is_empty() {
                                return Err(format!(
                                    "scheme {}: no usable keys in its JWK Set: {}",
                                    s.name,
                                    problems.join("; ")
                                ));
                            }
                            k
                        }
                        // Fetched by the host; until then every token is refused.
                        JwksSource::Remote { .. } => Vec::new(),
                    };
                    SchemeRuntime::Jwt(Box::new(JwtRuntime {
                        cfg: (**cfg).clone(),
                        keys: RefCell::new(loaded),
                        cache: RefCell::new(LruCache::new(
                            NonZeroUsize::new(TOKEN_CACHE).unwrap_or(NonZeroUsize::MIN),
                        )),
                        kid_miss: Cell::new(false),
                    }))
                }
                SchemeKind::ApiKey(cfg) => SchemeRuntime::ApiKey(ApiKeyRuntime {
                    location: cfg.location,
                    param: cfg.param.clone(),
                    hashes: cfg
                        .keys
                        .iter()
                        .map(|k| {
                            hex32(&k.sha256).map(|h| (k.id.clone(), h)).ok_or_else(|| {
                                format!("scheme {}: key {}: bad sha256", s.name, k.id)
                            })
                        })
                        .collect::<Result<_, _>>()?,
                }),
            });
        }
        Ok(Identity {
            schemes,
            names: sec.schemes.iter().map(|s| s.name.clone()).collect(),
            internal: sec.internal.clone(),
            headers: sec.headers.clone(),
        })
    }

    /// Replaces the keys of a remote-JWKS scheme. The old keys stay when the
    /// new set has none usable (a broken endpoint does not lock callers out).
    pub fn install_jwks(&self, scheme: usize, body: &[u8]) -> Result<usize, String> {
        let Some(SchemeRuntime::Jwt(rt)) = self.schemes.get(scheme) else {
            return Err(format!("scheme {scheme} is not a JWT scheme"));
        };
        let v: Value =
            serde_json::from_slice(body).map_err(|e| format!("JWKS is not JSON: {e}"))?;
        let (k, problems) = keys::load(&v, &rt.cfg.algorithms);
        if k.is_empty() {
            return Err(format!(
                "JWKS has no usable keys ({}); keeping the previous keys",
                problems.join("; ")
            ));
        }
        let n = k.len();
        *rt.keys.borrow_mut() = k;
        // Keys changed: tokens verified with a removed key must not live on.
        rt.cache.borrow_mut().clear();
        rt.kid_miss.set(false);
        Ok(n)
    }

    /// Remote key sets the host must fetch and keep fresh.
    pub fn remote_sources(&self) -> Vec<RemoteSource> {
        self.schemes
            .iter()
            .enumerate()
            .filter_map(|(scheme, s)| match s {
                SchemeRuntime::Jwt(rt) => match &rt.cfg.jwks {
                    JwksSource::Remote {
                        cluster,
                        authority,
                        path,
                        refresh_s,
                        ..
                    } => Some(RemoteSource {
                        scheme,
                        name: self.names[scheme].clone(),
                        cluster: cluster.clone(),
                        authority: authority.clone(),
                        path: path.clone(),
                        refresh_s: *refresh_s,
                    }),
                    JwksSource::Inline { .. } => None,
                },
                SchemeRuntime::ApiKey(_) => None,
            })
            .collect()
    }

    /// Whether a token asked for a key this scheme lacks (and clears the flag).
    pub fn take_kid_miss(&self, scheme: usize) -> bool {
        match self.schemes.get(scheme) {
            Some(SchemeRuntime::Jwt(rt)) => rt.kid_miss.replace(false),
            _ => false,
        }
    }

    /// Forgets every verified token (benchmarks measure uncached cost with it).
    pub fn clear_token_cache(&self) {
        for s in &self.schemes {
            if let SchemeRuntime::Jwt(rt) = s {
                rt.cache.borrow_mut().clear();
            }
        }
    }

    /// Whether the scheme has any keys now.
    pub fn has_keys(&self, scheme: usize) -> bool {
        matches!(self.schemes.get(scheme), Some(SchemeRuntime::Jwt(rt)) if !rt.keys.borrow().is_empty())
    }

    /// Query parameters that carry credentials (allowed on every operation).
    pub fn credential_params(&self) -> impl Iterator<Item = &str> {
        self.schemes.iter().filter_map(|s| match s {
            SchemeRuntime::Jwt(rt) => rt.cfg.query.as_deref(),
            SchemeRuntime::ApiKey(a) if a.location == ApiKeyLocation::Query => {
                Some(a.param.as_str())
            }
            SchemeRuntime::ApiKey(_) => None,
        })
    }

    fn class(&self, c: &Caller) -> bool {
        let td = c
            .service
            .as_deref()
            .and_then(|s| s.strip_prefix("spiffe://"))
            .map(|s| s.split('/').next().unwrap_or_default());
        td.is_some_and(|t| self.internal.spiffe_trust_domains.iter().any(|d| d == t))
            || c.issuer
                .as_ref()
                .is_some_and(|i| self.internal.issuers.contains(i))
            || c.permissions
                .iter()
                .any(|p| self.internal.scopes.contains(p))
    }

    fn attempt(&self, idx: usize, cred: &Credentials) -> Attempt {
        match &self.schemes[idx] {
            SchemeRuntime::ApiKey(a) => {
                let presented = match a.location {
                    ApiKeyLocation::Header => cred.header(&a.param),
                    ApiKeyLocation::Query => cred.query(&a.param),
                };
                let Some(key) = presented else {
                    return Attempt::Absent;
                };
                let h = hmac_sha256::Hash::hash(key.as_bytes());
                // Compare against every key, without stopping early.
                let mut found = None;
                for (id, stored) in &a.hashes {
                    if ct_eq(&h, stored) {
                        found = Some(id.clone());
                    }
                }
                match found {
                    Some(id) => Attempt::ApiKey(id),
                    None => Attempt::Invalid("unknown API key"),
                }
            }
            SchemeRuntime::Jwt(rt) => {
                let from_header = cred.header(&rt.cfg.header).map(|h| {
                    h.strip_prefix("Bearer ")
                        .or_else(|| h.strip_prefix("bearer "))
                        .map(str::trim)
                });
                let token = match from_header {
                    Some(Some(t)) => t,
                    Some(None) => {
                        return Attempt::Invalid("authorization header is not a bearer token")
                    }
                    None => match rt.cfg.query.as_deref().and_then(|q| cred.query(q)) {
                        Some(t) => t,
                        None => return Attempt::Absent,
                    },
                };
                match verify_cached(rt, token, cred.now) {
                    Ok(v) => Attempt::Jwt(v),
                    Err(e) => Attempt::Invalid(e),
                }
            }
        }
    }

    /// Authenticates and authorizes the request for `op`. On success returns
    /// the caller and the header changes to apply before forwarding.
    pub fn check(
        &self,
        op: &Operation,
        cred: &Credentials,
    ) -> Result<(Caller, Vec<HeaderOp>), Reject> {
        let mut caller = Caller {
            service: cred
                .peer_uri_san
                .filter(|s| s.starts_with("spiffe://"))
                .map(str::to_string),
            ..Caller::default()
        };
        let mut consumed: Vec<String> = Vec::new();
        if !op.security.is_empty() {
            // Each scheme is tried at most once per request.
            let mut attempts: Vec<Option<Attempt>> =
                (0..self.schemes.len()).map(|_| None).collect();
            let mut authenticated_but_forbidden = false;
            let mut granted = None;
            for (ri, req) in op.security.iter().enumerate() {
                let mut ok = true;
                let mut scopes_ok = true;
                for s in &req.schemes {
                    let i = s.scheme as usize;
                    if attempts[i].is_none() {
                        attempts[i] = Some(self.attempt(i, cred));
                    }
                    match &attempts[i] {
                        Some(Attempt::Jwt(v)) => {
                            if !s.scopes.iter().all(|sc| v.permissions.contains(sc)) {
                                scopes_ok = false;
                            }
                        }
                        Some(Attempt::ApiKey(_)) => {}
                        _ => ok = false,
                    }
                }
                if ok && scopes_ok {
                    granted = Some(ri);
                    break;
                }
                if ok {
                    authenticated_but_forbidden = true;
                }
            }
            let Some(ri) = granted else {
                if authenticated_but_forbidden {
                    return Err(Reject::new(
                        403,
                        "forbidden",
                        format!(
                            "{}: permissions missing for every security alternative",
                            op.id
                        ),
                    ));
                }
                let why: Vec<String> = attempts
                    .iter()
                    .enumerate()
                    .filter_map(|(i, a)| match a {
                        Some(Attempt::Invalid(w)) => Some(format!("{}: {w}", self.names[i])),
                        Some(Attempt::Absent) => Some(format!("{}: no credential", self.names[i])),
                        _ => None,
                    })
                    .collect();
                return Err(Reject::unauthenticated(format!(
                    "{}: {}",
                    op.id,
                    why.join(", ")
                )));
            };
            for s in &op.security[ri].schemes {
                let i = s.scheme as usize;
                match attempts[i].take() {
                    Some(Attempt::Jwt(v)) => {
                        if let SchemeRuntime::Jwt(rt) = &self.schemes[i] {
                            if !self.headers.forward_token {
                                consumed.push(rt.cfg.header.clone());
                            }
                        }
                        caller.subject = v.subject;
                        caller.issuer = v.issuer;
                        caller.permissions = v.permissions;
                    }
                    Some(Attempt::ApiKey(id)) => {
                        if let SchemeRuntime::ApiKey(a) = &self.schemes[i] {
                            if a.location == ApiKeyLocation::Header {
                                consumed.push(a.param.clone());
                            }
                        }
                        caller.api_key = Some(id);
                    }
                    _ => {}
                }
            }
        }
        if !op.callers.is_empty()
            && !caller
                .service
                .as_ref()
                .is_some_and(|s| op.callers.contains(s))
        {
            return Err(Reject::new(
                403,
                "forbidden",
                format!(
                    "{}: calling service {:?} is not among x-specguard-callers",
                    op.id, caller.service
                ),
            ));
        }
        caller.internal = self.class(&caller);
        Ok((caller.clone(), self.header_ops(cred, &caller, &consumed)))
    }

    /// Header changes for a request that was not authenticated but goes on
    /// anyway (monitor mode): spoofed identity headers still go.
    pub fn strip_ops(&self, cred: &Credentials) -> Vec<HeaderOp> {
        let mut c = Caller {
            service: cred
                .peer_uri_san
                .filter(|s| s.starts_with("spiffe://"))
                .map(str::to_string),
            ..Caller::default()
        };
        c.internal = self.class(&c);
        self.header_ops(cred, &c, &[])
    }

    fn header_ops(&self, cred: &Credentials, c: &Caller, consumed: &[String]) -> Vec<HeaderOp> {
        let h = &self.headers;
        let mut ops = Vec::new();
        let ours = [
            &h.subject,
            &h.caller_class,
            &h.service,
            &h.permissions,
            &h.api_key_id,
        ];
        let mut removed = HashSet::new();
        for (name, _) in cred.headers {
            let spoofable = (!h.strip_prefix.is_empty() && name.starts_with(&h.strip_prefix))
                || ours.contains(&name);
            if (spoofable || consumed.contains(name)) && removed.insert(name.clone()) {
                ops.push(HeaderOp::Remove(name.clone()));
            }
        }
        if let Some(s) = &c.subject {
            ops.push(HeaderOp::Set(h.subject.clone(), s.clone()));
        }
        ops.push(HeaderOp::Set(
            h.caller_class.clone(),
            if c.internal { "internal" } else { "external" }.into(),
        ));
        if let Some(s) = &c.service {
            ops.push(HeaderOp::Set(h.service.clone(), s.clone()));
        }
        if !c.permissions.is_empty() {
            ops.push(HeaderOp::Set(
                h.permissions.clone(),
                c.permissions.join(" "),
            ));
        }
        if let Some(k) = &c.api_key {
            ops.push(HeaderOp::Set(h.api_key_id.clone(), k.clone()));
        }
        ops
    }
}

fn verify_cached(rt: &JwtRuntime, token: &str, now: u64) -> Result<Verified, &'static str> {
    if token.len() > MAX_TOKEN {
        return Err("token too long");
    }
    let key = token_hash(token);
    {
        let mut cache = rt.cache.borrow_mut();
        if let Some((t, v)) = cache.get(&key) {
            // Same hash is not enough: the whole token must match.
            if ct_eq(t.as_bytes(), token.as_bytes()) {
                if now <= v.exp {
                    return Ok(v.clone());
                }
                cache.pop(&key);
            }
        }
    }
    let v = verify(rt, token, now)?;
    rt.cache
        .borrow_mut()
        .put(key, (token.to_string(), v.clone()));
    Ok(v)
}

/// Full verification of one token (signature, algorithm, key, claims).
fn verify(rt: &JwtRuntime, token: &str, now: u64) -> Result<Verified, &'static str> {
    let cfg = &rt.cfg;
    let meta = Token::decode_metadata(token).map_err(|_| "malformed token")?;
    let alg = meta.algorithm();
    if !cfg.algorithms.iter().any(|a| a == alg) {
        return Err("algorithm not accepted");
    }
    let keys = rt.keys.borrow();
    if keys.is_empty() {
        return Err("no verification keys loaded");
    }
    let kid = meta.key_id();
    let candidates: Vec<&keys::Key> = keys
        .iter()
        .filter(|k| k.alg == alg && (kid.is_none() || k.kid.as_deref() == kid))
        .collect();
    if candidates.is_empty() {
        rt.kid_miss.set(kid.is_some());
        return Err("no key for this kid and algorithm");
    }
    let options = VerificationOptions {
        artificial_time: Some(UnixTimeStamp::from_secs(now)),
        time_tolerance: Some(Duration::from_secs(cfg.clock_skew_s)),
        allowed_issuers: cfg.issuer.as_ref().map(|i| HashSet::from([i.clone()])),
        allowed_audiences: (!cfg.audiences.is_empty())
            .then(|| cfg.audiences.iter().cloned().collect()),
        accept_future: false,
        max_token_length: Some(MAX_TOKEN),
        ..VerificationOptions::default()
    };
    let mut last = "bad signature";
    for k in candidates {
        match k.verifier.verify(token, options.clone()) {
            Ok(claims) => {
                let Some(exp) = claims.expires_at else {
                    return Err("token has no exp");
                };
                let exp = exp.as_secs();
                if let Some(max) = cfg.max_lifetime_s {
                    let start = claims
                        .issued_at
                        .or(claims.invalid_before)
                        .map(|t| t.as_secs());
                    match start {
                        Some(s) if exp.saturating_sub(s) <= max => {}
                        Some(_) => return Err("token lifetime above max-lifetime"),
                        None if exp.saturating_sub(now) <= max => {}
                        None => return Err("token lifetime above max-lifetime"),
                    }
                }
                let permissions = match claims.custom.get(&cfg.permissions_claim) {
                    Some(Value::String(s)) => s.split_whitespace().map(str::to_string).collect(),
                    Some(Value::Array(a)) => a
                        .iter()
                        .filter_map(|x| x.as_str().map(str::to_string))
                        .collect(),
                    _ => Vec::new(),
                };
                return Ok(Verified {
                    subject: claims.subject,
                    issuer: claims.issuer,
                    permissions,
                    exp: exp.saturating_add(cfg.clock_skew_s),
                });
            }
            Err(e) => {
                last = classify(&e);
            }
        }
    }
    Err(last)
}

/// A stable, non-revealing reason for logs.
fn classify(e: &jwt_simple::Error) -> &'static str {
    match e.downcast_ref::<JWTError>() {
        Some(JWTError::TokenHasExpired) => "expired",
        Some(JWTError::TokenNotValidYet) => "not valid yet",
        Some(JWTError::ClockDrift) => "issued in the future",
        Some(JWTError::RequiredIssuerMismatch | JWTError::RequiredIssuerMissing) => "wrong issuer",
        Some(JWTError::RequiredAudienceMismatch | JWTError::RequiredAudienceMissing) => {
            "wrong audience"
        }
        Some(JWTError::AlgorithmMismatch) => "algorithm mismatch",
        Some(JWTError::InvalidSignature) => "bad signature",
        _ => "invalid token",
    }
}
