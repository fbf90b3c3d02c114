//! The proxy-wasm shell: the only place that talks to the host. Callbacks
//! gather input, call the engine, and apply its [`Step`] in one place
//! ([`Http::apply`]). Host calls go through `hostcalls::*`, which return
//! `Result`: a host error is logged and turned into a refusal, never a trap.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, BufferType, ContextType, LogLevel, MapType, MetricType};
use specguard_policy::model::{HeaderMode, Mode};

use crate::engine::{Engine, Exchange, RequestHead, Step};
use crate::identity::{HeaderOp, RemoteSource};
use crate::problem::Reject;

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Info);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root::default()) });
}}

fn log(level: LogLevel, msg: &str) {
    let _ = hostcalls::log(level, msg);
}

/// Counters by name, defined on first use.
#[derive(Default)]
struct Metrics {
    ids: HashMap<String, u32>,
}

impl Metrics {
    fn inc(&mut self, name: &str) {
        let id = match self.ids.get(name) {
            Some(id) => *id,
            None => match hostcalls::define_metric(MetricType::Counter, name) {
                Ok(id) => {
                    self.ids.insert(name.to_string(), id);
                    id
                }
                Err(e) => {
                    log(
                        LogLevel::Warn,
                        &format!("cannot define metric {name}: {e:?}"),
                    );
                    return;
                }
            },
        };
        let _ = hostcalls::increment_metric(id, 1);
    }
}

/// Metric-name-safe rendering of an operation id (dots separate tags).
fn tag(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The policy class a refusal code belongs to (the `class` label).
fn class_of(code: &str) -> &'static str {
    match code {
        "not-found" | "method-not-allowed" => "shadow",
        "payload-too-large" | "json-limit" => "limits",
        "upstream-response-invalid" => "response",
        "no-policy" => "config",
        _ => "validation",
    }
}

