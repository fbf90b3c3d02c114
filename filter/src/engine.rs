//! The enforcement engine: one request/response exchange at a time, in the
//! seed's order (generic checks, then validation of the request; then
//! validation and filtering of the response). Host-free: the proxy-wasm shell
//! and `specguard eval` drive the very same calls.
//!
//! Call order for one exchange:
//! `request_headers` -> (`request_body_size`* and `request_body`) ->
//! `response_headers` -> (`response_body`). Each returns a [`Step`]; in
//! `monitor` mode a would-be refusal is recorded in
//! [`Exchange::monitored`] and the step is `Continue`.

use specguard_policy::model::{BodyHandling, MediaType, Mode, ParamLocation, ParamStyle, Policy};

use crate::identity::{Caller, Credentials, HeaderOp, Identity};
use crate::json::{self, JsonLimits};
use crate::params;
use crate::problem::Reject;
use crate::routing::{Lookup, Router};
use crate::validate::{Ctx, Direction, Validator};

/// Request metadata as the host sees it. Header names are lower-case.
#[derive(Debug, Clone, Default)]
pub struct RequestHead {
    pub method: String,
    /// Path with query string, as received.
    pub path: String,
    pub headers: Vec<(String, String)>,
    /// Unix time, seconds (the host's clock; injected for tests and eval).
    pub now: u64,
    /// The mTLS peer certificate's URI SAN (SPIFFE ID), when there is one.
    pub peer_uri_san: Option<String>,
}

impl RequestHead {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What the host does next.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Continue,
    /// Send this refusal instead (request side) or in place of the upstream
    /// response (response side).
    Deny(Reject),
    /// Forward this body in place of the upstream's (fields removed).
    Rewrite(Vec<u8>),
}

/// Per-exchange state the engine keeps between callbacks.
#[derive(Debug, Default)]
pub struct Exchange {
    /// Matched operation index (into `Policy::operations`).
    pub op: Option<usize>,
    /// The operation's mode, or the root mode when none matched.
    pub mode: Mode,
    /// The caller is classed internal (set by identity; external until then).
    pub internal: bool,
    /// The host must deliver the request body.
    pub wants_request_body: bool,
    request_media: Option<usize>,
    /// The host must deliver the response body.
    pub wants_response_body: bool,
    /// The response body may be rewritten: drop `content-length` before
    /// forwarding headers.
    pub may_rewrite_response: bool,
    response_media: Option<(usize, usize)>,
    /// Refusals recorded instead of enforced (monitor mode).
    pub monitored: Vec<Reject>,
    /// Request refused or routed nowhere: counted as shadow traffic.
    pub shadow: bool,
    /// The verified caller, once authenticated.
    pub caller: Option<Caller>,
    /// Request header changes to apply before forwarding (identity headers).
    pub header_ops: Vec<HeaderOp>,
}

impl Exchange {
    fn decide(&mut self, r: Reject) -> Step {
        match self.mode {
            Mode::Enforce => Step::Deny(r),
            Mode::Monitor => {
                self.monitored.push(r);
                Step::Continue
            }
        }
    }
}

/// A compiled policy, ready to evaluate exchanges. Immutable after build.
pub struct Engine {
    pub policy: Policy,
    validator: Validator,
    router: Router,
    pub identity: Identity,
    /// Some check needs the mTLS peer's SPIFFE ID (the host reads it only then).
    pub needs_peer: bool,
    /// Some check needs the clock (token lifetimes); the host reads it only then.
    pub needs_clock: bool,
    /// Per operation, its path template's variable names in order (the order
    /// the router returns their values in).
    template_vars: Vec<Vec<String>>,
}

/// Matches a content type against declared media ranges: exact, then
/// `type/*`, then `*/*`.
pub fn match_media(declared: &[MediaType], content_type: &str) -> Option<usize> {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if essence.is_empty() || !essence.contains('/') {
        return None;
    }
    let major = essence.split('/').next().unwrap_or_default();
    declared
        .iter()
        .position(|m| m.media_type == essence)
        .or_else(|| {
            declared
                .iter()
                .position(|m| m.media_type.strip_suffix("/*") == Some(major))
        })
        .or_else(|| declared.iter().position(|m| m.media_type == "*/*"))
}

/// Whether a response key (`404`, `4XX`) covers `status` (given as text).
fn status_matches(key: &str, status: &str) -> bool {
    key == status || (key.ends_with("XX") && key.as_bytes().first() == status.as_bytes().first())
}

