//! `components.securitySchemes`, `security` requirements, `x-specguard-jwt`,
//! `x-specguard-api-keys`, `x-specguard-callers`, `x-specguard-caller-classes`
//! and `x-specguard-identity-headers` (ANNOTATIONS.md section 2).

use std::collections::HashMap;
use std::path::Path;

use serde_json::{Map, Value};

use super::diag::{Diagnostics, Location};
use super::loader::{parse_text, DocId, Loader, MAX_SPEC_FILE};
use crate::duration::parse_duration_ms;
use crate::security::*;

/// Algorithms accepted when a scheme lists none: asymmetric only.
const DEFAULT_ALGORITHMS: &[&str] = &[
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA",
];
const KNOWN_ALGORITHMS: &[&str] = &[
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA", "HS256",
    "HS384", "HS512",
];
/// Largest clock skew accepted: beyond this, expiry means little.
const MAX_SKEW_S: u64 = 300;

/// Scheme names to indices, for requirements.
pub type SchemeIndex = HashMap<String, u32>;

fn strings(diags: &mut Diagnostics, at: &Location, v: &Value) -> Vec<String> {
    match v.as_array().and_then(|a| {
        a.iter()
            .map(|x| x.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
    }) {
        Some(s) => s,
        None => {
            diags.error(at, "must be a list of strings", None);
            Vec::new()
        }
    }
}

fn duration_s(diags: &mut Diagnostics, at: &Location, v: &Value) -> Option<u64> {
    match v.as_str().and_then(parse_duration_ms) {
        Some(ms) => Some(ms / 1000),
        None => {
            diags.error(at, "must be a duration like 30s, 5m or 1h", None);
            None
        }
    }
}

/// Reads a JSON/YAML file named relative to the spec document `doc`.
fn read_beside(
    loader: &Loader,
    doc: DocId,
    name: &str,
    at: &Location,
    diags: &mut Diagnostics,
) -> Option<Value> {
    let base = loader.docs[doc]
        .path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let path = base.join(name);
    match std::fs::metadata(&path) {
        Ok(m) if m.len() > MAX_SPEC_FILE => {
            diags.error(at, format!("{} is too large", path.display()), None);
            return None;
        }
        Err(e) => {
            diags.error(
                at,
                format!("cannot read {}: {e}", path.display()),
                Some("paths are relative to the spec file"),
            );
            return None;
        }
        _ => {}
    }
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => {
            diags.error(at, format!("cannot read {}: {e}", path.display()), None);
            return None;
        }
    };
    match parse_text(&text, &path.display().to_string()) {
        Ok(v) => Some(v),
        Err(d) => {
            diags.items.push(d);
            None
        }
    }
}

/// Reports the fields of a security scheme object that `known` does not list.
fn scheme_fields(
    d: &Map<String, Value>,
    at: &Location,
    known: &[&str],
    what: &str,
    diags: &mut Diagnostics,
) {
    for k in d.keys() {
        match k.as_str() {
            _ if known.contains(&k.as_str()) => {}
            _ if k.starts_with("x-specguard-") => diags.error(
                &at.child(k),
                format!("`{k}` is not allowed on {what}"),
                None,
            ),
            _ if k.starts_with("x-") => {
                diags.warn(&at.child(k), format!("extension `{k}` is ignored"), None)
            }
            _ => diags.error(
                &at.child(k),
                format!("unknown security scheme field `{k}`"),
                None,
            ),
        }
    }
}