fn now_secs() -> u64 {
    hostcalls::get_current_time()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A remote JWK Set the root context keeps fresh.
struct RemoteJwks {
    src: RemoteSource,
    next_fetch: u64,
    last_early: u64,
    in_flight: Option<u32>,
}

/// How long a JWKS fetch may take.
const JWKS_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
/// Retry delay after a failed fetch (capped by the refresh interval).
const JWKS_RETRY_S: u64 = 5;

#[derive(Default)]
struct Root {
    engine: Option<Rc<Engine>>,
    metrics: Rc<RefCell<Metrics>>,
    jwks: Vec<RemoteJwks>,
}

impl Root {
    fn fetch(&mut self, i: usize, now: u64) {
        let j = &mut self.jwks[i];
        let headers = vec![
            (":method", "GET"),
            (":path", j.src.path.as_str()),
            (":authority", j.src.authority.as_str()),
            ("accept", "application/json"),
        ];
        match hostcalls::dispatch_http_call(&j.src.cluster, headers, None, vec![], JWKS_TIMEOUT) {
            Ok(token) => j.in_flight = Some(token),
            Err(e) => {
                log(
                    LogLevel::Warn,
                    &format!(
                        "JWKS for {}: cannot dispatch to cluster {}: {e:?}",
                        j.src.name, j.src.cluster
                    ),
                );
                j.next_fetch = now + JWKS_RETRY_S.min(j.src.refresh_s);
            }
        }
    }
}

impl Context for Root {
    fn on_http_call_response(
        &mut self,
        token_id: u32,
        _num_headers: usize,
        body_size: usize,
        _num_trailers: usize,
    ) {
        let now = now_secs();
        let Some(i) = self.jwks.iter().position(|j| j.in_flight == Some(token_id)) else {
            return;
        };
        self.jwks[i].in_flight = None;
        let status = hostcalls::get_map_value(MapType::HttpCallResponseHeaders, ":status")
            .ok()
            .flatten();
        let body = hostcalls::get_buffer(BufferType::HttpCallResponseBody, 0, body_size)
            .ok()
            .flatten()
            .unwrap_or_default();
        let j = &mut self.jwks[i];
        let result = match (&self.engine, status.as_deref()) {
            (Some(engine), Some("200")) => engine.identity.install_jwks(j.src.scheme, &body),
            (_, status) => Err(format!(
                "endpoint answered {}",
                status.unwrap_or("nothing (unreachable or timed out)")
            )),
        };
        match result {
            Ok(n) => {
                log(
                    LogLevel::Info,
                    &format!("JWKS for {}: {n} keys loaded", j.src.name),
                );
                j.next_fetch = now + j.src.refresh_s;
            }
            Err(e) => {
                // The last good keys stay in place; with none, tokens are refused.
                log(
                    LogLevel::Warn,
                    &format!(
                        "JWKS for {}: refresh failed, keeping the previous keys: {e}",
                        j.src.name
                    ),
                );
                j.next_fetch = now + JWKS_RETRY_S.min(j.src.refresh_s);
            }
        }
    }
}

impl RootContext for Root {
    fn on_vm_start(&mut self, _size: usize) -> bool {
        log(
            LogLevel::Info,
            &format!(
                "specguard {} ({}) starting",
                env!("CARGO_PKG_VERSION"),
                option_env!("SPECGUARD_GIT_SHA").unwrap_or("unknown commit")
            ),
        );
        true
    }

    fn on_configure(&mut self, size: usize) -> bool {
        let bytes = match hostcalls::get_buffer(BufferType::PluginConfiguration, 0, size) {
            Ok(Some(b)) => b,
            Ok(None) => {
                log(
                    LogLevel::Critical,
                    "no plugin configuration; a policy is required (refusing the config)",
                );
                return false;
            }
            Err(e) => {
                log(
                    LogLevel::Critical,
                    &format!("cannot read plugin configuration: {e:?}"),
                );
                return false;
            }
        };
        match Engine::from_json(&bytes) {
            Ok(engine) => {
                let p = &engine.policy;
                log(
                    LogLevel::Info,
                    &format!(
                        "policy loaded: {} {} from {}: {} operations, {} schemas, request headers {:?}",
                        p.info.title,
                        p.info.api_version,
                        p.info.source,
                        p.operations.len(),
                        p.schemas.len(),
                        p.host.request_headers
                    ),
                );
                self.jwks = engine
                    .identity
                    .remote_sources()
                    .into_iter()
                    .map(|src| RemoteJwks {
                        src,
                        next_fetch: 0,
                        last_early: 0,
                        in_flight: None,
                    })
                    .collect();
                self.engine = Some(Rc::new(engine));
                if !self.jwks.is_empty() {
                    // Fetched from the first tick on; until then tokens are refused.
                    let _ = hostcalls::set_tick_period(std::time::Duration::from_millis(500));
                }
                true
            }
            Err(e) => {
                log(LogLevel::Critical, &format!("policy refused: {e}"));
                false
            }
        }
    }

    fn on_tick(&mut self) {
        let now = now_secs();
        for i in 0..self.jwks.len() {
            if self.jwks[i].in_flight.is_some() {
                continue;
            }
            let due = now >= self.jwks[i].next_fetch;
            // An unknown kid may mean the keys rotated: refresh early, at most
            // once per refresh interval.
            let early = !due
                && self
                    .engine
                    .as_ref()
                    .is_some_and(|e| e.identity.take_kid_miss(self.jwks[i].src.scheme))
                && now >= self.jwks[i].last_early + self.jwks[i].src.refresh_s;
            if early {
                self.jwks[i].last_early = now;
            }
            if due || early {
                self.fetch(i, now);
            }
        }
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Http {
            engine: self.engine.clone(),
            metrics: self.metrics.clone(),
            ex: Exchange::default(),
            refused: false,
        }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

struct Http {
    engine: Option<Rc<Engine>>,
    metrics: Rc<RefCell<Metrics>>,
    ex: Exchange,
    /// A local reply was sent; later callbacks do nothing.
    refused: bool,
}

impl Context for Http {}

impl Http {
    fn endpoint(&self) -> String {
        match (&self.engine, self.ex.op) {
            (Some(e), Some(_)) => tag(e.operation_id(&self.ex).unwrap_or("_unknown")),
            _ => "_shadow".to_string(),
        }
    }

    /// Records what monitor mode let through.
    fn flush_monitored(&mut self) {
        if self.ex.monitored.is_empty() {
            return;
        }
        let endpoint = self.endpoint();
        for r in std::mem::take(&mut self.ex.monitored) {
            log(
                LogLevel::Warn,
                &format!(
                    "monitor: would refuse {} {} on {endpoint}: {}",
                    r.status, r.code, r.detail
                ),
            );
            self.metrics.borrow_mut().inc(&format!(
                "specguard.endpoint={endpoint}.class={}.code={}.monitored",
                class_of(r.code),
                r.code
            ));
        }
    }

    /// Applies one engine step; the single place verdicts take effect.
    fn apply(&mut self, step: Step, hold: bool) -> Action {
        self.flush_monitored();
        match step {
            Step::Continue => {
                if hold {
                    Action::Pause
                } else {
                    Action::Continue
                }
            }
            Step::Rewrite(body) => {
                if let Err(e) =
                    hostcalls::set_buffer(BufferType::HttpResponseBody, 0, usize::MAX, &body)
                {
                    log(
                        LogLevel::Error,
                        &format!("cannot rewrite response body: {e:?}"),
                    );
                    return self.refuse(Reject::new(
                        502,
                        "upstream-response-invalid",
                        "response rewrite failed",
                    ));
                }
                Action::Continue
            }
            Step::Deny(r) => self.refuse(r),
        }
    }

    fn refuse(&mut self, r: Reject) -> Action {
        let endpoint = self.endpoint();
        log(
            LogLevel::Info,
            &format!(
                "refused {} {} on {endpoint}: {}",
                r.status, r.code, r.detail
            ),
        );
        self.metrics.borrow_mut().inc(&format!(
            "specguard.endpoint={endpoint}.class={}.code={}.denied",
            class_of(r.code),
            r.code
        ));
        self.refused = true;
        let body = r.body();
        if let Err(e) = hostcalls::send_http_response(u32::from(r.status), r.headers(), Some(&body))
        {
            log(LogLevel::Error, &format!("cannot send refusal: {e:?}"));
        }
        Action::Pause
    }

    fn hold_mode(&self) -> bool {
        self.engine
            .as_ref()
            .is_some_and(|e| e.policy.host.request_headers == HeaderMode::Hold)
    }
}

impl HttpContext for Http {
    fn on_http_request_headers(&mut self, _num_headers: usize, end_of_stream: bool) -> Action {
        let Some(engine) = self.engine.clone() else {
            // Fail closed: no policy, no traffic.
            return self.refuse(Reject::new(503, "no-policy", "no policy loaded"));
        };
        let headers = match hostcalls::get_map(MapType::HttpRequestHeaders) {
            Ok(h) => h,
            Err(e) => {
                return self.refuse(Reject::new(
                    400,
                    "bad-request",
                    format!("cannot read request headers: {e:?}"),
                ))
            }
        };
        // Each host call costs; the clock and the peer are read only when a
        // check needs them.
        let mut head = RequestHead {
            now: if engine.needs_clock { now_secs() } else { 0 },
            ..RequestHead::default()
        };
        if engine.needs_peer {
            head.peer_uri_san =
                hostcalls::get_property(vec!["connection", "uri_san_peer_certificate"])
                    .ok()
                    .flatten()
                    .and_then(|b| String::from_utf8(b).ok())
                    .filter(|s| !s.is_empty());
        }
        for (k, v) in headers {
            match k.as_str() {
                ":method" => head.method = v,
                ":path" => head.path = v,
                _ => head.headers.push((k, v)),
            }
        }
        let (ex, step) = engine.request_headers(&head, !end_of_stream);
        self.ex = ex;
        if !matches!(step, Step::Deny(_)) {
            // Canonical identity for the upstream: spoofed identity headers
            // and consumed credentials out, verified values in.
            for op in std::mem::take(&mut self.ex.header_ops) {
                let r = match &op {
                    HeaderOp::Remove(name) => {
                        hostcalls::set_map_value(MapType::HttpRequestHeaders, name, None)
                    }
                    HeaderOp::Set(name, value) => {
                        hostcalls::set_map_value(MapType::HttpRequestHeaders, name, Some(value))
                    }
                };
                if let Err(e) = r {
                    // Fail closed: an identity header we cannot set or strip
                    // must not reach the upstream unchecked.
                    return self.refuse(Reject::new(
                        503,
                        "identity-headers",
                        format!("cannot rewrite identity headers: {e:?}"),
                    ));
                }
            }
        }
        // Holding headers until the body is checked keeps a refused body from
        // ever reaching the upstream. Only with the host's
        // allow_on_headers_stop_iteration (policy host mode `hold`); without
        // it a Pause here stalls the stream until Envoy's timeout.
        let hold = self.ex.wants_request_body && self.hold_mode();
        self.apply(step, hold)
    }

    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        if self.refused || !self.ex.wants_request_body {
            return Action::Continue;
        }
        let Some(engine) = self.engine.clone() else {
            return Action::Continue;
        };
        if let Step::Deny(r) = engine.request_body_size(&mut self.ex, body_size as u64) {
            return self.refuse(r);
        }
        if !end_of_stream {
            // Buffer until the whole body is here.
            return Action::Pause;
        }
        let body = match hostcalls::get_buffer(BufferType::HttpRequestBody, 0, body_size) {
            Ok(b) => b.unwrap_or_default(),
            Err(e) => {
                return self.refuse(Reject::new(
                    400,
                    "bad-request",
                    format!("cannot read request body: {e:?}"),
                ))
            }
        };
        let step = engine.request_body(&mut self.ex, &body);
        self.apply(step, false)
    }

    fn on_http_response_headers(&mut self, _num_headers: usize, end_of_stream: bool) -> Action {
        if self.refused {
            return Action::Continue;
        }
        let Some(engine) = self.engine.clone() else {
            return Action::Continue;
        };
        let status = hostcalls::get_map_value(MapType::HttpResponseHeaders, ":status")
            .ok()
            .flatten()
            .and_then(|s| s.parse::<u16>().ok());
        let Some(status) = status else {
            return self.refuse(Reject::new(
                502,
                "upstream-response-invalid",
                "response without a valid :status",
            ));
        };
        let ct = hostcalls::get_map_value(MapType::HttpResponseHeaders, "content-type")
            .ok()
            .flatten();
        let step = engine.response_headers(&mut self.ex, status, ct.as_deref(), !end_of_stream);
        if self.ex.may_rewrite_response {
            // The body may shrink when fields are removed; Envoy then sends it
            // chunked instead of with a stale length.
            let _ = hostcalls::set_map_value(MapType::HttpResponseHeaders, "content-length", None);
        }
        // Hold the response headers while the body is checked so an invalid
        // response can still be replaced by a clean 502.
        let hold = self.ex.wants_response_body && self.hold_mode();
        let action = self.apply(step, hold);
        if !self.refused && !self.ex.wants_response_body {
            self.count_allowed();
        }
        action
    }

    fn on_http_response_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        if self.refused || !self.ex.wants_response_body {
            return Action::Continue;
        }
        let Some(engine) = self.engine.clone() else {
            return Action::Continue;
        };
        if let Step::Deny(r) = engine.response_body_size(&mut self.ex, body_size as u64) {
            return self.refuse(r);
        }
        if !end_of_stream {
            return Action::Pause;
        }
        let body = match hostcalls::get_buffer(BufferType::HttpResponseBody, 0, body_size) {
            Ok(b) => b.unwrap_or_default(),
            Err(e) => {
                return self.refuse(Reject::new(
                    502,
                    "upstream-response-invalid",
                    format!("cannot read response body: {e:?}"),
                ))
            }
        };
        let step = engine.response_body(&mut self.ex, &body);
        let action = self.apply(step, false);
        if !self.refused {
            self.count_allowed();
        }
        action
    }
}

impl Http {
    fn count_allowed(&mut self) {
        let endpoint = self.endpoint();
        let mode = if self.ex.mode == Mode::Monitor {
            "monitor"
        } else {
            "enforce"
        };
        self.metrics.borrow_mut().inc(&format!(
            "specguard.endpoint={endpoint}.class={mode}.allowed"
        ));
    }
}