impl Engine {
    /// Stage 2 of configuration: route trie, validators. Errors name the cause.
    pub fn new(policy: Policy) -> Result<Engine, String> {
        specguard_policy::check(&policy).map_err(|e| e.to_string())?;
        let validator = Validator::new(&policy.schemas)?;
        let router = Router::new(
            policy
                .operations
                .iter()
                .enumerate()
                .map(|(i, op)| (op.method.as_str(), op.path.as_str(), i)),
        );
        for op in &policy.operations {
            for p in &op.parameters {
                let t = validator.value_types(p.schema);
                let object = t & crate::validate::types::OBJECT != 0;
                if object && p.style == ParamStyle::Form && p.explode {
                    return Err(format!(
                        "operation {}: parameter {:?}: exploded form objects are not supported; use style: deepObject",
                        op.id, p.name
                    ));
                }
            }
        }
        let identity = Identity::new(&policy.security)?;
        let needs_peer = !policy.security.internal.spiffe_trust_domains.is_empty()
            || policy.operations.iter().any(|o| !o.callers.is_empty());
        let needs_clock = policy
            .security
            .schemes
            .iter()
            .any(|s| matches!(s.kind, specguard_policy::security::SchemeKind::Jwt(_)));
        let template_vars = policy
            .operations
            .iter()
            .map(|op| specguard_policy::check::path_template_params(&op.path).unwrap_or_default())
            .collect();
        Ok(Engine {
            policy,
            validator,
            router,
            identity,
            needs_peer,
            needs_clock,
            template_vars,
        })
    }

    /// Parses, checks and compiles policy JSON (what `on_configure` does).
    pub fn from_json(bytes: &[u8]) -> Result<Engine, String> {
        let policy = Policy::from_json(bytes).map_err(|e| e.to_string())?;
        Engine::new(policy)
    }

    pub fn validator(&self) -> &Validator {
        &self.validator
    }

    /// The id of the matched operation, for logs and metrics.
    pub fn operation_id(&self, ex: &Exchange) -> Option<&str> {
        ex.op.map(|i| self.policy.operations[i].id.as_str())
    }

    fn limits(&self, ex: &Exchange) -> JsonLimits {
        let l = ex
            .op
            .map(|i| self.policy.operations[i].limits.clone())
            .unwrap_or_default();
        JsonLimits {
            max_depth: l.json_depth,
            max_keys: l.json_keys,
            max_string: l.string_length,
            max_array: l.array_items,
        }
    }

    /// Request headers. `has_body`: the request continues with a body.
    pub fn request_headers(&self, req: &RequestHead, has_body: bool) -> (Exchange, Step) {
        let mut ex = Exchange {
            mode: self.policy.mode,
            ..Exchange::default()
        };
        let step = self.request_headers_inner(&mut ex, req, has_body);
        (ex, step)
    }

    fn request_headers_inner(&self, ex: &mut Exchange, req: &RequestHead, has_body: bool) -> Step {
        let (path, query) = match req.path.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (req.path.as_str(), None),
        };
        let path = path.split_once('#').map_or(path, |(p, _)| p);
        let lookup = self.router.lookup(&req.method, path);
        let (op_index, vars) = match lookup {
            Lookup::Found { op, vars } => (op, vars),
            Lookup::MethodNotAllowed => {
                ex.shadow = true;
                return ex.decide(Reject::new(
                    405,
                    "method-not-allowed",
                    format!("{} {path}: method not declared", req.method),
                ));
            }
            _ => {
                ex.shadow = true;
                return ex.decide(Reject::new(
                    404,
                    "not-found",
                    format!("{} {path}: no such operation", req.method),
                ));
            }
        };
        let op = &self.policy.operations[op_index];
        // Query pairs are needed by identity (credentials in the query) and
        // by parameter checks; a malformed query is a generic refusal.
        let pairs = match query.map(params::parse_query) {
            None => Vec::new(),
            Some(Some(p)) => p,
            Some(None) => {
                ex.op = Some(op_index);
                ex.mode = op.mode;
                return ex.decide(Reject::new(
                    400,
                    "invalid-query",
                    "query string is not valid percent-encoded UTF-8",
                ));
            }
        };
        let cred = Credentials {
            headers: &req.headers,
            query: &pairs,
            peer_uri_san: req.peer_uri_san.as_deref(),
            now: req.now,
        };
        // An internal operation does not exist for other callers: answered
        // exactly like an unknown path, before anything else can differ.
        // Identity is checked here only for internal operations (the caller's
        // class decides whether they exist); for the rest it comes after the
        // generic checks below. Either way it is checked once.
        let mut identity = None;
        if op.internal {
            let checked = self.identity.check(op, &cred);
            if !matches!(&checked, Ok((caller, _)) if caller.internal) {
                ex.shadow = true;
                return ex.decide(Reject::new(
                    404,
                    "not-found",
                    format!("{} {path}: no such operation", req.method),
                ));
            }
            identity = Some(checked);
        }
        ex.op = Some(op_index);
        ex.mode = op.mode;