/// Parses `components.securitySchemes` into the policy's schemes.
pub fn schemes(
    loader: &Loader,
    doc: DocId,
    root: &Map<String, Value>,
    top: &Location,
    diags: &mut Diagnostics,
) -> (Vec<SecurityScheme>, SchemeIndex) {
    let mut out = Vec::new();
    let mut index = SchemeIndex::new();
    let Some(schemes) = root
        .get("components")
        .and_then(|c| c.get("securitySchemes"))
        .and_then(Value::as_object)
    else {
        return (out, index);
    };
    let base = top.child("components").child("securitySchemes");
    for (name, def) in schemes {
        let at = base.child(name);
        let Some(d) = def.as_object() else {
            diags.error(&at, "a security scheme must be a mapping", None);
            continue;
        };
        if d.contains_key("$ref") {
            diags.error(
                &at,
                "referenced security schemes are not supported",
                Some("define the scheme inline under components.securitySchemes"),
            );
            continue;
        }
        let kind = match d.get("type").and_then(Value::as_str) {
            Some("http") => match d
                .get("scheme")
                .and_then(Value::as_str)
                .map(str::to_ascii_lowercase)
                .as_deref()
            {
                Some("bearer") => jwt(loader, doc, &at, d, diags),
                Some(other) => {
                    diags.error(&at.child("scheme"), format!("HTTP `{other}` authentication is not accepted"), Some("REC-API-11 asks for strong identity: use bearer JWTs, API keys for software, or mTLS callers"));
                    None
                }
                None => {
                    diags.error(
                        &at.child("scheme"),
                        "an http scheme needs `scheme: bearer`",
                        None,
                    );
                    None
                }
            },
            Some("oauth2" | "openIdConnect") => jwt(loader, doc, &at, d, diags),
            Some("apiKey") => api_key(loader, doc, &at, d, diags),
            Some("mutualTLS") => {
                diags.error(
                    &at,
                    "mutualTLS schemes are not used for requirements",
                    Some("name the calling services with x-specguard-callers instead"),
                );
                None
            }
            _ => {
                diags.error(
                    &at.child("type"),
                    "unknown security scheme type",
                    Some("use http (bearer), oauth2, openIdConnect or apiKey"),
                );
                None
            }
        };
        if let Some(kind) = kind {
            index.insert(name.clone(), out.len() as u32);
            out.push(SecurityScheme {
                name: name.clone(),
                kind,
            });
        }
    }
    (out, index)
}

fn jwt(
    loader: &Loader,
    doc: DocId,
    at: &Location,
    d: &Map<String, Value>,
    diags: &mut Diagnostics,
) -> Option<SchemeKind> {
    scheme_fields(
        d,
        at,
        &[
            "type",
            "scheme",
            "bearerFormat",
            "description",
            "flows",
            "openIdConnectUrl",
            "x-specguard-jwt",
        ],
        "a JWT scheme",
        diags,
    );
    let at = at.child("x-specguard-jwt");
    let Some(cfg) = d.get("x-specguard-jwt").and_then(Value::as_object) else {
        diags.error(&at, "a bearer/OAuth2/OpenID Connect scheme needs `x-specguard-jwt` to say how tokens are verified", Some("x-specguard-jwt: { issuer, audiences, jwks: { uri | file | inline }, algorithms }"));
        return None;
    };
    let mut s = JwtScheme {
        issuer: None,
        audiences: Vec::new(),
        algorithms: DEFAULT_ALGORITHMS.iter().map(|a| a.to_string()).collect(),
        jwks: JwksSource::Inline { keys: Value::Null },
        max_lifetime_s: None,
        clock_skew_s: 30,
        permissions_claim: "scope".into(),
        header: "authorization".into(),
        query: None,
    };
    let mut jwks = None;
    for (k, v) in cfg {
        let kat = at.child(k);
        match k.as_str() {
            "issuer" => s.issuer = v.as_str().map(str::to_string).or_else(|| {
                diags.error(&kat, "must be a string", None);
                None
            }),
            "audiences" => s.audiences = strings(diags, &kat, v),
            "algorithms" => {
                let algs = strings(diags, &kat, v);
                for a in &algs {
                    if a.eq_ignore_ascii_case("none") {
                        diags.error(&kat, "`none` is never accepted", Some("unsigned tokens prove nothing"));
                    } else if !KNOWN_ALGORITHMS.contains(&a.as_str()) {
                        diags.error(&kat, format!("unknown algorithm {a:?}"), Some("use RS256/384/512, PS256/384/512, ES256, ES384, EdDSA or HS256/384/512"));
                    }
                }
                if algs.is_empty() {
                    diags.error(&kat, "at least one algorithm is needed", None);
                }
                s.algorithms = algs;
            }
            "jwks" => jwks = Some(v.clone()),
            "max-lifetime" => s.max_lifetime_s = duration_s(diags, &kat, v),
            "clock-skew" => {
                if let Some(skew) = duration_s(diags, &kat, v) {
                    if skew > MAX_SKEW_S {
                        diags.error(&kat, format!("clock skew above {MAX_SKEW_S}s"), Some("fix the clocks; a long skew keeps expired tokens alive"));
                    }
                    s.clock_skew_s = skew;
                }
            }
            "permissions-claim" => match v.as_str() {
                Some(c) if !c.is_empty() => s.permissions_claim = c.to_string(),
                _ => diags.error(&kat, "must be a claim name", None),
            },
            "header" => match v.as_str() {
                Some(h) if !h.is_empty() => s.header = h.to_ascii_lowercase(),
                _ => diags.error(&kat, "must be a header name", None),
            },
            "query" => match v.as_str() {
                Some(q) if !q.is_empty() => s.query = Some(q.to_string()),
                _ => diags.error(&kat, "must be a query parameter name", None),
            },
            _ => diags.error(&kat, format!("unknown x-specguard-jwt field `{k}`"), Some("fields: issuer, audiences, jwks, algorithms, max-lifetime, clock-skew, permissions-claim, header, query")),
        }
    }
    let Some(jwks) = jwks else {
        diags.error(&at, "missing `jwks`", Some("jwks: { uri: https://.../jwks.json } or { file: keys.json } or { inline: { keys: [...] } }"));
        return None;
    };
    s.jwks = jwks_source(loader, doc, &at.child("jwks"), &jwks, diags)?;
    Some(SchemeKind::Jwt(Box::new(s)))
}

fn jwks_source(
    loader: &Loader,
    doc: DocId,
    at: &Location,
    v: &Value,
    diags: &mut Diagnostics,
) -> Option<JwksSource> {
    let Some(m) = v.as_object() else {
        diags.error(
            at,
            "`jwks` must be a mapping with uri, file or inline",
            None,
        );
        return None;
    };
    let given: Vec<&str> = ["uri", "file", "inline"]
        .into_iter()
        .filter(|k| m.contains_key(*k))
        .collect();
    if given.len() != 1 {
        diags.error(at, "`jwks` needs exactly one of uri, file, inline", None);
        return None;
    }
    for k in m.keys() {
        if !matches!(k.as_str(), "uri" | "file" | "inline" | "refresh") {
            diags.error(&at.child(k), format!("unknown jwks field `{k}`"), None);
        }
    }
    let keys = match given[0] {
        "inline" => m["inline"].clone(),
        "file" => {
            let name = m["file"].as_str().unwrap_or_default();
            read_beside(loader, doc, name, &at.child("file"), diags)?
        }
        _ => {
            let uri = m["uri"].as_str().unwrap_or_default().to_string();
            let refresh_s = match m.get("refresh") {
                Some(r) => duration_s(diags, &at.child("refresh"), r)?,
                None => 300,
            };
            let Some((scheme, rest)) = uri.split_once("://") else {
                diags.error(
                    &at.child("uri"),
                    format!("{uri:?} is not an http(s) URL"),
                    None,
                );
                return None;
            };
            if scheme != "http" && scheme != "https" {
                diags.error(
                    &at.child("uri"),
                    format!("{uri:?} is not an http(s) URL"),
                    None,
                );
                return None;
            }
            let (authority, path) = match rest.find('/') {
                Some(i) => (rest[..i].to_string(), rest[i..].to_string()),
                None => (rest.to_string(), "/".to_string()),
            };
            if authority.is_empty() {
                diags.error(&at.child("uri"), "the URL has no host", None);
                return None;
            }
            let cluster = format!("specguard_jwks_{}", authority.replace([':', '.'], "_"));
            return Some(JwksSource::Remote {
                uri,
                cluster,
                authority,
                path,
                refresh_s: refresh_s.max(1),
            });
        }
    };
    if !keys.get("keys").is_some_and(Value::is_array) {
        diags.error(
            at,
            "the key set must be a JWK Set: { \"keys\": [ ... ] }",
            None,
        );
        return None;
    }
    Some(JwksSource::Inline { keys })
}