        // Generic checks first: size.
        let declared_len = req
            .header("content-length")
            .map(|v| v.trim().parse::<u64>());
        if let Some(Ok(n)) = declared_len {
            if n > op.limits.request_body {
                return ex.decide(Reject::new(
                    413,
                    "payload-too-large",
                    format!("content-length {n} above {}", op.limits.request_body),
                ));
            }
        } else if let Some(Err(_)) = declared_len {
            return ex.decide(Reject::new(400, "bad-request", "malformed content-length"));
        }

        // Authenticate, then authorize (REC-API-14), before any validation.
        match identity.unwrap_or_else(|| self.identity.check(op, &cred)) {
            Ok((caller, ops)) => {
                ex.internal = caller.internal;
                ex.caller = Some(caller);
                ex.header_ops = ops;
            }
            Err(r) => {
                ex.header_ops = self.identity.strip_ops(&cred);
                let step = ex.decide(r);
                if step != Step::Continue {
                    return step;
                }
            }
        }
        let cx = Ctx {
            dir: Direction::Request,
            internal: ex.internal,
        };

        // Path parameters.
        let mut path_values = Vec::with_capacity(vars.len());
        for raw in &vars {
            match params::percent_decode(raw, false) {
                Some(v) if v != "." && v != ".." => path_values.push(v),
                _ => {
                    return ex.decide(Reject::new(
                        400,
                        "invalid-path",
                        "path segment is not valid percent-encoded UTF-8",
                    ))
                }
            }
        }
        let template_vars = &self.template_vars[op_index];

        // Query: every key must belong to a declared parameter (or carry a credential).
        for (k, _) in &pairs {
            if self.identity.credential_params().any(|c| c == k) {
                continue;
            }
            let known = op.parameters.iter().any(|p| {
                p.location == ParamLocation::Query
                    && (!p.internal || ex.internal)
                    && (p.name == *k
                        || (p.style == ParamStyle::DeepObject
                            && k.strip_prefix(p.name.as_str())
                                .is_some_and(|r| r.starts_with('[') && r.ends_with(']'))))
            });
            if !known {
                return ex.decide(Reject::new(
                    400,
                    "unknown-parameter",
                    format!("query parameter {k:?} is not declared"),
                ));
            }
        }
        let cookies = req
            .header("cookie")
            .map(params::parse_cookies)
            .unwrap_or_default();

        for p in &op.parameters {
            let value = match p.location {
                ParamLocation::Path => {
                    let Some(i) = template_vars.iter().position(|n| *n == p.name) else {
                        continue;
                    };
                    let Some(raw) = path_values.get(i) else {
                        continue;
                    };
                    Some(params::decode(&self.validator, p, &[raw.as_str()]))
                }
                ParamLocation::Query if p.style == ParamStyle::DeepObject => {
                    params::decode_deep_object(&self.validator, p, &pairs)
                }
                ParamLocation::Query => {
                    let vals: Vec<&str> = pairs
                        .iter()
                        .filter(|(k, _)| *k == p.name)
                        .map(|(_, v)| v.as_str())
                        .collect();
                    if vals.is_empty() {
                        None
                    } else {
                        Some(params::decode(&self.validator, p, &vals))
                    }
                }
                ParamLocation::Header => {
                    let vals: Vec<&str> = req
                        .headers
                        .iter()
                        .filter(|(k, _)| *k == p.name)
                        .map(|(_, v)| v.as_str())
                        .collect();
                    if vals.is_empty() {
                        None
                    } else {
                        Some(params::decode(
                            &self.validator,
                            p,
                            &[vals.join(",").as_str()],
                        ))
                    }
                }
                ParamLocation::Cookie => {
                    let vals: Vec<&str> = cookies
                        .iter()
                        .filter(|(k, _)| *k == p.name)
                        .map(|(_, v)| v.as_str())
                        .collect();
                    if vals.is_empty() {
                        None
                    } else {
                        Some(params::decode(&self.validator, p, &vals))
                    }
                }
            };
            match value {
                None if p.required => {
                    return ex.decide(Reject::new(
                        400,
                        "missing-parameter",
                        format!("{:?} parameter {:?} is required", p.location, p.name),
                    ));
                }
                None => {}
                Some(_) if p.internal && !ex.internal && p.location != ParamLocation::Query => {
                    return ex.decide(Reject::new(
                        400,
                        "unknown-parameter",
                        format!("{:?} parameter {:?} is internal", p.location, p.name),
                    ));
                }
                Some(Err(why)) => {
                    return ex.decide(Reject::new(
                        400,
                        "invalid-parameter",
                        format!("{:?} parameter {:?}: {why}", p.location, p.name),
                    ));
                }
                Some(Ok(v)) => {
                    if let Err(f) = self.validator.validate(p.schema, &v, cx) {
                        return ex.decide(Reject::new(
                            400,
                            "invalid-parameter",
                            format!(
                                "{:?} parameter {:?}{}: {} failed ({})",
                                p.location, p.name, f.pointer, f.keyword, f.schema
                            ),
                        ));
                    }
                }
            }
        }