fn api_key(
    loader: &Loader,
    doc: DocId,
    at: &Location,
    d: &Map<String, Value>,
    diags: &mut Diagnostics,
) -> Option<SchemeKind> {
    scheme_fields(
        d,
        at,
        &["type", "name", "in", "description", "x-specguard-api-keys"],
        "an apiKey scheme",
        diags,
    );
    let location = match d.get("in").and_then(Value::as_str) {
        Some("header") => ApiKeyLocation::Header,
        Some("query") => ApiKeyLocation::Query,
        _ => {
            diags.error(
                &at.child("in"),
                "API keys travel in a header or a query parameter",
                Some("cookies are not accepted for API keys"),
            );
            return None;
        }
    };
    let Some(name) = d
        .get("name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
    else {
        diags.error(&at.child("name"), "missing `name`", None);
        return None;
    };
    let param = if location == ApiKeyLocation::Header {
        name.to_ascii_lowercase()
    } else {
        name.to_string()
    };
    let kat = at.child("x-specguard-api-keys");
    let Some(cfg) = d.get("x-specguard-api-keys").and_then(Value::as_object) else {
        diags.error(&kat, "an apiKey scheme needs `x-specguard-api-keys` listing the accepted keys as SHA-256 hashes", Some("x-specguard-api-keys: { inline: [ { id, sha256 } ] } or { file: keys.yaml }"));
        return None;
    };
    let list = match (cfg.get("inline"), cfg.get("file")) {
        (Some(v), None) => v.clone(),
        (None, Some(Value::String(f))) => read_beside(loader, doc, f, &kat.child("file"), diags)?,
        _ => {
            diags.error(&kat, "needs exactly one of inline or file", None);
            return None;
        }
    };
    let Some(items) = list.as_array() else {
        diags.error(&kat, "the keys must be a list of { id, sha256 }", None);
        return None;
    };
    let mut keys = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let iat = kat.index(i);
        let id = item.get("id").and_then(Value::as_str);
        let hash = item.get("sha256").and_then(Value::as_str);
        match (id, hash) {
            (Some(id), Some(h)) if h.len() == 64 && h.bytes().all(|c| c.is_ascii_hexdigit()) => {
                if keys.iter().any(|k: &ApiKey| k.id == id) {
                    diags.error(&iat, format!("key id {id:?} appears twice"), None);
                }
                keys.push(ApiKey {
                    id: id.to_string(),
                    sha256: h.to_ascii_lowercase(),
                });
            }
            _ => diags.error(
                &iat,
                "each key needs an `id` and a `sha256` of 64 hex digits",
                Some("store hashes, never keys: printf %s \"$KEY\" | sha256sum"),
            ),
        }
    }
    Some(SchemeKind::ApiKey(ApiKeyScheme {
        location,
        param,
        keys,
    }))
}

/// A `security` list into requirements (scheme names resolved).
pub fn requirements(
    v: &Value,
    at: &Location,
    index: &SchemeIndex,
    schemes: &[SecurityScheme],
    diags: &mut Diagnostics,
) -> Vec<Requirement> {
    let Some(list) = v.as_array() else {
        diags.error(at, "`security` must be a list of requirement objects", None);
        return Vec::new();
    };
    let mut out = Vec::new();
    for (i, req) in list.iter().enumerate() {
        let rat = at.index(i);
        let Some(m) = req.as_object() else {
            diags.error(
                &rat,
                "a security requirement must be a mapping of scheme names to scopes",
                None,
            );
            continue;
        };
        let mut r = Requirement {
            schemes: Vec::new(),
        };
        for (name, scopes) in m {
            let Some(&idx) = index.get(name) else {
                diags.error(
                    &rat.child(name),
                    format!("no security scheme named {name:?}"),
                    Some("declare it under components.securitySchemes"),
                );
                continue;
            };
            let scopes = strings(diags, &rat.child(name), scopes);
            if !scopes.is_empty() && matches!(schemes[idx as usize].kind, SchemeKind::ApiKey(_)) {
                diags.error(
                    &rat.child(name),
                    "API keys identify software and carry no scopes",
                    Some("require user permissions through a JWT scheme"),
                );
            }
            r.schemes.push(SchemeRequirement {
                scheme: idx,
                scopes,
            });
        }
        out.push(r);
    }
    out
}

/// `x-specguard-callers`: SPIFFE IDs.
pub fn callers(v: &Value, at: &Location, diags: &mut Diagnostics) -> Vec<String> {
    let ids = strings(diags, at, v);
    for id in &ids {
        if !id.starts_with("spiffe://") || id.len() <= "spiffe://".len() {
            diags.error(
                at,
                format!("{id:?} is not a SPIFFE ID"),
                Some("callers look like spiffe://trust-domain/ns/shop/sa/frontend"),
            );
        }
    }
    ids
}

/// `x-specguard-caller-classes` at the root.
pub fn caller_classes(v: &Value, at: &Location, diags: &mut Diagnostics) -> CallerClass {
    let mut c = CallerClass::default();
    let Some(m) = v.as_object() else {
        diags.error(at, "must map class names to rules", None);
        return c;
    };
    for (class, rule) in m {
        let cat = at.child(class);
        if class != "internal" {
            diags.error(
                &cat,
                format!("unknown caller class {class:?}"),
                Some("define `internal`; every caller not matched is `external`"),
            );
            continue;
        }
        let Some(r) = rule.as_object() else {
            diags.error(&cat, "must be a mapping", None);
            continue;
        };
        for (k, v) in r {
            match k.as_str() {
                "spiffe-trust-domains" => c.spiffe_trust_domains = strings(diags, &cat.child(k), v),
                "issuers" => c.issuers = strings(diags, &cat.child(k), v),
                "scopes" => c.scopes = strings(diags, &cat.child(k), v),
                _ => diags.error(
                    &cat.child(k),
                    format!("unknown caller class rule `{k}`"),
                    Some("rules: spiffe-trust-domains, issuers, scopes"),
                ),
            }
        }
    }
    c
}

/// `x-specguard-identity-headers` at the root.
pub fn identity_headers(v: &Value, at: &Location, diags: &mut Diagnostics) -> IdentityHeaders {
    let mut h = IdentityHeaders::default();
    let Some(m) = v.as_object() else {
        diags.error(at, "must be a mapping", None);
        return h;
    };
    for (k, val) in m {
        let kat = at.child(k);
        if k == "forward-token" {
            match val.as_bool() {
                Some(b) => h.forward_token = b,
                None => diags.error(&kat, "must be true or false", None),
            }
            continue;
        }
        let Some(name) = val
            .as_str()
            .map(str::to_ascii_lowercase)
            .filter(|n| !n.is_empty())
        else {
            diags.error(&kat, "must be a header name", None);
            continue;
        };
        match k.as_str() {
            "strip-prefix" => h.strip_prefix = name,
            "subject" => h.subject = name,
            "caller-class" => h.caller_class = name,
            "service" => h.service = name,
            "permissions" => h.permissions = name,
            "api-key-id" => h.api_key_id = name,
            _ => diags.error(&kat, format!("unknown identity header `{k}`"), Some("fields: strip-prefix, subject, caller-class, service, permissions, api-key-id, forward-token")),
        }
    }
    h
}