        // Body presence and media type.
        match &op.request_body {
            None if has_body => {
                if declared_len == Some(Ok(0)) {
                    return Step::Continue;
                }
                // No declared body: an empty one is fine, anything else is refused
                // once we see it (chunked requests carry no length up front).
                ex.wants_request_body = true;
                Step::Continue
            }
            None => Step::Continue,
            Some(rb) if !has_body => {
                if rb.required {
                    return ex.decide(Reject::new(400, "missing-body", "request body is required"));
                }
                Step::Continue
            }
            Some(rb) => {
                let Some(ct) = req.header("content-type") else {
                    return ex.decide(Reject::new(
                        415,
                        "unsupported-media-type",
                        "request has a body but no content-type",
                    ));
                };
                match match_media(&rb.content, ct) {
                    Some(i) if rb.content[i].handling != BodyHandling::Refuse => {
                        ex.request_media = Some(i);
                        ex.wants_request_body = true;
                        Step::Continue
                    }
                    Some(_) => ex.decide(Reject::new(
                        415,
                        "unsupported-media-type",
                        "declared media type cannot be validated and is not allowed",
                    )),
                    None => ex.decide(Reject::new(
                        415,
                        "unsupported-media-type",
                        "content-type not declared for this operation",
                    )),
                }
            }
        }
    }

    /// Called as body data arrives (`size` so far): refuses early above the limit.
    pub fn request_body_size(&self, ex: &mut Exchange, size: u64) -> Step {
        let Some(op) = ex.op.map(|i| &self.policy.operations[i]) else {
            return Step::Continue;
        };
        if size > op.limits.request_body {
            let limit = op.limits.request_body;
            return ex.decide(Reject::new(
                413,
                "payload-too-large",
                format!("body above {limit} bytes"),
            ));
        }
        Step::Continue
    }

    /// The whole request body.
    pub fn request_body(&self, ex: &mut Exchange, body: &[u8]) -> Step {
        if let Step::Deny(r) = self.request_body_size(ex, body.len() as u64) {
            return Step::Deny(r);
        }
        let Some(op) = ex.op.map(|i| &self.policy.operations[i]) else {
            return Step::Continue;
        };
        let Some(rb) = &op.request_body else {
            if body.is_empty() {
                return Step::Continue;
            }
            return ex.decide(Reject::new(
                400,
                "unexpected-body",
                "operation declares no request body",
            ));
        };
        if body.is_empty() {
            if rb.required {
                return ex.decide(Reject::new(400, "missing-body", "request body is required"));
            }
            return Step::Continue;
        }
        let Some(media) = ex.request_media.map(|i| &rb.content[i]) else {
            return Step::Continue;
        };
        if media.handling != BodyHandling::Json {
            return Step::Continue;
        }
        let value = match json::parse(body, self.limits(ex)) {
            Ok(v) => v,
            Err(e) if e.is_limit() => {
                return ex.decide(Reject::new(413, "json-limit", e.to_string()))
            }
            Err(e) => return ex.decide(Reject::new(400, "invalid-json", e.to_string())),
        };
        if let Some(schema) = media.schema {
            let cx = Ctx {
                dir: Direction::Request,
                internal: ex.internal,
            };
            if let Err(f) = self.validator.validate(schema, &value, cx) {
                let code = match f.keyword {
                    "readOnly" => "read-only-field",
                    "unevaluatedProperties" | "additionalProperties" | "x-internal" => {
                        "unknown-field"
                    }
                    _ => "invalid-body",
                };
                return ex.decide(Reject::new(
                    400,
                    code,
                    format!("body{}: {} failed ({})", f.pointer, f.keyword, f.schema),
                ));
            }
        }
        Step::Continue
    }

    /// Response headers. `has_body`: a body follows.
    pub fn response_headers(
        &self,
        ex: &mut Exchange,
        status: u16,
        content_type: Option<&str>,
        has_body: bool,
    ) -> Step {
        let Some(op) = ex.op.map(|i| &self.policy.operations[i]) else {
            return Step::Continue;
        };
        let code = status.to_string();
        let declared = op
            .responses
            .iter()
            .position(|r| r.status == code)
            .or_else(|| {
                op.responses
                    .iter()
                    .position(|r| status_matches(&r.status, &code))
            })
            .or_else(|| op.responses.iter().position(|r| r.status == "default"));
        let Some(ri) = declared else {
            return ex.decide(Reject::new(
                502,
                "upstream-response-invalid",
                format!("status {status} not declared"),
            ));
        };
        let resp = &op.responses[ri];
        if !has_body {
            return Step::Continue;
        }
        if resp.content.is_empty() {
            // Declared without content: a body must not follow.
            ex.wants_response_body = true;
            return Step::Continue;
        }
        let Some(mi) = content_type.and_then(|ct| match_media(&resp.content, ct)) else {
            return ex.decide(Reject::new(
                502,
                "upstream-response-invalid",
                format!("status {status}: content-type not declared"),
            ));
        };
        ex.response_media = Some((ri, mi));
        ex.wants_response_body = true;
        let media = &resp.content[mi];
        ex.may_rewrite_response = media.handling == BodyHandling::Json
            && media.schema.is_some_and(|s| self.validator.may_redact(s))
            && ex.mode == Mode::Enforce;
        Step::Continue
    }

    /// Called as response data arrives (`size` so far).
    pub fn response_body_size(&self, ex: &mut Exchange, size: u64) -> Step {
        let Some(op) = ex.op.map(|i| &self.policy.operations[i]) else {
            return Step::Continue;
        };
        if size > op.limits.response_body {
            let limit = op.limits.response_body;
            return ex.decide(Reject::new(
                502,
                "upstream-response-invalid",
                format!("response body above {limit} bytes"),
            ));
        }
        Step::Continue
    }

    /// The whole response body.
    pub fn response_body(&self, ex: &mut Exchange, body: &[u8]) -> Step {
        if let Step::Deny(r) = self.response_body_size(ex, body.len() as u64) {
            return Step::Deny(r);
        }
        let Some(op) = ex.op.map(|i| &self.policy.operations[i]) else {
            return Step::Continue;
        };
        let Some((ri, mi)) = ex.response_media else {
            if body.is_empty() {
                return Step::Continue;
            }
            return ex.decide(Reject::new(
                502,
                "upstream-response-invalid",
                "body on a response declared without content",
            ));
        };
        let media = &op.responses[ri].content[mi];
        if media.handling != BodyHandling::Json {
            return Step::Continue;
        }
        let value = match json::parse(body, self.limits(ex)) {
            Ok(v) => v,
            Err(e) => {
                return ex.decide(Reject::new(
                    502,
                    "upstream-response-invalid",
                    format!("response body: {e}"),
                ))
            }
        };
        let Some(schema) = media.schema else {
            return Step::Continue;
        };
        let cx = Ctx {
            dir: Direction::Response,
            internal: ex.internal,
        };
        if let Err(f) = self.validator.validate(schema, &value, cx) {
            return ex.decide(Reject::new(
                502,
                "upstream-response-invalid",
                format!(
                    "response body{}: {} failed ({})",
                    f.pointer, f.keyword, f.schema
                ),
            ));
        }
        if ex.mode == Mode::Enforce {
            // Remove hidden members by splicing the upstream's bytes: no
            // re-serialization, the rest of the body stays byte for byte.
            let mut ranges = Vec::new();
            self.validator.redact(schema, &value, cx, &mut ranges);
            if !ranges.is_empty() {
                return Step::Rewrite(json::splice(body, &mut ranges));
            }
        }
        Step::Continue
    }
}
